//! A best-effort description of an image file for humans (`brownout image dumpinfo`): the
//! header, every TLV, and the trailer fields when the file is padded to a slot (imgtool
//! `--pad`). Unlike [`validate`](super::validate), it reports as much as it can read and
//! names the first problem instead of stopping at it.

use std::fmt::Write as _;

use super::ImageError;
use super::header::{IMAGE_MAGIC, ImageHeader};
use super::sign::{BOOT_MAGIC, BOOT_MAGIC_ALT_TAIL};
use super::tlv::{Tlv, TlvIter, TlvLayout, tlv_layout};

/// Trailer fields read from the end of a padded image, at the offsets imgtool's dumpinfo
/// and MCUboot use (spaced by `BOOT_MAX_ALIGN`, which the magic encodes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailerInfo {
    /// The last 16 bytes of the file.
    pub magic: [u8; 16],
    /// `BOOT_MAX_ALIGN` the magic says (8 for the standard magic), `None` if the magic is
    /// not a trailer magic (then no other field is read).
    pub max_align: Option<u32>,
    pub image_ok: Option<u8>,
    pub copy_done: Option<u8>,
    pub swap_info: Option<u8>,
    pub swap_size: Option<u32>,
}

impl TrailerInfo {
    /// Read the trailer at the end of `bytes`, if `bytes` extends past the image end
    /// `image_end` by at least the 16-byte magic.
    pub fn read(bytes: &[u8], image_end: usize) -> Option<TrailerInfo> {
        let len = bytes.len();
        if len < image_end.saturating_add(16) {
            return None;
        }
        let mut magic = [0u8; 16];
        magic.copy_from_slice(&bytes[len - 16..]);
        let max_align = if magic == BOOT_MAGIC {
            Some(8)
        } else if magic[2..] == BOOT_MAGIC_ALT_TAIL {
            Some(u32::from(u16::from_le_bytes([magic[0], magic[1]])))
        } else {
            None
        };
        let mut info = TrailerInfo {
            magic,
            max_align,
            image_ok: None,
            copy_done: None,
            swap_info: None,
            swap_size: None,
        };
        let Some(m) = max_align.map(|m| m as usize).filter(|&m| m > 0) else {
            return Some(info);
        };
        // Each field sits one max_align below the previous; the magic occupies
        // align_up(16, m) bytes at the end.
        let magic_area = 16usize.div_ceil(m) * m;
        let at = |k: usize| len.checked_sub(magic_area + k * m).filter(|&o| o >= image_end);
        info.image_ok = at(1).map(|o| bytes[o]);
        info.copy_done = at(2).map(|o| bytes[o]);
        info.swap_info = at(3).map(|o| bytes[o]);
        info.swap_size = at(4)
            .filter(|&o| o + 4 <= len)
            .map(|o| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]));
        Some(info)
    }
}

/// Everything dumpinfo shows about an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo<'a> {
    /// Size of the file.
    pub file_size: usize,
    /// The 32 header bytes decoded without judging them (`None` if the file is shorter).
    pub header: Option<ImageHeader>,
    /// The TLV blocks, if their info headers could be found.
    pub layout: Option<TlvLayout>,
    /// Every TLV read before the first error.
    pub tlvs: Vec<Tlv<'a>>,
    /// Trailer fields, for files that extend past the image end.
    pub trailer: Option<TrailerInfo>,
    /// The first thing found wrong while reading, if any.
    pub error: Option<ImageError>,
}

impl<'a> ImageInfo<'a> {
    /// Read as much of `bytes` as is readable.
    pub fn read(bytes: &'a [u8]) -> ImageInfo<'a> {
        let mut info = ImageInfo {
            file_size: bytes.len(),
            header: None,
            layout: None,
            tlvs: Vec::new(),
            trailer: None,
            error: None,
        };
        let header = match ImageHeader::parse_any_magic(bytes) {
            Ok(h) => h,
            Err(e) => {
                info.error = Some(e);
                return info;
            }
        };
        info.header = Some(header);
        if let Err(e) = ImageHeader::parse(bytes) {
            info.error = Some(e);
            return info;
        }
        let layout = match tlv_layout(&header, bytes) {
            Ok(l) => l,
            Err(e) => {
                info.error = Some(e);
                return info;
            }
        };
        for tlv in TlvIter::new(bytes, &layout) {
            match tlv {
                Ok(t) => info.tlvs.push(t),
                Err(e) => {
                    info.error = Some(e);
                    break;
                }
            }
        }
        info.trailer = TrailerInfo::read(bytes, layout.total_size());
        info.layout = Some(layout);
        info
    }

    /// A human-readable table (the format `brownout image dumpinfo` prints).
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = self.write_table(&mut s);
        s
    }

    fn write_table(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "file size          {} ({:#x})", self.file_size, self.file_size)?;
        let Some(h) = &self.header else {
            if let Some(e) = &self.error {
                writeln!(s, "error              {e}")?;
            }
            return Ok(());
        };
        writeln!(s, "header (offset 0x0)")?;
        let magic_note = if h.magic == IMAGE_MAGIC { "" } else { "  (not an MCUboot image magic)" };
        writeln!(s, "  magic            {:#010x}{magic_note}", h.magic)?;
        writeln!(s, "  load_addr        {:#010x}", h.load_addr)?;
        writeln!(s, "  hdr_size         {:#x} ({})", h.hdr_size, h.hdr_size)?;
        writeln!(s, "  protect_tlv_size {:#x} ({})", h.protect_tlv_size, h.protect_tlv_size)?;
        writeln!(s, "  img_size         {:#x} ({})", h.img_size, h.img_size)?;
        let names = h.flags.names();
        let flag_names = if names.is_empty() { "none".to_string() } else { names.join(" | ") };
        writeln!(s, "  flags            {:#010x} ({flag_names})", h.flags.bits())?;
        writeln!(
            s,
            "  version          {} (major {}, minor {}, revision {}, build {})",
            h.version, h.version.major, h.version.minor, h.version.revision, h.version.build_num
        )?;
        writeln!(s, "payload (offset {:#x}, {} bytes)", h.hdr_size, h.img_size)?;
        if let Some(l) = &self.layout {
            for (name, range, protected) in [
                ("protected TLVs  ", l.protected.clone(), true),
                ("unprotected TLVs", Some(l.unprotected.clone()), false),
            ] {
                let Some(r) = range else { continue };
                let magic = if protected { 0x6908 } else { 0x6907 };
                writeln!(s, "{name} (offset {:#x}, magic {magic:#06x}, size {:#x})", r.start, r.len())?;
                for t in self.tlvs.iter().filter(|t| t.protected == protected) {
                    let kind = match t.kind.name() {
                        Some(n) => format!("{n} ({:#04x})", t.kind.to_u16()),
                        None => format!("UNKNOWN ({:#06x})", t.kind.to_u16()),
                    };
                    writeln!(s, "  {kind:<22} len {:>4}  {}", t.data.len(), describe(t))?;
                }
            }
            writeln!(s, "image end          {:#x} ({})", l.total_size(), l.total_size())?;
        }
        if let Some(t) = &self.trailer {
            writeln!(s, "trailer (slot end {:#x})", self.file_size)?;
            let magic_name = match t.max_align {
                Some(8) => "good (max_align 8)".to_string(),
                Some(m) => format!("good (max_align {m})"),
                None if t.magic.iter().all(|&b| b == t.magic[0]) => "unset (erased)".into(),
                None => "bad".into(),
            };
            writeln!(s, "  magic            {} {magic_name}", hex(&t.magic))?;
            for (name, v) in
                [("swap_info", t.swap_info), ("copy_done", t.copy_done), ("image_ok", t.image_ok)]
            {
                if let Some(v) = v {
                    writeln!(s, "  {name:<16} {v:#04x} ({})", flag_state(v))?;
                }
            }
            if let Some(v) = t.swap_size {
                writeln!(s, "  swap_size        {v:#010x}")?;
            }
        }
        if let Some(e) = &self.error {
            writeln!(s, "error              {e}")?;
        }
        Ok(())
    }
}

fn flag_state(v: u8) -> &'static str {
    match v {
        0x01 => "set",
        0xff | 0x00 => "unset",
        _ => "bad",
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A one-line decoding of a TLV's payload for the table.
fn describe(t: &Tlv<'_>) -> String {
    use super::tlv::{Dependency, TlvKind, security_counter_from_tlv};
    match t.kind {
        TlvKind::SecCnt => match security_counter_from_tlv(t.data, t.offset) {
            Ok(v) => format!("{v} ({v:#x})"),
            Err(_) => hex(t.data),
        },
        TlvKind::Dependency => match Dependency::from_tlv_data(t.data, t.offset) {
            Ok(d) => format!("image {} >= {}", d.image_id, d.min_version),
            Err(_) => hex(t.data),
        },
        TlvKind::UuidVid | TlvKind::UuidCid if t.data.len() == 16 => {
            let h = hex(t.data);
            format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
        }
        TlvKind::SigPure => hex(t.data),
        _ if t.data.len() > 32 => format!("{}...", hex(&t.data[..32])),
        _ => hex(t.data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::sign::{SignOptions, TrailerOptions, sign};

    fn padded(erased: u8, max_align: Option<u32>) -> Vec<u8> {
        let opts = SignOptions {
            pad_header: true,
            slot_size: 0x2000,
            erased_val: erased,
            trailer: TrailerOptions { max_align, confirm: true, ..TrailerOptions::default() },
            ..SignOptions::default()
        };
        sign(&[7; 100], None, &opts).unwrap()
    }

    #[test]
    fn reads_trailer_fields_for_each_max_align() {
        for (m, erased) in [(None, 0xff), (Some(16), 0xff), (Some(32), 0)] {
            let img = padded(erased, m);
            let info = ImageInfo::read(&img);
            assert_eq!(info.error, None);
            let t = info.trailer.unwrap();
            assert_eq!(t.max_align, Some(m.unwrap_or(8)));
            assert_eq!(t.image_ok, Some(1));
            assert_eq!(t.copy_done, Some(erased));
            assert_eq!(t.swap_size, Some(u32::from_le_bytes([erased; 4])));
        }
    }

    #[test]
    fn an_erased_or_foreign_trailer_has_no_fields() {
        let mut img = padded(0xff, None);
        let n = img.len();
        img[n - 16..].fill(0xff);
        let t = ImageInfo::read(&img).trailer.unwrap();
        assert_eq!((t.max_align, t.image_ok), (None, None));
        assert!(ImageInfo::read(&img).to_table().contains("unset (erased)"));
    }

    #[test]
    fn broken_files_are_described_not_panicked_on() {
        let info = ImageInfo::read(&[0x3d, 0xb8]);
        assert!(matches!(info.error, Some(ImageError::Truncated { .. })));
        assert!(info.to_table().contains("error"));
        let img = padded(0xff, None);
        let info = ImageInfo::read(&img[..150]);
        assert!(info.header.is_some());
        assert!(info.error.is_some());
        let mut bad = img.clone();
        bad[0] = 0;
        assert!(ImageInfo::read(&bad).to_table().contains("not an MCUboot image magic"));
    }
}

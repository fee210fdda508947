//! The 32-byte MCUboot image header (`struct image_header`), little-endian.
//!
//! ```text
//!  0  u32 ih_magic            0x96f3b83d
//!  4  u32 ih_load_addr        RAM_LOAD / ROM_FIXED address, else 0
//!  8  u16 ih_hdr_size         offset of the payload (>= 32; bytes 32.. are padding)
//! 10  u16 ih_protect_tlv_size protected TLV block incl. its 4-byte info header, or 0
//! 12  u32 ih_img_size         payload size (no header, no TLVs)
//! 16  u32 ih_flags            IMAGE_F_* bits
//! 20  u8  iv_major, u8 iv_minor, u16 iv_revision, u32 iv_build_num
//! 28  u32 _pad1               0
//! ```

use super::ImageError;
use super::version::ImageVersion;

/// `ih_magic` of every image MCUboot accepts (bytes on flash: `3d b8 f3 96`).
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// The legacy (v1) magic; never accepted by the loader, named so dumps can say what it is.
pub const IMAGE_MAGIC_V1: u32 = 0x96f3_b83c;
/// What an erased (0xff) slot reads as `ih_magic`: no image there.
pub const IMAGE_MAGIC_NONE: u32 = 0xffff_ffff;
/// Size of the fixed header structure; `ih_hdr_size` is at least this.
pub const IMAGE_HEADER_SIZE: usize = 32;

/// `ih_flags`: a set of `IMAGE_F_*` bits. Unknown bits are kept, not dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImageFlags(pub u32);

impl ImageFlags {
    /// Position-independent code (not supported by MCUboot).
    pub const PIC: ImageFlags = ImageFlags(0x0000_0001);
    /// Payload encrypted with AES-128-CTR (secondary slot only).
    pub const ENCRYPTED_AES128: ImageFlags = ImageFlags(0x0000_0004);
    /// Payload encrypted with AES-256-CTR.
    pub const ENCRYPTED_AES256: ImageFlags = ImageFlags(0x0000_0008);
    /// A split-image app: the loader neither boots nor upgrades to it.
    pub const NON_BOOTABLE: ImageFlags = ImageFlags(0x0000_0010);
    /// Copy to RAM at `ih_load_addr` before running (imgtool sets it for any `-L` != 0).
    pub const RAM_LOAD: ImageFlags = ImageFlags(0x0000_0020);
    /// `ih_load_addr` is the flash address the image was linked for.
    pub const ROM_FIXED: ImageFlags = ImageFlags(0x0000_0100);
    /// Payload compressed with LZMA1.
    pub const COMPRESSED_LZMA1: ImageFlags = ImageFlags(0x0000_0200);
    /// Payload compressed with LZMA2.
    pub const COMPRESSED_LZMA2: ImageFlags = ImageFlags(0x0000_0400);
    /// Payload compressed with the ARM Thumb filter.
    pub const COMPRESSED_ARM_THUMB_FLT: ImageFlags = ImageFlags(0x0000_0800);

    /// Every named flag with its imgtool name, in bit order (for dumps).
    pub const NAMED: [(ImageFlags, &'static str); 9] = [
        (ImageFlags::PIC, "PIC"),
        (ImageFlags::ENCRYPTED_AES128, "ENCRYPTED_AES128"),
        (ImageFlags::ENCRYPTED_AES256, "ENCRYPTED_AES256"),
        (ImageFlags::NON_BOOTABLE, "NON_BOOTABLE"),
        (ImageFlags::RAM_LOAD, "RAM_LOAD"),
        (ImageFlags::ROM_FIXED, "ROM_FIXED"),
        (ImageFlags::COMPRESSED_LZMA1, "COMPRESSED_LZMA1"),
        (ImageFlags::COMPRESSED_LZMA2, "COMPRESSED_LZMA2"),
        (ImageFlags::COMPRESSED_ARM_THUMB_FLT, "COMPRESSED_ARM_THUMB"),
    ];

    /// No flags.
    pub const fn empty() -> ImageFlags {
        ImageFlags(0)
    }
    /// The raw `ih_flags` word.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: ImageFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// `self` with the bits of `other` added.
    pub const fn union(self, other: ImageFlags) -> ImageFlags {
        ImageFlags(self.0 | other.0)
    }
    /// Is the payload encrypted (either AES key length)?
    pub const fn is_encrypted(self) -> bool {
        self.0 & (Self::ENCRYPTED_AES128.0 | Self::ENCRYPTED_AES256.0) != 0
    }
    /// Is the payload compressed (any scheme)?
    pub const fn is_compressed(self) -> bool {
        self.0 & (Self::COMPRESSED_LZMA1.0 | Self::COMPRESSED_LZMA2.0 | Self::COMPRESSED_ARM_THUMB_FLT.0) != 0
    }
    /// Names of the set flags (unknown bits as `0x...`), e.g. `["RAM_LOAD"]`.
    pub fn names(self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.0;
        for (flag, name) in Self::NAMED {
            if self.contains(flag) {
                out.push(name.to_string());
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            out.push(format!("{rest:#010x}"));
        }
        out
    }
}

impl std::ops::BitOr for ImageFlags {
    type Output = ImageFlags;
    fn bitor(self, rhs: ImageFlags) -> ImageFlags {
        self.union(rhs)
    }
}

/// The decoded image header. Fields keep MCUboot's names without the `ih_` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageHeader {
    /// `ih_magic`; [`ImageHeader::parse`] only returns headers where this is [`IMAGE_MAGIC`].
    pub magic: u32,
    pub load_addr: u32,
    /// Offset of the payload from the start of the image (header + padding).
    pub hdr_size: u16,
    /// Size of the protected TLV block including its info header, or 0.
    pub protect_tlv_size: u16,
    /// Payload size.
    pub img_size: u32,
    pub flags: ImageFlags,
    pub version: ImageVersion,
}

impl ImageHeader {
    /// Decode the first 32 bytes of `bytes`. Checks the magic and that `hdr_size >= 32`;
    /// it does not look at the slot size (see [`ImageHeader::check_fits`]).
    pub fn parse(bytes: &[u8]) -> Result<ImageHeader, ImageError> {
        let h = ImageHeader::parse_any_magic(bytes)?;
        if h.magic != IMAGE_MAGIC {
            return Err(ImageError::BadMagic { found: h.magic });
        }
        if usize::from(h.hdr_size) < IMAGE_HEADER_SIZE {
            return Err(ImageError::HeaderSizeTooSmall { hdr_size: h.hdr_size });
        }
        Ok(h)
    }

    /// Decode the 32 header bytes without judging any field (for dumps of broken images).
    pub fn parse_any_magic(bytes: &[u8]) -> Result<ImageHeader, ImageError> {
        let Some(b) = bytes.get(..IMAGE_HEADER_SIZE) else {
            return Err(ImageError::Truncated {
                what: "image header",
                needed: IMAGE_HEADER_SIZE,
                available: bytes.len(),
            });
        };
        Ok(ImageHeader {
            magic: le32(b, 0),
            load_addr: le32(b, 4),
            hdr_size: le16(b, 8),
            protect_tlv_size: le16(b, 10),
            img_size: le32(b, 12),
            flags: ImageFlags(le32(b, 16)),
            version: ImageVersion::from_bytes(&[b[20], b[21], b[22], b[23], b[24], b[25], b[26], b[27]]),
        })
    }

    /// Encode as the 32 bytes MCUboot reads (`_pad1` = 0).
    pub fn to_bytes(&self) -> [u8; IMAGE_HEADER_SIZE] {
        let mut b = [0u8; IMAGE_HEADER_SIZE];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.load_addr.to_le_bytes());
        b[8..10].copy_from_slice(&self.hdr_size.to_le_bytes());
        b[10..12].copy_from_slice(&self.protect_tlv_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.img_size.to_le_bytes());
        b[16..20].copy_from_slice(&self.flags.0.to_le_bytes());
        b[20..28].copy_from_slice(&self.version.to_bytes());
        b
    }

    /// Offset of the first TLV info header: `hdr_size + img_size`, or `None` on u32 overflow.
    pub fn tlv_offset(&self) -> Option<u32> {
        u32::from(self.hdr_size).checked_add(self.img_size)
    }

    /// End of the hashed region: header + payload + protected TLV block.
    pub fn hashed_len(&self) -> Option<u32> {
        self.tlv_offset()?.checked_add(u32::from(self.protect_tlv_size))
    }

    /// MCUboot's `boot_check_header_valid` size rule: `hdr_size + img_size +
    /// protect_tlv_size` must not overflow and must be strictly less than the slot size.
    pub fn check_fits(&self, slot_size: u32) -> Result<(), ImageError> {
        match self.hashed_len() {
            Some(end) if end < slot_size => Ok(()),
            end => Err(ImageError::HeaderOverflowsSlot {
                end: end.map_or(u64::from(u32::MAX) + 1, u64::from),
                slot_size,
            }),
        }
    }
}

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ImageHeader {
        ImageHeader {
            magic: IMAGE_MAGIC,
            load_addr: 0x2000_0000,
            hdr_size: 0x200,
            protect_tlv_size: 12,
            img_size: 0x2800,
            flags: ImageFlags::RAM_LOAD,
            version: ImageVersion { major: 1, minor: 2, revision: 3, build_num: 4 },
        }
    }

    #[test]
    fn round_trips_and_matches_the_documented_layout() {
        let b = sample().to_bytes();
        assert_eq!(&b[0..4], &[0x3d, 0xb8, 0xf3, 0x96]);
        assert_eq!(&b[20..28], &[1, 2, 3, 0, 4, 0, 0, 0]);
        assert_eq!(ImageHeader::parse(&b).unwrap(), sample());
    }

    #[test]
    fn rejects_short_input_bad_magic_and_small_header() {
        let b = sample().to_bytes();
        assert!(matches!(ImageHeader::parse(&b[..31]), Err(ImageError::Truncated { .. })));
        let mut bad = b;
        bad[0] = 0xff;
        assert!(matches!(ImageHeader::parse(&bad), Err(ImageError::BadMagic { .. })));
        let mut small = sample();
        small.hdr_size = 16;
        assert!(matches!(
            ImageHeader::parse(&small.to_bytes()),
            Err(ImageError::HeaderSizeTooSmall { hdr_size: 16 })
        ));
    }

    #[test]
    fn slot_fit_is_strict_and_overflow_safe() {
        let h = sample();
        let end = 0x200 + 0x2800 + 12;
        assert!(h.check_fits(end + 1).is_ok());
        assert!(h.check_fits(end).is_err());
        let huge = ImageHeader { img_size: u32::MAX, ..h };
        assert!(huge.check_fits(u32::MAX).is_err());
    }

    #[test]
    fn flag_names() {
        let f = ImageFlags::RAM_LOAD | ImageFlags(0x8000_0000);
        assert_eq!(f.names(), vec!["RAM_LOAD".to_string(), "0x80000000".to_string()]);
    }
}

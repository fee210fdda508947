//! Intel HEX, as imgtool reads and writes it (through Python's `intelhex`): so that
//! `brownout image sign zephyr.hex zephyr.signed.hex` gives imgtool's bytes.
//!
//! Reading: records `:LLAAAATT<data>CC` of types 00 (data), 01 (end of file), 02 (extended
//! segment address), 03/05 (start address, kept but unused by imgtool), 04 (extended linear
//! address); overlapping data is an error. As a binary, the data runs from the lowest to the
//! highest address with holes filled with 0xff.
//!
//! Writing: 16 data bytes per record, a record never crosses a hole or a 64 KiB boundary, an
//! extended linear address record (04) before the first record and whenever the upper 16
//! address bits grow (only if any address is above 0xffff), then `:00000001FF`.

use std::fmt::Write as _;

/// A malformed Intel HEX file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Intel HEX line {line}: {reason}")]
pub struct IhexError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// Sparse memory contents: sorted, non-overlapping, non-adjacent runs `(address, bytes)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HexData {
    runs: Vec<(u64, Vec<u8>)>,
}

impl HexData {
    /// Contents holding `bytes` at `addr`.
    pub fn from_binary(addr: u32, bytes: &[u8]) -> HexData {
        let mut d = HexData::default();
        d.put(u64::from(addr), bytes);
        d
    }

    /// Write `bytes` at `addr`, replacing what was there (intelhex `puts`).
    pub fn put(&mut self, addr: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = addr + bytes.len() as u64;
        // Merge every run that overlaps or touches [addr, end) into one.
        let mut start = addr;
        let mut stop = end;
        let mut merged: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut kept = Vec::with_capacity(self.runs.len() + 1);
        for run in std::mem::take(&mut self.runs) {
            let run_end = run.0 + run.1.len() as u64;
            if run_end < addr || run.0 > end {
                kept.push(run);
            } else {
                start = start.min(run.0);
                stop = stop.max(run_end);
                merged.push(run);
            }
        }
        let mut buf = vec![0u8; (stop - start) as usize];
        for (a, b) in merged {
            let o = (a - start) as usize;
            buf[o..o + b.len()].copy_from_slice(&b);
        }
        let o = (addr - start) as usize;
        buf[o..o + bytes.len()].copy_from_slice(bytes);
        kept.push((start, buf));
        kept.sort_by_key(|r| r.0);
        self.runs = kept;
    }

    /// Lowest address holding data.
    pub fn min_addr(&self) -> Option<u64> {
        self.runs.first().map(|r| r.0)
    }

    /// Number of bytes from the lowest to the highest address.
    pub fn span(&self) -> u64 {
        match (self.runs.first(), self.runs.last()) {
            (Some(f), Some(l)) => l.0 + l.1.len() as u64 - f.0,
            _ => 0,
        }
    }

    /// The data as one binary from [`HexData::min_addr`], holes filled with `fill`
    /// (intelhex `tobinarray`, whose default fill is 0xff).
    pub fn to_binary(&self, fill: u8) -> Vec<u8> {
        let Some(base) = self.min_addr() else { return Vec::new() };
        let mut out = vec![fill; self.span() as usize];
        for (a, b) in &self.runs {
            let o = (a - base) as usize;
            out[o..o + b.len()].copy_from_slice(b);
        }
        out
    }

    /// Parse Intel HEX text. `max_span` bounds the binary it can expand to.
    pub fn parse(text: &str, max_span: u64) -> Result<HexData, IhexError> {
        let mut d = HexData::default();
        let mut offset: u64 = 0;
        let mut records: Vec<(u64, Vec<u8>, usize)> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let err = |reason: &str| IhexError { line, reason: reason.to_string() };
            let s = raw.trim_end_matches(['\r', '\n']);
            if s.is_empty() {
                continue;
            }
            let Some(hexpart) = s.strip_prefix(':') else {
                return Err(err("a record must start with ':'"));
            };
            if hexpart.len() % 2 != 0 || !hexpart.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err("not an even number of hex digits"));
            }
            let bin: Vec<u8> = (0..hexpart.len() / 2)
                .map(|k| u8::from_str_radix(&hexpart[2 * k..2 * k + 2], 16).unwrap_or(0))
                .collect();
            if bin.len() < 5 {
                return Err(err("record shorter than 5 bytes"));
            }
            let len = usize::from(bin[0]);
            if bin.len() != 5 + len {
                return Err(err("record length does not match its byte count"));
            }
            if bin.iter().fold(0u8, |s, b| s.wrapping_add(*b)) != 0 {
                return Err(err("bad checksum"));
            }
            let addr = u64::from(u16::from_be_bytes([bin[1], bin[2]]));
            let data = &bin[4..4 + len];
            match bin[3] {
                0 => records.push((offset + addr, data.to_vec(), line)),
                1 => break,
                2 if len == 2 && addr == 0 => offset = u64::from(u16::from_be_bytes([data[0], data[1]])) * 16,
                4 if len == 2 && addr == 0 => {
                    offset = u64::from(u16::from_be_bytes([data[0], data[1]])) << 16
                }
                3 | 5 if len == 4 && addr == 0 => {}
                2..=5 => return Err(err("malformed address record")),
                t => return Err(err(&format!("unknown record type {t:#04x}"))),
            }
        }
        records.sort_by_key(|r| r.0);
        for w in records.windows(2) {
            if w[0].0 + w[0].1.len() as u64 > w[1].0 {
                return Err(IhexError {
                    line: w[1].2,
                    reason: format!("data at {:#x} overlaps earlier data", w[1].0),
                });
            }
        }
        if let (Some(f), Some(l)) = (records.first(), records.last())
            && l.0 + l.1.len() as u64 - f.0 > max_span
        {
            return Err(IhexError { line: l.2, reason: format!("data spans more than {max_span} bytes") });
        }
        // Sorted and disjoint: append each record to the previous run when they touch
        // (linear time even for megabytes of 16-byte records).
        for (a, b, _) in records {
            match d.runs.last_mut() {
                Some((start, run)) if *start + run.len() as u64 == a => run.extend_from_slice(&b),
                _ => d.runs.push((a, b)),
            }
        }
        Ok(d)
    }

    /// Intel HEX text as intelhex's `write_hex_file` writes it (16-byte records, `\n`).
    pub fn to_hex_string(&self) -> String {
        let mut out = String::new();
        let need_offset = self.runs.last().is_some_and(|(a, b)| a + b.len() as u64 - 1 > 0xffff);
        let mut high: Option<u64> = None;
        let record = |out: &mut String, addr: u16, kind: u8, data: &[u8]| {
            let mut bin = vec![data.len() as u8, (addr >> 8) as u8, addr as u8, kind];
            bin.extend_from_slice(data);
            let sum = bin.iter().fold(0u8, |s, b| s.wrapping_add(*b));
            bin.push(sum.wrapping_neg());
            out.push(':');
            for b in bin {
                let _ = write!(out, "{b:02X}");
            }
            out.push('\n');
        };
        for (start, bytes) in &self.runs {
            let mut at = 0usize;
            while at < bytes.len() {
                let addr = start + at as u64;
                if need_offset && high.is_none_or(|h| addr >> 16 > h) {
                    high = Some(addr >> 16);
                    record(&mut out, 0, 4, &((addr >> 16) as u16).to_be_bytes());
                }
                let low = addr & 0xffff;
                let n = (bytes.len() - at).min(16).min((0x1_0000 - low) as usize);
                record(&mut out, low as u16, 0, &bytes[at..at + n]);
                at += n;
            }
        }
        out.push_str(":00000001FF\n");
        out
    }
}

/// The Intel HEX text imgtool writes for a signed image: the image (header through last TLV)
/// at `base_addr`, and, for a padded image (`--pad`/`--confirm`/`--test`), only the trailer
/// bytes imgtool puts there: the image_ok word (`--confirm`/`--test`, not overwrite-only) and
/// the magic. The erased space between them is left out.
///
/// `image` is what [`sign`](super::sign::sign) returned for `opts`.
pub fn signed_image_to_ihex(
    image: &[u8],
    base_addr: u32,
    opts: &super::sign::SignOptions,
) -> Result<String, super::ImageError> {
    let header = super::header::ImageHeader::parse(image)?;
    let end = super::tlv::image_total_size(&header, image)?;
    let mut d = HexData::from_binary(base_addr, &image[..end]);
    let t = &opts.trailer;
    if t.pads() && image.len() == opts.slot_size as usize {
        let base = u64::from(base_addr);
        let slot = image.len();
        if (t.test || t.confirm) && !t.overwrite_only {
            let at = slot - t.image_ok_from_end() as usize;
            let m = t.effective_max_align() as usize;
            d.put(base + at as u64, &image[at..at + m]);
        }
        d.put(base + (slot - 16) as u64, &image[slot - 16..]);
    }
    Ok(d.to_hex_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_writes_like_intelhex() {
        // Expected text produced by Python intelhex 2.3.0 (`frombytes(range(24), 0xfff8)`).
        let d = HexData::from_binary(0xfff8, &(0..24u8).collect::<Vec<_>>());
        let text = d.to_hex_string();
        assert_eq!(
            text,
            ":020000040000FA\n:08FFF8000001020304050607E5\n:020000040001F9\n\
             :1000000008090A0B0C0D0E0F1011121314151617F8\n:00000001FF\n"
        );
        let back = HexData::parse(&text, 1 << 20).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.to_binary(0xff), (0..24u8).collect::<Vec<_>>());
    }

    #[test]
    fn puts_merge_and_holes_fill() {
        let mut d = HexData::from_binary(0x100, &[1, 2, 3]);
        d.put(0x108, &[9]);
        d.put(0x103, &[4]);
        assert_eq!(d.to_binary(0xff), [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 9]);
        d.put(0x101, &[7, 7, 7, 7, 7, 7, 7, 7]);
        assert_eq!(d.to_binary(0xff), [1, 7, 7, 7, 7, 7, 7, 7, 7]);
        assert_eq!(d.runs.len(), 1);
    }

    #[test]
    fn rejects_bad_records() {
        let bad = [
            "00000001FF",
            ":0000000",
            ":00000001FE",
            ":0100000000",
            ":01000006AA4F",
            ":0100000001FE\n:0100000002FD",
            ":020000040000FA\n:0100000001FE\n:020000040000FA\n:0100000001FE",
        ];
        for b in bad {
            assert!(HexData::parse(b, 1 << 20).is_err(), "{b:?}");
        }
        let far = ":020000041000EA\n:0100000001FE\n:020000040000FA\n:0100000001FE\n";
        assert!(HexData::parse(far, 1 << 20).is_err(), "span limit");
        assert_eq!(HexData::parse(far, u64::MAX).unwrap().span(), 0x1000_0001);
    }
}

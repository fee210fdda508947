//! Intel HEX: whatever we write reads back the same; no text makes the reader panic.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use mcuboot::image::HexData;
use proptest::prelude::*;

proptest! {
    #[test]
    fn written_hex_reads_back(
        runs in proptest::collection::vec((0u32..0x3_0000, proptest::collection::vec(any::<u8>(), 1..80)), 1..6),
    ) {
        let mut d = HexData::default();
        for (addr, bytes) in &runs {
            d.put(u64::from(*addr), bytes);
        }
        let text = d.to_hex_string();
        let back = HexData::parse(&text, u64::MAX).unwrap();
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.to_binary(0xff).len() as u64, d.span());
        // Later puts win, as intelhex's `puts` overwrites.
        let (addr, bytes) = runs.last().unwrap();
        let bin = d.to_binary(0xff);
        let off = (u64::from(*addr) - d.min_addr().unwrap()) as usize;
        prop_assert_eq!(&bin[off..off + bytes.len()], &bytes[..]);
    }

    #[test]
    fn random_text_never_panics(text in "(:[0-9A-Fa-f]{0,40}\n?){0,8}|.{0,200}") {
        let _ = HexData::parse(&text, 1 << 20);
    }
}

#[test]
fn a_megabyte_of_records_reads_back() {
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7) as u8).collect();
    let text = HexData::from_binary(0x0800_0000, &data).to_hex_string();
    let back = HexData::parse(&text, 1 << 28).unwrap();
    assert_eq!(back.min_addr(), Some(0x0800_0000));
    assert_eq!(back.to_binary(0xff), data);
}

//! Synthetic images for sweeps: what `imgtool sign --header-size 0x20 --align N` makes of a
//! pseudo-random payload with no key (hash-only): a 32-byte header, the payload, and an
//! unprotected TLV block holding the SHA-256 TLV. The loader in its default (hash-only) build
//! validates exactly that.

use mcuboot::image::{
    HashAlg, IMAGE_HEADER_SIZE, IMAGE_MAGIC, ImageHeader, TLV_INFO_MAGIC, image_total_size,
};
use thiserror::Error;

use crate::flash::Rng;

/// `IMAGE_TLV_SHA256`.
const TLV_SHA256: u16 = 0x10;

/// An image made by [`synthetic_image`], or read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepImage {
    /// Header through last TLV (no trailer, no padding): what MCUboot moves and what must
    /// survive byte-exact.
    pub bytes: Vec<u8>,
    /// `major.minor.revision` for reports.
    pub version: (u8, u8, u16),
}

/// A hash-only MCUboot image with a `payload_len`-byte pseudo-random payload drawn from `seed`
/// and version `major.minor.revision+0`.
pub fn synthetic_image(payload_len: u32, version: (u8, u8, u16), seed: u64) -> SweepImage {
    let mut bytes = Vec::with_capacity(IMAGE_HEADER_SIZE + payload_len as usize + 40);
    bytes.extend_from_slice(&IMAGE_MAGIC.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes()); // load address
    bytes.extend_from_slice(&(IMAGE_HEADER_SIZE as u16).to_le_bytes()); // hdr_size
    bytes.extend_from_slice(&0u16.to_le_bytes()); // protected TLV size
    bytes.extend_from_slice(&payload_len.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes()); // flags
    bytes.extend_from_slice(&[version.0, version.1]);
    bytes.extend_from_slice(&version.2.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes()); // build number
    bytes.extend_from_slice(&0u32.to_le_bytes()); // pad
    let mut rng = Rng::new(seed);
    while bytes.len() < IMAGE_HEADER_SIZE + payload_len as usize {
        let word = rng.next_u64().to_le_bytes();
        let take = (IMAGE_HEADER_SIZE + payload_len as usize - bytes.len()).min(8);
        bytes.extend_from_slice(&word[..take]);
    }
    let digest = HashAlg::Sha256.digest(&bytes);
    bytes.extend_from_slice(&TLV_INFO_MAGIC.to_le_bytes());
    bytes.extend_from_slice(&(4u16 + 4 + 32).to_le_bytes());
    bytes.extend_from_slice(&TLV_SHA256.to_le_bytes());
    bytes.extend_from_slice(&32u16.to_le_bytes());
    bytes.extend_from_slice(&digest);
    SweepImage { bytes, version }
}

/// Why an image file cannot be used in a sweep.
#[derive(Debug, Error)]
pub enum ImageFileError {
    #[error("{what} image: {source}")]
    Parse { what: &'static str, source: mcuboot::image::ImageError },
}

/// Take an image file (imgtool output, with or without `--pad`) apart: the image proper
/// (header through last TLV) and its version. Padding and any trailer after the image are
/// dropped; a pending/confirmed request in a padded file is re-created by the sweep itself.
pub fn image_from_file(what: &'static str, file: &[u8]) -> Result<SweepImage, ImageFileError> {
    let header = ImageHeader::parse(file).map_err(|source| ImageFileError::Parse { what, source })?;
    let len = image_total_size(&header, file).map_err(|source| ImageFileError::Parse { what, source })?;
    let bytes = file.get(..len).map(<[u8]>::to_vec).unwrap_or_default();
    Ok(SweepImage { bytes, version: (header.version.major, header.version.minor, header.version.revision) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_images_validate_and_match_appendix_a_sizes() {
        let old = synthetic_image(20000, (1, 0, 0), 1);
        let new = synthetic_image(24000, (2, 0, 0), 2);
        // mcuboot.md Appendix A: primary 20072 B, secondary 24072 B.
        assert_eq!(old.bytes.len(), 20072);
        assert_eq!(new.bytes.len(), 24072);
        let mut slot = new.bytes.clone();
        slot.resize(0x20000, 0xff);
        let v = mcuboot::image::validate(&slot, &[]);
        assert!(v.is_ok(), "{v:?}");
        assert_eq!(image_from_file("new", &new.bytes).unwrap(), new);
    }
}

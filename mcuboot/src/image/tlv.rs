//! The TLV area after the payload: an optional protected block (info magic 0x6908, hashed and
//! signed) followed by the mandatory unprotected block (0x6907, holding the hash, key hash and
//! signatures).
//!
//! ```text
//! hdr_size + img_size:  [6908 | tot]  {type u16, len u16, data}*   tot == ih_protect_tlv_size
//!                       [6907 | tot]  {type u16, len u16, data}*
//! ```
//! Each block's `tot` counts its own 4-byte info header. Parsing here is strict: a block must
//! be filled exactly by whole TLVs, so a TLV whose length runs past its block, or stray bytes
//! at a block's end, are errors with the offset where they start.

use std::ops::Range;

use super::ImageError;
use super::header::{ImageHeader, le16};
use super::version::ImageVersion;

/// Info magic of the unprotected TLV block.
pub const TLV_INFO_MAGIC: u16 = 0x6907;
/// Info magic of the protected TLV block.
pub const TLV_PROT_INFO_MAGIC: u16 = 0x6908;
/// Size of a block info header and of a TLV header (both `u16, u16`).
pub const TLV_INFO_SIZE: usize = 4;

/// A TLV type: every type MCUboot's `image.h` names, or `Unknown` (vendor TLVs included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlvKind {
    /// 0x01: hash of the signing public key.
    KeyHash,
    /// 0x02: the full DER public key (`--public-key-format full`).
    PubKey,
    /// 0x10: SHA-256 digest of the hashed region.
    Sha256,
    /// 0x11: SHA-384 digest.
    Sha384,
    /// 0x12: SHA-512 digest.
    Sha512,
    /// 0x20: RSA-2048 PSS signature.
    Rsa2048Pss,
    /// 0x21: obsolete ECDSA P-224 signature.
    Ecdsa224,
    /// 0x22: DER ECDSA signature (P-256 or P-384).
    EcdsaSig,
    /// 0x23: RSA-3072 PSS signature.
    Rsa3072Pss,
    /// 0x24: Ed25519 signature.
    Ed25519,
    /// 0x25: marker (1 byte) that the signature is over the image, not its digest.
    SigPure,
    /// 0x30: RSA-OAEP wrapped AES key.
    EncRsa2048,
    /// 0x31: AES-KW wrapped key.
    EncKw,
    /// 0x32: ECIES-P256 wrapped key.
    EncEc256,
    /// 0x33: ECIES-X25519 wrapped key.
    EncX25519,
    /// 0x34: ECIES-X25519 wrapped key with SHA-512 HMAC.
    EncX25519Sha512,
    /// 0x40: `struct image_dependency` (protected).
    Dependency,
    /// 0x50: u32 security counter (protected).
    SecCnt,
    /// 0x60: CBOR measured-boot record (protected).
    BootRecord,
    /// 0x70: decompressed size.
    DecompSize,
    /// 0x71: digest of the decompressed image.
    DecompSha,
    /// 0x72: signature of the decompressed image.
    DecompSignature,
    /// 0x73: compressed decrypted size.
    CompDecSize,
    /// 0x74: vendor UUID.
    UuidVid,
    /// 0x75: class UUID.
    UuidCid,
    /// Any other type (e.g. vendor TLVs 0x00a0..=0xfffe).
    Unknown(u16),
}

const KNOWN: [(TlvKind, u16, &str); 25] = [
    (TlvKind::KeyHash, 0x01, "KEYHASH"),
    (TlvKind::PubKey, 0x02, "PUBKEY"),
    (TlvKind::Sha256, 0x10, "SHA256"),
    (TlvKind::Sha384, 0x11, "SHA384"),
    (TlvKind::Sha512, 0x12, "SHA512"),
    (TlvKind::Rsa2048Pss, 0x20, "RSA2048"),
    (TlvKind::Ecdsa224, 0x21, "ECDSA224"),
    (TlvKind::EcdsaSig, 0x22, "ECDSASIG"),
    (TlvKind::Rsa3072Pss, 0x23, "RSA3072"),
    (TlvKind::Ed25519, 0x24, "ED25519"),
    (TlvKind::SigPure, 0x25, "SIG_PURE"),
    (TlvKind::EncRsa2048, 0x30, "ENCRSA2048"),
    (TlvKind::EncKw, 0x31, "ENCKW"),
    (TlvKind::EncEc256, 0x32, "ENCEC256"),
    (TlvKind::EncX25519, 0x33, "ENCX25519"),
    (TlvKind::EncX25519Sha512, 0x34, "ENCX25519_SHA512"),
    (TlvKind::Dependency, 0x40, "DEPENDENCY"),
    (TlvKind::SecCnt, 0x50, "SEC_CNT"),
    (TlvKind::BootRecord, 0x60, "BOOT_RECORD"),
    (TlvKind::DecompSize, 0x70, "DECOMP_SIZE"),
    (TlvKind::DecompSha, 0x71, "DECOMP_SHA"),
    (TlvKind::DecompSignature, 0x72, "DECOMP_SIGNATURE"),
    (TlvKind::CompDecSize, 0x73, "COMP_DEC_SIZE"),
    (TlvKind::UuidVid, 0x74, "UUID_VID"),
    (TlvKind::UuidCid, 0x75, "UUID_CID"),
];

impl TlvKind {
    /// The kind for a type number.
    pub fn from_u16(value: u16) -> TlvKind {
        KNOWN.iter().find(|(_, v, _)| *v == value).map_or(TlvKind::Unknown(value), |(k, _, _)| *k)
    }

    /// The type number.
    pub fn to_u16(self) -> u16 {
        match self {
            TlvKind::Unknown(v) => v,
            known => KNOWN.iter().find(|(k, _, _)| *k == known).map_or(0, |(_, v, _)| *v),
        }
    }

    /// imgtool's name for the type (`TLV_VALUES`), or `None` for unknown types.
    pub fn name(self) -> Option<&'static str> {
        KNOWN.iter().find(|(k, _, _)| *k == self).map(|(_, _, n)| *n)
    }

    /// Is this one of the image digest types (SHA256/384/512)?
    pub fn is_hash(self) -> bool {
        matches!(self, TlvKind::Sha256 | TlvKind::Sha384 | TlvKind::Sha512)
    }

    /// Is this a signature type?
    pub fn is_signature(self) -> bool {
        matches!(
            self,
            TlvKind::Rsa2048Pss
                | TlvKind::Ecdsa224
                | TlvKind::EcdsaSig
                | TlvKind::Rsa3072Pss
                | TlvKind::Ed25519
        )
    }
}

impl std::fmt::Display for TlvKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:02x})", self.to_u16()),
            None => write!(f, "0x{:04x}", self.to_u16()),
        }
    }
}

/// One TLV, borrowing its data from the image bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub kind: TlvKind,
    /// True if it sits in the protected (hashed) block.
    pub protected: bool,
    /// Offset of the TLV's 4-byte header from the start of the image.
    pub offset: usize,
    pub data: &'a [u8],
}

/// Where the TLV blocks of an image are (offsets from the image start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlvLayout {
    /// The protected block including its info header, if the image has one.
    pub protected: Option<Range<usize>>,
    /// The unprotected block including its info header.
    pub unprotected: Range<usize>,
}

impl TlvLayout {
    /// End of the hashed region = start of the unprotected block.
    pub fn hashed_len(&self) -> usize {
        self.unprotected.start
    }
    /// Total image size: header through the last TLV.
    pub fn total_size(&self) -> usize {
        self.unprotected.end
    }
}

fn info_at(bytes: &[u8], at: usize, what: &'static str) -> Result<(u16, u16), ImageError> {
    match bytes.get(at..at.saturating_add(TLV_INFO_SIZE)) {
        Some(b) => Ok((le16(b, 0), le16(b, 2))),
        None => Err(ImageError::Truncated {
            what,
            needed: at.saturating_add(TLV_INFO_SIZE),
            available: bytes.len(),
        }),
    }
}

/// Locate and check the TLV block info headers, as MCUboot's `bootutil_tlv_iter_begin` does:
/// if the first info is 0x6908 its size must equal `ih_protect_tlv_size`, otherwise that
/// field must be 0; the next info must be 0x6907; both blocks must lie within `bytes`.
pub fn tlv_layout(header: &ImageHeader, bytes: &[u8]) -> Result<TlvLayout, ImageError> {
    let start = header.tlv_offset().ok_or(ImageError::SizeOverflow)? as usize;
    if start > bytes.len() {
        return Err(ImageError::Truncated { what: "image payload", needed: start, available: bytes.len() });
    }
    let (magic, tot) = info_at(bytes, start, "TLV info header")?;
    let protect = usize::from(header.protect_tlv_size);
    let (protected, unprot_start) = if magic == TLV_PROT_INFO_MAGIC {
        if tot != header.protect_tlv_size {
            return Err(ImageError::ProtectedSizeMismatch {
                header: header.protect_tlv_size,
                block: tot,
                offset: start,
            });
        }
        if protect < TLV_INFO_SIZE {
            return Err(ImageError::BadTlvBlockSize { offset: start, tot });
        }
        (Some(start..start + protect), start + protect)
    } else {
        if protect != 0 {
            return Err(ImageError::ProtectedSizeMismatch {
                header: header.protect_tlv_size,
                block: 0,
                offset: start,
            });
        }
        (None, start)
    };
    if let Some(p) = &protected
        && p.end > bytes.len()
    {
        return Err(ImageError::Truncated {
            what: "protected TLV block",
            needed: p.end,
            available: bytes.len(),
        });
    }
    let (magic, tot) = info_at(bytes, unprot_start, "unprotected TLV info header")?;
    if magic != TLV_INFO_MAGIC {
        return Err(ImageError::BadTlvInfoMagic {
            offset: unprot_start,
            expected: TLV_INFO_MAGIC,
            found: magic,
        });
    }
    if usize::from(tot) < TLV_INFO_SIZE {
        return Err(ImageError::BadTlvBlockSize { offset: unprot_start, tot });
    }
    let end = unprot_start + usize::from(tot);
    if end > bytes.len() {
        return Err(ImageError::Truncated {
            what: "unprotected TLV block",
            needed: end,
            available: bytes.len(),
        });
    }
    Ok(TlvLayout { protected, unprotected: unprot_start..end })
}

/// Size of the image from the header through its last TLV (what MCUboot swaps and what
/// `swap_size` counts). Checks the TLV info headers but not the TLVs themselves.
pub fn image_total_size(header: &ImageHeader, bytes: &[u8]) -> Result<usize, ImageError> {
    Ok(tlv_layout(header, bytes)?.total_size())
}

/// Iterates over every TLV, protected block first. Yields an error (and then stops) at the
/// first TLV header or TLV body that does not fit in its block.
#[derive(Clone, Debug)]
pub struct TlvIter<'a> {
    bytes: &'a [u8],
    /// (block range without info header, protected?) still to walk, in order.
    blocks: [Option<(Range<usize>, bool)>; 2],
    at: usize,
    done: bool,
}

impl<'a> TlvIter<'a> {
    /// Iterate over the TLVs of `bytes` laid out as `layout` says.
    pub fn new(bytes: &'a [u8], layout: &TlvLayout) -> TlvIter<'a> {
        let body = |r: &Range<usize>| r.start + TLV_INFO_SIZE..r.end;
        let p = layout.protected.as_ref().map(|r| (body(r), true));
        let u = Some((body(&layout.unprotected), false));
        let (blocks, at) = match p {
            Some(p) => {
                let at = p.0.start;
                ([Some(p), u], at)
            }
            None => ([u, None], layout.unprotected.start + TLV_INFO_SIZE),
        };
        TlvIter { bytes, blocks, at, done: false }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, ImageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let Some((block, protected)) = self.blocks[0].clone() else {
                self.done = true;
                return None;
            };
            if self.at == block.end {
                self.blocks = [self.blocks[1].take(), None];
                if let Some((next, _)) = &self.blocks[0] {
                    self.at = next.start;
                }
                continue;
            }
            let at = self.at;
            if block.end - at < TLV_INFO_SIZE {
                self.done = true;
                return Some(Err(ImageError::TlvHeaderTruncated { offset: at, block_end: block.end }));
            }
            let kind = le16(self.bytes, at);
            let len = usize::from(le16(self.bytes, at + 2));
            let data_start = at + TLV_INFO_SIZE;
            if len > block.end - data_start {
                self.done = true;
                return Some(Err(ImageError::TlvOverrun {
                    offset: at,
                    kind: TlvKind::from_u16(kind),
                    len: len as u16,
                    block_end: block.end,
                }));
            }
            self.at = data_start + len;
            return Some(Ok(Tlv {
                kind: TlvKind::from_u16(kind),
                protected,
                offset: at,
                data: &self.bytes[data_start..data_start + len],
            }));
        }
    }
}

/// Every TLV of an image (protected first), after checking the layout and every bound.
pub fn tlvs<'a>(header: &ImageHeader, bytes: &'a [u8]) -> Result<Vec<Tlv<'a>>, ImageError> {
    let layout = tlv_layout(header, bytes)?;
    TlvIter::new(bytes, &layout).collect()
}

/// One DEPENDENCY TLV: image `image_id` must be at least `min_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dependency {
    pub image_id: u8,
    pub min_version: ImageVersion,
}

/// Size of a DEPENDENCY TLV's payload.
pub const DEPENDENCY_SIZE: usize = 12;

impl Dependency {
    /// Decode the 12-byte payload: `u8 image_id, u8 pad, u16 pad, image_version`.
    pub fn from_tlv_data(data: &[u8], offset: usize) -> Result<Dependency, ImageError> {
        let b: &[u8; DEPENDENCY_SIZE] = data.try_into().map_err(|_| ImageError::BadTlvLength {
            kind: TlvKind::Dependency,
            offset,
            len: data.len(),
            expected: "12",
        })?;
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[4..12]);
        Ok(Dependency { image_id: b[0], min_version: ImageVersion::from_bytes(&v) })
    }

    /// Encode the 12-byte payload (padding zero, as imgtool writes it).
    pub fn to_tlv_data(&self) -> [u8; DEPENDENCY_SIZE] {
        let mut b = [0u8; DEPENDENCY_SIZE];
        b[0] = self.image_id;
        b[4..12].copy_from_slice(&self.min_version.to_bytes());
        b
    }
}

/// Decode a SEC_CNT payload (u32 LE).
pub fn security_counter_from_tlv(data: &[u8], offset: usize) -> Result<u32, ImageError> {
    let b: [u8; 4] = data.try_into().map_err(|_| ImageError::BadTlvLength {
        kind: TlvKind::SecCnt,
        offset,
        len: data.len(),
        expected: "4",
    })?;
    Ok(u32::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::header::{IMAGE_MAGIC, ImageFlags};

    fn header(img_size: u32, protect: u16) -> ImageHeader {
        ImageHeader {
            magic: IMAGE_MAGIC,
            load_addr: 0,
            hdr_size: 32,
            protect_tlv_size: protect,
            img_size,
            flags: ImageFlags::empty(),
            version: ImageVersion::default(),
        }
    }

    fn block(magic: u16, tlvs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, d) in tlvs {
            body.extend_from_slice(&t.to_le_bytes());
            body.extend_from_slice(&(d.len() as u16).to_le_bytes());
            body.extend_from_slice(d);
        }
        let mut out = magic.to_le_bytes().to_vec();
        out.extend_from_slice(&((body.len() + 4) as u16).to_le_bytes());
        out.extend(body);
        out
    }

    fn image(protected: Option<Vec<u8>>, unprotected: Vec<u8>) -> (ImageHeader, Vec<u8>) {
        let p = protected.unwrap_or_default();
        let h = header(3, p.len() as u16);
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        bytes.extend(p);
        bytes.extend(unprotected);
        (h, bytes)
    }

    #[test]
    fn walks_protected_then_unprotected() {
        let (h, b) = image(
            Some(block(0x6908, &[(0x50, &[7, 0, 0, 0])])),
            block(0x6907, &[(0x10, &[0xaa; 32]), (0xa0, &[])]),
        );
        let t = tlvs(&h, &b).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].kind, t[0].protected, t[0].offset), (TlvKind::SecCnt, true, 39));
        assert_eq!(t[1].kind, TlvKind::Sha256);
        assert!(!t[1].protected);
        assert_eq!(t[2].kind, TlvKind::Unknown(0xa0));
        assert_eq!(image_total_size(&h, &b).unwrap(), b.len());
    }

    #[test]
    fn rejects_overrun_stray_bytes_and_bad_magics() {
        let (h, mut b) = image(None, block(0x6907, &[(0x10, &[0; 4])]));
        let n = b.len();
        b[n - 6] = 5; // TLV length 4 -> 5: runs past the block
        assert!(matches!(tlvs(&h, &b), Err(ImageError::TlvOverrun { offset: 39, .. })));

        let (h, mut b) = image(None, block(0x6907, &[(0x10, &[0; 4])]));
        b[37] += 2; // block tot grows by 2 bytes that are not a whole TLV header
        b.extend_from_slice(&[0, 0]);
        assert!(matches!(tlvs(&h, &b), Err(ImageError::TlvHeaderTruncated { offset: 47, .. })));

        let (h, mut b) = image(None, block(0x6907, &[]));
        b[35] = 0x11;
        assert!(matches!(tlvs(&h, &b), Err(ImageError::BadTlvInfoMagic { offset: 35, .. })));

        let (mut h, b) = image(Some(block(0x6908, &[(0x50, &[0; 4])])), block(0x6907, &[]));
        h.protect_tlv_size += 4;
        assert!(matches!(tlvs(&h, &b), Err(ImageError::ProtectedSizeMismatch { header: 16, block: 12, .. })));

        let (h, b) = image(None, block(0x6907, &[(0x10, &[0; 4])]));
        assert!(matches!(tlvs(&h, &b[..b.len() - 1]), Err(ImageError::Truncated { .. })));
    }

    #[test]
    fn kinds_round_trip() {
        for v in 0..=0x100u16 {
            assert_eq!(TlvKind::from_u16(v).to_u16(), v);
        }
        assert_eq!(TlvKind::EcdsaSig.to_string(), "ECDSASIG (0x22)");
    }

    #[test]
    fn dependency_payload_matches_imgtool() {
        let d = Dependency {
            image_id: 1,
            min_version: ImageVersion { major: 2, minor: 3, revision: 4, build_num: 5 },
        };
        assert_eq!(d.to_tlv_data(), [1, 0, 0, 0, 2, 3, 4, 0, 5, 0, 0, 0]);
        assert_eq!(Dependency::from_tlv_data(&d.to_tlv_data(), 0).unwrap(), d);
    }
}

//! The image digest algorithms (SHA-256/384/512) and their TLV types.

use sha2::Digest;

use super::tlv::TlvKind;

/// An image hash algorithm. The hash TLV's type says which one an image uses; the same
/// algorithm hashes the public key for the KEYHASH TLV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// The hash TLV type for this algorithm.
    pub fn tlv_kind(self) -> TlvKind {
        match self {
            HashAlg::Sha256 => TlvKind::Sha256,
            HashAlg::Sha384 => TlvKind::Sha384,
            HashAlg::Sha512 => TlvKind::Sha512,
        }
    }

    /// The algorithm of a hash TLV type, if it is one.
    pub fn from_tlv_kind(kind: TlvKind) -> Option<HashAlg> {
        match kind {
            TlvKind::Sha256 => Some(HashAlg::Sha256),
            TlvKind::Sha384 => Some(HashAlg::Sha384),
            TlvKind::Sha512 => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The name imgtool's `--sha` takes (`256`, `384`, `512`).
    pub fn imgtool_name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "256",
            HashAlg::Sha384 => "384",
            HashAlg::Sha512 => "512",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        let d = HashAlg::Sha256.digest(b"abc");
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(HashAlg::Sha384.digest(b"").len(), 48);
        assert_eq!(HashAlg::Sha512.digest(b"").len(), HashAlg::Sha512.digest_len());
        assert_eq!(HashAlg::from_tlv_kind(HashAlg::Sha384.tlv_kind()), Some(HashAlg::Sha384));
    }
}

//! Image validation as MCUboot's `bootutil_img_validate` does it: header sanity, TLV layout,
//! the image hash, and (when the build has keys) a valid signature from a known key.

use super::ImageError;
use super::hash::HashAlg;
use super::header::ImageHeader;
use super::keys::PublicKey;
use super::tlv::{Dependency, Tlv, TlvIter, TlvKind, security_counter_from_tlv, tlv_layout};

/// What a successful validation learned about an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedImage {
    pub header: ImageHeader,
    /// Algorithm of the image's hash TLV.
    pub hash_alg: HashAlg,
    /// The image digest from the hash TLV (checked): 32 bytes for SHA-256. This is the
    /// "hash" SMP's image state reports.
    pub hash: Vec<u8>,
    /// Bytes from the header through the last TLV (what a swap must move).
    pub total_size: usize,
    /// End of the hashed region (header + payload + protected TLVs).
    pub hashed_len: usize,
    /// The SEC_CNT value from the protected block, if any.
    pub security_counter: Option<u32>,
    /// DEPENDENCY TLVs from the protected block, in order.
    pub dependencies: Vec<Dependency>,
    /// UUID_VID TLV (vendor UUID) from the protected block, if any.
    pub vid: Option<[u8; 16]>,
    /// UUID_CID TLV (image class UUID) from the protected block, if any.
    pub cid: Option<[u8; 16]>,
    /// Index (into the `keys` given) of the key whose signature verified; `None` for a
    /// hash-only validation.
    pub key_index: Option<usize>,
    /// True if the image carries SIG_PURE (signature over the image, not the digest).
    pub pure: bool,
}

/// Build options of the validating bootloader beyond its keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// Largest image (header through last TLV) the slot may hold, e.g. the slot size minus
    /// the trailer. `None`: only the given bytes bound it.
    pub max_image_size: Option<usize>,
    /// The one hash TLV type the build accepts (MCUboot compiles in one). `None`: any.
    pub hash: Option<HashAlg>,
    /// `MCUBOOT_HW_ROLLBACK_PROT`: a SEC_CNT TLV must exist and be >= this value.
    pub min_security_counter: Option<u32>,
    /// `MCUBOOT_USE_TLV_ALLOW_LIST`: only hash, key, signature, SIG_PURE and encryption-key
    /// TLVs may sit in the unprotected block; anything else there makes the image invalid.
    pub tlv_allow_list: bool,
    /// `MCUBOOT_UUID_VID`: the image must carry this vendor UUID.
    pub vid: Option<[u8; 16]>,
    /// `MCUBOOT_UUID_CID`: the image must carry this image class UUID.
    pub cid: Option<[u8; 16]>,
}

/// Validate an image with the default policy. `bytes` is the image file or a whole slot (the
/// slot's length is then the slot size); `keys` are the bootloader's built-in keys; an empty
/// slice means a hash-only build (no signature required, as MCUboot's default simulator).
pub fn validate(bytes: &[u8], keys: &[PublicKey]) -> Result<ValidatedImage, ImageError> {
    validate_with(bytes, keys, &ValidationPolicy::default())
}

/// What the KEYHASH or PUBKEY TLV before a signature said about its key.
#[derive(Clone, Copy)]
enum KeyRef<'a> {
    /// No key TLV since the previous signature.
    None,
    /// Found among the built-in keys.
    Known(usize),
    /// Not resolved yet (`full`: a PUBKEY TLV holding the whole key, else a KEYHASH).
    Unresolved { data: &'a [u8], full: bool },
}

/// Validate an image under `policy`. Checks, in order: the header (magic, `hdr_size`, sizes
/// within the slot, no encryption or compression flags), the TLV layout and bounds, the
/// protected TLV payloads, the hash, the signature(s), the security counter, the UUIDs.
pub fn validate_with(
    bytes: &[u8],
    keys: &[PublicKey],
    policy: &ValidationPolicy,
) -> Result<ValidatedImage, ImageError> {
    let header = ImageHeader::parse(bytes)?;
    header.check_fits(u32::try_from(bytes.len()).unwrap_or(u32::MAX))?;
    // `boot_check_header_valid` in a build without encryption or compression support.
    if header.flags.is_encrypted() {
        return Err(ImageError::Encrypted { flags: header.flags.bits() });
    }
    if header.flags.is_compressed() {
        return Err(ImageError::Compressed { flags: header.flags.bits() });
    }
    let layout = tlv_layout(&header, bytes)?;
    let total_size = layout.total_size();
    if let Some(max) = policy.max_image_size
        && total_size > max
    {
        return Err(ImageError::TooLarge { total: total_size, max });
    }
    let hashed_len = layout.hashed_len();

    let mut hash_tlv: Option<Tlv<'_>> = None;
    let mut pure = false;
    let mut security_counter = None;
    let mut dependencies = Vec::new();
    let mut vid = None;
    let mut cid = None;
    let mut signatures: Vec<(KeyRef<'_>, Tlv<'_>)> = Vec::new();
    let mut key_ref = KeyRef::None;

    for tlv in TlvIter::new(bytes, &layout) {
        let tlv = tlv?;
        if policy.tlv_allow_list && !tlv.protected && !allowed_unprotected(tlv.kind) {
            return Err(ImageError::TlvNotAllowed { kind: tlv.kind, offset: tlv.offset });
        }
        match tlv.kind {
            // The first hash TLV is the image hash (imgtool emits exactly one).
            k if k.is_hash() && hash_tlv.is_none() => hash_tlv = Some(tlv),
            TlvKind::SigPure => pure = true,
            // MCUboot reads these with a protected-only iterator: unprotected copies are
            // not trusted and so not used.
            TlvKind::SecCnt if tlv.protected => {
                security_counter = Some(security_counter_from_tlv(tlv.data, tlv.offset)?);
            }
            TlvKind::Dependency if tlv.protected => {
                dependencies.push(Dependency::from_tlv_data(tlv.data, tlv.offset)?);
            }
            TlvKind::UuidVid if tlv.protected => vid = Some(uuid_from_tlv(&tlv)?),
            TlvKind::UuidCid if tlv.protected => cid = Some(uuid_from_tlv(&tlv)?),
            // Key hashes are matched once the hash algorithm is known (below).
            TlvKind::KeyHash | TlvKind::PubKey => {
                key_ref = KeyRef::Unresolved { data: tlv.data, full: tlv.kind == TlvKind::PubKey };
            }
            k if k.is_signature() => {
                signatures.push((key_ref, tlv));
                key_ref = KeyRef::None;
            }
            _ => {}
        }
    }

    let hash_tlv = hash_tlv.ok_or(ImageError::MissingHash)?;
    let Some(hash_alg) = HashAlg::from_tlv_kind(hash_tlv.kind) else {
        return Err(ImageError::MissingHash);
    };
    if let Some(expected) = policy.hash
        && expected != hash_alg
    {
        return Err(ImageError::WrongHashType { found: hash_tlv.kind, expected: expected.tlv_kind() });
    }
    if hash_tlv.data.len() != hash_alg.digest_len() {
        return Err(ImageError::BadTlvLength {
            kind: hash_tlv.kind,
            offset: hash_tlv.offset,
            len: hash_tlv.data.len(),
            expected: match hash_alg {
                HashAlg::Sha256 => "32",
                HashAlg::Sha384 => "48",
                HashAlg::Sha512 => "64",
            },
        });
    }
    let region = &bytes[..hashed_len];
    let digest = hash_alg.digest(region);
    if digest != hash_tlv.data {
        return Err(ImageError::HashMismatch {
            kind: hash_tlv.kind,
            expected: hex(hash_tlv.data),
            computed: hex(&digest),
        });
    }

    let key_index = if keys.is_empty() {
        None
    } else {
        Some(check_signatures(keys, hash_alg, &signatures, &digest, region, pure)?)
    };

    if let Some(min) = policy.min_security_counter {
        match security_counter {
            None => return Err(ImageError::MissingSecurityCounter),
            Some(found) if found < min => {
                return Err(ImageError::SecurityCounterTooLow { found, min });
            }
            Some(_) => {}
        }
    }

    for (kind, expected, found) in [(TlvKind::UuidVid, policy.vid, vid), (TlvKind::UuidCid, policy.cid, cid)]
    {
        if let Some(expected) = expected
            && found != Some(expected)
        {
            return Err(ImageError::UuidMismatch {
                kind,
                expected: hex(&expected),
                found: found.map_or_else(|| "none".to_string(), |f| hex(&f)),
            });
        }
    }

    Ok(ValidatedImage {
        header,
        hash_alg,
        hash: digest,
        total_size,
        hashed_len,
        security_counter,
        dependencies,
        vid,
        cid,
        key_index,
        pure,
    })
}

/// Find the key of each signature (by KEYHASH prefix, as `bootutil_find_key`, or by the full
/// PUBKEY), and return the index of the first key whose signature verifies. Errors prefer
/// the most telling cause: a known key with a bad signature, then an unknown key, then no
/// signature at all.
fn check_signatures(
    keys: &[PublicKey],
    hash_alg: HashAlg,
    signatures: &[(KeyRef<'_>, Tlv<'_>)],
    digest: &[u8],
    region: &[u8],
    pure: bool,
) -> Result<usize, ImageError> {
    let key_hashes: Vec<Vec<u8>> = keys.iter().map(|k| k.key_hash(hash_alg)).collect();
    let find = |tlv_data: &[u8], is_full_key: bool| -> Option<usize> {
        if is_full_key {
            keys.iter().position(|k| k.embedded_bytes() == tlv_data)
        } else if tlv_data.is_empty() || tlv_data.len() > hash_alg.digest_len() {
            None
        } else {
            key_hashes.iter().position(|h| h.starts_with(tlv_data))
        }
    };
    let mut first_error = None;
    for (key_ref, sig) in signatures {
        let resolved = match *key_ref {
            KeyRef::Unresolved { data, full } => find(data, full).map_or(*key_ref, KeyRef::Known),
            other => other,
        };
        match resolved {
            KeyRef::Known(i) => {
                if keys[i].verify(sig.kind, sig.data, digest, region, pure) {
                    return Ok(i);
                }
                first_error =
                    Some(ImageError::BadSignature { kind: sig.kind, offset: sig.offset, key_index: i });
            }
            KeyRef::Unresolved { data, .. } => {
                if first_error.is_none() {
                    first_error = Some(ImageError::UnknownKey { key_hash: hex(data), keys: keys.len() });
                }
            }
            KeyRef::None => {
                if first_error.is_none() {
                    first_error = Some(ImageError::UnknownKey {
                        key_hash: "(none: no KEYHASH TLV before the signature)".into(),
                        keys: keys.len(),
                    });
                }
            }
        }
    }
    Err(first_error.unwrap_or(ImageError::MissingSignature { keys: keys.len() }))
}

/// The TLVs `MCUBOOT_USE_TLV_ALLOW_LIST` lets into the unprotected block.
fn allowed_unprotected(kind: TlvKind) -> bool {
    kind.is_hash()
        || kind.is_signature()
        || matches!(
            kind,
            TlvKind::KeyHash
                | TlvKind::PubKey
                | TlvKind::SigPure
                | TlvKind::EncRsa2048
                | TlvKind::EncKw
                | TlvKind::EncEc256
                | TlvKind::EncX25519
                | TlvKind::EncX25519Sha512
        )
}

fn uuid_from_tlv(tlv: &Tlv<'_>) -> Result<[u8; 16], ImageError> {
    tlv.data.try_into().map_err(|_| ImageError::BadTlvLength {
        kind: tlv.kind,
        offset: tlv.offset,
        len: tlv.data.len(),
        expected: "16",
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

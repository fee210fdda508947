//! MCUboot images: the header, the TLV area, validation as the bootloader does it, keys and
//! signing as `imgtool` 2.5 does it.
//!
//! ```text
//! offset 0          [ImageHeader 32 B][padding to hdr_size]
//! hdr_size          [payload: img_size bytes]
//! + img_size        [protected TLV block 0x6908, optional: SEC_CNT, DEPENDENCY, ...]   } hashed
//!                   [unprotected TLV block 0x6907: SHA256/384/512, KEYHASH, signature]
//! (with imgtool --pad: erased fill ... image_ok ... trailer magic at the slot end)
//! ```
//!
//! The bootloader's entry point is [`validate`]: give it a slot's (or an image file's) bytes
//! and the built-in public keys, get back a [`ValidatedImage`] or an [`ImageError`] saying
//! exactly what is wrong and where.
//!
//! ```
//! use mcuboot::image::{ImageError, KeyType, SignOptions, SigningKey, TrailerOptions, sign, validate};
//!
//! // What `imgtool sign -k key.pem -v 1.2.3 -H 0x20 --pad-header -S 0x4000 --confirm` makes:
//! let key = SigningKey::generate(KeyType::Ed25519)?;
//! let opts = SignOptions {
//!     version: "1.2.3".parse()?,
//!     header_size: 0x20,
//!     pad_header: true,
//!     slot_size: 0x4000,
//!     trailer: TrailerOptions { confirm: true, ..TrailerOptions::default() },
//!     ..SignOptions::default()
//! };
//! let mut slot = sign(b"firmware", Some(&key), &opts)?;
//!
//! // What the bootloader does with the slot's bytes and its built-in keys.
//! let image = validate(&slot, &[key.public().clone()])?;
//! assert_eq!(image.header.version.to_string(), "1.2.3");
//! assert_eq!(image.key_index, Some(0));
//!
//! slot[0x20] ^= 1; // one payload bit flips
//! assert!(matches!(validate(&slot, &[key.public().clone()]), Err(ImageError::HashMismatch { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Reference: `shared/reference/mcuboot.md` §1–§3.

pub mod dump;
pub mod hash;
pub mod header;
pub mod ihex;
pub mod keys;
pub mod sign;
pub mod tlv;
pub mod validate;
pub mod version;

pub use dump::{ImageInfo, TrailerInfo};
pub use hash::HashAlg;
pub use header::{IMAGE_HEADER_SIZE, IMAGE_MAGIC, IMAGE_MAGIC_NONE, IMAGE_MAGIC_V1, ImageFlags, ImageHeader};
pub use ihex::{HexData, IhexError, signed_image_to_ihex};
pub use keys::{KeyError, KeyType, PublicKey, SigningKey};
pub use sign::{
    PublicKeyFormat, SecurityCounter, SignError, SignOptions, SignVector, Signed, Signer, TrailerOptions,
    UUID_NAMESPACE_DNS, boot_magic, parse_dependencies, parse_uuid, sign, sign_with, vector_to_sign,
};
pub use tlv::{
    DEPENDENCY_SIZE, Dependency, TLV_INFO_MAGIC, TLV_INFO_SIZE, TLV_PROT_INFO_MAGIC, Tlv, TlvIter, TlvKind,
    TlvLayout, image_total_size, tlv_layout, tlvs,
};
pub use validate::{ValidatedImage, ValidationPolicy, validate, validate_with};
pub use version::{ImageVersion, VersionParseError};

/// Everything that can be wrong with an image's bytes. Offsets are from the image start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("truncated image: {what} needs {needed} bytes but only {available} are there")]
    Truncated { what: &'static str, needed: usize, available: usize },
    #[error("bad image magic {found:#010x} (expected 0x96f3b83d)")]
    BadMagic { found: u32 },
    #[error("header size ih_hdr_size = {hdr_size} is smaller than the 32-byte header")]
    HeaderSizeTooSmall { hdr_size: u16 },
    #[error("hdr_size + img_size + protect_tlv_size overflows 32 bits")]
    SizeOverflow,
    #[error(
        "image overflows its slot: header, payload and protected TLVs end at {end} but the \
         slot is {slot_size} bytes"
    )]
    HeaderOverflowsSlot { end: u64, slot_size: u32 },
    #[error("image is {total} bytes (header through last TLV) but at most {max} fit")]
    TooLarge { total: usize, max: usize },
    #[error(
        "protected TLV size mismatch: header says ih_protect_tlv_size = {header} but the block \
         at offset {offset} is {block} bytes (0 = no protected block)"
    )]
    ProtectedSizeMismatch { header: u16, block: u16, offset: usize },
    #[error("bad TLV info magic {found:#06x} at offset {offset} (expected {expected:#06x})")]
    BadTlvInfoMagic { offset: usize, expected: u16, found: u16 },
    #[error("TLV block at offset {offset} has size {tot}, smaller than its own 4-byte header")]
    BadTlvBlockSize { offset: usize, tot: u16 },
    #[error("TLV overrun at offset {offset}: {kind} of length {len} runs past its block end {block_end}")]
    TlvOverrun { offset: usize, kind: TlvKind, len: u16, block_end: usize },
    #[error("stray bytes at offset {offset}: too few for a TLV header before the block end {block_end}")]
    TlvHeaderTruncated { offset: usize, block_end: usize },
    #[error("{kind} TLV at offset {offset} has length {len}, expected {expected}")]
    BadTlvLength { kind: TlvKind, offset: usize, len: usize, expected: &'static str },
    #[error("{kind} TLV at offset {offset} must be in the protected TLV block")]
    NotProtected { kind: TlvKind, offset: usize },
    #[error("no image hash TLV (SHA256, SHA384 or SHA512)")]
    MissingHash,
    #[error("image hash is {found} but this build expects {expected}")]
    WrongHashType { found: TlvKind, expected: TlvKind },
    #[error("hash mismatch: {kind} TLV says {expected} but the image hashes to {computed}")]
    HashMismatch { kind: TlvKind, expected: String, computed: String },
    #[error("no signature TLV, but the image must be signed by one of {keys} key(s)")]
    MissingSignature { keys: usize },
    #[error("unknown key: the image's key hash {key_hash} matches none of the {keys} known key(s)")]
    UnknownKey { key_hash: String, keys: usize },
    #[error("bad signature: {kind} TLV at offset {offset} does not verify with key {key_index}")]
    BadSignature { kind: TlvKind, offset: usize, key_index: usize },
    #[error(
        "encrypted image (flags {flags:#x}): this bootloader has no decryption key, as \
         MCUboot built without MCUBOOT_ENC_IMAGES"
    )]
    Encrypted { flags: u32 },
    #[error("compressed image (flags {flags:#x}): decompression is not supported")]
    Compressed { flags: u32 },
    #[error("{kind} mismatch: the build expects {expected}, the image has {found}")]
    UuidMismatch { kind: TlvKind, expected: String, found: String },
    #[error("{kind} TLV at offset {offset} is not allowed in the unprotected TLV block")]
    TlvNotAllowed { kind: TlvKind, offset: usize },
    #[error("missing security counter (SEC_CNT TLV), required by rollback protection")]
    MissingSecurityCounter,
    #[error("security counter {found} is lower than the stored minimum {min}")]
    SecurityCounterTooLow { found: u32, min: u32 },
}

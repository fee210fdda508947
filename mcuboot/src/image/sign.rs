//! Make a signed image from a plain payload, as `imgtool sign` 2.5 does (no encryption or
//! compression). The output is byte-identical to imgtool's for deterministic signatures
//! (Ed25519, or no key); ECDSA (imgtool: random nonce) and RSA-PSS (random salt) differ only
//! in the signature TLV's bytes.
//!
//! Steps, in imgtool's order:
//! 1. `--pad-header`: prepend `header_size` erased bytes; otherwise the payload's first
//!    `header_size` bytes must be zero (the header is written over them).
//! 2. Protected TLVs: SEC_CNT, DEPENDENCY..., custom TLVs (block 0x6908).
//! 3. The header, then the digest of header + payload + protected block.
//! 4. Unprotected TLVs (block 0x6907): SHAxxx, [SIG_PURE], KEYHASH (or PUBKEY), signature.
//! 5. Overflow check: image + imgtool's trailer estimate must fit in the slot.
//! 6. `--pad`/`--confirm`/`--test`: fill to the slot size with the erased value, trailer
//!    magic in the last 16 bytes, image_ok = 0x01 for `--confirm`.

use super::hash::HashAlg;
use super::header::{IMAGE_HEADER_SIZE, IMAGE_MAGIC, ImageFlags, ImageHeader};
use super::keys::{KeyError, KeyType, PublicKey, SigningKey};
use super::tlv::{Dependency, TLV_INFO_MAGIC, TLV_INFO_SIZE, TLV_PROT_INFO_MAGIC, TlvKind};
use super::version::ImageVersion;

/// Trailer magic when `BOOT_MAX_ALIGN` is 8.
pub const BOOT_MAGIC: [u8; 16] =
    [0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80];
/// Last 14 bytes of the trailer magic when `BOOT_MAX_ALIGN` is not 8 (the first two are the
/// max-align as u16 LE).
pub const BOOT_MAGIC_ALT_TAIL: [u8; 14] =
    [0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a];

/// The 16-byte trailer magic for a `BOOT_MAX_ALIGN` of `max_align`.
pub fn boot_magic(max_align: u32) -> [u8; 16] {
    if max_align == 8 {
        return BOOT_MAGIC;
    }
    let mut m = [0u8; 16];
    m[..2].copy_from_slice(&(max_align as u16).to_le_bytes());
    m[2..].copy_from_slice(&BOOT_MAGIC_ALT_TAIL);
    m
}

/// The largest slot a padded image is built for (the output is that big).
pub const MAX_PADDED_SLOT: u32 = 256 << 20;

/// `--security-counter`: a number, or `auto` (derived from the version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityCounter {
    Value(u32),
    /// `(major << 24) + (minor << 16) + revision`.
    Auto,
}

/// `--public-key-format`: how the signing key is named in the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PublicKeyFormat {
    /// KEYHASH TLV: hash of the public key (the default).
    #[default]
    Hash,
    /// PUBKEY TLV: the whole public key (for `MCUBOOT_HW_KEY` builds).
    Full,
}

/// The trailer-related options of `imgtool sign`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailerOptions {
    /// `--align`: flash write size, one of 1, 2, 4, 8, 16, 32 (default 1).
    pub align: u32,
    /// `--max-align`: 8, 16 or 32; `None` = `max(8, align)`.
    pub max_align: Option<u32>,
    /// `-M/--max-sectors` for the status-area estimate (default 128).
    pub max_sectors: u32,
    /// `--overwrite-only`: smaller trailer estimate, image_ok never written.
    pub overwrite_only: bool,
    /// `--pad`: pad to the slot size and write the trailer magic.
    pub pad: bool,
    /// `--confirm`: `--pad` and image_ok = 0x01.
    pub confirm: bool,
    /// `--test`: same as `--pad`.
    pub test: bool,
}

impl Default for TrailerOptions {
    fn default() -> TrailerOptions {
        TrailerOptions {
            align: 1,
            max_align: None,
            max_sectors: 128,
            overwrite_only: false,
            pad: false,
            confirm: false,
            test: false,
        }
    }
}

impl TrailerOptions {
    /// The effective `BOOT_MAX_ALIGN`.
    pub fn effective_max_align(&self) -> u32 {
        self.max_align.unwrap_or(self.align.max(8))
    }

    /// Whether the output is padded to the slot size (`--pad`, `--confirm` or `--test`).
    pub fn pads(&self) -> bool {
        self.pad || self.confirm || self.test
    }

    /// imgtool's `_trailer_size` (no encryption): the space it reserves at the slot end.
    pub fn estimated_trailer_size(&self) -> u64 {
        let m = u64::from(self.effective_max_align());
        let magic = align_up(16, m);
        if self.overwrite_only {
            m * 2 + magic
        } else {
            u64::from(self.max_sectors) * 3 * u64::from(self.align) + m * 4 + magic
        }
    }

    /// Offset of image_ok from the slot end, as imgtool writes it for `--confirm`.
    pub fn image_ok_from_end(&self) -> u64 {
        let m = u64::from(self.effective_max_align());
        align_up(16, m) + m
    }
}

fn align_up(n: u64, align: u64) -> u64 {
    n.div_ceil(align) * align
}

/// Everything `imgtool sign` takes besides the key and the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignOptions {
    /// `-v/--version`.
    pub version: ImageVersion,
    /// `-H/--header-size` (>= 32).
    pub header_size: u16,
    /// `--pad-header`.
    pub pad_header: bool,
    /// `-S/--slot-size`; 0 skips the overflow check (imgtool requires the option).
    pub slot_size: u32,
    /// `-L/--load-addr`: sets RAM_LOAD when not 0.
    pub load_addr: Option<u32>,
    /// `-F/--rom-fixed`: sets ROM_FIXED.
    pub rom_fixed: Option<u32>,
    /// `--non-bootable`.
    pub non_bootable: bool,
    /// `-R/--erased-val`: 0xff (default) or 0.
    pub erased_val: u8,
    /// `-s/--security-counter`.
    pub security_counter: Option<SecurityCounter>,
    /// `-d/--dependencies`.
    pub dependencies: Vec<Dependency>,
    /// `--vid`: vendor UUID (UUID_VID TLV, protected), see [`parse_uuid`].
    pub vid: Option<[u8; 16]>,
    /// `--cid`: image class UUID (UUID_CID TLV, protected).
    pub cid: Option<[u8; 16]>,
    /// `--custom-tlv TAG VALUE`: extra protected TLVs (tags 0x00a0..=0xfffe, not predefined).
    pub custom_tlvs: Vec<(u16, Vec<u8>)>,
    /// `--sha`: `None` = auto (SHA-384 for P-384, SHA-256 otherwise).
    pub hash: Option<HashAlg>,
    /// `--pure`: Ed25519 signature over the image itself (forces SHA-512).
    pub pure: bool,
    /// `--public-key-format`.
    pub public_key_format: PublicKeyFormat,
    /// `--pad-sig`: pad ECDSA signatures with zeros to 72 (P-256) / 103 (P-384) bytes.
    pub pad_sig: bool,
    /// `--align`, `--max-align`, `--pad`, `--confirm`, ...
    pub trailer: TrailerOptions,
}

impl Default for SignOptions {
    fn default() -> SignOptions {
        SignOptions {
            version: ImageVersion::default(),
            header_size: IMAGE_HEADER_SIZE as u16,
            pad_header: false,
            slot_size: 0,
            load_addr: None,
            rom_fixed: None,
            non_bootable: false,
            erased_val: 0xff,
            security_counter: None,
            dependencies: Vec::new(),
            vid: None,
            cid: None,
            custom_tlvs: Vec::new(),
            hash: None,
            pure: false,
            public_key_format: PublicKeyFormat::Hash,
            pad_sig: false,
            trailer: TrailerOptions::default(),
        }
    }
}

/// Why an image could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("header size {0} is below the minimum of 32 (-H/--header-size)")]
    HeaderSizeTooSmall(u16),
    #[error(
        "header padding was not requested (--pad-header) and the input's first {header_size} bytes are not all zero"
    )]
    HeaderNotZero { header_size: u16 },
    #[error(
        "input of {len} bytes is shorter than the {header_size}-byte header it must start with (use --pad-header)"
    )]
    InputShorterThanHeader { len: usize, header_size: u16 },
    #[error("image size ({image:#x}) + trailer ({trailer:#x}) exceeds requested size {slot:#x}")]
    TooLarge { image: u64, trailer: u64, slot: u32 },
    #[error("--pad, --confirm and --test need the slot size (-S/--slot-size)")]
    PadNeedsSlotSize,
    #[error("will not pad to a slot of {0:#x} bytes (more than 256 MiB)")]
    SlotTooLarge(u32),
    #[error("payload of {0} bytes does not fit ih_img_size (32 bits)")]
    PayloadTooLarge(usize),
    #[error("protected TLVs take {0} bytes; ih_protect_tlv_size is 16 bits")]
    ProtectedTooLarge(usize),
    #[error("a TLV of {len} bytes ({kind}) does not fit its 16-bit length")]
    TlvTooLarge { kind: TlvKind, len: usize },
    #[error("can not set --rom-fixed and --load-addr at the same time")]
    LoadAddrAndRomFixed,
    #[error("invalid --align {0} (one of 1, 2, 4, 8, 16, 32)")]
    BadAlign(u32),
    #[error("invalid --max-align {0} (one of 8, 16, 32)")]
    BadMaxAlign(u32),
    #[error("invalid --erased-val {0:#x} (0 or 0xff)")]
    BadErasedVal(u8),
    #[error("key {key} can not be used with --sha {hash}; allowed: {allowed}")]
    HashNotAllowed { key: KeyType, hash: &'static str, allowed: String },
    #[error("--pure needs an ed25519 key{0}")]
    PureNeedsEd25519(String),
    #[error("--pure picks the hash itself; do not combine it with --sha")]
    PureWithSha,
    #[error("custom TLV tag {0:#06x} is outside 0x00a0..=0xfffe or is a predefined TLV type")]
    BadCustomTlv(u16),
    #[error("custom TLV tag {0:#06x} given twice")]
    DuplicateCustomTlv(u16),
    #[error("the given signature does not verify with the given {key} public key")]
    FixedSignatureInvalid { key: KeyType },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Append one TLV (`u16 type, u16 len, data`) to `out`.
fn push_tlv(out: &mut Vec<u8>, kind: TlvKind, data: &[u8]) -> Result<(), SignError> {
    let len = u16::try_from(data.len()).map_err(|_| SignError::TlvTooLarge { kind, len: data.len() })?;
    out.extend_from_slice(&kind.to_u16().to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// Wrap TLV records in a block with its info header; an empty body gives an empty block,
/// as imgtool omits an empty protected block.
fn block(magic: u16, body: &[u8]) -> Result<Vec<u8>, SignError> {
    if body.is_empty() && magic == TLV_PROT_INFO_MAGIC {
        return Ok(Vec::new());
    }
    let tot = body.len() + TLV_INFO_SIZE;
    let tot16 = u16::try_from(tot).map_err(|_| SignError::ProtectedTooLarge(tot))?;
    let mut out = Vec::with_capacity(tot);
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&tot16.to_le_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// The hash imgtool picks for `key` and the requested `--sha`.
pub fn choose_hash(
    key_type: Option<KeyType>,
    requested: Option<HashAlg>,
    pure: bool,
) -> Result<HashAlg, SignError> {
    let Some(t) = key_type else {
        if pure {
            return Err(SignError::PureNeedsEd25519(" (no key given)".into()));
        }
        return Ok(requested.unwrap_or(HashAlg::Sha256));
    };
    if pure {
        if t != KeyType::Ed25519 {
            return Err(SignError::PureNeedsEd25519(format!(", not {t}")));
        }
        if requested.is_some() {
            return Err(SignError::PureWithSha);
        }
        return Ok(HashAlg::Sha512);
    }
    let allowed = t.allowed_hashes();
    match requested {
        None => Ok(allowed[0]),
        Some(h) if allowed.contains(&h) => Ok(h),
        Some(h) => Err(SignError::HashNotAllowed {
            key: t,
            hash: h.imgtool_name(),
            allowed: allowed.iter().map(|a| a.imgtool_name()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Who signs an image.
#[derive(Clone, Copy, Debug)]
pub enum Signer<'a> {
    /// Nobody: the image carries only its hash.
    Unsigned,
    /// This private key.
    Key(&'a SigningKey),
    /// A signature made elsewhere (an HSM, a signing server) over the vector
    /// [`vector_to_sign`] gave out, by the private half of `public` (imgtool `--fix-sig` with
    /// `--fix-sig-pubkey`). It is checked before it goes in.
    Fixed { public: &'a PublicKey, signature: &'a [u8] },
}

/// An image [`sign_with`] made, and what was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The bytes imgtool would write to its output file.
    pub image: Vec<u8>,
    /// The image digest (the hash TLV's value).
    pub digest: Vec<u8>,
    /// The signature TLV's value, if signed (imgtool `--sig-out` writes it, base64).
    pub signature: Option<Vec<u8>>,
}

/// What an external signer must sign (imgtool `--vector-to-sign`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignVector {
    /// The hashed region: header, payload and protected TLVs (what ECDSA/RSA and pure
    /// Ed25519 sign).
    Payload,
    /// Its digest (what Ed25519 signs, unless pure).
    Digest,
}

/// Build a signed (or, with `key = None`, hash-only) image from `payload` like `imgtool
/// sign`. Returns the bytes imgtool would write to its output file.
pub fn sign(payload: &[u8], key: Option<&SigningKey>, opts: &SignOptions) -> Result<Vec<u8>, SignError> {
    let signer = key.map_or(Signer::Unsigned, Signer::Key);
    Ok(sign_with(payload, signer, opts)?.image)
}

/// The bytes an external signer must sign for an image of `payload` signed by the private
/// half of `public` (which picks the hash), like `imgtool sign --vector-to-sign`.
pub fn vector_to_sign(
    payload: &[u8],
    public: &PublicKey,
    opts: &SignOptions,
    vector: SignVector,
) -> Result<Vec<u8>, SignError> {
    let h = hashed_region(payload, Some(public.key_type()), opts)?;
    Ok(match vector {
        SignVector::Payload => h.region,
        SignVector::Digest => h.digest,
    })
}

/// [`sign`], with the signer spelled out and the digest and signature returned too.
pub fn sign_with(payload: &[u8], signer: Signer<'_>, opts: &SignOptions) -> Result<Signed, SignError> {
    match signer {
        Signer::Unsigned => {
            let h = hashed_region(payload, None, opts)?;
            finish(h, None, opts)
        }
        Signer::Key(key) => {
            let h = hashed_region(payload, Some(key.key_type()), opts)?;
            let mut sig = key.sign(&h.digest, &h.region, opts.pure)?;
            if opts.pad_sig {
                let fixed = match key.key_type() {
                    KeyType::EcdsaP256 => 72,
                    KeyType::EcdsaP384 => 103,
                    _ => 0,
                };
                if sig.len() < fixed {
                    sig.resize(fixed, 0);
                }
            }
            finish(h, Some((key.public(), sig)), opts)
        }
        Signer::Fixed { public, signature } => {
            let h = hashed_region(payload, Some(public.key_type()), opts)?;
            let kind = public.key_type().signature_tlv();
            if !public.verify(kind, signature, &h.digest, &h.region, opts.pure) {
                return Err(SignError::FixedSignatureInvalid { key: public.key_type() });
            }
            finish(h, Some((public, signature.to_vec())), opts)
        }
    }
}

/// Steps 1–3: the hashed region (header, payload, protected TLVs) and its digest.
struct Hashed {
    region: Vec<u8>,
    hash_alg: HashAlg,
    digest: Vec<u8>,
}

fn hashed_region(payload: &[u8], key_type: Option<KeyType>, opts: &SignOptions) -> Result<Hashed, SignError> {
    let t = &opts.trailer;
    if !matches!(t.align, 1 | 2 | 4 | 8 | 16 | 32) {
        return Err(SignError::BadAlign(t.align));
    }
    if let Some(m) = t.max_align
        && !matches!(m, 8 | 16 | 32)
    {
        return Err(SignError::BadMaxAlign(m));
    }
    if opts.erased_val != 0 && opts.erased_val != 0xff {
        return Err(SignError::BadErasedVal(opts.erased_val));
    }
    if usize::from(opts.header_size) < IMAGE_HEADER_SIZE {
        return Err(SignError::HeaderSizeTooSmall(opts.header_size));
    }
    let load_addr = opts.load_addr.unwrap_or(0);
    if load_addr != 0 && opts.rom_fixed.is_some_and(|r| r != 0) {
        return Err(SignError::LoadAddrAndRomFixed);
    }
    if t.pads() && opts.slot_size == 0 {
        return Err(SignError::PadNeedsSlotSize);
    }
    if t.pads() && opts.slot_size > MAX_PADDED_SLOT {
        return Err(SignError::SlotTooLarge(opts.slot_size));
    }
    let hash_alg = choose_hash(key_type, opts.hash, opts.pure)?;
    let hs = usize::from(opts.header_size);

    // 1. Header space.
    let mut image = Vec::with_capacity(hs + payload.len() + 1024);
    if opts.pad_header {
        image.resize(hs, opts.erased_val);
        image.extend_from_slice(payload);
    } else {
        let Some(head) = payload.get(..hs) else {
            return Err(SignError::InputShorterThanHeader {
                len: payload.len(),
                header_size: opts.header_size,
            });
        };
        if head.iter().any(|&b| b != 0) {
            return Err(SignError::HeaderNotZero { header_size: opts.header_size });
        }
        image.extend_from_slice(payload);
    }
    let img_size =
        u32::try_from(image.len() - hs).map_err(|_| SignError::PayloadTooLarge(image.len() - hs))?;

    // 2. Protected TLVs, in imgtool's order.
    let mut prot = Vec::new();
    if let Some(sc) = opts.security_counter {
        let v = match sc {
            SecurityCounter::Value(v) => v,
            SecurityCounter::Auto => opts.version.auto_security_counter(),
        };
        push_tlv(&mut prot, TlvKind::SecCnt, &v.to_le_bytes())?;
    }
    for d in &opts.dependencies {
        push_tlv(&mut prot, TlvKind::Dependency, &d.to_tlv_data())?;
    }
    if let Some(vid) = &opts.vid {
        push_tlv(&mut prot, TlvKind::UuidVid, vid)?;
    }
    if let Some(cid) = &opts.cid {
        push_tlv(&mut prot, TlvKind::UuidCid, cid)?;
    }
    for (i, (tag, value)) in opts.custom_tlvs.iter().enumerate() {
        if *tag < 0x00a0 || *tag == 0xffff || TlvKind::from_u16(*tag).name().is_some() {
            return Err(SignError::BadCustomTlv(*tag));
        }
        if opts.custom_tlvs[..i].iter().any(|(t, _)| t == tag) {
            return Err(SignError::DuplicateCustomTlv(*tag));
        }
        push_tlv(&mut prot, TlvKind::Unknown(*tag), value)?;
    }
    let prot_block = block(TLV_PROT_INFO_MAGIC, &prot)?;
    let protect_tlv_size =
        u16::try_from(prot_block.len()).map_err(|_| SignError::ProtectedTooLarge(prot_block.len()))?;

    // 3. Header, hashed region, digest.
    let mut flags = ImageFlags::empty();
    if load_addr != 0 {
        flags = flags | ImageFlags::RAM_LOAD;
    }
    if opts.rom_fixed.is_some_and(|r| r != 0) {
        flags = flags | ImageFlags::ROM_FIXED;
    }
    if opts.non_bootable {
        flags = flags | ImageFlags::NON_BOOTABLE;
    }
    let header = ImageHeader {
        magic: IMAGE_MAGIC,
        load_addr: opts.rom_fixed.filter(|&r| r != 0).unwrap_or(load_addr),
        hdr_size: opts.header_size,
        protect_tlv_size,
        img_size,
        flags,
        version: opts.version,
    };
    image[..IMAGE_HEADER_SIZE].copy_from_slice(&header.to_bytes());
    image.extend_from_slice(&prot_block);
    let digest = hash_alg.digest(&image);
    Ok(Hashed { region: image, hash_alg, digest })
}

/// Steps 4–6: unprotected TLVs, overflow check, padding and trailer.
fn finish(h: Hashed, signed: Option<(&PublicKey, Vec<u8>)>, opts: &SignOptions) -> Result<Signed, SignError> {
    let t = &opts.trailer;
    let Hashed { region: mut image, hash_alg, digest } = h;

    // 4. Unprotected TLVs.
    let mut unprot = Vec::new();
    push_tlv(&mut unprot, hash_alg.tlv_kind(), &digest)?;
    if opts.pure {
        push_tlv(&mut unprot, TlvKind::SigPure, &[1])?;
    }
    if let Some((public, sig)) = &signed {
        match opts.public_key_format {
            PublicKeyFormat::Hash => push_tlv(&mut unprot, TlvKind::KeyHash, &public.key_hash(hash_alg))?,
            PublicKeyFormat::Full => push_tlv(&mut unprot, TlvKind::PubKey, public.embedded_bytes())?,
        }
        push_tlv(&mut unprot, public.key_type().signature_tlv(), sig)?;
    }
    image.extend_from_slice(&block(TLV_INFO_MAGIC, &unprot)?);

    // 5. Overflow check (imgtool does it whenever a slot size is given).
    let trailer = t.estimated_trailer_size();
    if opts.slot_size > 0 && image.len() as u64 + trailer > u64::from(opts.slot_size) {
        return Err(SignError::TooLarge { image: image.len() as u64, trailer, slot: opts.slot_size });
    }

    // 6. Padding and trailer.
    if t.pads() {
        let slot = opts.slot_size as usize;
        image.resize(slot, opts.erased_val);
        let magic = boot_magic(t.effective_max_align());
        image[slot - 16..].copy_from_slice(&magic);
        if t.confirm && !t.overwrite_only {
            image[slot - t.image_ok_from_end() as usize] = 0x01;
        }
    }
    Ok(Signed { image, digest, signature: signed.map(|(_, sig)| sig) })
}

/// The DNS namespace UUID (RFC 4122), imgtool's namespace for a `--vid` given as a name.
pub const UUID_NAMESPACE_DNS: [u8; 16] =
    [0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8];

/// Parse a `--vid`/`--cid` value as imgtool does: `12345678-1234-5678-1234-567812345678`,
/// or 32 hex digits, or else any printable text, hashed into a name-based (version 5, SHA-1)
/// UUID in `namespace` (DNS for `--vid`; the vendor UUID for `--cid`, which then needs one).
pub fn parse_uuid(namespace: Option<&[u8; 16]>, value: &str) -> Result<[u8; 16], String> {
    let hex_digits: String = value.chars().filter(|c| *c != '-').collect();
    let dashed = value.len() == 36
        && value
            .char_indices()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() });
    let plain = value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit());
    if dashed || plain {
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex_digits[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("bad UUID {value:?}"))?;
        }
        return Ok(out);
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(format!("unknown UUID format: {value:?}"));
    }
    let Some(ns) = namespace else {
        return Err(format!("unknown namespace for UUID {value:?} (give --vid too)"));
    };
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(ns);
    h.update(value.as_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out[6] = (out[6] & 0x0f) | 0x50;
    out[8] = (out[8] & 0x3f) | 0x80;
    Ok(out)
}

/// Parse imgtool's `-d/--dependencies` argument: `"(id,maj.min.rev+build),(id,ver)..."`.
pub fn parse_dependencies(text: &str) -> Result<Vec<Dependency>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty dependency list; expected \"(id,version),...\"".into());
    }
    while !rest.is_empty() {
        let Some(body) = rest.strip_prefix('(') else {
            return Err(format!("expected '(' at {rest:?} in {text:?}"));
        };
        let Some(close) = body.find(')') else {
            return Err(format!("missing ')' in {text:?}"));
        };
        let inner = &body[..close];
        let Some((id, ver)) = inner.split_once(',') else {
            return Err(format!("expected (id,version), got ({inner})"));
        };
        let image_id: u8 =
            id.trim().parse().map_err(|_| format!("image id {:?} is not a number 0..=255", id.trim()))?;
        let min_version: ImageVersion = ver.trim().parse().map_err(|e| format!("{e}"))?;
        out.push(Dependency { image_id, min_version });
        rest = body[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(format!("trailing ',' in {text:?}"));
            }
        } else if !rest.is_empty() {
            return Err(format!("expected ',' between dependencies at {rest:?}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::validate::validate;

    #[test]
    fn trailer_geometry_matches_the_measured_offsets() {
        let t = TrailerOptions { align: 8, confirm: true, ..TrailerOptions::default() };
        assert_eq!(0x20000 - t.image_ok_from_end(), 0x1FFE8);
        let t32 = TrailerOptions { align: 32, confirm: true, ..TrailerOptions::default() };
        assert_eq!(t32.effective_max_align(), 32);
        assert_eq!(0x20000 - t32.image_ok_from_end(), 0x1FFC0);
        assert_eq!(boot_magic(32)[..3], [0x20, 0x00, 0x2d]);
        assert_eq!(t.estimated_trailer_size(), 128 * 3 * 8 + 32 + 16);
    }

    #[test]
    fn unsigned_image_is_hash_only_and_validates() {
        let opts = SignOptions {
            version: "1.2.3+4".parse().unwrap(),
            header_size: 0x200,
            pad_header: true,
            slot_size: 0x20000,
            security_counter: Some(SecurityCounter::Auto),
            dependencies: parse_dependencies("(1, 2.3.4+5),(0,1.0.0)").unwrap(),
            trailer: TrailerOptions { confirm: true, ..TrailerOptions::default() },
            ..SignOptions::default()
        };
        let img = sign(&[0x55; 1000], None, &opts).unwrap();
        assert_eq!(img.len(), 0x20000);
        assert_eq!(img[0x1FFE8], 1);
        assert_eq!(img[0x1FFF0..], BOOT_MAGIC);
        let v = validate(&img, &[]).unwrap();
        assert_eq!(v.security_counter, Some(0x0102_0003));
        assert_eq!(v.dependencies.len(), 2);
        assert_eq!(v.header.hdr_size, 0x200);
        assert_eq!(v.total_size, 0x200 + 1000 + 4 + 8 + 32 + 4 + 36);
    }

    #[test]
    fn option_errors() {
        let o = SignOptions { slot_size: 0x1000, ..SignOptions::default() };
        assert!(matches!(sign(&[0; 10], None, &o), Err(SignError::InputShorterThanHeader { .. })));
        assert!(matches!(sign(&[1; 100], None, &o), Err(SignError::HeaderNotZero { .. })));
        let big = vec![0; 0x1000];
        assert!(matches!(sign(&big, None, &o), Err(SignError::TooLarge { .. })));
        let bad = SignOptions { trailer: TrailerOptions { align: 3, ..TrailerOptions::default() }, ..o };
        assert!(matches!(sign(&[0; 64], None, &bad), Err(SignError::BadAlign(3))));
        let no_slot = SignOptions {
            trailer: TrailerOptions { pad: true, ..TrailerOptions::default() },
            ..SignOptions::default()
        };
        assert_eq!(sign(&[0; 64], None, &no_slot), Err(SignError::PadNeedsSlotSize));
        let huge = SignOptions { slot_size: u32::MAX, pad_header: true, ..no_slot };
        assert_eq!(sign(&[0; 64], None, &huge), Err(SignError::SlotTooLarge(u32::MAX)));
    }

    #[test]
    fn uuids_like_python() {
        // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org") == 886313e1-3b8a-5372-9b90-0c9aee199e5d
        let u = parse_uuid(Some(&UUID_NAMESPACE_DNS), "python.org").unwrap();
        assert_eq!(u[..4], [0x88, 0x63, 0x13, 0xe1]);
        assert_eq!(u[6], 0x53);
        let raw = parse_uuid(None, "12345678-1234-5678-1234-567812345678").unwrap();
        assert_eq!(raw, parse_uuid(None, "12345678123456781234567812345678").unwrap());
        assert!(parse_uuid(None, "a name").is_err());
    }

    #[test]
    fn dependency_strings() {
        assert!(parse_dependencies("(1,2.3.4+5)").is_ok());
        for bad in ["", "(1)", "(x,1.0)", "(1,1.0", "(1,1.0),", "(256,1)", "(1,1.0)(2,1.0)"] {
            assert!(parse_dependencies(bad).is_err(), "{bad:?}");
        }
    }
}

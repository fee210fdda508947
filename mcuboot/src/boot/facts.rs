//! What the bootloader learns about an image in a slot: its header (read on every boot, cheap)
//! and whether it validates (hash, security counter, dependencies), which costs a SHA-256 over
//! the whole image and is therefore memoised.
//!
//! The memo ([`ValidationCache`]) is keyed by the image's exact bytes: a lookup reads the
//! candidate image (header through last TLV) and compares it with the cached copies, so a hit
//! can never be wrong — a torn copy that differs in one byte misses and gets hashed. This is
//! what makes tens of thousands of cut-and-reboot cycles per second possible: every reboot
//! re-validates the same two or three images.

use crate::image::{
    Dependency, HashAlg, IMAGE_HEADER_SIZE, IMAGE_MAGIC, ImageFlags, ImageHeader, ImageVersion, PublicKey,
    ValidationPolicy, validate_with,
};

/// `IMAGE_TLV_INFO_MAGIC`: the unprotected TLV block.
pub const TLV_INFO_MAGIC: u16 = 0x6907;
/// `IMAGE_TLV_PROT_INFO_MAGIC`: the protected TLV block.
pub const TLV_PROT_INFO_MAGIC: u16 = 0x6908;
/// `IMAGE_TLV_DEPENDENCY`.
pub const TLV_DEPENDENCY: u16 = 0x40;
/// `IMAGE_TLV_SEC_CNT`.
pub const TLV_SEC_CNT: u16 = 0x50;

/// Header flags MCUboot's default simulator build refuses: encryption (no keys built in) and
/// compression (not built in).
const UNSUPPORTED_FLAGS: u32 = 0x4 | 0x8 | 0x200 | 0x400 | 0x800;

/// Decode the 32 header bytes whatever they contain (an erased or half-copied header is still
/// "read"; the magic is judged by the callers).
pub fn decode_header(b: &[u8; IMAGE_HEADER_SIZE]) -> ImageHeader {
    ImageHeader::parse_any_magic(b).unwrap_or(EMPTY_HEADER)
}

/// A header of all zeroes.
pub const EMPTY_HEADER: ImageHeader = ImageHeader {
    magic: 0,
    load_addr: 0,
    hdr_size: 0,
    protect_tlv_size: 0,
    img_size: 0,
    flags: ImageFlags(0),
    version: ImageVersion::new(0, 0, 0),
};

/// `ih_magic == IMAGE_MAGIC`.
pub fn has_magic(h: &ImageHeader) -> bool {
    h.magic == IMAGE_MAGIC
}

/// `boot_check_header_erased`: the magic bytes all hold the erased value.
pub fn is_erased(h: &ImageHeader, erased: u8) -> bool {
    h.magic.to_le_bytes().iter().all(|&b| b == erased)
}

pub fn is_non_bootable(h: &ImageHeader) -> bool {
    h.flags.0 & ImageFlags::NON_BOOTABLE.0 != 0
}

/// `boot_check_header_valid`: magic, no overflow, fits strictly inside the slot, and no
/// feature this build lacks (encryption, compression).
pub fn is_valid_for(h: &ImageHeader, slot_size: u32) -> bool {
    has_magic(h) && h.flags.0 & UNSUPPORTED_FLAGS == 0 && h.check_fits(slot_size).is_ok()
}

/// What validation established about an image (independent of the stored NV counters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// Hash (and signature, when keys are configured) verified.
    pub valid: bool,
    /// The image digest (header, payload and protected TLVs), when valid.
    pub hash: Vec<u8>,
    /// The protected SEC_CNT TLV, if present.
    pub security_counter: Option<u32>,
    /// The protected DEPENDENCY TLVs.
    pub dependencies: Vec<Dependency>,
}

/// The two TLV blocks of an image, located from its header: `(prot_start, unprot_start,
/// total_size)`. `None` when the info headers are not where and what MCUboot requires
/// (`boot_read_image_size` / `bootutil_tlv_iter_begin`).
pub fn tlv_blocks(hdr: &ImageHeader, info: [u8; 8]) -> Option<(u32, u32, u32)> {
    let tlv_off = hdr.tlv_offset()?;
    let magic0 = u16::from_le_bytes([info[0], info[1]]);
    let tot0 = u16::from_le_bytes([info[2], info[3]]) as u32;
    let prot = hdr.protect_tlv_size as u32;
    let (unprot_start, unprot_magic, unprot_tot) = if magic0 == TLV_PROT_INFO_MAGIC {
        if tot0 != prot {
            return None;
        }
        let m = u16::from_le_bytes([info[4], info[5]]);
        let t = u16::from_le_bytes([info[6], info[7]]) as u32;
        (tlv_off + prot, m, t)
    } else {
        if prot != 0 {
            return None;
        }
        (tlv_off, magic0, tot0)
    };
    if unprot_magic != TLV_INFO_MAGIC {
        return None;
    }
    Some((tlv_off, unprot_start, unprot_start.checked_add(unprot_tot)?))
}

/// Validate the image whose bytes (header through last TLV) are `bytes` with the image
/// module's validator: hash TLV present and matching (SHA-256 in a hash-only build), and with
/// keys, a good signature from one of them.
pub fn compute_facts(bytes: &[u8], keys: &[PublicKey]) -> ImageFacts {
    let policy =
        ValidationPolicy { hash: keys.is_empty().then_some(HashAlg::Sha256), ..ValidationPolicy::default() };
    match validate_with(bytes, keys, &policy) {
        Ok(v) => ImageFacts {
            valid: true,
            hash: v.hash,
            security_counter: v.security_counter,
            dependencies: v.dependencies,
        },
        Err(_) => {
            ImageFacts { valid: false, hash: Vec::new(), security_counter: None, dependencies: Vec::new() }
        }
    }
}

/// Memo of validation results keyed by the image's exact bytes.
#[derive(Debug, Clone, Default)]
pub struct ValidationCache {
    /// The keys the entries were validated with; another key set clears the cache.
    keys: Vec<PublicKey>,
    entries: Vec<(Vec<u8>, ImageFacts)>,
    next: usize,
    hits: u64,
    misses: u64,
}

/// How many distinct images the cache keeps (round-robin replacement).
const CACHE_ENTRIES: usize = 8;

impl ValidationCache {
    /// Look `bytes` up, computing and remembering the facts on a miss. Returns the index of
    /// the entry.
    pub fn lookup(&mut self, bytes: &[u8], keys: &[PublicKey]) -> usize {
        if self.keys.as_slice() != keys {
            self.clear();
            self.keys = keys.to_vec();
        }
        if let Some(i) = self.entries.iter().position(|(b, _)| b.as_slice() == bytes) {
            self.hits += 1;
            return i;
        }
        self.misses += 1;
        let facts = compute_facts(bytes, keys);
        if self.entries.len() < CACHE_ENTRIES {
            self.entries.push((bytes.to_vec(), facts));
            self.entries.len() - 1
        } else {
            let i = self.next;
            self.next = (self.next + 1) % CACHE_ENTRIES;
            let e = &mut self.entries[i];
            e.0.clear();
            e.0.extend_from_slice(bytes);
            e.1 = facts;
            i
        }
    }

    pub fn facts(&self, i: usize) -> &ImageFacts {
        &self.entries[i].1
    }

    /// `(hits, misses)` since creation.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.next = 0;
    }
}

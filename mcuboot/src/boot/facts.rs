//! What the bootloader learns about an image in a slot: its header (read on every boot, cheap)
//! and whether it validates (hash, security counter, dependencies), which costs a SHA-256 over
//! the whole image and is therefore memoised.
//!
//! The memo ([`ValidationCache`]) is keyed by the image's exact bytes: a lookup reads the
//! candidate image (header through last TLV) and compares it with the cached copies, so a hit
//! can never be wrong — a torn copy that differs in one byte misses and gets hashed. This is
//! what makes tens of thousands of cut-and-reboot cycles per second possible: every reboot
//! re-validates the same two or three images.

use sha2::{Digest, Sha256};

/// `IMAGE_MAGIC`.
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// `IMAGE_HEADER_SIZE`.
pub const IMAGE_HEADER_SIZE: usize = 32;
/// `IMAGE_TLV_INFO_MAGIC`: the unprotected TLV block.
pub const TLV_INFO_MAGIC: u16 = 0x6907;
/// `IMAGE_TLV_PROT_INFO_MAGIC`: the protected TLV block.
pub const TLV_PROT_INFO_MAGIC: u16 = 0x6908;
/// `IMAGE_TLV_SHA256`.
pub const TLV_SHA256: u16 = 0x10;
/// `IMAGE_TLV_DEPENDENCY`.
pub const TLV_DEPENDENCY: u16 = 0x40;
/// `IMAGE_TLV_SEC_CNT`.
pub const TLV_SEC_CNT: u16 = 0x50;

/// Header flags MCUboot's default simulator build refuses: encryption (no keys built in) and
/// compression (not built in).
const UNSUPPORTED_FLAGS: u32 = 0x4 | 0x8 | 0x200 | 0x400 | 0x800;
/// `IMAGE_F_NON_BOOTABLE`.
pub const FLAG_NON_BOOTABLE: u32 = 0x10;

/// An image version (`struct image_version`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub revision: u16,
    pub build_num: u32,
}

impl Version {
    pub const fn new(major: u8, minor: u8, revision: u16) -> Version {
        Version { major, minor, revision, build_num: 0 }
    }

    fn from_bytes(b: &[u8]) -> Version {
        Version {
            major: b[0],
            minor: b[1],
            revision: u16::from_le_bytes([b[2], b[3]]),
            build_num: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// `boot_compare_version` without `MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER`.
    pub fn cmp_ignoring_build(&self, other: &Version) -> std::cmp::Ordering {
        (self.major, self.minor, self.revision).cmp(&(other.major, other.minor, other.revision))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}+{}", self.major, self.minor, self.revision, self.build_num)
    }
}

/// The 32 header bytes as the bootloader reads them, whatever they contain (the magic is not
/// checked here: an erased or half-copied header is still "read").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlotHeader {
    pub magic: u32,
    pub load_addr: u32,
    pub hdr_size: u16,
    pub protect_tlv_size: u16,
    pub img_size: u32,
    pub flags: u32,
    pub version: Version,
    /// The raw first four bytes, to tell an erased header from a corrupt one.
    pub magic_bytes: [u8; 4],
}

impl SlotHeader {
    /// Decode 32 bytes.
    pub fn decode(b: &[u8; IMAGE_HEADER_SIZE]) -> SlotHeader {
        let le32 = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        SlotHeader {
            magic: le32(0),
            load_addr: le32(4),
            hdr_size: u16::from_le_bytes([b[8], b[9]]),
            protect_tlv_size: u16::from_le_bytes([b[10], b[11]]),
            img_size: le32(12),
            flags: le32(16),
            version: Version::from_bytes(&b[20..28]),
            magic_bytes: [b[0], b[1], b[2], b[3]],
        }
    }

    /// `ih_magic == IMAGE_MAGIC`.
    pub fn has_magic(&self) -> bool {
        self.magic == IMAGE_MAGIC
    }

    /// `boot_check_header_erased`: the magic bytes all hold the erased value.
    pub fn is_erased(&self, erased: u8) -> bool {
        self.magic_bytes.iter().all(|&b| b == erased)
    }

    pub fn is_non_bootable(&self) -> bool {
        self.flags & FLAG_NON_BOOTABLE != 0
    }

    /// Offset of the first TLV info: `hdr_size + img_size` (None on overflow).
    pub fn tlv_off(&self) -> Option<u32> {
        (self.hdr_size as u32).checked_add(self.img_size)
    }

    /// `boot_check_header_valid`: magic, no overflow, fits strictly inside the slot, and no
    /// feature this build lacks (encryption, compression).
    pub fn is_valid_for(&self, slot_size: u32) -> bool {
        self.has_magic()
            && self.flags & UNSUPPORTED_FLAGS == 0
            && self
                .tlv_off()
                .and_then(|o| o.checked_add(self.protect_tlv_size as u32))
                .is_some_and(|end| end < slot_size)
    }
}

/// One DEPENDENCY TLV: image `image_id` must be at least `min_version`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dependency {
    pub image_id: u8,
    pub min_version: Version,
}

/// What validation established about an image (independent of the stored NV counters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// The hash matched its SHA256 TLV.
    pub valid: bool,
    /// SHA-256 over header, payload and protected TLVs.
    pub hash: [u8; 32],
    /// Header through last TLV.
    pub total_size: u32,
    /// The protected SEC_CNT TLV, if present and 4 bytes long.
    pub security_counter: Option<u32>,
    /// The protected DEPENDENCY TLVs.
    pub dependencies: Vec<Dependency>,
}

/// The two TLV blocks of an image, located from its header: `(prot_start, unprot_start,
/// total_size)`. `None` when the info headers are not where and what MCUboot requires
/// (`boot_read_image_size` / `bootutil_tlv_iter_begin`).
pub fn tlv_blocks(hdr: &SlotHeader, info: [u8; 8]) -> Option<(u32, u32, u32)> {
    let tlv_off = hdr.tlv_off()?;
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

/// Walk the TLVs of `[start + 4, end)`, calling `f(type, payload)`; false on an entry that
/// runs past the block.
fn walk(bytes: &[u8], start: u32, end: u32, mut f: impl FnMut(u16, &[u8])) -> bool {
    let mut off = start as usize + 4;
    let end = end as usize;
    while off < end {
        if off + 4 > end {
            return false;
        }
        let ty = u16::from_le_bytes([bytes[off], bytes[off + 1]]);
        let len = u16::from_le_bytes([bytes[off + 2], bytes[off + 3]]) as usize;
        let data = off + 4;
        if data + len > end {
            return false;
        }
        f(ty, &bytes[data..data + len]);
        off = data + len;
    }
    true
}

/// Validate the image whose bytes (header through last TLV) are `bytes`, as MCUboot's
/// hash-only build does: the SHA256 TLV must be present and match.
pub fn compute_facts(hdr: &SlotHeader, bytes: &[u8], prot_start: u32, unprot_start: u32) -> ImageFacts {
    let total = bytes.len() as u32;
    let mut facts = ImageFacts {
        valid: false,
        hash: [0; 32],
        total_size: total,
        security_counter: None,
        dependencies: Vec::new(),
    };
    let hashed_end = unprot_start as usize;
    facts.hash.copy_from_slice(&Sha256::digest(&bytes[..hashed_end]));
    let mut ok = true;
    let mut hash_tlv: Option<[u8; 32]> = None;
    let mut hash_tlv_bad = false;
    if hdr.protect_tlv_size != 0 {
        ok &= walk(bytes, prot_start, unprot_start, |ty, data| match ty {
            TLV_SEC_CNT if data.len() == 4 => {
                facts.security_counter = Some(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
            }
            TLV_DEPENDENCY if data.len() == 12 => facts
                .dependencies
                .push(Dependency { image_id: data[0], min_version: Version::from_bytes(&data[4..12]) }),
            TLV_SHA256 => {
                if data.len() == 32 {
                    hash_tlv = Some(data.try_into().unwrap_or([0; 32]));
                } else {
                    hash_tlv_bad = true;
                }
            }
            _ => {}
        });
    }
    ok &= walk(bytes, unprot_start, total, |ty, data| {
        if ty == TLV_SHA256 {
            if data.len() == 32 {
                hash_tlv = Some(data.try_into().unwrap_or([0; 32]));
            } else {
                hash_tlv_bad = true;
            }
        }
    });
    facts.valid = ok && !hash_tlv_bad && hash_tlv == Some(facts.hash);
    facts
}

/// Memo of validation results keyed by the image's exact bytes.
#[derive(Debug, Clone, Default)]
pub struct ValidationCache {
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
    pub fn lookup(&mut self, hdr: &SlotHeader, bytes: &[u8], prot_start: u32, unprot_start: u32) -> usize {
        if let Some(i) = self.entries.iter().position(|(b, _)| b.as_slice() == bytes) {
            self.hits += 1;
            return i;
        }
        self.misses += 1;
        let facts = compute_facts(hdr, bytes, prot_start, unprot_start);
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

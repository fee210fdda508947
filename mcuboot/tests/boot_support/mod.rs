//! Shared helpers for the boot tests: imgtool-format images built by hand (header, payload,
//! protected TLVs, SHA-256 TLV), flash set-up, and trailer/slot inspection.
#![allow(dead_code)]

use mcuboot::boot::{Algorithm, BootConfig, BootOutcome, BootState, CutFlash, boot};
use mcuboot::flash::{Flash, RamFlash};
pub use mcuboot::image::ImageVersion as Version;
use mcuboot::layout::{Area, AreaId, FlashMap};
use mcuboot::trailer::{self, SwapState, TrailerLayout};
use sha2::{Digest, Sha256};

pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;

/// An image as imgtool would produce it (without `--pad`).
#[derive(Clone, Debug)]
pub struct TestImage {
    pub bytes: Vec<u8>,
    pub version: Version,
}

/// Builder for a test image.
pub struct ImageSpec {
    pub payload: usize,
    pub version: Version,
    pub seed: u8,
    pub security_counter: Option<u32>,
    pub dependencies: Vec<(u8, Version)>,
}

impl ImageSpec {
    pub fn new(payload: usize, version: Version, seed: u8) -> ImageSpec {
        ImageSpec { payload, version, seed, security_counter: None, dependencies: Vec::new() }
    }

    pub fn counter(mut self, c: u32) -> ImageSpec {
        self.security_counter = Some(c);
        self
    }

    pub fn depends(mut self, image: u8, v: Version) -> ImageSpec {
        self.dependencies.push((image, v));
        self
    }

    pub fn build(&self) -> TestImage {
        let mut prot = Vec::new();
        if let Some(c) = self.security_counter {
            prot.extend_from_slice(&0x50u16.to_le_bytes());
            prot.extend_from_slice(&4u16.to_le_bytes());
            prot.extend_from_slice(&c.to_le_bytes());
        }
        for (id, v) in &self.dependencies {
            prot.extend_from_slice(&0x40u16.to_le_bytes());
            prot.extend_from_slice(&12u16.to_le_bytes());
            prot.extend_from_slice(&[*id, 0, 0, 0, v.major, v.minor]);
            prot.extend_from_slice(&v.revision.to_le_bytes());
            prot.extend_from_slice(&v.build_num.to_le_bytes());
        }
        let prot_size = if prot.is_empty() { 0 } else { prot.len() + 4 };
        let mut b = Vec::new();
        b.extend_from_slice(&IMAGE_MAGIC.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&32u16.to_le_bytes());
        b.extend_from_slice(&(prot_size as u16).to_le_bytes());
        b.extend_from_slice(&(self.payload as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&[self.version.major, self.version.minor]);
        b.extend_from_slice(&self.version.revision.to_le_bytes());
        b.extend_from_slice(&self.version.build_num.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        // Pseudo-random payload, different per seed.
        let mut x: u32 = 0x1234_5678 ^ (self.seed as u32).wrapping_mul(0x9e37_79b9);
        for _ in 0..self.payload {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b.push(x as u8);
        }
        if prot_size != 0 {
            b.extend_from_slice(&0x6908u16.to_le_bytes());
            b.extend_from_slice(&(prot_size as u16).to_le_bytes());
            b.extend_from_slice(&prot);
        }
        let hash = Sha256::digest(&b);
        b.extend_from_slice(&0x6907u16.to_le_bytes());
        b.extend_from_slice(&40u16.to_le_bytes());
        b.extend_from_slice(&0x10u16.to_le_bytes());
        b.extend_from_slice(&32u16.to_le_bytes());
        b.extend_from_slice(&hash);
        TestImage { bytes: b, version: self.version }
    }
}

/// The images of reference Appendix A: 20072 B v1.0.0 and 24072 B v2.0.0.
pub fn appendix_a_images() -> (TestImage, TestImage) {
    (
        ImageSpec::new(20000, Version::new(1, 0, 0), 1).build(),
        ImageSpec::new(24000, Version::new(2, 0, 0), 2).build(),
    )
}

pub fn ram_flash(map: &FlashMap) -> RamFlash {
    RamFlash::new(map.devices.clone())
}

pub fn map(name: &str, write_size: u32, erased: u8) -> FlashMap {
    FlashMap::preset(name).expect("preset").with_flash_params(write_size, erased)
}

/// Program `bytes` at `off` inside `area` (bypassing NOR rules, like a programmer).
pub fn load(flash: &mut RamFlash, area: Area, off: u32, bytes: &[u8]) {
    flash.load(area.device, area.offset + off, bytes).expect("load");
}

/// Where an upload goes in the secondary slot for this algorithm (one sector in for offset).
pub fn upload_offset(map: &FlashMap, alg: Algorithm, image: u8) -> u32 {
    if alg == Algorithm::SwapOffset {
        let a = map.area(AreaId::Secondary(image)).expect("secondary");
        map.devices[a.device as usize].sector_at(a.offset).expect("sector").size
    } else {
        0
    }
}

pub fn slot_bytes(flash: &RamFlash, area: Area, off: u32, len: usize) -> Vec<u8> {
    let d = flash.contents(area.device).expect("device");
    let s = (area.offset + off) as usize;
    d[s..s + len].to_vec()
}

pub fn state_of(flash: &mut impl Flash, cfg: &BootConfig, area: Area) -> SwapState {
    let l = cfg.trailer_layout().expect("layout");
    trailer::read_swap_state(flash, &l, area).expect("read")
}

pub fn layout(cfg: &BootConfig) -> TrailerLayout {
    cfg.trailer_layout().expect("layout")
}

/// A device with `primary` installed and `upgrade` uploaded and marked pending.
pub fn setup(
    map: &FlashMap,
    cfg: &BootConfig,
    primary: &TestImage,
    upgrade: Option<&TestImage>,
    permanent: bool,
) -> RamFlash {
    let mut f = ram_flash(map);
    let pri = map.area(AreaId::Primary(0)).expect("primary");
    load(&mut f, pri, 0, &primary.bytes);
    if let Some(up) = upgrade {
        let sec = map.area(AreaId::Secondary(0)).expect("secondary");
        load(&mut f, sec, upload_offset(map, cfg.algorithm, 0), &up.bytes);
        trailer::set_pending(&mut f, map, &layout(cfg), 0, permanent).expect("set_pending");
    }
    f
}

/// Boot with op counting; panics on error.
pub fn boot_ok(flash: &mut RamFlash, map: &FlashMap, cfg: &BootConfig, st: &mut BootState) -> BootOutcome {
    let mut cf = CutFlash::new(&mut *flash);
    let out = boot(&mut cf, map, cfg, st).expect("boot");
    assert_eq!(out.ops, cf.ops, "reported op count matches the flash's");
    out
}

/// The primary slot holds exactly `img` at offset 0.
pub fn primary_holds(flash: &RamFlash, map: &FlashMap, img: &TestImage) -> bool {
    let pri = map.area(AreaId::Primary(0)).expect("primary");
    slot_bytes(flash, pri, 0, img.bytes.len()) == img.bytes
}

/// The secondary slot holds exactly `img` at `off`.
pub fn secondary_holds(flash: &RamFlash, map: &FlashMap, img: &TestImage, off: u32) -> bool {
    let sec = map.area(AreaId::Secondary(0)).expect("secondary");
    slot_bytes(flash, sec, off, img.bytes.len()) == img.bytes
}

//! Flash maps: where the slots and the scratch area sit on which flash device.
//!
//! The presets are the device layouts of MCUboot's own simulator (reference `mcuboot.md` §7.2),
//! so op counts and behaviour can be compared with it.

use crate::flash::{DeviceId, Geometry, Sector, SectorRun};

/// A contiguous flash area (a slot or the scratch area) on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    pub device: DeviceId,
    /// Offset of the area's first byte on its device.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// The primary and secondary slot of one updatable image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSlots {
    pub primary: Area,
    pub secondary: Area,
}

/// Which area, in MCUboot's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AreaId {
    /// Slot 0 of image `n`: the image that runs.
    Primary(u8),
    /// Slot 1 of image `n`: where an update is uploaded.
    Secondary(u8),
    /// The scratch area (swap-using-scratch only).
    Scratch,
}

/// Devices and the areas placed on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashMap {
    /// A short name, e.g. `k64f`.
    pub name: String,
    /// One geometry per flash device; index = [`DeviceId`].
    pub devices: Vec<Geometry>,
    /// One entry per updatable image (1 or 2).
    pub images: Vec<ImageSlots>,
    pub scratch: Option<Area>,
}

impl FlashMap {
    /// The area named by `id`, if this map has it.
    pub fn area(&self, id: AreaId) -> Option<Area> {
        match id {
            AreaId::Primary(n) => self.images.get(n as usize).map(|s| s.primary),
            AreaId::Secondary(n) => self.images.get(n as usize).map(|s| s.secondary),
            AreaId::Scratch => self.scratch,
        }
    }

    /// The sectors of an area, with offsets relative to the area's start.
    pub fn area_sectors(&self, area: Area) -> Vec<Sector> {
        let Some(geometry) = self.devices.get(area.device as usize) else { return Vec::new() };
        geometry
            .iter_sectors()
            .filter(|s| s.offset >= area.offset && s.offset < area.offset + area.size)
            .map(|s| Sector { offset: s.offset - area.offset, size: s.size })
            .collect()
    }

    /// The same map with every device's write size and erased value replaced.
    pub fn with_flash_params(mut self, write_size: u32, erased_value: u8) -> FlashMap {
        for g in &mut self.devices {
            g.write_size = write_size;
            g.erased_value = erased_value;
        }
        self
    }

    /// Names of the built-in presets, for CLI help and errors.
    pub const PRESETS: &'static [&'static str] =
        &["k64f", "k64f-multi", "stm32f4", "nrf52840", "nrf52840-spi", "small-pages"];

    /// A built-in preset by name, with write size 8 and erased value 0xFF
    /// (change them with [`FlashMap::with_flash_params`]).
    pub fn preset(name: &str) -> Option<FlashMap> {
        let internal = |sectors: Vec<SectorRun>| Geometry { sectors, write_size: 8, erased_value: 0xff };
        let uniform = |count, size| internal(vec![SectorRun { count, size }]);
        let area = |device, offset, size| Area { device, offset, size };
        let map = match name {
            // 128 x 4 KiB; 128 KiB slots, one-sector scratch.
            "k64f" => FlashMap {
                name: name.into(),
                devices: vec![uniform(128, 0x1000)],
                images: vec![ImageSlots {
                    primary: area(0, 0x20000, 0x20000),
                    secondary: area(0, 0x40000, 0x20000),
                }],
                scratch: Some(area(0, 0x60000, 0x1000)),
            },
            // 256 x 4 KiB; two images.
            "k64f-multi" => FlashMap {
                name: name.into(),
                devices: vec![uniform(256, 0x1000)],
                images: vec![
                    ImageSlots { primary: area(0, 0x20000, 0x20000), secondary: area(0, 0x40000, 0x20000) },
                    ImageSlots { primary: area(0, 0x80000, 0x20000), secondary: area(0, 0xA0000, 0x20000) },
                ],
                scratch: Some(area(0, 0x60000, 0x1000)),
            },
            // Mixed sector sizes: 16K x4, 64K, 32K x2, 64K, 32K x2, 64K, 128K.
            "stm32f4" => FlashMap {
                name: name.into(),
                devices: vec![internal(vec![
                    SectorRun { count: 4, size: 0x4000 },
                    SectorRun { count: 1, size: 0x10000 },
                    SectorRun { count: 2, size: 0x8000 },
                    SectorRun { count: 1, size: 0x10000 },
                    SectorRun { count: 2, size: 0x8000 },
                    SectorRun { count: 1, size: 0x10000 },
                    SectorRun { count: 1, size: 0x20000 },
                ])],
                images: vec![ImageSlots {
                    primary: area(0, 0x20000, 0x20000),
                    secondary: area(0, 0x40000, 0x20000),
                }],
                scratch: Some(area(0, 0x60000, 0x20000)),
            },
            // 128 x 4 KiB; 208 KiB slots, 52 KiB scratch.
            "nrf52840" => FlashMap {
                name: name.into(),
                devices: vec![uniform(128, 0x1000)],
                images: vec![ImageSlots {
                    primary: area(0, 0x8000, 0x34000),
                    secondary: area(0, 0x3C000, 0x34000),
                }],
                scratch: Some(area(0, 0x70000, 0xD000)),
            },
            // Internal 128 x 4 KiB plus an external SPI part of 64 x 8 KiB holding the secondary
            // slot and the scratch area.
            "nrf52840-spi" => FlashMap {
                name: name.into(),
                devices: vec![uniform(128, 0x1000), uniform(64, 0x2000)],
                images: vec![ImageSlots {
                    primary: area(0, 0x8000, 0x68000),
                    secondary: area(1, 0x0, 0x68000),
                }],
                scratch: Some(area(1, 0x68000, 0x18000)),
            },
            // 1024 x 512 B pages. 256 pages per slot: more than the default BOOT_MAX_IMG_SECTORS
            // (128), so this layout boots only with `max_img_sectors` raised to 256 (or logical
            // sectors, which are not modelled).
            "small-pages" => FlashMap {
                name: name.into(),
                devices: vec![uniform(1024, 0x200)],
                images: vec![ImageSlots {
                    primary: area(0, 0x20000, 0x20000),
                    secondary: area(0, 0x40000, 0x20000),
                }],
                scratch: Some(area(0, 0x60000, 0x4000)),
            },
            _ => return None,
        };
        Some(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fit_their_devices() {
        for name in FlashMap::PRESETS {
            let map = FlashMap::preset(name).unwrap();
            let mut areas: Vec<Area> = map.images.iter().flat_map(|s| [s.primary, s.secondary]).collect();
            areas.extend(map.scratch);
            for a in areas {
                let dev = &map.devices[a.device as usize];
                assert!(a.offset + a.size <= dev.size(), "{name}: {a:?} past the end");
                let sectors = map.area_sectors(a);
                assert_eq!(
                    sectors.iter().map(|s| s.size).sum::<u32>(),
                    a.size,
                    "{name}: {a:?} not whole sectors"
                );
            }
        }
    }

    #[test]
    fn k64f_slot_has_32_sectors_relative_offsets() {
        let map = FlashMap::preset("k64f").unwrap();
        let s = map.area_sectors(map.area(AreaId::Secondary(0)).unwrap());
        assert_eq!(s.len(), 32);
        assert_eq!(s[1], Sector { offset: 0x1000, size: 0x1000 });
    }
}

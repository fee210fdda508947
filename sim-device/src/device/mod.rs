//! The simulated device: emulated flash, MCUboot, the SMP server and what the running
//! firmware does, behind one [`Device`].
//!
//! ```text
//!   power_on / reset / crash / watchdog
//!            │
//!            ▼
//!   mcuboot::boot::boot(flash, map, config)  ── nothing bootable ──▶ Bricked (answers nothing)
//!            │ boots image in the primary slot
//!            ▼
//!   FirmwareBehaviour of that image (by version / hash / default)
//!     ConfirmAtBoot ─ set_confirmed ─┐
//!     WaitForConfirm ────────────────┼──▶ Running: handle() answers SMP
//!     CrashAtBoot ─────────────────── reset ─▶ bootloader again (a test image reverts)
//!     HangUntilWatchdog ─────────────▶ Hung: answers nothing; watchdog_ms later, reset
//!     Execute: the image's own code on a Cortex-M4 (feature `firmware`, crate::firmware)
//!       READY ──────────────────────────▶ Running (CONFIRM on the way: set_confirmed)
//!       REBOOT / fault ──────────────── reset ─▶ bootloader again
//!       watchdog expired / budget used ─▶ Hung (watchdog deadline, or none)
//! ```
//!
//! The firmware's console output is kept ([`Device::console`]) and logged line by line.
//!
//! Every reboot goes through the real bootloader model, so a pending image swaps and an
//! unconfirmed one reverts exactly as on hardware. Power can be cut at any flash operation
//! ([`Device::cut_power_at`]); the device is then off until [`Device::power_on`]. No real time
//! passes: the reset delay and the watchdog are deadlines on a [`Clock`].

pub mod behaviour;
pub mod clock;

use std::collections::VecDeque;
use std::path::PathBuf;

use mcuboot::boot::{Algorithm, BootConfig, BootError, BootState, DowngradePrevention};
use mcuboot::flash::FlashError;
use mcuboot::image::{ImageHeader, ImageVersion, PublicKey};
use mcuboot::layout::{Area, FlashMap};
use mcuboot::trailer::{self, SwapType, TrailerError, TrailerLayout};
use smp::header::Header;
use thiserror::Error;

use crate::firmware::{self, ConfirmReply};
use crate::flash::persist::PersistError;
use crate::flash::{FaultKind, GeometryError, ProgramMode, SimFlash};
use crate::server::{self, GroupDef, Hooks, Limits, ServerConfig, ServerState, StateMap};

pub use behaviour::{Behaviours, FirmwareBehaviour, ImageMatch};
pub use clock::Clock;

/// Why a device could not be built.
#[derive(Debug, Error)]
pub enum DeviceError {
    #[error("unknown flash layout {name:?} (known: {known})")]
    UnknownLayout { name: String, known: String },
    #[error("flash layout: {0}")]
    Geometry(#[from] GeometryError),
    #[error("bootloader configuration: {0}")]
    Trailer(#[from] TrailerError),
    #[error("{what}: {len} bytes do not fit the {room} bytes available")]
    ImageTooLarge { what: String, len: usize, room: u32 },
    #[error("the flash map has no image {0}")]
    NoSuchImage(u8),
    #[error("loading the initial flash: {0}")]
    Flash(#[from] FlashError),
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// An image placed in a slot before the first boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialImage {
    /// Image number (0 for single-image layouts).
    pub image: u8,
    /// 0 = primary, 1 = secondary.
    pub slot: u8,
    /// The file bytes (imgtool output, with or without padding/trailer).
    pub bytes: Vec<u8>,
}

/// Everything that describes a device before it exists. Build it with the methods, then
/// [`DeviceConfig::build`].
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub map: FlashMap,
    pub boot: BootConfig,
    /// Flash write size override (every device of the map).
    pub write_size: Option<u32>,
    /// Flash erased value override.
    pub erased_value: Option<u8>,
    pub program_mode: ProgramMode,
    pub images: Vec<InitialImage>,
    /// Keep the flash in this file: loaded when it exists (instead of `images`), saved after
    /// every change.
    pub flash_file: Option<PathBuf>,
    pub behaviours: Behaviours,
    pub server: ServerConfig,
    /// `CONFIG_MCUMGR_GRP_OS_RESET_MS`: time between the reset reply and the reboot.
    pub reset_delay_ms: u64,
    /// Watchdog timeout for a hung application.
    pub watchdog_ms: u64,
    /// Consecutive crash reboots before the model stops trying (a real board would loop
    /// forever; the device then answers nothing until power-cycled).
    pub max_crash_boots: u32,
    pub clock: Clock,
    /// Most instructions one boot of an [`FirmwareBehaviour::Execute`] image may run
    /// ([`firmware::DEFAULT_BUDGET`]).
    pub firmware_budget: u64,
    /// The `storage_partition`: where settings are kept and what Zephyr basic "erase
    /// storage" erases. [`DeviceConfig::new`] places it in the free flash after the last
    /// slot ([`default_storage_partition`]); `None`: the board has none.
    pub storage: Option<Area>,
}

impl DeviceConfig {
    /// A device with `map`, swap-scratch, no images, serial limits.
    pub fn new(map: FlashMap) -> DeviceConfig {
        DeviceConfig {
            boot: BootConfig::default(),
            write_size: None,
            erased_value: None,
            program_mode: ProgramMode::Strict,
            images: Vec::new(),
            flash_file: None,
            behaviours: Behaviours::default(),
            server: ServerConfig::default(),
            reset_delay_ms: 250,
            watchdog_ms: 4000,
            max_crash_boots: 16,
            clock: Clock::manual(),
            firmware_budget: firmware::DEFAULT_BUDGET,
            storage: default_storage_partition(&map),
            map,
        }
    }

    /// A device with a built-in layout preset ([`FlashMap::PRESETS`]).
    pub fn preset(name: &str) -> Result<DeviceConfig, DeviceError> {
        let map = FlashMap::preset(name).ok_or_else(|| DeviceError::UnknownLayout {
            name: name.into(),
            known: FlashMap::PRESETS.join(", "),
        })?;
        Ok(DeviceConfig::new(map))
    }

    pub fn algorithm(mut self, algorithm: Algorithm) -> DeviceConfig {
        self.boot.algorithm = algorithm;
        self
    }

    pub fn flash_params(mut self, write_size: u32, erased_value: u8) -> DeviceConfig {
        self.write_size = Some(write_size);
        self.erased_value = Some(erased_value);
        self
    }

    /// Verification keys built into the bootloader (empty: hash-only).
    pub fn keys(mut self, keys: Vec<PublicKey>) -> DeviceConfig {
        self.boot.keys = keys;
        self
    }

    pub fn downgrade_prevention(mut self, d: DowngradePrevention) -> DeviceConfig {
        self.boot.downgrade_prevention = d;
        self
    }

    /// Image 0's primary slot content.
    pub fn primary(self, bytes: Vec<u8>) -> DeviceConfig {
        self.image(0, 0, bytes)
    }

    /// Image 0's secondary slot content (placed where the algorithm expects an upload).
    pub fn secondary(self, bytes: Vec<u8>) -> DeviceConfig {
        self.image(0, 1, bytes)
    }

    pub fn image(mut self, image: u8, slot: u8, bytes: Vec<u8>) -> DeviceConfig {
        self.images.push(InitialImage { image, slot, bytes });
        self
    }

    pub fn flash_file(mut self, path: impl Into<PathBuf>) -> DeviceConfig {
        self.flash_file = Some(path.into());
        self
    }

    pub fn behaviours(mut self, b: Behaviours) -> DeviceConfig {
        self.behaviours = b;
        self
    }

    /// Every image behaves as `b`.
    pub fn behaviour(mut self, b: FirmwareBehaviour) -> DeviceConfig {
        self.behaviours = Behaviours::all(b);
        self
    }

    pub fn limits(mut self, limits: Limits) -> DeviceConfig {
        self.server.limits = limits;
        self
    }

    pub fn server(mut self, server: ServerConfig) -> DeviceConfig {
        self.server = server;
        self
    }

    pub fn clock(mut self, clock: Clock) -> DeviceConfig {
        self.clock = clock;
        self
    }

    /// The instruction budget of one boot of an [`FirmwareBehaviour::Execute`] image.
    pub fn firmware_budget(mut self, instructions: u64) -> DeviceConfig {
        self.firmware_budget = instructions;
        self
    }

    /// Place the storage partition (or remove it with `None`).
    pub fn storage_partition(mut self, area: Option<Area>) -> DeviceConfig {
        self.storage = area;
        self
    }

    /// Make the device: lay out the flash (from the file if it exists, else the initial
    /// images), then power it on (first boot).
    pub fn build(self) -> Result<Device, DeviceError> {
        let mut map = self.map;
        let (ws, ev) = map.devices.first().map_or((8, 0xff), |g| (g.write_size, g.erased_value));
        map = map.with_flash_params(self.write_size.unwrap_or(ws), self.erased_value.unwrap_or(ev));
        let mut boot = self.boot;
        let max_ws = map.devices.iter().map(|g| g.write_size).max().unwrap_or(8);
        if max_ws > boot.max_align {
            boot.max_align = max_ws.max(8);
        }
        let layout = boot.trailer_layout()?;
        let flash = match &self.flash_file {
            Some(path) if path.exists() => SimFlash::load_file(path, Some(&map.devices), self.program_mode)?,
            _ => {
                let mut flash = SimFlash::for_map(&map, self.program_mode)?;
                for img in &self.images {
                    let slots =
                        map.images.get(img.image as usize).ok_or(DeviceError::NoSuchImage(img.image))?;
                    let (area, start) = if img.slot == 0 {
                        (slots.primary, 0)
                    } else {
                        (slots.secondary, upload_offset(&map, boot.algorithm, slots.secondary))
                    };
                    let room = area.size - start;
                    if img.bytes.len() > room as usize {
                        return Err(DeviceError::ImageTooLarge {
                            what: format!("image {} slot {}", img.image, img.slot),
                            len: img.bytes.len(),
                            room,
                        });
                    }
                    flash.load(area.device, area.offset + start, &img.bytes)?;
                }
                flash
            }
        };
        let groups = server::standard_groups(&self.server);
        let mut dev = Device {
            saved_ops: u64::MAX,
            flash,
            map,
            boot_config: boot,
            boot_state: BootState::new(),
            layout,
            behaviours: self.behaviours,
            server_config: self.server,
            hooks: Hooks::new(),
            groups,
            server: ServerState::default(),
            storage: StateMap::default(),
            stats: Stats::default(),
            clock: self.clock,
            state: RunState::Off(OffReason::PoweredOff),
            boot_count: 0,
            image_boots: Vec::new(),
            events: VecDeque::new(),
            events_dropped: 0,
            pending_reset: None,
            rtc: None,
            flash_file: self.flash_file,
            reset_delay_ms: self.reset_delay_ms,
            watchdog_ms: self.watchdog_ms,
            max_crash_boots: self.max_crash_boots,
            booted_at_ms: 0,
            storage_area: self.storage,
            firmware_budget: self.firmware_budget,
            console: String::new(),
        };
        dev.log(EventKind::PowerOn);
        dev.boot_cycle();
        dev.after_activity();
        Ok(dev)
    }
}

/// The storage partition a board gets by default: the last sectors (at most 8, at least 2)
/// of flash device 0 after every slot and the scratch area, as Zephyr board files put
/// `storage_partition` at the end of the internal flash. `None` when fewer than two free
/// sectors remain (e.g. `stm32f4`, whose scratch area ends the flash).
pub fn default_storage_partition(map: &FlashMap) -> Option<Area> {
    let geometry = map.devices.first()?;
    let areas = map.images.iter().flat_map(|s| [s.primary, s.secondary]).chain(map.scratch);
    let used_end = areas.filter(|a| a.device == 0).map(|a| a.offset + a.size).max().unwrap_or(0);
    let free: Vec<_> = geometry.iter_sectors().filter(|s| s.offset >= used_end).collect();
    if free.len() < 2 {
        return None;
    }
    let first = free[free.len() - free.len().min(8)];
    Some(Area { device: 0, offset: first.offset, size: geometry.size() - first.offset })
}

/// Where an upload (and an initial secondary image) starts inside the secondary slot: one
/// sector in for swap-using-offset (`mcuboot.md` §6.4), else 0.
pub fn upload_offset(map: &FlashMap, algorithm: Algorithm, secondary: Area) -> u32 {
    if algorithm == Algorithm::SwapOffset {
        map.area_sectors(secondary).first().map_or(0, |s| s.size)
    } else {
        0
    }
}

/// The image the application runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningImage {
    /// Image number (0).
    pub image: u8,
    /// Slot within the image (0: swap and overwrite builds always run the primary).
    pub slot: u8,
    pub version: ImageVersion,
    /// The image hash from its SHA-256 TLV.
    pub hash: Vec<u8>,
    pub header: ImageHeader,
    pub behaviour: FirmwareBehaviour,
}

/// Why the device is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffReason {
    /// [`Device::power_off`].
    PoweredOff,
    /// A power cut during flash operation `op`.
    PowerLost { op: u64 },
}

/// What the device is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// The application runs and answers SMP.
    Running(RunningImage),
    /// The application hangs; the watchdog resets it at `watchdog_at_ms`.
    Hung { image: RunningImage, watchdog_at_ms: u64 },
    /// No power.
    Off(OffReason),
    /// The bootloader found nothing bootable (MCUboot stops): a brick until reflashed.
    Bricked(String),
    /// The bootloader halted (assert, unrecoverable flash error).
    Halted(String),
    /// The application crashed at every one of `boots` consecutive boots.
    CrashLoop { boots: u32 },
}

/// Why a reboot happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    /// `os reset`.
    Command,
    /// [`Device::reset`] from the harness (a reset button).
    External,
    /// The application crashed.
    Crash,
    /// The watchdog expired.
    Watchdog,
    /// The running firmware asked for a reboot (`sys_reboot`, [`firmware::reg::REBOOT`]).
    Reboot,
    /// Power came back.
    PowerOn,
}

/// One entry of the device log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Clock time.
    pub at_ms: u64,
    /// Boot count at the time.
    pub boot: u64,
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    PowerOn,
    PowerOff,
    /// A power cut at flash operation `op`.
    PowerLost {
        op: u64,
    },
    Reset(ResetCause),
    /// One run of the bootloader: per image, the swap it resumed and the swap type it acted on.
    Boot {
        images: Vec<(Option<SwapType>, SwapType)>,
        flash_ops: u64,
    },
    /// The application started.
    Running {
        version: ImageVersion,
        hash: Vec<u8>,
        behaviour: FirmwareBehaviour,
    },
    Bricked(String),
    Halted(String),
    Crash {
        version: ImageVersion,
    },
    Hang {
        version: ImageVersion,
    },
    CrashLoop,
    /// A line the firmware wrote to its console (without the newline).
    Console(String),
    /// The firmware asked for a reboot.
    FirmwareReboot {
        version: ImageVersion,
    },
    /// The firmware faulted (the device resets through the bootloader).
    Fault {
        version: ImageVersion,
        what: String,
    },
    /// The application confirmed itself.
    SelfConfirmed {
        version: ImageVersion,
    },
    /// An SMP request and what came of it.
    Request {
        header: Header,
        result: String,
    },
    /// Bytes received and not processed.
    Ignored {
        bytes: usize,
        why: &'static str,
    },
    Hook(String),
    Note(String),
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:>8} ms, boot {}] {}", self.at_ms, self.boot, self.kind)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventKind::PowerOn => write!(f, "power on"),
            EventKind::PowerOff => write!(f, "power off"),
            EventKind::PowerLost { op } => write!(f, "power lost at flash operation {op}"),
            EventKind::Reset(cause) => write!(f, "reset ({cause:?})"),
            EventKind::Boot { images, flash_ops } => {
                write!(f, "bootloader:")?;
                for (i, (resumed, swap)) in images.iter().enumerate() {
                    write!(f, " image {i} swap {swap:?}")?;
                    if let Some(r) = resumed {
                        write!(f, " (resumed {r:?})")?;
                    }
                }
                write!(f, ", {flash_ops} flash operations")
            }
            EventKind::Running { version, hash, behaviour } => {
                let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
                write!(f, "running {version} ({short}…), {behaviour:?}")
            }
            EventKind::Bricked(why) => write!(f, "bricked: {why}"),
            EventKind::Halted(why) => write!(f, "bootloader halted: {why}"),
            EventKind::Crash { version } => write!(f, "{version} crashed"),
            EventKind::Hang { version } => write!(f, "{version} hangs"),
            EventKind::CrashLoop => write!(f, "crash loop: giving up until power-cycled"),
            EventKind::Console(line) => write!(f, "console: {line}"),
            EventKind::FirmwareReboot { version } => write!(f, "{version} requested a reboot"),
            EventKind::Fault { version, what } => write!(f, "{version} faulted: {what}"),
            EventKind::SelfConfirmed { version } => write!(f, "{version} confirmed itself"),
            EventKind::Request { header, result } => write!(f, "smp {header}: {result}"),
            EventKind::Ignored { bytes, why } => write!(f, "ignored {bytes} bytes: {why}"),
            EventKind::Hook(text) => write!(f, "hook: {text}"),
            EventKind::Note(text) => write!(f, "{text}"),
        }
    }
}

/// Named counter groups (what the stats group serves). RAM: cleared at every boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    groups: Vec<StatGroup>,
}

/// One stat group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatGroup {
    pub name: String,
    /// Counters in registration order.
    pub fields: Vec<(String, u64)>,
}

impl Stats {
    fn field(&mut self, group: &str, field: &str) -> &mut u64 {
        let gi = match self.groups.iter().position(|g| g.name == group) {
            Some(i) => i,
            None => {
                self.groups.push(StatGroup { name: group.into(), fields: Vec::new() });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[gi];
        let fi = match g.fields.iter().position(|(n, _)| n == field) {
            Some(i) => i,
            None => {
                g.fields.push((field.into(), 0));
                g.fields.len() - 1
            }
        };
        &mut g.fields[fi].1
    }

    /// Add `n` to a counter (created at 0).
    pub fn bump(&mut self, group: &str, field: &str, n: u64) {
        let f = self.field(group, field);
        *f = f.saturating_add(n);
    }

    /// Set a counter.
    pub fn set(&mut self, group: &str, field: &str, value: u64) {
        *self.field(group, field) = value;
    }

    /// Every group, in registration order.
    pub fn groups(&self) -> &[StatGroup] {
        &self.groups
    }

    pub fn group(&self, name: &str) -> Option<&StatGroup> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// The RTC: the date-time set last, and when (clock time). Lost at power off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtc {
    /// Milliseconds since 1970-01-01T00:00:00 at `set_at_ms` (may be negative).
    pub epoch_ms: i64,
    pub set_at_ms: u64,
}

/// At most this many events are kept; older ones are dropped (and counted).
pub const EVENT_LOG_CAPACITY: usize = 20_000;

/// [`Device::console`] keeps the last this many bytes of console text.
pub const CONSOLE_CAPACITY: usize = 64 * 1024;

/// A console line longer than this is logged in pieces.
const CONSOLE_LINE_MAX: usize = 1024;

/// A simulated board. See the [module documentation](self).
pub struct Device {
    pub(crate) flash: SimFlash,
    pub(crate) map: FlashMap,
    pub(crate) boot_config: BootConfig,
    pub(crate) boot_state: BootState,
    pub(crate) layout: TrailerLayout,
    pub(crate) behaviours: Behaviours,
    pub(crate) server_config: ServerConfig,
    pub(crate) hooks: Hooks,
    pub(crate) groups: Vec<GroupDef>,
    pub(crate) server: ServerState,
    pub(crate) storage: StateMap,
    pub(crate) stats: Stats,
    pub(crate) clock: Clock,
    pub(crate) state: RunState,
    pub(crate) boot_count: u64,
    /// Healthy boots per image hash (for [`FirmwareBehaviour::CrashAfterBoots`]).
    image_boots: Vec<(Vec<u8>, u32)>,
    events: VecDeque<Event>,
    events_dropped: u64,
    pub(crate) pending_reset: Option<(u64, ResetCause)>,
    pub(crate) rtc: Option<Rtc>,
    flash_file: Option<PathBuf>,
    saved_ops: u64,
    pub(crate) reset_delay_ms: u64,
    watchdog_ms: u64,
    max_crash_boots: u32,
    booted_at_ms: u64,
    storage_area: Option<Area>,
    firmware_budget: u64,
    /// Console text (the last [`CONSOLE_CAPACITY`] bytes).
    console: String,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("layout", &self.map.name)
            .field("algorithm", &self.boot_config.algorithm)
            .field("state", &self.state)
            .field("boot_count", &self.boot_count)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Device {
    // ------------------------------------------------------------------ inspection

    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The running application's image, while it runs (or hangs).
    pub fn running(&self) -> Option<&RunningImage> {
        match &self.state {
            RunState::Running(r) | RunState::Hung { image: r, .. } => Some(r),
            _ => None,
        }
    }

    /// True while the application answers SMP.
    pub fn is_serving(&self) -> bool {
        matches!(self.state, RunState::Running(_))
    }

    /// A short name of the state, for logs.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            RunState::Running(_) => "running",
            RunState::Hung { .. } => "hung",
            RunState::Off(_) => "off",
            RunState::Bricked(_) => "bricked",
            RunState::Halted(_) => "halted",
            RunState::CrashLoop { .. } => "crash loop",
        }
    }

    /// Bootloader runs since the device was made.
    pub fn boot_count(&self) -> u64 {
        self.boot_count
    }

    pub fn flash(&self) -> &SimFlash {
        &self.flash
    }

    /// The flash, for fault plans, snapshots and inspection. Changing cells behind a running
    /// application's back is allowed (it is what a debugger does).
    pub fn flash_mut(&mut self) -> &mut SimFlash {
        &mut self.flash
    }

    pub fn map(&self) -> &FlashMap {
        &self.map
    }

    pub fn boot_config(&self) -> &BootConfig {
        &self.boot_config
    }

    /// The trailer layout of the bootloader build.
    pub fn trailer_layout(&self) -> &TrailerLayout {
        &self.layout
    }

    pub fn server_config(&self) -> &ServerConfig {
        &self.server_config
    }

    /// The server options, to change while the device runs (user stat groups, shell
    /// commands, fs mounts: handlers read them at every request). The group table itself is
    /// built once; use [`Device::register_group`] for new groups.
    pub fn server_config_mut(&mut self) -> &mut ServerConfig {
        &mut self.server_config
    }

    /// The storage partition (settings, Zephyr basic erase), if the board has one.
    pub fn storage_partition(&self) -> Option<Area> {
        self.storage_area
    }

    pub fn limits(&self) -> Limits {
        self.server_config.limits
    }

    pub fn hooks_mut(&mut self) -> &mut Hooks {
        &mut self.hooks
    }

    pub fn behaviours_mut(&mut self) -> &mut Behaviours {
        &mut self.behaviours
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// The registered groups, in registration order.
    pub fn groups(&self) -> &[GroupDef] {
        &self.groups
    }

    /// Register another group (or replace the one with the same id).
    pub fn register_group(&mut self, def: GroupDef) {
        match self.groups.iter_mut().find(|g| g.group == def.group) {
            Some(g) => *g = def,
            None => self.groups.push(def),
        }
    }

    /// A group's RAM state (cleared at every boot).
    pub fn ram_state<T: std::any::Any + Send + Default>(&mut self) -> &mut T {
        self.server.ram.get::<T>()
    }

    /// A group's persistent state (survives reboots and power cycles, like a storage
    /// partition; not kept in the flash file).
    pub fn storage_state<T: std::any::Any + Send + Default>(&mut self) -> &mut T {
        self.storage.get::<T>()
    }

    /// The server's RAM state (upload in progress, request count).
    pub fn server_state(&self) -> &ServerState {
        &self.server
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Milliseconds since the application started.
    pub fn uptime_ms(&self) -> u64 {
        self.now_ms().saturating_sub(self.booted_at_ms)
    }

    /// The log, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    /// Take the log, leaving it empty.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Events dropped because the log was full.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// The instruction budget of one boot of an [`FirmwareBehaviour::Execute`] image.
    pub fn firmware_budget(&self) -> u64 {
        self.firmware_budget
    }

    /// Everything the firmware wrote to its console since the device was built (the last
    /// [`CONSOLE_CAPACITY`] bytes), as text: invalid UTF-8 is replaced line by line. Only
    /// [`FirmwareBehaviour::Execute`] images write to it.
    pub fn console(&self) -> &str {
        &self.console
    }

    /// Append a console line (its bytes, `newline` if it ended with one) and log it.
    fn console_line(&mut self, bytes: &[u8], newline: bool) {
        let line = String::from_utf8_lossy(bytes).into_owned();
        self.console.push_str(&line);
        if newline {
            self.console.push('\n');
        }
        if self.console.len() > CONSOLE_CAPACITY {
            let mut cut = self.console.len() - CONSOLE_CAPACITY;
            while !self.console.is_char_boundary(cut) {
                cut += 1;
            }
            self.console.drain(..cut);
        }
        self.log(EventKind::Console(line));
    }

    pub(crate) fn log(&mut self, kind: EventKind) {
        if self.events.len() >= EVENT_LOG_CAPACITY {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        let at_ms = self.clock.now_ms();
        self.events.push_back(Event { at_ms, boot: self.boot_count, kind });
    }

    // ------------------------------------------------------------------ time

    /// When [`Device::poll`] next has something to do (a scheduled reset, a watchdog).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let reset = self.pending_reset.map(|(at, _)| at);
        let wdt = match self.state {
            RunState::Hung { watchdog_at_ms, .. } if watchdog_at_ms != firmware::NO_WATCHDOG => {
                Some(watchdog_at_ms)
            }
            _ => None,
        };
        match (reset, wdt) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Carry out whatever is due at the clock's current time.
    pub fn poll(&mut self) {
        // Each reboot can schedule at most a later deadline, so this ends; the bound is a guard.
        for _ in 0..64 {
            let now = self.clock.now_ms();
            match (self.pending_reset, &self.state) {
                (Some((at, cause)), RunState::Running(_) | RunState::Hung { .. }) if at <= now => {
                    self.pending_reset = None;
                    self.reset(cause);
                }
                (_, RunState::Hung { watchdog_at_ms, .. }) if *watchdog_at_ms <= now => {
                    self.reset(ResetCause::Watchdog);
                }
                _ => break,
            }
        }
        self.after_activity();
    }

    /// Move a manual clock forward and carry out what came due. Returns false (and only
    /// polls) for a system clock.
    pub fn advance(&mut self, ms: u64) -> bool {
        let moved = self.clock.advance(ms);
        self.poll();
        moved
    }

    // ------------------------------------------------------------------ power and resets

    /// Reboot now through the bootloader (a reset line pulse, a crash, a watchdog). Does
    /// nothing while the power is off.
    pub fn reset(&mut self, cause: ResetCause) {
        if matches!(self.state, RunState::Off(_)) {
            return;
        }
        self.log(EventKind::Reset(cause));
        self.boot_cycle();
        self.after_activity();
    }

    /// Cut the power. The RAM (upload in progress, RTC, stats) is lost; the flash keeps what it
    /// holds.
    pub fn power_off(&mut self) {
        if !matches!(self.state, RunState::Off(_)) {
            self.flash.power_off();
            self.state = RunState::Off(OffReason::PoweredOff);
            self.log(EventKind::PowerOff);
        }
        self.rtc = None;
        self.pending_reset = None;
        self.after_activity();
    }

    /// Restore power and boot (also after a power cut injected into the flash).
    pub fn power_on(&mut self) {
        if !matches!(self.state, RunState::Off(_)) {
            return;
        }
        self.flash.power_on();
        self.log(EventKind::PowerOn);
        self.boot_cycle();
        self.after_activity();
    }

    /// Power-cycle: off then on.
    pub fn power_cycle(&mut self) {
        self.power_off();
        self.power_on();
    }

    /// Arm a power cut at the `n`-th flash operation from now (1 = the next write or erase),
    /// of the given kind (cut before/after, torn write, interrupted erase). It fires wherever
    /// that operation happens: an upload chunk, a trailer write, the swap at the next boot.
    pub fn cut_power_at(&mut self, n: u64, kind: FaultKind) {
        let op = self.flash.ops().saturating_add(n.max(1));
        self.flash.arm(op, kind);
    }

    /// The flash lost power under the running application.
    pub(crate) fn power_lost(&mut self) {
        let op = self.flash.lost_at().unwrap_or(self.flash.ops());
        self.state = RunState::Off(OffReason::PowerLost { op });
        self.rtc = None;
        self.pending_reset = None;
        self.log(EventKind::PowerLost { op });
    }

    /// Schedule a reboot `reset_delay_ms` from now (the `os reset` path).
    pub(crate) fn schedule_reset(&mut self, cause: ResetCause) {
        let at = self.clock.now_ms().saturating_add(self.reset_delay_ms);
        self.pending_reset = Some((at, cause));
    }

    /// Run the bootloader, then the application's declared behaviour, until the device
    /// serves, hangs, is off, or is bricked.
    fn boot_cycle(&mut self) {
        self.server = ServerState::default();
        self.stats = Stats::default();
        self.pending_reset = None;
        let mut crashes = 0u32;
        loop {
            if crashes >= self.max_crash_boots {
                self.state = RunState::CrashLoop { boots: crashes };
                self.log(EventKind::CrashLoop);
                return;
            }
            self.boot_count += 1;
            let result =
                mcuboot::boot::boot(&mut self.flash, &self.map, &self.boot_config, &mut self.boot_state);
            let outcome = match result {
                Ok(o) => o,
                Err(BootError::PowerLoss { .. }) => {
                    self.power_lost();
                    return;
                }
                Err(e) => {
                    let why = e.to_string();
                    self.log(EventKind::Halted(why.clone()));
                    self.state = RunState::Halted(why);
                    return;
                }
            };
            let images = outcome.images.iter().map(|r| (r.resumed, r.swap_type)).collect();
            self.log(EventKind::Boot { images, flash_ops: outcome.ops });
            let Some(booted) = outcome.boots else {
                let why = outcome.failure.unwrap_or("no bootable image").to_string();
                self.log(EventKind::Bricked(why.clone()));
                self.state = RunState::Bricked(why);
                return;
            };
            let hash = match server::image::read_slot_image(self, booted.image, 0) {
                Some(s) => s.hash,
                None => outcome.images.first().and_then(|r| r.hash.clone()).unwrap_or_default(),
            };
            let version = booted.header.version;
            let behaviour = self.behaviours.of(&version, &hash);
            let boots = self.count_boot(&hash);
            let running = RunningImage {
                image: booted.image,
                slot: 0,
                version,
                hash: hash.clone(),
                header: booted.header,
                behaviour,
            };
            let (crash, confirm) = match behaviour {
                FirmwareBehaviour::Execute => {
                    let swap_type = outcome
                        .images
                        .get(booted.image as usize)
                        .map_or(SwapType::None, |r| r.resumed.unwrap_or(r.swap_type));
                    match self.execute(booted.area, swap_type, running, boots) {
                        Executed::Settled => return,
                        Executed::Rebooting => {
                            crashes += 1;
                            continue;
                        }
                    }
                }
                FirmwareBehaviour::ConfirmAtBoot => (false, true),
                FirmwareBehaviour::WaitForConfirm => (false, false),
                FirmwareBehaviour::CrashAtBoot => (true, false),
                FirmwareBehaviour::CrashAfterBoots { boots: healthy, confirm } => (boots > healthy, confirm),
                FirmwareBehaviour::HangUntilWatchdog => {
                    self.log(EventKind::Hang { version });
                    let watchdog_at_ms = self.clock.now_ms().saturating_add(self.watchdog_ms);
                    self.state = RunState::Hung { image: running, watchdog_at_ms };
                    return;
                }
            };
            if crash {
                crashes += 1;
                self.log(EventKind::Crash { version });
                self.log(EventKind::Reset(ResetCause::Crash));
                continue;
            }
            self.booted_at_ms = self.clock.now_ms();
            self.log(EventKind::Running { version, hash, behaviour });
            self.state = RunState::Running(running);
            if confirm {
                match trailer::set_confirmed(&mut self.flash, &self.map, &self.layout, booted.image) {
                    Ok(trailer::SetOutcome::Written) => self.log(EventKind::SelfConfirmed { version }),
                    Ok(trailer::SetOutcome::Unchanged) => {}
                    Err(TrailerError::Flash(FlashError::PowerLoss { .. })) => self.power_lost(),
                    Err(e) => self.log(EventKind::Note(format!("self-confirm failed: {e}"))),
                }
            }
            return;
        }
    }

    /// Run the image's own code ([`FirmwareBehaviour::Execute`]): see [`crate::firmware`].
    #[cfg(not(feature = "firmware"))]
    fn execute(&mut self, _area: Area, _swap: SwapType, _running: RunningImage, _boots: u32) -> Executed {
        let why = firmware::NOT_BUILT.to_string();
        self.log(EventKind::Note(why.clone()));
        self.state = RunState::Halted(why);
        Executed::Settled
    }

    /// Run the image's own code ([`FirmwareBehaviour::Execute`]): see [`crate::firmware`].
    #[cfg(feature = "firmware")]
    fn execute(
        &mut self,
        area: Area,
        swap_type: SwapType,
        running: RunningImage,
        image_boots: u32,
    ) -> Executed {
        use firmware::{BootInfo, Exit, Program};
        let version = running.version;
        let boot = BootInfo { swap_type, boot_count: self.boot_count, image_boots };
        let flash = self.flash.contents(0).unwrap_or_default();
        let exit = match Program::place(flash, area, &running.header, boot, self.firmware_budget) {
            Ok(program) => {
                self.log(EventKind::Note(format!(
                    "{version} executes from {:#010x} ({} instructions at most)",
                    program.vector_table, program.budget
                )));
                let mut host = FirmwareHost { dev: self, image: running.image, version, line: Vec::new() };
                let exit = firmware::run(&program, &mut host);
                host.flush();
                exit
            }
            Err(fault) => Exit::Fault { fault, executed: 0 },
        };
        let now = self.clock.now_ms();
        match exit {
            Exit::Ready { executed } => {
                self.log(EventKind::Note(format!(
                    "{version} is up after {executed} instructions ({} ms modelled)",
                    firmware::instructions_to_ms(executed)
                )));
                self.booted_at_ms = now;
                self.log(EventKind::Running {
                    version,
                    hash: running.hash.clone(),
                    behaviour: running.behaviour,
                });
                self.state = RunState::Running(running);
                Executed::Settled
            }
            Exit::Reboot { .. } => {
                self.log(EventKind::FirmwareReboot { version });
                self.log(EventKind::Reset(ResetCause::Reboot));
                Executed::Rebooting
            }
            Exit::Fault { fault, .. } => {
                self.log(EventKind::Fault { version, what: fault.to_string() });
                self.log(EventKind::Reset(ResetCause::Crash));
                Executed::Rebooting
            }
            Exit::Watchdog { timeout_ms, at_instruction } => {
                let after = firmware::instructions_to_ms(at_instruction);
                self.log(EventKind::Note(format!(
                    "{version} stopped feeding its {timeout_ms} ms watchdog, which expires {after} ms after boot"
                )));
                self.log(EventKind::Hang { version });
                self.state = RunState::Hung { image: running, watchdog_at_ms: now.saturating_add(after) };
                Executed::Settled
            }
            Exit::BudgetExhausted { executed, watchdog_at_instruction }
            | Exit::Asleep { executed, watchdog_at_instruction } => {
                let watchdog_at_ms = match watchdog_at_instruction {
                    Some(at) => now.saturating_add(firmware::instructions_to_ms(at)),
                    None => firmware::NO_WATCHDOG,
                };
                let then = if watchdog_at_ms == firmware::NO_WATCHDOG {
                    "no watchdog runs: hung until reset or power cycle".to_string()
                } else {
                    format!("its watchdog resets it at {watchdog_at_ms} ms")
                };
                let what = if matches!(exit, Exit::Asleep { .. }) {
                    format!("went to sleep (wfi/wfe) after {executed} instructions with nothing to wake it")
                } else {
                    format!("used its budget of {executed} instructions")
                };
                self.log(EventKind::Note(format!("{version} {what} without becoming ready; {then}")));
                self.log(EventKind::Hang { version });
                self.state = RunState::Hung { image: running, watchdog_at_ms };
                Executed::Settled
            }
            // The host already turned the device off.
            Exit::PowerLost { .. } => Executed::Settled,
        }
    }

    /// Count a boot of the image with `hash`; returns how many boots it has had (this one
    /// included).
    fn count_boot(&mut self, hash: &[u8]) -> u32 {
        match self.image_boots.iter_mut().find(|(h, _)| h.as_slice() == hash) {
            Some((_, n)) => {
                *n = n.saturating_add(1);
                *n
            }
            None => {
                self.image_boots.push((hash.to_vec(), 1));
                1
            }
        }
    }

    // ------------------------------------------------------------------ persistence

    /// Save the flash to the flash file now (if there is one).
    pub fn save(&mut self) -> Result<(), PersistError> {
        if let Some(path) = &self.flash_file {
            self.flash.save(path)?;
            self.saved_ops = self.flash.ops();
        }
        Ok(())
    }

    /// Persist the flash if it changed since it was last saved.
    pub(crate) fn after_activity(&mut self) {
        if self.flash_file.is_some()
            && self.saved_ops != self.flash.ops()
            && let Err(e) = self.save()
        {
            self.log(EventKind::Note(format!("saving the flash file failed: {e}")));
        }
    }
}

/// What running an [`FirmwareBehaviour::Execute`] image came to, for the boot loop.
enum Executed {
    /// The device serves, hangs, halted or lost power: the boot cycle ends.
    Settled,
    /// The firmware rebooted or faulted: the bootloader runs again.
    #[cfg_attr(not(feature = "firmware"), allow(dead_code))]
    Rebooting,
}

/// The device as the running firmware's control block sees it.
#[cfg_attr(not(feature = "firmware"), allow(dead_code))]
struct FirmwareHost<'d> {
    dev: &'d mut Device,
    image: u8,
    version: ImageVersion,
    /// The console line being written.
    line: Vec<u8>,
}

#[cfg_attr(not(feature = "firmware"), allow(dead_code))]
impl FirmwareHost<'_> {
    /// Log what is left of the console line (the run ended in the middle of it).
    fn flush(&mut self) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.dev.console_line(&line, false);
        }
    }
}

impl firmware::Host for FirmwareHost<'_> {
    fn console(&mut self, byte: u8) {
        if byte == b'\n' {
            let line = std::mem::take(&mut self.line);
            self.dev.console_line(&line, true);
            return;
        }
        self.line.push(byte);
        if self.line.len() >= CONSOLE_LINE_MAX {
            self.flush();
        }
    }

    fn confirm(&mut self) -> ConfirmReply {
        let dev = &mut *self.dev;
        match trailer::set_confirmed(&mut dev.flash, &dev.map, &dev.layout, self.image) {
            Ok(trailer::SetOutcome::Written) => {
                dev.log(EventKind::SelfConfirmed { version: self.version });
                ConfirmReply::Written
            }
            Ok(trailer::SetOutcome::Unchanged) => ConfirmReply::Unchanged,
            Err(TrailerError::Flash(FlashError::PowerLoss { .. })) => {
                dev.power_lost();
                ConfirmReply::PowerLost
            }
            Err(e) => {
                dev.log(EventKind::Note(format!("self-confirm failed: {e}")));
                ConfirmReply::Failed
            }
        }
    }

    fn image_ok(&mut self) -> bool {
        let dev = &mut *self.dev;
        let Some(area) = dev.map.area(mcuboot::layout::AreaId::Primary(self.image)) else { return false };
        trailer::read_swap_state(&mut dev.flash, &dev.layout, area)
            .is_ok_and(|s| s.image_ok == trailer::FlagState::Set)
    }
}

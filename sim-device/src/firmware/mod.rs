//! Running the image's own code: a Cortex-M4 under unicorn-engine (cargo feature `firmware`).
//!
//! Every other [`FirmwareBehaviour`](crate::device::FirmwareBehaviour) *declares* what an image
//! does after boot. [`FirmwareBehaviour::Execute`](crate::device::FirmwareBehaviour::Execute)
//! runs the image's machine code instead, so the image itself decides: run self-tests and
//! confirm, crash, hang, or reboot. That is how a self-confirming update is tested.
//!
//! The CPU is unicorn-engine (QEMU's ARM core, GPL-2.0), behind the cargo feature `firmware`
//! because it needs cmake and libclang to build. [`AVAILABLE`] says whether this build has it;
//! without it an `Execute` image halts the device with [`NOT_BUILT`].
//!
//! # From the bootloader to the reset vector
//!
//! After MCUboot picks the primary slot of image `n`:
//!
//! 1. **Execution address.** With the header flag `RAM_LOAD` the payload is copied to the
//!    header's `load_addr`, which must lie in RAM. Otherwise the image executes in place (XIP,
//!    as on every Cortex-M MCUboot target): at [`FLASH_BASE`] + slot offset + `hdr_size`.
//!    Only flash device 0 is memory-mapped, so an XIP image must run from a slot on it.
//! 2. **Vector table.** The payload starts with the vector table: word 0 is the initial stack
//!    pointer, word 1 the reset vector (its bit 0, the Thumb bit, must be set).
//! 3. **Run.** The CPU starts at the reset vector with that stack pointer and runs until the
//!    firmware says it is up ([`reg::READY`]), asks for a reboot ([`reg::REBOOT`]), faults,
//!    lets its watchdog expire, or has used its instruction budget.
//!
//! # Memory map
//!
//! | region | address | size | access |
//! |---|---|---|---|
//! | flash device 0 | [`FLASH_BASE`] = `0x0000_0000` | the device's size (k64f, nrf52840: 512 KiB) | read, execute |
//! | RAM | [`RAM_BASE`] = `0x2000_0000` | [`RAM_SIZE`] = 256 KiB (the K64F's SRAM size; zeroed at every boot) | read, write, execute |
//! | control block | [`CONTROL_BASE`] = `0x4000_F000` | [`CONTROL_SIZE`] = 4 KiB | registers below |
//! | System Control Space | [`SCS_BASE`] = `0xE000_E000` | 4 KiB | reads 0 but `CPUID` (a Cortex-M4 r0p1); a write of `0x05FA_0004` (VECTKEY + SYSRESETREQ) to `AIRCR` requests a reboot, as `NVIC_SystemReset()` / `sys_reboot()` do; other writes are ignored (no NVIC, SysTick or MPU is modelled) |
//!
//! The flash region is a copy of flash device 0 taken when the image starts; the firmware
//! cannot write it (a store there is a fault, as on a part whose flash controller is not
//! driven). Anything else is unmapped: touching it is a fault.
//!
//! # The control block
//!
//! 32-bit registers at [`CONTROL_BASE`] + offset (any access width works; the console takes the
//! low byte). Write-only registers read as 0 and writes to read-only ones are ignored; an
//! offset not listed is a fault (a bus error), so a firmware bug shows.
//!
//! | offset | name | access | meaning |
//! |---|---|---|---|
//! | `0x00` | [`reg::ID`] | R | [`ID_VALUE`] (`0x4E57_5242`, "BRWN"): the simulator is there |
//! | `0x04` | [`reg::CONSOLE`] | W | the low byte is appended to the console ([`crate::device::Device::console`]) |
//! | `0x08` | [`reg::CONFIRM`] | W | any value: `boot_write_img_confirmed()`: the image_ok of the running image's primary trailer is written now, through the same flash path (and power cuts) as a confirm over SMP |
//! | `0x0C` | [`reg::CONFIRM_RESULT`] | R | the last confirm: 0 not asked, [`CONFIRM_WRITTEN`] (1) image_ok written, [`CONFIRM_UNCHANGED`] (2) nothing to write (already confirmed, or no trailer magic), [`CONFIRM_ERROR`] (`0xFFFF_FFFF`) the trailer is corrupt |
//! | `0x10` | [`reg::REBOOT`] | W | any value: `sys_reboot()`: the run ends and the device reboots through the bootloader |
//! | `0x14` | [`reg::READY`] | W | any value: booted and serving SMP. The run ends; from here on the simulator's SMP server stands in for the firmware |
//! | `0x18` | [`reg::WDT_START`] | W | start the watchdog with this timeout in ms (0 is ignored; once started, later writes are ignored, as on most MCU watchdogs) |
//! | `0x1C` | [`reg::WDT_FEED`] | W | any value: feed the watchdog |
//! | `0x20` | [`reg::IMAGE_OK`] | R | 1 if the running image is confirmed (primary trailer image_ok set, read now), else 0 |
//! | `0x24` | [`reg::SWAP_TYPE`] | R | what the bootloader did at this boot, in MCUboot's codes: 1 none, 2 test, 3 perm, 4 revert, 5 fail. A swap this boot resumed after a power cut counts as that swap |
//! | `0x28` | [`reg::BOOT_COUNT`] | R | bootloader runs since the device was built (low 32 bits) |
//! | `0x2C` | [`reg::IMAGE_BOOTS`] | R | boots of this image (by hash) since the device was built, this one included: what a counter in retained RAM would hold |
//! | `0x30` | [`reg::UPTIME_US`] | R | modelled microseconds since the reset vector (low 32 bits) |
//!
//! # Time, the watchdog and the budget
//!
//! Modelled time is counted in instructions: [`INSTRUCTIONS_PER_MS`] = 1000, a core doing
//! one instruction per microsecond. (Slow for a real MCU, but it keeps a watchdog period cheap
//! to simulate; timing loops in test firmware should count in these units.)
//!
//! * **Watchdog.** Started with a timeout of `t` ms, it expires when `t × 1000` instructions run
//!   without a feed. The device is then [`Hung`](crate::device::RunState::Hung) with its
//!   watchdog deadline at *now + the modelled time the firmware ran* (the clock does not move
//!   while firmware executes), and [`Device::poll`](crate::device::Device::poll) resets it when
//!   the clock gets there, exactly as for
//!   [`HangUntilWatchdog`](crate::device::FirmwareBehaviour::HangUntilWatchdog).
//! * **Budget.** A run executes at most [`DEFAULT_BUDGET`] instructions (4 s modelled; see
//!   `DeviceConfig::firmware_budget`). A firmware that has used it without becoming ready is
//!   hung. If its watchdog is running the simulator stops executing and lets the watchdog
//!   expire: the device is hung until the deadline the watchdog had when execution stopped.
//!   Without a watchdog nothing will ever reset it: the device is hung with the deadline
//!   [`NO_WATCHDOG`] (never), until a reset, a power cycle or a power cut.
//! * **Sleep.** No interrupts are modelled, so a core that halts in `wfi` or `wfe` before it is
//!   ready never wakes: it is hung the same way (until its watchdog's deadline, or for good).
//!
//! # Faults
//!
//! Faults are not delivered to the firmware's own handlers: the device resets through the
//! bootloader at once, as with a fatal-error handler that calls `sys_reboot()` (a custom
//! `k_sys_fatal_error_handler`; Zephyr's default one halts instead, and such a board comes
//! back only when its watchdog fires: later, but through the same bootloader). A fault is: a
//! read, write or instruction fetch of unmapped memory; a write to flash; a CPU exception
//! (undefined instruction, `svc`, `bkpt` with no debugger attached, a call through a null
//! pointer, which is a prefetch abort at address 0, …); a reset vector without the Thumb bit;
//! an access to an unknown control-block register.

#[cfg(feature = "firmware")]
mod cpu;

use std::fmt;

use mcuboot::image::{ImageFlags, ImageHeader};
use mcuboot::layout::Area;
use mcuboot::trailer::SwapType;

/// True when this build can run firmware (the cargo feature `firmware`).
pub const AVAILABLE: bool = cfg!(feature = "firmware");

/// Why an `Execute` image cannot run in a build without the feature (the device halts with it).
pub const NOT_BUILT: &str = "this image runs its own code, but brownout was built without the firmware feature (rebuild with --features firmware)";

/// Where flash device 0 is mapped.
pub const FLASH_BASE: u32 = 0x0000_0000;
/// Where RAM starts.
pub const RAM_BASE: u32 = 0x2000_0000;
/// RAM size: 256 KiB.
pub const RAM_SIZE: u32 = 256 * 1024;
/// Where the control block is mapped.
pub const CONTROL_BASE: u32 = 0x4000_F000;
/// Size of the control block's region (one 4 KiB page).
pub const CONTROL_SIZE: u32 = 0x1000;
/// Modelled speed: instructions per millisecond (one per microsecond).
pub const INSTRUCTIONS_PER_MS: u64 = 1000;
/// The Cortex-M System Control Space (SCB, NVIC, SysTick): only what a reset needs.
pub const SCS_BASE: u32 = 0xE000_E000;
/// `SCB->CPUID`, offset from [`SCS_BASE`].
pub const SCB_CPUID: u32 = 0xD00;
/// `SCB->AIRCR`, offset from [`SCS_BASE`].
pub const SCB_AIRCR: u32 = 0xD0C;
/// What `CPUID` reads: ARM, r0p1, Cortex-M4.
pub const CPUID_CORTEX_M4: u32 = 0x410F_C241;
/// The value `NVIC_SystemReset()` writes to `AIRCR`: VECTKEY `0x05FA` and SYSRESETREQ.
pub const AIRCR_SYSRESETREQ: u32 = 0x05FA_0004;

/// Default instruction budget of one run: 4 million (4 s modelled).
pub const DEFAULT_BUDGET: u64 = 4_000_000;
/// The watchdog deadline of a device hung with no watchdog running: never.
pub const NO_WATCHDOG: u64 = u64::MAX;
/// What [`reg::ID`] reads.
pub const ID_VALUE: u32 = 0x4E57_5242;
/// [`reg::CONFIRM_RESULT`]: image_ok was written.
pub const CONFIRM_WRITTEN: u32 = 1;
/// [`reg::CONFIRM_RESULT`]: nothing to write.
pub const CONFIRM_UNCHANGED: u32 = 2;
/// [`reg::CONFIRM_RESULT`]: the trailer is corrupt.
pub const CONFIRM_ERROR: u32 = 0xFFFF_FFFF;

/// Control-block register offsets (see the [module documentation](self)).
pub mod reg {
    pub const ID: u32 = 0x00;
    pub const CONSOLE: u32 = 0x04;
    pub const CONFIRM: u32 = 0x08;
    pub const CONFIRM_RESULT: u32 = 0x0C;
    pub const REBOOT: u32 = 0x10;
    pub const READY: u32 = 0x14;
    pub const WDT_START: u32 = 0x18;
    pub const WDT_FEED: u32 = 0x1C;
    pub const IMAGE_OK: u32 = 0x20;
    pub const SWAP_TYPE: u32 = 0x24;
    pub const BOOT_COUNT: u32 = 0x28;
    pub const IMAGE_BOOTS: u32 = 0x2C;
    pub const UPTIME_US: u32 = 0x30;
}

/// What a confirm request came to (the device's answer to [`Host::confirm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmReply {
    /// image_ok written.
    Written,
    /// Nothing to write.
    Unchanged,
    /// The trailer is corrupt (MCUboot's `BOOT_EBADVECT`).
    Failed,
    /// The power was cut during the write: the device is off, the CPU stops at once.
    PowerLost,
}

/// The device side of the control block: what the firmware's register accesses do.
pub trait Host {
    /// A console byte.
    fn console(&mut self, byte: u8);
    /// `boot_write_img_confirmed()` for the running image.
    fn confirm(&mut self) -> ConfirmReply;
    /// Whether the running image is confirmed now.
    fn image_ok(&mut self) -> bool;
}

/// What the bootloader tells the firmware about this boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootInfo {
    /// The swap this boot did (or resumed).
    pub swap_type: SwapType,
    /// Bootloader runs since the device was built.
    pub boot_count: u64,
    /// Boots of this image, this one included.
    pub image_boots: u32,
}

/// Everything one run needs: memory contents, where to start, the budget.
#[derive(Debug, Clone)]
pub struct Program {
    /// Flash device 0, mapped at [`FLASH_BASE`].
    pub flash: Vec<u8>,
    /// A RAM-load image: the payload and the RAM address it is copied to.
    pub ram_image: Option<(u32, Vec<u8>)>,
    /// Address of the vector table (the first payload byte at its execution address).
    pub vector_table: u32,
    pub boot: BootInfo,
    /// Most instructions to execute.
    pub budget: u64,
}

impl Program {
    /// Place the image that boots from `area` (whose header is `header`): XIP from flash
    /// device 0, or copied to `load_addr` with `RAM_LOAD`. `flash` is flash device 0.
    pub fn place(
        flash: &[u8],
        area: Area,
        header: &ImageHeader,
        boot: BootInfo,
        budget: u64,
    ) -> Result<Program, Fault> {
        let payload_off = u64::from(area.offset) + u64::from(header.hdr_size);
        if header.flags.contains(ImageFlags::RAM_LOAD) {
            let load = header.load_addr;
            let end = u64::from(load) + u64::from(header.img_size);
            if load < RAM_BASE || end > u64::from(RAM_BASE) + u64::from(RAM_SIZE) {
                return Err(Fault::Load(format!(
                    "RAM-load address {load:#010x} + {} bytes is outside the RAM at {RAM_BASE:#010x}..{:#010x}",
                    header.img_size,
                    u64::from(RAM_BASE) + u64::from(RAM_SIZE)
                )));
            }
            if area.device != 0 {
                return Err(Fault::Load(format!(
                    "RAM-load image on flash device {}: only device 0 is readable by the loader model",
                    area.device
                )));
            }
            let start = usize::try_from(payload_off).unwrap_or(usize::MAX);
            let Some(payload) = start.checked_add(header.img_size as usize).and_then(|e| flash.get(start..e))
            else {
                return Err(Fault::Load("the payload runs past the end of flash device 0".into()));
            };
            return Ok(Program {
                flash: flash.to_vec(),
                ram_image: Some((load, payload.to_vec())),
                vector_table: load,
                boot,
                budget,
            });
        }
        if area.device != 0 {
            return Err(Fault::Load(format!(
                "the image executes in place from flash device {}, which is not memory-mapped",
                area.device
            )));
        }
        let vector_table = u32::try_from(u64::from(FLASH_BASE) + payload_off)
            .map_err(|_| Fault::Load("the payload is past 4 GiB".into()))?;
        Ok(Program { flash: flash.to_vec(), ram_image: None, vector_table, boot, budget })
    }
}

/// Kinds of memory access, for fault messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Fetch,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Fetch => "instruction fetch",
        })
    }
}

/// Why the firmware faulted (the device then resets through the bootloader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Nothing is mapped at `addr`.
    Unmapped { access: Access, addr: u32, pc: u32 },
    /// The region at `addr` does not allow the access (a write to flash).
    Protected { access: Access, addr: u32, pc: u32 },
    /// A CPU exception (unicorn's `intno`: 1 undefined instruction, 2 svc, 7 bkpt, …).
    Exception { intno: u32, pc: u32 },
    /// An access to a control-block offset that is no register.
    ControlBlock { offset: u32, write: bool, pc: u32 },
    /// The vector table is unusable.
    BadVector(String),
    /// The image cannot be placed at its execution address.
    Load(String),
    /// The emulator stopped for another reason.
    Emulator(String),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Unmapped { access, addr, pc } => {
                write!(f, "{access} of unmapped memory at {addr:#010x} (pc {pc:#010x})")
            }
            Fault::Protected { access, addr, pc } => {
                write!(f, "{access} not allowed at {addr:#010x} (pc {pc:#010x})")
            }
            Fault::Exception { intno, pc } => {
                let what = match intno {
                    1 => "undefined instruction",
                    2 => "svc",
                    3 => "prefetch abort",
                    4 => "data abort",
                    7 => "bkpt with no debugger attached",
                    _ => "CPU exception",
                };
                write!(f, "{what} (exception {intno}) at pc {pc:#010x}")
            }
            Fault::ControlBlock { offset, write, pc } => {
                let rw = if *write { "write to" } else { "read of" };
                write!(f, "{rw} unknown control-block register {offset:#x} (pc {pc:#010x})")
            }
            Fault::BadVector(why) => write!(f, "bad vector table: {why}"),
            Fault::Load(why) => write!(f, "cannot load the image: {why}"),
            Fault::Emulator(why) => write!(f, "emulator stopped: {why}"),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The firmware wrote [`reg::READY`]: it serves SMP.
    Ready { executed: u64 },
    /// The firmware wrote [`reg::REBOOT`].
    Reboot { executed: u64 },
    /// A fault: the device resets through the bootloader.
    Fault { fault: Fault, executed: u64 },
    /// The watchdog expired after `at_instruction` instructions (its deadline).
    Watchdog { timeout_ms: u64, at_instruction: u64 },
    /// The budget ran out. `watchdog_at_instruction`: when the running watchdog would
    /// expire, if one runs.
    BudgetExhausted { executed: u64, watchdog_at_instruction: Option<u64> },
    /// The core halted in `wfi`/`wfe` after `executed` instructions; no interrupt is modelled,
    /// so it sleeps until the watchdog (if one runs) expires.
    Asleep { executed: u64, watchdog_at_instruction: Option<u64> },
    /// The power was cut during a confirm.
    PowerLost { executed: u64 },
}

/// Modelled milliseconds for `instructions`, rounded up.
pub fn instructions_to_ms(instructions: u64) -> u64 {
    instructions.div_ceil(INSTRUCTIONS_PER_MS)
}

/// Run `program` until it is ready, reboots, faults, hangs or runs out of budget.
#[cfg(feature = "firmware")]
pub fn run(program: &Program, host: &mut dyn Host) -> Exit {
    cpu::run(program, host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcuboot::image::ImageVersion;

    fn header(flags: ImageFlags, load_addr: u32) -> ImageHeader {
        ImageHeader {
            magic: mcuboot::image::IMAGE_MAGIC,
            load_addr,
            hdr_size: 0x200,
            protect_tlv_size: 0,
            img_size: 0x100,
            flags,
            version: ImageVersion::new(2, 0, 0),
        }
    }

    const BOOT: BootInfo = BootInfo { swap_type: SwapType::None, boot_count: 1, image_boots: 1 };

    #[test]
    fn xip_runs_after_the_header_in_the_slot() {
        let flash = vec![0xff; 0x80000];
        let area = Area { device: 0, offset: 0x20000, size: 0x20000 };
        let p = Program::place(&flash, area, &header(ImageFlags::default(), 0), BOOT, 10).unwrap();
        assert_eq!(p.vector_table, 0x20200);
        assert!(p.ram_image.is_none());
    }

    #[test]
    fn ram_load_copies_the_payload_to_load_addr() {
        let mut flash = vec![0xff; 0x80000];
        flash[0x20200] = 0xAB;
        let area = Area { device: 0, offset: 0x20000, size: 0x20000 };
        let p = Program::place(&flash, area, &header(ImageFlags::RAM_LOAD, 0x2000_1000), BOOT, 10).unwrap();
        assert_eq!(p.vector_table, 0x2000_1000);
        let (at, bytes) = p.ram_image.unwrap();
        assert_eq!((at, bytes.len(), bytes[0]), (0x2000_1000, 0x100, 0xAB));
    }

    #[test]
    fn ram_load_outside_ram_and_xip_from_external_flash_are_faults() {
        let flash = vec![0xff; 0x80000];
        let area = Area { device: 0, offset: 0x20000, size: 0x20000 };
        let e =
            Program::place(&flash, area, &header(ImageFlags::RAM_LOAD, 0x1000_0000), BOOT, 10).unwrap_err();
        assert!(e.to_string().contains("outside the RAM"), "{e}");
        let ext = Area { device: 1, offset: 0, size: 0x20000 };
        let e = Program::place(&flash, ext, &header(ImageFlags::default(), 0), BOOT, 10).unwrap_err();
        assert!(e.to_string().contains("not memory-mapped"), "{e}");
    }
}

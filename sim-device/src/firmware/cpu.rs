//! The Cortex-M4 under unicorn-engine: memory map, control block, watchdog and budget.
//!
//! One fresh CPU per boot (a reset clears the core and the RAM). The control block is an MMIO
//! region whose callbacks reach the device through [`Host`]; everything that ends a run
//! records a [`Stop`] and asks unicorn to stop. Unicorn finishes the current translation block
//! after a stop request, so once a stop is recorded the control block ignores the firmware
//! (a reset or power cut has already happened on the modelled device).

use unicorn_engine::unicorn_const::{Arch, MemType, Mode, Prot, uc_error};
use unicorn_engine::{ArmCpuModel, RegisterARM, Unicorn};

use super::{
    AIRCR_SYSRESETREQ, Access, CONFIRM_ERROR, CONFIRM_UNCHANGED, CONFIRM_WRITTEN, CONTROL_BASE, CONTROL_SIZE,
    CPUID_CORTEX_M4, ConfirmReply, Exit, FLASH_BASE, Fault, Host, ID_VALUE, INSTRUCTIONS_PER_MS, Program,
    RAM_BASE, RAM_SIZE, SCB_AIRCR, SCB_CPUID, SCS_BASE, reg,
};

/// Why the run is ending (the first one recorded wins).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Ready,
    Reboot,
    Fault(Fault),
    Watchdog { timeout_ms: u64, at: u64 },
    PowerLost,
}

/// A started watchdog.
#[derive(Debug, Clone, Copy)]
struct Watchdog {
    timeout_ms: u64,
    /// Instruction count at which it expires.
    deadline: u64,
}

/// The CPU's view of the device, kept as unicorn's user data.
struct Ctx<'h> {
    host: &'h mut dyn Host,
    program: &'h Program,
    /// Instructions started so far.
    executed: u64,
    watchdog: Option<Watchdog>,
    confirm_result: u32,
    stop: Option<Stop>,
    /// The last invalid access unicorn reported (for the fault message).
    bad_access: Option<(Access, u32, bool)>,
}

impl Ctx<'_> {
    fn stop(&mut self, why: Stop) {
        if self.stop.is_none() {
            self.stop = Some(why);
        }
    }
}

/// The CPU: unicorn with the context as its data.
type Cpu<'u, 'h> = Unicorn<'u, Ctx<'h>>;

fn pc(uc: &Cpu<'_, '_>) -> u32 {
    uc.reg_read(RegisterARM::PC).map_or(0, |v| v as u32)
}

fn emu(e: uc_error) -> Fault {
    Fault::Emulator(format!("{e:?}"))
}

/// Run `program`. See the [module documentation](super).
pub fn run<'h>(program: &'h Program, host: &'h mut dyn Host) -> Exit {
    let ctx =
        Ctx { host, program, executed: 0, watchdog: None, confirm_result: 0, stop: None, bad_access: None };
    let mut uc = match setup(program, ctx) {
        Ok(uc) => uc,
        Err(fault) => return Exit::Fault { fault, executed: 0 },
    };
    let (sp, reset) = match vectors(&uc, program.vector_table) {
        Ok(v) => v,
        Err(fault) => return Exit::Fault { fault, executed: 0 },
    };
    let started = uc.reg_write(RegisterARM::SP, u64::from(sp)).and_then(|()| {
        let budget = usize::try_from(program.budget).unwrap_or(usize::MAX);
        uc.emu_start(u64::from(reset), 0, 0, budget)
    });
    let pc_now = pc(&uc);
    let ctx = uc.get_data_mut();
    let executed = ctx.executed;
    match (ctx.stop.take(), started) {
        (Some(Stop::Ready), _) => Exit::Ready { executed },
        (Some(Stop::Reboot), _) => Exit::Reboot { executed },
        (Some(Stop::Fault(fault)), _) => Exit::Fault { fault, executed },
        (Some(Stop::Watchdog { timeout_ms, at }), _) => Exit::Watchdog { timeout_ms, at_instruction: at },
        (Some(Stop::PowerLost), _) => Exit::PowerLost { executed },
        (None, Err(e)) => {
            let fault = match (ctx.bad_access.take(), e) {
                (Some((access, addr, true)), _) => Fault::Protected { access, addr, pc: pc_now },
                (Some((access, addr, false)), _) => Fault::Unmapped { access, addr, pc: pc_now },
                (None, uc_error::INSN_INVALID) => Fault::Exception { intno: 1, pc: pc_now },
                (None, e) => emu(e),
            };
            Exit::Fault { fault, executed }
        }
        (None, Ok(())) if executed >= program.budget => {
            Exit::BudgetExhausted { executed, watchdog_at_instruction: ctx.watchdog.map(|w| w.deadline) }
        }
        // emu_start returned by itself with budget left: the core halted in `wfi`/`wfe`, and
        // no interrupt is modelled to wake it.
        (None, Ok(())) => {
            Exit::Asleep { executed, watchdog_at_instruction: ctx.watchdog.map(|w| w.deadline) }
        }
    }
}

/// Make the CPU and its memory map.
fn setup<'h>(program: &'h Program, ctx: Ctx<'h>) -> Result<Cpu<'h, 'h>, Fault> {
    let mut uc = Unicorn::new_with_data(Arch::ARM, Mode::THUMB | Mode::MCLASS, ctx).map_err(emu)?;
    uc.ctl_set_cpu_model(ArmCpuModel::CORTEX_M4 as i32).map_err(emu)?;

    let flash_len = (program.flash.len() as u64).next_multiple_of(0x1000);
    if flash_len > 0 {
        uc.mem_map(u64::from(FLASH_BASE), flash_len, Prot::READ | Prot::EXEC).map_err(emu)?;
        uc.mem_write(u64::from(FLASH_BASE), &program.flash).map_err(emu)?;
    }
    uc.mem_map(u64::from(RAM_BASE), u64::from(RAM_SIZE), Prot::ALL).map_err(emu)?;
    if let Some((at, bytes)) = &program.ram_image {
        uc.mem_write(u64::from(*at), bytes).map_err(emu)?;
    }
    uc.mmio_map(
        u64::from(CONTROL_BASE),
        u64::from(CONTROL_SIZE),
        Some(|uc: &mut Cpu<'_, 'h>, offset: u64, _size: usize| control_read(uc, offset as u32)),
        Some(|uc: &mut Cpu<'_, 'h>, offset: u64, _size: usize, value: u64| {
            control_write(uc, offset as u32, value as u32)
        }),
    )
    .map_err(emu)?;
    // Just enough of the System Control Space for a software reset.
    uc.mmio_map(
        u64::from(SCS_BASE),
        0x1000,
        Some(
            |_: &mut Cpu<'_, 'h>, offset: u64, _size: usize| {
                if offset == u64::from(SCB_CPUID) { u64::from(CPUID_CORTEX_M4) } else { 0 }
            },
        ),
        Some(|uc: &mut Cpu<'_, 'h>, offset: u64, _size: usize, value: u64| {
            // VECTKEY must be right, or the write is ignored (as on the part).
            if offset == u64::from(SCB_AIRCR) && (value as u32) & 0xFFFF_0004 == AIRCR_SYSRESETREQ {
                uc.get_data_mut().stop(Stop::Reboot);
                let _ = uc.emu_stop();
            }
        }),
    )
    .map_err(emu)?;

    // Count instructions; the watchdog expires between two of them.
    uc.add_code_hook(1, 0, |uc: &mut Cpu<'_, 'h>, _addr: u64, _size: u32| {
        let ctx = uc.get_data_mut();
        if ctx.stop.is_none()
            && let Some(w) = ctx.watchdog
            && ctx.executed >= w.deadline
        {
            ctx.stop(Stop::Watchdog { timeout_ms: w.timeout_ms, at: w.deadline });
        }
        ctx.executed += 1;
        if ctx.stop.is_some() {
            let _ = uc.emu_stop();
        }
    })
    .map_err(emu)?;
    // Exceptions (undefined instruction, svc, bkpt, …) are faults.
    uc.add_intr_hook(|uc: &mut Cpu<'_, 'h>, intno: u32| {
        let pc = pc(uc);
        uc.get_data_mut().stop(Stop::Fault(Fault::Exception { intno, pc }));
        let _ = uc.emu_stop();
    })
    .map_err(emu)?;
    // Remember what the invalid access was; returning false lets unicorn stop with an error.
    uc.add_mem_hook(
        unicorn_engine::unicorn_const::HookType::MEM_INVALID,
        1,
        0,
        |uc: &mut Cpu<'_, 'h>, kind: MemType, addr: u64, _size: usize, _value: i64| {
            let access = match kind {
                MemType::READ_UNMAPPED | MemType::READ_PROT => (Access::Read, false),
                MemType::WRITE_UNMAPPED | MemType::WRITE_PROT => (Access::Write, false),
                _ => (Access::Fetch, false),
            };
            let protected = matches!(kind, MemType::READ_PROT | MemType::WRITE_PROT | MemType::FETCH_PROT);
            uc.get_data_mut().bad_access = Some((access.0, addr as u32, protected));
            false
        },
    )
    .map_err(emu)?;
    Ok(uc)
}

/// Initial SP and reset vector from the vector table.
fn vectors(uc: &Cpu<'_, '_>, at: u32) -> Result<(u32, u32), Fault> {
    let mut words = [0u8; 8];
    uc.mem_read(u64::from(at), &mut words)
        .map_err(|_| Fault::BadVector(format!("the vector table at {at:#010x} is not in mapped memory")))?;
    let sp = u32::from_le_bytes([words[0], words[1], words[2], words[3]]);
    let reset = u32::from_le_bytes([words[4], words[5], words[6], words[7]]);
    if reset & 1 == 0 {
        return Err(Fault::BadVector(format!(
            "reset vector {reset:#010x} at {:#010x} has no Thumb bit (a Cortex-M takes an INVSTATE fault)",
            at + 4
        )));
    }
    Ok((sp, reset))
}

fn control_read<'h>(uc: &mut Cpu<'_, 'h>, offset: u32) -> u64 {
    let pc = pc(uc);
    let ctx = uc.get_data_mut();
    if ctx.stop.is_some() {
        return 0;
    }
    let boot = ctx.program.boot;
    let value = match offset {
        reg::ID => ID_VALUE,
        reg::CONFIRM_RESULT => ctx.confirm_result,
        reg::IMAGE_OK => u32::from(ctx.host.image_ok()),
        reg::SWAP_TYPE => u32::from(boot.swap_type.code()),
        reg::BOOT_COUNT => boot.boot_count as u32,
        reg::IMAGE_BOOTS => boot.image_boots,
        reg::UPTIME_US => (ctx.executed * 1000 / INSTRUCTIONS_PER_MS) as u32,
        // Write-only registers read as zero.
        reg::CONSOLE | reg::CONFIRM | reg::REBOOT | reg::READY | reg::WDT_START | reg::WDT_FEED => 0,
        _ => {
            ctx.stop(Stop::Fault(Fault::ControlBlock { offset, write: false, pc }));
            let _ = uc.emu_stop();
            return 0;
        }
    };
    u64::from(value)
}

fn control_write<'h>(uc: &mut Cpu<'_, 'h>, offset: u32, value: u32) {
    let pc = pc(uc);
    let ctx = uc.get_data_mut();
    if ctx.stop.is_some() {
        return;
    }
    match offset {
        reg::CONSOLE => ctx.host.console(value as u8),
        reg::CONFIRM => {
            ctx.confirm_result = match ctx.host.confirm() {
                ConfirmReply::Written => CONFIRM_WRITTEN,
                ConfirmReply::Unchanged => CONFIRM_UNCHANGED,
                ConfirmReply::Failed => CONFIRM_ERROR,
                ConfirmReply::PowerLost => {
                    ctx.stop(Stop::PowerLost);
                    CONFIRM_ERROR
                }
            }
        }
        reg::REBOOT => ctx.stop(Stop::Reboot),
        reg::READY => ctx.stop(Stop::Ready),
        reg::WDT_START => {
            if ctx.watchdog.is_none() && value != 0 {
                let timeout_ms = u64::from(value);
                let deadline = ctx.executed.saturating_add(timeout_ms.saturating_mul(INSTRUCTIONS_PER_MS));
                ctx.watchdog = Some(Watchdog { timeout_ms, deadline });
            }
        }
        reg::WDT_FEED => {
            let now = ctx.executed;
            if let Some(w) = &mut ctx.watchdog {
                w.deadline = now.saturating_add(w.timeout_ms.saturating_mul(INSTRUCTIONS_PER_MS));
            }
        }
        // Writes to read-only registers are ignored.
        reg::ID
        | reg::CONFIRM_RESULT
        | reg::IMAGE_OK
        | reg::SWAP_TYPE
        | reg::BOOT_COUNT
        | reg::IMAGE_BOOTS
        | reg::UPTIME_US => {}
        _ => ctx.stop(Stop::Fault(Fault::ControlBlock { offset, write: true, pc })),
    }
    if ctx.stop.is_some() {
        let _ = uc.emu_stop();
    }
}

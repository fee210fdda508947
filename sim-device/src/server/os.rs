//! OS management group (0), as Zephyr's `os_mgmt` answers (reference `smp-protocol.md` §4).
//!
//! | id | command | here |
//! |---|---|---|
//! | 0 | echo (R and W) | `{"r": d}` |
//! | 1 | console echo control | not registered: `{"rc": 8}`, as Zephyr |
//! | 2 | task stats | a fixed `smp_svr`-like thread table |
//! | 3 | mpstat | one heap, `{"mpools": {...}}` |
//! | 4 | date-time get/set | an RTC model; unset → OS error 4 |
//! | 5 | reset | reply first, reboot through the bootloader `reset_delay_ms` later; hook veto |
//! | 6 | params | `buf_size`, `buf_count` from the limits |
//! | 7 | info | [`InfoFields::output`] + hook text; > 256 bytes → `{"rc": 7}` |
//! | 8 | bootloader info | `MCUboot`; `mode` query with the algorithm's number |

use mcuboot::boot::{Algorithm, DowngradePrevention};
use smp::cbor::Value;
use smp::error::{MgmtErr, OsErr};
use smp::groups::Body;
use smp::groups::os::{
    BootloaderInfoRequest, BootloaderInfoResponse, DateTime, DateTimeGetResponse, DateTimeSetRequest,
    EchoRequest, EchoResponse, InfoRequest, InfoResponse, MemPool, MpStatResponse, MpStatShape,
    ParamsResponse, ResetRequest, TaskStat, TaskStatsResponse,
};
use smp::header::Group;

use super::hooks::{InfoEvent, ResetEvent};
use super::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, ServerConfig};
use crate::device::{EventKind, ResetCause, Rtc};

/// `OS_INFO_MAX_RESPONSE_SIZE`.
pub const INFO_MAX_RESPONSE: usize = 256;

/// The OS group's handler table.
pub fn group(config: &ServerConfig) -> GroupDef {
    let mut commands = vec![
        CommandDef { id: 0, name: "echo", read: Some(echo), write: Some(echo) },
        CommandDef { id: 2, name: "taskstat", read: Some(task_stats), write: None },
        CommandDef { id: 3, name: "mpstat", read: Some(mpstat), write: None },
    ];
    if config.rtc {
        commands.push(CommandDef {
            id: 4,
            name: "datetime",
            read: Some(datetime_get),
            write: Some(datetime_set),
        });
    }
    commands.extend([
        CommandDef { id: 5, name: "reset", read: None, write: Some(reset) },
        CommandDef { id: 6, name: "mcumgr_params", read: Some(params), write: None },
        CommandDef { id: 7, name: "info", read: Some(info), write: None },
        CommandDef { id: 8, name: "bootloader_info", read: Some(bootloader_info), write: None },
    ]);
    GroupDef { group: Group::Os, name: Some("os mgmt"), commands }
}

fn os_err(e: OsErr) -> HandlerError {
    HandlerError::group(e.code())
}

/// Echo: `{"d": s}` → `{"r": s}` (absent `d` echoes "").
pub fn echo(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: EchoRequest = ctx.decode()?;
    Ok(EchoResponse { r: req.d.unwrap_or_default() }.to_value())
}

/// The threads of a Zephyr `smp_svr` build: (name, priority, state, stack size, stack use),
/// stack figures in 4-byte words as Zephyr reports them.
const THREADS: &[(&str, i64, u64, u64, u64)] = &[
    ("idle", 15, 0, 80, 18),
    ("logging", 14, 0, 192, 84),
    ("main", 0, 0, 512, 226),
    ("shell_uart", 14, 0, 512, 174),
    ("sysworkq", -1, 0, 512, 100),
    ("mcumgr smp", 14, 0, 1024, 388),
];

/// Task statistics (thread table).
pub fn task_stats(_ctx: &mut Ctx<'_>) -> HandlerResult {
    let tasks = THREADS
        .iter()
        .enumerate()
        .map(|(tid, &(name, prio, state, stksiz, stkuse))| {
            let stat = TaskStat {
                prio,
                tid: tid as u64,
                state,
                stksiz: Some(stksiz),
                stkuse: Some(stkuse),
                runtime: None,
                cswcnt: None,
                last_checkin: None,
                next_checkin: None,
            };
            (name.to_string(), stat)
        })
        .collect();
    Ok(TaskStatsResponse { tasks }.to_value())
}

/// Memory pool statistics: one system heap, `{"mpools": {"0": {...}}}`.
pub fn mpstat(ctx: &mut Ctx<'_>) -> HandlerResult {
    // A heap whose use follows the upload buffer, so the numbers move plausibly.
    let in_use = if ctx.dev.server.upload.is_some() { 1536 } else { 512 };
    let pool = MemPool { blksiz: Some(1), nblks: 8192, nfree: 8192 - in_use, min: 8192 - 2048 };
    Ok(MpStatResponse { shape: MpStatShape::Mpools, pools: vec![("0".into(), pool)] }.to_value())
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number from [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A date-time as milliseconds since the epoch (day overflow, e.g. Feb 31, rolls on as an
/// RTC's `mktime` would).
pub fn datetime_to_epoch_ms(t: &DateTime) -> i64 {
    let days = days_from_civil(i64::from(t.year), i64::from(t.month), i64::from(t.day));
    let secs = days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    secs * 1000 + i64::from(t.millis.unwrap_or(0))
}

/// Milliseconds since the epoch as a date-time (`with_ms`: keep the milliseconds).
pub fn epoch_ms_to_datetime(ms: i64, with_ms: bool) -> DateTime {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    DateTime {
        year: year.clamp(0, i64::from(u16::MAX)) as u16,
        month: month as u8,
        day: day as u8,
        hour: (sod / 3600) as u8,
        minute: (sod / 60 % 60) as u8,
        second: (sod % 60) as u8,
        millis: with_ms.then_some(ms.rem_euclid(1000) as u16),
    }
}

/// Date-time get: the RTC, or OS error RTC_NOT_SET.
pub fn datetime_get(ctx: &mut Ctx<'_>) -> HandlerResult {
    let Some(rtc) = ctx.dev.rtc else { return Err(os_err(OsErr::RtcNotSet)) };
    let elapsed = ctx.dev.now_ms().saturating_sub(rtc.set_at_ms);
    let now = rtc.epoch_ms.saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX));
    let t = epoch_ms_to_datetime(now, ctx.dev.server_config.datetime_ms);
    Ok(DateTimeGetResponse { datetime: t.to_zephyr_string() }.to_value())
}

/// Date-time set: Zephyr's string rules; a bad string is `{"rc": 3}`.
pub fn datetime_set(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: DateTimeSetRequest = ctx.decode()?;
    let t = DateTime::parse_zephyr(&req.datetime, ctx.dev.server_config.datetime_ms)
        .map_err(|_| super::EINVAL)?;
    let set_at_ms = ctx.dev.now_ms();
    ctx.dev.rtc = Some(Rtc { epoch_ms: datetime_to_epoch_ms(&t), set_at_ms });
    Ok(Value::empty_map())
}

/// Reset: the hook may veto; otherwise reply `{}` and reboot `reset_delay_ms` later.
pub fn reset(ctx: &mut Ctx<'_>) -> HandlerResult {
    // Decode failures are ignored, as Zephyr does; an integer `force` fails the decode.
    let (force, boot_mode) = ResetRequest::from_value(&ctx.body_value().unwrap_or(Value::empty_map()))
        .map(|r| r.zephyr_view())
        .unwrap_or((false, None));
    let boot_mode = if ctx.dev.server_config.reset_boot_mode { boot_mode } else { None };
    let event = ResetEvent { force, boot_mode };
    if let Some(hook) = ctx.dev.hooks.reset.as_mut() {
        let verdict = hook(event);
        if let Some(refusal) = HandlerError::from_verdict(&verdict) {
            ctx.dev.log(EventKind::Hook(format!("reset refused: {verdict:?} (force {force})")));
            return Err(refusal);
        }
    }
    if let Some(mode) = boot_mode.filter(|m| *m != 0) {
        ctx.note(format!(
            "reset with boot_mode {mode}: MCUboot serial recovery is not modelled; booting normally"
        ));
    }
    ctx.dev.schedule_reset(ResetCause::Command);
    Ok(Value::empty_map())
}

/// MCUmgr parameters.
pub fn params(ctx: &mut Ctx<'_>) -> HandlerResult {
    let l = ctx.dev.server_config.limits;
    Ok(ParamsResponse { buf_size: l.buf_size, buf_count: l.buf_count }.to_value())
}

/// OS/application info.
pub fn info(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: InfoRequest = ctx.decode()?;
    let format = req.format.as_deref();
    let mut output = ctx.dev.server_config.info.output(format).map_err(os_err)?;
    if let Some(hook) = ctx.dev.hooks.os_info.as_mut()
        && let Some(extra) = hook(&InfoEvent { format, output: &output })
    {
        if !output.is_empty() {
            output.push(' ');
        }
        output.push_str(&extra);
    }
    if output.len() > INFO_MAX_RESPONSE {
        return Err(HandlerError::rc(MgmtErr::EMsgSize));
    }
    Ok(InfoResponse { output }.to_value())
}

/// The MCUboot mode number of an algorithm (`bootloader info` query `mode`).
pub fn mcuboot_mode(algorithm: Algorithm) -> i64 {
    match algorithm {
        Algorithm::SwapScratch => 1,
        Algorithm::OverwriteOnly => 2,
        Algorithm::SwapMove => 3,
        Algorithm::SwapOffset => 9,
    }
}

/// Bootloader info.
pub fn bootloader_info(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: BootloaderInfoRequest = ctx.decode()?;
    let reply = match req.query.as_deref() {
        None => {
            BootloaderInfoResponse { bootloader: Some("MCUboot".into()), mode: None, no_downgrade: false }
        }
        Some("mode") => BootloaderInfoResponse {
            bootloader: None,
            mode: Some(mcuboot_mode(ctx.dev.boot_config.algorithm)),
            no_downgrade: ctx.dev.boot_config.downgrade_prevention != DowngradePrevention::Off,
        },
        Some(_) => return Err(os_err(OsErr::QueryYieldsNoAnswer)),
    };
    Ok(reply.to_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2024, 12, 31), (1900, 3, 1), (11899, 12, 31)] {
            let days = days_from_civil(y, m, d);
            assert_eq!(civil_from_days(days), (y, m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
    }

    #[test]
    fn datetime_epoch_round_trip() {
        let t = DateTime::parse_zephyr("2024-02-29T23:59:58", false).unwrap();
        let ms = datetime_to_epoch_ms(&t);
        assert_eq!(epoch_ms_to_datetime(ms + 2000, false).to_zephyr_string(), "2024-03-01T00:00:00");
    }
}

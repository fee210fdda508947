//! Settings group (3), as Zephyr's `settings_mgmt` answers (reference `smp-protocol.md` §8),
//! over a settings subsystem kept in the device's storage partition.
//!
//! | id | op | command | Zephyr call | here |
//! |---|---|---|---|---|
//! | 0 | R | read | `settings_runtime_get` | the value in RAM (cut to `max_size`) |
//! | 0 | W | write | `settings_runtime_set` | sets the value in RAM only |
//! | 1 | W | delete | `settings_delete` | writes a delete record to storage (RAM keeps the value) |
//! | 2 | W | commit | `settings_commit` | nothing visible |
//! | 3 | R | load | `settings_load` | storage → RAM (stored keys overwrite RAM) |
//! | 3 | W | save | `settings_save` | RAM → storage, values that differ only |
//!
//! That is Zephyr's split between the runtime tree (the application's handlers) and the
//! persistent backend: a written value survives a reboot only after `save`; a deleted one
//! stays readable until the next boot. At boot the application runs `settings_load`, so RAM
//! starts as what storage holds.
//!
//! Errors: empty name or a bad body → `{"rc": 3}`; a name of `name_len` bytes or more →
//! KEY_TOO_LONG (2); a name whose root (the part before the first `/`) is not registered
//! ([`SettingsOptions::roots`], empty = every root) → ROOT_KEY_NOT_FOUND (5); an unknown key →
//! KEY_NOT_FOUND (3). The `settings_access` hook sees every command and may deny it (as a
//! generic or group error) or rename the setting.
//!
//! # Storage format
//!
//! The partition is split into two banks (halves, by sectors). A bank starts with a header
//! (`"BOST"`, generation, CRC-32) written *last*, after the bank's records, so a bank counts
//! only once it is complete; the valid bank with the highest generation is the active one.
//! Records are appended to the active bank, each in one flash write, each aligned to the
//! write size:
//!
//! ```text
//!   name_len u8 | kind u8 (0 set, 1 delete) | val_len u16 LE | crc32 u32 LE | name | value | pad
//! ```
//!
//! The CRC covers the first four bytes, the name and the value. Loading stops at the first
//! record that is erased (end of log) or fails its CRC (a write torn by a power cut): what
//! was before it stands. The next save then compacts: it erases the other bank, writes every
//! live setting there and finally its header with the next generation. A power cut anywhere
//! in that sequence leaves the old bank active, so a setting reads as either its old or its
//! new value, never garbage. Without a storage partition (a board whose flash has no room
//! for one), `save` keeps the values in the device's storage state instead: they survive
//! reboots and power cycles but are not in the flash file and no power cut can tear them.

use std::collections::BTreeMap;

use mcuboot::flash::Flash;
use mcuboot::layout::Area;
use smp::cbor::Value;
use smp::error::SettingsErr;
use smp::groups::Body;
use smp::groups::settings::{
    SettingsDeleteRequest, SettingsReadRequest, SettingsReadResponse, SettingsWriteRequest,
};
use smp::header::Group;

use super::hooks::{AccessVerdict, SettingsAccess, SettingsAccessKind};
use super::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, ServerConfig};
use crate::device::{Device, EventKind};

/// Settings group options (Kconfig).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsOptions {
    /// `CONFIG_MCUMGR_GRP_SETTINGS_NAME_LEN` (32): names of this many bytes or more are
    /// refused with KEY_TOO_LONG.
    pub name_len: usize,
    /// `CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN` (32): the most a read returns; a larger
    /// `max_size` is cut to this and the reply says so with `"max_size"`.
    pub value_len: u32,
    /// Registered settings roots (`settings_register` handlers); empty: every root.
    pub roots: Vec<String>,
}

impl Default for SettingsOptions {
    fn default() -> SettingsOptions {
        SettingsOptions { name_len: 32, value_len: 32, roots: Vec::new() }
    }
}

/// The settings group's handler table.
pub fn group(_config: &ServerConfig) -> GroupDef {
    GroupDef {
        group: Group::Settings,
        name: Some("settings mgmt"),
        commands: vec![
            CommandDef { id: 0, name: "read/write", read: Some(read), write: Some(write) },
            CommandDef { id: 1, name: "delete", read: None, write: Some(delete) },
            CommandDef { id: 2, name: "commit", read: None, write: Some(commit) },
            CommandDef { id: 3, name: "load/save", read: Some(load), write: Some(save) },
        ],
    }
}

/// The runtime settings tree (RAM, cleared at boot) and where the storage log stands.
#[derive(Debug, Default)]
pub struct SettingsRam {
    /// `settings_load` ran since boot.
    pub loaded: bool,
    /// Runtime values.
    pub values: BTreeMap<String, Vec<u8>>,
    /// The storage log as last read or written.
    log: LogState,
}

/// RAM-only settings storage for boards without a storage partition (survives reboots like
/// the device's other storage state, not kept in the flash file).
#[derive(Debug, Default)]
struct NoPartitionStore(BTreeMap<String, Vec<u8>>);

/// Where the storage log stands.
#[derive(Debug, Default, Clone)]
struct LogState {
    /// Active bank and its generation.
    active: Option<(usize, u32)>,
    /// Next record offset in the active bank.
    tail: u32,
    /// A torn or corrupt record sits at `tail`: the next write must compact.
    dirty: bool,
    /// What storage holds.
    stored: BTreeMap<String, Vec<u8>>,
}

/// Why storage could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("settings storage: {0}")]
    Flash(#[from] mcuboot::flash::FlashError),
    #[error("settings storage: {need} bytes of live settings do not fit a {bank}-byte bank")]
    Full { need: u32, bank: u32 },
    #[error("settings storage: name {0:?} is longer than 254 bytes")]
    NameTooLong(String),
    #[error("settings storage: the partition has fewer than two sectors")]
    TooSmall,
}

const BANK_MAGIC: &[u8; 4] = b"BOST";
const RECORD_HEAD: usize = 8;
const KIND_SET: u8 = 0;
const KIND_DELETE: u8 = 1;

fn crc32(parts: &[&[u8]]) -> u32 {
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    let mut d = crc.digest();
    for p in parts {
        d.update(p);
    }
    d.finalize()
}

/// The two banks of a partition: (offset, size) each, on the partition's device.
fn banks(dev: &Device, area: Area) -> Option<[(u32, u32); 2]> {
    let sectors = dev.map().area_sectors(area);
    let half = sectors.len() / 2;
    if half == 0 {
        return None;
    }
    let size = |s: &[mcuboot::flash::Sector]| s.iter().map(|x| x.size).sum::<u32>();
    let (a, b) = (&sectors[..half], &sectors[half..half * 2]);
    let bank_size = size(a).min(size(b));
    Some([(area.offset + a[0].offset, bank_size), (area.offset + b[0].offset, bank_size)])
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to.max(1)) * to.max(1)
}

/// A bank header, padded to the write size.
fn bank_header(generation: u32, write_size: usize, erased: u8) -> Vec<u8> {
    let mut h = BANK_MAGIC.to_vec();
    h.extend_from_slice(&generation.to_le_bytes());
    let crc = crc32(&[&h]);
    h.extend_from_slice(&crc.to_le_bytes());
    h.resize(round_up(h.len(), write_size), erased);
    h
}

/// A record, padded to the write size.
fn record(name: &str, value: Option<&[u8]>, write_size: usize, erased: u8) -> Result<Vec<u8>, StoreError> {
    let name_len = u8::try_from(name.len())
        .ok()
        .filter(|n| (1..=254).contains(n))
        .ok_or_else(|| StoreError::NameTooLong(name.into()))?;
    let (kind, val) = match value {
        Some(v) => (KIND_SET, v),
        None => (KIND_DELETE, &[][..]),
    };
    let val_len =
        u16::try_from(val.len()).map_err(|_| StoreError::Full { need: val.len() as u32, bank: 0 })?;
    let mut head = vec![name_len, kind];
    head.extend_from_slice(&val_len.to_le_bytes());
    let crc = crc32(&[&head, name.as_bytes(), val]);
    let mut r = head;
    r.extend_from_slice(&crc.to_le_bytes());
    r.extend_from_slice(name.as_bytes());
    r.extend_from_slice(val);
    r.resize(round_up(r.len(), write_size), erased);
    Ok(r)
}

/// Read the storage log from flash.
fn read_log(dev: &Device, area: Area) -> LogState {
    let Some(banks) = banks(dev, area) else { return LogState::default() };
    let Some(bytes) = dev.flash().contents(area.device) else { return LogState::default() };
    let geometry = &dev.map().devices[area.device as usize];
    let (ws, erased) = (geometry.write_size as usize, geometry.erased_value);
    let header_len = round_up(12, ws);
    let mut active: Option<(usize, u32)> = None;
    for (i, (off, _)) in banks.iter().enumerate() {
        let h = &bytes[*off as usize..*off as usize + 12];
        let generation = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let crc = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if &h[..4] == BANK_MAGIC && crc == crc32(&[&h[..8]]) && active.is_none_or(|(_, g)| generation > g) {
            active = Some((i, generation));
        }
    }
    let Some((bank, generation)) = active else { return LogState::default() };
    let (off, size) = banks[bank];
    let data = &bytes[off as usize..(off + size) as usize];
    let mut state =
        LogState { active: Some((bank, generation)), tail: header_len as u32, ..LogState::default() };
    let mut p = header_len;
    while p + RECORD_HEAD <= data.len() {
        let head = &data[p..p + RECORD_HEAD];
        if head.iter().all(|b| *b == erased) {
            break;
        }
        let (name_len, kind) = (head[0] as usize, head[1]);
        let val_len = u16::from_le_bytes([head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let end = p + RECORD_HEAD + name_len + val_len;
        let ok = name_len > 0
            && kind <= KIND_DELETE
            && end <= data.len()
            && crc == crc32(&[&head[..4], &data[p + RECORD_HEAD..end]]);
        let name = std::str::from_utf8(&data[p + RECORD_HEAD..(p + RECORD_HEAD + name_len).min(data.len())]);
        let (true, Ok(name)) = (ok, name) else {
            state.dirty = true;
            break;
        };
        if kind == KIND_SET {
            state.stored.insert(name.to_owned(), data[p + RECORD_HEAD + name_len..end].to_vec());
        } else {
            state.stored.remove(name);
        }
        p = round_up(end, ws);
        state.tail = p as u32;
    }
    state
}

/// Write changes to storage: appended to the active bank, or compacted into the other one.
/// A power cut is returned as [`HandlerError::PowerLost`] through the outer result.
fn write_changes(
    ctx: &mut Ctx<'_>,
    area: Area,
    changes: &[(String, Option<Vec<u8>>)],
) -> Result<Result<(), StoreError>, HandlerError> {
    if changes.is_empty() {
        return Ok(Ok(()));
    }
    let Some(banks) = banks(ctx.dev, area) else { return Ok(Err(StoreError::TooSmall)) };
    let geometry = &ctx.dev.map().devices[area.device as usize];
    let (ws, erased) = (geometry.write_size as usize, geometry.erased_value);
    let mut log = std::mem::take(&mut ctx.dev.ram_state::<SettingsRam>().log);
    let result = write_changes_inner(ctx, area.device, banks, ws, erased, &mut log, changes);
    ctx.dev.ram_state::<SettingsRam>().log = log;
    result
}

fn write_changes_inner(
    ctx: &mut Ctx<'_>,
    device: mcuboot::flash::DeviceId,
    banks: [(u32, u32); 2],
    ws: usize,
    erased: u8,
    log: &mut LogState,
    changes: &[(String, Option<Vec<u8>>)],
) -> Result<Result<(), StoreError>, HandlerError> {
    let mut records = Vec::new();
    for (name, value) in changes {
        match record(name, value.as_deref(), ws, erased) {
            Ok(r) => records.push(r),
            Err(e) => return Ok(Err(e)),
        }
    }
    let need: usize = records.iter().map(Vec::len).sum();
    if let (Some((bank, _)), false) = (log.active, log.dirty)
        && log.tail as usize + need <= banks[bank].1 as usize
    {
        for (r, (name, value)) in records.iter().zip(changes) {
            let at = banks[bank].0 + log.tail;
            if let Err(e) = ctx.flash_op(|f| f.write(device, at, r))? {
                log.dirty = true;
                return Ok(Err(e.into()));
            }
            log.tail += r.len() as u32;
            match value {
                Some(v) => log.stored.insert(name.clone(), v.clone()),
                None => log.stored.remove(name),
            };
        }
        return Ok(Ok(()));
    }
    // Compact into the other bank: live settings, then the header.
    let mut live = log.stored.clone();
    for (name, value) in changes {
        match value {
            Some(v) => live.insert(name.clone(), v.clone()),
            None => live.remove(name),
        };
    }
    let (target, generation) = match log.active {
        Some((bank, g)) => (1 - bank, g.wrapping_add(1)),
        None => (0, 1),
    };
    let (off, size) = banks[target];
    let header = bank_header(generation, ws, erased);
    let mut body = Vec::new();
    for (name, value) in &live {
        match record(name, Some(value), ws, erased) {
            Ok(r) => body.push(r),
            Err(e) => return Ok(Err(e)),
        }
    }
    let total = header.len() + body.iter().map(Vec::len).sum::<usize>();
    if total > size as usize {
        return Ok(Err(StoreError::Full { need: total as u32, bank: size }));
    }
    if let Err(e) = ctx.flash_op(|f| f.erase(device, off, size))? {
        return Ok(Err(e.into()));
    }
    let mut at = off + header.len() as u32;
    for r in &body {
        if let Err(e) = ctx.flash_op(|f| f.write(device, at, r))? {
            return Ok(Err(e.into()));
        }
        at += r.len() as u32;
    }
    if let Err(e) = ctx.flash_op(|f| f.write(device, off, &header))? {
        return Ok(Err(e.into()));
    }
    *log = LogState { active: Some((target, generation)), tail: at - off, dirty: false, stored: live };
    Ok(Ok(()))
}

/// What storage holds now (read from flash, or the RAM-only store without a partition).
pub fn stored(dev: &mut Device) -> BTreeMap<String, Vec<u8>> {
    match dev.storage_partition() {
        Some(area) => read_log(dev, area).stored,
        None => dev.storage_state::<NoPartitionStore>().0.clone(),
    }
}

/// `settings_load` at boot: if it has not run since boot, read storage into RAM.
pub fn ensure_loaded(dev: &mut Device) {
    if !dev.ram_state::<SettingsRam>().loaded {
        load_into_ram(dev);
    }
}

/// `settings_load`: every stored key is set in RAM (keys only in RAM stay).
fn load_into_ram(dev: &mut Device) {
    let log = match dev.storage_partition() {
        Some(area) => read_log(dev, area),
        None => LogState { stored: dev.storage_state::<NoPartitionStore>().0.clone(), ..LogState::default() },
    };
    let ram = dev.ram_state::<SettingsRam>();
    for (k, v) in &log.stored {
        ram.values.insert(k.clone(), v.clone());
    }
    ram.log = log;
    ram.loaded = true;
}

/// The storage partition was erased under the settings subsystem: the log is empty now.
pub fn storage_erased(dev: &mut Device) {
    dev.ram_state::<SettingsRam>().log = LogState::default();
}

/// Set a runtime value directly (what the application's own code would do).
pub fn set_runtime(dev: &mut Device, name: &str, value: &[u8]) {
    ensure_loaded(dev);
    dev.ram_state::<SettingsRam>().values.insert(name.into(), value.to_vec());
}

/// A runtime value.
pub fn runtime(dev: &mut Device, name: &str) -> Option<Vec<u8>> {
    ensure_loaded(dev);
    dev.ram_state::<SettingsRam>().values.get(name).cloned()
}

fn settings_err(e: SettingsErr) -> HandlerError {
    HandlerError::group(e.code())
}

/// Common checks: name present and not empty (else `{"rc": 3}`), shorter than `name_len`.
fn check_name(ctx: &Ctx<'_>, name: &str) -> Result<(), HandlerError> {
    if name.is_empty() {
        return Err(super::EINVAL);
    }
    if name.len() >= ctx.dev.server_config().settings.name_len {
        return Err(settings_err(SettingsErr::KeyTooLong));
    }
    Ok(())
}

/// Ask the `settings_access` hook; returns the (possibly renamed) setting name.
fn access(
    ctx: &mut Ctx<'_>,
    kind: SettingsAccessKind,
    name: Option<&str>,
    value: Option<&[u8]>,
) -> Result<Option<String>, HandlerError> {
    let Some(hook) = ctx.dev.hooks.settings_access.as_mut() else { return Ok(name.map(str::to_owned)) };
    let verdict = hook(&SettingsAccess { kind, name, value });
    ctx.dev.log(EventKind::Hook(format!("settings access {kind:?} {name:?}: {verdict:?}")));
    match verdict {
        AccessVerdict::Allow => Ok(name.map(str::to_owned)),
        AccessVerdict::Redirect(to) => Ok(Some(to)),
        AccessVerdict::Deny(v) => {
            Err(HandlerError::from_verdict(&v).unwrap_or_else(|| settings_err(SettingsErr::Unknown)))
        }
    }
}

/// Is the setting's root registered?
fn root_known(ctx: &Ctx<'_>, name: &str) -> bool {
    let roots = &ctx.dev.server_config().settings.roots;
    let root = name.split('/').next().unwrap_or(name);
    roots.is_empty() || roots.iter().any(|r| r == root)
}

/// Read: `{"name", ["max_size"]}` → `{"val", ["max_size"]}`.
pub fn read(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: SettingsReadRequest = ctx.decode()?;
    check_name(ctx, &req.name)?;
    let limit = ctx.dev.server_config().settings.value_len;
    let requested = req.max_size.unwrap_or(limit);
    let (max_size, limited) = if requested > limit { (limit, true) } else { (requested, false) };
    let name = access(ctx, SettingsAccessKind::Read, Some(&req.name), None)?.unwrap_or(req.name);
    if !root_known(ctx, &name) {
        return Err(settings_err(SettingsErr::RootKeyNotFound));
    }
    let Some(mut val) = runtime(ctx.dev, &name) else {
        return Err(settings_err(SettingsErr::KeyNotFound));
    };
    val.truncate(max_size as usize);
    Ok(SettingsReadResponse { val, max_size: limited.then_some(limit) }.to_value())
}

/// Write: `{"name", "val"}` → `{}`; RAM only.
pub fn write(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: SettingsWriteRequest = ctx.decode()?;
    check_name(ctx, &req.name)?;
    let name = access(ctx, SettingsAccessKind::Write, Some(&req.name), Some(&req.val))?.unwrap_or(req.name);
    if !root_known(ctx, &name) {
        return Err(settings_err(SettingsErr::RootKeyNotFound));
    }
    set_runtime(ctx.dev, &name, &req.val);
    Ok(Value::empty_map())
}

/// Delete: `{"name"}` → `{}`; a delete record in storage.
pub fn delete(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: SettingsDeleteRequest = ctx.decode()?;
    check_name(ctx, &req.name)?;
    let name = access(ctx, SettingsAccessKind::Delete, Some(&req.name), None)?.unwrap_or(req.name);
    ensure_loaded(ctx.dev);
    match ctx.dev.storage_partition() {
        None => {
            ctx.dev.storage_state::<NoPartitionStore>().0.remove(&name);
        }
        Some(area) => {
            // settings_delete of a key that is not stored writes nothing and succeeds.
            if ctx.dev.ram_state::<SettingsRam>().log.stored.contains_key(&name)
                && let Err(e) = write_changes(ctx, area, &[(name, None)])?
            {
                ctx.note(e.to_string());
                return Err(settings_err(SettingsErr::Unknown));
            }
        }
    }
    Ok(Value::empty_map())
}

/// Commit: `{}`.
pub fn commit(ctx: &mut Ctx<'_>) -> HandlerResult {
    access(ctx, SettingsAccessKind::Commit, None, None)?;
    Ok(Value::empty_map())
}

/// Load: storage → RAM, `{}`.
pub fn load(ctx: &mut Ctx<'_>) -> HandlerResult {
    access(ctx, SettingsAccessKind::Load, None, None)?;
    load_into_ram(ctx.dev);
    Ok(Value::empty_map())
}

/// Save: RAM → storage (values that differ), `{}`. An optional `"name"` limits it to a
/// subtree (newer Zephyr). Zephyr ignores `settings_save`'s result; so does this, after
/// logging it.
pub fn save(ctx: &mut Ctx<'_>) -> HandlerResult {
    let subtree = ctx
        .body_value()
        .and_then(|v| v.get("name").and_then(Value::as_text).map(str::to_owned))
        .filter(|s| !s.is_empty());
    access(ctx, SettingsAccessKind::Save, subtree.as_deref(), None)?;
    ensure_loaded(ctx.dev);
    let in_subtree = |k: &str| match &subtree {
        None => true,
        Some(s) => k == s || k.strip_prefix(s.as_str()).is_some_and(|rest| rest.starts_with('/')),
    };
    let ram = ctx.dev.ram_state::<SettingsRam>();
    let changes: Vec<(String, Option<Vec<u8>>)> = ram
        .values
        .iter()
        .filter(|(k, v)| in_subtree(k) && ram.log.stored.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    match ctx.dev.storage_partition() {
        None => {
            let store = &mut ctx.dev.storage_state::<NoPartitionStore>().0;
            for (k, v) in changes {
                if let Some(v) = v {
                    store.insert(k, v);
                }
            }
        }
        Some(area) => {
            if let Err(e) = write_changes(ctx, area, &changes)? {
                ctx.note(format!("settings save failed: {e}"));
            }
        }
    }
    Ok(Value::empty_map())
}

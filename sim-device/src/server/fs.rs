//! File system group (8), as Zephyr's `fs_mgmt` answers (reference `smp-protocol.md` §6).
//!
//! | id | op | command | here |
//! |---|---|---|---|
//! | 0 | R | download | `{"off", "data", ["len" when off = 0]}`, `data` of at most [`download_chunk_size`] |
//! | 0 | W | upload | `{"off": next expected offset}` |
//! | 1 | R | status | `{"len"}` |
//! | 2 | R | hash/checksum | `{"type", ["off"], "len", "output"}`: `crc32` → uint, `sha256` → bstr(32) |
//! | 3 | R | supported hash types | `{"types": {"crc32": {"format": 0, "size": 4}, "sha256": {...}}}` |
//! | 4 | W | close | `{}` |
//!
//! # The open-file context
//!
//! As in Zephyr, the server keeps one open file: its path, direction (upload or download),
//! expected offset and length. A request for another path or direction closes it (after
//! asking the `file_access` hook) and opens the new one; it closes when the offset reaches
//! the length, after [`FsOptions::idle_close_ms`] without a request (checked on the device
//! clock at the next request), on `close`, and at reboot. Upload rules, from the source:
//! `off = 0` needs `len` and, when it carries data, truncates an existing file; `off > 0` on
//! a newly opened file takes the file's size as the expected offset; a mismatch answers
//! `{"err": {"group": 8, "rc": 11}, "len": <expected>}` (v1: `{"rc": 1}`) and closes the
//! context. Zephyr's quirk of keeping the old offset when an upload in progress restarts at
//! 0 with data is kept too. (Transport ownership and the EBUSY lock are not modelled: the
//! device serves one request at a time.)
//!
//! # Mount points and the sandbox
//!
//! Paths are absolute names under a mount point ([`Mount::point`], `/lfs1` by default). A
//! mount is backed by memory (kept in the device's storage state: survives reboots and power
//! cycles, not the flash file) or by a host directory (the sandbox). Names are checked before
//! any host access: not starting with `/`, containing NUL, or `..` climbing above the mount
//! → FILE_INVALID_NAME (2); under no mount point → FILE_NOT_FOUND (3) (upload:
//! MOUNT_POINT_NOT_FOUND, 14); a symlink inside the sandbox whose target lies outside it →
//! FILE_INVALID_NAME. Nothing outside the sandbox directory is ever read or written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use smp::cbor::Value;
use smp::error::FsErr;
use smp::groups::Body;
use smp::groups::fs::{
    FsDownloadRequest, FsHashRequest, FsStatusRequest, FsStatusResponse, FsSupportedHashesResponse,
    FsUploadRequest, HashTypeInfo,
};
use smp::header::Group;

use super::hooks::{AccessVerdict, FileAccess, FileAccessKind};
use super::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, ServerConfig};
use crate::device::{Device, EventKind};

/// Where a mount's files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// In the simulator's memory.
    Memory,
    /// In this host directory (the sandbox root); created if missing.
    Dir(PathBuf),
}

/// One mounted file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount point, e.g. `/lfs1` (absolute, no trailing `/`).
    pub point: String,
    pub backing: Backing,
    /// Mounted read-only: uploads get READ_ONLY_FILESYSTEM (15).
    pub read_only: bool,
    /// The file system's size: a write that would make the files of the mount larger
    /// fails (`-ENOSPC`: FILE_WRITE_FAILED, 10). Also bounds what a client can make the
    /// simulator store.
    pub capacity: u64,
}

/// [`Mount::capacity`] of the default mounts: 1 MiB.
pub const DEFAULT_CAPACITY: u64 = 1 << 20;

impl Mount {
    /// A read-write mount in memory.
    pub fn memory(point: impl Into<String>) -> Mount {
        Mount { point: point.into(), backing: Backing::Memory, read_only: false, capacity: DEFAULT_CAPACITY }
    }

    /// A read-write mount on a host directory.
    pub fn dir(point: impl Into<String>, dir: impl Into<PathBuf>) -> Mount {
        Mount {
            point: point.into(),
            backing: Backing::Dir(dir.into()),
            read_only: false,
            capacity: DEFAULT_CAPACITY,
        }
    }
}

/// A hash or checksum the group offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashType {
    /// IEEE CRC-32 (zlib's `crc32`), sent as an unsigned integer.
    Crc32,
    /// SHA-256, sent as 32 bytes.
    Sha256,
}

impl HashType {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            HashType::Crc32 => "crc32",
            HashType::Sha256 => "sha256",
        }
    }

    /// `format` (1 = byte string) and `size` as `supported hash types` reports them.
    pub fn info(self) -> HashTypeInfo {
        match self {
            HashType::Crc32 => HashTypeInfo { format: 0, size: 4 },
            HashType::Sha256 => HashTypeInfo { format: 1, size: 32 },
        }
    }
}

/// File system group options (Kconfig and board setup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsOptions {
    /// Mounted file systems.
    pub mounts: Vec<Mount>,
    /// `CONFIG_MCUMGR_GRP_FS_PATH_LEN` (64): longer names → `{"rc": 3}`.
    pub path_len: usize,
    /// `CONFIG_MCUMGR_GRP_FS_FILE_AUTOMATIC_IDLE_CLOSE_TIME` (4000 ms).
    pub idle_close_ms: u64,
    /// `CONFIG_MCUMGR_GRP_FS_MAX_OFFSET_LEN` (4), used for the download chunk size.
    pub max_offset_len: u32,
    /// Hash types in registration order; the first is the default.
    pub hashes: Vec<HashType>,
    /// `CONFIG_MCUMGR_GRP_FS_FILE_STATUS`: the status command exists.
    pub status: bool,
}

impl Default for FsOptions {
    fn default() -> FsOptions {
        FsOptions {
            mounts: vec![Mount::memory("/lfs1")],
            path_len: 64,
            idle_close_ms: 4000,
            max_offset_len: 4,
            hashes: vec![HashType::Crc32, HashType::Sha256],
            status: true,
        }
    }
}

impl FsOptions {
    /// One read-write mount at `point` backed by the host directory `dir`.
    pub fn sandbox(point: impl Into<String>, dir: impl Into<PathBuf>) -> FsOptions {
        FsOptions { mounts: vec![Mount::dir(point, dir)], ..FsOptions::default() }
    }
}

/// `MCUMGR_GRP_FS_DL_CHUNK_SIZE`: what one download reply carries at most, from the buffer
/// size minus Zephyr's pessimistic estimate of header and keys.
pub fn download_chunk_size(buf_size: u32, max_offset_len: u32) -> u32 {
    let overhead = 8
        + (9 + 1)
        + (1 + 3 + max_offset_len)
        + (1 + 4 + max_offset_len)
        + (1 + 2 + 1)
        + (1 + 3 + max_offset_len);
    buf_size.saturating_sub(overhead)
}

/// The fs group's handler table.
pub fn group(config: &ServerConfig) -> GroupDef {
    let mut commands = vec![CommandDef { id: 0, name: "file", read: Some(download), write: Some(upload) }];
    if config.fs.status {
        commands.push(CommandDef { id: 1, name: "status", read: Some(status), write: None });
    }
    if !config.fs.hashes.is_empty() {
        commands.push(CommandDef { id: 2, name: "hash/checksum", read: Some(hash), write: None });
        commands.push(CommandDef {
            id: 3,
            name: "supported hash/checksum",
            read: Some(supported),
            write: None,
        });
    }
    commands.push(CommandDef { id: 4, name: "close", read: None, write: Some(close) });
    GroupDef { group: Group::Fs, name: Some("fs mgmt"), commands }
}

// ---------------------------------------------------------------------- the file systems

/// A file system call's failure, in errno terms (what `fs_open`/`fs_stat` return).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    /// `-EINVAL`: a bad name (or an escape from the sandbox).
    Invalid,
    /// `-ENOENT`: no such file, directory or mount point.
    NotFound,
    /// `-EROFS`.
    ReadOnly,
    /// `-ENOSPC`: the mount is full.
    NoSpace,
    /// `-EISDIR` and other failures.
    Other,
}

/// A resolved name: which mount, and the components below it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolved {
    mount: usize,
    parts: Vec<String>,
}

/// Check and split a device path (no host access).
fn resolve(opts: &FsOptions, path: &str) -> Result<Resolved, FsError> {
    if !path.starts_with('/') || path.len() <= 1 || path.contains('\0') {
        return Err(FsError::Invalid);
    }
    let mount = opts
        .mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            path == m.point || path.strip_prefix(m.point.as_str()).is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|(_, m)| m.point.len())
        .map(|(i, _)| i)
        .ok_or(FsError::NotFound)?;
    let rest = &path[opts.mounts[mount].point.len()..];
    let mut parts: Vec<String> = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(FsError::Invalid);
                }
            }
            c => parts.push(c.to_owned()),
        }
    }
    Ok(Resolved { mount, parts })
}

/// The memory-backed mounts' contents: (mount point, path below it) → bytes; directories.
#[derive(Debug, Default)]
pub struct MemFs {
    files: BTreeMap<(String, Vec<String>), Vec<u8>>,
    dirs: BTreeSet<(String, Vec<String>)>,
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir,
}

/// The host path of a directory-backed name, refusing symlinks that lead outside the root.
fn host_path(root: &Path, parts: &[String]) -> Result<PathBuf, FsError> {
    std::fs::create_dir_all(root).map_err(|_| FsError::Other)?;
    let root_canon = root.canonicalize().map_err(|_| FsError::Other)?;
    let mut p = root_canon.clone();
    for part in parts {
        if part.contains('\\') && cfg!(windows) {
            return Err(FsError::Invalid);
        }
        p.push(part);
        if let Ok(meta) = std::fs::symlink_metadata(&p)
            && meta.file_type().is_symlink()
        {
            let target = p.canonicalize().map_err(|_| FsError::NotFound)?;
            if !target.starts_with(&root_canon) {
                return Err(FsError::Invalid);
            }
        }
    }
    Ok(p)
}

fn entry(dev: &mut Device, r: &Resolved) -> Result<Entry, FsError> {
    let mount = dev.server_config().fs.mounts[r.mount].clone();
    match &mount.backing {
        Backing::Memory => {
            if r.parts.is_empty() {
                return Ok(Entry::Dir);
            }
            let mem = dev.storage_state::<MemFs>();
            let key = (mount.point.clone(), r.parts.clone());
            if let Some(f) = mem.files.get(&key) {
                Ok(Entry::File(f.len() as u64))
            } else if mem.dirs.contains(&key) {
                Ok(Entry::Dir)
            } else {
                Err(FsError::NotFound)
            }
        }
        Backing::Dir(root) => {
            let p = host_path(root, &r.parts)?;
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => Ok(Entry::Dir),
                Ok(m) if m.is_file() => Ok(Entry::File(m.len())),
                Ok(_) => Err(FsError::Other),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FsError::NotFound),
                Err(_) => Err(FsError::Other),
            }
        }
    }
}

/// `fs_open(.., FS_O_CREATE | FS_O_WRITE)`: the file exists afterwards.
fn open_create(dev: &mut Device, r: &Resolved) -> Result<(), FsError> {
    let mount = dev.server_config().fs.mounts[r.mount].clone();
    if r.parts.is_empty() {
        return Err(FsError::Other);
    }
    let parent = Resolved { mount: r.mount, parts: r.parts[..r.parts.len() - 1].to_vec() };
    match entry(dev, &parent) {
        Ok(Entry::Dir) => {}
        Ok(Entry::File(_)) => return Err(FsError::Other),
        Err(e) => return Err(e),
    }
    match entry(dev, r) {
        Ok(Entry::Dir) => return Err(FsError::Other),
        Ok(Entry::File(_)) => return Ok(()),
        Err(FsError::NotFound) => {}
        Err(e) => return Err(e),
    }
    if mount.read_only {
        return Err(FsError::ReadOnly);
    }
    match &mount.backing {
        Backing::Memory => {
            dev.storage_state::<MemFs>().files.insert((mount.point, r.parts.clone()), Vec::new());
            Ok(())
        }
        Backing::Dir(root) => {
            let p = host_path(root, &r.parts)?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map(|_| ())
                .map_err(|_| FsError::Other)
        }
    }
}

/// Read up to `max` bytes at `off` (nothing past the end).
fn read_at(dev: &mut Device, r: &Resolved, off: u64, max: usize) -> Result<Vec<u8>, FsError> {
    let mount = dev.server_config().fs.mounts[r.mount].clone();
    match &mount.backing {
        Backing::Memory => {
            let mem = dev.storage_state::<MemFs>();
            let f = mem.files.get(&(mount.point, r.parts.clone())).ok_or(FsError::NotFound)?;
            let start = usize::try_from(off).unwrap_or(usize::MAX).min(f.len());
            Ok(f[start..(start + max).min(f.len())].to_vec())
        }
        Backing::Dir(root) => {
            let p = host_path(root, &r.parts)?;
            let mut file = std::fs::File::open(p).map_err(|_| FsError::Other)?;
            file.seek(SeekFrom::Start(off)).map_err(|_| FsError::Other)?;
            let mut buf = Vec::with_capacity(max);
            file.take(max as u64).read_to_end(&mut buf).map_err(|_| FsError::Other)?;
            Ok(buf)
        }
    }
}

/// Truncate to 0 (`truncate`) and/or append `data`.
fn write_file(dev: &mut Device, r: &Resolved, truncate: bool, data: &[u8]) -> Result<(), FsError> {
    let mount = dev.server_config().fs.mounts[r.mount].clone();
    if mount.read_only {
        return Err(FsError::ReadOnly);
    }
    let current = if truncate {
        entry(dev, r).map(|e| if let Entry::File(n) = e { n } else { 0 }).unwrap_or(0)
    } else {
        0
    };
    if used(dev, r.mount)?.saturating_sub(current).saturating_add(data.len() as u64) > mount.capacity {
        return Err(FsError::NoSpace);
    }
    match &mount.backing {
        Backing::Memory => {
            let mem = dev.storage_state::<MemFs>();
            let f = mem.files.get_mut(&(mount.point, r.parts.clone())).ok_or(FsError::NotFound)?;
            if truncate {
                f.clear();
            }
            f.extend_from_slice(data);
            Ok(())
        }
        Backing::Dir(root) => {
            let p = host_path(root, &r.parts)?;
            let mut file = std::fs::OpenOptions::new().write(true).open(p).map_err(|_| FsError::Other)?;
            if truncate {
                file.set_len(0).map_err(|_| FsError::Other)?;
            }
            file.seek(SeekFrom::End(0)).map_err(|_| FsError::Other)?;
            file.write_all(data).map_err(|_| FsError::Other)
        }
    }
}

/// Bytes held by the files of mount `index`.
fn used(dev: &mut Device, index: usize) -> Result<u64, FsError> {
    let mount = dev.server_config().fs.mounts[index].clone();
    match &mount.backing {
        Backing::Memory => {
            let mem = dev.storage_state::<MemFs>();
            Ok(mem.files.iter().filter(|((p, _), _)| *p == mount.point).map(|(_, f)| f.len() as u64).sum())
        }
        Backing::Dir(root) => {
            let root = host_path(root, &[])?;
            // Walk the sandbox (symlinks are not followed), at most 100 000 entries.
            let mut total = 0u64;
            let mut todo = vec![root];
            let mut seen = 0usize;
            while let Some(dir) = todo.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for e in entries.flatten() {
                    seen += 1;
                    if seen > 100_000 {
                        return Err(FsError::Other);
                    }
                    match e.file_type() {
                        Ok(t) if t.is_dir() => todo.push(e.path()),
                        Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                        _ => {}
                    }
                }
            }
            Ok(total)
        }
    }
}

/// Put a whole file (creating its directories), as a test or scenario setting up the board.
pub fn put_file(dev: &mut Device, path: &str, bytes: &[u8]) -> Result<(), FsError> {
    let r = resolve(&dev.server_config().fs, path)?;
    let mount = dev.server_config().fs.mounts[r.mount].clone();
    match &mount.backing {
        Backing::Memory => {
            let mem = dev.storage_state::<MemFs>();
            for i in 1..r.parts.len() {
                mem.dirs.insert((mount.point.clone(), r.parts[..i].to_vec()));
            }
            mem.files.insert((mount.point, r.parts), bytes.to_vec());
            Ok(())
        }
        Backing::Dir(root) => {
            let p = host_path(root, &r.parts)?;
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|_| FsError::Other)?;
            }
            std::fs::write(p, bytes).map_err(|_| FsError::Other)
        }
    }
}

/// Make a directory (and its parents).
pub fn make_dir(dev: &mut Device, path: &str) -> Result<(), FsError> {
    let r = resolve(&dev.server_config().fs, path)?;
    let mount = dev.server_config().fs.mounts[r.mount].clone();
    match &mount.backing {
        Backing::Memory => {
            let mem = dev.storage_state::<MemFs>();
            for i in 1..=r.parts.len() {
                mem.dirs.insert((mount.point.clone(), r.parts[..i].to_vec()));
            }
            Ok(())
        }
        Backing::Dir(root) => std::fs::create_dir_all(host_path(root, &r.parts)?).map_err(|_| FsError::Other),
    }
}

/// A whole file's contents.
pub fn get_file(dev: &mut Device, path: &str) -> Result<Vec<u8>, FsError> {
    let r = resolve(&dev.server_config().fs, path)?;
    match entry(dev, &r)? {
        Entry::File(len) => read_at(dev, &r, 0, usize::try_from(len).unwrap_or(usize::MAX)),
        Entry::Dir => Err(FsError::Other),
    }
}

// ---------------------------------------------------------------------- the handlers

/// The open-file context (`fs_mgmt_ctxt`), RAM.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpenFile {
    pub state: Transfer,
    /// Expected offset of the next request.
    pub off: u64,
    /// Total length (0: unknown).
    pub len: u64,
    /// The path as opened (after any hook redirect).
    pub path: String,
    /// Clock time of the last request that kept it open.
    pub touched_ms: u64,
}

/// What the open file is used for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    #[default]
    None,
    Upload,
    Download,
}

fn fs_err(e: FsErr) -> HandlerError {
    HandlerError::group(e.code())
}

/// Close the context if it sat idle too long.
fn expire_idle(ctx: &mut Ctx<'_>) {
    let idle = ctx.dev.server_config().fs.idle_close_ms;
    let now = ctx.dev.now_ms();
    let open = ctx.dev.ram_state::<OpenFile>();
    if open.state != Transfer::None && now.saturating_sub(open.touched_ms) >= idle {
        *open = OpenFile::default();
        ctx.note("fs: open file closed after idle time");
    }
}

/// `fs_mgmt_upload_download_finish_check`.
fn finish_check(ctx: &mut Ctx<'_>) {
    let now = ctx.dev.now_ms();
    let open = ctx.dev.ram_state::<OpenFile>();
    if open.len > 0 && open.off >= open.len {
        *open = OpenFile::default();
    } else {
        open.touched_ms = now;
    }
}

/// The name checks every command makes: present, 1..=path_len bytes (else `{"rc": 3}`).
fn check_name(ctx: &Ctx<'_>, name: &str) -> Result<(), HandlerError> {
    if name.is_empty() || name.len() > ctx.dev.server_config().fs.path_len {
        return Err(super::EINVAL);
    }
    Ok(())
}

/// Ask the `file_access` hook; returns the path to use.
fn access(ctx: &mut Ctx<'_>, kind: FileAccessKind, path: &str) -> Result<String, HandlerError> {
    let Some(hook) = ctx.dev.hooks.file_access.as_mut() else { return Ok(path.to_owned()) };
    let verdict = hook(&FileAccess { kind, path });
    ctx.dev.log(EventKind::Hook(format!("file access {kind:?} {path:?}: {verdict:?}")));
    match verdict {
        AccessVerdict::Allow => Ok(path.to_owned()),
        AccessVerdict::Redirect(to) => Ok(to),
        AccessVerdict::Deny(v) => {
            Err(HandlerError::from_verdict(&v).unwrap_or_else(|| fs_err(FsErr::Unknown)))
        }
    }
}

/// `fs_mgmt_filelen`: a file's size, or the group error.
fn file_len(ctx: &mut Ctx<'_>, path: &str) -> Result<(Resolved, u64), HandlerError> {
    let r = resolve(&ctx.dev.server_config().fs, path).map_err(|e| fs_err(stat_err(e)))?;
    match entry(ctx.dev, &r) {
        Ok(Entry::File(len)) => Ok((r, len)),
        Ok(Entry::Dir) => Err(fs_err(FsErr::FileIsDirectory)),
        Err(e) => Err(fs_err(stat_err(e))),
    }
}

fn stat_err(e: FsError) -> FsErr {
    match e {
        FsError::Invalid => FsErr::FileInvalidName,
        FsError::NotFound => FsErr::FileNotFound,
        _ => FsErr::Unknown,
    }
}

/// Download: `{"off", "name"}` → `{"off", "data", ["len"]}`.
pub fn download(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: FsDownloadRequest = ctx.decode()?;
    check_name(ctx, &req.name)?;
    expire_idle(ctx);
    let open = ctx.dev.ram_state::<OpenFile>().clone();
    let path = if open.state != Transfer::Download || open.path != req.name {
        let p = access(ctx, FileAccessKind::Read, &req.name)?;
        *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
        p
    } else {
        open.path.clone()
    };
    if ctx.dev.ram_state::<OpenFile>().state == Transfer::None {
        let (_, len) = file_len(ctx, &path)?;
        let now = ctx.dev.now_ms();
        *ctx.dev.ram_state::<OpenFile>() =
            OpenFile { state: Transfer::Download, off: 0, len, path: path.clone(), touched_ms: now };
    }
    let r = resolve(&ctx.dev.server_config().fs, &path).map_err(|e| fs_err(stat_err(e)))?;
    let chunk = download_chunk_size(ctx.dev.limits().buf_size, ctx.dev.server_config().fs.max_offset_len);
    let data = match read_at(ctx.dev, &r, req.off, chunk as usize) {
        Ok(d) => d,
        Err(_) => {
            *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
            return Err(fs_err(FsErr::FileReadFailed));
        }
    };
    let open = ctx.dev.ram_state::<OpenFile>();
    open.off = req.off + data.len() as u64;
    let len = open.len;
    let mut m = vec![(Value::text("off"), Value::from(req.off)), (Value::text("data"), Value::Bytes(data))];
    if req.off == 0 {
        m.push((Value::text("len"), Value::from(len)));
    }
    finish_check(ctx);
    Ok(Value::Map(m))
}

/// Upload: `{"off", "data", "name", ["len"]}` → `{"off"}`.
pub fn upload(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: FsUploadRequest = ctx.decode()?;
    check_name(ctx, &req.name)?;
    if req.off == 0 && req.len.is_none() {
        return Err(super::EINVAL);
    }
    expire_idle(ctx);
    let open = ctx.dev.ram_state::<OpenFile>().clone();
    let path = if open.state != Transfer::Upload || open.path != req.name {
        let p = access(ctx, FileAccessKind::Write, &req.name)?;
        *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
        p
    } else {
        open.path.clone()
    };
    if ctx.dev.ram_state::<OpenFile>().state == Transfer::None {
        let r = match resolve(&ctx.dev.server_config().fs, &path) {
            Ok(r) => r,
            Err(FsError::Invalid) => return Err(fs_err(FsErr::FileInvalidName)),
            Err(_) => return Err(fs_err(FsErr::MountPointNotFound)),
        };
        if let Err(e) = open_create(ctx.dev, &r) {
            return Err(fs_err(match e {
                FsError::Invalid => FsErr::FileInvalidName,
                FsError::NotFound => FsErr::MountPointNotFound,
                FsError::ReadOnly => FsErr::ReadOnlyFilesystem,
                FsError::NoSpace | FsError::Other => FsErr::Unknown,
            }));
        }
        let now = ctx.dev.now_ms();
        *ctx.dev.ram_state::<OpenFile>() =
            OpenFile { state: Transfer::Upload, off: 0, len: 0, path: path.clone(), touched_ms: now };
    }
    let mut existing = 0;
    if req.off == 0 {
        ctx.dev.ram_state::<OpenFile>().len = req.len.unwrap_or(0);
        match file_len(ctx, &path) {
            Ok((_, n)) => existing = n,
            Err(e) => {
                *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
                return Err(e);
            }
        }
    } else if ctx.dev.ram_state::<OpenFile>().off == 0 {
        match file_len(ctx, &path) {
            Ok((_, n)) => ctx.dev.ram_state::<OpenFile>().off = n,
            Err(e) => {
                *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
                return Err(e);
            }
        }
    }
    let expected = ctx.dev.ram_state::<OpenFile>().off;
    if req.off > 0 && req.off != expected {
        *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
        return Err(HandlerError::GroupThen {
            group: None,
            rc: FsErr::FileOffsetNotValid.code(),
            after: vec![(Value::text("len"), Value::from(expected))],
        });
    }
    if !req.data.is_empty() {
        let r = resolve(&ctx.dev.server_config().fs, &path).map_err(|e| fs_err(stat_err(e)))?;
        let truncate = req.off == 0 && existing != 0;
        if let Err(e) = write_file(ctx.dev, &r, truncate, &req.data) {
            *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
            return Err(fs_err(match (e, truncate) {
                (FsError::ReadOnly, _) => FsErr::ReadOnlyFilesystem,
                (FsError::NoSpace, _) => FsErr::FileWriteFailed,
                (_, true) => FsErr::FileTruncateFailed,
                _ => FsErr::FileWriteFailed,
            }));
        }
        ctx.dev.ram_state::<OpenFile>().off += req.data.len() as u64;
    }
    let off = ctx.dev.ram_state::<OpenFile>().off;
    finish_check(ctx);
    Ok(Value::map([("off", Value::from(off))]))
}

/// Status: `{"name"}` → `{"len"}`.
pub fn status(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: FsStatusRequest = ctx.decode()?;
    check_name(ctx, &req.name)?;
    let path = access(ctx, FileAccessKind::Status, &req.name)?;
    let (_, len) = file_len(ctx, &path)?;
    Ok(FsStatusResponse { len }.to_value())
}

/// Hash/checksum: `{"name", ["type"], ["off"], ["len"]}` → `{"type", ["off"], "len", "output"}`.
pub fn hash(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: FsHashRequest = ctx.decode()?;
    check_name(ctx, &req.name)?;
    let type_name = req.hash_type.clone().unwrap_or_default();
    if type_name.len() > 8 || req.len == Some(0) {
        return Err(super::EINVAL);
    }
    let hashes = ctx.dev.server_config().fs.hashes.clone();
    let kind = if type_name.is_empty() {
        hashes.first().copied()
    } else {
        hashes.iter().copied().find(|h| h.name() == type_name)
    };
    let Some(kind) = kind else { return Err(fs_err(FsErr::ChecksumHashNotFound)) };
    let path = access(ctx, FileAccessKind::Hash, &req.name)?;
    let (r, size) = file_len(ctx, &path)?;
    let off = req.off.unwrap_or(0);
    if size <= off {
        return Err(fs_err(if size == 0 { FsErr::FileEmpty } else { FsErr::FileOffsetLargerThanFile }));
    }
    let want = req.len.unwrap_or(u64::MAX).min(size - off);
    let data = read_at(ctx.dev, &r, off, usize::try_from(want).unwrap_or(usize::MAX))
        .map_err(|_| fs_err(FsErr::FileReadFailed))?;
    let output = match kind {
        HashType::Crc32 => {
            Value::from(u64::from(crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&data)))
        }
        HashType::Sha256 => Value::Bytes(mcuboot::image::HashAlg::Sha256.digest(&data)),
    };
    let mut m = vec![(Value::text("type"), Value::text(kind.name()))];
    if off != 0 {
        m.push((Value::text("off"), Value::from(off)));
    }
    m.push((Value::text("len"), Value::from(data.len() as u64)));
    m.push((Value::text("output"), output));
    Ok(Value::Map(m))
}

/// Supported hash types.
pub fn supported(ctx: &mut Ctx<'_>) -> HandlerResult {
    let types = ctx.dev.server_config().fs.hashes.iter().map(|h| (h.name().to_owned(), h.info())).collect();
    Ok(FsSupportedHashesResponse { types }.to_value())
}

/// Close the open file: `{}`.
pub fn close(ctx: &mut Ctx<'_>) -> HandlerResult {
    *ctx.dev.ram_state::<OpenFile>() = OpenFile::default();
    Ok(Value::empty_map())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_under_their_mount_only() {
        let opts = FsOptions::default();
        assert_eq!(resolve(&opts, "/lfs1/a/b.txt").map(|r| r.parts), Ok(vec!["a".into(), "b.txt".into()]));
        assert_eq!(resolve(&opts, "/lfs1/a/../b").map(|r| r.parts), Ok(vec!["b".into()]));
        assert_eq!(resolve(&opts, "/lfs1/../etc/passwd"), Err(FsError::Invalid));
        assert_eq!(resolve(&opts, "/lfs1/a/../../x"), Err(FsError::Invalid));
        assert_eq!(resolve(&opts, "lfs1/x"), Err(FsError::Invalid));
        assert_eq!(resolve(&opts, "/etc/passwd"), Err(FsError::NotFound));
        assert_eq!(resolve(&opts, "/lfs10/x"), Err(FsError::NotFound));
        assert_eq!(resolve(&opts, "/lfs1/x\0y"), Err(FsError::Invalid));
    }

    #[test]
    fn chunk_size_follows_the_buffer() {
        assert_eq!(download_chunk_size(384, 4), 384 - 47);
        assert_eq!(download_chunk_size(10, 4), 0);
    }
}

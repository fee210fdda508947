//! The reproducer directory of a failed scenario: everything needed to see what the device
//! held when the scenario failed, and to run it again the same way.
//!
//! ```text
//! <dir>/<scenario-file-stem>/
//!   README.md              what failed, the seed, the command that re-runs it, the files
//!   report.txt             the failure as the terminal showed it
//!   scenario.yaml          a copy of the scenario file
//!   files/                 copies of the image, key and data files the scenario names
//!   flash-<name>-<dev>.bin every flash device of device <name>, whole
//!   trailers-<name>.txt    every slot's MCUboot trailer decoded, the device's state, its log
//!   transcript.txt         the SMP traffic, when a transcript was recorded
//! ```
//!
//! [`write`] builds the directory next to its final place and renames it into place, so a
//! reader never sees half a reproducer; an older reproducer of the same scenario is replaced.
//! A directory that is not a reproducer (it lacks the [`MARKER`] file) is never removed.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mcuboot::flash::RamFlash;
use mcuboot::layout::{Area, AreaId};
use mcuboot::trailer::{FlagState, MagicState, SwapState, SwapType, TrailerLayout};
use sha2::{Digest, Sha256};
use sim_device::device::{Device, OffReason, RunState};

use super::transcript::Transcript;

/// The file that marks a directory as a reproducer `write` may replace.
pub const MARKER: &str = ".brownout-repro";

/// Largest file the scenario names that is copied into `files/` (larger ones are listed only).
const MAX_COPY: u64 = 16 << 20;

/// Most bytes copied into `files/` in all.
const MAX_COPY_TOTAL: u64 = 64 << 20;

/// Event-log entries shown at the end of a trailers file.
const EVENT_TAIL: usize = 100;

/// What a reproducer is made of.
#[derive(Debug, Clone, Copy)]
pub struct ReproInput<'a> {
    /// The scenario file as it was run.
    pub scenario_file: &'a Path,
    /// The scenario's `name`.
    pub scenario_name: &'a str,
    /// The seed it ran with (what `--seed` repeats).
    pub seed: u64,
    /// The failure as the terminal shows it ([`ScenarioReport::to_text`](super::ScenarioReport::to_text));
    /// colour codes are removed.
    pub report_text: &'a str,
    /// Every device, by the name the scenario gives it (`main` for a single `device:`).
    pub devices: &'a [(String, &'a Device)],
    /// Devices already captured with [`DeviceDump::of`] (each inside its own
    /// `SharedDevice::with`, so a group's devices need not be locked at once); written after
    /// `devices`. Usually one of the two is empty.
    pub dumps: &'a [DeviceDump],
    /// The SMP traffic, if it was recorded.
    pub transcript: Option<&'a Transcript>,
}

/// What a reproducer keeps of one device: its flash, whole, and its trailers decoded. Take it
/// while the device is at hand (`shared.with(|d| DeviceDump::of("main", d))`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDump {
    /// The device's name in the scenario.
    pub name: String,
    /// Its flash layout's name (`k64f`).
    pub layout: String,
    /// Every flash device's contents, by device id.
    pub flash: Vec<Vec<u8>>,
    /// [`trailers_text`] of the device.
    pub trailers: String,
}

impl DeviceDump {
    /// Capture `device` as it is now.
    pub fn of(name: &str, device: &Device) -> DeviceDump {
        let flash = (0..device.flash().device_count())
            .map_while(|dev| u8::try_from(dev).ok())
            .filter_map(|id| device.flash().contents(id).map(<[u8]>::to_vec))
            .collect();
        DeviceDump {
            name: name.to_string(),
            layout: device.map().name.clone(),
            flash,
            trailers: trailers_text(name, device),
        }
    }
}

/// [`write`] for a failed scenario's report: the reproducer of `report` (its file, name, seed
/// and text) with `dumps` and `transcript`; on success `report.repro` names the directory.
pub fn write_for_report(
    dir: &Path,
    report: &mut super::ScenarioReport,
    dumps: &[DeviceDump],
    transcript: Option<&Transcript>,
) -> io::Result<PathBuf> {
    let text = report.to_text();
    let input = ReproInput {
        scenario_file: &report.file,
        scenario_name: &report.name,
        seed: report.seed,
        report_text: &text,
        devices: &[],
        dumps,
        transcript,
    };
    let at = write(dir, &input)?;
    report.repro = Some(at.clone());
    Ok(at)
}

/// Write the reproducer of `input` to `<dir>/<scenario-file-stem>/` (creating `dir` if
/// needed, replacing an earlier reproducer there) and return that directory.
///
/// Fails if the directory cannot be written, or if the path is taken by something that is not
/// a reproducer. A scenario file that can no longer be read, or a file it names, is said so in
/// the README rather than failing the whole reproducer.
pub fn write(dir: &Path, input: &ReproInput<'_>) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stem = input.scenario_file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = file_safe(&stem, "scenario");
    let target = dir.join(&stem);
    if target.exists() && !target.join(MARKER).is_file() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a brownout reproducer; not replacing it", target.display()),
        ));
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let partial =
        dir.join(format!(".{stem}.partial-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let result = fill(&partial, input).and_then(|()| {
        if target.exists() {
            std::fs::remove_dir_all(&target)?;
        }
        std::fs::rename(&partial, &target)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result.map(|()| target)
}

/// Write every file of the reproducer into `at` (a fresh directory).
fn fill(at: &Path, input: &ReproInput<'_>) -> io::Result<()> {
    std::fs::create_dir_all(at)?;
    std::fs::write(at.join(MARKER), "made by `brownout run`; replaced by the next failing run\n")?;
    let report = strip_ansi(input.report_text);
    std::fs::write(at.join("report.txt"), &report)?;

    let mut listing: Vec<(String, String)> = Vec::new();
    let scenario_note = match read_bounded(input.scenario_file, crate::scenario::MAX_SCENARIO_BYTES) {
        Ok(bytes) => {
            std::fs::write(at.join("scenario.yaml"), &bytes)?;
            listing.push(("scenario.yaml".into(), "a copy of the scenario file".into()));
            None
        }
        Err(e) => Some(format!("The scenario file could not be copied: {e}.")),
    };
    let referenced = referenced_files(input.scenario_file);
    let copied = copy_files(&at.join("files"), &referenced)?;

    let owned: Vec<DeviceDump> = input.devices.iter().map(|(name, d)| DeviceDump::of(name, d)).collect();
    let mut used: Vec<String> = Vec::new();
    for dump in owned.iter().chain(input.dumps) {
        let base = file_safe(&dump.name, "device");
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        used.push(name.clone());
        for (dev, bytes) in dump.flash.iter().enumerate() {
            let file = format!("flash-{name}-{dev}.bin");
            std::fs::write(at.join(&file), bytes)?;
            listing.push((
                file,
                format!(
                    "flash device {dev} of `{}`, whole ({} bytes, layout {})",
                    dump.name,
                    bytes.len(),
                    dump.layout
                ),
            ));
        }
        let file = format!("trailers-{name}.txt");
        std::fs::write(at.join(&file), &dump.trailers)?;
        listing
            .push((file, format!("`{}`: every slot's trailer decoded, its state and event log", dump.name)));
    }
    if let Some(t) = input.transcript {
        std::fs::write(at.join("transcript.txt"), t.to_text())?;
        listing.push(("transcript.txt".into(), "the SMP traffic, each step's start marked".into()));
    }
    listing.push(("report.txt".into(), "the failure as the terminal showed it".into()));

    let readme = readme_text(input, &report, scenario_note.as_deref(), &listing, &copied);
    std::fs::write(at.join("README.md"), readme)
}

/// A file the scenario names, and what became of it.
#[derive(Debug)]
struct Copied {
    /// Where in the scenario it is named (`steps[0].upload.image`).
    keys: Vec<String>,
    /// Its absolute path.
    path: PathBuf,
    /// `files/<name>` if copied, else why not.
    copy: Result<String, String>,
    len: u64,
    sha256: Option<String>,
}

fn copy_files(files_dir: &Path, referenced: &[(String, PathBuf)]) -> io::Result<Vec<Copied>> {
    let mut out: Vec<Copied> = Vec::new();
    for (key, path) in referenced {
        if let Some(c) = out.iter_mut().find(|c| &c.path == path) {
            c.keys.push(key.clone());
            continue;
        }
        out.push(Copied {
            keys: vec![key.clone()],
            path: path.clone(),
            copy: Err(String::new()),
            len: 0,
            sha256: None,
        });
    }
    let mut total = 0u64;
    let mut names: Vec<String> = Vec::new();
    for c in &mut out {
        c.len = std::fs::metadata(&c.path).map(|m| m.len()).unwrap_or(0);
        if c.len > MAX_COPY {
            c.copy = Err(format!("not copied: larger than {} MiB", MAX_COPY >> 20));
            continue;
        }
        if total + c.len > MAX_COPY_TOTAL {
            c.copy = Err(format!("not copied: the copies would pass {} MiB", MAX_COPY_TOTAL >> 20));
            continue;
        }
        let bytes = match read_bounded(&c.path, MAX_COPY) {
            Ok(b) => b,
            Err(e) => {
                c.copy = Err(format!("not copied: {e}"));
                continue;
            }
        };
        let base = c.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let base = file_safe(&base, "file");
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{n}-{base}");
            n += 1;
        }
        std::fs::create_dir_all(files_dir)?;
        std::fs::write(files_dir.join(&name), &bytes)?;
        total += c.len;
        c.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
        c.copy = Ok(format!("files/{name}"));
        names.push(name);
    }
    Ok(out)
}

fn readme_text(
    input: &ReproInput<'_>,
    report: &str,
    scenario_note: Option<&str>,
    listing: &[(String, String)],
    copied: &[Copied],
) -> String {
    let file = absolute(input.scenario_file);
    let mut out = String::new();
    let _ = writeln!(out, "# brownout reproducer: {}\n", input.scenario_name);
    let _ = writeln!(out, "- scenario file: `{}`", file.display());
    let _ = writeln!(out, "- seed: {}", input.seed);
    if let Some(note) = scenario_note {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(out, "\nRun it again the same way:\n");
    let _ = writeln!(
        out,
        "    brownout run {} --seed {}\n",
        shell_quote(&file.display().to_string()),
        input.seed
    );
    let _ = writeln!(out, "## What failed\n\n```text\n{}\n```\n", report.trim_end());
    let _ = writeln!(out, "## Files here\n");
    for (name, what) in listing {
        let _ = writeln!(out, "- `{name}`: {what}");
    }
    let _ = writeln!(out, "\n## Files the scenario names\n");
    if copied.is_empty() {
        let _ = writeln!(out, "None found.");
    }
    for c in copied {
        let _ = writeln!(out, "- `{}` (as {})", c.path.display(), c.keys.join(", "));
        match (&c.copy, &c.sha256) {
            (Ok(at), Some(sha)) => {
                let _ = writeln!(out, "  copied to `{at}`: {} bytes, SHA-256 {sha}", c.len);
            }
            (Ok(at), None) => {
                let _ = writeln!(out, "  copied to `{at}`: {} bytes", c.len);
            }
            (Err(why), _) => {
                let _ = writeln!(out, "  {why}");
            }
        }
    }
    out
}

/// Every string in the scenario that names an existing file (resolved against the scenario's
/// directory, as the runner resolves them), with where it appears. Walking the YAML as data
/// finds every step's files without a list of which fields hold paths.
fn referenced_files(scenario: &Path) -> Vec<(String, PathBuf)> {
    let Ok(bytes) = read_bounded(scenario, crate::scenario::MAX_SCENARIO_BYTES) else { return Vec::new() };
    let Ok(source) = String::from_utf8(bytes) else { return Vec::new() };
    let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(&source) else { return Vec::new() };
    let base = scenario.parent().map(Path::to_path_buf).unwrap_or_default();
    let own = absolute(scenario);
    let mut out = Vec::new();
    walk(&value, String::new(), &mut |key, text| {
        if text.is_empty() || text.len() > 4096 || text.contains('\n') {
            return;
        }
        let p = Path::new(text);
        let p = if p.is_relative() { base.join(p) } else { p.to_path_buf() };
        if p.is_file() {
            let p = absolute(&p);
            if p != own {
                out.push((key.to_string(), p));
            }
        }
    });
    out
}

fn walk(value: &serde_json::Value, key: String, found: &mut impl FnMut(&str, &str)) {
    match value {
        serde_json::Value::String(s) => found(&key, s),
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk(v, format!("{key}[{i}]"), found);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                walk(v, key, found);
            }
        }
        _ => {}
    }
}

/// The trailers file of one device: layout, state, every slot's trailer decoded, the event log.
pub fn trailers_text(name: &str, device: &Device) -> String {
    let mut out = String::new();
    let map = device.map();
    let boot = device.boot_config();
    let layout = device.trailer_layout();
    let _ = writeln!(
        out,
        "device `{name}`: layout {}, {:?}, BOOT_MAX_ALIGN {}, BOOT_MAX_IMG_SECTORS {}",
        map.name, boot.algorithm, layout.max_align, layout.max_img_sectors
    );
    let _ = writeln!(out, "state:  {}", describe_state(device.state()));
    let _ = writeln!(out, "boots:  {}   clock: {} ms", device.boot_count(), device.now_ms());
    for (i, g) in map.devices.iter().enumerate() {
        let _ = writeln!(
            out,
            "flash {i}: {} bytes, write size {}, erased value {:#04x}",
            g.size(),
            g.write_size,
            g.erased_value
        );
    }
    // Decode from a copy, so reading costs no flash operation and no armed fault can strike.
    let mut copy = RamFlash::new(map.devices.clone());
    for (i, _) in map.devices.iter().enumerate() {
        let Ok(id) = u8::try_from(i) else { break };
        if let Some(bytes) = device.flash().contents(id)
            && let Err(e) = copy.load(id, 0, bytes)
        {
            let _ = writeln!(out, "flash {i}: cannot be decoded: {e}");
        }
    }
    let mut areas: Vec<(String, AreaId)> = Vec::new();
    for (i, _) in map.images.iter().enumerate() {
        let Ok(n) = u8::try_from(i) else { break };
        areas.push((format!("image {n} primary (slot 0)"), AreaId::Primary(n)));
        areas.push((format!("image {n} secondary (slot 1)"), AreaId::Secondary(n)));
    }
    if map.scratch.is_some() {
        areas.push(("scratch".into(), AreaId::Scratch));
    }
    for (title, id) in areas {
        let Some(area) = map.area(id) else { continue };
        out.push('\n');
        area_text(&mut out, &title, id, area, device, layout, &mut copy);
    }
    let events: Vec<_> = device.events().collect();
    let shown = events.len().min(EVENT_TAIL);
    let _ = writeln!(
        out,
        "\nevent log: the last {shown} of {} entries kept ({} older ones dropped by the device)",
        events.len(),
        device.events_dropped()
    );
    for e in &events[events.len() - shown..] {
        let _ = writeln!(out, "  {e}");
    }
    out
}

fn area_text(
    out: &mut String,
    title: &str,
    id: AreaId,
    area: Area,
    device: &Device,
    layout: &TrailerLayout,
    copy: &mut RamFlash,
) {
    let _ = writeln!(
        out,
        "{title}: flash {} {:#x}..{:#x} ({} bytes)",
        area.device,
        area.offset,
        u64::from(area.offset) + u64::from(area.size),
        area.size
    );
    let Some(bytes) = device.flash().area_contents(area) else {
        let _ = writeln!(out, "  (outside the flash)");
        return;
    };
    let Some(geometry) = device.map().devices.get(usize::from(area.device)) else { return };
    let (write_size, erased) = (geometry.write_size, geometry.erased_value);
    let is_scratch = id == AreaId::Scratch;
    let trailer =
        if is_scratch { layout.scratch_trailer_size(write_size) } else { layout.trailer_size(write_size) };
    if area.size < trailer {
        let _ = writeln!(out, "  too small for a trailer ({trailer} bytes)");
        return;
    }
    let byte = |off: u32| bytes.get(off as usize).copied().unwrap_or(erased);
    let field = |off: u32, len: u32| {
        bytes.get(off as usize..(off + len) as usize).map(hex::encode).unwrap_or_default()
    };
    let state = match mcuboot::trailer::read_swap_state(copy, layout, area) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "  trailer unreadable: {e}");
            return;
        }
    };
    let _ = writeln!(
        out,
        "  magic      {:<9} {}",
        magic_word(state.magic),
        field(layout.magic_off(area.size), mcuboot::trailer::MAGIC_SIZE)
    );
    let info = byte(layout.swap_info_off(area.size));
    let (word, meaning) = swap_info_text(&state, info, erased);
    let _ = writeln!(out, "  swap_info  {word:<9} {info:#04x}: {meaning}");
    let _ = writeln!(
        out,
        "  copy_done  {:<9} {:#04x}",
        flag_word(state.copy_done),
        byte(layout.copy_done_off(area.size))
    );
    let _ = writeln!(
        out,
        "  image_ok   {:<9} {:#04x}",
        flag_word(state.image_ok),
        byte(layout.image_ok_off(area.size))
    );
    let size_off = layout.swap_size_off(area.size);
    let raw = field(size_off, 4);
    let swap_size = bytes
        .get(size_off as usize..size_off as usize + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes);
    match swap_size {
        Some(_) if raw.chars().all(|c| c == 'f') && erased == 0xff || raw == "00000000" && erased == 0 => {
            let _ = writeln!(out, "  swap_size  {:<9} {raw}", "erased");
        }
        Some(v) => {
            let _ = writeln!(out, "  swap_size  {v:<9} {raw} ({v:#x} bytes)");
        }
        None => {}
    }
    if layout.kind == mcuboot::trailer::StatusKind::Offset {
        let off = layout.unprotected_tlv_sizes_off(area.size);
        let _ = writeln!(out, "  unprotected TLV sizes    {}", field(off, 4));
    }
    if is_scratch && state.magic != MagicState::Good {
        let _ = writeln!(
            out,
            "  (MCUboot ignores a scratch trailer whose magic is not good: these bytes are what the last swap step left)"
        );
    }
    let status_off = if is_scratch {
        layout.scratch_status_off(area.size, write_size)
    } else {
        layout.status_off(area.size, write_size)
    };
    let entries = layout.status_entries(is_scratch);
    let written = (0..entries)
        .filter(|i| {
            let at = (status_off + i * write_size) as usize;
            bytes.get(at..at + write_size as usize).is_some_and(|e| e.iter().any(|&b| b != erased))
        })
        .count();
    let _ = writeln!(out, "  status     {written} of {entries} records written (at {status_off:#x})");
    if !is_scratch {
        let mut offsets = vec![0u32];
        if let AreaId::Secondary(_) = id {
            let sector =
                sim_device::device::upload_offset(device.map(), device.boot_config().algorithm, area);
            if sector != 0 {
                offsets.insert(0, sector);
            }
        }
        let header = offsets.iter().find_map(|&o| {
            bytes.get(o as usize..).and_then(|b| mcuboot::image::ImageHeader::parse(b).ok()).map(|h| (o, h))
        });
        match header {
            Some((o, h)) => {
                let _ = writeln!(
                    out,
                    "  image      version {} at {o:#x}: header {} bytes, payload {} bytes, flags {:#x}",
                    h.version, h.hdr_size, h.img_size, h.flags.0
                );
            }
            None => {
                let _ = writeln!(out, "  image      no image header");
            }
        }
    }
}

fn magic_word(m: MagicState) -> &'static str {
    match m {
        MagicState::Good => "good",
        MagicState::Unset => "unset",
        MagicState::Bad => "BAD",
    }
}

fn flag_word(f: FlagState) -> &'static str {
    match f {
        FlagState::Set => "set",
        FlagState::Unset => "unset",
        FlagState::Bad => "BAD",
    }
}

/// The swap type in one word, and the whole field in words.
fn swap_info_text(state: &SwapState, raw: u8, erased: u8) -> (&'static str, String) {
    if raw == erased {
        return ("unset", "erased (swap type none)".into());
    }
    let ty = match state.swap_type {
        SwapType::None => "none",
        SwapType::Test => "test",
        SwapType::Perm => "perm",
        SwapType::Revert => "revert",
        SwapType::Fail => "fail",
        SwapType::Panic => "panic",
    };
    (ty, format!("swap type {ty}, image {}", state.image_num))
}

fn describe_state(state: &RunState) -> String {
    match state {
        RunState::Running(r) => format!("running {} (image {}, slot {})", r.version, r.image, r.slot),
        RunState::Hung { image, watchdog_at_ms } => {
            format!("{} hangs; the watchdog resets it at {watchdog_at_ms} ms", image.version)
        }
        RunState::Off(OffReason::PoweredOff) => "powered off".into(),
        RunState::Off(OffReason::PowerLost { op }) => format!("off: power lost at flash operation {op}"),
        RunState::Bricked(why) => format!("bricked: {why}"),
        RunState::Halted(why) => format!("bootloader halted: {why}"),
        RunState::CrashLoop { boots } => format!("crash loop after {boots} boots"),
    }
}

/// Read a file of at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    if len > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{len} bytes is over {limit}")));
    }
    std::fs::read(path)
}

/// `path` made absolute (and tidied) if it can be; as given otherwise.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// A name safe as (part of) a file name: letters, digits, `.`, `_`, `-`; others become `_`.
fn file_safe(name: &str, fallback: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') { fallback.to_string() } else { s }
}

/// Quote for a POSIX shell when needed.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The text without ANSI colour codes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sim_device::device::DeviceConfig;

    fn fixtures() -> PathBuf {
        testkit::workspace_root().join("fixtures")
    }

    fn device() -> Device {
        let image = std::fs::read(fixtures().join("images/app-1.0.0.bin")).unwrap();
        DeviceConfig::preset("k64f").unwrap().primary(image).build().unwrap()
    }

    /// A scenario file in `dir` naming fixture files, one relative to the scenario.
    fn scenario(dir: &Path) -> PathBuf {
        std::fs::write(dir.join("data.txt"), "some data\n").unwrap();
        let path = dir.join("my scenario.yaml");
        std::fs::write(
            &path,
            format!(
                "name: a failing one\ndevice:\n  layout: k64f\n  key: {0}/keys/ed25519.pub.pem\n  primary: {0}/images/app-1.0.0.bin\nsteps:\n  - upload: {{ image: {0}/images/app-2.0.0.bin }}\n  - fs_upload: {{ path: /lfs1/x, file: data.txt }}\n  - echo: {{ text: data.txt is not only a file name }}\n",
                fixtures().display()
            ),
        )
        .unwrap();
        path
    }

    #[test]
    fn the_directory_holds_every_file_and_the_readme_says_how_to_rerun() {
        let tmp = tempfile::tempdir().unwrap();
        let file = scenario(tmp.path());
        let dev = device();
        let transcript = Transcript::new();
        transcript.note(1, 8, "upload");
        let out = tmp.path().join("out");
        let input = ReproInput {
            scenario_file: &file,
            scenario_name: "a failing one",
            seed: 77,
            report_text: "\u{1b}[31m✗ FAILED\u{1b}[0m  my scenario.yaml\n    step 1 `upload` failed\n",
            devices: &[("main".to_string(), &dev)],
            dumps: &[],
            transcript: Some(&transcript),
        };
        let at = write(&out, &input).unwrap();
        assert_eq!(at, out.join("my_scenario"));
        let mut names: Vec<String> = std::fs::read_dir(&at)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                MARKER,
                "README.md",
                "files",
                "flash-main-0.bin",
                "report.txt",
                "scenario.yaml",
                "trailers-main.txt",
                "transcript.txt"
            ]
        );
        let flash = std::fs::read(at.join("flash-main-0.bin")).unwrap();
        assert_eq!(flash.len(), dev.map().devices[0].size() as usize);
        assert_eq!(flash.as_slice(), dev.flash().contents(0).unwrap());
        assert_eq!(std::fs::read(at.join("scenario.yaml")).unwrap(), std::fs::read(&file).unwrap());
        let report = std::fs::read_to_string(at.join("report.txt")).unwrap();
        assert!(report.starts_with("✗ FAILED  my scenario.yaml"), "colour codes removed: {report:?}");

        let readme = std::fs::read_to_string(at.join("README.md")).unwrap();
        let abs = std::fs::canonicalize(&file).unwrap();
        assert!(readme.contains(&format!("    brownout run '{}' --seed 77\n", abs.display())), "{readme}");
        assert!(readme.contains("step 1 `upload` failed"), "{readme}");
        for f in ["keys/ed25519.pub.pem", "images/app-1.0.0.bin", "images/app-2.0.0.bin"] {
            let p = std::fs::canonicalize(fixtures().join(f)).unwrap();
            assert!(readme.contains(&format!("`{}`", p.display())), "{f} listed:\n{readme}");
        }
        assert!(readme.contains("(as steps[0].upload.image)"), "{readme}");
        // The relative data file is found next to the scenario and copied; the echo text is not a file.
        assert_eq!(std::fs::read_to_string(at.join("files/data.txt")).unwrap(), "some data\n");
        assert!(readme.contains("(as steps[1].fs_upload.file)"), "{readme}");
        assert_eq!(
            std::fs::read(at.join("files/app-2.0.0.bin")).unwrap(),
            std::fs::read(fixtures().join("images/app-2.0.0.bin")).unwrap()
        );
        assert!(
            std::fs::read_to_string(at.join("transcript.txt")).unwrap().contains("step 1 (line 8): upload")
        );
    }

    #[test]
    fn trailers_name_magic_and_image_ok_after_set_pending() {
        let mut dev = device();
        let (map, layout) = (dev.map().clone(), *dev.trailer_layout());
        let secondary = map.area(AreaId::Secondary(0)).unwrap();
        let image = std::fs::read(fixtures().join("images/app-2.0.0.bin")).unwrap();
        dev.flash_mut().load_area(secondary, &image).unwrap();
        let before = trailers_text("main", &dev);
        let sec = section(&before, "image 0 secondary");
        assert!(sec.contains("magic      unset"), "{sec}");
        assert!(sec.contains("image      version 2.0.0"), "{sec}");

        mcuboot::trailer::set_pending(dev.flash_mut(), &map, &layout, 0, true).unwrap();
        let after = trailers_text("main", &dev);
        let sec = section(&after, "image 0 secondary");
        assert!(sec.contains("magic      good"), "{sec}");
        assert!(sec.contains("image_ok   set       0x01"), "{sec}");
        assert!(sec.contains("swap_info  perm      0x03: swap type perm, image 0"), "{sec}");
        assert!(sec.contains("copy_done  unset     0xff"), "{sec}");
        let pri = section(&after, "image 0 primary");
        assert!(pri.contains("image      version 1.0.0"), "{pri}");
        assert!(after.contains("state:  running 1.0.0"), "{after}");
        assert!(after.contains("event log: the last"), "{after}");
        assert!(after.contains("scratch: flash 0 0x60000..0x61000"), "{after}");
        assert!(section(&after, "scratch").contains("MCUboot ignores a scratch trailer"), "{after}");
    }

    #[test]
    fn a_test_upgrade_is_told_apart_from_a_permanent_one() {
        let mut dev = device();
        let (map, layout) = (dev.map().clone(), *dev.trailer_layout());
        let secondary = map.area(AreaId::Secondary(0)).unwrap();
        let image = std::fs::read(fixtures().join("images/app-2.0.0.bin")).unwrap();
        dev.flash_mut().load_area(secondary, &image).unwrap();
        mcuboot::trailer::set_pending(dev.flash_mut(), &map, &layout, 0, false).unwrap();
        let text = trailers_text("main", &dev);
        let sec = section(&text, "image 0 secondary");
        assert!(sec.contains("image_ok   unset"), "{sec}");
        assert!(sec.contains("swap type test, image 0"), "{sec}");
    }

    /// The lines of one area's block.
    fn section<'a>(text: &'a str, title: &str) -> &'a str {
        let start = text.find(title).unwrap_or_else(|| panic!("no {title} in\n{text}"));
        let rest = &text[start..];
        let end = rest.find("\n\n").unwrap_or(rest.len());
        &rest[..end]
    }

    #[test]
    fn an_older_reproducer_is_replaced_and_anything_else_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let file = scenario(tmp.path());
        let dev = device();
        let out = tmp.path().join("out");
        let mut input = ReproInput {
            scenario_file: &file,
            scenario_name: "a failing one",
            seed: 1,
            report_text: "first",
            devices: &[],
            dumps: &[],
            transcript: None,
        };
        let at = write(&out, &input).unwrap();
        std::fs::write(at.join("stale.txt"), "old").unwrap();
        let devices = [("main".to_string(), &dev)];
        input.devices = &devices;
        input.report_text = "second";
        let again = write(&out, &input).unwrap();
        assert_eq!(again, at);
        assert!(!at.join("stale.txt").exists());
        assert!(at.join("flash-main-0.bin").exists());
        assert!(!at.join("transcript.txt").exists());
        assert_eq!(std::fs::read_to_string(at.join("report.txt")).unwrap(), "second");
        // Nothing half-written is left next to it.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);

        let precious = tmp.path().join("elsewhere");
        std::fs::create_dir_all(precious.join("my_scenario")).unwrap();
        std::fs::write(precious.join("my_scenario/keep.txt"), "mine").unwrap();
        let err = write(&precious, &input).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("not a brownout reproducer"), "{err}");
        assert!(precious.join("my_scenario/keep.txt").exists());
    }

    #[test]
    fn an_unreadable_scenario_still_gives_a_reproducer() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device();
        let missing = tmp.path().join("gone.yaml");
        let input = ReproInput {
            scenario_file: &missing,
            scenario_name: "gone",
            seed: 5,
            report_text: "x",
            devices: &[("a/b".to_string(), &dev)],
            dumps: &[],
            transcript: None,
        };
        let at = write(tmp.path(), &input).unwrap();
        assert!(!at.join("scenario.yaml").exists());
        assert!(at.join("flash-a_b-0.bin").exists(), "device names are made file-safe");
        let readme = std::fs::read_to_string(at.join("README.md")).unwrap();
        assert!(readme.contains("could not be copied"), "{readme}");
    }

    /// Two devices of a group, captured one at a time, and a report that learns where its
    /// reproducer is.
    #[test]
    fn dumps_of_a_group_and_a_report_that_points_to_its_reproducer() {
        use crate::runner::report::{Outcome, ScenarioReport, StepReport, StepStatus};
        let tmp = tempfile::tempdir().unwrap();
        let file = scenario(tmp.path());
        let (a, b) = (device(), device());
        let dumps = [DeviceDump::of("left", &a), DeviceDump::of("left", &b)];
        assert_eq!(dumps[0].flash.len(), 1);
        assert_eq!(dumps[0].flash[0].len(), 0x80000);
        let mut report = ScenarioReport {
            file: file.clone(),
            name: "a failing one".into(),
            outcome: Outcome::Failed,
            seed: 3,
            error: None,
            steps: vec![StepReport {
                index: 1,
                step: "upload".into(),
                line: 8,
                status: StepStatus::Failed { expected: "yes".into(), actual: "no".into() },
                duration: std::time::Duration::ZERO,
            }],
            duration: std::time::Duration::ZERO,
            repro: None,
        };
        let at = write_for_report(&tmp.path().join("out"), &mut report, &dumps, None).unwrap();
        assert_eq!(report.repro.as_deref(), Some(at.as_path()));
        assert!(at.join("flash-left-0.bin").is_file() && at.join("flash-left-2-0.bin").is_file());
        assert!(at.join("trailers-left.txt").is_file() && at.join("trailers-left-2.txt").is_file());
        let text = std::fs::read_to_string(at.join("report.txt")).unwrap();
        assert!(text.contains("step 1 `upload` at") && text.contains("--seed 3"), "{text}");
        assert!(report.to_text().contains(&format!("reproducer: {}", at.display())));
    }

    #[test]
    fn helpers() {
        assert_eq!(shell_quote("scenarios/a.yaml"), "scenarios/a.yaml");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(file_safe("..", "x"), "x");
        assert_eq!(file_safe("gr/oup 1", "x"), "gr_oup_1");
        assert_eq!(strip_ansi("\u{1b}[1;32mok\u{1b}[0m"), "ok");
    }
}

//! `brownout client`: talk to an SMP device (a `brownout sim` or a real board) with brownout's
//! own client, mcumgr-style.
//!
//! ```text
//! brownout client --udp 127.0.0.1:1337 image list
//! brownout client --serial /dev/ttyACM0 --baud 115200 image upload app.signed.bin --window 4
//! brownout client --udp 127.0.0.1:1337 image test 3a5f…   # then: reset, image confirm
//! brownout client --serial /dev/pts/7 --json fs download /lfs/log.txt log.txt
//! ```
//!
//! Human output by default, `--json` for one JSON document on stdout. An SMP error (the device's
//! `rc` or group error, a timeout) is printed as `error: <command>: …` naming the device's code,
//! and the exit code is 1; bad arguments or unreadable files exit with 2.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use smp::groups::fs::HashOutput;
use smp::groups::image::{ImageSlotState, SlotInfoResponse, StateResponse};
use smp::header::Version;

use crate::client::{
    AnyTransport, ClientConfig, ClientError, Progress, SerialSettings, SerialTransport, SmpClient,
    UdpTransport, UploadOptions, UploadSummary,
};

/// Largest file uploaded or downloaded.
const MAX_FILE: u64 = 64 << 20;

/// Talk to an SMP device over UDP or a serial port / PTY.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("transport").required(true).args(["udp", "serial"])))]
pub struct Args {
    /// The device's UDP address (Zephyr's default port is 1337).
    #[arg(long, value_name = "ADDR")]
    pub udp: Option<SocketAddr>,
    /// A serial port or PTY path (e.g. the `pty` line `brownout sim --pty` prints).
    #[arg(long, value_name = "PATH")]
    pub serial: Option<String>,
    /// Serial baud rate.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Longest serial line written, markers and newline included (Zephyr accepts 127).
    #[arg(long, default_value_t = 127)]
    pub line_length: usize,
    /// Wait per attempt, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub timeout: u64,
    /// Wait for the first upload chunk and for erase, in milliseconds (the device erases first).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub erase_timeout: u64,
    /// Resends of a request (or upload chunk) after a timeout.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Speak SMP v1 (the legacy protocol) instead of v2.
    #[arg(long)]
    pub smp_v1: bool,
    /// Sequence number of the first request (default: random).
    #[arg(long)]
    pub seq: Option<u8>,
    /// Print one JSON document instead of text (also accepted after the subcommand).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Image management: list, upload, test, confirm, erase, slots.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Send text and print the device's echo.
    Echo {
        /// The text.
        text: String,
    },
    /// Reset the device (it reboots through its bootloader).
    Reset {
        /// Reset even if the application would veto it.
        #[arg(long)]
        force: bool,
    },
    /// The device's SMP buffer size and count.
    Params,
    /// OS/application info (uname-like FORMAT letters, e.g. `a`, `sv`).
    Info {
        /// Format letters.
        format: Option<String>,
    },
    /// File system: upload, download, stat, hash.
    #[command(subcommand)]
    Fs(FsCommand),
    /// Statistics groups.
    #[command(subcommand)]
    Stat(StatCommand),
    /// Settings (key/value storage).
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Run a command line on the device's shell.
    Shell {
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
    /// Read the device's clock, or set it (`YYYY-MM-DDTHH:MM:SS[.mmm]`).
    Datetime {
        /// The new time.
        set: Option<String>,
    },
    /// The management groups the device serves (enumeration group).
    Groups,
}

/// Image subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Every slot holding a valid image, with version, hash and flags.
    List,
    /// Upload a signed image.
    Upload {
        /// The image file (imgtool / `brownout image sign` output).
        file: PathBuf,
        /// Target image number.
        #[arg(long)]
        image: Option<u32>,
        /// Refuse unless the image is newer than the running one.
        #[arg(long)]
        upgrade: bool,
        /// Chunks in flight at once (up to the device's buf_count is sensible).
        #[arg(long, default_value_t = 1)]
        window: usize,
        /// Chunk size in bytes (default: computed from the device's buffer size).
        #[arg(long)]
        chunk: Option<usize>,
    },
    /// Mark the image with this hash (hex) for a test boot.
    Test {
        /// The image hash (64 hex digits).
        hash: String,
    },
    /// Confirm the image with this hash, or the running one.
    Confirm {
        /// The image hash (64 hex digits); none = the running image.
        hash: Option<String>,
    },
    /// Erase a slot (default: the one not running).
    Erase {
        /// The slot.
        slot: Option<u32>,
    },
    /// Slots of every image and their sizes.
    Slots,
}

/// File system subcommands.
#[derive(Debug, Subcommand)]
pub enum FsCommand {
    /// Copy a local file to the device.
    Upload {
        /// Local file.
        local: PathBuf,
        /// Path on the device.
        remote: String,
    },
    /// Copy a file from the device.
    Download {
        /// Path on the device.
        remote: String,
        /// Local file.
        local: PathBuf,
    },
    /// A file's size.
    Stat {
        /// Path on the device.
        remote: String,
    },
    /// A file's hash or checksum.
    Hash {
        /// Path on the device.
        remote: String,
        /// sha256 or crc32 (default: the device's, crc32).
        #[arg(long = "type")]
        hash_type: Option<String>,
    },
}

/// Statistics subcommands.
#[derive(Debug, Subcommand)]
pub enum StatCommand {
    /// The statistics groups.
    List,
    /// One group's counters.
    Show {
        /// Group name.
        name: String,
    },
}

/// Settings subcommands.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Read a value.
    Read {
        /// Key.
        name: String,
        /// Largest value to return.
        #[arg(long)]
        max_size: Option<u32>,
    },
    /// Write a value (text, or hex with --hex).
    Write {
        /// Key.
        name: String,
        /// Value.
        value: String,
        /// The value is hex bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Delete a key.
    Delete {
        /// Key.
        name: String,
    },
    /// Save to persistent storage (all, or one subtree).
    Save {
        /// Subtree.
        name: Option<String>,
    },
    /// Apply the written values (commit handlers).
    Commit,
}

/// Run `brownout client`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let config = ClientConfig {
        version: if args.smp_v1 { Version::V1 } else { Version::V2 },
        first_seq: args.seq,
        timeout: Duration::from_millis(args.timeout.max(1)),
        retries: args.retries,
        first_chunk_timeout: Duration::from_millis(args.erase_timeout.max(1)),
        erase_timeout: Duration::from_millis(args.erase_timeout.max(1)),
        version_fallback: true,
        command_timeouts: Default::default(),
    };
    let transport = match (&args.udp, &args.serial) {
        (Some(addr), _) => AnyTransport::Udp(UdpTransport::connect(*addr).await?),
        (None, Some(path)) => {
            let settings =
                SerialSettings { path: path.clone(), baud: args.baud, line_length: args.line_length };
            AnyTransport::Serial(SerialTransport::open(&settings)?)
        }
        (None, None) => bail!("give --udp ADDR or --serial PATH"),
    };
    let mut client = SmpClient::new(transport, config);
    let json = args.json;
    match execute(&mut client, args.command, json).await {
        Ok(Output { text, value }) => {
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            } else if !text.is_empty() {
                write!(out, "{text}")?;
                if !text.ends_with('\n') {
                    writeln!(out)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure::Client(e)) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&error_json(&e))?);
            }
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
        Err(Failure::Other(e)) => Err(e),
    }
}

/// What a command printed: text for humans, a value for `--json`.
struct Output {
    text: String,
    value: Value,
}

/// A device/protocol failure (exit 1) or anything else (exit 2).
enum Failure {
    Client(Box<ClientError>),
    Other(anyhow::Error),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Client(Box::new(e))
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Other(e)
    }
}

fn out(text: impl Into<String>, value: Value) -> Result<Output, Failure> {
    Ok(Output { text: text.into(), value })
}

async fn execute(
    client: &mut SmpClient<AnyTransport>,
    command: ClientCommand,
    json: bool,
) -> Result<Output, Failure> {
    match command {
        ClientCommand::Image(c) => image(client, c, json).await,
        ClientCommand::Echo { text } => {
            let r = client.echo(&text).await?;
            out(r.clone(), json!({ "r": r }))
        }
        ClientCommand::Reset { force } => {
            client.reset(force).await?;
            out("reset requested", json!({ "reset": true }))
        }
        ClientCommand::Params => {
            let p = client.params().await?;
            out(
                format!("buf_size  {}\nbuf_count {}", p.buf_size, p.buf_count),
                json!({ "buf_size": p.buf_size, "buf_count": p.buf_count }),
            )
        }
        ClientCommand::Info { format } => {
            let o = client.os_info(format.as_deref()).await?;
            out(o.clone(), json!({ "output": o }))
        }
        ClientCommand::Fs(c) => fs(client, c).await,
        ClientCommand::Stat(StatCommand::List) => {
            let names = client.stat_list().await?;
            out(names.join("\n"), json!({ "stat_list": names }))
        }
        ClientCommand::Stat(StatCommand::Show { name }) => {
            let s = client.stat_show(&name).await?;
            let width = s.fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let text: Vec<String> = s.fields.iter().map(|(k, v)| format!("{k:<width$}  {v}")).collect();
            let fields: serde_json::Map<String, Value> =
                s.fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            out(format!("{}\n{}", s.name, text.join("\n")), json!({ "name": s.name, "fields": fields }))
        }
        ClientCommand::Settings(c) => settings(client, c).await,
        ClientCommand::Shell { argv } => {
            let r = client.shell_exec(&argv).await?;
            out(
                format!("{}{}", r.o, if r.ret != 0 { format!("\n(exit {})", r.ret) } else { String::new() }),
                json!({ "o": r.o, "ret": r.ret }),
            )
        }
        ClientCommand::Datetime { set: None } => {
            let t = client.datetime_get().await?;
            out(t.clone(), json!({ "datetime": t }))
        }
        ClientCommand::Datetime { set: Some(t) } => {
            client.datetime_set(&t).await?;
            out(format!("set to {t}"), json!({ "datetime": t }))
        }
        ClientCommand::Groups => {
            let groups = client.enum_list().await?;
            let text: Vec<String> = groups
                .iter()
                .map(|g| format!("{g:>5}  {}", smp::header::Group::from_id(*g).name()))
                .collect();
            out(text.join("\n"), json!({ "groups": groups }))
        }
    }
}

async fn image(
    client: &mut SmpClient<AnyTransport>,
    command: ImageCommand,
    json: bool,
) -> Result<Output, Failure> {
    match command {
        ImageCommand::List => {
            let s = client.image_state().await?;
            out(state_table(&s), state_json(&s))
        }
        ImageCommand::Test { hash } => {
            let hash = parse_hash(&hash)?;
            let s = client.image_test(&hash).await?;
            out(state_table(&s), state_json(&s))
        }
        ImageCommand::Confirm { hash } => {
            let hash = hash.as_deref().map(parse_hash).transpose()?;
            let s = client.image_confirm(hash.as_deref()).await?;
            out(state_table(&s), state_json(&s))
        }
        ImageCommand::Erase { slot } => {
            client.image_erase(slot).await?;
            let text = match slot {
                Some(s) => format!("erased slot {s}"),
                None => "erased the slot not running".to_owned(),
            };
            out(text, json!({ "erased": true, "slot": slot }))
        }
        ImageCommand::Slots => {
            let s = client.slot_info().await?;
            out(slots_table(&s), slots_json(&s))
        }
        ImageCommand::Upload { file, image, upgrade, window, chunk } => {
            let data = read_file(&file)?;
            let options =
                UploadOptions { image, upgrade, window, chunk_size: chunk, ..UploadOptions::default() };
            let bar = (!json && std::io::stderr().is_terminal()).then(|| {
                let bar = indicatif::ProgressBar::new(data.len() as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            let mut on_progress = |p: Progress| {
                if let Some(bar) = &bar {
                    bar.set_position(p.offset);
                }
            };
            let result = client.image_upload(&data, &options, &mut on_progress).await;
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            let s = result?;
            let hash = file_image_hash(&data);
            let mut text = upload_text(&s, &file);
            if let Some(h) = &hash {
                text.push_str(&format!("\nimage hash {}", hex::encode(h)));
            }
            let mut value = upload_json(&s);
            value["image_hash"] = json!(hash.as_deref().map(hex::encode));
            out(text, value)
        }
    }
}

async fn fs(client: &mut SmpClient<AnyTransport>, command: FsCommand) -> Result<Output, Failure> {
    match command {
        FsCommand::Upload { local, remote } => {
            let data = read_file(&local)?;
            let n = client.fs_upload(&remote, &data).await?;
            out(format!("wrote {n} bytes to {remote}"), json!({ "name": remote, "len": n }))
        }
        FsCommand::Download { remote, local } => {
            let data = client.fs_download(&remote, MAX_FILE).await?;
            std::fs::write(&local, &data).with_context(|| format!("writing {}", local.display()))?;
            out(
                format!("read {} bytes from {remote} into {}", data.len(), local.display()),
                json!({ "name": remote, "len": data.len() }),
            )
        }
        FsCommand::Stat { remote } => {
            let len = client.fs_status(&remote).await?;
            out(format!("{remote}: {len} bytes"), json!({ "name": remote, "len": len }))
        }
        FsCommand::Hash { remote, hash_type } => {
            let h = client.fs_hash(&remote, hash_type.as_deref()).await?;
            let shown = match &h.output {
                HashOutput::Uint(n) => format!("0x{n:08x}"),
                HashOutput::Bytes(b) => hex::encode(b),
            };
            out(
                format!("{} {shown}  {remote} ({} bytes)", h.hash_type, h.len),
                json!({ "name": remote, "type": h.hash_type, "len": h.len, "output": shown }),
            )
        }
    }
}

async fn settings(client: &mut SmpClient<AnyTransport>, command: SettingsCommand) -> Result<Output, Failure> {
    match command {
        SettingsCommand::Read { name, max_size } => {
            let val = client.settings_read(&name, max_size).await?;
            let text = match std::str::from_utf8(&val) {
                Ok(t) if !t.chars().any(char::is_control) => {
                    format!("{name} = {t:?} (hex {})", hex::encode(&val))
                }
                _ => format!("{name} = hex {}", hex::encode(&val)),
            };
            out(text, json!({ "name": name, "val": hex::encode(&val) }))
        }
        SettingsCommand::Write { name, value, hex: is_hex } => {
            let val = if is_hex {
                hex::decode(value.trim()).with_context(|| format!("value {value:?} is not hex"))?
            } else {
                value.into_bytes()
            };
            client.settings_write(&name, &val).await?;
            out(format!("wrote {name} ({} bytes)", val.len()), json!({ "name": name, "len": val.len() }))
        }
        SettingsCommand::Delete { name } => {
            client.settings_delete(&name).await?;
            out(format!("deleted {name}"), json!({ "deleted": name }))
        }
        SettingsCommand::Save { name } => {
            client.settings_save(name.as_deref()).await?;
            out("saved", json!({ "saved": true, "name": name }))
        }
        SettingsCommand::Commit => {
            client.settings_commit().await?;
            out("committed", json!({ "committed": true }))
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > MAX_FILE {
        return Err(Failure::Other(anyhow::anyhow!(
            "{} is {} bytes, more than the {MAX_FILE} accepted",
            path.display(),
            meta.len()
        )));
    }
    Ok(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
}

fn parse_hash(text: &str) -> Result<Vec<u8>, Failure> {
    let bytes = hex::decode(text.trim()).with_context(|| format!("image hash {text:?} is not hex"))?;
    if bytes.is_empty() {
        return Err(Failure::Other(anyhow::anyhow!("image hash is empty")));
    }
    Ok(bytes)
}

/// The flags of a slot, in mcumgr's order.
fn flags(s: &ImageSlotState) -> Vec<&'static str> {
    let mut f = Vec::new();
    for (on, name) in [
        (s.active, "active"),
        (s.confirmed, "confirmed"),
        (s.pending, "pending"),
        (s.permanent, "permanent"),
        (s.bootable, "bootable"),
    ] {
        if on {
            f.push(name);
        }
    }
    f
}

/// The image list as a table: image, slot, version, hash, flags.
pub fn state_table(s: &StateResponse) -> String {
    if s.images.is_empty() {
        return "no images".into();
    }
    let rows: Vec<[String; 5]> = s
        .images
        .iter()
        .map(|i| {
            [
                i.image.unwrap_or(0).to_string(),
                i.slot.to_string(),
                i.version.clone(),
                i.hash.as_deref().map(hex::encode).unwrap_or_else(|| "-".into()),
                flags(i).join(" "),
            ]
        })
        .collect();
    table(&["image", "slot", "version", "hash", "flags"], &rows)
}

fn state_json(s: &StateResponse) -> Value {
    let images: Vec<Value> = s
        .images
        .iter()
        .map(|i| {
            json!({
                "image": i.image.unwrap_or(0),
                "slot": i.slot,
                "version": i.version,
                "hash": i.hash.as_deref().map(hex::encode),
                "bootable": i.bootable,
                "pending": i.pending,
                "confirmed": i.confirmed,
                "active": i.active,
                "permanent": i.permanent,
            })
        })
        .collect();
    json!({ "images": images })
}

fn slots_table(s: &SlotInfoResponse) -> String {
    let mut rows = Vec::new();
    for image in &s.images {
        for slot in &image.slots {
            rows.push([
                image.image.to_string(),
                slot.slot.to_string(),
                slot.size.map(|n| n.to_string()).unwrap_or_else(|| format!("error {}", slot.rc.unwrap_or(0))),
                slot.upload_image_id.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            ]);
        }
    }
    table(&["image", "slot", "size", "upload_image_id"], &rows)
}

fn slots_json(s: &SlotInfoResponse) -> Value {
    let images: Vec<Value> = s
        .images
        .iter()
        .map(|i| {
            let slots: Vec<Value> = i
                .slots
                .iter()
                .map(|s| json!({ "slot": s.slot, "size": s.size, "upload_image_id": s.upload_image_id, "rc": s.rc }))
                .collect();
            json!({ "image": i.image, "slots": slots, "max_image_size": i.max_image_size })
        })
        .collect();
    json!({ "images": images })
}

/// The SHA-256 TLV of an MCUboot image file: the hash `image list` shows and `image test`
/// takes. `None` if the file does not parse as an image.
fn file_image_hash(data: &[u8]) -> Option<Vec<u8>> {
    let header = mcuboot::image::ImageHeader::parse(data).ok()?;
    let tlvs = mcuboot::image::tlvs(&header, data).ok()?;
    tlvs.iter().find(|t| t.kind == mcuboot::image::TlvKind::Sha256 && !t.protected).map(|t| t.data.to_vec())
}

fn upload_text(s: &UploadSummary, file: &Path) -> String {
    let mut t = format!(
        "uploaded {} ({} bytes) in {} chunks of up to {} bytes: {} retries, {} resyncs, {} restarts, {:.2} s",
        file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        s.bytes,
        s.chunks,
        s.chunk_size,
        s.retries,
        s.resyncs,
        s.restarts,
        s.duration.as_secs_f64()
    );
    if let Some(off) = s.resumed_from {
        t.push_str(&format!("\nresumed a previous upload at offset {off}"));
    }
    if s.matched == Some(true) {
        t.push_str("\nthe device checked the SHA-256: match");
    }
    t
}

fn upload_json(s: &UploadSummary) -> Value {
    json!({
        "bytes": s.bytes,
        "chunk_size": s.chunk_size,
        "chunks": s.chunks,
        "retries": s.retries,
        "resyncs": s.resyncs,
        "restarts": s.restarts,
        "resumed_from": s.resumed_from,
        "matched": s.matched,
        "duration_ms": u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX),
    })
}

fn error_json(e: &ClientError) -> Value {
    let device = e.device_error().map(|err| {
        json!({
            "rc": err.rc.map(|rc| rc.code()),
            "rc_name": err.rc.and_then(|rc| rc.name()),
            "group": err.err.map(|g| g.group),
            "group_rc": err.err.map(|g| g.rc),
            "group_error": err.err.map(|g| g.code().to_string()),
            "rsn": err.rsn,
        })
    });
    json!({ "error": { "command": e.command(), "message": e.to_string(), "device": device } })
}

/// Left-aligned columns separated by two spaces.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(
        slot: u32,
        version: &str,
        hash: u8,
        active: bool,
        confirmed: bool,
        pending: bool,
    ) -> ImageSlotState {
        ImageSlotState {
            image: None,
            slot,
            version: version.into(),
            hash: Some(vec![hash; 32]),
            bootable: true,
            pending,
            confirmed,
            active,
            permanent: false,
        }
    }

    #[test]
    fn image_list_is_an_aligned_table() {
        let s = StateResponse::zephyr(vec![
            slot(0, "1.0.0", 0x1a, true, true, false),
            slot(1, "2.0.0.7", 0x2b, false, false, true),
        ]);
        insta::assert_snapshot!(state_table(&s), @r"
        image  slot  version  hash                                                              flags
        0      0     1.0.0    1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a  active confirmed bootable
        0      1     2.0.0.7  2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b  pending bootable
        ");
        assert_eq!(state_table(&StateResponse::default()), "no images");
    }

    #[test]
    fn device_errors_become_json_with_names() {
        let e = ClientError::Device {
            command: "image upload".into(),
            error: smp::error::ErrorBody::group(smp::error::GroupErr::new(smp::header::Group::Image, 30)),
        };
        let v = error_json(&e);
        assert_eq!(v["error"]["command"], "image upload");
        assert_eq!(v["error"]["device"]["group_error"], "IMG_MGMT_ERR_INVALID_IMAGE_TOO_LARGE (30)");
        let e = ClientError::Device {
            command: "os echo".into(),
            error: smp::error::ErrorBody::rc(smp::error::MgmtErr::EInval),
        };
        let v = error_json(&e);
        assert_eq!(v["error"]["device"]["rc_name"], "EINVAL");
        assert_eq!(v["error"]["message"], "os echo: the device answered MGMT_ERR_EINVAL (3)");
    }

    #[test]
    fn hashes_must_be_hex() {
        assert_eq!(parse_hash("00ff").ok(), Some(vec![0, 0xff]));
        assert!(parse_hash("zz").is_err());
        assert!(parse_hash("").is_err());
    }
}

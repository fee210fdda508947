//! `brownout sim`: run one simulated board until Ctrl-C or SIGTERM, reachable by any SMP
//! client over a PTY and/or UDP.
//!
//! ```text
//! brownout sim --layout k64f --mode swap-scratch --key fixtures/keys/ed25519.pub.pem \
//!              --primary fixtures/images/app-1.0.0.bin --flash state.bin \
//!              --pty --pty-link /tmp/ttyBROWNOUT --udp 127.0.0.2:1337
//! ```
//!
//! Before anything else it prints where it listens, one endpoint per line, then `ready`:
//!
//! ```text
//! pty /dev/pts/7
//! pty-link /tmp/ttyBROWNOUT
//! udp 127.0.0.2:1337
//! ready
//! ```
//!
//! so scripts can read the first lines and connect. The device reboots through the simulated
//! MCUboot on `os reset` (after `--reset-delay-ms`) while the transports stay up. With
//! `--flash` the flash is loaded from that file when it exists (the images are then ignored)
//! and saved after every change and at shutdown, so a board keeps its state across runs.
//! `-vv` logs every SMP request and reply, decoded.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use mcuboot::image::PublicKey;
use sim_device::device::{Clock, DeviceConfig, FirmwareBehaviour};
use sim_device::server::Limits;
use sim_device::transport::{
    Direction, FaultPlan, FaultRule, PtyConfig, PtyTransport, SerialFraming, SharedDevice, Tap, Traffic,
    UdpConfig, UdpTransport, WireEvent,
};
use smp::message::AnyMessage;

/// Largest image or key file read.
const MAX_INPUT_FILE: u64 = 16 << 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build the board from this scenario file's `device:` section (layout, mode, keys,
    /// images, behaviours, limits) instead of the flags below; `--flash`, `--buf-size` and the
    /// transport flags still apply.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// With `--scenario`: the device of its `devices:` list to build (default: the first).
    #[arg(long, value_name = "NAME", requires = "scenario")]
    device: Option<String>,
    #[command(flatten)]
    geometry: super::FlashArgs,
    /// A key the bootloader trusts (PEM, public or private); repeat for several. None:
    /// images are checked by hash only.
    #[arg(long = "key", value_name = "PEM")]
    keys: Vec<PathBuf>,
    /// Image placed in the primary slot before the first boot (imgtool output).
    #[arg(long, value_name = "IMG")]
    primary: Option<PathBuf>,
    /// Image placed in the secondary slot before the first boot.
    #[arg(long, value_name = "IMG")]
    secondary: Option<PathBuf>,
    /// Keep the flash in this file: loaded if it exists, saved after every change.
    #[arg(long, value_name = "FILE")]
    flash: Option<PathBuf>,
    /// Serve the console on a pseudo-terminal (its path is printed).
    #[arg(long)]
    pty: bool,
    /// Also make a symlink to the pts at this path (implies --pty).
    #[arg(long, value_name = "PATH")]
    pty_link: Option<PathBuf>,
    /// Serve SMP over UDP at this address; repeat for several. Use 127.0.0.2, 127.0.0.3, …
    /// to run several boards side by side on port 1337.
    #[arg(long = "udp", value_name = "ADDR")]
    udp: Vec<SocketAddr>,
    /// Pace the PTY at this baud rate (10 bits per byte) for realistic timing.
    #[arg(long)]
    baud: Option<u32>,
    /// What the firmware does after boot: confirm (confirms itself), wait (waits for the
    /// client to confirm), crash (at boot), hang (until the watchdog), run (the image's own
    /// Cortex-M code; needs the firmware feature), crash-after:N (healthy for N boots, then
    /// crashes; crash-after:N:confirm also confirms itself while healthy).
    #[arg(long, default_value = "wait")]
    behaviour: String,
    /// SMP buffer size (CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE). Default: 2048 with --udp, else 384.
    #[arg(long)]
    buf_size: Option<u32>,
    /// Time between an `os reset` reply and the reboot.
    #[arg(long, default_value_t = 250)]
    reset_delay_ms: u64,
    /// The UART receive line buffer (CONFIG_UART_MCUMGR_RX_BUF_SIZE): longer lines are
    /// dropped. Raise it for clients that send longer lines (smpmgr --line-length).
    #[arg(long, default_value_t = 128)]
    uart_rx_buf: usize,
    /// Raw UART mode on the PTY (CONFIG_MCUMGR_TRANSPORT_RAW_UART): bare SMP packets, no
    /// console framing and no banners (mcumgrctl --raw).
    #[arg(long)]
    raw_uart: bool,
    /// In raw UART mode, drop a partial packet after this much silence
    /// (CONFIG_MCUMGR_TRANSPORT_RAW_UART_INPUT_TIMEOUT_TIME_MS); 0 keeps it forever.
    #[arg(long, default_value_t = 1000)]
    raw_input_timeout_ms: u64,
    /// Do not print boot banners on the PTY console.
    #[arg(long)]
    no_banner: bool,
    /// A wire fault on the replies of every transport, KIND[:ARG]@WHEN: KIND is drop,
    /// duplicate, delay:MS, reorder, corrupt-crc, truncate-line or wrong-seq; WHEN is N (the
    /// n-th reply), every:N or p:P (probability). Repeatable.
    #[arg(long = "fault", value_name = "RULE")]
    faults: Vec<FaultRule>,
    /// Seed of the random fault choices (p:P rules).
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
}

/// Parse a `--behaviour` value.
pub fn parse_behaviour(s: &str) -> anyhow::Result<FirmwareBehaviour> {
    Ok(match s {
        "confirm" => FirmwareBehaviour::ConfirmAtBoot,
        "wait" => FirmwareBehaviour::WaitForConfirm,
        "crash" => FirmwareBehaviour::CrashAtBoot,
        "hang" => FirmwareBehaviour::HangUntilWatchdog,
        "run" => FirmwareBehaviour::Execute,
        _ => {
            let Some(rest) = s.strip_prefix("crash-after:") else {
                bail!(
                    "--behaviour {s:?}: expected confirm, wait, crash, hang, run or crash-after:N[:confirm]"
                )
            };
            let (n, confirm) = match rest.strip_suffix(":confirm") {
                Some(n) => (n, true),
                None => (rest, false),
            };
            let boots = n.parse().with_context(|| format!("--behaviour {s:?}: {n:?} is not a boot count"))?;
            FirmwareBehaviour::CrashAfterBoots { boots, confirm }
        }
    })
}

fn read_file(what: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path).with_context(|| format!("{what} {}", path.display()))?.len();
    if len > MAX_INPUT_FILE {
        bail!("{what} {}: {len} bytes is more than the {MAX_INPUT_FILE}-byte limit", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// Build the device the arguments describe.
fn device_config(args: &Args) -> anyhow::Result<DeviceConfig> {
    if let Some(file) = &args.scenario {
        return scenario_device_config(args, file);
    }
    let (algorithm, erased) = args.geometry.check()?;
    let mut keys = Vec::new();
    for path in &args.keys {
        let text = String::from_utf8(read_file("key", path)?)
            .with_context(|| format!("key {}: not a PEM text file", path.display()))?;
        keys.push(PublicKey::from_pem(&text).with_context(|| format!("key {}", path.display()))?);
    }
    let mut limits = if args.udp.is_empty() { Limits::SERIAL } else { Limits::UDP };
    if let Some(n) = args.buf_size {
        if !(64..=65_535).contains(&n) {
            bail!("--buf-size {n}: expected 64 to 65535 bytes");
        }
        limits.buf_size = n;
    }
    let mut config = DeviceConfig::preset(&args.geometry.layout)?
        .algorithm(algorithm)
        .flash_params(args.geometry.align, erased)
        .keys(keys)
        .behaviour(parse_behaviour(&args.behaviour)?)
        .limits(limits)
        .clock(Clock::system());
    config.reset_delay_ms = args.reset_delay_ms;
    if let Some(p) = &args.primary {
        config = config.primary(read_file("primary image", p)?);
    }
    if let Some(p) = &args.secondary {
        config = config.secondary(read_file("secondary image", p)?);
    }
    if let Some(f) = &args.flash {
        config = config.flash_file(f);
    }
    Ok(config)
}

/// The device of a scenario file (`--scenario`, `--device`), on the system clock.
fn scenario_device_config(args: &Args, file: &Path) -> anyhow::Result<DeviceConfig> {
    let scenario = crate::scenario::Scenario::from_path(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = match &args.device {
        Some(name) => {
            scenario.all_devices().find(|d| d.name.as_deref() == Some(name.as_str())).with_context(|| {
                let names: Vec<&str> = scenario.all_devices().filter_map(|d| d.name.as_deref()).collect();
                format!(
                    "--device {name}: {} has no such device (it has: {})",
                    file.display(),
                    names.join(", ")
                )
            })?
        }
        None => scenario
            .all_devices()
            .next()
            .with_context(|| format!("{}: the scenario has no device", file.display()))?,
    };
    let mut config =
        scenario.device_config(spec).with_context(|| format!("{}: building the device", file.display()))?;
    if spec.limits.is_none() {
        config = config.limits(if args.udp.is_empty() { Limits::SERIAL } else { Limits::UDP });
    }
    if let Some(n) = args.buf_size {
        if !(64..=65_535).contains(&n) {
            bail!("--buf-size {n}: expected 64 to 65535 bytes");
        }
        let mut limits = config.server.limits;
        limits.buf_size = n;
        config = config.limits(limits);
    }
    if spec.reset_delay.is_none() {
        config.reset_delay_ms = args.reset_delay_ms;
    }
    if let Some(f) = &args.flash {
        config = config.flash_file(f);
    }
    Ok(config.clock(Clock::system()))
}

/// A tap that logs decoded traffic at debug level (raw bytes at trace).
fn log_tap() -> Tap {
    std::sync::Arc::new(|t: &Traffic<'_>| match t.event {
        WireEvent::Packet { direction, bytes, faults } => {
            if !tracing::enabled!(tracing::Level::DEBUG) {
                return;
            }
            let arrow = match direction {
                Direction::Request => "<-",
                Direction::Reply => "->",
            };
            let text = match AnyMessage::decode(bytes) {
                Ok((header, message, _)) => {
                    let mut s = match message {
                        AnyMessage::Request(r) => r.to_string(),
                        AnyMessage::Response(r) => r.to_string(),
                        AnyMessage::UnknownOp(_) => "unknown op".to_string(),
                    };
                    if s.len() > 300 {
                        let mut cut = 300;
                        while !s.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        s.truncate(cut);
                        s.push('…');
                    }
                    format!("{header}: {s}")
                }
                Err(e) => format!("{} bytes, undecodable: {e}", bytes.len()),
            };
            if faults.is_empty() {
                tracing::debug!(transport = t.transport, "{arrow} {text}");
            } else {
                let f: Vec<String> = faults.iter().map(ToString::to_string).collect();
                tracing::debug!(transport = t.transport, faults = %f.join(", "), "{arrow} {text}");
            }
            tracing::trace!(transport = t.transport, "{arrow} {}", hex::encode(bytes));
        }
        WireEvent::Discarded { bytes, why } => {
            tracing::debug!(transport = t.transport, "discarded {bytes} bytes: {why}");
        }
        WireEvent::Console(text) => tracing::debug!(transport = t.transport, "console: {}", text.trim_end()),
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.pty && args.pty_link.is_none() && args.udp.is_empty() {
        bail!("nothing to listen on: give --pty and/or --udp ADDR");
    }
    let config = device_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args, config))
}

async fn serve(args: Args, config: DeviceConfig) -> anyhow::Result<ExitCode> {
    let device = config.build().context("building the device")?;
    tracing::info!("device: {} ({})", device.state_name(), args.geometry.layout);
    for event in device.events() {
        tracing::debug!("{event}");
    }
    let shared = SharedDevice::new(device);
    shared.set_tap(Some(log_tap()));
    let _timers = shared.spawn_timers();
    let _boot_log = tokio::spawn(log_boots(shared.clone()));

    let faults = FaultPlan { rules: args.faults.clone(), seed: args.fault_seed, ..FaultPlan::default() };
    for rule in &faults.rules {
        tracing::info!("fault on every transport: {} on {:?}", rule.kind, rule.trigger);
    }
    let mut out = String::new();
    let mut ptys = Vec::new();
    if args.pty || args.pty_link.is_some() {
        let pty = PtyTransport::open(
            &shared,
            PtyConfig {
                baud: args.baud,
                link: args.pty_link.clone(),
                console: !args.no_banner,
                rx_line_len: args.uart_rx_buf,
                framing: if args.raw_uart {
                    SerialFraming::Raw {
                        input_timeout_ms: (args.raw_input_timeout_ms > 0)
                            .then_some(args.raw_input_timeout_ms),
                    }
                } else {
                    SerialFraming::Console
                },
                faults: faults.clone(),
                ..PtyConfig::default()
            },
        )
        .context("opening the PTY")?;
        out.push_str(&format!("pty {}\n", pty.path().display()));
        if let Some(link) = pty.link() {
            out.push_str(&format!("pty-link {}\n", link.display()));
        }
        ptys.push(pty);
    }
    let mut udps = Vec::new();
    for addr in &args.udp {
        let config = UdpConfig { bind: *addr, faults: faults.clone() };
        let udp = UdpTransport::bind(&shared, config).await?;
        out.push_str(&format!("udp {}\n", udp.local_addr()));
        udps.push(udp);
    }
    // Handle the signals before saying `ready`, so a script may stop us as soon as it reads it.
    let shutdown = shutdown_signals()?;
    out.push_str("ready\n");
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).context("writing the endpoints")?;
    stdout.flush().context("writing the endpoints")?;
    drop(stdout);

    shutdown.wait().await?;
    tracing::info!("shutting down");
    drop(udps);
    drop(ptys);
    let state = shared.with(|d| {
        let saved = d.save();
        (saved, d.state_name(), d.boot_count())
    });
    state.0.context("saving the flash file")?;
    if let Some(f) = &args.flash {
        eprintln!("brownout sim: stopped ({}, {} boots); flash saved to {}", state.1, state.2, f.display());
    } else {
        eprintln!("brownout sim: stopped ({}, {} boots)", state.1, state.2);
    }
    Ok(ExitCode::SUCCESS)
}

/// Log every reboot at info level: `boot N: running 2.0.0` (or why it does not run).
async fn log_boots(shared: SharedDevice) {
    let mut boots = shared.boots();
    while boots.changed().await.is_ok() {
        let (n, state) = shared.with(|d| {
            let state = match d.running() {
                Some(r) => format!("{} {}", d.state_name(), r.version),
                None => d.state_name().to_string(),
            };
            (d.boot_count(), state)
        });
        tracing::info!("boot {n}: {state}");
    }
}

/// Ctrl-C and SIGTERM, installed.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

fn shutdown_signals() -> anyhow::Result<ShutdownSignals> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(ShutdownSignals {
        term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
    })
}

impl ShutdownSignals {
    async fn wait(mut self) -> anyhow::Result<()> {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_parse() {
        assert_eq!(parse_behaviour("confirm").unwrap(), FirmwareBehaviour::ConfirmAtBoot);
        assert_eq!(parse_behaviour("hang").unwrap(), FirmwareBehaviour::HangUntilWatchdog);
        assert_eq!(
            parse_behaviour("crash-after:3").unwrap(),
            FirmwareBehaviour::CrashAfterBoots { boots: 3, confirm: false }
        );
        assert_eq!(
            parse_behaviour("crash-after:2:confirm").unwrap(),
            FirmwareBehaviour::CrashAfterBoots { boots: 2, confirm: true }
        );
        assert!(parse_behaviour("crash-after:").is_err());
        assert!(parse_behaviour("sleep").is_err());
    }
}

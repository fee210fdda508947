//! Shell group (9), as Zephyr's `shell_mgmt` answers (reference `smp-protocol.md` §9).
//!
//! | id | command | here |
//! |---|---|---|
//! | 0 | exec (W) | `{"argv": [...]}` → `{"o": output, "ret": code}` |
//!
//! Like Zephyr, the handler looks for the first key named `argv`, joins its text elements
//! with single spaces (a non-text element ends the list), and runs the line on a dummy shell
//! backend whose output is captured: line endings come out as `"\r\n"` (the dummy backend's
//! `OLF_CRLF` flag) and the output is cut to `output_buf_size − 1` bytes. A line that would
//! reach `cmd_buff_size` bytes → SHELL error 2 (COMMAND_TOO_LONG); no text at all → error 3
//! (EMPTY_COMMAND); no `argv` array → `{"rc": 3}`.
//!
//! The line is split into words again (double quotes group words). Built-in commands:
//! `help`, `echo ...`, `kernel version`, `kernel uptime`, `device list`, `mcuboot` (the
//! swap state of every slot, like Zephyr's `mcuboot` shell command). Commands declared in
//! [`ShellOptions::commands`] (from Rust or a scenario) come first. Anything else prints
//! `"<cmd>: command not found"` and returns -8 (`-ENOEXEC`).

use mcuboot::trailer::{self, FlagState, MagicState, SwapType};
use smp::cbor::Value;
use smp::error::ShellErr;
use smp::header::Group;

use super::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, ServerConfig};
use crate::device::Device;

/// A command the simulated firmware's shell knows, declared as data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellCommand {
    /// The words that select it (`["app", "status"]`); the command matches a line whose first
    /// words are these. Further words are its arguments.
    pub words: Vec<String>,
    /// What it prints (use `\n` for line ends; `{args}` is replaced by the arguments joined
    /// with spaces).
    pub output: String,
    /// Its return code.
    pub ret: i32,
}

/// Shell group options (Kconfig).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOptions {
    /// `CONFIG_SHELL_CMD_BUFF_SIZE` (256).
    pub cmd_buff_size: usize,
    /// `CONFIG_SHELL_BACKEND_DUMMY_BUF_SIZE` (300): the captured output keeps one byte less.
    pub output_buf_size: usize,
    /// `CONFIG_MCUMGR_GRP_SHELL_LEGACY_RC_RETURN_CODE`: the code is sent as `"rc"`.
    pub legacy_rc_key: bool,
    /// User commands, looked up before the built-in ones.
    pub commands: Vec<ShellCommand>,
}

impl Default for ShellOptions {
    fn default() -> ShellOptions {
        ShellOptions { cmd_buff_size: 256, output_buf_size: 300, legacy_rc_key: false, commands: Vec::new() }
    }
}

/// The shell group's handler table.
pub fn group(_config: &ServerConfig) -> GroupDef {
    GroupDef {
        group: Group::Shell,
        name: Some("shell mgmt"),
        commands: vec![CommandDef { id: 0, name: "exec", read: None, write: Some(exec) }],
    }
}

/// `-ENOEXEC`.
pub const ENOEXEC: i32 = -8;

/// Compose the command line from a request body the way `shell_mgmt_exec` does.
fn compose(body: &Value, limit: usize) -> Result<String, HandlerError> {
    let Value::Map(entries) = body else { return Err(super::EINVAL) };
    // The first text key "argv"; a non-text key before it ends the search with an error.
    let mut argv = None;
    for (k, v) in entries {
        match k {
            Value::Text(t) if t == "argv" => {
                argv = Some(v);
                break;
            }
            Value::Text(_) => {}
            _ => return Err(super::EINVAL),
        }
    }
    let Some(Value::Array(items)) = argv else { return Err(super::EINVAL) };
    let mut line = String::new();
    for item in items {
        let Value::Text(word) = item else { break };
        if line.len() + word.len() >= limit {
            return Err(HandlerError::group(ShellErr::CommandTooLong.code()));
        }
        line.push_str(word);
        line.push(' ');
    }
    if line.is_empty() {
        return Err(HandlerError::group(ShellErr::EmptyCommand.code()));
    }
    line.pop();
    Ok(line)
}

/// Split a line into words: whitespace separates, double quotes group.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// Run one command line on the simulated shell: (output with `\n` line ends, return code).
pub fn run(dev: &mut Device, line: &str) -> (String, i32) {
    let words = split_words(line);
    let Some(first) = words.first() else { return (String::new(), 0) };
    let user = dev.server_config().shell.commands.iter().find(|c| {
        !c.words.is_empty() && words.len() >= c.words.len() && c.words.iter().zip(&words).all(|(a, b)| a == b)
    });
    if let Some(c) = user {
        let args = words[c.words.len()..].join(" ");
        return (c.output.replace("{args}", &args), c.ret);
    }
    let sub = words.get(1).map(String::as_str);
    match (first.as_str(), sub) {
        ("help", _) => {
            let mut o = String::from("Available commands:\n");
            for name in ["device", "echo", "help", "kernel", "mcuboot"] {
                o.push_str(&format!("  {name}\n"));
            }
            for c in &dev.server_config().shell.commands {
                o.push_str(&format!("  {}\n", c.words.join(" ")));
            }
            (o, 0)
        }
        ("echo", _) => (format!("{}\n", words[1..].join(" ")), 0),
        ("kernel", Some("version")) => {
            (format!("Zephyr version {}\n", dev.server_config().info.kernel_version), 0)
        }
        ("kernel", Some("uptime")) => (format!("Uptime: {} ms\n", dev.uptime_ms()), 0),
        ("kernel", Some(other)) => (format!("kernel: unknown parameter: {other}\n"), ENOEXEC),
        ("kernel", None) => ("kernel: missing subcommand\n".into(), ENOEXEC),
        ("device", Some("list")) => {
            let mut o = String::from("devices:\n");
            for (i, _) in dev.map().devices.iter().enumerate() {
                o.push_str(&format!("- flash-controller@{i} (READY)\n"));
            }
            o.push_str("- uart@40002000 (READY)\n");
            (o, 0)
        }
        ("device", Some(other)) => (format!("device: unknown parameter: {other}\n"), ENOEXEC),
        ("device", None) => ("device: missing subcommand\n".into(), ENOEXEC),
        ("mcuboot", None) => (mcuboot_state(dev), 0),
        (cmd, _) => (format!("{cmd}: command not found\n"), ENOEXEC),
    }
}

fn flag(f: FlagState) -> &'static str {
    match f {
        FlagState::Set => "set",
        FlagState::Unset => "unset",
        FlagState::Bad => "bad",
    }
}

/// The `mcuboot` shell command: swap type, confirmation and every slot's trailer.
fn mcuboot_state(dev: &mut Device) -> String {
    let layout = *dev.trailer_layout();
    let map = dev.map().clone();
    let mut o = String::new();
    for (image, slots) in map.images.iter().enumerate() {
        let swap = trailer::read_swap_state(dev.flash_mut(), &layout, slots.secondary)
            .map(|s| s.swap_type)
            .unwrap_or(SwapType::None);
        let confirmed = trailer::read_swap_state(dev.flash_mut(), &layout, slots.primary)
            .map(|s| s.image_ok == FlagState::Set)
            .unwrap_or(false);
        o.push_str(&format!("swap type: {}\n", swap_name(swap)));
        o.push_str(&format!("confirmed: {}\n", u8::from(confirmed)));
        for (slot, area) in [(0u8, slots.primary), (1u8, slots.secondary)] {
            o.push_str(&format!(
                "\n{} area ({}):\n",
                if slot == 0 { "primary" } else { "secondary" },
                image * 2 + slot as usize + 1
            ));
            match super::image::read_slot_image(dev, image as u8, slot) {
                Some(img) => {
                    o.push_str(&format!("  version: {}\n", img.header.version));
                    o.push_str(&format!("  image size: {}\n", img.header.img_size));
                }
                None => o.push_str("  failed to read image header\n"),
            }
            if let Ok(s) = trailer::read_swap_state(dev.flash_mut(), &layout, area) {
                let magic = match s.magic {
                    MagicState::Good => "good",
                    MagicState::Unset => "unset",
                    MagicState::Bad => "bad",
                };
                o.push_str(&format!("  magic: {magic}\n"));
                o.push_str(&format!("  swap type: {}\n", swap_name(s.swap_type)));
                o.push_str(&format!("  copy done: {}\n", flag(s.copy_done)));
                o.push_str(&format!("  image ok: {}\n", flag(s.image_ok)));
            }
        }
    }
    o
}

fn swap_name(s: SwapType) -> &'static str {
    match s {
        SwapType::None => "none",
        SwapType::Test => "test",
        SwapType::Perm => "perm",
        SwapType::Revert => "revert",
        SwapType::Fail => "fail",
        SwapType::Panic => "panic",
    }
}

/// Exec: `{"argv": [...]}` → `{"o": output, "ret": code}`.
pub fn exec(ctx: &mut Ctx<'_>) -> HandlerResult {
    let body = ctx.body_value().ok_or(super::EINVAL)?;
    let opts = ctx.dev.server_config().shell.clone();
    let line = compose(&body, opts.cmd_buff_size)?;
    let (out, ret) = run(ctx.dev, &line);
    // The dummy backend turns "\n" into "\r\n" and keeps at most buf_size - 1 bytes.
    let mut o = out.replace('\n', "\r\n");
    let keep = opts.output_buf_size.saturating_sub(1);
    if o.len() > keep {
        let mut cut = keep;
        while !o.is_char_boundary(cut) {
            cut -= 1;
        }
        o.truncate(cut);
    }
    let key = if opts.legacy_rc_key { "rc" } else { "ret" };
    Ok(Value::Map(vec![(Value::text("o"), Value::text(o)), (Value::text(key), Value::from(i64::from(ret)))]))
}

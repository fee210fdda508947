//! `brownout`: a thin binary over the harness library.

use clap::{Parser, Subcommand};

/// Hardware-in-the-loop test and simulation for firmware updates over MCUmgr/SMP with MCUboot.
#[derive(Debug, Parser)]
#[command(name = "brownout", version, about, long_about = None)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace), given before the subcommand. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dissect SMP traffic: hex bytes or serial console lines, from arguments, a file or stdin.
    Decode(harness::cli::decode::Args),
    /// Make, sign, verify and inspect MCUboot images (imgtool-compatible).
    Image(harness::cli::image::Args),
    /// Cut power at every flash operation of an upgrade and a revert, and check what survives.
    Sweep(harness::cli::sweep::Args),
    /// Run a simulated board (MCUboot + SMP server) on a PTY and/or UDP until Ctrl-C.
    Sim(harness::cli::sim::Args),
    /// Talk to an SMP device (a `brownout sim` or a board) over UDP or a serial port / PTY.
    Client(Box<harness::cli::client::Args>),
    /// Check scenario files for mistakes without running them; `--schema` prints their JSON Schema.
    Check(harness::cli::check::Args),
    /// Run scenario files against the in-process simulator; JUnit/JSON reports for CI.
    Run(harness::cli::run::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<std::process::ExitCode> {
    match command {
        Command::Decode(args) => harness::cli::decode::run(args),
        Command::Image(args) => harness::cli::image::run(args),
        Command::Sweep(args) => harness::cli::sweep::run(args),
        Command::Sim(args) => harness::cli::sim::run(args),
        Command::Client(args) => harness::cli::client::run(*args),
        Command::Check(args) => harness::cli::check::run(args),
        Command::Run(args) => harness::cli::run::run(args),
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

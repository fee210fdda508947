//! One module per `brownout` subcommand. `main.rs` only parses arguments and dispatches here.

pub mod check;
pub mod client;
pub mod decode;
pub mod image;
pub mod run;
pub mod sim;
pub mod sweep;

//! MCUboot, in Rust, for simulation: the image format, the image trailer, the boot decision
//! table and the swap algorithms, over a [`flash::Flash`] trait. No I/O.
//!
//! Reference: `shared/reference/mcuboot.md`. Where MCUboot's documentation and its C source
//! disagree, this crate follows the source.

pub mod boot;
pub mod flash;
pub mod image;
pub mod layout;
pub mod trailer;

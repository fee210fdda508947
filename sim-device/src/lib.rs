//! The simulated device: emulated NOR flash with fault injection, the MCUboot bootloader, the
//! SMP server, and the transports that expose it.

pub mod device;
pub mod firmware;
pub mod flash;
pub mod server;
pub mod sweep;
pub mod transport;

//! The MCUmgr Simple Management Protocol (SMP) wire format, as Zephyr speaks it.
//!
//! No I/O and no async: bytes in, typed values out, and back. Parsing (bytes to a header and a
//! CBOR value tree) is kept apart from meaning (a value tree to a typed request or response of a
//! group's command), in the manner of smoltcp's `wire` modules.

pub mod cbor;
pub mod error;
pub mod groups;
pub mod header;
pub mod message;
pub mod serial;
pub mod udp;

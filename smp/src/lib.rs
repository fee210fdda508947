//! The MCUmgr Simple Management Protocol (SMP) wire format, as Zephyr speaks it.
//!
//! No I/O and no async: bytes in, typed values out, and back.

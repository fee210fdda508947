//! Zephyr basic management group (63): erase the storage partition.
//!
//! The only command, erase storage (63/0 W), has an empty request and an empty reply, both
//! [`super::Empty`]. Its error codes are [`crate::error::ZephyrBasicErr`] (note the v1
//! translation quirk documented there).

pub use super::Empty as EraseStorageRequest;
pub use super::Empty as EraseStorageResponse;

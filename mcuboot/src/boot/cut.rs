//! Flash wrappers for tests and sweeps: count operations, cut power before operation `n`
//! (op-atomic, like MCUboot's simulator), and record every operation.
//!
//! The fault-injecting emulated flash (torn writes, partial erases) lives in `sim-device`;
//! these wrappers are the minimum needed to reproduce MCUboot's own power-failure tests.

use crate::flash::{DeviceId, Flash, FlashError, Geometry};

/// One recorded flash operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashOp {
    Write { dev: DeviceId, offset: u32, len: u32, first: u8 },
    Erase { dev: DeviceId, offset: u32, len: u32 },
}

/// Wraps a flash: counts write and erase operations, optionally cuts power before operation
/// number `cut_at` (1-based: `Some(1)` fails the very first operation, which is not carried
/// out), and optionally records every operation.
#[derive(Debug)]
pub struct CutFlash<F> {
    pub inner: F,
    /// Operations carried out so far.
    pub ops: u64,
    /// Fail (without performing it) the operation with this 1-based number.
    pub cut_at: Option<u64>,
    /// When `Some`, every performed operation is appended.
    pub log: Option<Vec<FlashOp>>,
}

/// A [`CutFlash`] used only to count operations.
pub type CountingFlash<F> = CutFlash<F>;

impl<F: Flash> CutFlash<F> {
    /// Count only.
    pub fn new(inner: F) -> CutFlash<F> {
        CutFlash { inner, ops: 0, cut_at: None, log: None }
    }

    /// Count and record.
    pub fn recording(inner: F) -> CutFlash<F> {
        CutFlash { inner, ops: 0, cut_at: None, log: Some(Vec::new()) }
    }

    /// Cut power before operation `n` (1-based) from now on, counting from the current total.
    pub fn cut_after(&mut self, more_ops: u64) {
        self.cut_at = Some(self.ops + more_ops + 1);
    }

    fn gate(&mut self) -> Result<(), FlashError> {
        let n = self.ops + 1;
        if self.cut_at == Some(n) {
            self.cut_at = None;
            return Err(FlashError::PowerLoss { op: n });
        }
        Ok(())
    }
}

impl<F: Flash> Flash for CutFlash<F> {
    fn geometry(&self, dev: DeviceId) -> Result<&Geometry, FlashError> {
        self.inner.geometry(dev)
    }

    fn read(&mut self, dev: DeviceId, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.inner.read(dev, offset, buf)
    }

    fn write(&mut self, dev: DeviceId, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.gate()?;
        self.inner.write(dev, offset, data)?;
        self.ops += 1;
        if let Some(log) = &mut self.log {
            log.push(FlashOp::Write {
                dev,
                offset,
                len: data.len() as u32,
                first: data.first().copied().unwrap_or(0),
            });
        }
        Ok(())
    }

    fn erase(&mut self, dev: DeviceId, offset: u32, len: u32) -> Result<(), FlashError> {
        self.gate()?;
        self.inner.erase(dev, offset, len)?;
        self.ops += 1;
        if let Some(log) = &mut self.log {
            log.push(FlashOp::Erase { dev, offset, len });
        }
        Ok(())
    }
}

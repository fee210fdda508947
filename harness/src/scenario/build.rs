//! From a scenario's `device:` section to a simulator configuration
//! ([`sim_device::device::DeviceConfig`]): the layout preset, MCUboot's mode and build options,
//! flash parameters, keys and slot images read from files, behaviours and SMP limits.

use std::path::{Path, PathBuf};

use mcuboot::image::{KeyError, PublicKey};
use sim_device::device::{Behaviours, DeviceConfig, DeviceError};

use super::{DeviceSpec, DowngradePrevention, Scenario};

/// Largest image or key file read (bigger than any slot of the presets).
pub const MAX_DEVICE_FILE: u64 = 16 << 20;

/// Why a device section could not become a simulator configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An image or key file could not be read.
    #[error("{what} {path}: cannot read: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file larger than any slot.
    #[error("{what} {path}: {len} bytes is more than the {limit}-byte limit")]
    TooLarge { what: &'static str, path: PathBuf, len: u64, limit: u64 },
    /// A key file that is not a PEM key MCUboot can use.
    #[error("key {path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    /// A key file that is not text.
    #[error("key {path}: not a PEM text file")]
    KeyNotText { path: PathBuf },
    /// A value the simulator does not accept (validation should have caught it).
    #[error("{0}")]
    Value(String),
    /// The simulator refused the configuration.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

impl Scenario {
    /// The simulator configuration of `spec` (one of this scenario's devices), with its files
    /// read relative to the scenario. `DeviceConfig::build` then makes and boots the device.
    pub fn device_config(&self, spec: &DeviceSpec) -> Result<DeviceConfig, BuildError> {
        let mut config = DeviceConfig::preset(&spec.layout)?.algorithm(spec.mode.algorithm());
        if spec.write_size.is_some() || spec.erased_value.is_some() {
            let (ws, ev) = config.map.devices.first().map_or((8, 0xff), |g| (g.write_size, g.erased_value));
            let ws = match spec.write_size {
                Some(w) => u32::try_from(w.bytes)
                    .map_err(|_| BuildError::Value(format!("write_size {}", w.bytes)))?,
                None => ws,
            };
            let ev = match spec.erased_value {
                Some(e) => u8::try_from(e.bytes)
                    .map_err(|_| BuildError::Value(format!("erased_value {}", e.bytes)))?,
                None => ev,
            };
            config = config.flash_params(ws, ev);
        }
        let mut keys = Vec::new();
        for path in spec.key_files() {
            let path = self.resolve(path);
            let bytes = read_limited("key", &path)?;
            let text = String::from_utf8(bytes).map_err(|_| BuildError::KeyNotText { path: path.clone() })?;
            keys.push(PublicKey::from_pem(&text).map_err(|source| BuildError::Key { path, source })?);
        }
        config = config.keys(keys).downgrade_prevention(match spec.downgrade_prevention {
            DowngradePrevention::Off => mcuboot::boot::DowngradePrevention::Off,
            DowngradePrevention::Version => mcuboot::boot::DowngradePrevention::Version,
            DowngradePrevention::SecurityCounter => mcuboot::boot::DowngradePrevention::SecurityCounter,
        });
        if let Some(n) = spec.max_img_sectors {
            config.boot.max_img_sectors = n;
        }
        if let Some(p) = &spec.primary {
            config = config.primary(read_limited("image", &self.resolve(p))?);
        }
        if let Some(p) = &spec.secondary {
            config = config.secondary(read_limited("image", &self.resolve(p))?);
        }
        for s in &spec.images {
            config = config.image(s.image, s.slot.index(), read_limited("image", &self.resolve(&s.file))?);
        }
        let mut behaviours = Behaviours::all(spec.behaviour.to_firmware());
        for rule in &spec.behaviours {
            let b = rule.behaviour.to_firmware();
            behaviours = match (&rule.version, &rule.hash) {
                (Some(v), _) => behaviours.version(v.0, b),
                (None, Some(h)) => behaviours.hash(&h.0, b),
                (None, None) => {
                    return Err(BuildError::Value("a behaviour rule without version or hash".into()));
                }
            };
        }
        config = config.behaviours(behaviours);
        if let Some(l) = spec.limits {
            let mut limits = config.server.limits;
            let to_u32 = |what: &str, v: u64| {
                u32::try_from(v).map_err(|_| BuildError::Value(format!("limits.{what} {v}")))
            };
            if let Some(b) = l.buf_size {
                limits.buf_size = to_u32("buf_size", b.bytes)?;
            }
            if let Some(c) = l.buf_count {
                limits.buf_count = c;
            }
            if let Some(m) = l.mtu {
                limits.mtu = to_u32("mtu", m.bytes)?;
            }
            config = config.limits(limits);
        }
        if let Some(f) = &spec.flash_file {
            config = config.flash_file(self.resolve(f));
        }
        if let Some(d) = spec.reset_delay {
            config.reset_delay_ms = d.ms;
        }
        if let Some(w) = spec.watchdog {
            config.watchdog_ms = w.ms;
        }
        if let Some(n) = spec.max_crash_boots {
            config.max_crash_boots = n;
        }
        Ok(config)
    }
}

/// A whole file, refusing files over [`MAX_DEVICE_FILE`].
fn read_limited(what: &'static str, path: &Path) -> Result<Vec<u8>, BuildError> {
    let err = |source| BuildError::Read { what, path: path.to_path_buf(), source };
    let len = std::fs::metadata(path).map_err(err)?.len();
    if len > MAX_DEVICE_FILE {
        return Err(BuildError::TooLarge { what, path: path.to_path_buf(), len, limit: MAX_DEVICE_FILE });
    }
    std::fs::read(path).map_err(err)
}

impl super::TransportFaultStep {
    /// The simulator's transport fault rule for this step (validation guarantees exactly one
    /// trigger, and `delay` with kind `delay`).
    pub fn rule(&self) -> Result<sim_device::transport::FaultRule, BuildError> {
        use super::TransportFaultKind as K;
        use sim_device::transport::{FaultKind, FaultRule, Trigger};
        let kind = match self.kind {
            K::Drop => FaultKind::Drop,
            K::Duplicate => FaultKind::Duplicate,
            K::Delay => FaultKind::Delay {
                ms: self.delay.ok_or_else(|| BuildError::Value("kind `delay` without `delay`".into()))?.ms,
            },
            K::Reorder => FaultKind::Reorder,
            K::CorruptCrc => FaultKind::CorruptCrc,
            K::Truncate => FaultKind::TruncateLine,
            K::WrongSeq => FaultKind::WrongSeq,
        };
        let trigger = match (self.probability, self.nth, self.every) {
            (Some(p), None, None) => Trigger::Probability(p.fraction()),
            (None, Some(n), None) => Trigger::Nth(n),
            (None, None, Some(n)) => Trigger::EveryNth(n),
            _ => return Err(BuildError::Value("give exactly one of probability, nth, every".into())),
        };
        Ok(FaultRule { kind, trigger })
    }
}

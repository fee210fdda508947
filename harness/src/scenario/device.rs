//! The `device:` section: which simulated board a scenario starts from.
//!
//! Everything here maps onto [`sim_device::device::DeviceConfig`]: a flash layout preset
//! ([`mcuboot::layout::FlashMap::PRESETS`]), the MCUboot upgrade mode, flash parameters,
//! verification keys, the images in the slots at power-on, and what each image's firmware does
//! once booted. On a real board the same section says what the board is expected to be; steps
//! a board cannot do are skipped by the runner with the reason.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::{Duration, Hex, Size, Version};

/// One device (a simulated board, or the description of a real one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// The device's name. Required in `devices:` (group scenarios name their members);
    /// optional for the single `device:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A flash layout preset: `k64f`, `k64f-multi` (two images), `stm32f4`, `nrf52840`,
    /// `nrf52840-spi`, `small-pages`.
    #[serde(default = "default_layout")]
    pub layout: String,
    /// MCUboot's upgrade mode.
    #[serde(default, alias = "algorithm")]
    pub mode: Mode,
    /// Flash write size (alignment, `BOOT_WRITE_SZ`): 1, 2, 4, 8, 16 or 32. Default: the
    /// layout's (8).
    #[serde(default, alias = "align", skip_serializing_if = "Option::is_none")]
    pub write_size: Option<Size>,
    /// The value of an erased flash byte: `0xff` (default) or `0x00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_value: Option<Size>,
    /// The public (or private) key MCUboot verifies images with (PEM file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Several verification keys (any of them may sign).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<PathBuf>,
    /// Image file in image 0's primary slot at power-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<PathBuf>,
    /// Image file in image 0's secondary slot at power-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<PathBuf>,
    /// More slot contents, for any image of the layout (two-image layouts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<SlotImage>,
    /// What every image's firmware does after boot unless a rule in `behaviours` matches.
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Per-image behaviour, by version or by image hash; the first matching rule wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub behaviours: Vec<BehaviourRule>,
    /// `MCUBOOT_DOWNGRADE_PREVENTION`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub downgrade_prevention: DowngradePrevention,
    /// `BOOT_MAX_IMG_SECTORS` (default 128; `small-pages` needs 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_img_sectors: Option<u32>,
    /// SMP buffer limits (as reported by `os params`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Keep the flash in this file across runs (created if missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_file: Option<PathBuf>,
    /// Modelled time from a reset request to the reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_delay: Option<Duration>,
    /// Modelled watchdog period (a hung image is reset after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<Duration>,
    /// Consecutive crashing boots before the device is reported as crash-looping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_crash_boots: Option<u32>,
}

fn default_layout() -> String {
    "k64f".to_string()
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Default for DeviceSpec {
    fn default() -> DeviceSpec {
        DeviceSpec {
            name: None,
            layout: default_layout(),
            mode: Mode::default(),
            write_size: None,
            erased_value: None,
            key: None,
            keys: Vec::new(),
            primary: None,
            secondary: None,
            images: Vec::new(),
            behaviour: Behaviour::default(),
            behaviours: Vec::new(),
            downgrade_prevention: DowngradePrevention::default(),
            max_img_sectors: None,
            limits: None,
            flash_file: None,
            reset_delay: None,
            watchdog: None,
            max_crash_boots: None,
        }
    }
}

impl DeviceSpec {
    /// Every image file the device section names (keys excluded), with what it is for.
    pub fn image_files(&self) -> Vec<(String, &PathBuf)> {
        let mut files = Vec::new();
        if let Some(p) = &self.primary {
            files.push(("primary".to_string(), p));
        }
        if let Some(p) = &self.secondary {
            files.push(("secondary".to_string(), p));
        }
        for (i, s) in self.images.iter().enumerate() {
            files.push((format!("images[{i}]"), &s.file));
        }
        files
    }

    /// Every key file.
    pub fn key_files(&self) -> Vec<&PathBuf> {
        self.key.iter().chain(self.keys.iter()).collect()
    }
}

/// MCUboot's upgrade mode (`MCUBOOT_SWAP_USING_SCRATCH`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Copy the secondary over the primary; no revert.
    OverwriteOnly,
    /// Swap through the scratch area (MCUboot's default).
    #[default]
    SwapScratch,
    /// Shift the primary up one sector, then swap.
    SwapMove,
    /// The update sits one sector into the secondary slot.
    SwapOffset,
}

impl Mode {
    /// The swap algorithm this mode selects.
    pub fn algorithm(self) -> mcuboot::boot::Algorithm {
        use mcuboot::boot::Algorithm;
        match self {
            Mode::OverwriteOnly => Algorithm::OverwriteOnly,
            Mode::SwapScratch => Algorithm::SwapScratch,
            Mode::SwapMove => Algorithm::SwapMove,
            Mode::SwapOffset => Algorithm::SwapOffset,
        }
    }

    /// True if a test image that does not confirm itself is reverted (every mode but
    /// overwrite-only).
    pub fn can_revert(self) -> bool {
        self != Mode::OverwriteOnly
    }
}

/// `MCUBOOT_DOWNGRADE_PREVENTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DowngradePrevention {
    /// Any version may replace any other.
    #[default]
    Off,
    /// Refuse an upgrade with a lower version.
    Version,
    /// Refuse an upgrade with a lower security counter.
    SecurityCounter,
}

/// A slot's content at power-on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotImage {
    /// Image number (0 for the first image; 1 exists on two-image layouts).
    #[serde(default)]
    pub image: u8,
    /// Slot within the image.
    pub slot: SlotName,
    /// The image file.
    pub file: PathBuf,
}

/// A slot of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SlotName {
    /// Slot 0, where the image runs from.
    Primary,
    /// Slot 1, where updates are uploaded.
    Secondary,
}

impl SlotName {
    /// 0 or 1.
    pub fn index(self) -> u8 {
        match self {
            SlotName::Primary => 0,
            SlotName::Secondary => 1,
        }
    }
}

/// What an image's firmware does once MCUboot has started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Starts and confirms itself at boot.
    Confirm,
    /// Starts and waits for a client to confirm it (Zephyr's `smp_svr`).
    #[default]
    Wait,
    /// Crashes at boot (the bootloader runs again).
    Crash,
    /// Hangs until the watchdog resets it.
    Hang,
    /// Healthy for `boots` boots, then crashes at every later boot.
    #[serde(rename_all = "snake_case")]
    CrashAfter {
        /// Healthy boots before the first crash.
        boots: u32,
        /// Confirm itself during the healthy boots.
        #[serde(default)]
        confirm: bool,
    },
    /// Runs the image's own Cortex-M code (it decides: confirm, reboot, fault or hang; its
    /// console output is kept). Needs brownout built with the `firmware` feature
    /// (`--features firmware`); without it, scenarios using it are skipped.
    Run,
}

impl Behaviour {
    /// The simulator's behaviour value.
    pub fn to_firmware(self) -> sim_device::device::behaviour::FirmwareBehaviour {
        use sim_device::device::behaviour::FirmwareBehaviour as F;
        match self {
            Behaviour::Confirm => F::ConfirmAtBoot,
            Behaviour::Wait => F::WaitForConfirm,
            Behaviour::Crash => F::CrashAtBoot,
            Behaviour::Hang => F::HangUntilWatchdog,
            Behaviour::CrashAfter { boots, confirm } => F::CrashAfterBoots { boots, confirm },
            Behaviour::Run => F::Execute,
        }
    }
}

/// "Images of this version (or hash) behave like this."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BehaviourRule {
    /// Match images of exactly this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// Match the image with this SHA-256 image hash (all 32 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hex>,
    /// What matched images do.
    pub behaviour: Behaviour,
}

/// SMP buffer limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// `NETBUF_SIZE`: the largest SMP message, header included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buf_size: Option<Size>,
    /// `NETBUF_COUNT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buf_count: Option<u32>,
    /// Transport MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<Size>,
}

//! What the firmware does once MCUboot has started it.
//!
//! A real board runs whatever image sits in the primary slot. The simulator has no CPU (unless
//! the `firmware` feature runs one for [`FirmwareBehaviour::Execute`]), so each image's
//! behaviour after boot is declared:
//! [`FirmwareBehaviour`], chosen per image by version or by hash with [`Behaviours`], with a
//! default for every other image. This is what lets a scenario say "version 2.0.0 crashes at
//! boot" and watch MCUboot revert it.

use mcuboot::image::ImageVersion;

/// What the application in the primary slot does after the bootloader jumps to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirmwareBehaviour {
    /// Starts, marks itself confirmed (`boot_write_img_confirmed()`), serves SMP.
    ConfirmAtBoot,
    /// Starts and serves SMP; waits for the client to confirm it (Zephyr's `smp_svr`).
    #[default]
    WaitForConfirm,
    /// Faults before serving anything: the CPU resets straight back into the bootloader.
    CrashAtBoot,
    /// Never serves SMP and stops feeding the watchdog, which resets the CPU after
    /// `watchdog_ms` of modelled time.
    HangUntilWatchdog,
    /// Healthy for its first `boots` boots (confirming itself when `confirm` is set), then
    /// crashes at every later boot.
    CrashAfterBoots {
        /// Healthy boots before the first crash.
        boots: u32,
        /// Confirm itself during the healthy boots.
        confirm: bool,
    },
    /// Runs the image's own Cortex-M code, which decides by itself: confirm, reboot, fault or
    /// hang ([`crate::firmware`]). Needs the cargo feature `firmware`; without it the device
    /// halts with [`crate::firmware::NOT_BUILT`].
    Execute,
}

/// Which images a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageMatch {
    /// Images with exactly this version (build number included).
    Version(ImageVersion),
    /// Images whose SHA-256 image hash (the TLV hash shown by `image list`) is this.
    Hash(Vec<u8>),
}

impl ImageMatch {
    /// True if an image with `version` and `hash` is matched.
    pub fn matches(&self, version: &ImageVersion, hash: &[u8]) -> bool {
        match self {
            ImageMatch::Version(v) => v == version,
            ImageMatch::Hash(h) => h.as_slice() == hash,
        }
    }
}

/// The behaviour of every image: rules tried in order, then the default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Behaviours {
    /// `(which images, what they do)`; the first matching rule wins.
    pub rules: Vec<(ImageMatch, FirmwareBehaviour)>,
    /// For images no rule matches.
    pub default: FirmwareBehaviour,
}

impl Behaviours {
    /// Every image behaves as `default`.
    pub fn all(default: FirmwareBehaviour) -> Behaviours {
        Behaviours { rules: Vec::new(), default }
    }

    /// Add a rule for images of `version`.
    pub fn version(mut self, version: ImageVersion, behaviour: FirmwareBehaviour) -> Behaviours {
        self.rules.push((ImageMatch::Version(version), behaviour));
        self
    }

    /// Add a rule for the image with `hash`.
    pub fn hash(mut self, hash: &[u8], behaviour: FirmwareBehaviour) -> Behaviours {
        self.rules.push((ImageMatch::Hash(hash.to_vec()), behaviour));
        self
    }

    /// The behaviour of an image.
    pub fn of(&self, version: &ImageVersion, hash: &[u8]) -> FirmwareBehaviour {
        self.rules.iter().find(|(m, _)| m.matches(version, hash)).map_or(self.default, |(_, b)| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_then_default() {
        let v2 = ImageVersion::new(2, 0, 0);
        let b = Behaviours::all(FirmwareBehaviour::ConfirmAtBoot)
            .hash(&[7; 32], FirmwareBehaviour::HangUntilWatchdog)
            .version(v2, FirmwareBehaviour::CrashAtBoot);
        assert_eq!(b.of(&v2, &[1; 32]), FirmwareBehaviour::CrashAtBoot);
        assert_eq!(b.of(&v2, &[7; 32]), FirmwareBehaviour::HangUntilWatchdog);
        assert_eq!(b.of(&ImageVersion::new(1, 0, 0), &[1; 32]), FirmwareBehaviour::ConfirmAtBoot);
    }
}

//! `struct image_version`: major.minor.revision+build, 8 bytes on flash.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// An image version as stored in the header (and in DEPENDENCY TLVs).
///
/// The derived `Ord` compares all four fields; MCUboot's default comparison ignores
/// `build_num`, see [`ImageVersion::cmp_ignoring_build`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageVersion {
    pub major: u8,
    pub minor: u8,
    pub revision: u16,
    pub build_num: u32,
}

/// A version string imgtool would not accept, or a part that does not fit its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {text:?}: {why} (expected maj[.min[.rev[+build]]], e.g. 1.2.3+4)")]
pub struct VersionParseError {
    pub text: String,
    pub why: &'static str,
}

impl ImageVersion {
    /// A version with `build_num` 0.
    pub const fn new(major: u8, minor: u8, revision: u16) -> ImageVersion {
        ImageVersion { major, minor, revision, build_num: 0 }
    }

    /// Decode the 8 on-flash bytes (`u8 u8 u16le u32le`).
    pub fn from_bytes(b: &[u8; 8]) -> ImageVersion {
        ImageVersion {
            major: b[0],
            minor: b[1],
            revision: u16::from_le_bytes([b[2], b[3]]),
            build_num: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encode as the 8 on-flash bytes.
    pub fn to_bytes(&self) -> [u8; 8] {
        let r = self.revision.to_le_bytes();
        let n = self.build_num.to_le_bytes();
        [self.major, self.minor, r[0], r[1], n[0], n[1], n[2], n[3]]
    }

    /// MCUboot's default `boot_compare_version`: major, minor, revision; build ignored.
    pub fn cmp_ignoring_build(&self, other: &ImageVersion) -> Ordering {
        (self.major, self.minor, self.revision).cmp(&(other.major, other.minor, other.revision))
    }

    /// The comparison with `MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER`: all four fields.
    pub fn cmp_with_build(&self, other: &ImageVersion) -> Ordering {
        self.cmp(other)
    }

    /// imgtool's `--security-counter auto`: `(major << 24) + (minor << 16) + revision`.
    pub fn auto_security_counter(&self) -> u32 {
        (u32::from(self.major) << 24) | (u32::from(self.minor) << 16) | u32::from(self.revision)
    }
}

/// Shown as Zephyr shows it: `1.2.3`, with `.build` appended only when it is not 0.
impl fmt::Display for ImageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)?;
        if self.build_num != 0 {
            write!(f, ".{}", self.build_num)?;
        }
        Ok(())
    }
}

/// Parses imgtool's `maj[.min[.rev[+build]]]`: decimal, no leading zeros, no sign, each part
/// within its field's range. Missing parts are 0.
impl FromStr for ImageVersion {
    type Err = VersionParseError;

    fn from_str(text: &str) -> Result<ImageVersion, VersionParseError> {
        let err = |why| VersionParseError { text: text.to_string(), why };
        let (main, build) = match text.split_once('+') {
            Some((m, b)) => (m, Some(b)),
            None => (text, None),
        };
        let parts: Vec<&str> = main.split('.').collect();
        if parts.len() > 3 {
            return Err(err("more than three dot-separated parts"));
        }
        if build.is_some() && parts.len() != 3 {
            return Err(err("+build needs all of major.minor.revision"));
        }
        let num = |s: &str| -> Result<u64, VersionParseError> {
            if s.is_empty() {
                return Err(err("empty part"));
            }
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err("parts must be decimal digits"));
            }
            if s.len() > 1 && s.starts_with('0') {
                return Err(err("leading zeros are not allowed"));
            }
            s.parse::<u64>().map_err(|_| err("number too large"))
        };
        let major = num(parts[0])?;
        let minor = parts.get(1).map(|s| num(s)).transpose()?.unwrap_or(0);
        let revision = parts.get(2).map(|s| num(s)).transpose()?.unwrap_or(0);
        let build_num = build.map(num).transpose()?.unwrap_or(0);
        Ok(ImageVersion {
            major: u8::try_from(major).map_err(|_| err("major does not fit in 8 bits"))?,
            minor: u8::try_from(minor).map_err(|_| err("minor does not fit in 8 bits"))?,
            revision: u16::try_from(revision).map_err(|_| err("revision does not fit in 16 bits"))?,
            build_num: u32::try_from(build_num).map_err(|_| err("build number does not fit in 32 bits"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ImageVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_imgtool_forms() {
        assert_eq!(v("1"), ImageVersion::new(1, 0, 0));
        assert_eq!(v("1.2"), ImageVersion::new(1, 2, 0));
        assert_eq!(v("1.2.3+4"), ImageVersion { major: 1, minor: 2, revision: 3, build_num: 4 });
        assert_eq!(v("255.255.65535+4294967295").to_bytes(), [255, 255, 255, 255, 255, 255, 255, 255]);
        assert_eq!(v("1.2.3+4").to_bytes(), [1, 2, 3, 0, 4, 0, 0, 0]);
    }

    #[test]
    fn rejects_what_imgtool_rejects() {
        for bad in [
            "",
            "1.",
            ".1",
            "01",
            "1.02",
            "1.2.3.4",
            "1+2",
            "1.2+3",
            "a",
            "-1",
            "256",
            "1.2.65536",
            "1.2.3+4294967296",
            " 1",
        ] {
            assert!(bad.parse::<ImageVersion>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn display_like_zephyr() {
        assert_eq!(v("1.2.3").to_string(), "1.2.3");
        assert_eq!(v("1.2.3+7").to_string(), "1.2.3.7");
        assert_eq!(v("0").to_string(), "0.0.0");
    }

    #[test]
    fn comparisons() {
        assert_eq!(v("1.2.3+9").cmp_ignoring_build(&v("1.2.3+1")), Ordering::Equal);
        assert_eq!(v("1.2.3+9").cmp_with_build(&v("1.2.3+1")), Ordering::Greater);
        assert_eq!(v("1.10.0").cmp_ignoring_build(&v("1.9.300")), Ordering::Greater);
        assert_eq!(v("1.2.3").auto_security_counter(), 0x0102_0003);
    }
}

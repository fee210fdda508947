//! Scalar values a scenario writes as text: durations, sizes, percentages, image versions,
//! hex strings and SMP error names.
//!
//! Each type parses its text while the YAML is read, so a bad value is reported at its own
//! line and column ("expected a duration such as `5s` or `250ms`, found `5 secs`"). Each
//! serializes back to a canonical text that parses to the same value, and describes itself in
//! the JSON Schema with a `pattern` editors can check as you type.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use mcuboot::image::ImageVersion;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Implements `Deserialize` (from a string, or also from an integer when `$int` says how),
/// `Serialize` (via `Display`) for a type with `FromStr<Err = String>` and `Display`.
macro_rules! text_value {
    ($ty:ty, $expecting:literal, int: $int:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$ty, E> {
                        let from_int = $int;
                        let value: Result<$ty, String> = from_int(n);
                        value.map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$ty, E> {
                        match u64::try_from(n) {
                            Ok(n) => self.visit_u64(n),
                            Err(_) => Err(E::custom(format!("{n} is negative; expected {}", $expecting))),
                        }
                    }
                    fn visit_f64<E: de::Error>(self, n: f64) -> Result<$ty, E> {
                        Err(E::custom(format!("found the number {n}; expected {} (quote it)", $expecting)))
                    }
                    fn visit_bool<E: de::Error>(self, b: bool) -> Result<$ty, E> {
                        Err(E::custom(format!("found `{b}`; expected {}", $expecting)))
                    }
                }
                d.deserialize_any(V)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

fn no_int<T>(what: &'static str) -> impl Fn(u64) -> Result<T, String> {
    move |n| Err(format!("found the bare number {n}; expected {what}"))
}

// ---------------------------------------------------------------------------------------------

/// A span of time, written with a unit: `250ms`, `5s`, `2m`, `1h`. Kept in milliseconds.
///
/// A bare number is refused, so `timeout: 5` cannot mean 5 ms to one reader and 5 s to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    /// Milliseconds.
    pub ms: u64,
}

impl Duration {
    /// A duration of `ms` milliseconds.
    pub const fn from_ms(ms: u64) -> Duration {
        Duration { ms }
    }

    /// As a [`std::time::Duration`].
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ms)
    }
}

const DURATION_UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)];

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Duration, String> {
        let bad = || {
            format!(
                "`{text}` is not a duration; expected a whole number and a unit: ms, s, m or h (e.g. `5s`, `250ms`)"
            )
        };
        let t = text.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = t.split_at(digits);
        let unit = unit.trim_start();
        if number.is_empty() {
            return Err(bad());
        }
        let scale = DURATION_UNITS.iter().find(|(u, _)| *u == unit).map(|(_, s)| *s).ok_or_else(bad)?;
        let n: u64 = number.parse().map_err(|_| bad())?;
        let ms = n.checked_mul(scale).ok_or_else(|| format!("`{text}` is too long a duration"))?;
        Ok(Duration { ms })
    }
}

impl fmt::Display for Duration {
    /// The largest unit that divides the value exactly (`0` is `0ms`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in DURATION_UNITS {
            if self.ms != 0 && self.ms.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.ms / scale);
            }
        }
        write!(f, "{}ms", self.ms)
    }
}

text_value!(Duration, "a duration such as `5s` or `250ms`", int: no_int("a duration with a unit, such as `5s` or `250ms`"));

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A whole number with a unit: ms, s, m or h (e.g. `5s`, `250ms`).",
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*(ms|s|m|h)\\s*$"
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// A number of bytes: `4096`, `0x10000`, `64KiB`, `1MiB`, `512B`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size {
    /// Bytes.
    pub bytes: u64,
}

impl Size {
    /// `bytes` bytes.
    pub const fn new(bytes: u64) -> Size {
        Size { bytes }
    }
}

const SIZE_UNITS: [(&str, u64); 4] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)];

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Size, String> {
        let bad = || {
            format!(
                "`{text}` is not a size; expected bytes as a number (`4096`, `0x1000`) or with a unit: B, KiB, MiB, GiB (e.g. `64KiB`)"
            )
        };
        let t = text.trim();
        if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            let hex = hex.replace('_', "");
            return u64::from_str_radix(&hex, 16).map(Size::new).map_err(|_| bad());
        }
        let digits = t.bytes().take_while(|c| c.is_ascii_digit() || *c == b'_').count();
        let (number, unit) = t.split_at(digits);
        let number = number.replace('_', "");
        if number.is_empty() {
            return Err(bad());
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        let unit = unit.trim_start();
        let scale = if unit.is_empty() {
            1
        } else {
            SIZE_UNITS.iter().find(|(u, _)| *u == unit).map(|(_, s)| *s).ok_or_else(bad)?
        };
        n.checked_mul(scale).map(Size::new).ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for Size {
    /// `64KiB` when a binary unit divides the value exactly, else the plain number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in &SIZE_UNITS[..3] {
            if self.bytes != 0 && self.bytes.is_multiple_of(*scale) {
                return write!(f, "{}{unit}", self.bytes / scale);
            }
        }
        write!(f, "{}", self.bytes)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.bytes < 1024 || !self.bytes.is_multiple_of(1024) {
            s.serialize_u64(self.bytes)
        } else {
            s.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as `4096`, `0x1000` or `64KiB`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Size, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Size, E> {
                Ok(Size::new(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Size, E> {
                u64::try_from(n)
                    .map(Size::new)
                    .map_err(|_| E::custom(format!("a size cannot be negative ({n})")))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes: a number (`4096`, `0x1000`) or a number with a unit B, KiB, MiB, GiB (`64KiB`).",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*(0[xX][0-9a-fA-F_]+|[0-9_]+\\s*(B|KiB|MiB|GiB)?)\\s*$" }
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// A percentage from `0%` to `100%`, fractions allowed (`12.5%`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// `value` percent, if it lies in 0..=100.
    pub fn new(value: f64) -> Option<Percent> {
        (0.0..=100.0).contains(&value).then_some(Percent(value))
    }

    /// The percentage (0..=100).
    pub fn value(self) -> f64 {
        self.0
    }

    /// As a fraction (0.0..=1.0), e.g. a probability.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> Result<Percent, String> {
        let bad = || {
            format!(
                "`{text}` is not a percentage; expected a number from 0 to 100 followed by `%` (e.g. `50%`)"
            )
        };
        let number = text.trim().strip_suffix('%').ok_or_else(bad)?.trim_end();
        if number.is_empty() || !number.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return Err(bad());
        }
        number.parse::<f64>().ok().and_then(Percent::new).ok_or_else(bad)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

text_value!(Percent, "a percentage such as `50%`", int: no_int("a percentage with `%`, such as `50%`"));

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number from 0 to 100 followed by `%` (e.g. `50%`, `12.5%`).",
            "type": "string",
            "pattern": "^\\s*[0-9.]+\\s*%\\s*$"
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// An MCUboot image version as imgtool writes it: `maj[.min[.rev[+build]]]` (`1.2.3+4`).
///
/// Quote versions with two parts (`"1.0"`): unquoted, YAML reads them as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub ImageVersion);

impl FromStr for Version {
    type Err = String;

    fn from_str(text: &str) -> Result<Version, String> {
        text.trim().parse::<ImageVersion>().map(Version).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Version {
    /// `maj.min.rev`, with `+build` when the build number is not 0 (imgtool's form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.0;
        write!(f, "{}.{}.{}", v.major, v.minor, v.revision)?;
        if v.build_num != 0 {
            write!(f, "+{}", v.build_num)?;
        }
        Ok(())
    }
}

// `1` alone is a valid version (1.0.0); YAML hands it over as a number.
text_value!(Version, "an image version such as `1.2.3` or `1.2.3+4`", int: |n: u64| n.to_string().parse::<Version>());

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An image version maj[.min[.rev[+build]]], e.g. `1.2.3` or `1.2.3+4`.",
            "anyOf": [
                { "type": "string", "pattern": "^(0|[1-9][0-9]*)(\\.(0|[1-9][0-9]*)(\\.(0|[1-9][0-9]*)(\\+(0|[1-9][0-9]*))?)?)?$" },
                { "type": "integer", "minimum": 0, "maximum": 255 }
            ]
        })
    }
}

/// One version, or a list of allowed ones (`running_version: [1.0.0, 2.0.0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions(pub Vec<Version>);

impl Versions {
    /// True if `v` is one of the allowed versions.
    pub fn allows(&self, v: &ImageVersion) -> bool {
        self.0.iter().any(|a| a.0 == *v)
    }
}

impl Serialize for Versions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Versions, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Versions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an image version or a list of them")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Versions, E> {
                s.parse().map(|v| Versions(vec![v])).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Versions, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Versions, E> {
                Err(E::custom(format!("found the number {n}; quote two-part versions (\"1.0\")")))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Versions, A::Error> {
                let mut all = Vec::new();
                while let Some(v) = seq.next_element::<Version>()? {
                    all.push(v);
                }
                if all.is_empty() {
                    return Err(de::Error::custom("the list of allowed versions is empty"));
                }
                Ok(Versions(all))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Versions {
    fn schema_name() -> Cow<'static, str> {
        "Versions".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<Version>();
        json_schema!({
            "description": "One image version, or a list of allowed versions.",
            "anyOf": [ one, { "type": "array", "items": one, "minItems": 1 } ]
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Bytes written as hex digits (`a1b2c3…`, optionally `0x`-prefixed): hashes, digests, values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hex(pub Vec<u8>);

impl FromStr for Hex {
    type Err = String;

    fn from_str(text: &str) -> Result<Hex, String> {
        let t = text.trim();
        let digits = t.strip_prefix("0x").unwrap_or(t);
        if let Some((i, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(format!("`{text}` is not hex: `{c}` at character {} is not a hex digit", i + 1));
        }
        if !digits.len().is_multiple_of(2) {
            return Err(format!(
                "`{text}` is not hex: odd number of digits ({}); each byte takes two",
                digits.len()
            ));
        }
        hex::decode(digits).map(Hex).map_err(|e| format!("`{text}` is not hex: {e}"))
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

text_value!(Hex, "hex digits such as `a1b2c3d4`", int: no_int("hex digits in quotes, such as \"a1b2c3d4\""));

impl JsonSchema for Hex {
    fn schema_name() -> Cow<'static, str> {
        "Hex".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes as hex digits, two per byte, optionally prefixed with 0x.",
            "type": "string",
            "pattern": "^(0x)?([0-9a-fA-F]{2})*$"
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// An SMP error named as Zephyr's C headers name it: a generic code (`MGMT_ERR_EINVAL`) or a
/// group's code (`IMG_MGMT_ERR_NO_FREE_SLOT`, `FS_MGMT_ERR_FILE_NOT_FOUND`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmpErrorName {
    name: String,
    /// `None` for a generic `MGMT_ERR_*` code (`{"rc": N}`), else the group id.
    group: Option<u16>,
    code: i64,
}

impl SmpErrorName {
    /// The C name, e.g. `IMG_MGMT_ERR_NO_FREE_SLOT`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group id for a group error, `None` for a generic (`MGMT_ERR_*`) one.
    pub fn group(&self) -> Option<u16> {
        self.group
    }

    /// The numeric code (`rc`).
    pub fn code(&self) -> i64 {
        self.code
    }

    /// Every name the scenario format accepts, in table order.
    pub fn all() -> Vec<SmpErrorName> {
        use smp::error::*;
        let mut all = Vec::new();
        for code in (0..=13).chain([256]) {
            if let Some(n) = MgmtErr::from_code(code).name() {
                all.push(SmpErrorName { name: format!("MGMT_ERR_{n}"), group: None, code });
            }
        }
        macro_rules! table {
            ($ty:ident, $group:expr) => {
                for code in 0..=255u64 {
                    if let Some(n) = $ty::from_code(code).name() {
                        all.push(SmpErrorName {
                            name: format!("{}{n}", $ty::PREFIX),
                            group: Some($group),
                            code: code as i64,
                        });
                    }
                }
            };
        }
        table!(OsErr, 0);
        table!(ImageErr, 1);
        table!(StatErr, 2);
        table!(SettingsErr, 3);
        table!(FsErr, 8);
        table!(ShellErr, 9);
        table!(EnumErr, 10);
        table!(ZephyrBasicErr, 63);
        all
    }
}

impl FromStr for SmpErrorName {
    type Err = String;

    fn from_str(text: &str) -> Result<SmpErrorName, String> {
        let all = SmpErrorName::all();
        let wanted = text.trim().to_ascii_uppercase();
        if let Some(found) = all.iter().find(|e| e.name == wanted) {
            return Ok(found.clone());
        }
        let mut msg = format!("unknown SMP error name `{text}`");
        match crate::scenario::closest(&wanted, all.iter().map(|e| e.name.as_str())) {
            Some(best) => msg.push_str(&format!("; did you mean `{best}`?")),
            None => msg.push_str(
                "; expected a name from Zephyr's headers such as `MGMT_ERR_EINVAL` or `IMG_MGMT_ERR_NO_FREE_SLOT`",
            ),
        }
        Err(msg)
    }
}

impl fmt::Display for SmpErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

text_value!(SmpErrorName, "an SMP error name such as `IMG_MGMT_ERR_NO_FREE_SLOT`", int: no_int("an SMP error name such as `MGMT_ERR_EINVAL`"));

impl JsonSchema for SmpErrorName {
    fn schema_name() -> Cow<'static, str> {
        "SmpErrorName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<String> = SmpErrorName::all().into_iter().map(|e| e.name).collect();
        json_schema!({
            "description": "An SMP error code by its name in Zephyr's headers.",
            "type": "string",
            "enum": names
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        assert_eq!("5s".parse::<Duration>().unwrap().ms, 5000);
        assert_eq!("250 ms".parse::<Duration>().unwrap().ms, 250);
        assert_eq!("2m".parse::<Duration>().unwrap().to_string(), "2m");
        assert_eq!(Duration::from_ms(1500).to_string(), "1500ms");
        assert_eq!(Duration::from_ms(0).to_string(), "0ms");
        assert!("5".parse::<Duration>().is_err());
        assert!("5 secs".parse::<Duration>().is_err());
        assert!("99999999999999999999h".parse::<Duration>().is_err());
    }

    #[test]
    fn sizes_parse_and_print_canonically() {
        assert_eq!("0x10000".parse::<Size>().unwrap().bytes, 0x10000);
        assert_eq!("64KiB".parse::<Size>().unwrap().bytes, 65536);
        assert_eq!("1 MiB".parse::<Size>().unwrap().to_string(), "1MiB");
        assert_eq!("1_000".parse::<Size>().unwrap().bytes, 1000);
        assert!("64KB".parse::<Size>().is_err());
        assert!("0xZZ".parse::<Size>().is_err());
    }

    #[test]
    fn percents_versions_hex_and_errors() {
        assert_eq!("12.5%".parse::<Percent>().unwrap().fraction(), 0.125);
        assert!("101%".parse::<Percent>().is_err());
        assert!("50".parse::<Percent>().is_err());
        assert_eq!("1.2.3+4".parse::<Version>().unwrap().to_string(), "1.2.3+4");
        assert_eq!("1".parse::<Version>().unwrap().to_string(), "1.0.0");
        assert!("1.2.3.4".parse::<Version>().is_err());
        assert_eq!("0xA1b2".parse::<Hex>().unwrap().to_string(), "a1b2");
        assert!("abc".parse::<Hex>().is_err());
        let e: SmpErrorName = "img_mgmt_err_no_free_slot".parse().unwrap();
        assert_eq!((e.group(), e.code(), e.name()), (Some(1), 9, "IMG_MGMT_ERR_NO_FREE_SLOT"));
        let e: SmpErrorName = "MGMT_ERR_EINVAL".parse().unwrap();
        assert_eq!((e.group(), e.code()), (None, 3));
        let err = "IMG_MGMT_ERR_NO_FREE_SLOTS".parse::<SmpErrorName>().unwrap_err();
        assert!(err.contains("did you mean `IMG_MGMT_ERR_NO_FREE_SLOT`"), "{err}");
    }
}

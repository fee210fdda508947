//! Steps: what a scenario does, one after the other.
//!
//! Every step is a map with exactly one key, the step's name, whose value holds the step's
//! fields: `- upload: {image: app-2.0.0.bin}`. Steps whose fields are all optional may also be
//! written as the bare name: `- reset` is `- reset: {}`.
//!
//! The step list is read by a hand-written `Deserialize` (not serde's derive) so that an unknown
//! step name lists the valid ones, a step map with two keys (usually a mis-indented field) says
//! so, and the bare form works for the steps that allow it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::located::Located;
use super::units::{Duration, Hex, Percent, Size, SmpErrorName, Version, Versions};

/// Generates the `Step` enum, its names, and its map-or-bare-name `Deserialize`.
macro_rules! steps {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal, bare: $bare:tt; )*) => {
        /// One step of a scenario.
        #[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        #[schemars(transform = add_bare_step_names)]
        pub enum Step {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Step {
            /// Every step name, in the order the documentation lists them.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// Step names that may be written bare (`- reset`).
            pub const BARE_NAMES: &'static [&'static str] = &[$( steps!(@bare_name $bare $name) ),*];

            /// The step's name as written in YAML.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Step::$variant(_) => $name, )*
                }
            }
        }

        impl<'de> Deserialize<'de> for Step {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Step;

                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a step: a map with one key, the step name (e.g. `echo: {text: hi}`)")
                    }

                    fn visit_str<E: de::Error>(self, name: &str) -> Result<Step, E> {
                        match name {
                            $( $name => steps!(@bare $bare $variant, $ty, $name, E), )*
                            other => Err(unknown_step::<E>(other)),
                        }
                    }

                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                        let Some(name) = map.next_key::<String>()? else {
                            return Err(de::Error::custom("an empty map is not a step; write the step name as its key, e.g. `- reset: {}`"));
                        };
                        let step = match name.as_str() {
                            $( $name => Step::$variant(
                                map.next_value::<Option<$ty>>()?
                                    .map_or_else(|| steps!(@null $bare $ty, $name, A), Ok)?
                            ), )*
                            other => return Err(unknown_step::<A::Error>(other)),
                        };
                        if let Some(extra) = map.next_key::<String>()? {
                            return Err(de::Error::custom(format!(
                                "a step has exactly one key (its name), but `{name}` is followed by `{extra}`; \
                                 indent the fields of `{name}` under it (or write it as `{name}: {{...}}`)"
                            )));
                        }
                        Ok(step)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
    (@bare_name yes $name:literal) => { $name };
    (@bare_name no $name:literal) => { "" };
    (@bare yes $variant:ident, $ty:ty, $name:literal, $E:ident) => { Ok(Step::$variant(<$ty>::default())) };
    (@bare no $variant:ident, $ty:ty, $name:literal, $E:ident) => {
        Err($E::custom(format!("step `{}` needs fields; write it as a map, e.g. `{}: {{...}}`", $name, $name)))
    };
    (@null yes $ty:ty, $name:literal, $A:ident) => { Ok::<$ty, $A::Error>(<$ty>::default()) };
    (@null no $ty:ty, $name:literal, $A:ident) => {
        Err::<$ty, $A::Error>(de::Error::custom(format!(
            "step `{}` has no fields; write them under it, indented further than `{}` (or as `{}: {{...}}`)",
            $name, $name, $name
        )))
    };
}

fn unknown_step<E: de::Error>(name: &str) -> E {
    let hint = match super::closest(name, Step::NAMES.iter().copied()) {
        Some(best) => format!(" (did you mean `{best}`?)"),
        None => String::new(),
    };
    E::custom(format!("unknown step `{name}`{hint}; the steps are: {}", Step::NAMES.join(", ")))
}

/// Lets the JSON Schema accept the bare-name form (`- reset`) and the empty-value form
/// (`- reset:`) of steps that allow them.
fn add_bare_step_names(schema: &mut schemars::Schema) {
    let bare: Vec<&str> = Step::BARE_NAMES.iter().copied().filter(|n| !n.is_empty()).collect();
    if let Some(one_of) = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()) {
        for variant in one_of.iter_mut() {
            let Some(props) = variant.get_mut("properties").and_then(|p| p.as_object_mut()) else { continue };
            for (name, value) in props.iter_mut() {
                if bare.contains(&name.as_str()) {
                    *value = serde_json::json!({ "anyOf": [value.clone(), { "type": "null" }] });
                }
            }
        }
        one_of.push(serde_json::json!({
            "description": "A step with no fields, written as its bare name.",
            "type": "string",
            "enum": bare
        }));
    }
}

steps! {
    /// Send `os echo` and expect the text back.
    Echo(EchoStep) = "echo", bare: no;
    /// Upload an image (`image upload`), optionally marking it for test.
    Upload(UploadStep) = "upload", bare: no;
    /// Read the image list (`image state`) and compare it with the rows given.
    ImageState(ImageStateStep) = "image_state", bare: yes;
    /// Mark an image for a test boot (`image state` write, `confirm: false`).
    ImageTest(ImageTestStep) = "image_test", bare: yes;
    /// Confirm an image (`image state` write, `confirm: true`); no hash confirms the running one.
    ImageConfirm(ImageConfirmStep) = "image_confirm", bare: yes;
    /// Erase a slot (`image erase`).
    Erase(EraseStep) = "erase", bare: yes;
    /// Ask the device to reset (`os reset`).
    Reset(ResetStep) = "reset", bare: yes;
    /// Switch the power off (clean: between flash operations).
    PowerOff(Empty) = "power_off", bare: yes;
    /// Switch the power on (the bootloader runs).
    PowerOn(Empty) = "power_on", bare: yes;
    /// Power off, then on.
    PowerCycle(Empty) = "power_cycle", bare: yes;
    /// Arm one power cut in the next phase of the given kind (upload, trailer write, swap, …).
    PowerLoss(PowerLossStep) = "power_loss", bare: no;
    /// Repeat the rest of the scenario once for every cut point of a phase.
    PowerLossSweep(PowerLossSweepStep) = "power_loss_sweep", bare: no;
    /// Invert one bit of flash (now, or after a flash operation).
    BitFlip(BitFlipStep) = "bit_flip", bare: no;
    /// Wait until the device has booted and serves SMP.
    WaitBoot(WaitBootStep) = "wait_boot", bare: yes;
    /// Let modelled time pass.
    Sleep(SleepStep) = "sleep", bare: no;
    /// Check what must hold now.
    Expect(Box<ExpectStep>) = "expect", bare: no;
    /// Upload a file to the device's file system (`fs upload`).
    FsUpload(FsUploadStep) = "fs_upload", bare: no;
    /// Download a file from the device's file system (`fs download`).
    FsDownload(FsDownloadStep) = "fs_download", bare: no;
    /// Read a setting (`settings read`).
    SettingsRead(SettingsReadStep) = "settings_read", bare: no;
    /// Write a setting (`settings write`).
    SettingsWrite(SettingsWriteStep) = "settings_write", bare: no;
    /// Delete a setting (`settings delete`).
    SettingsDelete(SettingsDeleteStep) = "settings_delete", bare: no;
    /// Run a shell command (`shell exec`).
    Shell(ShellStep) = "shell", bare: no;
    /// Program a device hook (simulator only).
    Hook(Hook) = "hook", bare: no;
    /// Remove every hook.
    ClearHooks(Empty) = "clear_hooks", bare: yes;
    /// Make the transport misbehave (simulator only).
    TransportFault(TransportFaultStep) = "transport_fault", bare: no;
    /// Make the transport behave again.
    ClearTransportFaults(Empty) = "clear_transport_faults", bare: yes;
    /// Run an external client command against the device.
    Exec(ExecStep) = "exec", bare: no;
    /// Update several devices as one (all or nothing).
    Group(GroupStep) = "group", bare: no;
    /// Run steps against one named device of `devices:`.
    On(OnStep) = "on", bare: no;
}

/// A step with no fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `echo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoStep {
    /// The text to send.
    pub text: String,
    /// The request must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `upload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadStep {
    /// The image file (relative to the scenario file).
    pub image: PathBuf,
    /// The image number sent in the request (`image` in SMP; smpmgr's `--slot`). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_number: Option<u8>,
    /// Bytes of image data per request. Default: as large as the device's buffer allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<Size>,
    /// Requests in flight at once. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// Send `upgrade: true` (the device refuses an image not newer than the running one).
    #[serde(default, skip_serializing_if = "is_false")]
    pub upgrade: bool,
    /// The upload must continue from the offset the device already has (after an
    /// interruption: a dropped connection, a power cut); it fails if it starts from 0.
    #[serde(default, skip_serializing_if = "is_false")]
    pub resume: bool,
    /// Drop the connection once the device has this much of the image (the client goes away
    /// mid-upload, as a closed laptop or a lost link does); the step passes when it got there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_at: Option<Percent>,
    /// After the upload, mark the image for test (`test`) or permanently (`confirm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<AfterUpload>,
    /// Per-request timeout. Default: the scenario's `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// The upload must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// What to do with an uploaded image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterUpload {
    /// Mark it for one test boot.
    Test,
    /// Mark it permanent.
    Confirm,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One expected row of `image list`. Fields left out are not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRow {
    /// Image number. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<u8>,
    /// Slot (0 primary, 1 secondary).
    pub slot: u8,
    /// The image's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The image hash, or its first bytes (at least 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hex>,
    /// The hash of this image file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_of: Option<PathBuf>,
    /// Flags that must be set (`true`) or clear (`false`).
    #[serde(default, skip_serializing_if = "Flags::is_empty")]
    pub flags: Flags,
}

/// Image flags as `image list` shows them. Left-out flags are not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permanent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootable: Option<bool>,
}

impl Flags {
    /// True if no flag is checked.
    pub fn is_empty(&self) -> bool {
        *self == Flags::default()
    }
}

/// `image_state`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageStateStep {
    /// Rows that must be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRow>,
    /// Also fail on rows not listed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exact: bool,
    /// The request must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `image_test`: which image to mark. With none given, the image in slot 1 of image 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageTestStep {
    /// Image number. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<u8>,
    /// Slot whose image is meant (the request sends that image's hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u8>,
    /// The image hash to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hex>,
    /// Send the hash of this image file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_of: Option<PathBuf>,
    /// The request must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `image_confirm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageConfirmStep {
    /// The image hash to confirm; none confirms the running image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hex>,
    /// Confirm the image with the hash of this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_of: Option<PathBuf>,
    /// The request must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `erase`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseStep {
    /// Slot number as `image erase` takes it (1: image 0's secondary, 3: image 1's secondary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u8>,
    /// The request must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `reset`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetStep {
    /// Send `force: true`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub force: bool,
    /// Send a `boot_mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<u8>,
    /// The request must fail with this error (a hook may deny resets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// A phase of the update path, where power can be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The next `upload` step (cut between or inside chunk writes).
    Upload,
    /// The next trailer write (`image_test`, `image_confirm`, or a self-confirm at boot).
    TrailerWrite,
    /// The next bootloader swap (after a reset with an image pending).
    Swap,
    /// The next bootloader revert (a test image that was not confirmed).
    Revert,
    /// The next `erase`.
    Erase,
    /// Any bootloader run, swap or not.
    Boot,
}

/// How a power cut strikes a flash operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CutKind {
    /// Just before the operation (a clean cut between operations).
    #[serde(alias = "clean")]
    Before,
    /// Just after the operation completed.
    After,
    /// In the middle of a write: part of its bytes programmed.
    Torn,
    /// In the middle of an erase: the sector partly erased.
    InterruptedErase,
}

/// `power_loss`: where exactly one power cut strikes. Give one of `at`, `offset` or `op`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerLossStep {
    /// Which phase.
    pub during: Phase,
    /// This far through the upload, in bytes (`during: upload` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Percent>,
    /// At this byte offset of the image being uploaded (`during: upload` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Size>,
    /// At the phase's N-th flash operation (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<u64>,
    /// How the cut strikes the operation. Default `before`.
    #[serde(default = "cut_before")]
    pub kind: CutKind,
    /// For `torn` and `interrupted-erase`: the bytes that reach the cells. Default: drawn from
    /// the scenario's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tear: Option<Size>,
}

fn cut_before() -> CutKind {
    CutKind::Before
}

/// `power_loss_sweep`: the steps after this one run once per cut point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerLossSweepStep {
    /// Which phase's flash operations to cut.
    pub during: Phase,
    /// Cut kinds to try at each operation. Default `[before]`.
    #[serde(default = "default_cuts")]
    pub cuts: Vec<CutKind>,
    /// Try every N-th operation only. Default 1 (all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Stop after this many cut points (a bound for long phases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cuts: Option<u64>,
}

fn default_cuts() -> Vec<CutKind> {
    vec![CutKind::Before]
}

/// `bit_flip`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BitFlipStep {
    /// Flash device (0 internal; 1 the external part on `nrf52840-spi`).
    #[serde(default)]
    pub flash: u8,
    /// Byte offset on that device.
    pub offset: Size,
    /// Bit 0..=7 (0 least significant).
    pub bit: u8,
    /// Flip after this flash operation from now (default: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_op: Option<u64>,
}

/// `wait_boot`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitBootStep {
    /// Give up after this long. Default: the scenario's `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// `sleep`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepStep {
    /// How long.
    pub duration: Duration,
}

/// `expect`: every field given is checked; fields left out are not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectStep {
    /// The device boots to a running image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boots: Option<bool>,
    /// The bootloader found nothing bootable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bricked: Option<bool>,
    /// The running image's version is this one (or one of these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_version: Option<Versions>,
    /// Every image that was in a slot is still in one slot, whole and valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_intact: Option<bool>,
    /// Rows of `image list`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRow>,
    /// SHA-256 digests of flash regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flash: Vec<FlashDigest>,
    /// Boots since the scenario started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_count: Option<u64>,
    /// Statistics counters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<StatCounter>,
    /// Files on the device's file system.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileExpect>,
    /// The last SMP request of the scenario failed with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<SmpErrorName>,
    /// What the firmware wrote to its console since the device was built (firmware that runs
    /// its own code: `behaviour: run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<TextMatch>,
}

/// A flash region and its expected SHA-256: an `area` (with `image`), or `flash` + `offset` + `size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashDigest {
    /// A named area of the layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<AreaName>,
    /// The image number for `primary`/`secondary`. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<u8>,
    /// Flash device for a raw region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<u8>,
    /// Start of a raw region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Size>,
    /// Length of a raw region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
    /// The region's expected SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Hex>,
    /// The region starts with exactly this file's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<PathBuf>,
}

/// A named flash area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AreaName {
    Primary,
    Secondary,
    Scratch,
}

/// A statistics counter and its expected value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatCounter {
    /// Statistics group (`smp_grp`, …).
    pub group: String,
    /// Counter name within the group.
    pub name: String,
    /// Exactly this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<u64>,
    /// At least this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u64>,
}

/// A file on the device and what it must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileExpect {
    /// Path on the device (`/lfs/config.txt`).
    pub path: String,
    /// The file exists (`false`: it must not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Exactly this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// Exactly these bytes (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Hex>,
    /// Its SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Hex>,
}

/// `fs_upload`: give `file` or `contents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsUploadStep {
    /// Path on the device.
    pub path: String,
    /// A local file to send (relative to the scenario file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Text to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// Bytes per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<Size>,
    /// The upload must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `fs_download`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsDownloadStep {
    /// Path on the device.
    pub path: String,
    /// Save the file here (relative to the report directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_as: Option<PathBuf>,
    /// The file must hold exactly this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_contents: Option<String>,
    /// The download must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// A setting's value: text, or bytes in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SettingValue {
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Hex(Hex),
}

/// `settings_read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsReadStep {
    /// Setting name (`app/mode`).
    pub name: String,
    /// The value read must be this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<SettingValue>,
    /// The read must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `settings_write`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsWriteStep {
    /// Setting name.
    pub name: String,
    /// New value.
    pub value: SettingValue,
    /// Also save to storage (`settings save`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub save: bool,
    /// The write must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `settings_delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsDeleteStep {
    /// Setting name.
    pub name: String,
    /// The delete must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// `shell`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellStep {
    /// The command line, split on spaces into argv.
    pub command: String,
    /// The command's output must match.
    #[serde(default, skip_serializing_if = "TextMatch::is_empty")]
    pub output: TextMatch,
    /// The command's return code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<i64>,
    /// The request must fail with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<SmpErrorName>,
}

/// Checks on a text: every field given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextMatch {
    /// Exactly this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Each of these substrings occurs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
    /// None of these substrings occurs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_contains: Vec<String>,
    /// This regular expression (Rust `regex` syntax) matches somewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl TextMatch {
    /// True if nothing is checked.
    pub fn is_empty(&self) -> bool {
        *self == TextMatch::default()
    }
}

/// `hook`: one device hook (simulator only; a board reports the step as skipped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Hook {
    /// File-system access to paths under `prefix` is denied or redirected.
    FileAccess(FileAccessHook),
    /// Settings access under `prefix` is denied.
    SettingsAccess(SettingsAccessHook),
    /// `os reset` is refused unless the request has `force: true`.
    DenyReset(Empty),
    /// Upload chunks from this offset on are refused with an error.
    RejectUpload(RejectUploadHook),
    /// Text appended to `os info` output.
    InfoAppend(InfoAppendHook),
}

/// `hook: {file_access: ...}`: give `deny` or `redirect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileAccessHook {
    /// Paths starting with this.
    pub prefix: String,
    /// Refuse with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<SmpErrorName>,
    /// Serve this path instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// `hook: {settings_access: ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsAccessHook {
    /// Names starting with this.
    pub prefix: String,
    /// Refuse with this error.
    pub deny: SmpErrorName,
}

/// `hook: {reject_upload: ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectUploadHook {
    /// First refused offset. Default 0.
    #[serde(default)]
    pub from_offset: Size,
    /// The error returned.
    pub error: SmpErrorName,
}

/// `hook: {info_append: ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InfoAppendHook {
    /// The appended text.
    pub text: String,
}

/// How the transport misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TransportFaultKind {
    /// The reply is not sent.
    Drop,
    /// The reply is sent twice.
    Duplicate,
    /// The reply is sent late (by `delay`).
    Delay,
    /// The reply is sent after the next one.
    Reorder,
    /// The serial frame's CRC is wrong.
    CorruptCrc,
    /// The (last) serial line is cut short.
    Truncate,
    /// The reply's sequence number does not match the request's.
    WrongSeq,
}

/// `transport_fault`: give one of `probability`, `nth` or `every`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransportFaultStep {
    /// What happens to a reply.
    pub kind: TransportFaultKind,
    /// For `delay`: how late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Every reply, with this probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<Percent>,
    /// Only the N-th reply from now (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Every N-th reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Seed for `probability`. Default: derived from the scenario's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// `exec`: run a command. `{pty}`, `{ip}`, `{port}`, `{addr}`, `{image}`, `{hash}` and `{dir}`
/// in `command` are replaced (write `{{` and `}}` for literal braces).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    /// The command line (split like a POSIX shell would, without running a shell).
    pub command: String,
    /// The file `{image}` and `{hash}` refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// Kill the command after this long. Default: the scenario's `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Expected exit code. Default 0.
    #[serde(default)]
    pub exit_code: i32,
    /// Checks on standard output.
    #[serde(default, skip_serializing_if = "TextMatch::is_empty")]
    pub stdout: TextMatch,
    /// Checks on standard error.
    #[serde(default, skip_serializing_if = "TextMatch::is_empty")]
    pub stderr: TextMatch,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// The placeholders `exec` understands.
pub const EXEC_PLACEHOLDERS: &[&str] = &["pty", "ip", "port", "addr", "image", "hash", "dir"];

/// `group`: update several devices together; all commit or all roll back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupStep {
    /// Names of devices from `devices:`.
    pub members: Vec<String>,
    /// The update image for every member.
    pub image: PathBuf,
    /// Per-member image overrides (`member: file`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, PathBuf>,
    /// Failures to inject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<GroupFailure>,
    /// How the group update must end.
    pub expect: GroupOutcome,
    /// Give up after this long. Default: the scenario's `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// One failure injected into one member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFailure {
    /// The member (a name from `members`).
    pub member: String,
    /// When.
    pub phase: GroupPhase,
    /// What. Default `power-loss`.
    #[serde(default = "power_loss")]
    pub kind: GroupFailureKind,
    /// For `power-loss` during `upload`: how far into the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Percent>,
}

fn power_loss() -> GroupFailureKind {
    GroupFailureKind::PowerLoss
}

/// The phases of a group update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GroupPhase {
    Upload,
    Swap,
    Boot,
    Confirm,
}

/// What goes wrong for a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GroupFailureKind {
    /// Power is cut.
    PowerLoss,
    /// The new image crashes.
    Crash,
    /// The device refuses the request.
    Reject,
    /// The member stops answering.
    Disconnect,
}

impl GroupFailureKind {
    /// Every kind.
    pub const ALL: [GroupFailureKind; 4] = [
        GroupFailureKind::PowerLoss,
        GroupFailureKind::Crash,
        GroupFailureKind::Reject,
        GroupFailureKind::Disconnect,
    ];

    /// Whether this failure can strike in `phase`: power can be lost in any phase; the device
    /// refuses or stops answering an upload or a confirm; only a booting image crashes.
    pub fn possible_in(self, phase: GroupPhase) -> bool {
        match self {
            GroupFailureKind::PowerLoss => true,
            GroupFailureKind::Crash => phase == GroupPhase::Boot,
            GroupFailureKind::Reject => phase == GroupPhase::Upload,
            GroupFailureKind::Disconnect => matches!(phase, GroupPhase::Upload | GroupPhase::Confirm),
        }
    }
}

/// How a group update ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GroupOutcome {
    /// Every member runs the new image, confirmed.
    Committed,
    /// Every member runs its old image again.
    RolledBack,
}

/// `on`: steps for one named device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnStep {
    /// A name from `devices:`.
    pub device: String,
    /// The steps.
    pub steps: Vec<Located<Step>>,
}

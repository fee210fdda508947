//! Image management group (1): state read/write, upload, erase, slot info.

use super::{Body, MapBuilder, bytes, each};
use crate::cbor::{BodyError, Fields, Value};

/// One slot's entry in the image state reply (§5.1 of the reference).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageSlotState {
    /// Image number; only sent when more than one updatable image is configured.
    pub image: Option<u32>,
    /// Slot within the image (0 or 1).
    pub slot: u32,
    /// `major.minor.revision[.build]`.
    pub version: String,
    /// SHA-256 from the image's TLV area (32 bytes). Zephyr always sends it; optional on decode
    /// because other servers (and the Python client's model) allow it to be absent.
    pub hash: Option<Vec<u8>>,
    /// Image header flag NON_BOOTABLE clear.
    pub bootable: bool,
    /// Set for test or permanent swap on the next boot.
    pub pending: bool,
    /// Confirmed (will stay after reboot).
    pub confirmed: bool,
    /// Running now.
    pub active: bool,
    /// Pending permanently.
    pub permanent: bool,
}

impl ImageSlotState {
    /// The map with all five flags (Zephyr's default), keys in Zephyr's order.
    pub fn to_value_full(&self) -> Value {
        MapBuilder::new()
            .opt("image", self.image)
            .put("slot", self.slot)
            .put("version", self.version.as_str())
            .opt("hash", self.hash.as_deref().map(bytes))
            .put("bootable", self.bootable)
            .put("pending", self.pending)
            .put("confirmed", self.confirmed)
            .put("active", self.active)
            .put("permanent", self.permanent)
            .build()
    }

    /// The map as `CONFIG_MCUMGR_GRP_IMG_FRUGAL_LIST=y` sends it: false flags omitted.
    pub fn to_value_frugal(&self) -> Value {
        let flag = |b: bool| b.then_some(true);
        MapBuilder::new()
            .opt("image", self.image)
            .put("slot", self.slot)
            .put("version", self.version.as_str())
            .opt("hash", self.hash.as_deref().map(bytes))
            .opt("bootable", flag(self.bootable))
            .opt("pending", flag(self.pending))
            .opt("confirmed", flag(self.confirmed))
            .opt("active", flag(self.active))
            .opt("permanent", flag(self.permanent))
            .build()
    }
}

impl Body for ImageSlotState {
    fn to_value(&self) -> Value {
        self.to_value_full()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let keys =
            ["image", "slot", "version", "hash", "bootable", "pending", "confirmed", "active", "permanent"];
        let f = Fields::read(value, &keys)?;
        let flag = |k: &str| f.opt_bool(k).map(|b| b.unwrap_or(false));
        Ok(ImageSlotState {
            image: f.opt_uint("image")?,
            slot: f.req_uint("slot")?,
            version: f.req_text("version")?.to_owned(),
            hash: f.opt_bytes("hash")?.map(<[u8]>::to_vec),
            bootable: flag("bootable")?,
            pending: flag("pending")?,
            confirmed: flag("confirmed")?,
            active: flag("active")?,
            permanent: flag("permanent")?,
        })
    }
}

/// The `version` string of an image state entry: `major.minor.revision`, plus `.build` only
/// when the build number is not 0.
pub fn version_string(major: u8, minor: u8, revision: u16, build: u32) -> String {
    if build == 0 {
        format!("{major}.{minor}.{revision}")
    } else {
        format!("{major}.{minor}.{revision}.{build}")
    }
}

/// The largest `data` that fits an upload request in a buffer of `buf_size` bytes (the
/// `buf_size` from OS params, which includes the 8-byte header), given the request with its other
/// keys filled in (as for the chunk to be sent). The CBOR head of `data` grows at 24, 256 and
/// 65 536 bytes; this accounts for it. Returns 0 if not even an empty chunk fits.
pub fn max_upload_data(buf_size: usize, request: &UploadRequest, style: crate::cbor::MapStyle) -> usize {
    let empty = UploadRequest { data: Vec::new(), ..request.clone() };
    // Encoded size with empty data: the data head is then 1 byte.
    let base = crate::header::HEADER_LEN + crate::cbor::encode(&empty.to_value(), style).len() - 1;
    let head = |n: usize| match n {
        0..=23 => 1,
        24..=255 => 2,
        256..=65_535 => 3,
        _ => 5,
    };
    let mut best = 0;
    for head_len in [1, 2, 3, 5] {
        let Some(room) = buf_size.checked_sub(base + head_len) else { continue };
        if head(room) <= head_len {
            best = best.max(room);
        } else {
            // The largest length that still has this head size.
            let cap = match head_len {
                1 => 23,
                2 => 255,
                3 => 65_535,
                _ => room,
            };
            best = best.max(cap.min(room));
        }
    }
    best
}

/// Image state reply (image 0, to both read and write): `{"images": [...], "splitStatus": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateResponse {
    /// One entry per slot that holds a valid image.
    pub images: Vec<ImageSlotState>,
    /// Always 0 from Zephyr; absent with the frugal list.
    pub split_status: Option<i64>,
    /// Encode the frugal way (false flags omitted). Not read from the wire: decoding always
    /// gives `false`, since a frugal list and a full one decode to the same state.
    pub frugal: bool,
}

impl StateResponse {
    /// The reply as Zephyr sends it by default: every flag present, `splitStatus: 0`.
    pub fn zephyr(images: Vec<ImageSlotState>) -> StateResponse {
        StateResponse { images, split_status: Some(0), frugal: false }
    }
}

impl Body for StateResponse {
    fn to_value(&self) -> Value {
        let images = self
            .images
            .iter()
            .map(|i| if self.frugal { i.to_value_frugal() } else { i.to_value_full() })
            .collect();
        MapBuilder::new().put("images", Value::Array(images)).opt("splitStatus", self.split_status).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["images", "splitStatus"])?;
        Ok(StateResponse {
            images: each("images", f.req_array("images")?, ImageSlotState::from_value)?,
            split_status: f.opt_int("splitStatus")?,
            frugal: false,
        })
    }
}

/// The `hash` of a state write request, as sent. Zephyr decodes a **byte string** (the docs
/// say text string); a text hash is kept as text so a faithful server can reject it (`{"rc": 3}`)
/// and a lenient one can use [`HashArg::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashArg {
    /// A byte string, what Zephyr reads.
    Bytes(Vec<u8>),
    /// A text string (the documented form).
    Text(String),
}

impl HashArg {
    /// The hash bytes: the byte string as is; a text string as hex if it is valid hex of even
    /// length, else its UTF-8 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            HashArg::Bytes(b) => b.clone(),
            HashArg::Text(t) => decode_hex(t).unwrap_or_else(|| t.as_bytes().to_vec()),
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok())).collect()
}

/// Image state write request (image 0 W): `{["hash": bstr], ["confirm": bool]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateWriteRequest {
    /// The image to test or confirm; absent with `confirm: true` means the running image.
    pub hash: Option<HashArg>,
    /// `true` = confirm (permanent), `false`/absent = test (one boot).
    pub confirm: Option<bool>,
}

impl StateWriteRequest {
    /// Mark the image with this hash for test.
    pub fn test(hash: &[u8]) -> StateWriteRequest {
        StateWriteRequest { hash: Some(HashArg::Bytes(hash.to_vec())), confirm: Some(false) }
    }

    /// Confirm the image with this hash, or the running one.
    pub fn confirm(hash: Option<&[u8]>) -> StateWriteRequest {
        StateWriteRequest { hash: hash.map(|h| HashArg::Bytes(h.to_vec())), confirm: Some(true) }
    }

    /// `confirm`, with absent meaning false.
    pub fn is_confirm(&self) -> bool {
        self.confirm.unwrap_or(false)
    }
}

impl Body for StateWriteRequest {
    fn to_value(&self) -> Value {
        let hash = self.hash.as_ref().map(|h| match h {
            HashArg::Bytes(b) => Value::Bytes(b.clone()),
            HashArg::Text(t) => Value::Text(t.clone()),
        });
        MapBuilder::new().opt("hash", hash).opt("confirm", self.confirm).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["hash", "confirm"])?;
        let hash = match f.get("hash") {
            None => None,
            Some(Value::Bytes(b)) => Some(HashArg::Bytes(b.clone())),
            Some(Value::Text(t)) => Some(HashArg::Text(t.clone())),
            Some(other) => {
                return Err(BodyError::WrongType {
                    key: "hash".into(),
                    expected: "byte string",
                    found: other.kind(),
                });
            }
        };
        Ok(StateWriteRequest { hash, confirm: f.opt_bool("confirm")? })
    }
}

/// Image upload request (image 1 W). Keys in the order clients commonly send them:
/// `image, len, off, sha, data, upgrade`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadRequest {
    /// Target image (first chunk; default 0).
    pub image: Option<u32>,
    /// Total image length; required when `off` is 0 (checked by the server, not here).
    pub len: Option<u64>,
    /// Offset of this chunk; always required.
    pub off: u64,
    /// SHA-256 of the whole file (≤ 32 bytes), first chunk only.
    pub sha: Option<Vec<u8>>,
    /// The chunk.
    pub data: Vec<u8>,
    /// Refuse unless the new version is newer than the running one.
    pub upgrade: Option<bool>,
}

impl Body for UploadRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .opt("image", self.image)
            .opt("len", self.len)
            .put("off", self.off)
            .opt("sha", self.sha.as_deref().map(bytes))
            .put("data", bytes(&self.data))
            .opt("upgrade", self.upgrade)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["image", "len", "off", "sha", "data", "upgrade"])?;
        Ok(UploadRequest {
            image: f.opt_uint("image")?,
            len: f.opt_uint("len")?,
            off: f.req_uint("off")?,
            sha: f.opt_bytes("sha")?.map(<[u8]>::to_vec),
            data: f.req_bytes("data")?.to_vec(),
            upgrade: f.opt_bool("upgrade")?,
        })
    }
}

/// Image upload reply: `{"off": next expected offset, ["match": bool]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadResponse {
    /// The next offset the server expects (bytes accepted so far).
    pub off: u64,
    /// On the final chunk with `IMAGE_CHECK`: whether the data hashes to `sha`.
    pub matched: Option<bool>,
}

impl Body for UploadResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("off", self.off).opt("match", self.matched).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["off", "match"])?;
        Ok(UploadResponse { off: f.req_uint("off")?, matched: f.opt_bool("match")? })
    }
}

/// Image erase request (image 5 W): `{["slot": uint]}`; default is the non-running slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EraseRequest {
    /// The slot to erase.
    pub slot: Option<u32>,
}

impl Body for EraseRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("slot", self.slot).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["slot"])?;
        Ok(EraseRequest { slot: f.opt_uint("slot")? })
    }
}

/// One slot in the slot info reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotInfoSlot {
    /// Slot within the image (0 or 1).
    pub slot: u32,
    /// Partition size in bytes (absent when the flash area could not be opened).
    pub size: Option<u64>,
    /// Id to pass as upload `image` to target this slot.
    pub upload_image_id: Option<u32>,
    /// Negative errno when the flash area could not be opened (replaces `size`; undocumented).
    pub rc: Option<i64>,
}

impl Body for SlotInfoSlot {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .put("slot", self.slot)
            .opt("size", self.size)
            .opt("upload_image_id", self.upload_image_id)
            .opt("rc", self.rc)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["slot", "size", "upload_image_id", "rc"])?;
        let s = SlotInfoSlot {
            slot: f.req_uint("slot")?,
            size: f.opt_uint("size")?,
            upload_image_id: f.opt_uint("upload_image_id")?,
            rc: f.opt_int("rc")?,
        };
        if s.size.is_none() && s.rc.is_none() {
            return Err(BodyError::MissingKey { key: "size".into() });
        }
        Ok(s)
    }
}

/// One image in the slot info reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotInfoImage {
    /// Image number.
    pub image: u32,
    /// Its slots.
    pub slots: Vec<SlotInfoSlot>,
    /// Largest image that fits (only with the TOO_LARGE_* options).
    pub max_image_size: Option<u64>,
}

impl Body for SlotInfoImage {
    fn to_value(&self) -> Value {
        let slots = self.slots.iter().map(Body::to_value).collect();
        MapBuilder::new()
            .put("image", self.image)
            .put("slots", Value::Array(slots))
            .opt("max_image_size", self.max_image_size)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["image", "slots", "max_image_size"])?;
        Ok(SlotInfoImage {
            image: f.req_uint("image")?,
            slots: each("slots", f.req_array("slots")?, SlotInfoSlot::from_value)?,
            max_image_size: f.opt_uint("max_image_size")?,
        })
    }
}

/// Slot info reply (image 6 R): `{"images": [{"image", "slots": [...], ["max_image_size"]}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotInfoResponse {
    /// One entry per image.
    pub images: Vec<SlotInfoImage>,
}

impl Body for SlotInfoResponse {
    fn to_value(&self) -> Value {
        let images = self.images.iter().map(Body::to_value).collect();
        MapBuilder::new().put("images", Value::Array(images)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["images"])?;
        Ok(SlotInfoResponse { images: each("images", f.req_array("images")?, SlotInfoImage::from_value)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frugal_list_defaults_missing_flags_to_false() {
        let s = ImageSlotState {
            slot: 1,
            version: "1.2.3".into(),
            hash: Some(vec![7; 32]),
            pending: true,
            ..ImageSlotState::default()
        };
        let frugal = s.to_value_frugal();
        assert_eq!(frugal.as_map().unwrap().len(), 4);
        assert_eq!(ImageSlotState::from_value(&frugal).unwrap(), s);
        let r = StateResponse { images: vec![s.clone()], split_status: None, frugal: true };
        assert_eq!(StateResponse::from_value(&r.to_value()).unwrap().images, vec![s]);
    }

    #[test]
    fn errors_in_nested_entries_name_the_path() {
        let body = Value::map([(
            "images",
            Value::Array(vec![
                Value::map([("slot", 0u8.into()), ("version", "1.0.0".into())]),
                Value::map([("slot", 1u8.into()), ("version", "1.0.0".into()), ("hash", "x".into())]),
            ]),
        )]);
        assert_eq!(
            StateResponse::from_value(&body).unwrap_err().to_string(),
            "key \"images[1].hash\": expected byte string, found text string"
        );
    }

    #[test]
    fn state_write_hash_as_bytes_or_text() {
        let t = StateWriteRequest::from_value(&Value::map([("hash", "0aff".into())])).unwrap();
        assert_eq!(t.hash, Some(HashArg::Text("0aff".into())));
        assert_eq!(t.hash.unwrap().to_bytes(), vec![0x0a, 0xff]);
        assert_eq!(HashArg::Text("xyz".into()).to_bytes(), b"xyz".to_vec());
        let e = StateWriteRequest::from_value(&Value::map([("hash", 1u8.into())])).unwrap_err();
        assert!(matches!(e, BodyError::WrongType { expected: "byte string", .. }));
        let e = StateWriteRequest::from_value(&Value::map([("confirm", 1u8.into())])).unwrap_err();
        assert!(matches!(e, BodyError::WrongType { expected: "bool", .. }));
    }

    #[test]
    fn upload_requires_off_and_data() {
        let e = UploadRequest::from_value(&Value::map([("data", Value::bytes(vec![]))])).unwrap_err();
        assert_eq!(e, BodyError::MissingKey { key: "off".into() });
        let e = UploadRequest::from_value(&Value::map([("off", 0u8.into())])).unwrap_err();
        assert_eq!(e, BodyError::MissingKey { key: "data".into() });
    }

    #[test]
    fn version_strings_drop_a_zero_build() {
        assert_eq!(version_string(1, 2, 3, 0), "1.2.3");
        assert_eq!(version_string(1, 2, 3, 4), "1.2.3.4");
    }

    #[test]
    fn max_upload_data_fills_the_buffer_exactly() {
        use crate::cbor::MapStyle;
        let first = UploadRequest {
            image: Some(0),
            len: Some(123_456),
            off: 0,
            sha: Some(vec![0; 32]),
            data: Vec::new(),
            upgrade: Some(false),
        };
        let later = UploadRequest { off: 100_000, ..UploadRequest::default() };
        for buf_size in [40, 60, 64, 128, 384, 2048, 70_000] {
            for template in [&first, &later] {
                for style in [MapStyle::Definite, MapStyle::Indefinite] {
                    let n = max_upload_data(buf_size, template, style);
                    let size = |n: usize| {
                        let r = UploadRequest { data: vec![0; n], ..template.clone() };
                        crate::header::HEADER_LEN + crate::cbor::encode(&r.to_value(), style).len()
                    };
                    if n > 0 || size(0) <= buf_size {
                        assert!(size(n) <= buf_size, "{buf_size}: {n} does not fit");
                        assert!(size(n + 1) > buf_size, "{buf_size}: {n} is not the largest");
                    }
                }
            }
        }
        assert_eq!(max_upload_data(10, &first, MapStyle::Definite), 0);
    }

    #[test]
    fn slot_info_slot_has_size_or_rc() {
        let ok = Value::map([("slot", 0u8.into()), ("rc", (-5i8).into())]);
        assert_eq!(SlotInfoSlot::from_value(&ok).unwrap().rc, Some(-5));
        let bad = Value::map([("slot", 0u8.into())]);
        assert!(SlotInfoSlot::from_value(&bad).is_err());
    }
}

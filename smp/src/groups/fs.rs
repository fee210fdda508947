//! File system group (8): download, upload, status, hash/checksum, supported hash types, close.

use super::{Body, MapBuilder, bytes, nested, text_keyed};
use crate::cbor::{BodyError, Fields, Value};
use crate::error::{ErrorBody, FsErr, GroupErr};
use crate::header::Group;

/// Download request (fs 0 R): `{"off": uint, "name": tstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsDownloadRequest {
    /// Offset to read from (any offset; the server seeks).
    pub off: u64,
    /// File path.
    pub name: String,
}

impl Body for FsDownloadRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("off", self.off).put("name", self.name.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["off", "name"])?;
        Ok(FsDownloadRequest { off: f.req_uint("off")?, name: f.req_text("name")?.to_owned() })
    }
}

/// Download reply: `{"off": uint, "data": bstr, ["len": file size, only at off 0]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsDownloadResponse {
    /// The requested offset.
    pub off: u64,
    /// The chunk; shorter than the server's chunk size at end of file.
    pub data: Vec<u8>,
    /// Total file size (first chunk only).
    pub len: Option<u64>,
}

impl Body for FsDownloadResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("off", self.off).put("data", bytes(&self.data)).opt("len", self.len).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["off", "data", "len"])?;
        Ok(FsDownloadResponse {
            off: f.req_uint("off")?,
            data: f.req_bytes("data")?.to_vec(),
            len: f.opt_uint("len")?,
        })
    }
}

/// Upload request (fs 0 W): `{"off": uint, "data": bstr, "name": tstr, ["len": uint]}`;
/// `len` is required by the server when `off` is 0. `data` is a byte string (the docs say text).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsUploadRequest {
    /// Offset of this chunk (must equal the file's current size unless 0).
    pub off: u64,
    /// The chunk.
    pub data: Vec<u8>,
    /// File path.
    pub name: String,
    /// Total length (first chunk).
    pub len: Option<u64>,
}

impl Body for FsUploadRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .put("off", self.off)
            .put("data", bytes(&self.data))
            .put("name", self.name.as_str())
            .opt("len", self.len)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["off", "data", "name", "len"])?;
        Ok(FsUploadRequest {
            off: f.req_uint("off")?,
            data: f.req_bytes("data")?.to_vec(),
            name: f.req_text("name")?.to_owned(),
            len: f.opt_uint("len")?,
        })
    }
}

/// Upload reply: `{"off": bytes in the file now}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsUploadResponse {
    /// Bytes written so far.
    pub off: u64,
}

impl Body for FsUploadResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("off", self.off).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["off"])?;
        Ok(FsUploadResponse { off: f.req_uint("off")? })
    }
}

/// The v2 error reply to an upload at the wrong offset: `{"err": {"group": 8, "rc": 11},
/// "len": <current file size>}` (Zephyr writes `len` after `err`).
pub fn offset_not_valid_error(current_len: u64) -> ErrorBody {
    ErrorBody {
        err: Some(GroupErr::new(Group::Fs, FsErr::FileOffsetNotValid.code())),
        extra: vec![("len".to_owned(), Value::from(current_len))],
        ..ErrorBody::default()
    }
}

/// The file size carried by a FILE_OFFSET_NOT_VALID error reply, if that is what `error` is.
pub fn offset_not_valid_len(error: &ErrorBody) -> Option<u64> {
    let err = error.err?;
    if err != GroupErr::new(Group::Fs, FsErr::FileOffsetNotValid.code()) {
        return None;
    }
    error.extra.iter().find(|(k, _)| k == "len").and_then(|(_, v)| v.as_u64())
}

/// Status request (fs 1 R): `{"name": tstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsStatusRequest {
    /// File path.
    pub name: String,
}

impl Body for FsStatusRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("name", self.name.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name"])?;
        Ok(FsStatusRequest { name: f.req_text("name")?.to_owned() })
    }
}

/// Status reply: `{"len": uint}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStatusResponse {
    /// File size.
    pub len: u64,
}

impl Body for FsStatusResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("len", self.len).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["len"])?;
        Ok(FsStatusResponse { len: f.req_uint("len")? })
    }
}

/// Hash/checksum request (fs 2 R): `{"name", ["type"], ["off"], ["len"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsHashRequest {
    /// File path.
    pub name: String,
    /// `"crc32"` or `"sha256"`; server default crc32 if built.
    pub hash_type: Option<String>,
    /// Start offset (default 0).
    pub off: Option<u64>,
    /// Bytes to hash (default: to end of file; 0 is EINVAL).
    pub len: Option<u64>,
}

impl Body for FsHashRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .put("name", self.name.as_str())
            .opt("type", self.hash_type.clone())
            .opt("off", self.off)
            .opt("len", self.len)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name", "type", "off", "len"])?;
        Ok(FsHashRequest {
            name: f.req_text("name")?.to_owned(),
            hash_type: f.opt_text("type")?.map(str::to_owned),
            off: f.opt_uint("off")?,
            len: f.opt_uint("len")?,
        })
    }
}

/// A hash or checksum result: crc32 is an unsigned int, sha256 a byte string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOutput {
    /// A checksum (format 0).
    Uint(u64),
    /// A hash (format 1).
    Bytes(Vec<u8>),
}

impl Default for HashOutput {
    fn default() -> HashOutput {
        HashOutput::Uint(0)
    }
}

/// Hash/checksum reply: `{"type": tstr, ["off": uint if ≠ 0], "len": uint, "output": uint|bstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsHashResponse {
    /// The type used.
    pub hash_type: String,
    /// Start offset, only when not 0.
    pub off: Option<u64>,
    /// Bytes hashed.
    pub len: u64,
    /// The result.
    pub output: HashOutput,
}

impl Body for FsHashResponse {
    fn to_value(&self) -> Value {
        let output = match &self.output {
            HashOutput::Uint(n) => Value::from(*n),
            HashOutput::Bytes(b) => bytes(b),
        };
        MapBuilder::new()
            .put("type", self.hash_type.as_str())
            .opt("off", self.off)
            .put("len", self.len)
            .put("output", output)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["type", "off", "len", "output"])?;
        let output = match f.req("output")? {
            Value::Bytes(b) => HashOutput::Bytes(b.clone()),
            Value::Int(_) => HashOutput::Uint(f.req_uint("output")?),
            other => {
                return Err(BodyError::WrongType {
                    key: "output".into(),
                    expected: "unsigned integer or byte string",
                    found: other.kind(),
                });
            }
        };
        Ok(FsHashResponse {
            hash_type: f.req_text("type")?.to_owned(),
            off: f.opt_uint("off")?,
            len: f.req_uint("len")?,
            output,
        })
    }
}

/// One supported hash type: `{"format": 0 (number) | 1 (bytes), "size": uint}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashTypeInfo {
    /// 0 = output is an unsigned int, 1 = a byte string.
    pub format: u64,
    /// Output size in bytes.
    pub size: u64,
}

/// Supported hash types reply (fs 3 R): `{"types": {<name>: {"format", "size"}, ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsSupportedHashesResponse {
    /// Type names and their output formats.
    pub types: Vec<(String, HashTypeInfo)>,
}

impl Body for FsSupportedHashesResponse {
    fn to_value(&self) -> Value {
        let types = self.types.iter().map(|(n, t)| {
            (Value::text(n.clone()), MapBuilder::new().put("format", t.format).put("size", t.size).build())
        });
        MapBuilder::new().put("types", Value::Map(types.collect())).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["types"])?;
        let types = text_keyed("types", f.req_map("types")?)?
            .into_iter()
            .map(|(name, v)| {
                nested(&format!("types.{name}"), v, |m| {
                    let t = Fields::read(m, &["format", "size"])?;
                    Ok(HashTypeInfo { format: t.req_uint("format")?, size: t.req_uint("size")? })
                })
                .map(|t| (name.to_owned(), t))
            })
            .collect::<Result<_, _>>()?;
        Ok(FsSupportedHashesResponse { types })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_output_is_uint_or_bytes() {
        for out in [HashOutput::Uint(0xcbf4_3926), HashOutput::Bytes(vec![1; 32])] {
            let r = FsHashResponse { hash_type: "crc32".into(), off: None, len: 9, output: out };
            assert_eq!(FsHashResponse::from_value(&r.to_value()).unwrap(), r);
        }
        let v = Value::map([("type", "x".into()), ("len", 1u8.into()), ("output", "s".into())]);
        assert!(FsHashResponse::from_value(&v).unwrap_err().to_string().contains("output"));
    }

    #[test]
    fn offset_not_valid_carries_len() {
        let e = offset_not_valid_error(123);
        assert_eq!(offset_not_valid_len(&e), Some(123));
        let v = e.to_value();
        let back = ErrorBody::from_value(&v).unwrap().unwrap();
        assert_eq!(offset_not_valid_len(&back), Some(123));
        assert_eq!(offset_not_valid_len(&ErrorBody::rc(crate::error::MgmtErr::EInval)), None);
    }

    #[test]
    fn supported_types_name_bad_entries() {
        let v = Value::map([("types", Value::map([("crc32", Value::map([("format", 0u8.into())]))]))]);
        assert_eq!(
            FsSupportedHashesResponse::from_value(&v).unwrap_err(),
            BodyError::MissingKey { key: "types.crc32.size".into() }
        );
    }
}

//! Settings group (3): read, write, delete, commit, load, save.

use super::{Body, MapBuilder, bytes};
use crate::cbor::{BodyError, Fields, Value};

/// Read request (settings 0 R): `{"name": tstr, ["max_size": uint]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsReadRequest {
    /// Setting name.
    pub name: String,
    /// Largest value the client can take.
    pub max_size: Option<u32>,
}

impl Body for SettingsReadRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("name", self.name.as_str()).opt("max_size", self.max_size).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name", "max_size"])?;
        Ok(SettingsReadRequest { name: f.req_text("name")?.to_owned(), max_size: f.opt_uint("max_size")? })
    }
}

/// Read reply: `{"val": bstr, ["max_size": uint]}`; `max_size` (the build's
/// `SETTINGS_VALUE_LEN`) only when the request asked for more than that.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsReadResponse {
    /// The value.
    pub val: Vec<u8>,
    /// The server's limit, when the request's was larger.
    pub max_size: Option<u32>,
}

impl Body for SettingsReadResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("val", bytes(&self.val)).opt("max_size", self.max_size).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["val", "max_size"])?;
        Ok(SettingsReadResponse { val: f.req_bytes("val")?.to_vec(), max_size: f.opt_uint("max_size")? })
    }
}

/// Write request (settings 0 W): `{"name": tstr, "val": bstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsWriteRequest {
    /// Setting name.
    pub name: String,
    /// New value.
    pub val: Vec<u8>,
}

impl Body for SettingsWriteRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("name", self.name.as_str()).put("val", bytes(&self.val)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name", "val"])?;
        Ok(SettingsWriteRequest { name: f.req_text("name")?.to_owned(), val: f.req_bytes("val")?.to_vec() })
    }
}

/// Delete request (settings 1 W): `{"name": tstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsDeleteRequest {
    /// Setting name.
    pub name: String,
}

impl Body for SettingsDeleteRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("name", self.name.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name"])?;
        Ok(SettingsDeleteRequest { name: f.req_text("name")?.to_owned() })
    }
}

/// Save request (settings 3 W): `{["name": tstr]}` = subtree to save (newer Zephyr).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsSaveRequest {
    /// Subtree, or everything.
    pub name: Option<String>,
}

impl Body for SettingsSaveRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("name", self.name.clone()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name"])?;
        Ok(SettingsSaveRequest { name: f.opt_text("name")?.map(str::to_owned) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn val_must_be_bytes() {
        let v = Value::map([("name", "a/b".into()), ("val", "text".into())]);
        assert_eq!(
            SettingsWriteRequest::from_value(&v).unwrap_err(),
            BodyError::WrongType { key: "val".into(), expected: "byte string", found: "text string" }
        );
    }
}

//! Enumeration group (10): group count, list, single, details.

use super::{Body, MapBuilder, each};
use crate::cbor::{BodyError, Fields, Value};

/// Read an array of group ids (u16) at `key`.
fn group_ids(key: &str, items: &[Value]) -> Result<Vec<u16>, BodyError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("{key}[{i}]");
            match v {
                Value::Int(n) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or(BodyError::OutOfRange { key: at, value: n.get(), expected: "u16" }),
                other => {
                    Err(BodyError::WrongType { key: at, expected: "unsigned integer", found: other.kind() })
                }
            }
        })
        .collect()
}

fn ids_value(ids: &[u16]) -> Value {
    Value::Array(ids.iter().map(|g| Value::from(*g)).collect())
}

/// Count reply (enum 0 R): `{"count": uint}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnumCountResponse {
    /// Number of registered groups.
    pub count: u64,
}

impl Body for EnumCountResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("count", self.count).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["count"])?;
        Ok(EnumCountResponse { count: f.req_uint("count")? })
    }
}

/// List reply (enum 1 R): `{"groups": [uint, ...]}` in registry order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumListResponse {
    /// Group ids.
    pub groups: Vec<u16>,
}

impl Body for EnumListResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("groups", ids_value(&self.groups)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["groups"])?;
        Ok(EnumListResponse { groups: group_ids("groups", f.req_array("groups")?)? })
    }
}

/// Single request (enum 2 R): `{["index": uint]}` (default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnumSingleRequest {
    /// Registry index.
    pub index: Option<u64>,
}

impl Body for EnumSingleRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("index", self.index).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["index"])?;
        Ok(EnumSingleRequest { index: f.opt_uint("index")? })
    }
}

/// Single reply: `{"group": uint, ["end": true]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnumSingleResponse {
    /// Group id at that index.
    pub group: u16,
    /// True on the last group (the key is only sent when true).
    pub end: bool,
}

impl Body for EnumSingleResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("group", self.group).opt("end", self.end.then_some(true)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["group", "end"])?;
        Ok(EnumSingleResponse { group: f.req_uint("group")?, end: f.opt_bool("end")?.unwrap_or(false) })
    }
}

/// Details request (enum 3 R): `{["groups": [uint, ...]]}` filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumDetailsRequest {
    /// Only these groups, or all.
    pub groups: Option<Vec<u16>>,
}

impl Body for EnumDetailsRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("groups", self.groups.as_deref().map(ids_value)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["groups"])?;
        let groups = match f.opt_array("groups")? {
            Some(a) => Some(group_ids("groups", a)?),
            None => None,
        };
        Ok(EnumDetailsRequest { groups })
    }
}

/// One group in the details reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupDetails {
    /// Group id.
    pub group: u16,
    /// Name, e.g. `"img mgmt"`.
    pub name: Option<String>,
    /// Size of the group's handler table (max command id + 1).
    pub handlers: Option<u64>,
}

impl Body for GroupDetails {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .put("group", self.group)
            .opt("name", self.name.clone())
            .opt("handlers", self.handlers)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["group", "name", "handlers"])?;
        Ok(GroupDetails {
            group: f.req_uint("group")?,
            name: f.opt_text("name")?.map(str::to_owned),
            handlers: f.opt_uint("handlers")?,
        })
    }
}

/// Details reply: `{"groups": [{"group", ["name"], ["handlers"]}, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumDetailsResponse {
    /// One entry per group.
    pub groups: Vec<GroupDetails>,
}

impl Body for EnumDetailsResponse {
    fn to_value(&self) -> Value {
        let groups = self.groups.iter().map(Body::to_value).collect();
        MapBuilder::new().put("groups", Value::Array(groups)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["groups"])?;
        Ok(EnumDetailsResponse { groups: each("groups", f.req_array("groups")?, GroupDetails::from_value)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_must_fit_u16() {
        let v = Value::map([("groups", Value::Array(vec![0u8.into(), 70000u32.into()]))]);
        assert_eq!(
            EnumListResponse::from_value(&v).unwrap_err(),
            BodyError::OutOfRange { key: "groups[1]".into(), value: 70000, expected: "u16" }
        );
    }
}

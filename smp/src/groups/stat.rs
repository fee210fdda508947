//! Statistics group (2): show one group's counters, list the groups.
//!
//! Old servers add `"rc": 0` to both replies; it is ignored here (see [`crate::error::ErrorBody`]
//! for how a reply is classified as success or failure).

use super::{Body, MapBuilder, text_keyed};
use crate::cbor::{BodyError, Fields, Value};

/// Show request (stat 0 R): `{"name": tstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatShowRequest {
    /// The statistics group name.
    pub name: String,
}

impl Body for StatShowRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("name", self.name.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name"])?;
        Ok(StatShowRequest { name: f.req_text("name")?.to_owned() })
    }
}

/// Show reply: `{"name": tstr, "fields": {<stat>: uint, ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatShowResponse {
    /// The group name.
    pub name: String,
    /// Counter names and values, in the server's order.
    pub fields: Vec<(String, u64)>,
}

impl Body for StatShowResponse {
    fn to_value(&self) -> Value {
        let fields = self.fields.iter().map(|(k, v)| (Value::text(k.clone()), Value::from(*v)));
        MapBuilder::new().put("name", self.name.as_str()).put("fields", Value::Map(fields.collect())).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["name", "fields"])?;
        let fields = text_keyed("fields", f.req_map("fields")?)?
            .into_iter()
            .map(|(k, v)| match v.as_u64() {
                Some(n) => Ok((k.to_owned(), n)),
                None => Err(BodyError::WrongType {
                    key: format!("fields.{k}"),
                    expected: "unsigned integer",
                    found: v.kind(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(StatShowResponse { name: f.req_text("name")?.to_owned(), fields })
    }
}

/// List reply (stat 1 R): `{"stat_list": [tstr, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatListResponse {
    /// Statistics group names.
    pub stat_list: Vec<String>,
}

impl Body for StatListResponse {
    fn to_value(&self) -> Value {
        let list = self.stat_list.iter().map(|s| Value::text(s.clone())).collect();
        MapBuilder::new().put("stat_list", Value::Array(list)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["stat_list"])?;
        let stat_list = f
            .req_array("stat_list")?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Text(s) => Ok(s.clone()),
                other => Err(BodyError::WrongType {
                    key: format!("stat_list[{i}]"),
                    expected: "text string",
                    found: other.kind(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(StatListResponse { stat_list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rc_zero_is_tolerated() {
        let v = Value::map([("rc", 0u8.into()), ("stat_list", Value::Array(vec!["smp_svr_stats".into()]))]);
        assert_eq!(StatListResponse::from_value(&v).unwrap().stat_list, vec!["smp_svr_stats"]);
        let v = Value::map([
            ("rc", 0u8.into()),
            ("name", "g".into()),
            ("fields", Value::map([("a", 1u8.into()), ("b", 2u8.into())])),
        ]);
        let r = StatShowResponse::from_value(&v).unwrap();
        assert_eq!(r.fields, vec![("a".to_owned(), 1), ("b".to_owned(), 2)]);
    }

    #[test]
    fn bad_field_values_are_named() {
        let v = Value::map([("name", "g".into()), ("fields", Value::map([("a", "x".into())]))]);
        assert_eq!(
            StatShowResponse::from_value(&v).unwrap_err().to_string(),
            "key \"fields.a\": expected unsigned integer, found text string"
        );
        let v = Value::map([("stat_list", Value::Array(vec![1u8.into()]))]);
        assert!(StatListResponse::from_value(&v).unwrap_err().to_string().contains("stat_list[0]"));
    }
}

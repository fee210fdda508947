//! Shell management group (9): execute a shell command line.

use super::{Body, MapBuilder};
use crate::cbor::{BodyError, Fields, Value};

/// Exec request (shell 0 W): `{"argv": [tstr, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellExecRequest {
    /// Command and arguments (joined with single spaces by the server).
    pub argv: Vec<String>,
}

impl Body for ShellExecRequest {
    fn to_value(&self) -> Value {
        let argv = self.argv.iter().map(|a| Value::text(a.clone())).collect();
        MapBuilder::new().put("argv", Value::Array(argv)).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["argv"])?;
        let argv = f
            .req_array("argv")?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Text(s) => Ok(s.clone()),
                other => Err(BodyError::WrongType {
                    key: format!("argv[{i}]"),
                    expected: "text string",
                    found: other.kind(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(ShellExecRequest { argv })
    }
}

/// Which key carried the command's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShellRetKey {
    /// `"ret"` (current Zephyr).
    #[default]
    Ret,
    /// `"rc"` (`CONFIG_MCUMGR_GRP_SHELL_LEGACY_RC_RETURN_CODE`, pre-2022), which collides with
    /// the SMP error `rc`; a reply with `"o"` is read as a shell result either way.
    Rc,
}

/// Exec reply: `{"o": tstr, "ret": int}` (or `"rc"` instead of `"ret"` on legacy servers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellExecResponse {
    /// Captured output.
    pub o: String,
    /// The command's exit code.
    pub ret: i64,
    /// Which key the exit code is (or was) in.
    pub ret_key: ShellRetKey,
}

impl Body for ShellExecResponse {
    fn to_value(&self) -> Value {
        let key = match self.ret_key {
            ShellRetKey::Ret => "ret",
            ShellRetKey::Rc => "rc",
        };
        MapBuilder::new().put("o", self.o.as_str()).put(key, self.ret).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["o", "ret", "rc"])?;
        let (ret, ret_key) = match f.opt_int("ret")? {
            Some(r) => (r, ShellRetKey::Ret),
            None => match f.opt_int("rc")? {
                Some(r) => (r, ShellRetKey::Rc),
                None => return Err(BodyError::MissingKey { key: "ret".into() }),
            },
        };
        Ok(ShellExecResponse { o: f.req_text("o")?.to_owned(), ret, ret_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ret_falls_back_to_rc() {
        let v = Value::map([("o", "hi\n".into()), ("rc", (-2i8).into())]);
        let r = ShellExecResponse::from_value(&v).unwrap();
        assert_eq!((r.ret, r.ret_key), (-2, ShellRetKey::Rc));
        assert_eq!(r.to_value(), v);
        let v = Value::map([("o", "".into())]);
        assert_eq!(
            ShellExecResponse::from_value(&v).unwrap_err(),
            BodyError::MissingKey { key: "ret".into() }
        );
    }

    #[test]
    fn argv_elements_must_be_text() {
        let v = Value::map([("argv", Value::Array(vec!["kernel".into(), 3u8.into()]))]);
        assert!(ShellExecRequest::from_value(&v).unwrap_err().to_string().contains("argv[1]"));
    }
}

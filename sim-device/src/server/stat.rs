//! Statistics group (2), as Zephyr's `stat_mgmt` answers (reference `smp-protocol.md` §7).
//!
//! | id | command | here |
//! |---|---|---|
//! | 0 | show (R) | `{"name", "fields": {...}}`; unknown name → STAT error 3 (INVALID_STAT_NAME) |
//! | 1 | list (R) | `{"stat_list": [...]}` |
//!
//! The groups served, in this order:
//!
//! * `smp_svr_stats` with `ticks`, as the `smp_svr` sample has (seconds since boot);
//! * `smp`: what the server counts since boot — `rx_bytes`, `requests`, `replies`,
//!   `tx_bytes`, `errors` (see [`crate::server`]);
//! * `smp_grp`: requests since boot per group (`os`, `image`, `stat`, ..., `group_64`;
//!   unregistered groups count as `other`), a field appearing with its group's first request;
//! * user groups declared in [`StatOptions::user_groups`] (a scenario declares them; the
//!   values come from [`Device::stats_mut`](crate::device::Device::stats_mut), 0 until set);
//! * any other group a handler or test created in [`Device::stats`](crate::device::Device::stats).
//!
//! Counters are sent as 32-bit values (`zcbor_uint32_put`), as Zephyr does even for 64-bit
//! stats. A show name that is empty or of `max_name_len` (32) bytes or more is `{"rc": 3}`.
//! Two old-tree quirks are options: errors reported under group 63 (before Feb 2026) and
//! `"rc": 0` in every list reply (before PR #80477).

use smp::cbor::Value;
use smp::error::{StatErr, stat_error_group};
use smp::groups::stat::StatShowRequest;
use smp::header::Group;

use super::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, ServerConfig};

/// A statistics group declared ahead of time: its name and counter names, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatGroupDef {
    pub name: String,
    pub fields: Vec<String>,
}

/// Statistics group options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatOptions {
    /// Groups shown besides the built-in ones, in this order.
    pub user_groups: Vec<StatGroupDef>,
    /// Report errors under group 63 (Zephyr basic), as servers before Feb 2026 (PR #104682)
    /// did. For v1 that translation is EOK: no usable reply.
    pub legacy_group_63: bool,
    /// Put `"rc": 0` first in list replies, as trees before PR #80477 did (show carries it
    /// only with the server-wide `legacy_rc`, as in Zephyr).
    pub legacy_rc: bool,
    /// `CONFIG_MCUMGR_GRP_STAT_MAX_NAME_LEN` (32): show names of this many bytes or more
    /// (and empty names) are refused with `{"rc": 3}`.
    pub max_name_len: usize,
}

impl Default for StatOptions {
    fn default() -> StatOptions {
        StatOptions { user_groups: Vec::new(), legacy_group_63: false, legacy_rc: false, max_name_len: 32 }
    }
}

/// The stat group's handler table.
pub fn group(_config: &ServerConfig) -> GroupDef {
    GroupDef {
        group: Group::Stat,
        name: Some("stat mgmt"),
        commands: vec![
            CommandDef { id: 0, name: "show", read: Some(show), write: None },
            CommandDef { id: 1, name: "list", read: Some(list), write: None },
        ],
    }
}

/// Every group served: name and fields, in order.
pub fn groups(dev: &crate::device::Device) -> Vec<(String, Vec<(String, u64)>)> {
    let stats = dev.stats();
    let mut out: Vec<(String, Vec<(String, u64)>)> = Vec::new();
    out.push(("smp_svr_stats".into(), vec![("ticks".into(), dev.uptime_ms() / 1000)]));
    let smp_fields = ["rx_bytes", "requests", "replies", "tx_bytes", "errors"];
    let mut smp: Vec<(String, u64)> = smp_fields.iter().map(|f| ((*f).to_string(), 0)).collect();
    if let Some(g) = stats.group("smp") {
        for (name, value) in &g.fields {
            match smp.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = *value,
                None => smp.push((name.clone(), *value)),
            }
        }
    }
    out.push(("smp".into(), smp));
    let per_group = stats.group("smp_grp").map(|g| g.fields.clone()).unwrap_or_default();
    out.push(("smp_grp".into(), per_group));
    for def in &dev.server_config().stat.user_groups {
        if out.iter().any(|(n, _)| *n == def.name) {
            continue;
        }
        let mut fields: Vec<(String, u64)> = def.fields.iter().map(|f| (f.clone(), 0)).collect();
        if let Some(g) = stats.group(&def.name) {
            for (name, value) in &g.fields {
                match fields.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = *value,
                    None => fields.push((name.clone(), *value)),
                }
            }
        }
        out.push((def.name.clone(), fields));
    }
    for g in stats.groups() {
        if !out.iter().any(|(n, _)| *n == g.name) {
            out.push((g.name.clone(), g.fields.clone()));
        }
    }
    out
}

/// `"rc": 0` first: in list when the stat quirk or the server-wide option is on, in show
/// with the server-wide option.
fn legacy_rc(ctx: &Ctx<'_>, list: bool) -> Vec<(Value, Value)> {
    let config = ctx.dev.server_config();
    if config.legacy_rc || (list && config.stat.legacy_rc) {
        vec![(Value::text("rc"), Value::from(0u8))]
    } else {
        Vec::new()
    }
}

/// Show one group: `{"name": n, "fields": {...}}`.
pub fn show(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: StatShowRequest = ctx.decode()?;
    if req.name.is_empty() || req.name.len() >= ctx.dev.server_config().stat.max_name_len {
        return Err(super::EINVAL);
    }
    let Some((name, fields)) = groups(ctx.dev).into_iter().find(|(n, _)| *n == req.name) else {
        let group = stat_error_group(ctx.dev.server_config().stat.legacy_group_63);
        return Err(HandlerError::Group {
            group: Some(group),
            rc: StatErr::InvalidStatName.code(),
            keys: Vec::new(),
            rsn: None,
        });
    };
    // zcbor_uint32_put: the low 32 bits of each counter.
    let fields = fields.into_iter().map(|(k, v)| (Value::text(k), Value::from(v as u32))).collect();
    let mut m = legacy_rc(ctx, false);
    m.push((Value::text("name"), Value::text(name)));
    m.push((Value::text("fields"), Value::Map(fields)));
    Ok(Value::Map(m))
}

/// List the groups: `{"stat_list": [...]}`.
pub fn list(ctx: &mut Ctx<'_>) -> HandlerResult {
    let names = groups(ctx.dev).into_iter().map(|(n, _)| Value::text(n)).collect();
    let mut m = legacy_rc(ctx, true);
    m.push((Value::text("stat_list"), Value::Array(names)));
    Ok(Value::Map(m))
}

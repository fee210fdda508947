//! Enumeration group (10), as Zephyr's `enum_mgmt` answers (reference `smp-protocol.md` §10).
//!
//! | id | command | here |
//! |---|---|---|
//! | 0 | count (R) | `{"count": n}` |
//! | 1 | list (R) | `{"groups": [id, ...]}` in registration order |
//! | 2 | single (R) | `{"group": id, ["end": true]}`; index past the end → ENUM error 4 |
//! | 3 | details (R) | `{"groups": [{"group", "name", "handlers"}, ...]}`, optionally filtered |
//!
//! Everything reflects the groups actually registered on the device, user groups included
//! ([`Device::register_group`](crate::device::Device::register_group)).

use smp::cbor::Value;
use smp::error::EnumErr;
use smp::groups::Body;
use smp::groups::enumeration::{
    EnumCountResponse, EnumDetailsRequest, EnumListResponse, EnumSingleRequest, EnumSingleResponse,
};
use smp::header::Group;

use super::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, ServerConfig};

/// The enumeration group's handler table.
pub fn group(_config: &ServerConfig) -> GroupDef {
    GroupDef {
        group: Group::Enumeration,
        name: Some("enum mgmt"),
        commands: vec![
            CommandDef { id: 0, name: "count", read: Some(count), write: None },
            CommandDef { id: 1, name: "list", read: Some(list), write: None },
            CommandDef { id: 2, name: "single", read: Some(single), write: None },
            CommandDef { id: 3, name: "details", read: Some(details), write: None },
        ],
    }
}

/// Number of registered groups.
pub fn count(ctx: &mut Ctx<'_>) -> HandlerResult {
    Ok(EnumCountResponse { count: ctx.dev.groups().len() as u64 }.to_value())
}

/// Every group id, in registration order.
pub fn list(ctx: &mut Ctx<'_>) -> HandlerResult {
    Ok(EnumListResponse { groups: ctx.dev.groups().iter().map(|g| g.group.id()).collect() }.to_value())
}

/// The group at `index` (0 when absent); `end` on the last one.
pub fn single(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: EnumSingleRequest = ctx.decode()?;
    let index = req.index.unwrap_or(0);
    let groups = ctx.dev.groups();
    let Some(g) = usize::try_from(index).ok().and_then(|i| groups.get(i)) else {
        return Err(HandlerError::group(EnumErr::IndexTooLarge.code()));
    };
    let end = index + 1 == groups.len() as u64;
    Ok(EnumSingleResponse { group: g.group.id(), end }.to_value())
}

/// Name and handler count of every group, or of those listed in `groups` (registry order;
/// ids that are not registered are left out).
pub fn details(ctx: &mut Ctx<'_>) -> HandlerResult {
    // The body is optional: an empty payload means "all groups".
    let filter = if ctx.payload.is_empty() { None } else { ctx.decode::<EnumDetailsRequest>()?.groups };
    let entries = ctx
        .dev
        .groups()
        .iter()
        .filter(|g| filter.as_ref().is_none_or(|f| f.contains(&g.group.id())))
        .map(|g| {
            let mut m = vec![(Value::text("group"), Value::from(g.group.id()))];
            if let Some(name) = g.name {
                m.push((Value::text("name"), Value::text(name)));
            }
            m.push((Value::text("handlers"), Value::from(g.handler_count() as u64)));
            Value::Map(m)
        })
        .collect();
    Ok(Value::map([("groups", Value::Array(entries))]))
}

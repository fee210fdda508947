//! Enumeration group (10), as Zephyr's `enum_mgmt` answers (reference `smp-protocol.md` §10).
//!
//! | id | command | here |
//! |---|---|---|
//! | 0 | count (R) | `{"count": n}` |
//! | 1 | list (R) | `{"groups": [id, ...]}` in registration order |
//! | 2 | single (R) | `{"group": id, ["end": true]}`; index past the end → ENUM error 4 |
//! | 3 | details (R) | `{"groups": [{"group", "name", "handlers"}, ...]}`, optionally filtered (at most 16 ids, else ENUM error 2) |
//!
//! A reply too large for the buffer is `{"rc": 9}` (ECORRUPT) here, as in Zephyr.
//!
//! Everything reflects the groups actually registered on the device, user groups included
//! ([`Device::register_group`](crate::device::Device::register_group)).

use smp::cbor::{self, MapStyle, Value};
use smp::error::{EnumErr, MgmtErr};
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

/// `CONFIG_MCUMGR_GRP_ENUM_DETAILS_BUFFER_TYPE_STACK_ENTRIES`: the most ids a details filter
/// may list.
pub const DETAILS_FILTER_ENTRIES: usize = 16;

/// The largest index single accepts before answering `{"rc": 3}` (`MAX_MCUMGR_GROUPS`).
pub const MAX_GROUPS: u64 = 65_535;

/// Zephyr's enumeration handlers report a reply that does not fit the buffer as ECORRUPT
/// (their encode failures), not EMSGSIZE.
fn fits(ctx: &Ctx<'_>, body: Value) -> HandlerResult {
    let len = smp::header::HEADER_LEN + cbor::encode(&body, MapStyle::Indefinite).len();
    if len > ctx.dev.limits().buf_size as usize {
        return Err(HandlerError::rc(MgmtErr::ECorrupt));
    }
    Ok(body)
}

/// Number of registered groups.
pub fn count(ctx: &mut Ctx<'_>) -> HandlerResult {
    Ok(EnumCountResponse { count: ctx.dev.groups().len() as u64 }.to_value())
}

/// Every group id, in registration order.
pub fn list(ctx: &mut Ctx<'_>) -> HandlerResult {
    let body =
        EnumListResponse { groups: ctx.dev.groups().iter().map(|g| g.group.id()).collect() }.to_value();
    fits(ctx, body)
}

/// The group at `index` (0 when absent); `end` on the last one.
pub fn single(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: EnumSingleRequest = ctx.decode()?;
    let index = req.index.unwrap_or(0);
    // Decoded as a u32 and checked against MAX_MCUMGR_GROUPS.
    if index > MAX_GROUPS {
        return Err(super::EINVAL);
    }
    let groups = ctx.dev.groups();
    let Some(g) = usize::try_from(index).ok().and_then(|i| groups.get(i)) else {
        return Err(HandlerError::group(EnumErr::IndexTooLarge.code()));
    };
    let end = index + 1 == groups.len() as u64;
    Ok(EnumSingleResponse { group: g.group.id(), end }.to_value())
}

/// Name and handler count of every group, or of those listed in `groups` (registry order;
/// ids that are not registered are left out; an empty list means all). A group without a
/// name gets `"name": ""`, as Zephyr encodes its NULL name.
pub fn details(ctx: &mut Ctx<'_>) -> HandlerResult {
    let filter = ctx.decode::<EnumDetailsRequest>()?.groups.unwrap_or_default();
    if filter.len() > DETAILS_FILTER_ENTRIES {
        return Err(HandlerError::group(EnumErr::TooManyGroupEntries.code()));
    }
    let entries = ctx
        .dev
        .groups()
        .iter()
        .filter(|g| filter.is_empty() || filter.contains(&g.group.id()))
        .map(|g| {
            Value::Map(vec![
                (Value::text("group"), Value::from(g.group.id())),
                (Value::text("name"), Value::text(g.name.unwrap_or(""))),
                (Value::text("handlers"), Value::from(g.handler_count() as u64)),
            ])
        })
        .collect();
    fits(ctx, Value::map([("groups", Value::Array(entries))]))
}

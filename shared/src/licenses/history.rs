//! License history (API.md §8.4): one entry per change of a license, written in the same
//! transaction as the change, so it is never missing nor invented. Each entry is its own item,
//! listed newest first by license (GSI1) or across the company (GSI2), a Query page at a time;
//! `count` reads the list (short for one license; the whole history for the company's).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::License;
use crate::app::{respond, route, App};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::{ok, query_pairs};
use crate::ids::Id;
use crate::listing::{
    json_len, page_body, page_from_index, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec, MAX_LIMIT,
};
use crate::store::{keys, Entity, IndexKey, IndexPager, StoreError, Transaction};
use crate::timefmt::{format_time, rfc3339};

/// What happened to the license (API.md §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Imported,
    Updated,
    FeaturesUpdated,
    Enabled,
    Disabled,
    Reset,
    UserAssigned,
    UserUnassigned,
    Deleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Imported => "imported",
            Action::Updated => "updated",
            Action::FeaturesUpdated => "features_updated",
            Action::Enabled => "enabled",
            Action::Disabled => "disabled",
            Action::Reset => "reset",
            Action::UserAssigned => "user_assigned",
            Action::UserUnassigned => "user_unassigned",
            Action::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: Id,
    pub license: Id,
    /// The license's product, for a scoped manager's view.
    pub product: Id,
    pub action: String,
    /// `{"<field>": [<before>, <after>]}` of the license JSON (§3).
    #[serde(with = "crate::catalog::json_text")]
    pub changes: Map<String, Value>,
    /// The key prefix of the manager who made the change.
    pub manager: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set on the `created` entry of a license a staged order writes, as on the license: the
    /// entry shows once the write is settled, and goes if it is rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<String>,
}

impl Entity for HistoryEntry {
    const KIND: &'static str = "LICENSE_HISTORY";
    const NAME: &'static str = "license history entry";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.created_at
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::license_history_pk(company, id), keys::LICENSE_HISTORY_SK.into())
    }

    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        let sk = keys::padded(self.id);
        vec![
            IndexKey { index: 1, pk: keys::license_history_gsi1pk(company, self.license), sk: sk.clone() },
            IndexKey { index: 2, pk: keys::histories_gsi2pk(company), sk },
        ]
    }
}

/// Most bytes of JSON an entry's `changes` keeps. A license item may hold up to 400 KB (most of
/// it metadata), so a change's before and after could not both fit one item: the largest values
/// are replaced by a note of their size until the rest fits.
pub const MAX_CHANGES_BYTES: usize = 12 * 1024;
/// What one entry may cost a transaction: its changes and the rest of the item.
pub const ENTRY_BYTES: usize = MAX_CHANGES_BYTES + 4 * 1024;

/// The top-level fields whose values differ between two renderings, as `[before, after]`,
/// within [`MAX_CHANGES_BYTES`].
pub fn changes(before: &Value, after: &Value) -> Map<String, Value> {
    within_budget(all_changes(before, after))
}

fn all_changes(before: &Value, after: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let (b, a) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let mut changed = Map::new();
    for (field, old) in b {
        let new = a.get(field).unwrap_or(&Value::Null);
        if old != new && field != "updated_at" {
            changed.insert(field.clone(), json!([old, new]));
        }
    }
    for (field, new) in a.iter().filter(|(field, _)| !b.contains_key(*field)) {
        changed.insert(field.clone(), json!([Value::Null, new]));
    }
    changed
}

/// `changed` with its largest values replaced by `"(N bytes not kept)"` until its JSON is at most
/// [`MAX_CHANGES_BYTES`].
fn within_budget(mut changed: Map<String, Value>) -> Map<String, Value> {
    let mut sides: Vec<(usize, String, usize)> = changed
        .iter()
        .flat_map(|(field, pair)| {
            let pair = pair.as_array().cloned().unwrap_or_default();
            pair.into_iter().enumerate().map(move |(side, value)| (json_len(&value), field.clone(), side))
        })
        .collect();
    sides.sort_unstable_by_key(|side| std::cmp::Reverse(side.0));
    let mut total = json_len(&Value::Object(changed.clone()));
    for (size, field, side) in sides {
        if total <= MAX_CHANGES_BYTES {
            break;
        }
        let note = Value::String(format!("({size} bytes not kept)"));
        total = total + json_len(&note) - size;
        if let Some(slot) = changed.get_mut(&field).and_then(|pair| pair.get_mut(side)) {
            *slot = note;
        }
    }
    changed
}

/// One history entry per changed license, added to the change's transaction.
pub struct Recorder<'p> {
    pub principal: &'p Principal,
    pub now: OffsetDateTime,
}

impl Recorder<'_> {
    /// Adds the entry of `action` on `license` (of `product`), from its rendering `before` to
    /// `after`, to `tx`.
    pub fn record(
        &self,
        tx: &mut Transaction<'_>,
        id: Id,
        (license, product): (Id, Id),
        action: Action,
        (before, after): (&Value, &Value),
    ) -> Result<(), StoreError> {
        let entry = HistoryEntry {
            id,
            license,
            product,
            action: action.as_str().into(),
            changes: changes(before, after),
            manager: self.principal.key_prefix.clone(),
            created_at: self.now,
            attempt: None,
        };
        tx.create(&entry)
    }

    /// The entry recording that `license` was created (`Created`, by an order) or imported:
    /// what identifies it, from nothing. Its id is the license's (each license has one), so a
    /// staged write can settle or roll back its licenses' entries by their ids.
    pub fn creation(&self, license: &License, action: Action) -> HistoryEntry {
        HistoryEntry {
            id: license.id,
            license: license.id,
            product: license.product,
            action: action.as_str().into(),
            changes: changes(&Value::Null, &identity(license)),
            manager: self.principal.key_prefix.clone(),
            created_at: self.now,
            attempt: license.attempt.clone(),
        }
    }
}

/// What identifies a license in its `created`, `imported` and `deleted` entries (the whole
/// license would not fit an entry: its metadata alone may take 32 KB).
pub fn identity(license: &License) -> Value {
    json!({
        "id": license.id,
        "license_key": license.license_key,
        "order": license.order,
        "order_store_id": license.order_store_id,
        "product": license.product,
        "customer": license.customer,
    })
}

impl HistoryEntry {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "license": self.license,
            "action": self.action,
            "changes": self.changes,
            "manager": self.manager,
            "created_at": format_time(self.created_at),
        })
    }
}

static FILTERS: &[FilterSpec<HistoryEntry, ()>] = &[
    FilterSpec { param: "license", lookup: Lookup::IntExact, field: |e, _| e.license.into() },
    FilterSpec { param: "action", lookup: Lookup::Exact, field: |e, _| e.action.as_str().into() },
];

static ORDERS: &[OrderSpec<HistoryEntry, ()>] = &[
    OrderSpec { name: "id", key: |e, _| e.id.into() },
    OrderSpec { name: "created_at", key: |e, _| e.created_at.into() },
    OrderSpec { name: "action", key: |e, _| e.action.as_str().into() },
];

/// `GET /api/v1/license-histories/` (filters `license`, `action`; newest first unless
/// `order_by` says otherwise) and `/{id}/`. A manager scoped to products sees the entries of
/// their licenses only.
pub async fn license_histories_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let one = crate::http::api_segments(req.uri().path()).is_some_and(|s| s.len() == 2);
        let pattern: &[&str] = if one { &["license-histories", "{id}"] } else { &["license-histories"] };
        let routed = route(app, &req, pattern, Method::GET).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        if let Some(id) = routed.id {
            let entry =
                store.get::<HistoryEntry>(id).await?.filter(|e| principal.can_access(e.product) && e.attempt.is_none());
            return Ok(ok(&entry.ok_or(ApiError::NotFound)?.render()));
        }
        let mut pairs = query_pairs(&req);
        if !pairs.iter().any(|(name, value)| name == "order_by" && !value.trim().is_empty()) {
            pairs.push(("order_by".into(), "-id".into()));
        }
        let query = ListQuery::parse(&pairs, FILTERS, ORDERS, ListRules::of(&req, MAX_LIMIT))?;
        let forward = !query.index_order().unwrap_or(false);
        let mut pager = match query.int_filter("license") {
            Some(license) => {
                IndexPager::new(1, keys::license_history_gsi1pk(store.company(), license.max(0) as Id), forward)
            }
            None => IndexPager::new(2, keys::histories_gsi2pk(store.company()), forward),
        };
        // Not counted by a counter: `bulk_update` fills its transaction with 50 licenses and
        // their 50 entries (API.md §8.1), leaving no room for a counter's write. A license's
        // history is short; the company's is counted by reading it (filter by `license`).
        let count = None;
        // A staged order's `created` entries show once its write is settled (milliseconds after
        // its commit; the sweeper's minutes after a crash), as its licenses' marks go.
        let in_scope = |e: &HistoryEntry| principal.can_access(e.product) && e.attempt.is_none();
        let (count, page) = page_from_index(store, &query, &(), count, &mut pager, in_scope).await?;
        let results = page.iter().map(HistoryEntry::render).collect();
        Ok(ok(&page_body(&req, count, query.limit, query.offset, results)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_each_changed_field_with_both_values() {
        let before = json!({"enabled": true, "note": "a", "max_activations": 1, "updated_at": "x"});
        let after = json!({"enabled": false, "note": "a", "max_activations": 3, "updated_at": "y", "new": 1});
        let changed = changes(&before, &after);
        assert_eq!(
            Value::Object(changed),
            json!({"enabled": [true, false], "max_activations": [1, 3], "new": [null, 1]})
        );
        assert!(changes(&before, &before).is_empty());
    }

    #[test]
    fn large_values_are_replaced_by_their_size_until_the_entry_fits() {
        let big = "x".repeat(300 * 1024);
        let before = json!({"metadata": {"blob": big}, "note": "a"});
        let after = json!({"metadata": {"blob": format!("{big}y")}, "note": "b"});
        let changed = Value::Object(changes(&before, &after));
        assert!(json_len(&changed) <= MAX_CHANGES_BYTES, "{}", json_len(&changed));
        assert_eq!(changed["note"], json!(["a", "b"]));
        assert_eq!(changed["metadata"][0], json!(format!("({} bytes not kept)", 300 * 1024 + 11)));
        assert!(changed["metadata"][1].as_str().is_some_and(|s| s.ends_with("bytes not kept)")));
    }
}

//! A license's own operations (API.md §8.1): PATCH, enable, disable, reset and delete. Each is
//! one conditional transaction of the license item (a lost race is a 409 and writes nothing)
//! with its history entry (§8.4), and answers the license JSON (§3), 204 for a delete.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};

use super::handlers::{render_all, replace_features, visible_license, visible_of};
use super::history::{Action, Recorder, ENTRY_BYTES};
use super::{License, Related, RenderCtx};
use crate::app::{respond, route, App, Routed};
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::error::{ApiError, FieldErrors};
use crate::ids::{Id, IdGenerator};
use crate::input::Input;
use crate::license_props::{self, Kind, Props, LICENSE_PROPERTIES};
use crate::orders::Order;
use crate::store::{later_than, LicenseTally, TenantStore, WriteCost};

/// Fields of the license JSON a PATCH may not change (API.md §8.1).
const READ_ONLY: &[&str] = &["license_key", "license_type", "product", "order"];

/// What a PATCH may set: the license properties of §4 but the type, and `enabled` and
/// `total_consumptions` (`0` resets consumption).
fn writable() -> Vec<(&'static str, Kind)> {
    LICENSE_PROPERTIES
        .iter()
        .copied()
        .filter(|(name, _)| *name != "license_type")
        .chain([("enabled", Kind::Bool), ("total_consumptions", Kind::Count)])
        .collect()
}

/// Reads, changes and writes one visible license with its history entry; the license after.
/// Its DynamoDB requests: the license, the transaction, its customer and users for the JSON
/// (one BatchGetItem), and the catalog version check.
pub(super) async fn change(
    app: &App,
    routed: &Routed,
    action: Action,
    apply: impl FnOnce(&License, &Catalog) -> Result<License, ApiError>,
) -> Result<Value, ApiError> {
    let principal = &routed.principal;
    let license =
        visible_license(app.store.tenant(principal.company), principal, routed.id.ok_or(ApiError::NotFound)?).await?;
    change_read(app, principal, license, action, apply).await
}

/// [`change`] of a license already read (visible to `principal`).
pub(super) async fn change_read(
    app: &App,
    principal: &Principal,
    license: License,
    action: Action,
    apply: impl FnOnce(&License, &Catalog) -> Result<License, ApiError>,
) -> Result<Value, ApiError> {
    let store = app.store.tenant(principal.company);
    let catalog = Catalog::load(store).await?;
    let changed = apply(&license, &catalog)?;
    let changed = commit_change(app, principal, &license, changed, action, &catalog).await?;
    Ok(render_all(store, &catalog, std::slice::from_ref(&changed)).await?.remove(0))
}

/// Writes `changed` in place of `license` (as read) with its history entry, in one
/// transaction (a lost race is a 409): the license as written.
pub(super) async fn commit_change(
    app: &App,
    principal: &Principal,
    license: &License,
    changed: License,
    action: Action,
    catalog: &Catalog,
) -> Result<License, ApiError> {
    commit_change_with(app, principal, license, changed, action, catalog, |_| Ok(())).await
}

/// [`commit_change`] with what `also` adds to the same transaction (a user created for it).
pub(super) async fn commit_change_with(
    app: &App,
    principal: &Principal,
    license: &License,
    mut changed: License,
    action: Action,
    catalog: &Catalog,
    also: impl FnOnce(&mut crate::store::Transaction<'_>) -> Result<(), crate::store::StoreError>,
) -> Result<License, ApiError> {
    changed.updated_at = later_than(license.updated_at);
    let (before, after) =
        (rendered(license, principal.company, catalog), rendered(&changed, principal.company, catalog));
    let ids = app.ids().await?;
    let mut tx = app.store.tenant(principal.company).transaction();
    tx.replace(license, &changed)?;
    also(&mut tx)?;
    Recorder { principal, now: crate::timefmt::now() }.record(
        &mut tx,
        ids.next_id(),
        (license.id, license.product),
        action,
        (&before, &after),
    )?;
    tx.commit().await?;
    Ok(changed)
}

/// `PATCH /api/v1/licenses/{id}/`: the writable properties of §4, validated as create_order
/// validates them; read-only fields are a 400 naming them; `product_features` is applied with
/// update_features semantics (§5).
pub async fn patch_license_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "{id}"], Method::PATCH).await?;
        let body = crate::http::json_object(&req)?;
        let ids = app.ids().await?;
        let after =
            change(app, &routed, Action::Updated, |license, catalog| patched(&body, license, catalog, ids)).await?;
        Ok(crate::http::ok(&after))
    })
    .await
}

/// `license` as a PATCH body says (API.md §8.1): a 400 naming each read-only field and each bad
/// value.
fn patched(
    body: &Map<String, Value>,
    license: &License,
    catalog: &Catalog,
    ids: &IdGenerator,
) -> Result<License, ApiError> {
    let mut errors = FieldErrors::default();
    for field in READ_ONLY.iter().filter(|f| body.contains_key(**f)) {
        errors.add(*field, "This field is read-only.");
    }
    let mut input = Input::new(body, &mut errors);
    let props = license_props::read(&mut input, &writable());
    errors.into_result()?;
    let mut changed = license.clone();
    changed.apply(&props);
    changed.check_periods()?;
    if body.contains_key("product_features") {
        changed.features = replace_features(body, license, catalog, ids)?;
    }
    Ok(changed)
}

/// Most ids one `disable_bulk` call takes (API.md §8.1).
pub const MAX_DISABLE_BULK: usize = 1_000;
/// Most licenses one `bulk_update` changes: with their history entries, one transaction's 100.
pub const MAX_BULK_UPDATE: usize = 50;

/// The visible licenses with these ids, in the order given; 404 if any is not (API.md §8.1:
/// the whole call, before anything is written).
async fn visible_licenses(store: TenantStore<'_>, principal: &Principal, ids: &[Id]) -> Result<Vec<License>, ApiError> {
    let mut found = visible_of(store, principal, ids).await?;
    ids.iter().map(|id| found.remove(id).ok_or(ApiError::NotFound)).collect()
}

/// The ids of a bulk body's items (an id, or an object's `id`), each once; 400 naming the
/// index of each that is not one.
fn bulk_ids(items: &[Value], limit: usize, object: bool) -> Result<Vec<Id>, ApiError> {
    if items.len() > limit {
        return Err(ApiError::field("non_field_errors", format!("At most {limit} licenses per call.")));
    }
    let mut errors = FieldErrors::default();
    let mut ids = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let value = if object { item.get("id") } else { Some(item) };
        let id = value.and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())));
        match id {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => errors.add(if object { format!("{i}.id") } else { i.to_string() }, "Listed twice."),
            None => errors.add(if object { format!("{i}.id") } else { i.to_string() }, "A license id is required."),
        }
    }
    errors.into_result()?;
    Ok(ids)
}

/// A license JSON for history diffs only, rendered without reading anything: the customer is
/// the same on both sides, and users show as the license holds them (never a password).
fn rendered(license: &License, company: Id, catalog: &Catalog) -> Value {
    license.render(&RenderCtx { company, catalog, related: &Related::default() })
}

/// `POST /api/v1/licenses/disable_bulk/` with a JSON array of up to 1,000 license ids: every id
/// is checked first (one the manager cannot see: 404, nothing written); then the licenses not
/// yet disabled are, with their history entries, in transactions of up to 100 items.
/// Idempotent rather than atomic: repeating an interrupted call completes it. Answers
/// `{"disabled": [ids]}`.
pub async fn disable_bulk_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "disable_bulk"], Method::POST).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        let ids = bulk_ids(&crate::http::json_array(&req)?, MAX_DISABLE_BULK, false)?;
        let licenses = visible_licenses(store, principal, &ids).await?;
        let catalog = Catalog::load(store).await?;
        let (now, generator) = (crate::timefmt::now(), app.ids().await?);
        let record = Recorder { principal, now };
        let mut tx = store.transaction();
        for license in licenses.iter().filter(|l| l.enabled) {
            let disabled = License {
                enabled: false,
                time_disabled: Some(now),
                updated_at: later_than(license.updated_at),
                ..license.clone()
            };
            let cost = store.create_cost(&disabled)?;
            if !tx.has_room(WriteCost { writes: 2, bytes: cost.bytes + ENTRY_BYTES }, WriteCost::default()) {
                std::mem::replace(&mut tx, store.transaction()).commit().await?;
            }
            let (before, after) =
                (rendered(license, principal.company, &catalog), rendered(&disabled, principal.company, &catalog));
            tx.replace(license, &disabled)?;
            record.record(
                &mut tx,
                generator.next_id(),
                (license.id, license.product),
                Action::Disabled,
                (&before, &after),
            )?;
        }
        tx.commit().await?;
        Ok(crate::http::ok(&json!({ "disabled": ids })))
    })
    .await
}

/// `PATCH /api/v1/licenses/bulk_update/` with a JSON array of up to 50 `{"id", <properties>}`:
/// all or nothing, in one transaction with their history entries; a field error answers 400
/// keyed by the item's index (`"3.max_activations"`). Answers the licenses, in the order given.
pub async fn bulk_update_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "bulk_update"], Method::PATCH).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        let items = crate::http::json_array(&req)?;
        let ids = bulk_ids(&items, MAX_BULK_UPDATE, true)?;
        let licenses = visible_licenses(store, principal, &ids).await?;
        let catalog = Catalog::load(store).await?;
        let (now, generator) = (crate::timefmt::now(), app.ids().await?);
        let mut errors = FieldErrors::default();
        let mut changed = Vec::with_capacity(licenses.len());
        let empty = Map::new();
        for (i, (item, license)) in items.iter().zip(&licenses).enumerate() {
            let body = item.as_object().unwrap_or(&empty);
            match patched(body, license, &catalog, generator) {
                Ok(mut after) => {
                    after.updated_at = later_than(license.updated_at);
                    changed.push(after);
                }
                Err(ApiError::Validation(found)) => errors.extend(found.prefixed(&i.to_string())),
                Err(other) => return Err(other),
            }
        }
        errors.into_result()?;
        let record = Recorder { principal, now };
        let mut tx = store.transaction();
        for (license, after) in licenses.iter().zip(&changed) {
            let (old, new) =
                (rendered(license, principal.company, &catalog), rendered(after, principal.company, &catalog));
            tx.replace(license, after)?;
            record.record(
                &mut tx,
                generator.next_id(),
                (license.id, license.product),
                Action::Updated,
                (&old, &new),
            )?;
        }
        tx.commit().await?;
        Ok(crate::http::ok(&Value::Array(render_all(store, &catalog, &changed).await?)))
    })
    .await
}

/// `POST /api/v1/licenses/{id}/disable/` and `/enable/`: `enabled` false or true. Disabling
/// sets `time_disabled`; enabling clears it (the license is not disabled any more).
pub async fn set_enabled_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let segments = crate::http::api_segments(req.uri().path()).unwrap_or_default();
        let enable = match segments.get(2).map(String::as_str) {
            Some("enable") => true,
            Some("disable") => false,
            _ => return Err(ApiError::NotFound),
        };
        let action = if enable { "enable" } else { "disable" };
        let routed = route(app, &req, &["licenses", "{id}", action], Method::POST).await?;
        let now = crate::timefmt::now();
        let recorded = if enable { Action::Enabled } else { Action::Disabled };
        let after = change(app, &routed, recorded, |license, _| {
            Ok(License { enabled: enable, time_disabled: (!enable).then_some(now), ..license.clone() })
        })
        .await?;
        Ok(crate::http::ok(&after))
    })
    .await
}

/// `POST /api/v1/licenses/{id}/reset/`: activations (its devices), consumption, transfers and
/// every user's activations go to 0; the license is inactive again (its status `Inactive` unless disabled).
pub async fn reset_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "{id}", "reset"], Method::POST).await?;
        let after = change(app, &routed, Action::Reset, |license, _| {
            let mut reset = license.clone();
            reset.reset();
            Ok(reset)
        })
        .await?;
        Ok(crate::http::ok(&after))
    })
    .await
}

/// `DELETE /api/v1/licenses/{id}/`: the license, its key's claim and its index entries go, and
/// every count moves in the same transaction (the order's `license_count`, the customer's
/// `total_licenses`, the license counters); its history keeps a `deleted` entry. 204.
pub async fn delete_license_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "{id}"], Method::DELETE).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        let license = visible_license(store, principal, routed.id.ok_or(ApiError::NotFound)?).await?;
        let before = super::history::identity(&license);
        let now = crate::timefmt::now();
        let ids = app.ids().await?;
        let mut tx = store.transaction();
        tx.delete(&license)?;
        let mut tally = LicenseTally::default();
        tally.add(license.product, license.created_at, -1);
        tx.count_licenses(&tally)?;
        tx.add_to::<Order>(license.order, "license_count", -1, now)?;
        if let Some(customer) = license.customer {
            tx.add_to::<crate::catalog::Customer>(customer, "total_licenses", -1, now)?;
        }
        let record = Recorder { principal, now };
        record.record(
            &mut tx,
            ids.next_id(),
            (license.id, license.product),
            Action::Deleted,
            (&before, &Value::Null),
        )?;
        tx.commit().await?;
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    })
    .await
}

impl License {
    /// Sets the properties given (read by `license_props` from a PATCH body; `null` clears an
    /// optional value); keeps every other value.
    pub fn apply(&mut self, props: &Props) {
        let text = |value: &Value| value.as_str().map(str::to_string);
        for (name, value) in props {
            let n = value.as_i64();
            let b = value.as_bool();
            match name.as_str() {
                "max_activations" => self.max_activations = n.unwrap_or(self.max_activations),
                "allow_unlimited_activations" => {
                    self.allow_unlimited_activations = b.unwrap_or(self.allow_unlimited_activations)
                }
                "valid_duration" => self.valid_duration = text(value),
                "validity_period" => self.validity_period = text(value),
                "start_date" => self.start_date = text(value),
                "enable_maintenance_period" => {
                    self.enable_maintenance_period = b.unwrap_or(self.enable_maintenance_period)
                }
                "maintenance_duration" => self.maintenance_duration = text(value),
                "maintenance_period" => self.maintenance_period = text(value),
                "is_trial" => self.is_trial = b.unwrap_or(self.is_trial),
                "trial_days" => self.trial_days = n.unwrap_or(self.trial_days),
                "prevent_vm" => self.prevent_vm = b.unwrap_or(self.prevent_vm),
                "max_transfers" => self.max_transfers = n.unwrap_or(self.max_transfers),
                "max_consumptions" => self.max_consumptions = n.unwrap_or(self.max_consumptions),
                "total_consumptions" => self.total_consumptions = n.unwrap_or(self.total_consumptions),
                "allow_overages" => self.allow_overages = b.unwrap_or(self.allow_overages),
                "max_overages" => self.max_overages = n.unwrap_or(self.max_overages),
                "reset_consumption" => self.reset_consumption = b.unwrap_or(self.reset_consumption),
                "consumption_period" => self.consumption_period = text(value),
                "is_floating" => self.is_floating = b.unwrap_or(self.is_floating),
                "is_floating_cloud" => self.is_floating_cloud = b.unwrap_or(self.is_floating_cloud),
                "floating_users" => self.floating_users = n.unwrap_or(self.floating_users),
                "floating_timeout" => self.floating_timeout = n,
                "can_borrow" => self.can_borrow = b.unwrap_or(self.can_borrow),
                "max_borrow_time" => self.max_borrow_time = n.unwrap_or(self.max_borrow_time),
                "max_license_users" => self.max_license_users = n.unwrap_or(self.max_license_users),
                "is_air_gapped" => self.is_air_gapped = b.unwrap_or(self.is_air_gapped),
                "subscription_id" => self.subscription_id = text(value),
                "note" => self.note = text(value),
                "metadata" => self.metadata = value.as_object().cloned().unwrap_or_else(Map::new),
                "enabled" => {
                    let enabled = b.unwrap_or(self.enabled);
                    if self.enabled && !enabled {
                        self.time_disabled = Some(crate::timefmt::now());
                    } else if enabled {
                        self.time_disabled = None;
                    }
                    self.enabled = enabled;
                }
                _ => {}
            }
        }
    }

    /// The cross-field rules create_order applies (API.md §4), after a change: a time-limited
    /// license needs `valid_duration` or `validity_period` (400 naming `valid_duration`); a
    /// missing `validity_period`, or `maintenance_period` when maintenance is on, is the
    /// duration after the license's start (`start_date`, else its creation).
    pub fn check_periods(&mut self) -> Result<(), ApiError> {
        if self.license_type == "time-limited" && self.valid_duration.is_none() && self.validity_period.is_none() {
            return Err(ApiError::field(
                "valid_duration",
                "A time-limited license needs valid_duration or validity_period.",
            ));
        }
        let start = self.start_date.as_deref().and_then(crate::timefmt::parse_time).unwrap_or(self.created_at);
        let end_of = |duration: &Option<String>| {
            let duration: crate::duration::LicenseDuration = duration.as_deref()?.parse().ok()?;
            duration.after(start).map(|end| crate::timefmt::format_date(end.date()))
        };
        if self.license_type == "time-limited" && self.validity_period.is_none() {
            self.validity_period = end_of(&self.valid_duration);
        }
        if self.enable_maintenance_period && self.maintenance_period.is_none() {
            self.maintenance_period = end_of(&self.maintenance_duration);
        }
        Ok(())
    }

    /// What `reset/` does (API.md §8.1).
    pub fn reset(&mut self) {
        // Its devices go too (their markers with them): the license is active nowhere, and no
        // freed seat is left to count a transfer. Blacklisted devices stay blacklisted.
        self.devices.clear();
        self.released_seats = 0;
        self.times_activated = 0;
        self.total_consumptions = 0;
        self.transfer_count = 0;
        self.active = false;
        self.time_activated = None;
        for user in &mut self.users {
            user.total_activations = 0;
        }
        for feature in &mut self.features {
            feature.total_consumptions = 0;
            feature.floating_seats.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_limited_license_keeps_a_period() {
        let mut license = crate::licenses::tests::sample();
        license.license_type = "time-limited".into();
        license.start_date = Some("2030-01-15".into());
        let err = license.clone().check_periods().unwrap_err();
        assert_eq!(
            err.body(),
            json!({"valid_duration": ["A time-limited license needs valid_duration or validity_period."]})
        );
        license.valid_duration = Some("1y".into());
        license.check_periods().unwrap();
        assert_eq!(license.validity_period.as_deref(), Some("2031-01-15"));
        let mut perpetual = crate::licenses::tests::sample();
        perpetual.check_periods().unwrap();
        assert_eq!(perpetual.validity_period, None);
    }

    #[test]
    fn the_type_is_not_writable_but_enabled_and_consumption_are() {
        let names: Vec<&str> = writable().iter().map(|(name, _)| *name).collect();
        assert!(!names.contains(&"license_type"));
        assert!(names.contains(&"enabled") && names.contains(&"total_consumptions") && names.contains(&"note"));
    }
}

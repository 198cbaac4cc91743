//! Bundles (LICENSE-API.md §4.2): `activate_bundle`, `check_bundle` and `deactivate_bundle`
//! act on a bundle license (its `product` is a bundle product) and on each of its member
//! licenses (API.md §5: one per member product, with the same key or users), all in one
//! transaction conditional on every license as read, so a bundle is never half-activated.
//! Each answers a JSON array of the members' License objects (the SDK stores each under its
//! `product_details.short_code`).
//!
//! A bundle's activation holds, for each license, the license, its activation entry, its device
//! marker and its product's device counter (4 writes), plus the company's counters: a bundle of
//! more than 23 members passes DynamoDB's 100-write transaction and is a 400
//! (`request_too_large`); a check writes 2 a license (48 members).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::floating::hold_seat;
use super::handlers::{activation_entry, stage, RACE_RETRIES};
use super::objects::license_object;
use super::request::{context, license_not_found, license_of, password_given, product_of, required, visible};
use super::rules::{activate, blacklisted, check_usable, checked, device, device_at};
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::catalog::Catalog;
use crate::licenses::users::CompanyUser;
use crate::licenses::License;
use crate::store::{keys, StoreError, TenantStore};

/// `POST /api/v4/activate_bundle`: the bundle license and each member license activated on
/// this device (idempotent for a device already active), per the rules of §0.
pub async fn activate_bundle_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let hardware_id = required(&params, "hardware_id")?;
        password_given(&params)?;
        let ids = app.ids().await.map_err(|e| LicenseApiError::from(StoreError::Aws(e.to_string())))?;
        change_bundle(app, (store, &catalog), &params, now, "activation", |license, user| {
            if license.devices.iter().any(|d| d.hardware_id == hardware_id) {
                return Ok(None);
            }
            if license.is_blacklisted(&hardware_id) {
                return Err(blacklisted());
            }
            let new = device(&params, &hardware_id, (ids.next_id(), user), now)?;
            let activated = activate(license, new, now)?;
            Ok(Some(hold_seat(&activated, activated.devices.len() - 1, now)?))
        })
        .await
    })
    .await
}

/// `GET /api/v4/check_bundle`: the member licenses, if the bundle is usable and active on this
/// device (`license_not_active` else); each device's `last_check` written at most once a
/// minute, and its floating seats renewed, as `check_license` does.
pub async fn check_bundle_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::GET).await?;
        let hardware_id = required(&params, "hardware_id")?;
        change_bundle(app, (store, &catalog), &params, now, "check", |license, _| {
            checked(license, device_at(license, &hardware_id)?, now)
        })
        .await
    })
    .await
}

/// `POST /api/v4/deactivate_bundle`: the bundle and its members no longer active on this
/// device; each seat is free (a new device taking one counts a transfer).
pub async fn deactivate_bundle_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let hardware_id = required(&params, "hardware_id")?;
        change_bundle(app, (store, &catalog), &params, now, "deactivation", |license, _| {
            let Some(at) = license.devices.iter().position(|d| d.hardware_id == hardware_id) else {
                return Ok(None);
            };
            let mut deactivated = license.clone();
            deactivated.free_device(at);
            deactivated.released_seats += 1;
            Ok(Some(deactivated))
        })
        .await?;
        Ok(Value::Array(Vec::new()))
    })
    .await
}

/// Reads the bundle license and its members, applies `change` to each (given the request's
/// license user; `None`: nothing to write), and writes every change with an activation entry
/// `action` in one transaction conditional on every license as read; a lost race reads again.
/// The members' License objects after, in id order.
async fn change_bundle(
    app: &App,
    (store, catalog): (TenantStore<'_>, &Catalog),
    params: &Map<String, Value>,
    now: OffsetDateTime,
    action: &str,
    change: impl Fn(&License, Option<u64>) -> Result<Option<License>, LicenseApiError>,
) -> Result<Value, LicenseApiError> {
    let hardware_id = required(params, "hardware_id")?;
    let (mut parent, user, mut members) = bundle_of(store, catalog, params).await?;
    for round in 0..RACE_RETRIES {
        if round > 0 {
            // A lost race: every license of the bundle read again, strongly consistent.
            crate::store::backoff(round).await;
            let ids: Vec<u64> = std::iter::once(parent.id).chain(members.iter().map(|m| m.id)).collect();
            let mut fresh: Vec<License> = store.get_many(&ids).await?;
            fresh.sort_by_key(|l| l.id);
            let at = fresh.iter().position(|l| l.id == parent.id).ok_or_else(license_not_found)?;
            parent = fresh.remove(at);
            members = fresh;
        }
        let mut tx = store.transaction();
        let mut after = Vec::with_capacity(members.len());
        for (i, license) in std::iter::once(&parent).chain(&members).enumerate() {
            check_usable(license, now)?;
            let changed = match change(license, user.as_ref().map(|u| u.id))? {
                Some(changed) => {
                    let entry = activation_entry(app, license, action, &hardware_id, now).await?;
                    stage(&mut tx, license, &changed, Some(&entry))?;
                    changed
                }
                None => license.clone(),
            };
            if i > 0 {
                after.push(changed);
            }
        }
        match tx.commit().await {
            Ok(()) => {}
            Err(StoreError::Stale(_)) => continue,
            Err(other) => return Err(other.into()),
        }
        let objects = after.iter().filter_map(|license| {
            let product = catalog.product(license.product)?;
            Some(license_object(store, license, user.as_ref(), product, catalog, Some(&hardware_id), now))
        });
        return Ok(Value::Array(objects.collect()));
    }
    Err(StoreError::Stale(action.into()).into())
}

/// The bundle license a request names (its `product` must be a bundle product), the user of a
/// user-based one, and its member licenses in id order: those sharing its key (one Query of
/// the key's index) or its user's licenses (the user's index) whose bundle is this license.
async fn bundle_of(
    store: TenantStore<'_>,
    catalog: &Catalog,
    params: &Map<String, Value>,
) -> Result<(License, Option<CompanyUser>, Vec<License>), LicenseApiError> {
    let product = product_of(catalog, params)?;
    if !product.is_bundle {
        return Err(LicenseApiError::rule("product_not_bundle", "The product is not a bundle."));
    }
    let (parent, user) = license_of(store, product, params).await?;
    let mut members: Vec<License> = Vec::new();
    let member = |l: &License| l.bundle_parent == Some(parent.id);
    match (&parent.license_key, &user) {
        (Some(key), _) => {
            let keyed: Vec<License> =
                store.query_index(keys::LICENSES_BY_KEY, keys::licenses_by_key(store.company(), key)).await?;
            members.extend(keyed.into_iter().filter(member));
        }
        (None, Some(user)) => {
            // The user's index is never pruned (readers check): members still list the user.
            let mut ids = store.user_licenses(user.id).await?;
            ids.sort_unstable();
            for chunk in ids.chunks(100) {
                let licenses: Vec<License> = store.get_many(chunk).await?;
                members.extend(licenses.into_iter().filter(|l| member(l) && l.users.iter().any(|u| u.id == user.id)));
            }
        }
        (None, None) => {}
    }
    let mut shown = Vec::with_capacity(members.len());
    for license in members {
        if visible(store, &license).await? {
            shown.push(license);
        }
    }
    shown.sort_by_key(|l| l.id);
    Ok((parent, user, shown))
}

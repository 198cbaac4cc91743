//! Bundles (LICENSE-API.md §4.2): `activate_bundle`, `check_bundle` and `deactivate_bundle`
//! act on a bundle license (its `product` is a bundle product) and on each of its member
//! licenses (API.md §5: one per member product, with the same key or users), all in one
//! transaction conditional on every license as read, so a bundle is never half-activated.
//! Each answers a JSON array of the members' License objects (the SDK stores each under its
//! `product_details.short_code`).
//!
//! A bundle's transaction holds each changed license with its activation entry and device
//! marker, so a bundle past DynamoDB's 100-item transaction is a 400 (`request_too_large`);
//! bundles have at most 100 members, and those of up to about 30 fit.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::floating::hold_seat;
use super::handlers::{activation_entry, stage, CHECK_WRITE_EVERY, RACE_RETRIES};
use super::objects::license_object;
use super::request::{context, license_of, product_of, required};
use super::rules::{activate, blacklisted, check_usable, device, device_at};
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
/// minute.
pub async fn check_bundle_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::GET).await?;
        let hardware_id = required(&params, "hardware_id")?;
        change_bundle(app, (store, &catalog), &params, now, "check", |license, _| {
            let at = device_at(license, &hardware_id)?;
            if now - license.devices[at].last_check < CHECK_WRITE_EVERY {
                return Ok(None);
            }
            let mut checked = license.clone();
            checked.devices[at].last_check = now;
            checked.last_check = Some(now);
            Ok(Some(checked))
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
    for round in 0..RACE_RETRIES {
        crate::store::backoff(round).await;
        let (parent, user, members) = bundle_of(store, catalog, params).await?;
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
    let mut members: Vec<License> = match (&parent.license_key, &user) {
        (Some(key), _) => store.query_index(keys::LICENSES_BY_KEY, keys::licenses_by_key(store.company(), key)).await?,
        (None, Some(user)) => store.get_many(&store.user_licenses(user.id).await?).await?,
        (None, None) => Vec::new(),
    };
    members.retain(|l| l.bundle_parent == Some(parent.id));
    members.sort_by_key(|l| l.id);
    Ok((parent, user, members))
}

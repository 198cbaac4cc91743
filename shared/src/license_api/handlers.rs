//! The License API's core endpoints (LICENSE-API.md §4.1), one Lambda each: `GET /` (the
//! SDK's `is_online()`), `activate_license`, `check_license`, `deactivate_license`,
//! `change_password` and `product_details`, for key-based and user-based licenses; and the
//! conditional write of a license with its activation entry, which the other modules share.
//!
//! A license's active devices live in the license item (bounded by `max_activations`), so the
//! rules of §0 are checked against one read and enforced by one conditional write: two devices
//! racing for the last activation both write conditionally on the license they read, one
//! wins, and the other reads again and finds no seat (`license_activated_max_times`).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::objects::{license_object, product_details};
use super::request::{accepted, again, company_user, context, license_of, password_given, product_of, required, text};
use super::rules::{activate, blacklisted, check_usable, checked, device, device_at};
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::licenses::activations::ActivationEntry;
use crate::licenses::License;
use crate::store::{later_than, StoreError, TenantStore, Transaction};

/// Writes retried after losing a race with another writer of the license.
pub(super) const RACE_RETRIES: u32 = 5;

/// `GET /`: 200, for the SDK's `is_online()` (no credentials).
pub async fn root_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async { Ok(json!({"status": "ok"})) }).await
}

/// `POST /api/v4/activate_license`: the license on this device (idempotent for a device already
/// active), per the rules of §0; the License object.
pub async fn activate_license_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let hardware_id = required(&params, "hardware_id")?;
        password_given(&params)?;
        let (mut license, user) = license_of(store, product, &params).await?;
        let user = user.as_ref();
        for round in 0..RACE_RETRIES {
            license = again(store, round, license).await?;
            check_usable(&license, now)?;
            let seen =
                |license: &License| license_object(store, license, user, product, &catalog, Some(&hardware_id), now);
            if license.devices.iter().any(|d| d.hardware_id == hardware_id) {
                return Ok(seen(&license));
            }
            if license.is_blacklisted(&hardware_id) {
                return Err(blacklisted());
            }
            let id = app.ids().await.map_err(|e| StoreError::Aws(e.to_string()))?.next_id();
            let activated = activate(&license, device(&params, &hardware_id, (id, user.map(|u| u.id)), now)?, now)?;
            let at = activated.devices.len() - 1;
            let activated = super::floating::hold_seat(&activated, at, now)?;
            match write(app, store, &license, &activated, "activation", &hardware_id, now).await {
                Ok(()) => return Ok(seen(&activated)),
                Err(StoreError::Stale(_)) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(LicenseApiError::from(StoreError::Stale("activation".into())))
    })
    .await
}

/// `GET /api/v4/check_license`: the License object, if the license is usable and active on this
/// device (else `license_not_active`). Its device's `last_check` is written at most once a
/// minute, with a `check` entry: a license read, and at most one conditional write. A floating
/// cloud license's check also takes or renews the device's seat (`floating`): a device without
/// a seat always writes, and retries a lost race.
pub async fn check_license_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        let hardware_id = required(&params, "hardware_id")?;
        let (mut license, user) = license_of(store, product, &params).await?;
        let seen = |license: &License| {
            license_object(store, license, user.as_ref(), product, &catalog, Some(&hardware_id), now)
        };
        for round in 0..RACE_RETRIES {
            license = again(store, round, license).await?;
            check_usable(&license, now)?;
            let at = device_at(&license, &hardware_id)?;
            let needs_seat = license.is_floating_cloud && !license.devices[at].holds_seat(now);
            let Some(checked) = checked(&license, at, now)? else {
                return Ok(seen(&license));
            };
            match write(app, store, &license, &checked, "check", &hardware_id, now).await {
                Ok(()) => return Ok(seen(&checked)),
                Err(StoreError::Stale(_)) if needs_seat => continue,
                // Another writer got there first: this check stands without its write.
                Err(StoreError::Stale(_)) => return Ok(seen(&checked)),
                Err(other) => return Err(other.into()),
            }
        }
        Err(LicenseApiError::from(StoreError::Stale("check".into())))
    })
    .await
}

/// `POST /api/v4/deactivate_license`: the license is no longer active on this device; its
/// seat is free (a new device taking it counts a transfer).
pub async fn deactivate_license_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let hardware_id = required(&params, "hardware_id")?;
        let (mut license, _) = license_of(store, product, &params).await?;
        for round in 0..RACE_RETRIES {
            license = again(store, round, license).await?;
            let Some(at) = license.devices.iter().position(|d| d.hardware_id == hardware_id) else {
                return Err(LicenseApiError::rule("device_not_found", "The license is not active on this device."));
            };
            let mut deactivated = license.clone();
            deactivated.free_device(at);
            deactivated.released_seats += 1;
            match write(app, store, &license, &deactivated, "deactivation", &hardware_id, now).await {
                Ok(()) => return Ok(json!({"deactivated": true})),
                Err(StoreError::Stale(_)) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(LicenseApiError::from(StoreError::Stale("deactivation".into())))
    })
    .await
}

/// `POST /api/v4/change_password` with `username`, `password` and `new_password` (8+
/// characters): the license user's new password (Argon2id; no initial password any more).
/// A wrong password is `unknown_user_or_password`.
pub async fn change_password_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (caller, params) = accepted(app, &req, Method::POST).await?;
        let store = app.store.tenant(caller.company);
        let (email, password, new_password) =
            (required(&params, "username")?, required(&params, "password")?, required(&params, "new_password")?);
        if new_password.chars().count() < crate::licenses::license_users::MIN_PASSWORD_LENGTH {
            return Err(LicenseApiError::rule("validation_error", "The new password needs at least 8 characters."));
        }
        let user = company_user(store, &email, Some(&password)).await?;
        let mut changed = user.clone();
        changed.set_password(&new_password);
        changed.updated_at = later_than(user.updated_at);
        let mut tx = store.transaction();
        tx.replace(&user, &changed).map_err(LicenseApiError::from)?;
        tx.commit().await.map_err(LicenseApiError::from)?;
        Ok(json!({"message": "password_changed"}))
    })
    .await
}

/// `GET /api/v4/product_details`: the product as the SDK stores it (`PRODUCT_DETAILS`, §5.3).
pub async fn product_details_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (_, catalog, params, _) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        let mut details = product_details(product, &catalog);
        if text(&params, "include_custom_fields").as_deref() != Some("true") {
            details["custom_fields"] = Value::Null;
        }
        Ok(details)
    })
    .await
}

/// `changed` in place of `license` (conditional on it as read: a lost race is `Stale`), with
/// its activation entry, in one transaction.
pub(super) async fn write(
    app: &App,
    store: TenantStore<'_>,
    license: &License,
    changed: &License,
    action: &str,
    hardware_id: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let entry = activation_entry(app, license, action, hardware_id, now).await?;
    write_with(store, license, changed, Some(&entry)).await
}

/// The activation history entry of `action` on `license` from device `hardware_id`.
pub(super) async fn activation_entry(
    app: &App,
    license: &License,
    action: &str,
    hardware_id: &str,
    now: OffsetDateTime,
) -> Result<ActivationEntry, StoreError> {
    Ok(ActivationEntry {
        id: app.ids().await.map_err(|e| StoreError::Aws(e.to_string()))?.next_id(),
        license: license.id,
        product: license.product,
        action: action.into(),
        hardware_id: hardware_id.into(),
        created_at: now,
    })
}

/// `changed` in place of `license` (conditional on it as read: a lost race is `Stale`), with
/// `entry` if any, in one transaction.
pub(super) async fn write_with(
    store: TenantStore<'_>,
    license: &License,
    changed: &License,
    entry: Option<&ActivationEntry>,
) -> Result<(), StoreError> {
    let mut tx = store.transaction();
    stage(&mut tx, license, changed, entry)?;
    tx.commit().await
}

/// Adds to `tx` `changed` in place of `license` (conditional on it as read), and `entry`.
pub(super) fn stage(
    tx: &mut Transaction<'_>,
    license: &License,
    changed: &License,
    entry: Option<&ActivationEntry>,
) -> Result<(), StoreError> {
    let mut changed = changed.clone();
    changed.updated_at = later_than(license.updated_at);
    tx.replace(license, &changed)?;
    if let Some(entry) = entry {
        tx.create(entry)?;
    }
    Ok(())
}

//! The License API's core endpoints (LICENSE-API.md §4.1), one Lambda each: `GET /` (the
//! SDK's `is_online()`), `activate_license`, `check_license`, `deactivate_license`,
//! `change_password` and `product_details`, for key-based and user-based licenses; and what
//! the other License API modules share: the request's context, the license it names, the rules
//! of §0, the conditional write with its activation entry, and the License object.
//!
//! A license's active devices live in the license item (bounded by `max_activations`), so the
//! rules of §0 are checked against one read and enforced by one conditional write: two devices
//! racing for the last activation both write conditionally on the license they read, one
//! wins, and the other reads again and finds no seat (`license_activated_max_times`).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::auth::{authenticate, Caller};
use super::keys::load;
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::catalog::{Catalog, Product};
use crate::ids::Id;
use crate::licenses::activations::ActivationEntry;
use crate::licenses::users::CompanyUser;
use crate::licenses::{Device, License};
use crate::orders::Order;
use crate::store::{keys, later_than, StoreError, TenantStore, Transaction};
use crate::timefmt::{format_time, parse_time};

/// A check on a device writes its `last_check` at most this often (a bounded cost per check).
pub(super) const CHECK_WRITE_EVERY: time::Duration = time::Duration::minutes(1);
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
        if text(&params, "username").is_some() && text(&params, "password").is_none() {
            return Err(LicenseApiError::rule("missing_parameters", "A user-based activation needs the password."));
        }
        for round in 0..RACE_RETRIES {
            crate::store::backoff(round).await;
            let (license, user) = license_of(store, product, &params).await?;
            let user = user.as_ref();
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
        for round in 0..RACE_RETRIES {
            crate::store::backoff(round).await;
            let (license, user) = license_of(store, product, &params).await?;
            let seen = |license: &License| {
                license_object(store, license, user.as_ref(), product, &catalog, Some(&hardware_id), now)
            };
            check_usable(&license, now)?;
            let at = device_at(&license, &hardware_id)?;
            let needs_seat = license.is_floating_cloud && !license.devices[at].holds_seat(now);
            if now - license.devices[at].last_check < CHECK_WRITE_EVERY && !needs_seat {
                return Ok(seen(&license));
            }
            let mut checked = super::floating::hold_seat(&license, at, now)?;
            checked.devices[at].last_check = now;
            checked.last_check = Some(now);
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
        for round in 0..RACE_RETRIES {
            crate::store::backoff(round).await;
            let (license, _) = license_of(store, product, &params).await?;
            let Some(at) = license.devices.iter().position(|d| d.hardware_id == hardware_id) else {
                return Err(LicenseApiError::rule("device_not_found", "The license is not active on this device."));
            };
            let mut deactivated = license.clone();
            deactivated.free_device(at);
            deactivated.released_seats += 1;
            for feature in &mut deactivated.features {
                feature.floating_seats.retain(|s| s.hardware_id != hardware_id);
            }
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

/// The caller's store, its catalog, the parameters and the time.
pub(super) async fn context<'a>(
    app: &'a App,
    req: &Request,
    method: Method,
) -> Result<(TenantStore<'a>, Catalog, Map<String, Value>, OffsetDateTime), LicenseApiError> {
    let (caller, params) = accepted(app, req, method).await?;
    let store = app.store.tenant(caller.company);
    let catalog = Catalog::load(store).await.map_err(LicenseApiError::from)?;
    Ok((store, catalog, params, crate::timefmt::now()))
}

/// The request's caller and parameters (a GET's query, a POST's JSON body), once its method,
/// credentials and body are checked.
pub(super) async fn accepted(
    app: &App,
    req: &Request,
    method: Method,
) -> Result<(Caller, Map<String, Value>), LicenseApiError> {
    if req.method() != method {
        return Err(LicenseApiError { status: 405, code: "method_not_allowed", message: format!("Use {method}.") });
    }
    let keys = load(&app.secrets, app.config.license_api_secret.as_deref()).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let caller = authenticate(&app.store, keys, header("authorization"), header("date"), crate::timefmt::now()).await?;
    let params = match method {
        Method::GET => crate::http::query_pairs(req).into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        _ => crate::http::json_object(req)
            .map_err(|_| LicenseApiError::rule("validation_error", "The body must be a JSON object."))?,
    };
    Ok((caller, params))
}

/// A parameter as text (GET parameters are all strings; JSON numbers and booleans as written).
pub(super) fn text(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn required(params: &Map<String, Value>, name: &str) -> Result<String, LicenseApiError> {
    text(params, name).ok_or_else(|| LicenseApiError::rule("missing_parameters", format!("{name} is required.")))
}

fn flag(params: &Map<String, Value>, name: &str) -> bool {
    matches!(params.get(name), Some(Value::Bool(true))) || text(params, name).as_deref() == Some("true")
}

/// The product `product` names (its short code).
pub(super) fn product_of<'c>(
    catalog: &'c Catalog,
    params: &Map<String, Value>,
) -> Result<&'c Product, LicenseApiError> {
    let code = required(params, "product")?;
    catalog.product_by_code(&code).ok_or_else(|| LicenseApiError::rule("product_not_found", "Unknown product."))
}

/// The license a request names within `product` (its order committed it): by `license_key`,
/// or for a user-based license by `username` (the user's email) with `password` when given
/// (`unknown_user_or_password`) and `license_id` when given, else the user's oldest license of
/// the product. The license, and the user of a user-based request.
pub(super) async fn license_of(
    store: TenantStore<'_>,
    product: &Product,
    params: &Map<String, Value>,
) -> Result<(License, Option<CompanyUser>), LicenseApiError> {
    let not_found = || LicenseApiError::rule("license_not_found", "No such license for this product.");
    if let Some(key) = text(params, "license_key") {
        let candidates: Vec<License> = store
            .query_index(keys::LICENSES_BY_KEY, keys::licenses_by_key(store.company(), &key))
            .await
            .map_err(LicenseApiError::from)?;
        let license = candidates.into_iter().find(|l| l.product == product.id).ok_or_else(not_found)?;
        return match visible(store, &license).await? {
            true => Ok((license, None)),
            false => Err(not_found()),
        };
    }
    let Some(email) = text(params, "username") else {
        return Err(LicenseApiError::rule(
            "missing_parameters",
            "license_key, or username for a user-based license, is required.",
        ));
    };
    let user = company_user(store, &email, text(params, "password").as_deref()).await?;
    let candidates = match text(params, "license_id").and_then(|id| id.parse::<Id>().ok()) {
        Some(id) => vec![id],
        None => store.user_licenses(user.id).await.map_err(LicenseApiError::from)?,
    };
    let mut licenses: Vec<License> = store.get_many::<License>(&candidates).await.map_err(LicenseApiError::from)?;
    licenses.retain(|l| l.product == product.id && l.users.iter().any(|u| u.id == user.id));
    licenses.sort_by_key(|l| l.id);
    for license in licenses {
        if visible(store, &license).await? {
            return Ok((license, Some(user)));
        }
    }
    Err(not_found())
}

/// The company's license user of `email`, with `password` if given
/// (`unknown_user_or_password` for an unknown user or a wrong password).
pub(super) async fn company_user(
    store: TenantStore<'_>,
    email: &str,
    password: Option<&str>,
) -> Result<CompanyUser, LicenseApiError> {
    let unknown = || LicenseApiError::rule("unknown_user_or_password", "Unknown user or wrong password.");
    let user =
        crate::licenses::users::by_email(store, email).await.map_err(LicenseApiError::from)?.ok_or_else(unknown)?;
    match password {
        Some(given) if !user.password_hash.as_deref().is_some_and(|stored| crate::passwords::verify(stored, given)) => {
            Err(unknown())
        }
        _ => Ok(user),
    }
}

/// Whether the license's order committed it (a staged order's licenses show at its commit).
pub(super) async fn visible(store: TenantStore<'_>, license: &License) -> Result<bool, LicenseApiError> {
    if license.attempt.is_none() {
        return Ok(true);
    }
    let order = store.get::<Order>(license.order).await.map_err(LicenseApiError::from)?;
    Ok(order.is_some_and(|o| o.shows(license)))
}

/// The rules every call checks: enabled, and not past its validity.
pub(super) fn check_usable(license: &License, now: OffsetDateTime) -> Result<(), LicenseApiError> {
    if !license.enabled {
        return Err(LicenseApiError::rule("license_not_enabled", "The license is disabled."));
    }
    if ends(license.validity_period.as_deref()).is_some_and(|end| end < now) {
        return Err(LicenseApiError::rule("license_expired", "The license has expired."));
    }
    Ok(())
}

/// The position of the device `hardware_id` on `license`: `license_not_active` if it has none,
/// `device_blacklisted` if that device is blacklisted.
pub(super) fn device_at(license: &License, hardware_id: &str) -> Result<usize, LicenseApiError> {
    match license.devices.iter().position(|d| d.hardware_id == hardware_id) {
        Some(at) => Ok(at),
        None if license.is_blacklisted(hardware_id) => Err(blacklisted()),
        None => Err(LicenseApiError::rule("license_not_active", "The license is not active on this device.")),
    }
}

pub(super) fn blacklisted() -> LicenseApiError {
    LicenseApiError::rule("device_blacklisted", "This device is blacklisted for the license.")
}

/// When a validity given as a date or a time ends: a date's end of day (UTC).
fn ends(validity: Option<&str>) -> Option<OffsetDateTime> {
    let text = validity?;
    match text.len() {
        10 => parse_time(&format!("{text}T23:59:59Z")),
        _ => parse_time(text),
    }
}

/// Longest `hardware_id` or `hostname` (bytes): each keys an index of devices.
const MAX_DEVICE_KEY_BYTES: usize = 255;

/// The device `id` an activation describes (§1.5: hardware, VM and version blocks), of
/// license user `license_user` on a user-based license.
pub(super) fn device(
    params: &Map<String, Value>,
    hardware_id: &str,
    (id, license_user): (Id, Option<Id>),
    now: OffsetDateTime,
) -> Result<Device, LicenseApiError> {
    // Without line breaks: the list filters find devices by these values joined with them.
    let field = |name: &str| text(params, name).unwrap_or_default().replace(['\n', '\r'], " ");
    if hardware_id.len() > MAX_DEVICE_KEY_BYTES || field("hostname").len() > MAX_DEVICE_KEY_BYTES {
        return Err(LicenseApiError::rule(
            "validation_error",
            format!("hardware_id and hostname take at most {MAX_DEVICE_KEY_BYTES} bytes."),
        ));
    }
    Ok(Device {
        id,
        license_user,
        floating_until: None,
        borrowed_until: None,
        hardware_id: hardware_id.replace(['\n', '\r'], " "),
        hostname: field("hostname"),
        os_ver: field("os_ver"),
        ip: field("ip"),
        mac_address: field("mac_address"),
        is_vm: flag(params, "is_vm"),
        vm_info: text(params, "vm_info"),
        app_ver: text(params, "app_ver"),
        sdk_ver: text(params, "sdk_ver"),
        time_activated: now,
        last_check: now,
        variables: Vec::new(),
    })
}

/// `license` activated on `device` (new to it), for its `license_user` when user-based (that
/// user's own `max_activations` when above 0), per the rules of §0. Pure.
pub fn activate(license: &License, device: Device, now: OffsetDateTime) -> Result<License, LicenseApiError> {
    if device.is_vm && license.prevent_vm {
        return Err(LicenseApiError::rule("vm_not_allowed", "The license may not run on a virtual machine."));
    }
    if !license.allow_unlimited_activations && license.devices.len() as i64 >= license.max_activations {
        return Err(LicenseApiError::rule(
            "license_activated_max_times",
            format!("The license is active on its {} devices.", license.max_activations),
        ));
    }
    let mut activated = license.clone();
    if activated.released_seats > 0 {
        // A device taking a deactivated device's seat is a transfer; -1 allows any number.
        if license.max_transfers >= 0 && license.transfer_count >= license.max_transfers {
            return Err(LicenseApiError::rule("license_transfer_limit", "The license may not move to another device."));
        }
        activated.transfer_count += 1;
        activated.released_seats -= 1;
    }
    if let Some(entry) = device.license_user.and_then(|id| activated.users.iter_mut().find(|e| e.id == id)) {
        if entry.max_activations > 0 && entry.total_activations >= entry.max_activations {
            return Err(LicenseApiError::rule(
                "license_activated_max_times",
                format!("The user is active on its {} devices.", entry.max_activations),
            ));
        }
        entry.total_activations += 1;
    }
    activated.devices.push(device);
    activated.times_activated = activated.devices.len() as i64;
    activated.active = true;
    activated.time_activated = activated.time_activated.or(Some(now));
    Ok(activated)
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

/// A stored date or time as the SDK parses date-times: UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
pub(super) fn date_time(text: Option<&str>) -> Value {
    match text.and_then(|t| ends(Some(t))) {
        Some(t) => Value::String(format_time(t)),
        None => Value::Null,
    }
}

/// The product as `product_details` and a License object's `product_details` give it.
fn product_details(product: &Product, catalog: &Catalog) -> Value {
    let custom_fields: Vec<Value> = catalog
        .custom_fields
        .iter()
        .filter(|f| f.product == product.id)
        .map(|f| json!({"name": f.name, "value": f.default_value}))
        .collect();
    json!({
        "product_id": product.id,
        "product_name": product.product_name,
        "short_code": product.short_code,
        "authorization_method": product.authorization_method,
        "allow_trial": product.trial_days > 0,
        "trial_days": product.trial_days,
        "floating_timeout": 0,
        "prevent_vm": false,
        "metadata": product.metadata,
        "custom_fields": custom_fields,
        "latest_version": null,
    })
}

/// A license's feature as the SDK stores it (`PRODUCT_FEATURES`, §5.3).
pub(super) fn feature_object(f: &crate::licenses::LicenseFeature, definition: &crate::catalog::Feature) -> Value {
    json!({
        "id": f.id,
        "code": definition.code,
        "name": definition.name,
        "feature_type": definition.feature_type,
        "expiry_date": date_time(f.expiry_date.as_deref()),
        "metadata": f.metadata,
        "max_consumption": f.max_consumption,
        "total_consumptions": f.total_consumptions,
        "allow_unlimited_consumptions": false,
        "allow_overages": f.allow_overages,
        "max_overages": f.max_overages,
        "allow_negative_consumptions": false,
        "reset_consumption": f.reset_consumption,
        "consumption_period": f.consumption_period,
        "is_floating": f.is_floating,
        "is_floating_cloud": f.is_floating_cloud,
        "floating_users": f.floating_users,
        "floating_timeout": f.floating_timeout,
        "floating_in_use_devices": 0,
        "can_borrow": false,
        "is_borrowed": false,
        "max_borrow_time": 0,
    })
}

/// The License object the SDK stores (§5: every field §5.2 needs, with the license's state).
pub fn license_object(
    store: TenantStore<'_>,
    license: &License,
    user: Option<&CompanyUser>,
    product: &Product,
    catalog: &Catalog,
    hardware_id: Option<&str>,
    now: OffsetDateTime,
) -> Value {
    let features: Vec<Value> = license
        .features
        .iter()
        .enumerate()
        .map(|(at, _)| super::floating::feature_json(license, at, catalog, hardware_id.unwrap_or_default(), now))
        .filter(|f| !f.is_null())
        .collect();
    let device = hardware_id.and_then(|hw| license.devices.iter().find(|d| d.hardware_id == hw));
    let borrowed_until = device.and_then(|d| d.borrowed_until.filter(|_| d.is_borrowed(now)));
    let custom_fields: Vec<Value> = license
        .custom_fields
        .iter()
        .filter_map(|v| {
            let field = catalog.custom_fields.iter().find(|f| f.id == v.field)?;
            Some(json!({"name": field.name, "value": v.value}))
        })
        .collect();
    json!({
        "id": license.id,
        "license_key": license.license_key,
        "license_type": license.license_type,
        "order_store_id": license.order_store_id,
        "license_signature": "",
        "license_active": license.active,
        "license_enabled": license.enabled,
        "is_expired": ends(license.validity_period.as_deref()).is_some_and(|end| end < now),
        "is_trial": license.is_trial,
        "trial_days": license.trial_days,
        "is_air_gapped": license.is_air_gapped,
        "policy_id": license.license_template,
        "prevent_vm": license.prevent_vm,
        "validity_period": date_time(license.validity_period.as_deref()),
        "start_date": date_time(license.start_date.as_deref()),
        "maintenance_period": date_time(license.maintenance_period.as_deref()),
        "enable_maintenance_period": license.enable_maintenance_period,
        "times_activated": license.times_activated,
        "max_activations": license.max_activations,
        "allow_unlimited_activations": license.allow_unlimited_activations,
        "transfer_count": license.transfer_count,
        "max_transfers": license.max_transfers,
        "max_license_users": license.max_license_users,
        "max_consumptions": license.max_consumptions,
        "total_consumptions": license.total_consumptions,
        "allow_unlimited_consumptions": license.license_type == "consumption" && license.max_consumptions == 0,
        "allow_negative_consumptions": false,
        "allow_overages": license.allow_overages,
        "max_overages": license.max_overages,
        "reset_consumption": license.reset_consumption,
        "consumption_period": license.consumption_period,
        "allow_grace_period": false,
        "grace_period": 0,
        "is_floating": license.is_floating,
        "is_floating_cloud": license.is_floating_cloud,
        "floating_timeout": super::floating::timeout_minutes(license.floating_timeout),
        "floating_users": license.floating_users,
        "floating_in_use_devices": license.floating_in_use(now),
        "can_borrow": license.can_borrow,
        "is_borrowed": borrowed_until.is_some(),
        "borrowed_until": borrowed_until.map(format_time),
        "max_borrow_time": license.max_borrow_time,
        "company": {"id": store.company()},
        "customer": null,
        "user": user.and_then(|u| license.users.iter().find(|e| e.id == u.id).map(|e| json!({
            "id": u.id,
            "email": u.email,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "phone_number": u.phone_number,
            "is_initial_password": u.initial_password.is_some(),
            "max_activations": e.max_activations,
            "total_activations": e.total_activations,
            "allow_unlimited_activations": e.max_activations == 0,
        }))),
        "metadata": license.metadata,
        "custom_fields": custom_fields,
        "product_features": features,
        "device_variables": [],
        "product_details": product_details(product, catalog),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(hardware_id: &str, is_vm: bool) -> Device {
        let now = crate::timefmt::now();
        Device {
            id: 7,
            license_user: None,
            floating_until: None,
            borrowed_until: None,
            hardware_id: hardware_id.into(),
            hostname: String::new(),
            os_ver: String::new(),
            ip: String::new(),
            mac_address: String::new(),
            is_vm,
            vm_info: None,
            app_ver: None,
            sdk_ver: None,
            time_activated: now,
            last_check: now,
            variables: Vec::new(),
        }
    }

    #[test]
    fn activations_keep_to_max_activations_transfers_and_vms() {
        let now = crate::timefmt::now();
        let mut license = crate::licenses::tests::sample();
        license.max_activations = 1;
        let one = activate(&license, on("a", false), now).unwrap();
        assert_eq!((one.times_activated, one.active, one.devices.len()), (1, true, 1));
        assert_eq!(activate(&one, on("b", false), now).unwrap_err().code, "license_activated_max_times");
        let unlimited = License { allow_unlimited_activations: true, ..one.clone() };
        assert_eq!(activate(&unlimited, on("b", false), now).unwrap().times_activated, 2);
        license.prevent_vm = true;
        assert_eq!(activate(&license, on("vm", true), now).unwrap_err().code, "vm_not_allowed");

        // A freed seat taken by another device is a transfer, within max_transfers.
        let freed = License { devices: Vec::new(), released_seats: 1, max_transfers: 1, ..one.clone() };
        let moved = activate(&freed, on("b", false), now).unwrap();
        assert_eq!((moved.transfer_count, moved.released_seats), (1, 0));
        let no_more = License { devices: Vec::new(), released_seats: 1, ..moved };
        assert_eq!(activate(&no_more, on("c", false), now).unwrap_err().code, "license_transfer_limit");
    }

    #[test]
    fn usable_means_enabled_and_within_validity() {
        let now = time::macros::datetime!(2030-06-01 12:00 UTC);
        let mut license = crate::licenses::tests::sample();
        assert!(check_usable(&license, now).is_ok());
        license.validity_period = Some("2030-06-01".into());
        assert!(check_usable(&license, now).is_ok(), "valid to the end of its last day");
        license.validity_period = Some("2030-05-31".into());
        assert_eq!(check_usable(&license, now).unwrap_err().code, "license_expired");
        license.validity_period = None;
        license.enabled = false;
        assert_eq!(check_usable(&license, now).unwrap_err().code, "license_not_enabled");
        assert_eq!(date_time(Some("2030-05-31")), json!("2030-05-31T23:59:59Z"));
    }
}

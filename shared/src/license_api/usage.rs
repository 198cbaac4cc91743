//! What an activated device reports (LICENSE-API.md §4.1, §5.5): consumption of the license and
//! of its features, a feature's state, and device variables. Each call is made from a device
//! the license is active on (else `license_not_active`); each change is one conditional write
//! of the license, retried on a lost race, so concurrent devices never lose a consumption.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::floating::{feature_json, hold_feature_seat};
use super::handlers::write_with;
use super::request::{again, context, license_of, product_of, required, text};
use super::rules::{check_usable, device_at};
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::catalog::{Catalog, Product};
use crate::licenses::users::CompanyUser;
use crate::licenses::{DeviceVariable, License};
use crate::store::{StoreError, TenantStore};

/// Writes retried after losing a race with another writer of the license.
const RACE_RETRIES: u32 = 8;
/// Most variables one device keeps, and the most JSON one value may take: the device lives in
/// the license item (400 KB).
pub const MAX_DEVICE_VARIABLES: usize = 100;
pub const MAX_VARIABLE_BYTES: usize = 1_024;

/// `POST /api/v4/add_consumption` with `consumptions` (a non-zero integer): the license's new
/// consumption totals (§5.5). Past `max_consumptions` plus any overages the license allows:
/// `consumption_limit_reached`. The body's `max_overages` / `allow_overages` are not applied:
/// the limits are the vendor's to set (Management API), not the device's.
pub async fn add_consumption_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let n = consumptions(&params)?;
        let (license, _) = on_device(store, product, &params, now, |license, _| {
            let unlimited = license.max_consumptions == 0;
            let total = consume(
                license.total_consumptions,
                n,
                Limit {
                    max: license.max_consumptions,
                    unlimited,
                    allow_overages: license.allow_overages,
                    max_overages: license.max_overages,
                },
            )?;
            Ok(License { total_consumptions: total, ..license.clone() })
        })
        .await?;
        Ok(json!({
            "total_consumptions": license.total_consumptions,
            "max_consumptions": license.max_consumptions,
            "allow_unlimited_consumptions": license.max_consumptions == 0,
            "allow_overages": license.allow_overages,
            "max_overages": license.max_overages,
            "reset_consumption": license.reset_consumption,
            "consumption_period": license.consumption_period,
        }))
    })
    .await
}

/// `POST /api/v4/add_feature_consumption` with `feature` (a code) and `consumptions`: the
/// feature after (§5.5), within its `max_consumption` and overages.
pub async fn add_feature_consumption_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let n = consumptions(&params)?;
        let code = required(&params, "feature")?;
        let (license, _) = on_device(store, product, &params, now, |license, _| {
            let at = feature_at(license, &catalog, &code)?;
            let mut changed = license.clone();
            let feature = &mut changed.features[at];
            let limit = Limit {
                max: feature.max_consumption,
                unlimited: feature.max_consumption == 0,
                allow_overages: feature.allow_overages,
                max_overages: feature.max_overages,
            };
            feature.total_consumptions = consume(feature.total_consumptions, n, limit)?;
            Ok(changed)
        })
        .await?;
        let hardware_id = required(&params, "hardware_id")?;
        Ok(feature_json(&license, feature_at(&license, &catalog, &code)?, &catalog, &hardware_id, now))
    })
    .await
}

/// `GET /api/v4/check_license_feature` with `feature`: the feature (`feature_not_found` if the
/// license has none of that code). A floating cloud feature's check takes or renews the
/// device's seat of it (`floating`), one conditional write; any other check only reads.
pub async fn check_license_feature_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        let code = required(&params, "feature")?;
        let hardware_id = required(&params, "hardware_id")?;
        let (license, _) = on_device(store, product, &params, now, |license, _| {
            hold_feature_seat(license, feature_at(license, &catalog, &code)?, &hardware_id, None, now)
        })
        .await?;
        Ok(feature_json(&license, feature_at(&license, &catalog, &code)?, &catalog, &hardware_id, now))
    })
    .await
}

/// `POST /api/v4/track_device_variables` with `variables` (`{name: value}`): kept on the
/// device (each name once, the newest value); the device's variables after.
pub async fn track_device_variables_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let Some(Value::Object(given)) = params.get("variables") else {
            return Err(LicenseApiError::rule("missing_parameters", "variables must be an object."));
        };
        for (name, value) in given {
            if name.len() > 255 || value.to_string().len() > MAX_VARIABLE_BYTES {
                return Err(LicenseApiError::rule(
                    "validation_error",
                    format!("A variable's name takes at most 255 bytes and its value {MAX_VARIABLE_BYTES}."),
                ));
            }
        }
        let (license, _) = on_device(store, product, &params, now, |license, at| {
            let mut changed = license.clone();
            let variables = &mut changed.devices[at].variables;
            for (name, value) in given {
                match variables.iter_mut().find(|v| v.variable == *name) {
                    Some(known) => {
                        known.value = value.clone();
                        known.created_at = now;
                    }
                    None => {
                        variables.push(DeviceVariable { variable: name.clone(), value: value.clone(), created_at: now })
                    }
                }
            }
            if variables.len() > MAX_DEVICE_VARIABLES {
                return Err(LicenseApiError::rule(
                    "validation_error",
                    format!("A device keeps at most {MAX_DEVICE_VARIABLES} variables."),
                ));
            }
            Ok(changed)
        })
        .await?;
        Ok(variables_of(&license, &params))
    })
    .await
}

/// `GET /api/v4/get_device_variables`: the device's variables, `[{variable, value,
/// created_at}]`.
pub async fn get_device_variables_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        let (license, _) = on_device(store, product, &params, now, |license, _| Ok(license.clone())).await?;
        Ok(variables_of(&license, &params))
    })
    .await
}

/// `consumptions`: a non-zero integer (the SDK sends only non-zero deltas).
fn consumptions(params: &Map<String, Value>) -> Result<i64, LicenseApiError> {
    let n = text(params, "consumptions").and_then(|t| t.parse::<i64>().ok());
    n.filter(|n| *n != 0 && n.abs() <= i64::from(i32::MAX))
        .ok_or_else(|| LicenseApiError::rule("validation_error", "consumptions must be a non-zero integer."))
}

/// The position of the device this request is from on `license` (`license_not_active` if none).
fn active_device(license: &License, params: &Map<String, Value>) -> Result<usize, LicenseApiError> {
    device_at(license, &required(params, "hardware_id")?)
}

/// Reads the license, checks it is usable on this device, and writes what `apply` makes of it
/// (given the device's position), conditional on the license as read; a lost race reads again.
/// The license written, and the user of a user-based request.
pub(super) async fn on_device(
    store: TenantStore<'_>,
    product: &Product,
    params: &Map<String, Value>,
    now: OffsetDateTime,
    apply: impl Fn(&License, usize) -> Result<License, LicenseApiError>,
) -> Result<(License, Option<CompanyUser>), LicenseApiError> {
    let (mut license, user) = license_of(store, product, params).await?;
    for round in 0..RACE_RETRIES {
        license = again(store, round, license).await?;
        check_usable(&license, now)?;
        let at = active_device(&license, params)?;
        let changed = apply(&license, at)?;
        if changed == license {
            return Ok((changed, user));
        }
        match write_with(store, &license, &changed, None).await {
            Ok(()) => return Ok((changed, user)),
            Err(StoreError::Stale(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(StoreError::Stale("consumption".into()).into())
}

/// A consumption limit: `max` (unless `unlimited`), plus `max_overages` when overages are
/// allowed (any number when that is 0, as the SDK's own pre-check reads it).
struct Limit {
    max: i64,
    unlimited: bool,
    allow_overages: bool,
    max_overages: i64,
}

/// `total` after consuming `n`, within `limit`; never below 0.
fn consume(total: i64, n: i64, limit: Limit) -> Result<i64, LicenseApiError> {
    let after = total.saturating_add(n);
    if after < 0 {
        return Err(LicenseApiError::rule("negative_consumptions_not_allowed", "Consumption cannot go below 0."));
    }
    let unbounded = limit.unlimited || (limit.allow_overages && limit.max_overages == 0);
    let ceiling = limit.max + if limit.allow_overages { limit.max_overages } else { 0 };
    if n > 0 && !unbounded && after > ceiling {
        return Err(LicenseApiError::rule(
            "consumption_limit_reached",
            format!("This would consume {after} of {ceiling} allowed."),
        ));
    }
    Ok(after)
}

/// The position of the license's feature of code `code`.
pub(super) fn feature_at(license: &License, catalog: &Catalog, code: &str) -> Result<usize, LicenseApiError> {
    license
        .features
        .iter()
        .position(|f| catalog.features.iter().any(|d| d.id == f.feature && d.code == code))
        .ok_or_else(|| LicenseApiError::rule("feature_not_found", format!("The license has no feature \"{code}\".")))
}

/// The requesting device's variables as the SDK reads them.
fn variables_of(license: &License, params: &Map<String, Value>) -> Value {
    let hardware_id = text(params, "hardware_id").unwrap_or_default();
    let variables = license.devices.iter().find(|d| d.hardware_id == hardware_id).map(|d| &d.variables);
    Value::Array(
        variables
            .into_iter()
            .flatten()
            .map(|v| json!({"variable": v.variable, "value": v.value, "created_at": crate::timefmt::format_time(v.created_at)}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: i64, allow_overages: bool, max_overages: i64) -> Limit {
        Limit { max, unlimited: max == 0, allow_overages, max_overages }
    }

    #[test]
    fn consumption_stays_within_the_limit_and_its_overages() {
        assert_eq!(consume(8, 2, limit(10, false, 0)).unwrap(), 10);
        assert_eq!(consume(8, 3, limit(10, false, 0)).unwrap_err().code, "consumption_limit_reached");
        assert_eq!(consume(8, 5, limit(10, true, 3)).unwrap(), 13);
        assert_eq!(consume(8, 6, limit(10, true, 3)).unwrap_err().code, "consumption_limit_reached");
        assert_eq!(consume(8, 600, limit(10, true, 0)).unwrap(), 608, "overages without a maximum");
        assert_eq!(consume(8, 600, limit(0, false, 0)).unwrap(), 608, "no maximum");
        assert_eq!(consume(2, -2, limit(10, false, 0)).unwrap(), 0);
        assert_eq!(consume(2, -3, limit(10, false, 0)).unwrap_err().code, "negative_consumptions_not_allowed");
        assert_eq!(consume(20, -1, limit(10, false, 0)).unwrap(), 19, "a correction down is always allowed");
    }
}

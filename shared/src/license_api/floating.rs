//! Cloud floating (LICENSE-API.md §4.1, issue 15): a license (or a feature) with
//! `is_floating_cloud` lets at most `floating_users` of its activated devices use it at once.
//!
//! A device holds a seat until `floating_until`: each check of the license (or of the feature)
//! takes or renews it for `floating_timeout` minutes, a borrow holds it to the borrow's end,
//! and `floating/release` gives it back. A seat past its time is free without any write: seats
//! are counted against the clock when read. Every change of seats is one conditional write of
//! the license item, so two devices racing for the last seat get one seat and one
//! `no_floating_seats_available`.
//!
//! Decisions where the vendor's docs are silent: a license without `floating_timeout` holds a
//! seat for [`DEFAULT_FLOATING_TIMEOUT_MINUTES`]; a feature borrows under its license's
//! `can_borrow` and `max_borrow_time` (hours); activating a floating license takes a seat.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::objects::{feature_object, license_object};
use super::request::{context, product_of, required};
use super::rules::CHECK_WRITE_EVERY;
use super::usage::{feature_at, on_device};
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::licenses::{FeatureSeat, License};
use crate::timefmt::{format_time, parse_time};

/// How long a check holds a seat when the license names no `floating_timeout`.
pub const DEFAULT_FLOATING_TIMEOUT_MINUTES: i64 = 120;

/// A seat's hold after a check: `floating_timeout` minutes.
pub fn timeout_minutes(floating_timeout: Option<i64>) -> i64 {
    floating_timeout.filter(|m| *m > 0).unwrap_or(DEFAULT_FLOATING_TIMEOUT_MINUTES)
}

fn no_seat(users: i64) -> LicenseApiError {
    LicenseApiError::rule("no_floating_seats_available", format!("All {users} floating seats are in use."))
}

/// `license` with its device at `at` holding a seat (taken if it held none, else renewed) for
/// a floating cloud license; unchanged otherwise. Pure.
pub fn hold_seat(license: &License, at: usize, now: OffsetDateTime) -> Result<License, LicenseApiError> {
    let mut changed = license.clone();
    if !license.is_floating_cloud {
        return Ok(changed);
    }
    if !license.devices[at].holds_seat(now) && license.floating_in_use(now) as i64 >= license.floating_users {
        return Err(no_seat(license.floating_users));
    }
    let renewed = now + Duration::minutes(timeout_minutes(license.floating_timeout));
    let device = &mut changed.devices[at];
    device.borrowed_until = device.borrowed_until.filter(|end| *end > now);
    device.floating_until = Some(device.borrowed_until.map_or(renewed, |end| end.max(renewed)));
    Ok(changed)
}

/// The end of a borrow asked for (`borrowed_until`, ISO 8601; `null` or absent: the longest
/// allowed), within `max_borrow_time` hours when `can_borrow`. Pure.
pub fn borrow_end(
    requested: Option<&Value>,
    can_borrow: bool,
    max_borrow_hours: i64,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, LicenseApiError> {
    if !can_borrow {
        return Err(LicenseApiError::rule("borrowing_not_allowed", "The license may not be borrowed."));
    }
    let longest = now + Duration::hours(max_borrow_hours.max(0));
    let end = match requested {
        None | Some(Value::Null) => longest,
        Some(Value::String(text)) => parse_time(text.trim()).ok_or_else(|| {
            LicenseApiError::rule(
                "validation_error",
                "borrowed_until must be an ISO 8601 time, like 2030-01-01T00:00:00Z.",
            )
        })?,
        Some(_) => return Err(LicenseApiError::rule("validation_error", "borrowed_until must be a string or null.")),
    };
    if end <= now {
        return Err(LicenseApiError::rule("validation_error", "borrowed_until must be in the future."));
    }
    if end > longest {
        return Err(LicenseApiError::rule(
            "borrow_period_too_long",
            format!("A borrow lasts at most {max_borrow_hours} hours."),
        ));
    }
    Ok(end)
}

/// `license` with the device at `at` holding its seat until `end` (a borrow). Pure.
pub fn borrow(
    license: &License,
    at: usize,
    end: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<License, LicenseApiError> {
    if !license.is_floating_cloud {
        return Err(LicenseApiError::rule("license_not_floating", "The license is not a floating license."));
    }
    let mut changed = hold_seat(license, at, now)?;
    let device = &mut changed.devices[at];
    // A new borrow replaces the last one, shorter or longer.
    device.borrowed_until = Some(end);
    device.floating_until = Some(end);
    Ok(changed)
}

/// `license`'s feature at `at` with the device `hardware_id` holding one of its seats until
/// the later of a renewed hold and `borrow_end`; seats past their time, or of devices no
/// longer active, are dropped first (so the seats are bounded by the devices). Unchanged for a
/// feature that is not floating cloud (a borrow of one is `feature_not_floating`). Pure.
pub fn hold_feature_seat(
    license: &License,
    at: usize,
    hardware_id: &str,
    borrow_end: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<License, LicenseApiError> {
    let mut changed = license.clone();
    let active = |hw: &str| license.devices.iter().any(|d| d.hardware_id == hw);
    let feature = &mut changed.features[at];
    if !feature.is_floating_cloud {
        return match borrow_end {
            Some(_) => Err(LicenseApiError::rule("feature_not_floating", "The feature is not a floating feature.")),
            None => Ok(changed),
        };
    }
    let renewed = now + Duration::minutes(timeout_minutes(feature.floating_timeout));
    // A seat renewed within the last minute is not written again (a check's bounded cost).
    let fresh =
        feature.floating_seats.iter().any(|s| s.hardware_id == hardware_id && s.until > renewed - CHECK_WRITE_EVERY);
    if fresh && borrow_end.is_none() {
        return Ok(changed);
    }
    feature.floating_seats.retain(|s| s.until > now && active(&s.hardware_id));
    let seat = match feature.floating_seats.iter().position(|s| s.hardware_id == hardware_id) {
        Some(seat) => seat,
        None if feature.floating_seats.len() as i64 >= feature.floating_users => {
            return Err(no_seat(feature.floating_users));
        }
        None => {
            feature.floating_seats.push(FeatureSeat {
                hardware_id: hardware_id.into(),
                until: renewed,
                borrowed_until: None,
            });
            feature.floating_seats.len() - 1
        }
    };
    let seat = &mut feature.floating_seats[seat];
    seat.borrowed_until = borrow_end.or(seat.borrowed_until.filter(|end| *end > now));
    seat.until = seat.borrowed_until.map_or(renewed, |end| end.max(renewed));
    Ok(changed)
}

/// `POST /api/v4/floating/borrow` with `borrowed_until` (ISO 8601 or `null` for the longest
/// allowed): the device keeps its seat until then. The License object, with `is_borrowed` and
/// `borrowed_until` ("Z", as the SDK reads it).
pub async fn floating_borrow_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let hardware_id = required(&params, "hardware_id")?;
        let (license, user) = on_device(store, product, &params, now, |license, at| {
            let end = borrow_end(params.get("borrowed_until"), license.can_borrow, license.max_borrow_time, now)?;
            borrow(license, at, end, now)
        })
        .await?;
        Ok(license_object(store, &license, user.as_ref(), product, &catalog, Some(&hardware_id), now))
    })
    .await
}

/// `POST /api/v4/floating/release`: the device gives its floating seat back (and ends its
/// borrow); it stays activated.
pub async fn floating_release_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        on_device(store, product, &params, now, |license, at| {
            let mut changed = license.clone();
            changed.devices[at].floating_until = None;
            changed.devices[at].borrowed_until = None;
            Ok(changed)
        })
        .await?;
        Ok(json!({"released": true}))
    })
    .await
}

/// `POST /api/v4/floating/feature_borrow` with `feature` and `borrowed_until`: the device
/// keeps its seat of the floating feature until then. The feature, with `borrowed_until`
/// ending in "Z" (the SDK strips the last character).
pub async fn feature_borrow_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let code = required(&params, "feature")?;
        let hardware_id = required(&params, "hardware_id")?;
        let (license, _) = on_device(store, product, &params, now, |license, _| {
            let at = feature_at(license, &catalog, &code)?;
            let end = borrow_end(params.get("borrowed_until"), license.can_borrow, license.max_borrow_time, now)?;
            hold_feature_seat(license, at, &hardware_id, Some(end), now)
        })
        .await?;
        let at = feature_at(&license, &catalog, &code)?;
        let mut body = feature_json(&license, at, &catalog, &hardware_id, now);
        let end = license.features[at].floating_seats.iter().find(|s| s.hardware_id == hardware_id);
        body["borrowed_until"] = json!(end.and_then(|s| s.borrowed_until).map(format_time));
        Ok(body)
    })
    .await
}

/// `POST /api/v4/floating/feature_release` with `feature`: the device gives its seat of the
/// floating feature back.
pub async fn feature_release_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::POST).await?;
        let product = product_of(&catalog, &params)?;
        let code = required(&params, "feature")?;
        let hardware_id = required(&params, "hardware_id")?;
        on_device(store, product, &params, now, |license, _| {
            let at = feature_at(license, &catalog, &code)?;
            let mut changed = license.clone();
            changed.features[at].floating_seats.retain(|s| s.hardware_id != hardware_id);
            Ok(changed)
        })
        .await?;
        Ok(json!({"released": true}))
    })
    .await
}

/// The feature at `at` as the SDK reads it, with this device's seat (`is_borrowed`) and the
/// seats in use.
pub(super) fn feature_json(
    license: &License,
    at: usize,
    catalog: &crate::catalog::Catalog,
    hardware_id: &str,
    now: OffsetDateTime,
) -> Value {
    let feature = &license.features[at];
    let definition = catalog.features.iter().find(|d| d.id == feature.feature);
    let Some(definition) = definition else { return Value::Null };
    let mut body = feature_object(feature, definition);
    let seats = feature.floating_seats.iter().filter(|s| s.until > now);
    let mine = feature.floating_seats.iter().find(|s| s.hardware_id == hardware_id && s.until > now);
    body["floating_in_use_devices"] = json!(seats.count());
    body["floating_timeout"] = json!(timeout_minutes(feature.floating_timeout));
    body["can_borrow"] = json!(license.can_borrow);
    body["max_borrow_time"] = json!(license.max_borrow_time);
    body["is_borrowed"] = json!(mine.and_then(|s| s.borrowed_until).is_some_and(|end| end > now));
    body["floating_end_date"] = json!(mine.map(|s| format_time(s.until)));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licenses::Device;
    use serde_json::Map;

    fn on(hardware_id: &str) -> Device {
        serde_json::from_value(json!({
            "id": 1, "hardware_id": hardware_id, "hostname": "", "os_ver": "", "ip": "", "mac_address": "",
            "is_vm": false, "vm_info": null, "app_ver": null, "sdk_ver": null,
            "time_activated": "2030-06-01T12:00:00Z", "last_check": "2030-06-01T12:00:00Z"
        }))
        .unwrap()
    }

    fn floating(users: i64) -> License {
        let mut license = crate::licenses::tests::sample();
        license.is_floating_cloud = true;
        license.floating_users = users;
        license.floating_timeout = Some(30);
        license.devices = vec![on("a"), on("b")];
        license
    }

    #[test]
    fn seats_are_taken_renewed_and_freed_by_the_clock() {
        let now = time::macros::datetime!(2030-06-01 12:00 UTC);
        let license = floating(1);
        let a = hold_seat(&license, 0, now).unwrap();
        assert_eq!(a.devices[0].floating_until, Some(now + Duration::minutes(30)));
        assert_eq!(a.floating_in_use(now), 1);
        assert_eq!(hold_seat(&a, 1, now).unwrap_err().code, "no_floating_seats_available");
        let renewed = hold_seat(&a, 0, now + Duration::minutes(10)).unwrap();
        assert_eq!(renewed.devices[0].floating_until, Some(now + Duration::minutes(40)));
        // Past its timeout the seat is free: another device takes it.
        let later = now + Duration::minutes(31);
        assert_eq!(a.floating_in_use(later), 0);
        assert!(hold_seat(&a, 1, later).unwrap().devices[1].holds_seat(later));
        // A license that is not floating is left as it is.
        let fixed = License { is_floating_cloud: false, ..license };
        assert_eq!(hold_seat(&fixed, 0, now).unwrap(), fixed);
    }

    #[test]
    fn borrows_keep_to_can_borrow_and_max_borrow_time() {
        let now = time::macros::datetime!(2030-06-01 12:00 UTC);
        let params: Map<String, Value> =
            serde_json::from_value(json!({"borrowed_until": "2030-06-02T12:00:00Z"})).unwrap();
        assert_eq!(borrow_end(params.get("borrowed_until"), false, 48, now).unwrap_err().code, "borrowing_not_allowed");
        assert_eq!(borrow_end(params.get("borrowed_until"), true, 23, now).unwrap_err().code, "borrow_period_too_long");
        let end = borrow_end(params.get("borrowed_until"), true, 24, now).unwrap();
        assert_eq!(borrow_end(Some(&Value::Null), true, 24, now).unwrap(), end, "null borrows the longest allowed");
        assert_eq!(borrow_end(Some(&json!("yesterday")), true, 24, now).unwrap_err().code, "validation_error");

        let license = floating(1);
        let borrowed = borrow(&license, 0, end, now).unwrap();
        assert!(borrowed.devices[0].is_borrowed(now));
        // A check during the borrow keeps the seat to the borrow's end.
        let checked = hold_seat(&borrowed, 0, now + Duration::hours(1)).unwrap();
        assert_eq!(checked.devices[0].floating_until, Some(end));
        assert_eq!(hold_seat(&borrowed, 1, now + Duration::hours(23)).unwrap_err().code, "no_floating_seats_available");
    }

    #[test]
    fn feature_seats_are_bounded_by_floating_users_and_active_devices() {
        let now = time::macros::datetime!(2030-06-01 12:00 UTC);
        let mut license = floating(1);
        let feature: crate::licenses::LicenseFeature = serde_json::from_value(json!({
            "id": 9, "feature": 8, "max_consumption": 0, "total_consumptions": 0, "expiry_date": null,
            "allow_overages": false, "max_overages": 0, "reset_consumption": false, "consumption_period": null,
            "metadata": {}, "is_floating": false, "is_floating_cloud": true, "floating_users": 1, "floating_timeout": null
        }))
        .unwrap();
        license.features = vec![feature];
        let a = hold_feature_seat(&license, 0, "a", None, now).unwrap();
        assert_eq!(a.features[0].floating_seats.len(), 1);
        // Checked again within the minute: nothing to write; a minute later, renewed.
        assert_eq!(hold_feature_seat(&a, 0, "a", None, now + Duration::seconds(59)).unwrap(), a);
        let later = now + Duration::seconds(61);
        let renewed = hold_feature_seat(&a, 0, "a", None, later).unwrap();
        assert_eq!(renewed.features[0].floating_seats[0].until, later + Duration::minutes(120));
        assert_eq!(hold_feature_seat(&a, 0, "b", None, now).unwrap_err().code, "no_floating_seats_available");
        // Device "a" deactivated: its seat goes at the next hold.
        let mut gone = a.clone();
        gone.devices.remove(0);
        let b = hold_feature_seat(&gone, 0, "b", None, now).unwrap();
        assert_eq!(b.features[0].floating_seats.iter().map(|s| s.hardware_id.as_str()).collect::<Vec<_>>(), ["b"]);
        let end = now + Duration::hours(2);
        let borrowed = hold_feature_seat(&b, 0, "b", Some(end), now).unwrap();
        assert_eq!(borrowed.features[0].floating_seats[0].until, end);
        license.features[0].is_floating_cloud = false;
        assert_eq!(hold_feature_seat(&license, 0, "a", Some(end), now).unwrap_err().code, "feature_not_floating");
        assert_eq!(hold_feature_seat(&license, 0, "a", None, now).unwrap(), license);
    }
}

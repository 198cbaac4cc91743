//! The rules of LICENSE-API.md §0 on a license and its devices, pure: usable (enabled, within
//! validity), the device a request is from, and an activation within `max_activations`,
//! `max_transfers`, `prevent_vm` and a license user's own `max_activations`.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::request::{flag, text};
use super::LicenseApiError;
use crate::ids::Id;
use crate::licenses::{Device, License};
use crate::timefmt::parse_time;

/// A check on a device writes its `last_check` at most this often (a bounded cost per check).
pub const CHECK_WRITE_EVERY: time::Duration = time::Duration::minutes(1);

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
pub(super) fn ends(validity: Option<&str>) -> Option<OffsetDateTime> {
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
    // A line break in an id would be stored replaced and never match the id sent again.
    if hardware_id.contains(['\n', '\r']) {
        return Err(LicenseApiError::rule("validation_error", "hardware_id may not hold a line break."));
    }
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
        hardware_id: hardware_id.to_string(),
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

/// `license` checked from its device at `at` (LICENSE-API.md §4.1): `None` when nothing needs
/// writing (checked within the last minute, and holding its floating seat if it needs one),
/// else the license with the device's `last_check` and its seat renewed. Pure.
pub fn checked(license: &License, at: usize, now: OffsetDateTime) -> Result<Option<License>, LicenseApiError> {
    let needs_seat = license.is_floating_cloud && !license.devices[at].holds_seat(now);
    if now - license.devices[at].last_check < CHECK_WRITE_EVERY && !needs_seat {
        return Ok(None);
    }
    let mut checked = super::floating::hold_seat(license, at, now)?;
    checked.devices[at].last_check = now;
    checked.last_check = Some(now);
    Ok(Some(checked))
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
    fn a_check_writes_at_most_once_a_minute_unless_it_needs_a_floating_seat() {
        let now = crate::timefmt::now();
        let mut license = crate::licenses::tests::sample();
        license.devices = vec![on("a", false)];
        license.devices[0].last_check = now - time::Duration::seconds(30);
        assert_eq!(checked(&license, 0, now).unwrap(), None);
        license.is_floating_cloud = true;
        license.floating_users = 1;
        let seated = checked(&license, 0, now).unwrap().expect("a seat to take");
        assert!(seated.devices[0].holds_seat(now));
        assert_eq!(checked(&seated, 0, now + time::Duration::seconds(30)).unwrap(), None);
        let renewed = checked(&seated, 0, now + time::Duration::seconds(61)).unwrap().expect("a minute on");
        assert_eq!(renewed.devices[0].last_check, now + time::Duration::seconds(61));
        let params: Map<String, Value> = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(device(&params, "a\nb", (1, None), now).unwrap_err().code, "validation_error");
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
    }
}

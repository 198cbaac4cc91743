//! What the License API answers (LICENSE-API.md §5): the License object the SDK stores, the
//! product details and a license's features, dates as the SDK parses them.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::rules::ends;
use crate::catalog::{Catalog, Product};
use crate::licenses::users::CompanyUser;
use crate::licenses::License;
use crate::store::TenantStore;
use crate::timefmt::format_time;

/// A stored date or time as the SDK parses date-times: UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
pub(super) fn date_time(text: Option<&str>) -> Value {
    match text.and_then(|t| ends(Some(t))) {
        Some(t) => Value::String(format_time(t)),
        None => Value::Null,
    }
}

/// The product as `product_details` and a License object's `product_details` give it.
pub(super) fn product_details(product: &Product, catalog: &Catalog) -> Value {
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

    #[test]
    fn dates_read_as_the_sdk_parses_date_times() {
        assert_eq!(date_time(Some("2030-05-31")), json!("2030-05-31T23:59:59Z"), "a date's end of day");
        assert_eq!(date_time(Some("2030-05-31T10:00:00Z")), json!("2030-05-31T10:00:00Z"));
        assert_eq!(date_time(None), Value::Null);
    }
}

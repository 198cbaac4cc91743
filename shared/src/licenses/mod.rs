//! Licenses: the stored item (one per license, holding its features, custom field values and
//! users, so a license is one read) and the license JSON of API.md §3 (seed 002).

pub mod activations;
pub mod assignments;
pub mod custom_field_values;
pub mod devices;
pub mod handlers;
pub mod history;
pub mod keygen;
pub mod license_users;
pub mod lifecycle;
pub mod list;
pub mod markers;
pub mod users;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::catalog::{Catalog, Customer, Feature};
use crate::ids::Id;
use crate::license_props::Props;
use crate::store::{keys, ClaimExtras, Entity, IndexKey, StoreError, TenantStore, UniqueKey};
use crate::timefmt::{format_time, rfc3339, rfc3339_option};
pub use devices::{Device, DeviceVariable, FeatureSeat};
use users::CompanyUser;

/// A product feature on a license, with the license's own values (seed 002 `product_features`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenseFeature {
    pub id: Id,
    pub feature: Id,
    pub max_consumption: i64,
    pub total_consumptions: i64,
    pub expiry_date: Option<String>,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub reset_consumption: bool,
    pub consumption_period: Option<String>,
    pub metadata: Map<String, Value>,
    pub is_floating: bool,
    pub is_floating_cloud: bool,
    pub floating_users: i64,
    pub floating_timeout: Option<i64>,
    /// The devices holding one of a floating cloud feature's `floating_users` seats.
    #[serde(default)]
    pub floating_seats: Vec<FeatureSeat>,
}

impl LicenseFeature {
    /// A feature newly put on a license: the product feature's own values.
    pub fn new(id: Id, feature: &Feature) -> Self {
        LicenseFeature {
            id,
            feature: feature.id,
            max_consumption: feature.max_consumption,
            total_consumptions: 0,
            expiry_date: None,
            allow_overages: feature.allow_overages,
            max_overages: feature.max_overages,
            reset_consumption: feature.reset_consumption,
            consumption_period: feature.consumption_period.clone(),
            metadata: feature.metadata.clone(),
            is_floating: false,
            is_floating_cloud: false,
            floating_users: 0,
            floating_timeout: None,
            floating_seats: Vec::new(),
        }
    }

    /// Sets the overrides given (read by `license_props::FEATURE_OVERRIDES`; `null` clears an
    /// optional value); keeps every other value.
    pub fn apply(&mut self, overrides: &Props) {
        for (name, value) in overrides {
            match name.as_str() {
                "max_consumption" => self.max_consumption = value.as_i64().unwrap_or(self.max_consumption),
                "total_consumptions" => self.total_consumptions = value.as_i64().unwrap_or(self.total_consumptions),
                "expiry_date" => self.expiry_date = value.as_str().map(str::to_string),
                "allow_overages" => self.allow_overages = value.as_bool().unwrap_or(self.allow_overages),
                "max_overages" => self.max_overages = value.as_i64().unwrap_or(self.max_overages),
                "reset_consumption" => self.reset_consumption = value.as_bool().unwrap_or(self.reset_consumption),
                "consumption_period" => self.consumption_period = value.as_str().map(str::to_string),
                "metadata" => self.metadata = value.as_object().cloned().unwrap_or_default(),
                "is_floating" => self.is_floating = value.as_bool().unwrap_or(self.is_floating),
                "is_floating_cloud" => self.is_floating_cloud = value.as_bool().unwrap_or(self.is_floating_cloud),
                "floating_users" => self.floating_users = value.as_i64().unwrap_or(self.floating_users),
                "floating_timeout" => self.floating_timeout = value.as_i64(),
                _ => {}
            }
        }
    }
}

/// A user of a license (user-based licenses; key-based ones may list users too): the company
/// user's id and email, and its values on this license (see `users`). The name and phone are
/// as given for the license; the license JSON shows the company user's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenseUser {
    pub id: Id,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub is_manager: bool,
    pub max_activations: i64,
    pub total_activations: i64,
    /// A password an order gave for a user new to the company; never stored here.
    #[serde(skip)]
    pub password: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The value a license gives one of its product's custom fields (API.md §8.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub id: Id,
    pub field: Id,
    pub value: String,
}

impl CustomFieldValue {
    pub const CLAIM: &'static str = "CUSTOM_FIELD_VALUE";

    /// The claim of a value's id, owned by its license: how `/license-custom-fields/{id}/`
    /// finds the license (one GetItem).
    pub fn claim(id: Id) -> UniqueKey {
        UniqueKey { kind: Self::CLAIM, scope: "-".into(), value: id.to_string(), field: "id" }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct License {
    pub id: Id,
    pub order: Id,
    pub order_item: Id,
    /// The caller's order id, copied here (it never changes) so a license renders alone.
    pub order_store_id: String,
    pub product: Id,
    pub customer: Option<Id>,
    pub license_template: Option<Id>,
    /// The parent license of a bundle's member license.
    pub bundle_parent: Option<Id>,
    pub license_key: Option<String>,
    pub active: bool,
    pub enabled: bool,
    #[serde(with = "rfc3339_option")]
    pub time_activated: Option<OffsetDateTime>,
    #[serde(with = "rfc3339_option")]
    pub time_disabled: Option<OffsetDateTime>,
    pub max_activations: i64,
    pub allow_unlimited_activations: bool,
    pub times_activated: i64,
    pub valid_duration: Option<String>,
    pub validity_period: Option<String>,
    pub start_date: Option<String>,
    pub license_type: String,
    pub enable_maintenance_period: bool,
    pub maintenance_duration: Option<String>,
    pub maintenance_period: Option<String>,
    pub is_trial: bool,
    pub max_consumptions: i64,
    pub total_consumptions: i64,
    pub subscription_id: Option<String>,
    #[serde(with = "rfc3339_option")]
    pub last_check: Option<OffsetDateTime>,
    pub prevent_vm: bool,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub reset_consumption: bool,
    pub consumption_period: Option<String>,
    pub trial_days: i64,
    pub is_floating: bool,
    pub is_floating_cloud: bool,
    pub floating_users: i64,
    pub note: Option<String>,
    pub max_license_users: i64,
    pub transfer_count: i64,
    pub floating_timeout: Option<i64>,
    pub max_transfers: i64,
    pub is_air_gapped: bool,
    pub can_borrow: bool,
    pub max_borrow_time: i64,
    pub is_bundle: bool,
    #[serde(with = "crate::catalog::json_text")]
    pub metadata: Map<String, Value>,
    #[serde(with = "crate::catalog::json_text")]
    pub features: Vec<LicenseFeature>,
    #[serde(with = "crate::catalog::json_text")]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(with = "crate::catalog::json_text")]
    pub users: Vec<LicenseUser>,
    /// The devices the license is active on (License API activations, LICENSE-API.md §0): at
    /// most `max_activations` unless unlimited, so it is bounded with the item.
    #[serde(default, with = "crate::catalog::json_text")]
    pub devices: Vec<Device>,
    /// Devices a vendor blacklisted (`/devices/{id}/blacklist/`): their hardware ids may not
    /// activate the license again. At most `devices::MAX_BLACKLISTED`.
    #[serde(default, with = "crate::catalog::json_text")]
    pub blacklisted_devices: Vec<Device>,
    /// Devices deactivated whose seat no new device has taken yet: the next new device is a
    /// transfer (`transfer_count`, bounded by `max_transfers`).
    #[serde(default)]
    pub released_seats: i64,
    /// Set on licenses written by an order too large for one transaction: such a license is
    /// visible only once its order lists this attempt as committed (see `orders`).
    pub attempt: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for License {
    const KIND: &'static str = "LICENSE";
    const NAME: &'static str = "license";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    /// Bodies name a license's features `product_features` (create_order, PATCH, seed 003).
    fn request_field(attribute: &str) -> String {
        match attribute {
            "features" => "product_features".into(),
            other => other.into(),
        }
    }

    /// Its key, and each custom field value's and device's id (the markers that find a
    /// value's or a device's license).
    fn unique_keys(&self) -> Vec<UniqueKey> {
        let key = self.license_key.iter().map(|key| License::key_claim(self.product, key));
        key.chain(self.custom_fields.iter().map(|v| CustomFieldValue::claim(v.id)))
            .chain(self.listed_devices().map(|d| Device::claim(d.id)))
            .collect()
    }

    /// A device's marker is listed and counted as `devices` says; a value's is listed with the
    /// company's values and its field's, and counted in both (`custom_field_values`).
    fn claim_extras(&self, company: Id, key: &UniqueKey) -> ClaimExtras {
        if let Some(extras) = self.device_claim_extras(company, key) {
            return extras;
        }
        let Some(value) =
            self.custom_fields.iter().find(|v| key.kind == CustomFieldValue::CLAIM && v.id.to_string() == key.value)
        else {
            return ClaimExtras::default();
        };
        let sk = keys::padded(value.id);
        ClaimExtras {
            index: vec![
                IndexKey { index: 1, pk: keys::custom_field_values_gsi1pk(company), sk: sk.clone() },
                IndexKey { index: 2, pk: keys::custom_field_values_gsi2pk(company, value.field), sk },
            ],
            counters: vec![
                keys::CUSTOM_FIELD_VALUES_COUNTER_PREFIX.to_string(),
                keys::custom_field_counter_prefix(value.field),
            ],
        }
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::license_pk(company, id), keys::LICENSE_SK.into())
    }

    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        let sk = keys::padded(self.id);
        let entry = |index: u8, pk: String| IndexKey { index, pk, sk: sk.clone() };
        let mut entries = vec![
            entry(keys::LICENSES_BY_PRODUCT, keys::licenses_by_product(company, self.product)),
            entry(keys::LICENSES_BY_ORDER, keys::licenses_by_order(company, self.order)),
            entry(keys::LICENSES_BY_MONTH, keys::licenses_by_month(company, self.created_at)),
            IndexKey {
                index: keys::LICENSES_BY_VALIDITY,
                pk: keys::licenses_by_validity(company, self.product),
                sk: keys::license_validity_sk(self.validity_period.as_deref(), self.id),
            },
        ];
        if let Some(customer) = self.customer {
            entries.push(entry(keys::LICENSES_BY_CUSTOMER, keys::licenses_by_customer(company, customer)));
        }
        if let Some(key) = &self.license_key {
            entries.push(entry(keys::LICENSES_BY_KEY, keys::licenses_by_key(company, key)));
        }
        entries
    }

    fn search_attributes(&self) -> Vec<(&'static str, crate::store::condition::SearchAttribute)> {
        list::pushdown::search_attributes(self)
    }
}

/// What rendering a license needs besides the license.
pub struct RenderCtx<'a> {
    pub company: Id,
    pub catalog: &'a Catalog,
    pub related: &'a Related,
}

/// The customers and company users licenses render with.
#[derive(Debug, Default)]
pub struct Related {
    pub customers: HashMap<Id, Customer>,
    pub users: HashMap<Id, CompanyUser>,
}

impl Related {
    /// Reads those of `licenses`' customers and users, and of `customers`, not held yet: one
    /// BatchGetItem per 100 (none when nothing is missing).
    pub async fn fill<'l>(
        &mut self,
        store: TenantStore<'_>,
        licenses: impl IntoIterator<Item = &'l License>,
        customers: impl IntoIterator<Item = Id>,
    ) -> Result<(), StoreError> {
        self.fill_with_users(store, licenses, customers, []).await
    }

    /// [`Related::fill`], with `users` read in the same BatchGetItem.
    pub async fn fill_with_users<'l>(
        &mut self,
        store: TenantStore<'_>,
        licenses: impl IntoIterator<Item = &'l License>,
        customers: impl IntoIterator<Item = Id>,
        users: impl IntoIterator<Item = Id>,
    ) -> Result<(), StoreError> {
        let mut customer_ids: Vec<Id> = customers.into_iter().filter(|id| !self.customers.contains_key(id)).collect();
        let mut user_ids: Vec<Id> = users.into_iter().filter(|id| !self.users.contains_key(id)).collect();
        for license in licenses {
            customer_ids.extend(license.customer.filter(|id| !self.customers.contains_key(id)));
            user_ids.extend(license.users.iter().map(|u| u.id).filter(|id| !self.users.contains_key(id)));
        }
        if customer_ids.is_empty() && user_ids.is_empty() {
            return Ok(());
        }
        let (customers, users) = store.get_both::<Customer, CompanyUser>(&customer_ids, &user_ids).await?;
        self.customers.extend(customers.into_iter().map(|c| (c.id, c)));
        self.users.extend(users.into_iter().map(|u| (u.id, u)));
        Ok(())
    }
}

impl License {
    /// The claim that makes a key unique within its product.
    pub fn key_claim(product: Id, key: &str) -> UniqueKey {
        UniqueKey { kind: "LICENSE_KEY", scope: product.to_string(), value: key.to_string(), field: "key" }
    }

    /// `Active` once activated (or a subscription), `Disabled` when not enabled (that wins).
    pub fn status(&self) -> &'static str {
        if !self.enabled {
            "Disabled"
        } else if self.active || self.times_activated > 0 || self.license_type == "subscription" {
            "Active"
        } else {
            "Inactive"
        }
    }

    /// The license JSON of API.md §3: exactly the keys, nesting and types of seed 002.
    pub fn render(&self, ctx: &RenderCtx) -> Value {
        let catalog = ctx.catalog;
        let product = catalog.product(self.product);
        let customer =
            self.customer.and_then(|id| ctx.related.customers.get(&id)).map(|c| c.render_core(ctx.company, catalog));
        let features: Vec<Value> = self
            .features
            .iter()
            .map(|f| {
                let definition = catalog.features.iter().find(|d| d.id == f.feature).map(|d| d.render_core());
                json!({
                    "id": f.id,
                    "product_feature": definition,
                    "max_consumption": f.max_consumption,
                    "total_consumptions": f.total_consumptions,
                    "expiry_date": f.expiry_date,
                    "allow_overages": f.allow_overages,
                    "max_overages": f.max_overages,
                    "reset_consumption": f.reset_consumption,
                    "consumption_period": f.consumption_period,
                    "metadata": f.metadata,
                })
            })
            .collect();
        let custom_fields: Vec<Value> = self
            .custom_fields
            .iter()
            .map(|v| {
                let name = catalog.custom_fields.iter().find(|f| f.id == v.field).map(|f| f.name.as_str());
                json!({"id": v.id, "product_custom_field": v.field, "name": name, "value": v.value})
            })
            .collect();
        let users: Vec<Value> =
            self.users.iter().map(|u| users::render_entry(u, ctx.related.users.get(&u.id))).collect();
        json!({
            "id": self.id,
            "status": self.status(),
            "floating_in_use_devices": self.floating_in_use(crate::timefmt::now()),
            "customer": customer,
            "product_features": features,
            "product_custom_fields": custom_fields,
            "license_users": users,
            "order_store_id": self.order_store_id,
            "active_up_to_date_devices": self.devices.len(),
            "total_active_devices": self.devices.len(),
            "product": {
                "id": self.product,
                "product_name": product.map(|p| p.product_name.as_str()),
                "custom_fields": product.map(|p| p.custom_fields_json(catalog)).unwrap_or_default(),
            },
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "license_key": self.license_key,
            "active": self.active,
            "enabled": self.enabled,
            "time_activated": self.time_activated.map(format_time),
            "time_disabled": self.time_disabled.map(format_time),
            "max_activations": self.max_activations,
            "times_activated": self.times_activated,
            "valid_duration": self.valid_duration,
            "validity_period": self.validity_period,
            "license_type": self.license_type,
            "enable_maintenance_period": self.enable_maintenance_period,
            "maintenance_duration": self.maintenance_duration,
            "maintenance_period": self.maintenance_period,
            "is_trial": self.is_trial,
            "max_consumptions": self.max_consumptions,
            "total_consumptions": self.total_consumptions,
            "subscription_id": self.subscription_id,
            "last_check": self.last_check.map(format_time),
            "prevent_vm": self.prevent_vm,
            "allow_overages": self.allow_overages,
            "max_overages": self.max_overages,
            "reset_consumption": self.reset_consumption,
            "consumption_period": self.consumption_period,
            "trial_days": self.trial_days,
            "is_floating": self.is_floating,
            "is_floating_cloud": self.is_floating_cloud,
            "floating_users": self.floating_users,
            "note": self.note,
            "max_license_users": self.max_license_users,
            "transfer_count": self.transfer_count,
            "floating_timeout": self.floating_timeout,
            "max_transfers": self.max_transfers,
            "is_air_gapped": self.is_air_gapped,
            "can_borrow": self.can_borrow,
            "max_borrow_time": self.max_borrow_time,
            "is_bundle": self.is_bundle,
            "metadata": self.metadata,
            "order": self.order,
            "order_item": self.order_item,
            "disabled_user": null,
            "last_activation_device": self.devices.iter().max_by_key(|d| d.time_activated).map(|d| d.hardware_id.as_str()),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain key-based license with nothing on it, for unit tests.
    pub fn sample() -> License {
        let now = crate::timefmt::now();
        License {
            id: 1,
            order: 2,
            order_item: 3,
            order_store_id: "order-1".into(),
            product: 4,
            customer: None,
            license_template: None,
            bundle_parent: None,
            license_key: Some("AAAA-BBBB".into()),
            active: false,
            enabled: true,
            time_activated: None,
            time_disabled: None,
            max_activations: 1,
            allow_unlimited_activations: false,
            times_activated: 0,
            valid_duration: None,
            validity_period: None,
            start_date: None,
            license_type: "perpetual".into(),
            enable_maintenance_period: false,
            maintenance_duration: None,
            maintenance_period: None,
            is_trial: false,
            max_consumptions: 0,
            total_consumptions: 0,
            subscription_id: None,
            last_check: None,
            prevent_vm: false,
            allow_overages: false,
            max_overages: 0,
            reset_consumption: false,
            consumption_period: None,
            trial_days: 0,
            is_floating: false,
            is_floating_cloud: false,
            floating_users: 0,
            note: None,
            max_license_users: 0,
            transfer_count: 0,
            floating_timeout: None,
            max_transfers: 0,
            is_air_gapped: false,
            can_borrow: false,
            max_borrow_time: 0,
            is_bundle: false,
            metadata: Map::new(),
            features: Vec::new(),
            custom_fields: Vec::new(),
            users: Vec::new(),
            devices: Vec::new(),
            blacklisted_devices: Vec::new(),
            released_seats: 0,
            attempt: None,
            created_at: now,
            updated_at: now,
        }
    }
}

//! Licenses: the stored item (one per license, holding its features, custom field values and
//! users, so a license is one read) and the license JSON of API.md §3 (seed 002).

pub mod handlers;
pub mod history;
pub mod keygen;
pub mod lifecycle;
pub mod list;
pub mod users;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::catalog::{Catalog, Customer, Feature};
use crate::ids::Id;
use crate::license_props::Props;
use crate::store::{keys, Entity, IndexKey, UniqueKey};
use crate::timefmt::{format_time, rfc3339, rfc3339_option};

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

/// A user of a license (user-based licenses; key-based ones may list users too).
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
    /// The company user's generated password while it is its password (shown, API.md §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_password: Option<String>,
    /// A password an order gave for a user new to the company; never stored here.
    #[serde(skip)]
    pub password: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The value a license gives one of its product's custom fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub id: Id,
    pub field: Id,
    pub value: String,
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

    fn unique_keys(&self) -> Vec<UniqueKey> {
        self.license_key.iter().map(|key| License::key_claim(self.product, key)).collect()
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
    pub customers: &'a HashMap<Id, Customer>,
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
        let customer = self.customer.and_then(|id| ctx.customers.get(&id)).map(|c| c.render_core(ctx.company, catalog));
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
        let users: Vec<Value> = self.users.iter().map(render_user).collect();
        json!({
            "id": self.id,
            "status": self.status(),
            "floating_in_use_devices": 0,
            "customer": customer,
            "product_features": features,
            "product_custom_fields": custom_fields,
            "license_users": users,
            "order_store_id": self.order_store_id,
            "active_up_to_date_devices": 0,
            "total_active_devices": 0,
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
            "last_activation_device": null,
        })
    }
}

/// A license user in seed 002's shape: `initial_password` shows the generated password while
/// the user has not set one (`is_initial_password`), else `""`.
fn render_user(user: &LicenseUser) -> Value {
    json!({
        "id": user.id,
        "last_login": null,
        "email": user.email,
        "true_email": user.email,
        "created_at": format_time(user.created_at),
        "updated_at": format_time(user.updated_at),
        "is_admin": {},
        "is_active": true,
        "is_staff": false,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone_number": user.phone_number,
        "subscribed_to_email": false,
        "acquired_consent": null,
        "is_manager": user.is_manager,
        "initial_password": user.initial_password.as_deref().unwrap_or_default(),
        "is_initial_password": user.initial_password.is_some(),
        "max_activations": user.max_activations,
        "total_activations": user.total_activations,
    })
}

//! License templates (the vendor's "license policies"): `/api/v1/license-templates/`.
//! A template holds only the license properties it sets; an order layers explicit values over
//! it, then the product's defaults.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{read_product_ref, Catalog, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::Id;
use crate::input::{Input, SHORT_TEXT};
use crate::license_props::{self, Props, FEATURE_OVERRIDES, LICENSE_PROPERTIES};
use crate::listing::{FilterSpec, Lookup, OrderSpec};
use crate::store::{Entity, UniqueKey};
use crate::timefmt::{format_time, rfc3339};

/// Most features one template or license may list.
pub const MAX_FEATURES: usize = 1_000;

/// A product feature granted with per-license overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureGrant {
    pub feature: Id,
    pub overrides: Props,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LicenseTemplate {
    pub id: Id,
    pub product: Id,
    pub name: String,
    /// Unique within the product; orders name templates by it (`policy_code`).
    pub code: String,
    /// At most one template per product is the default: setting it unsets the others in the
    /// same transaction.
    pub is_default: bool,
    #[serde(with = "super::json_text")]
    pub properties: Props,
    #[serde(with = "super::json_text")]
    pub product_features: Vec<FeatureGrant>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for LicenseTemplate {
    const KIND: &'static str = "TEMPLATE";
    const NAME: &'static str = "license template";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![UniqueKey {
            kind: "TEMPLATE_CODE",
            scope: self.product.to_string(),
            value: self.code.clone(),
            field: "code",
        }]
    }
}

static FILTERS: &[FilterSpec<LicenseTemplate, Catalog>] = &[
    FilterSpec { param: "product", lookup: Lookup::IntExact, field: |t, _| t.product.into() },
    FilterSpec { param: "code", lookup: Lookup::Exact, field: |t, _| (&t.code).into() },
    FilterSpec { param: "is_default", lookup: Lookup::BoolExact, field: |t, _| t.is_default.into() },
];

static ORDERS: &[OrderSpec<LicenseTemplate, Catalog>] = &[
    OrderSpec { name: "id", key: |t, _| t.id.into() },
    OrderSpec { name: "created_at", key: |t, _| t.id.into() },
    OrderSpec { name: "name", key: |t, _| (&t.name).into() },
    OrderSpec { name: "code", key: |t, _| (&t.code).into() },
];

/// Reads `product_features`: codes (`["f1"]`) or objects (`[{"code": "f1", "max_consumption": 3}]`)
/// naming features of `product`. `None` when absent or invalid (errors reported).
pub fn read_feature_grants(input: &mut Input, product: Id, catalog: &Catalog) -> Option<Vec<FeatureGrant>> {
    let items = input.list("product_features", MAX_FEATURES)?;
    let mut grants: Vec<FeatureGrant> = Vec::with_capacity(items.len());
    let mut valid = true;
    for (i, item) in items.iter().enumerate() {
        let field = format!("product_features.{i}");
        let (code, overrides) = match item {
            Value::String(code) => (Some(code.clone()), Props::new()),
            Value::Object(obj) => {
                let mut child = input.child(obj, &field);
                let code = child.required_string("code", SHORT_TEXT);
                (code, license_props::read(&mut child, FEATURE_OVERRIDES))
            }
            _ => {
                input.error(&field, "Expected a feature code or an object with a \"code\".");
                (None, Props::new())
            }
        };
        let Some(code) = code else {
            valid = false;
            continue;
        };
        match catalog.features.iter().find(|f| f.product == product && f.code == code) {
            None => input.error(&field, format!("Unknown feature code \"{code}\" for this product.")),
            Some(f) if grants.iter().any(|g| g.feature == f.id) => input.error(&field, "Listed twice."),
            Some(f) => {
                grants.push(FeatureGrant { feature: f.id, overrides });
                continue;
            }
        }
        valid = false;
    }
    valid.then_some(grants)
}

impl Resource for LicenseTemplate {
    const PATH: &'static str = "license-templates";

    fn product(&self) -> Option<Id> {
        Some(self.product)
    }

    const FILTERS: &'static [FilterSpec<Self, Catalog>] = FILTERS;
    const ORDERS: &'static [OrderSpec<Self, Catalog>] = ORDERS;

    fn blank(id: Id, now: OffsetDateTime) -> Self {
        LicenseTemplate {
            id,
            product: 0,
            name: String::new(),
            code: String::new(),
            is_default: false,
            properties: Props::new(),
            product_features: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    fn read(mut self, input: &mut Input, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        let Some(product) = read_product_ref(input, ctx, (!ctx.creating).then_some(self.product)) else {
            return Ok(self);
        };
        self.product = product;
        if let Some(name) = input.text("name", SHORT_TEXT, ctx.creating) {
            self.name = name;
        }
        if let Some(code) = input.text("code", SHORT_TEXT, ctx.creating) {
            self.code = code.trim().to_string();
        }
        for (name, value) in license_props::read(input, LICENSE_PROPERTIES) {
            if value.is_null() {
                self.properties.remove(&name);
            } else {
                self.properties.insert(name, value);
            }
        }
        if let Some(grants) = read_feature_grants(input, product, &ctx.catalog) {
            self.product_features = grants;
        }
        if let Some(is_default) = input.bool("is_default") {
            self.is_default = is_default;
            if is_default {
                self.take_default(ctx)?;
            }
        }
        Ok(self)
    }

    fn set_updated_at(&mut self, now: OffsetDateTime) {
        self.updated_at = now;
    }

    fn render(&self, catalog: &Catalog) -> Value {
        let mut value = json!({
            "id": self.id,
            "product": self.product,
            "name": self.name,
            "code": self.code,
            "is_default": self.is_default,
        });
        if let Some(obj) = value.as_object_mut() {
            obj.extend(license_props::render(&self.properties, LICENSE_PROPERTIES));
        }
        let features: Vec<Value> = self
            .product_features
            .iter()
            .map(|grant| {
                let code = catalog.features.iter().find(|f| f.id == grant.feature).map(|f| f.code.as_str());
                let mut entry = json!({ "product_feature": grant.feature, "code": code });
                if let Some(obj) = entry.as_object_mut() {
                    obj.extend(grant.overrides.clone());
                }
                entry
            })
            .collect();
        value["product_features"] = json!(features);
        value["created_at"] = json!(format_time(self.created_at));
        value["updated_at"] = json!(format_time(self.updated_at));
        value
    }

    fn in_catalog(catalog: &Catalog) -> &[Self] {
        &catalog.templates
    }

    fn in_catalog_mut(catalog: &mut Catalog) -> Option<&mut Vec<Self>> {
        Some(&mut catalog.templates)
    }
}

impl LicenseTemplate {
    /// Unsets the product's other default templates in the same transaction.
    fn take_default(&self, ctx: &mut WriteCtx) -> Result<(), ApiError> {
        let others: Vec<LicenseTemplate> = ctx
            .catalog
            .templates
            .iter()
            .filter(|t| t.product == self.product && t.is_default && t.id != self.id)
            .cloned()
            .collect();
        for old in others {
            let mut new = old.clone();
            new.is_default = false;
            new.updated_at = ctx.now;
            ctx.tx.replace(&old, &new)?;
            new.remember(&mut ctx.catalog);
        }
        Ok(())
    }
}

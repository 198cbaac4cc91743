//! Product features: `/api/v1/product-features/`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{read_product_ref, Catalog, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::Id;
use crate::input::{Input, SHORT_TEXT};
use crate::license_props::CONSUMPTION_PERIODS;
use crate::listing::{FilterSpec, Lookup, OrderSpec};
use crate::store::{Entity, UniqueKey};
use crate::timefmt::{format_time, rfc3339};

const FEATURE_TYPES: &[(&str, &str)] = &[("activation", "activation"), ("consumption", "consumption")];

/// A feature of a product. Consumption fields on an activation feature are stored as given
/// and have no effect (API.md §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Feature {
    pub id: Id,
    pub product: Id,
    pub name: String,
    /// Unique within the product.
    pub code: String,
    pub feature_type: String,
    pub max_consumption: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub reset_consumption: bool,
    pub consumption_period: Option<String>,
    #[serde(with = "super::json_text")]
    pub metadata: Map<String, Value>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for Feature {
    const KIND: &'static str = "FEATURE";
    const NAME: &'static str = "product feature";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![UniqueKey {
            kind: "FEATURE_CODE",
            scope: self.product.to_string(),
            value: self.code.clone(),
            field: "code",
        }]
    }
}

static FILTERS: &[FilterSpec<Feature, Catalog>] = &[
    FilterSpec { param: "product", lookup: Lookup::IntExact, field: |f, _| f.product.into() },
    FilterSpec { param: "code", lookup: Lookup::Exact, field: |f, _| (&f.code).into() },
    FilterSpec { param: "feature_type", lookup: Lookup::Exact, field: |f, _| f.feature_type.as_str().into() },
];

static ORDERS: &[OrderSpec<Feature, Catalog>] = &[
    OrderSpec { name: "id", key: |f, _| f.id.into() },
    OrderSpec { name: "created_at", key: |f, _| f.id.into() },
    OrderSpec { name: "updated_at", key: |f, _| format_time(f.updated_at).as_str().into() },
    OrderSpec { name: "name", key: |f, _| (&f.name).into() },
    OrderSpec { name: "code", key: |f, _| (&f.code).into() },
];

impl Feature {
    /// The feature as a license's `product_feature` shows it (seed 002).
    pub fn render_core(&self) -> Value {
        json!({
            "id": self.id,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "name": self.name,
            "code": self.code,
            "is_deleted": false,
            "feature_type": self.feature_type,
            "max_consumption": self.max_consumption,
            "allow_overages": self.allow_overages,
            "max_overages": self.max_overages,
            "reset_consumption": self.reset_consumption,
            "consumption_period": self.consumption_period,
            "metadata": self.metadata,
        })
    }
}

impl Resource for Feature {
    const PATH: &'static str = "product-features";

    fn product(&self) -> Option<Id> {
        Some(self.product)
    }

    const FILTERS: &'static [FilterSpec<Self, Catalog>] = FILTERS;
    const ORDERS: &'static [OrderSpec<Self, Catalog>] = ORDERS;

    fn blank(id: Id, now: OffsetDateTime) -> Self {
        Feature {
            id,
            product: 0,
            name: String::new(),
            code: String::new(),
            feature_type: "activation".into(),
            max_consumption: 0,
            allow_overages: false,
            max_overages: 0,
            reset_consumption: false,
            consumption_period: None,
            metadata: Map::new(),
            created_at: now,
            updated_at: now,
        }
    }

    fn read(mut self, input: &mut Input, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        let creating = ctx.creating;
        if let Some(product) = read_product_ref(input, ctx, (!creating).then_some(self.product)) {
            self.product = product;
        }
        if let Some(name) = input.text("name", SHORT_TEXT, creating) {
            self.name = name;
        }
        if let Some(code) = input.text("code", SHORT_TEXT, creating) {
            self.code = code.trim().to_string();
        }
        if let Some(kind) = input.choice("feature_type", FEATURE_TYPES) {
            self.feature_type = kind.to_string();
        }
        if let Some(n) = input.int("max_consumption", 0, i32::MAX.into()) {
            self.max_consumption = n;
        }
        if let Some(b) = input.bool("allow_overages") {
            self.allow_overages = b;
        }
        if let Some(n) = input.int("max_overages", 0, i32::MAX.into()) {
            self.max_overages = n;
        }
        if let Some(b) = input.bool("reset_consumption") {
            self.reset_consumption = b;
        }
        if let Some(period) = input.nullable_choice("consumption_period", CONSUMPTION_PERIODS) {
            self.consumption_period = period.map(str::to_string);
        }
        if let Some(metadata) = input.metadata("metadata") {
            self.metadata = metadata;
        }
        Ok(self)
    }

    fn set_updated_at(&mut self, now: OffsetDateTime) {
        self.updated_at = now;
    }

    fn render(&self, _: &Catalog) -> Value {
        let mut value = self.render_core();
        value["product"] = json!(self.product);
        value
    }

    fn in_catalog(catalog: &Catalog) -> &[Self] {
        &catalog.features
    }

    fn in_catalog_mut(catalog: &mut Catalog) -> Option<&mut Vec<Self>> {
        Some(&mut catalog.features)
    }
}

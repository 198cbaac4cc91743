//! Product custom fields: `/api/v1/product-custom-fields/`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{read_product_ref, Catalog, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::Id;
use crate::input::{Input, LONG_TEXT, SHORT_TEXT};
use crate::listing::{FilterSpec, Lookup, OrderSpec};
use crate::store::{Entity, UniqueKey};
use crate::timefmt::{format_time, rfc3339};

/// Most custom fields one product has. Each license holds a value of each, and each value's
/// marker and counters are written in its license's transaction (`licenses::CustomFieldValue`):
/// with the license, its key, its history entry and its order's items, one transaction's 100.
pub const MAX_PER_PRODUCT: usize = 40;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomField {
    pub id: Id,
    pub product: Id,
    /// Unique within the product; licenses set values by it.
    pub name: String,
    pub default_value: String,
    /// Free text, as the vendor's (`null` in its example).
    pub data_type: Option<String>,
    pub description: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for CustomField {
    const KIND: &'static str = "CFIELD";
    const NAME: &'static str = "product custom field";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![UniqueKey {
            kind: "CFIELD_NAME",
            scope: self.product.to_string(),
            value: self.name.clone(),
            field: "name",
        }]
    }
}

static FILTERS: &[FilterSpec<CustomField, Catalog>] = &[
    FilterSpec { param: "product", lookup: Lookup::IntExact, field: |f, _| f.product.into() },
    FilterSpec { param: "name", lookup: Lookup::Exact, field: |f, _| (&f.name).into() },
];

static ORDERS: &[OrderSpec<CustomField, Catalog>] = &[
    OrderSpec { name: "id", key: |f, _| f.id.into() },
    OrderSpec { name: "created_at", key: |f, _| f.id.into() },
    OrderSpec { name: "name", key: |f, _| (&f.name).into() },
];

impl CustomField {
    /// As a license's `product.custom_fields` shows it (seed 002).
    pub fn render_core(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "data_type": self.data_type,
            "default_value": self.default_value,
            "description": self.description,
            "product": self.product,
        })
    }
}

impl Resource for CustomField {
    const PATH: &'static str = "product-custom-fields";

    fn product(&self) -> Option<Id> {
        Some(self.product)
    }

    const FILTERS: &'static [FilterSpec<Self, Catalog>] = FILTERS;
    const ORDERS: &'static [OrderSpec<Self, Catalog>] = ORDERS;

    fn blank(id: Id, now: OffsetDateTime) -> Self {
        CustomField {
            id,
            product: 0,
            name: String::new(),
            default_value: String::new(),
            data_type: None,
            description: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn read(mut self, input: &mut Input, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        if let Some(product) = read_product_ref(input, ctx, (!ctx.creating).then_some(self.product)) {
            let others = ctx.catalog.custom_fields.iter().filter(|f| f.product == product && f.id != self.id).count();
            if others >= MAX_PER_PRODUCT {
                input.error("product", format!("A product has at most {MAX_PER_PRODUCT} custom fields."));
            }
            self.product = product;
        }
        if let Some(name) = input.text("name", SHORT_TEXT, ctx.creating) {
            self.name = name.trim().to_string();
        }
        if let Some(value) = input.nullable_string("default_value", LONG_TEXT) {
            self.default_value = value.unwrap_or_default();
        }
        if let Some(data_type) = input.nullable_string("data_type", SHORT_TEXT) {
            self.data_type = data_type;
        }
        if let Some(description) = input.nullable_string("description", LONG_TEXT) {
            self.description = description;
        }
        Ok(self)
    }

    fn set_updated_at(&mut self, now: OffsetDateTime) {
        self.updated_at = now;
    }

    fn render(&self, _: &Catalog) -> Value {
        let mut value = self.render_core();
        value["created_at"] = json!(format_time(self.created_at));
        value["updated_at"] = json!(format_time(self.updated_at));
        value
    }

    fn in_catalog(catalog: &Catalog) -> &[Self] {
        &catalog.custom_fields
    }

    fn in_catalog_mut(catalog: &mut Catalog) -> Option<&mut Vec<Self>> {
        Some(&mut catalog.custom_fields)
    }
}

//! Products: `/api/v1/products/`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{Catalog, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::Id;
use crate::input::{Input, SHORT_TEXT};
use crate::listing::{FilterSpec, Lookup, OrderSpec};
use crate::store::{Entity, UniqueKey};
use crate::timefmt::{format_time, rfc3339};

pub const KEY_BASED: &str = "license-key";
pub const USER_BASED: &str = "user";
const AUTHORIZATION_METHODS: &[(&str, &str)] = &[(KEY_BASED, KEY_BASED), (USER_BASED, USER_BASED)];
/// Most members a bundle may name.
const MAX_BUNDLE_MEMBERS: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub id: Id,
    pub product_name: String,
    /// Unique within the company; orders and imports name products by it.
    pub short_code: String,
    pub authorization_method: String,
    pub is_bundle: bool,
    /// Member products of a bundle, by id (rendered as their short codes).
    pub bundle_products: Vec<Id>,
    /// Default for the product's licenses; `None`: licenses fall back to 1.
    pub max_activations: Option<i64>,
    pub max_consumptions: i64,
    pub trial_days: i64,
    #[serde(with = "super::json_text")]
    pub metadata: Map<String, Value>,
    pub is_archived: bool,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for Product {
    const KIND: &'static str = "PRODUCT";
    const NAME: &'static str = "product";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![UniqueKey { kind: "PRODUCT_CODE", scope: "-".into(), value: self.short_code.clone(), field: "short_code" }]
    }
}

static FILTERS: &[FilterSpec<Product, Catalog>] = &[
    FilterSpec { param: "short_code", lookup: Lookup::Exact, field: |p, _| (&p.short_code).into() },
    FilterSpec { param: "is_archived", lookup: Lookup::BoolExact, field: |p, _| p.is_archived.into() },
];

static ORDERS: &[OrderSpec<Product, Catalog>] = &[
    OrderSpec { name: "id", key: |p, _| p.id.into() },
    OrderSpec { name: "created_at", key: |p, _| p.id.into() },
    OrderSpec { name: "updated_at", key: |p, _| format_time(p.updated_at).as_str().into() },
    OrderSpec { name: "product_name", key: |p, _| (&p.product_name).into() },
    OrderSpec { name: "short_code", key: |p, _| (&p.short_code).into() },
];

impl Product {
    fn bundle_members(&self, codes: &[String], input: &mut Input, catalog: &Catalog) -> Vec<Id> {
        let mut members = Vec::new();
        for (i, code) in codes.iter().enumerate() {
            let field = format!("bundle_products.{i}");
            match catalog.product_by_code(code) {
                None => input.error(&field, format!("Unknown product short code \"{code}\".")),
                Some(p) if p.id == self.id || p.is_bundle => {
                    input.error(&field, "A bundle's members must be products that are not bundles.")
                }
                Some(p) if p.authorization_method != self.authorization_method => {
                    input.error(&field, "A bundle's members must use the bundle's authorization method.")
                }
                Some(p) if members.contains(&p.id) => input.error(&field, "Listed twice."),
                Some(p) => members.push(p.id),
            }
        }
        members
    }

    /// `custom_fields` as a license's `product` shows them (seed 002).
    pub fn custom_fields_json(&self, catalog: &Catalog) -> Vec<Value> {
        catalog.custom_fields.iter().filter(|f| f.product == self.id).map(|f| f.render_core()).collect()
    }
}

impl Resource for Product {
    const PATH: &'static str = "products";

    fn product(&self) -> Option<Id> {
        Some(self.id)
    }

    const FILTERS: &'static [FilterSpec<Self, Catalog>] = FILTERS;
    const ORDERS: &'static [OrderSpec<Self, Catalog>] = ORDERS;

    fn blank(id: Id, now: OffsetDateTime) -> Self {
        Product {
            id,
            product_name: String::new(),
            short_code: String::new(),
            authorization_method: KEY_BASED.into(),
            is_bundle: false,
            bundle_products: Vec::new(),
            max_activations: None,
            max_consumptions: 0,
            trial_days: 0,
            metadata: Map::new(),
            is_archived: false,
            created_at: now,
            updated_at: now,
        }
    }

    fn read(mut self, input: &mut Input, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        let creating = ctx.creating;
        if let Some(name) = input.text("product_name", SHORT_TEXT, creating) {
            self.product_name = name;
        }
        if let Some(code) = input.text("short_code", SHORT_TEXT, creating) {
            self.short_code = code.trim().to_string();
        }
        if let Some(method) = input.choice("authorization_method", AUTHORIZATION_METHODS) {
            if !creating && method != self.authorization_method {
                input.error(
                    "authorization_method",
                    "The authorization method of an existing product cannot be changed.",
                );
            }
            self.authorization_method = method.to_string();
        }
        if let Some(is_bundle) = input.bool("is_bundle") {
            if !creating && is_bundle != self.is_bundle {
                input.error("is_bundle", "An existing product cannot become or stop being a bundle.");
            }
            self.is_bundle = is_bundle;
        }
        if let Some(n) = input.nullable_int("max_activations", 0, i32::MAX.into()) {
            self.max_activations = n;
        }
        if let Some(n) = input.int("max_consumptions", 0, i32::MAX.into()) {
            self.max_consumptions = n;
        }
        if let Some(n) = input.int("trial_days", 0, i32::MAX.into()) {
            self.trial_days = n;
        }
        if let Some(metadata) = input.metadata("metadata") {
            self.metadata = metadata;
        }
        if let Some(archived) = input.bool("is_archived") {
            self.is_archived = archived;
        }
        if let Some(codes) = input.string_list("bundle_products", MAX_BUNDLE_MEMBERS, SHORT_TEXT) {
            self.bundle_products = self.bundle_members(&codes, input, &ctx.catalog);
            // A bundle's licenses include licenses of its members: a manager may only bundle
            // products it may write into itself.
            if let Some(outside) = self.bundle_products.iter().find(|id| !ctx.principal.can_access(**id)) {
                let code = ctx.catalog.product(*outside).map_or("", |p| p.short_code.as_str());
                return Err(ApiError::PermissionDenied(format!(
                    "You do not have permission to bundle product \"{code}\"."
                )));
            }
        }
        if self.is_bundle && self.bundle_products.is_empty() {
            input.error("bundle_products", "A bundle product needs at least one member product.");
        }
        if !self.is_bundle && !self.bundle_products.is_empty() {
            input.error("bundle_products", "Only a bundle product has member products.");
        }
        Ok(self)
    }

    fn set_updated_at(&mut self, now: OffsetDateTime) {
        self.updated_at = now;
    }

    fn render(&self, catalog: &Catalog) -> Value {
        let members: Vec<&str> =
            self.bundle_products.iter().filter_map(|id| catalog.product(*id).map(|p| p.short_code.as_str())).collect();
        json!({
            "id": self.id,
            "product_name": self.product_name,
            "short_code": self.short_code,
            "authorization_method": self.authorization_method,
            "is_bundle": self.is_bundle,
            "bundle_products": members,
            "max_activations": self.max_activations,
            "max_consumptions": self.max_consumptions,
            "trial_days": self.trial_days,
            "metadata": self.metadata,
            "is_archived": self.is_archived,
            "custom_fields": self.custom_fields_json(catalog),
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        })
    }

    fn in_catalog(catalog: &Catalog) -> &[Self] {
        &catalog.products
    }

    fn in_catalog_mut(catalog: &mut Catalog) -> Option<&mut Vec<Self>> {
        Some(&mut catalog.products)
    }
}

/// `GET /api/v1/products/{id}/bundle/`: the member products of a bundle product (none for a
/// product that is not one); `GET /api/v1/products/{id}/in_bundle/`: the bundles that contain a
/// product (API.md §8.5). Both answer a JSON list of products, from the cached catalog; a
/// manager sees only the products of its scope, and a product out of it is a 404.
pub async fn bundle_handler(
    app: &crate::app::App,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    use lambda_http::http::Method;
    crate::app::respond(&req, async {
        let segments = crate::http::api_segments(req.uri().path()).unwrap_or_default();
        let relation = match segments.get(2).map(String::as_str) {
            Some("bundle") => "bundle",
            Some("in_bundle") => "in_bundle",
            _ => return Err(ApiError::NotFound),
        };
        let routed = crate::app::route(app, &req, &["products", "{id}", relation], Method::GET).await?;
        let principal = &routed.principal;
        let catalog = Catalog::load(app.store.tenant(principal.company)).await?;
        let id = routed.id.ok_or(ApiError::NotFound)?;
        let product = catalog.product(id).filter(|p| principal.can_access(p.id)).ok_or(ApiError::NotFound)?;
        let related: Vec<&Product> = if relation == "bundle" {
            product.bundle_products.iter().filter_map(|member| catalog.product(*member)).collect()
        } else {
            catalog.products.iter().filter(|p| p.is_bundle && p.bundle_products.contains(&id)).collect()
        };
        let visible = related.into_iter().filter(|p| principal.can_access(p.id)).map(|p| p.render(&catalog));
        Ok(crate::http::ok(&Value::Array(visible.collect())))
    })
    .await
}

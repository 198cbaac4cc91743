//! `/api/v1/license-custom-fields/` (API.md §8.3): a license's value of one of its product's
//! custom fields. GET and POST on the collection; GET, PATCH and DELETE on a value.
//!
//! A value lives in its license (a license renders in one read). Its id is claimed like a
//! license key, by a marker owned by the license (`CustomFieldValue::claim`), written, moved
//! and released in the same transaction as the license: so a value's license is one GetItem
//! away. The markers are also listed in value-id order, all of the company's (GSI1) or one
//! field's (GSI2), and counted by counters (the company's and each field's) that move with
//! them; a list is a page of markers and one BatchGetItem of their licenses.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::handlers::visible_license;
use super::history::Action;
use super::lifecycle::commit_change;
use super::markers::{claimed_by, page_of_markers};
use super::{CustomFieldValue, License};
use crate::app::{respond, route, App, Routed};
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::error::{ApiError, FieldErrors};
use crate::http::{ok, query_pairs};
use crate::ids::Id;
use crate::input::{Input, LONG_TEXT};
use crate::listing::{page_body, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec, MAX_LIMIT};
use crate::store::keys;

/// A value with its license, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRow {
    pub id: Id,
    pub license: Id,
    pub field: Id,
    pub value: String,
}

impl ValueRow {
    fn of(license: &License, value: &CustomFieldValue) -> Self {
        ValueRow { id: value.id, license: license.id, field: value.field, value: value.value.clone() }
    }

    /// `{"id", "license", "product_custom_field", "name", "value"}`.
    pub fn render(&self, catalog: &Catalog) -> Value {
        let name = catalog.custom_fields.iter().find(|f| f.id == self.field).map(|f| f.name.as_str());
        json!({"id": self.id, "license": self.license, "product_custom_field": self.field, "name": name, "value": self.value})
    }
}

static FILTERS: &[FilterSpec<ValueRow, ()>] = &[
    FilterSpec { param: "license", lookup: Lookup::IntExact, field: |v, _| v.license.into() },
    FilterSpec { param: "product_custom_field", lookup: Lookup::IntExact, field: |v, _| v.field.into() },
];

static ORDERS: &[OrderSpec<ValueRow, ()>] = &[OrderSpec { name: "id", key: |v, _| v.id.into() }];

/// The value `name` of a body: text, or a number or boolean as its text (as create_order reads
/// `custom_fields`); absent or `null` is empty.
pub fn read_value_text(input: &mut Input, name: &str) -> String {
    match input.raw(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(_) => input.string(name, LONG_TEXT).unwrap_or_default(),
    }
}

/// The routes of `/api/v1/license-custom-fields/` (one Lambda).
pub async fn license_custom_fields_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let one = crate::http::api_segments(req.uri().path()).is_some_and(|s| s.len() == 2);
        let method = req.method().clone();
        match (one, method) {
            (false, Method::POST) => create(app, &req).await,
            (false, _) => list(app, &req).await,
            (true, Method::PATCH) => {
                let routed = route(app, &req, &["license-custom-fields", "{id}"], Method::PATCH).await?;
                let body = crate::http::json_object(&req)?;
                let mut errors = FieldErrors::default();
                let mut input = Input::new(&body, &mut errors);
                if !input.has("value") {
                    input.error("value", crate::input::REQUIRED);
                }
                let text = read_value_text(&mut input, "value");
                errors.into_result()?;
                let (license, at) = value_of(app, &routed).await?;
                let mut changed = license.clone();
                changed.custom_fields[at].value = text;
                let row = ValueRow::of(&changed, &changed.custom_fields[at]);
                let catalog = write(app, &routed.principal, &license, changed).await?;
                Ok(ok(&row.render(&catalog)))
            }
            (true, Method::DELETE) => {
                let routed = route(app, &req, &["license-custom-fields", "{id}"], Method::DELETE).await?;
                let (license, at) = value_of(app, &routed).await?;
                let mut changed = license.clone();
                changed.custom_fields.remove(at);
                write(app, &routed.principal, &license, changed).await?;
                let mut response = Response::new(Body::Empty);
                *response.status_mut() = StatusCode::NO_CONTENT;
                Ok(response)
            }
            (true, _) => {
                let routed = route(app, &req, &["license-custom-fields", "{id}"], Method::GET).await?;
                let (license, at) = value_of(app, &routed).await?;
                let row = ValueRow::of(&license, &license.custom_fields[at]);
                Ok(ok(&row.render(&Catalog::load(app.store.tenant(routed.principal.company)).await?)))
            }
        }
    })
    .await
}

/// The license holding the value `routed.id` and the value's position in it: its marker's
/// owner (one GetItem), then the license (404 unless the manager may see it).
async fn value_of(app: &App, routed: &Routed) -> Result<(License, usize), ApiError> {
    let id = routed.id.ok_or(ApiError::NotFound)?;
    let store = app.store.tenant(routed.principal.company);
    let license = claimed_by(store, &routed.principal, &CustomFieldValue::claim(id)).await?;
    let at = license.custom_fields.iter().position(|v| v.id == id).ok_or(ApiError::NotFound)?;
    Ok((license, at))
}

/// Writes a change of a license's values with its `updated` history entry (a lost race: 409);
/// the catalog it read, for the answer.
async fn write(app: &App, principal: &Principal, license: &License, changed: License) -> Result<Catalog, ApiError> {
    let catalog = Catalog::load(app.store.tenant(principal.company)).await?;
    commit_change(app, principal, license, changed, Action::Updated, &catalog).await?;
    Ok(catalog)
}

/// `POST /api/v1/license-custom-fields/` with `{"license", "product_custom_field", "value"}`:
/// the license's value of a field of its product it has no value for yet (else 400). 201.
async fn create(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let routed = route(app, req, &["license-custom-fields"], Method::POST).await?;
    let principal = &routed.principal;
    let store = app.store.tenant(principal.company);
    let body = crate::http::json_object(req)?;
    let mut errors = FieldErrors::default();
    let mut input = Input::new(&body, &mut errors);
    let license_id = input.required_id("license");
    let field_id = input.required_id("product_custom_field");
    let text = read_value_text(&mut input, "value");
    errors.into_result()?;
    let (Some(license_id), Some(field_id)) = (license_id, field_id) else {
        return Err(ApiError::field("license", crate::input::REQUIRED));
    };
    let license = match visible_license(store, principal, license_id).await {
        Ok(license) => license,
        Err(ApiError::NotFound) => return Err(ApiError::field("license", "Unknown license.")),
        Err(other) => return Err(other),
    };
    let catalog = Catalog::load(store).await?;
    let field = catalog
        .custom_fields
        .iter()
        .find(|f| f.id == field_id && f.product == license.product)
        .ok_or_else(|| ApiError::field("product_custom_field", "Not a custom field of the license's product."))?;
    if license.custom_fields.iter().any(|v| v.field == field.id) {
        return Err(ApiError::field(
            "product_custom_field",
            "The license already has a value for this field: PATCH /license-custom-fields/{id}/ changes it.",
        ));
    }
    let value = CustomFieldValue { id: app.ids().await?.next_id(), field: field.id, value: text };
    let mut changed = license.clone();
    changed.custom_fields.push(value.clone());
    commit_change(app, principal, &license, changed, Action::Updated, &catalog).await?;
    Ok(crate::http::created(&ValueRow::of(&license, &value).render(&catalog)))
}

/// `GET /api/v1/license-custom-fields/` (filters `license`, `product_custom_field`; id order,
/// `order_by=-id` for newest first). With `license`: that license's values (one read). Else the
/// markers of the fields asked for (one field's; for a manager scoped to products, each field of
/// their products', merged by id; else the company's), a page at a time, with `count` from
/// their counters.
async fn list(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let routed = route(app, req, &["license-custom-fields"], Method::GET).await?;
    let principal = &routed.principal;
    let store = app.store.tenant(principal.company);
    let pairs = query_pairs(req);
    let query = ListQuery::parse(&pairs, FILTERS, ORDERS, ListRules::of(req, MAX_LIMIT))?;
    let descending = query.index_order().unwrap_or(false);
    let catalog = Catalog::load(store).await?;
    if let Some(license) = query.int_filter("license") {
        let rows: Vec<ValueRow> = match visible_license(store, principal, license.max(0) as Id).await {
            Ok(license) => {
                let mut rows: Vec<ValueRow> = license.custom_fields.iter().map(|v| ValueRow::of(&license, v)).collect();
                rows.sort_by_key(|r| r.id);
                rows
            }
            Err(ApiError::NotFound) => Vec::new(),
            Err(other) => return Err(other),
        };
        let (count, page) = query.apply(&rows, &());
        let results = page.iter().map(|r| r.render(&catalog)).collect();
        return Ok(ok(&page_body(req, count, query.limit, query.offset, results)));
    }
    let company = store.company();
    let fields: Option<Vec<Id>> = match query.int_filter("product_custom_field") {
        Some(field) => Some(
            catalog
                .custom_fields
                .iter()
                .filter(|f| f.id as i64 == field && principal.can_access(f.product))
                .map(|f| f.id)
                .collect(),
        ),
        None if !principal.is_admin() => {
            Some(catalog.custom_fields.iter().filter(|f| principal.can_access(f.product)).map(|f| f.id).collect())
        }
        None => None,
    };
    let (sources, count) = match &fields {
        Some(fields) => {
            let mut count = 0;
            for field in fields {
                count += store.counter(&keys::custom_field_counter_prefix(*field)).await?;
            }
            let sources = fields.iter().map(|f| (2, keys::custom_field_values_gsi2pk(company, *f))).collect();
            (sources, count)
        }
        None => {
            let count = store.counter(keys::CUSTOM_FIELD_VALUES_COUNTER_PREFIX).await?;
            (vec![(1, keys::custom_field_values_gsi1pk(company))], count)
        }
    };
    let count = count.max(0) as usize;
    let window = (query.offset, query.limit.min(count));
    let rows = page_of_markers(store, principal, sources, descending, window, |license, id| {
        license.custom_fields.iter().find(|v| v.id == id).map(|v| ValueRow::of(license, v))
    })
    .await?;
    let results = rows.iter().map(|r| r.render(&catalog)).collect();
    Ok(ok(&page_body(req, count, query.limit, query.offset, results)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn values_read_as_create_order_reads_them() {
        let body = json!({"a": 12, "b": true, "c": "x", "d": null});
        let body: &Map<String, Value> = body.as_object().unwrap();
        let mut errors = FieldErrors::default();
        let mut input = Input::new(body, &mut errors);
        assert_eq!(read_value_text(&mut input, "a"), "12");
        assert_eq!(read_value_text(&mut input, "b"), "true");
        assert_eq!(read_value_text(&mut input, "c"), "x");
        assert_eq!(read_value_text(&mut input, "d"), "");
        assert_eq!(read_value_text(&mut input, "e"), "");
        assert!(errors.is_empty());
    }
}

//! `PATCH /api/v1/orders/{id}/` (API.md §8.5): `store_id` (unique: 409 if taken), `is_test`,
//! `is_trial`, `reference`, `language`, `campaign_params`, `download_id`, `metadata`, and
//! `customer` (a customer's id, or `null`).
//!
//! Each license keeps a copy of its order's `store_id` and customer (so a license renders, is
//! indexed by customer and is filtered in one read). Changing either rewrites the order's
//! licenses, each with its `updated` history entry (§8.4), in the same transaction as the order
//! and the customers' totals, so every reader sees the change at once, or not at all. One
//! transaction holds 100 items: an order with more than [`MAX_RELINKED_LICENSES`] licenses keeps
//! its `store_id` and customer (400 naming the field and the limit). The other fields change
//! the order alone.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use super::view::{order_licenses, render_visible, OrdersCtx};
use super::Order;
use crate::app::{respond, route, App};
use crate::catalog::{Catalog, Customer};
use crate::error::{ApiError, FieldErrors};
use crate::input::{Input, LONG_TEXT, SHORT_TEXT};
use crate::licenses::history::{identity, Action, Recorder, ENTRY_BYTES};
use crate::licenses::License;
use crate::store::{later_than, WriteCost};

/// Most licenses an order may have for its `store_id` or customer to change: with their
/// history entries, the order, the two store-id claims and the two customers, one
/// transaction's 100 items.
pub const MAX_RELINKED_LICENSES: usize = 45;

/// `PATCH /api/v1/orders/{id}/`: the order as changed, as `GET /orders/{id}/` shows it. 404 for
/// an order with no item the manager may see; 403 for a manager scoped to products when the
/// order has items of other products.
pub async fn update_order_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["orders", "{id}"], Method::PATCH).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        let body = crate::http::json_object(&req)?;
        let order = store.get::<Order>(routed.id.ok_or(ApiError::NotFound)?).await?.ok_or(ApiError::NotFound)?;
        if !order.items.iter().any(|i| principal.can_access(i.product)) {
            return Err(ApiError::NotFound);
        }
        if !order.items.iter().all(|i| principal.can_access(i.product)) {
            return Err(ApiError::PermissionDenied("The order has licenses of products out of your scope.".into()));
        }
        let mut changed = patched(&body, &order)?;
        changed.updated_at = later_than(order.updated_at);
        let customer = match changed.customer {
            Some(id) if changed.customer != order.customer => {
                Some(store.get::<Customer>(id).await?.ok_or_else(|| ApiError::field("customer", "Unknown customer."))?)
            }
            _ => None,
        };
        let relinked = changed.store_id != order.store_id || changed.customer != order.customer;
        let mut tx = store.transaction();
        tx.replace(&order, &changed)?;
        let mut licenses = Vec::new();
        if relinked {
            let field = if changed.store_id != order.store_id { "store_id" } else { "customer" };
            let too_many = || {
                ApiError::field(
                    field,
                    format!(
                        "An order with more than {MAX_RELINKED_LICENSES} licenses keeps its store_id and customer."
                    ),
                )
            };
            if order.license_count > MAX_RELINKED_LICENSES as i64 {
                return Err(too_many());
            }
            let now = crate::timefmt::now();
            let n = order.license_count;
            if let Some(old) = order.customer.filter(|_| changed.customer != order.customer) {
                tx.add_all_to::<Customer>(old, &[("total_orders", -1), ("total_licenses", -n)], now)?;
            }
            if let Some(new) = &customer {
                tx.add_all_to::<Customer>(new.id, &[("total_orders", 1), ("total_licenses", n)], now)?;
            }
            let (current, _) = order_licenses(store, &order).await?;
            let ids = app.ids().await?;
            let history = Recorder { principal, now };
            for license in &current {
                let relinked = License {
                    order_store_id: changed.store_id.clone(),
                    customer: changed.customer,
                    updated_at: later_than(license.updated_at),
                    ..license.clone()
                };
                let cost = WriteCost { writes: 2, bytes: store.create_cost(&relinked)?.bytes + ENTRY_BYTES };
                if !tx.has_room(cost, WriteCost::default()) {
                    return Err(too_many());
                }
                tx.replace(license, &relinked)?;
                let (before, after) = (identity(license), identity(&relinked));
                history.record(
                    &mut tx,
                    ids.next_id(),
                    (license.id, license.product),
                    Action::Updated,
                    (&before, &after),
                )?;
                licenses.push(relinked);
            }
        }
        tx.commit().await?;
        if !relinked {
            licenses = order_licenses(store, &changed).await?.0;
        }
        // The customers as the commit left them (their totals moved).
        let mut ctx = OrdersCtx { catalog: Catalog::load(store).await?, related: Default::default() };
        Ok(crate::http::ok(&render_visible(store, &changed, licenses, false, principal, &mut ctx).await?))
    })
    .await
}

/// `order` as a PATCH body says: 400 naming each bad field.
fn patched(body: &Map<String, Value>, order: &Order) -> Result<Order, ApiError> {
    let mut errors = FieldErrors::default();
    let mut input = Input::new(body, &mut errors);
    let mut changed = order.clone();
    if input.has("store_id") {
        if let Some(store_id) = input.required_string("store_id", SHORT_TEXT) {
            changed.store_id = store_id.trim().to_string();
        }
    }
    let texts: [(&str, usize, &mut String); 4] = [
        ("reference", SHORT_TEXT, &mut changed.reference),
        ("language", SHORT_TEXT, &mut changed.language),
        ("campaign_params", LONG_TEXT, &mut changed.campaign_params),
        ("download_id", SHORT_TEXT, &mut changed.download_id),
    ];
    for (name, max, slot) in texts {
        if let Some(text) = input.string(name, max) {
            *slot = text;
        }
    }
    changed.is_test = input.bool("is_test").unwrap_or(changed.is_test);
    changed.is_trial = input.bool("is_trial").unwrap_or(changed.is_trial);
    if let Some(metadata) = input.metadata("metadata") {
        changed.metadata = metadata;
    }
    match input.raw("customer") {
        None => {}
        Some(Value::Null) => changed.customer = None,
        Some(_) => changed.customer = input.id("customer").or(changed.customer),
    }
    errors.into_result()?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Order {
        let now = crate::timefmt::now();
        Order {
            id: 1,
            store_id: "s-1".into(),
            is_test: false,
            is_trial: false,
            order_type: "normal".into(),
            reference: String::new(),
            language: String::new(),
            campaign_params: String::new(),
            download_id: String::new(),
            customer: Some(5),
            customer_account: None,
            metadata: Map::new(),
            items: Vec::new(),
            committed_attempts: Vec::new(),
            license_count: 0,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_patch_sets_what_it_names_and_nothing_else() {
        let body = json!({"store_id": " s-2 ", "is_test": "true", "reference": "r", "metadata": "{\"a\": 1}"});
        let changed = patched(body.as_object().unwrap(), &order()).unwrap();
        assert_eq!((changed.store_id.as_str(), changed.is_test, changed.reference.as_str()), ("s-2", true, "r"));
        assert_eq!(Value::Object(changed.metadata), json!({"a": 1}));
        assert_eq!((changed.language, changed.customer), (String::new(), Some(5)));
        let customer_of = |body: Value| patched(body.as_object().unwrap(), &order()).unwrap().customer;
        assert_eq!((customer_of(json!({"customer": null})), customer_of(json!({"customer": "9"}))), (None, Some(9)));
    }

    #[test]
    fn bad_fields_are_named() {
        let body = json!({"store_id": "", "is_trial": "maybe", "customer": "x", "metadata": "[1]"});
        let errors = patched(body.as_object().unwrap(), &order()).unwrap_err().body();
        for field in ["store_id", "is_trial", "customer", "metadata"] {
            assert!(errors[field].is_array(), "{field}: {errors}");
        }
    }
}

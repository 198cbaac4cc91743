//! Reading an order back as a manager may see it (API.md §4): only the items and licenses of
//! products in the manager's scope. `GET /orders/`, `GET /orders/{id}/` and the answer of
//! `create_order` (an append included) all render through [`render_visible`].

use std::collections::HashMap;

use serde_json::Value;

use super::Order;
use crate::auth::Principal;
use crate::catalog::{Catalog, Customer};
use crate::error::ApiError;
use crate::ids::Id;
use crate::licenses::{License, RenderCtx};
use crate::store::{keys, TenantStore};

/// What order renderings need: the catalog and the customers met so far (filled on demand).
pub struct OrdersCtx {
    pub catalog: Catalog,
    pub customers: HashMap<Id, Customer>,
}

/// The visible licenses of an order (its committed ones), in id order.
pub async fn order_licenses(store: TenantStore<'_>, order: &Order) -> Result<Vec<License>, ApiError> {
    let licenses: Vec<License> =
        store.query_index(keys::LICENSES_BY_ORDER, keys::licenses_by_order(store.company(), order.id)).await?;
    Ok(licenses.into_iter().filter(|l| order.shows(l)).collect())
}

/// An order as `GET /api/v1/orders/{id}/` shows it.
pub async fn order_view(
    store: TenantStore<'_>,
    order: &Order,
    principal: &Principal,
    ctx: &mut OrdersCtx,
) -> Result<Value, ApiError> {
    let licenses = order_licenses(store, order).await?;
    render_visible(store, order, licenses, principal, ctx).await
}

/// `order` with `licenses`, both cut to what `principal` may see: items and licenses of other
/// products are left out. Customers missing from `ctx` are read.
pub async fn render_visible(
    store: TenantStore<'_>,
    order: &Order,
    mut licenses: Vec<License>,
    principal: &Principal,
    ctx: &mut OrdersCtx,
) -> Result<Value, ApiError> {
    licenses.retain(|l| principal.can_access(l.product));
    let mut visible = order.clone();
    visible.items.retain(|i| principal.can_access(i.product));
    let wanted: Vec<Id> = order
        .customer
        .into_iter()
        .chain(licenses.iter().filter_map(|l| l.customer))
        .filter(|id| !ctx.customers.contains_key(id))
        .collect();
    if !wanted.is_empty() {
        ctx.customers.extend(store.get_many::<Customer>(&wanted).await?.into_iter().map(|c| (c.id, c)));
    }
    let render = RenderCtx { company: store.company(), catalog: &ctx.catalog, customers: &ctx.customers };
    Ok(visible.render(&licenses, &render))
}

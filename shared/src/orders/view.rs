//! Reading an order back as a manager may see it (API.md §4): only the items and licenses of
//! products in the manager's scope. `GET /orders/`, `GET /orders/{id}/` and the answer of
//! `create_order` (an append included) all render through [`render_visible`].

use serde_json::Value;

use super::Order;
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::licenses::{License, Related, RenderCtx};
use crate::store::{keys, TenantStore};

/// What order renderings need: the catalog, and the customers and users met so far (filled on
/// demand).
pub struct OrdersCtx {
    pub catalog: Catalog,
    pub related: Related,
}

/// Most licenses an order renders: its newest (API.md §9: a response stays far under 6 MB
/// and its cost follows the page, whatever an import put in one order).
pub const MAX_RENDERED_LICENSES: usize = 1_000;

/// The newest `MAX_RENDERED_LICENSES` visible licenses of an order (its committed ones), in id
/// order, and whether it has more (read newest first, a page at a time, never all of them).
pub async fn order_licenses(store: TenantStore<'_>, order: &Order) -> Result<(Vec<License>, bool), ApiError> {
    let pk = keys::licenses_by_order(store.company(), order.id);
    let (mut newest, more) = store
        .query_index_newest(keys::LICENSES_BY_ORDER, pk, MAX_RENDERED_LICENSES, |l: &License| order.shows(l))
        .await?;
    newest.reverse();
    Ok((newest, more))
}

/// An order as `GET /api/v1/orders/{id}/` shows it.
pub async fn order_view(
    store: TenantStore<'_>,
    order: &Order,
    principal: &Principal,
    ctx: &mut OrdersCtx,
) -> Result<Value, ApiError> {
    let (licenses, truncated) = order_licenses(store, order).await?;
    render_visible(store, order, licenses, truncated, principal, ctx).await
}

/// `order` with `licenses` (its newest; `truncated` when it has more), both cut to what
/// `principal` may see: items and licenses of other products are left out. Beside
/// `order_items` the JSON gives `licenses_count` (the order's licenses: for a manager scoped to
/// products, those it was shown) and `licenses_truncated`. Customers missing from `ctx` are
/// read.
pub async fn render_visible(
    store: TenantStore<'_>,
    order: &Order,
    mut licenses: Vec<License>,
    truncated: bool,
    principal: &Principal,
    ctx: &mut OrdersCtx,
) -> Result<Value, ApiError> {
    let read = licenses.len();
    licenses.retain(|l| principal.can_access(l.product));
    let count = if principal.is_admin() { order.license_count.max(read as i64) } else { licenses.len() as i64 };
    let mut visible = order.clone();
    visible.items.retain(|i| principal.can_access(i.product));
    ctx.related.fill(store, &licenses, order.customer).await?;
    let render = RenderCtx { company: store.company(), catalog: &ctx.catalog, related: &ctx.related };
    let mut json = visible.render(&licenses, &render);
    json["licenses_count"] = count.into();
    json["licenses_truncated"] = truncated.into();
    Ok(json)
}

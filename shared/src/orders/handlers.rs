//! The order endpoints, one handler per Lambda.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::view::{order_licenses, order_view, render_visible, OrdersCtx};
use super::write::create_order;
use super::Order;
use crate::app::{respond, route, App};
use crate::catalog::{Catalog, Customer};
use crate::error::{ApiError, FieldErrors};
use crate::http::{json_object, ok, query_pairs};
use crate::ids::Id;
use crate::licenses::keygen::{self, generate_key};
use crate::licenses::License;
use crate::listing::{
    page_body, page_from_index, FieldValue, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec, MAX_LIMIT,
    MAX_RESULTS_BYTES,
};
use crate::store::{keys, IndexPager, TenantStore};

/// `POST /api/v1/orders/create_order/`.
pub async fn create_order_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["orders", "create_order"], Method::POST).await?;
        let body = json_object(&req)?;
        let store = app.store.tenant(routed.principal.company);
        Ok(ok(&create_order(app, store, &routed.principal, &body).await?))
    })
    .await
}

/// `GET /api/v1/orders/generate_license/?product=<short_code>&quantity=<n>[&key_length=16][&alphabet=…]`:
/// fresh keys, none in use for that product at the time of the call.
pub async fn generate_license_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["orders", "generate_license"], Method::GET).await?;
        let store = app.store.tenant(routed.principal.company);
        let params = GenerateParams::read(&query_pairs(&req), crate::http::prefers_strict_handling(&req))?;
        let catalog = Catalog::load(store).await?;
        let product = catalog
            .product_by_code(&params.product)
            .filter(|p| routed.principal.can_access(p.id))
            .ok_or_else(|| ApiError::field("product", format!("Unknown product short code \"{}\".", params.product)))?;
        let mut keys: Vec<String> = Vec::with_capacity(params.quantity);
        // Keys are drawn until enough are both new to this call and unused for the product.
        for _ in 0..10 {
            let missing = params.quantity - keys.len();
            if missing == 0 {
                break;
            }
            let candidates = draw_keys(&params, missing, &keys);
            let claim = License::key_claim(product.id, "");
            let taken = store.taken(claim.kind, &claim.scope, &candidates).await?;
            keys.extend(candidates.into_iter().filter(|k| !taken.contains(k)));
        }
        if keys.len() < params.quantity {
            return Err(ApiError::Conflict("Could not find enough unused keys; use a longer key_length.".into()));
        }
        Ok(ok(&json!(keys)))
    })
    .await
}

/// `count` keys new to `drawn` and to each other (the thread's RNG is not held across awaits).
fn draw_keys(params: &GenerateParams, count: usize, drawn: &[String]) -> Vec<String> {
    let mut rng = rand::rng();
    let mut candidates: Vec<String> = Vec::with_capacity(count);
    while candidates.len() < count {
        let key = generate_key(&mut rng, &params.alphabet, params.key_length);
        if !drawn.contains(&key) && !candidates.contains(&key) {
            candidates.push(key);
        }
    }
    candidates
}

struct GenerateParams {
    product: String,
    quantity: usize,
    key_length: usize,
    alphabet: Vec<char>,
}

impl GenerateParams {
    fn read(pairs: &[(String, String)], strict: bool) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::default();
        let mut params = GenerateParams {
            product: String::new(),
            quantity: 1,
            key_length: keygen::DEFAULT_LENGTH,
            alphabet: keygen::DEFAULT_ALPHABET.chars().collect(),
        };
        let mut bounded = |name: &str, value: &str, min: usize, max: usize| -> usize {
            match value.trim().parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    errors.add(name, format!("Enter a whole number from {min} to {max}."));
                    min
                }
            }
        };
        let mut unknown = Vec::new();
        let mut ignored: Vec<&str> = Vec::new();
        // Empty values are not applied, unknown names ignored unless strict (API.md §1).
        for (name, value) in pairs.iter().filter(|(_, value)| !value.trim().is_empty()) {
            match name.as_str() {
                "product" => params.product = value.trim().to_string(),
                "quantity" => params.quantity = bounded("quantity", value, 1, 1_000),
                "key_length" => {
                    params.key_length = bounded("key_length", value, keygen::MIN_LENGTH, keygen::MAX_LENGTH)
                }
                "alphabet" => match keygen::parse_alphabet(value) {
                    Ok(alphabet) => params.alphabet = alphabet,
                    Err(message) => unknown.push(("alphabet".to_string(), message.to_string())),
                },
                other if strict => unknown.push((other.to_string(), "Unknown query parameter.".to_string())),
                other => ignored.push(other),
            }
        }
        if !ignored.is_empty() {
            tracing::info!(parameters = ?ignored, "ignored unknown query parameters");
        }
        for (name, message) in unknown {
            errors.add(name, message);
        }
        if params.product.is_empty() {
            errors.add("product", crate::input::REQUIRED);
        }
        errors.into_result()?;
        Ok(params)
    }
}

fn customer_email(order: &Order, ctx: &OrdersCtx) -> FieldValue {
    order.customer.and_then(|id| ctx.related.customers.get(&id)).map(|c| c.email.as_str()).into()
}

static ORDER_FILTERS: &[FilterSpec<Order, OrdersCtx>] = &[
    FilterSpec { param: "store_id", lookup: Lookup::Exact, field: |o, _| (&o.store_id).into() },
    FilterSpec { param: "store_id__startswith", lookup: Lookup::StartsWith, field: |o, _| (&o.store_id).into() },
    FilterSpec { param: "store_id__icontains", lookup: Lookup::IContains, field: |o, _| (&o.store_id).into() },
    FilterSpec { param: "customer_email", lookup: Lookup::IExact, field: customer_email },
    FilterSpec { param: "customer_id", lookup: Lookup::IntExact, field: |o, _| o.customer.into() },
];

static ORDER_ORDERS: &[OrderSpec<Order, OrdersCtx>] = &[
    OrderSpec { name: "id", key: |o, _| o.id.into() },
    OrderSpec { name: "created_at", key: |o, _| crate::timefmt::format_time(o.created_at).as_str().into() },
    OrderSpec { name: "updated_at", key: |o, _| crate::timefmt::format_time(o.updated_at).as_str().into() },
    OrderSpec { name: "store_id", key: |o, _| (&o.store_id).into() },
    OrderSpec { name: "is_test", key: |o, _| o.is_test.into() },
    OrderSpec { name: "is_trial", key: |o, _| o.is_trial.into() },
    OrderSpec { name: "order_type", key: |o, _| (&o.order_type).into() },
    OrderSpec { name: "reference", key: |o, _| (&o.reference).into() },
    OrderSpec { name: "language", key: |o, _| (&o.language).into() },
    OrderSpec { name: "campaign_params", key: |o, _| (&o.campaign_params).into() },
    OrderSpec { name: "download_id", key: |o, _| (&o.download_id).into() },
    OrderSpec { name: "customer_account", key: |o, _| o.customer_account.into() },
];

/// `GET /api/v1/orders/` (API.md §9): an exact `store_id` reads one marker and one order; an
/// exact `customer_id` or `customer_email` pages that customer's orders (GSI2); anything else
/// pages the company's orders (GSI1), a Query page at a time, holding only the page (or the
/// top `offset + limit` for another `order_by`); `count` comes from the company's order counter
/// when nothing else filters. The page's licenses are read for up to 16 orders at once, and
/// no more orders are rendered once the results pass what one response may carry.
pub async fn list_orders_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["orders"], Method::GET).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        let pairs = query_pairs(&req);
        let query = ListQuery::parse(&pairs, ORDER_FILTERS, ORDER_ORDERS, ListRules::of(&req, MAX_LIMIT))?;
        let mut ctx = OrdersCtx { catalog: Catalog::load(store).await?, related: Default::default() };
        // Scoping needs each order's products, which its items name.
        let in_scope = |o: &Order| o.items.iter().any(|i| principal.can_access(i.product));
        let (count, page) = match order_path(store, &query, &mut ctx).await? {
            OrderPath::One(order) => {
                let candidates: Vec<Order> = order.map(|o| *o).into_iter().filter(in_scope).collect();
                let (count, page) = query.apply(&candidates, &ctx);
                (count, page.into_iter().cloned().collect())
            }
            OrderPath::Index(index, pk) => {
                let forward = !query.index_order().unwrap_or(false);
                let mut pager = IndexPager::new(index, pk, forward);
                let unfiltered = principal.is_admin() && query.filters.is_empty() && index == 1;
                let count = if unfiltered { Some(store.entity_count::<Order>().await?.max(0) as usize) } else { None };
                page_from_index(store, &query, &ctx, count, &mut pager, in_scope).await?
            }
        };
        // The page's customers in one batch read; order_view finds them there.
        ctx.related.fill(store, [], page.iter().filter_map(|o| o.customer)).await?;
        let mut views = Vec::with_capacity(page.len());
        let mut bytes = 0;
        'render: for chunk in page.chunks(16) {
            let read = futures_util::future::try_join_all(chunk.iter().map(|o| order_licenses(store, o))).await?;
            for (order, (licenses, truncated)) in chunk.iter().zip(read) {
                let view = render_visible(store, order, licenses, truncated, principal, &mut ctx).await?;
                bytes += crate::listing::json_len(&view);
                views.push(view);
                if bytes > MAX_RESULTS_BYTES {
                    break 'render;
                }
            }
        }
        Ok(ok(&page_body(&req, count, query.limit, query.offset, views)))
    })
    .await
}

/// Where the orders of a list are: one order (or none), or an index partition (`GSI<n>PK`).
enum OrderPath {
    One(Option<Box<Order>>),
    Index(u8, String),
}

async fn order_path(
    store: TenantStore<'_>,
    query: &ListQuery<'_, Order, OrdersCtx>,
    ctx: &mut OrdersCtx,
) -> Result<OrderPath, ApiError> {
    if let Some(store_id) = query.text_filter("store_id") {
        let claim = Order::store_id_claim(store_id);
        return Ok(OrderPath::One(match store.unique_owner(claim.kind, &claim.scope, &claim.value).await? {
            Some(id) => store.get::<Order>(id).await?.map(Box::new),
            None => None,
        }));
    }
    let customer = match (query.text_filter("customer_email"), query.int_filter("customer_id")) {
        (Some(email), _) => {
            let claim = Customer::email_key(email);
            let Some(id) = store.unique_owner(claim.kind, &claim.scope, &claim.value).await? else {
                return Ok(OrderPath::One(None));
            };
            Some(id)
        }
        (None, Some(id)) => Some(id.max(0) as Id),
        (None, None) => None,
    };
    Ok(match customer {
        Some(id) => {
            if let Some(c) = store.get::<Customer>(id).await? {
                ctx.related.customers.insert(c.id, c);
            }
            OrderPath::Index(2, keys::customer_orders_gsi2pk(store.company(), id))
        }
        None => OrderPath::Index(1, keys::orders_gsi1pk(store.company())),
    })
}

/// `GET /api/v1/orders/{id}/` (the order's own 64-bit id).
pub async fn get_order_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["orders", "{id}"], Method::GET).await?;
        let store = app.store.tenant(routed.principal.company);
        let id = routed.id.ok_or(ApiError::NotFound)?;
        let order = store.get::<Order>(id).await?.ok_or(ApiError::NotFound)?;
        if !order.items.iter().any(|i| routed.principal.can_access(i.product)) {
            return Err(ApiError::NotFound);
        }
        let mut ctx = OrdersCtx { catalog: Catalog::load(store).await?, related: Default::default() };
        Ok(ok(&order_view(store, &order, &routed.principal, &mut ctx).await?))
    })
    .await
}

//! Writing an order, all or nothing.
//!
//! An order that fits one DynamoDB transaction (≤ 100 writes: each license and its key claim,
//! the order and its id claim, the customer, new labels) is written by one transaction.
//!
//! A larger one (up to 1,000 licenses, or past 4 MB) cannot be: it is staged, then committed
//! with the order, as `staging` describes; a crash at any step is finished by the sweeper.
//!
//! A race lost on data read first (the order id or customer email got taken, the customer or
//! the order changed) is `Stale`: the whole order is read and planned again, up to 3 times.

use std::collections::HashMap;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::request::{read_order, OrderRequest};
use super::staging::{self, StagedAttempt};
use super::view::{order_licenses, render_visible, OrdersCtx, MAX_RENDERED_LICENSES};
use super::{Order, OrderItem};
use crate::app::App;
use crate::auth::Principal;
use crate::catalog::{Catalog, Customer, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::{now_ms, Id, IdGenerator};
use crate::licenses::history::{Action, HistoryEntry, Recorder};
use crate::licenses::keygen::{generate_key, DEFAULT_ALPHABET, DEFAULT_LENGTH};
use crate::licenses::users::{self, CompanyUser};
use crate::licenses::{License, LicenseUser, Related};
use crate::store::{LicenseTally, StoreError, TenantStore, WriteCost};

/// Writes of an order, each after a lost race (another request changed its customer or its
/// order, say an import appending to them), with a growing, jittered pause between them.
const ATTEMPTS: u32 = 6;

/// `POST /api/v1/orders/create_order/`: the order as `GET /api/v1/orders/{id}/` shows it.
pub async fn create_order(
    app: &App,
    store: TenantStore<'_>,
    principal: &Principal,
    body: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let ids = app.ids().await?;
    let mut attempt = 1;
    loop {
        let catalog = Catalog::load(store).await?;
        let now = crate::timefmt::now();
        let request = read_order(body, &catalog, principal, now)?;
        match write(store, catalog, principal, ids, request, now).await {
            Ok(order) => return Ok(order),
            Err(OrderError::Stale(_)) if attempt < ATTEMPTS => {
                crate::store::backoff(attempt).await;
                attempt += 1;
            }
            Err(OrderError::Stale(message)) => return Err(ApiError::Conflict(message)),
            Err(OrderError::Api(err)) => return Err(err),
        }
    }
}

/// A lost race (retry with fresh reads) or a final answer.
enum OrderError {
    Stale(String),
    Api(ApiError),
}

impl From<StoreError> for OrderError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Stale(message) => OrderError::Stale(message),
            other => OrderError::Api(other.into()),
        }
    }
}

impl From<ApiError> for OrderError {
    fn from(err: ApiError) -> Self {
        OrderError::Api(err)
    }
}

async fn write(
    store: TenantStore<'_>,
    catalog: Catalog,
    principal: &Principal,
    ids: &IdGenerator,
    request: OrderRequest,
    now: OffsetDateTime,
) -> Result<Value, OrderError> {
    let claim = Order::store_id_claim(&request.order.store_id);
    let existing = match store.unique_owner(claim.kind, &claim.scope, &claim.value).await? {
        Some(id) => store.get::<Order>(id).await?,
        None => None,
    };
    if existing.is_some() && !request.append {
        let message = format!("An order with id \"{}\" already exists.", request.order.store_id);
        return Err(ApiError::Conflict(message).into());
    }
    let license_count = request.licenses.len() as i64;
    let mut ctx = WriteCtx { principal, catalog, ids, now, tx: store.transaction(), creating: false };

    // The customer: the one of the body (matched by email), else the existing order's.
    let customer_before = match (&request.customer_email, &existing) {
        (Some(email), _) => {
            let claim = Customer::email_key(email);
            match store.unique_owner(claim.kind, &claim.scope, &claim.value).await? {
                Some(id) => store.get::<Customer>(id).await?,
                None => None,
            }
        }
        (None, Some(order)) => match order.customer {
            Some(id) => store.get::<Customer>(id).await?,
            None => None,
        },
        (None, None) => None,
    };
    let mut customer = match (&request.customer, &customer_before) {
        (Some(input), Some(current)) => Some(current.update(input, &mut ctx).map_err(in_customer)?),
        (Some(input), None) => {
            ctx.creating = true;
            let created = Customer::create(input, &mut ctx).map_err(in_customer)?;
            ctx.creating = false;
            Some(created)
        }
        (None, current) => current.clone(),
    };
    if let Some(c) = customer.as_mut() {
        // The order's account, unless the customer object names its own: what the caller says
        // of the customer wins (API.md §4).
        let names_own_account = request
            .customer
            .as_ref()
            .is_some_and(|c| c.contains_key("customer_account_code") || c.contains_key("customer_account"));
        if request.add_to_customer_account && request.order.customer_account.is_some() && !names_own_account {
            c.account = request.order.customer_account;
        }
        c.total_orders += i64::from(existing.is_none());
        c.total_licenses += license_count;
        c.updated_at = now;
    }

    // The order, new or appended to.
    let new_items: Vec<OrderItem> =
        request.items.iter().map(|product| OrderItem { id: ids.next_id(), product: *product }).collect();
    let mut order = match &existing {
        Some(order) => {
            let mut order = order.clone();
            order.items.extend(new_items.iter().cloned());
            order.customer = order.customer.or(customer.as_ref().map(|c| c.id));
            order.updated_at = now;
            order
        }
        None => Order {
            id: ids.next_id(),
            customer: customer.as_ref().map(|c| c.id),
            items: new_items.clone(),
            ..request.order.clone()
        },
    };
    order.license_count += license_count;
    let mut licenses = materialize(&request, &order, &new_items, customer.as_ref(), ids);
    let company_users = link_company_users(store, ids, &mut licenses, now).await?;
    // Before the licenses: a user-based activation finds a user's licenses by these entries.
    let on_licenses: Vec<(Id, Id)> = licenses.iter().flat_map(|l| l.users.iter().map(|u| (u.id, l.id))).collect();
    store.index_user_licenses(&on_licenses).await?;

    // Everything but the licenses goes into the commit transaction.
    match (&customer_before, &customer) {
        (Some(before), Some(after)) => ctx.tx.replace(before, after)?,
        (None, Some(new)) => ctx.tx.create_after_lookup(new)?,
        _ => {}
    }
    // Each license with its `created` history entry (API.md §8.4), in the same transaction.
    let history = Recorder { principal, now };
    let entries: Vec<HistoryEntry> = licenses.iter().map(|l| history.creation(l, Action::Created)).collect();
    let license_cost: WriteCost = licenses
        .iter()
        .zip(&entries)
        .map(|(l, e)| Ok(store.create_cost(l)? + store.create_cost(e)?))
        .sum::<Result<_, StoreError>>()?;
    // The order, and the license counters: all go with the licenses' commit.
    let tally = LicenseTally::of(licenses.iter().map(|l| (l.product, l.created_at)));
    let counter = WriteCost { writes: tally.writes(), bytes: 0 };
    let fits_one = ctx.tx.has_room(license_cost, store.create_cost(&order)? + counter);
    // A staged write: its record before and after the commit, and its marked licenses.
    let mut staged: Option<(StagedAttempt, StagedAttempt, Vec<License>)> = None;
    if fits_one {
        for (license, entry) in licenses.iter().zip(&entries) {
            ctx.tx.create(license)?;
            ctx.tx.create(entry)?;
        }
    } else {
        let id = ids.next_id();
        let mark = id.to_string();
        let marked: Vec<License> =
            licenses.iter().cloned().map(|l| License { attempt: Some(mark.clone()), ..l }).collect();
        let marked_entries: Vec<HistoryEntry> = marked.iter().map(|l| history.creation(l, Action::Created)).collect();
        let record = staging::stage(store, id, order.id, &marked, &marked_entries, now_ms()).await?;
        let committed = staging::commit_in(&mut ctx.tx, &record)?;
        // Staged claims are counted when the order commits them.
        ctx.tx.count_claims(&marked);
        order.committed_attempts.push(mark);
        staged = Some((record, committed, marked));
    }
    match &existing {
        Some(before) => ctx.tx.replace(before, &order)?,
        None => ctx.tx.create_after_lookup(&order)?,
    }
    ctx.tx.count_licenses(&tally)?;
    if let Err(err) = ctx.tx.commit().await {
        if let Some((record, _, marked)) = &staged {
            staging::roll_back(store, record, marked).await;
        }
        return Err(err.into());
    }
    if let Some((_, committed, marked)) = &staged {
        staging::settle_committed(store, committed, marked).await;
    }

    // On an append, the newest licenses the order had (the index may already list the new ones
    // too): the answer always holds every license just created (at most 1,000 per request).
    let (mut shown, mut truncated) = match &existing {
        Some(_) => order_licenses(store, &order).await.map_err(OrderError::Api)?,
        None => (Vec::new(), false),
    };
    shown.retain(|l| !licenses.iter().any(|new| new.id == l.id));
    shown.extend(licenses);
    shown.sort_by_key(|l| l.id);
    if shown.len() > MAX_RENDERED_LICENSES {
        shown.drain(..shown.len() - MAX_RENDERED_LICENSES);
        truncated = true;
    }
    let related = Related {
        customers: customer.into_iter().map(|c| (c.id, c)).collect(),
        users: company_users.into_values().map(|u| (u.id, u)).collect(),
    };
    let mut view = OrdersCtx { catalog: ctx.catalog, related };
    Ok(render_visible(store, &order, shown, truncated, principal, &mut view).await?)
}

/// Each license user as the company's user of that email (created if new, from its first
/// mention: API.md §4): its id. The company users, by lowercase email.
async fn link_company_users(
    store: TenantStore<'_>,
    ids: &IdGenerator,
    licenses: &mut [License],
    now: OffsetDateTime,
) -> Result<HashMap<String, CompanyUser>, StoreError> {
    let mut wanted: HashMap<String, LicenseUser> = HashMap::new();
    for user in licenses.iter().flat_map(|l| l.users.iter()) {
        let given = wanted.entry(user.email.to_lowercase()).or_insert_with(|| user.clone());
        if given.password.is_none() {
            given.password.clone_from(&user.password);
        }
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let company_users = users::ensure(store, ids, &wanted, now).await?;
    for user in licenses.iter_mut().flat_map(|l| l.users.iter_mut()) {
        if let Some(company_user) = company_users.get(&user.email.to_lowercase()) {
            user.id = company_user.id;
        }
        user.password = None;
    }
    Ok(company_users)
}

/// The planned licenses with ids, order, customer and keys (imports use it row by row).
pub(crate) fn materialize(
    request: &OrderRequest,
    order: &Order,
    items: &[OrderItem],
    customer: Option<&Customer>,
    ids: &IdGenerator,
) -> Vec<License> {
    let alphabet: Vec<char> = DEFAULT_ALPHABET.chars().collect();
    let mut rng = rand::rng();
    let mut licenses: Vec<License> = Vec::with_capacity(request.licenses.len());
    for plan in &request.licenses {
        let mut license = plan.license.clone();
        license.id = ids.next_id();
        license.order = order.id;
        license.order_item = items[plan.item].id;
        license.order_store_id = order.store_id.clone();
        license.customer = customer.map(|c| c.id);
        license.bundle_parent = plan.parent.map(|p| licenses[p].id);
        license.license_key = match (plan.key_based, &plan.key, plan.parent) {
            (false, _, _) => None,
            (true, Some(key), _) => Some(key.clone()),
            (true, None, Some(parent)) => licenses[parent].license_key.clone(),
            (true, None, None) => Some(generate_key(&mut rng, &alphabet, DEFAULT_LENGTH)),
        };
        for feature in &mut license.features {
            feature.id = ids.next_id();
        }
        for value in &mut license.custom_fields {
            value.id = ids.next_id();
        }
        for user in &mut license.users {
            user.id = ids.next_id();
        }
        licenses.push(license);
    }
    licenses
}

/// Errors from reading the order's `customer` object, under `customer.`.
fn in_customer(err: ApiError) -> ApiError {
    match err {
        ApiError::Validation(errors) => ApiError::Validation(errors.prefixed("customer")),
        other => other,
    }
}

//! One page of `GET /api/v1/licenses/` in bounded memory (issue 12; API.md §9): the access
//! path is read as a stream (`read`), DynamoDB evaluates what it can (`pushdown`), and
//! - in id order, the stream stops once the page is in hand, and reads on (as stubs: ids,
//!   order, product) only when `count` needs it;
//! - in any other order, a top-k heap keeps the best `offset + limit` licenses, and once it is
//!   full the Queries still to come return only licenses that could enter it;
//! - `count` comes from a counter when the path alone answers the query (company, product,
//!   customer, order, creation month), else from the same stream.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

use super::pushdown::{self, push_down, Context};
use super::read::{PathReader, Row, Source};
use super::{plan, AccessPath, LicenseCtx};
use crate::auth::Principal;
use crate::catalog::{Catalog, Customer};
use crate::error::ApiError;
use crate::ids::{first_id_at, Id};
use crate::licenses::License;
use crate::listing::{FieldValue, ListQuery, TopK};
use crate::orders::Order;
use crate::store::condition::{Condition, Scalar, MAX_IN_VALUES};
use crate::store::{keys, IndexRange, LicenseTally, TenantStore};

/// How far a license's `created_at` may be from the time its id encodes (both are read from
/// the clock within one write; the margin covers a slow write and id sequence overflow).
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(1);

/// Partitions a count or a ranking reads at once (DynamoDB serves partitions in parallel).
const PARTITIONS_AT_ONCE: usize = 16;

/// Customers kept for the related filters at most; past it the map starts afresh.
const RELATED_CACHE: usize = 10_000;

/// A page of licenses, their total count, and what rendering them needs.
pub struct Listed {
    pub count: usize,
    pub page: Vec<License>,
    pub ctx: LicenseCtx,
}

/// Lists licenses as API.md §7 and §9 say.
pub async fn list(
    store: TenantStore<'_>,
    principal: &Principal,
    query: &ListQuery<'_, License, LicenseCtx>,
    catalog: Catalog,
    now: OffsetDateTime,
) -> Result<Listed, ApiError> {
    let path = plan(query, principal, &catalog, now);
    let company = principal.company;
    let answered = answered_by(&path, query);
    let mut pushed = push_down(&query.filters, &Context { company, catalog: &catalog }, &answered);
    let mut ctx = LicenseCtx { company, catalog, related: Default::default(), orders: HashMap::new(), now };
    if pushed.never {
        return Ok(Listed { count: 0, page: Vec::new(), ctx });
    }
    if let AccessPath::Ids(ids) = &path {
        return by_ids(store, principal, query, ctx, ids).await;
    }
    // A scoped manager's products, unless the path is already made of them: in the
    // expression, or past its operand limit checked in memory.
    let mut scope = Vec::new();
    let mut scope_in_memory = false;
    if let (Some(products), false) = (&principal.products, matches!(path, AccessPath::Products(_))) {
        let mut ids: Vec<Id> = products.iter().copied().collect();
        ids.sort_unstable();
        if ids.is_empty() {
            return Ok(Listed { count: 0, page: Vec::new(), ctx });
        }
        if ids.len() <= MAX_IN_VALUES {
            scope.push(Condition::In("product", ids.iter().map(|id| Scalar::Number(*id as i64)).collect()));
        } else {
            scope_in_memory = true;
        }
    }
    let base = Condition::all(pushed.condition.take().into_iter().chain(scope).collect());
    let only_path = base.is_none() && !pushed.related && query.filters.len() == answered.len();

    // The license counters (one Query), for the paths that page by product or month.
    let counters = match &path {
        AccessPath::Months(..) => Some(store.license_counters().await?),
        AccessPath::Products(_) if only_path => Some(store.license_counters().await?),
        _ => None,
    };
    let (sources, known) = sources_of(store, &path, principal, query, only_path, counters.as_ref()).await?;
    let mut count = known;
    if let (None, true, Some(counters)) = (count, principal.is_admin(), &counters) {
        count = created_at_count(store, query, &path, counters).await?;
    }
    let descending = match query.ordering() {
        None => false,
        Some(("id" | "created_at", descending)) => descending,
        Some(("validity_period", descending)) if count.is_some() && base.is_none() && !pushed.related => {
            if let Some(products) = whole_products(&path, query, counters.as_ref()) {
                let count = count.unwrap_or_default();
                return super::sorted::by_validity(store, principal, query, ctx, &products, count, descending).await;
            }
            return top_k(store, principal, query, ctx, sources, base, count, "validity_period", descending).await;
        }
        Some((field, descending)) => {
            return top_k(store, principal, query, ctx, sources, base, count, field, descending).await;
        }
    };

    let wanted = query.offset.saturating_add(query.limit);
    let mut reader = PathReader::new(store, sources, base, descending);
    reader.wanted = wanted;
    let mut related = Related::default();
    let mut matched = 0usize;
    let mut page = Vec::new();
    while let Some(row) = reader.next().await? {
        if !principal.can_access(row.product()) {
            continue;
        }
        if let Row::Full(license) = &row {
            related.load(store, query, &reader, license, &mut ctx).await?;
            if !query.matches(license, &ctx) {
                continue;
            }
        }
        matched += 1;
        if matched > query.offset && page.len() < query.limit {
            if let Row::Full(license) = row {
                page.push(*license);
            }
        }
        reader.wanted = wanted.saturating_sub(matched).max(1);
        if matched >= wanted {
            if count.is_some() {
                break;
            }
            if !pushed.related && !scope_in_memory {
                // Only counting now: stubs, every partition left at once.
                matched += reader.count_rest(PARTITIONS_AT_ONCE).await?;
                break;
            }
            // A filter needs the whole license (or the scope its product): counted in order.
            reader.full = pushed.related;
        }
    }
    Ok(Listed { count: count.unwrap_or(matched), page, ctx })
}

/// The products whose licenses are the whole of `path`, when it is made of whole products: a
/// product path, or every creation month (the company's products with licenses).
fn whole_products(
    path: &AccessPath,
    query: &ListQuery<'_, License, LicenseCtx>,
    counters: Option<&LicenseTally>,
) -> Option<Vec<Id>> {
    match path {
        AccessPath::Products(products) => Some(products.clone()),
        AccessPath::Months(..) if query.time_bounds("created_at") == (None, None) => {
            let mut products: Vec<Id> = counters?.products.iter().filter(|(_, n)| **n > 0).map(|(p, _)| *p).collect();
            products.sort_unstable();
            Some(products)
        }
        _ => None,
    }
}

/// `id__in`: at most 1,000 licenses, read by BatchGetItem and filtered in memory.
async fn by_ids(
    store: TenantStore<'_>,
    principal: &Principal,
    query: &ListQuery<'_, License, LicenseCtx>,
    mut ctx: LicenseCtx,
    ids: &[Id],
) -> Result<Listed, ApiError> {
    let mut licenses: Vec<License> = store.get_many(ids).await?;
    licenses.retain(|l| principal.can_access(l.product));
    licenses.sort_by_key(|l| l.id);
    let order_ids: Vec<Id> = licenses.iter().map(|l| l.order).collect();
    ctx.orders = store.get_many::<Order>(&order_ids).await?.into_iter().map(|o| (o.id, o)).collect();
    licenses.retain(|l| l.attempt.is_none() || ctx.orders.get(&l.order).is_some_and(|o| o.shows(l)));
    let customer_ids: Vec<Id> = licenses.iter().filter_map(|l| l.customer).collect();
    ctx.related.customers = store.get_many::<Customer>(&customer_ids).await?.into_iter().map(|c| (c.id, c)).collect();
    let (count, page) = query.apply(&licenses, &ctx);
    let page = page.into_iter().cloned().collect();
    Ok(Listed { count, page, ctx })
}

/// The filters the path itself answers exactly (not evaluated again by DynamoDB).
fn answered_by(path: &AccessPath, query: &ListQuery<'_, License, LicenseCtx>) -> Vec<&'static str> {
    let first_of = |params: &[&'static str]| -> Vec<&'static str> {
        params.iter().find(|p| query.filters.iter().any(|f| f.param() == **p)).copied().into_iter().collect()
    };
    match path {
        AccessPath::Ids(_) => first_of(&["id__in"]),
        AccessPath::Key(_) => first_of(&["license_key"]),
        AccessPath::StoreId(_) => first_of(&["order__store_id"]),
        AccessPath::Customer(_) => first_of(&["customer__id"]),
        AccessPath::CustomerEmail(_) => first_of(&["customer__email"]),
        AccessPath::Products(_) => first_of(&["product__id", "product__short_code", "product__short_code__in"]),
        AccessPath::Months(..) => Vec::new(),
    }
}

fn whole(index: u8, pk: String) -> Source {
    Source { range: IndexRange { index, pk, from: None, to: None }, ids: (0, Id::MAX) }
}

/// The sources of a path, and its count when a counter gives it (`only_path`: no other filter
/// and nothing out of the caller's scope on it).
async fn sources_of(
    store: TenantStore<'_>,
    path: &AccessPath,
    principal: &Principal,
    query: &ListQuery<'_, License, LicenseCtx>,
    only_path: bool,
    counters: Option<&LicenseTally>,
) -> Result<(Vec<Source>, Option<usize>), ApiError> {
    let company = store.company();
    let counted = |n: i64| Some(n.max(0) as usize);
    let admin_only = only_path && principal.is_admin();
    Ok(match path {
        // Read by `by_ids`.
        AccessPath::Ids(_) => (Vec::new(), None),
        AccessPath::Key(key) => (vec![whole(keys::LICENSES_BY_KEY, keys::licenses_by_key(company, key))], None),
        AccessPath::StoreId(store_id) => {
            let claim = Order::store_id_claim(store_id);
            match store.unique_owner(claim.kind, &claim.scope, &claim.value).await? {
                Some(id) => {
                    let count = if admin_only { store.get::<Order>(id).await?.map(|o| o.license_count) } else { None };
                    (
                        vec![whole(keys::LICENSES_BY_ORDER, keys::licenses_by_order(company, id))],
                        count.and_then(counted),
                    )
                }
                None => (Vec::new(), Some(0)),
            }
        }
        AccessPath::Customer(id) => customer_source(store, *id, admin_only).await?,
        AccessPath::CustomerEmail(email) => {
            let claim = Customer::email_key(email);
            match store.unique_owner(claim.kind, &claim.scope, &claim.value).await? {
                Some(id) => customer_source(store, id, admin_only).await?,
                None => (Vec::new(), Some(0)),
            }
        }
        AccessPath::Products(products) => {
            let sources = products
                .iter()
                .map(|p| whole(keys::LICENSES_BY_PRODUCT, keys::licenses_by_product(company, *p)))
                .collect();
            let count = counters
                .filter(|_| only_path)
                .map(|c| products.iter().map(|p| c.products.get(p).copied().unwrap_or(0)).sum::<i64>().max(0) as usize);
            (sources, count)
        }
        AccessPath::Months(from, to) => {
            let unbounded = query.time_bounds("created_at") == (None, None);
            let counters = counters.cloned().unwrap_or_default();
            let months = months_with_licenses(&counters, *from, *to);
            let sources = months.iter().map(|m| month_source(company, *m, *from, *to)).collect();
            let count = if admin_only && unbounded { counted(counters.total) } else { None };
            (sources, count)
        }
    })
}

async fn customer_source(
    store: TenantStore<'_>,
    id: Id,
    counted: bool,
) -> Result<(Vec<Source>, Option<usize>), ApiError> {
    let count = if counted { store.get::<Customer>(id).await?.map(|c| c.total_licenses.max(0) as usize) } else { None };
    Ok((vec![whole(keys::LICENSES_BY_CUSTOMER, keys::licenses_by_customer(store.company(), id))], count))
}

/// The first instant of a month and of the next.
fn month_span(month: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let start = month.replace_day(1).unwrap_or(month).replace_time(time::Time::MIDNIGHT);
    let next = if start.month() == time::Month::December {
        start.replace_year(start.year() + 1).and_then(|m| m.replace_month(time::Month::January))
    } else {
        start.replace_month(start.month().next())
    };
    (start, next.unwrap_or(start + time::Duration::days(31)))
}

/// A creation month's shard, cut to the ids that `from`..=`to` (widened by the clock skew)
/// may hold; it opens once the merge reaches its first possible id.
fn month_source(company: Id, month: OffsetDateTime, from: OffsetDateTime, to: OffsetDateTime) -> Source {
    let (start, next) = month_span(month);
    let low = (from > start).then(|| first_id_at(from - CLOCK_SKEW));
    let high = (to < next).then(|| first_id_at(to + CLOCK_SKEW + time::Duration::milliseconds(1)).saturating_sub(1));
    Source {
        range: IndexRange {
            index: keys::LICENSES_BY_MONTH,
            pk: keys::licenses_by_month(company, month),
            from: low.map(keys::padded),
            to: high.map(keys::padded),
        },
        ids: (first_id_at(start.max(from) - CLOCK_SKEW), first_id_at(next.min(to) + CLOCK_SKEW)),
    }
}

/// Whether the month counters hold every license (not so for licenses written before they
/// existed, which only the company's counter counted).
fn months_counted(counters: &LicenseTally) -> bool {
    counters.months.values().sum::<i64>() >= counters.total
}

/// The months from `from` to `to` that have licenses, by their counters; every one of them
/// when the month counters do not hold every license.
fn months_with_licenses(counters: &LicenseTally, from: OffsetDateTime, to: OffsetDateTime) -> Vec<OffsetDateTime> {
    let every = super::months(from, to);
    if !months_counted(counters) {
        return every;
    }
    every.into_iter().filter(|m| counters.months.get(&(m.year(), m.month() as u8)).is_some_and(|n| *n > 0)).collect()
}

/// `created_at` bounds alone (an admin, no other filter): whole months from their counters,
/// and each month the bounds cut counted from whichever side of the cut is smaller (both are
/// read a page at a time, in turn, until one ends).
async fn created_at_count(
    store: TenantStore<'_>,
    query: &ListQuery<'_, License, LicenseCtx>,
    path: &AccessPath,
    counters: &LicenseTally,
) -> Result<Option<usize>, ApiError> {
    let AccessPath::Months(from, to) = path else { return Ok(None) };
    if query.filters.is_empty() || !query.filters.iter().all(|f| f.param().starts_with("created_at__")) {
        return Ok(None);
    }
    if !months_counted(counters) {
        return Ok(None);
    }
    let company = store.company();
    let counts = &counters.months;
    let inside = pushdown_of(query, company);
    let outside = inside.clone().map(|c| Condition::Not(Box::new(c)));
    let mut total: i64 = 0;
    for month in super::months(*from, *to) {
        let n = counts.get(&(month.year(), month.month() as u8)).copied().unwrap_or(0);
        if n <= 0 {
            continue;
        }
        let (start, next) = month_span(month);
        if *from <= start && *to >= next {
            total += n;
            continue;
        }
        // Outside the bounds: the ids before `from` and after `to` (widened by the skew). An
        // end the query left open, or that the plan moved to the company's creation or to now,
        // has no outside: nothing was created before the company, or after now.
        let (from_given, to_given) = query.time_bounds("created_at");
        let mut outer = Vec::new();
        if from_given.is_some_and(|given| given >= *from) && *from > start {
            let high = keys::padded(first_id_at(*from + CLOCK_SKEW));
            let range = IndexRange {
                index: keys::LICENSES_BY_MONTH,
                pk: keys::licenses_by_month(company, month),
                from: None,
                to: Some(high),
            };
            outer.push(Source { range, ids: (0, Id::MAX) });
        }
        if to_given.is_some_and(|given| given <= *to) && *to < next {
            let low = keys::padded(first_id_at(*to - CLOCK_SKEW));
            let range = IndexRange {
                index: keys::LICENSES_BY_MONTH,
                pk: keys::licenses_by_month(company, month),
                from: Some(low),
                to: None,
            };
            outer.push(Source { range, ids: (0, Id::MAX) });
        }
        let mut sides = [
            counting_reader(store, vec![month_source(company, month, *from, *to)], inside.clone()),
            counting_reader(store, outer, outside.clone()),
        ];
        let mut seen = [0i64; 2];
        let side = 'race: loop {
            for (i, reader) in sides.iter_mut().enumerate() {
                let (n, done) = reader.count_pages(1).await?;
                seen[i] += n as i64;
                if done {
                    break 'race i;
                }
            }
        };
        total += if side == 0 { seen[0] } else { n - seen[1] };
    }
    Ok(Some(total.max(0) as usize))
}

fn counting_reader<'a>(store: TenantStore<'a>, sources: Vec<Source>, filter: Option<Condition>) -> PathReader<'a> {
    let mut reader = PathReader::new(store, sources, filter, false);
    reader.full = false;
    reader
}

/// The query's filters as one condition (the `created_at` bounds, for the count).
fn pushdown_of(query: &ListQuery<'_, License, LicenseCtx>, company: Id) -> Option<Condition> {
    let catalog = Catalog::default();
    push_down(&query.filters, &Context { company, catalog: &catalog }, &[]).condition
}

/// Customers and orders of the licenses read, for the filters that follow them.
#[derive(Default)]
struct Related {
    missing_customers: HashSet<Id>,
    missing_orders: HashSet<Id>,
}

impl Related {
    /// Makes sure `license`'s customer and order are in `ctx` when the filters read them,
    /// reading those of every license buffered with it in one batch.
    async fn load(
        &mut self,
        store: TenantStore<'_>,
        query: &ListQuery<'_, License, LicenseCtx>,
        reader: &PathReader<'_>,
        license: &License,
        ctx: &mut LicenseCtx,
    ) -> Result<(), ApiError> {
        let buffered = || {
            std::iter::once(license).chain(reader.buffered().filter_map(|row| match row {
                Row::Full(l) => Some(l.as_ref()),
                Row::Stub(_) => None,
            }))
        };
        if query.uses("customer__") {
            if let Some(id) = license.customer.filter(|id| !ctx.related.customers.contains_key(id)) {
                if !self.missing_customers.contains(&id) {
                    if ctx.related.customers.len() > RELATED_CACHE {
                        ctx.related.customers.clear();
                    }
                    let ids: Vec<Id> = buffered()
                        .filter_map(|l| l.customer)
                        .filter(|c| !ctx.related.customers.contains_key(c) && !self.missing_customers.contains(c))
                        .collect();
                    ctx.related
                        .customers
                        .extend(store.get_many::<Customer>(&ids).await?.into_iter().map(|c| (c.id, c)));
                    self.missing_customers.extend(ids.into_iter().filter(|c| !ctx.related.customers.contains_key(c)));
                }
            }
        }
        let order = license.order;
        if query.uses("order__customer_account")
            && !ctx.orders.contains_key(&order)
            && !self.missing_orders.contains(&order)
        {
            if ctx.orders.len() > RELATED_CACHE {
                ctx.orders.clear();
            }
            let ids: Vec<Id> = buffered()
                .map(|l| l.order)
                .filter(|o| !ctx.orders.contains_key(o) && !self.missing_orders.contains(o))
                .collect();
            ctx.orders.extend(store.get_many::<Order>(&ids).await?.into_iter().map(|o| (o.id, o)));
            self.missing_orders.extend(ids.into_iter().filter(|o| !ctx.orders.contains_key(o)));
        }
        Ok(())
    }
}

/// The top-k of one read, and how to tighten its Queries as it fills.
struct Ranking<'q> {
    top: TopK<License>,
    matched: usize,
    base: Option<Condition>,
    field: &'q str,
    descending: bool,
    /// The count is known, so licenses that cannot enter need not be read.
    tighten: bool,
}

impl Ranking<'_> {
    fn offer(&mut self, license: License, key: FieldValue, reader: &mut PathReader<'_>) {
        self.matched += 1;
        if !self.top.offer(key, license.id, license) || !self.tighten {
            return;
        }
        let worst = self.top.worst_when_full();
        if let Some(threshold) = worst.and_then(|w| pushdown::threshold(self.field, w, self.descending)) {
            reader.set_filter(Condition::all(self.base.clone().into_iter().chain([threshold]).collect()));
        }
    }
}

/// Any other `order_by`: the best `offset + limit` matches in a heap, the path read in the
/// ranking's direction. Once it is full, and the count is known, later Queries ask DynamoDB
/// only for licenses that could still enter (a strictly better key: later ones lose ties).
/// Without related filters each partition of the path is ranked on its own, 16 at once, and
/// the partitions' best merged (a ranking needs no id order).
#[allow(clippy::too_many_arguments)]
async fn top_k(
    store: TenantStore<'_>,
    principal: &Principal,
    query: &ListQuery<'_, License, LicenseCtx>,
    mut ctx: LicenseCtx,
    sources: Vec<Source>,
    base: Option<Condition>,
    count: Option<usize>,
    field: &str,
    descending: bool,
) -> Result<Listed, ApiError> {
    use futures_util::stream::{StreamExt, TryStreamExt};
    let k = query.offset.saturating_add(query.limit);
    let ranking = || Ranking {
        top: TopK::new(k, descending),
        matched: 0,
        base: base.clone(),
        field,
        descending,
        tighten: count.is_some(),
    };
    let mut merged = ranking();
    if query.uses("customer__") || query.uses("order__customer_account") {
        let mut reader = PathReader::new(store, sources, base.clone(), descending);
        reader.wanted = k;
        let mut related = Related::default();
        while let Some(row) = reader.next().await? {
            let Row::Full(license) = row else { continue };
            if !principal.can_access(license.product) {
                continue;
            }
            related.load(store, query, &reader, &license, &mut ctx).await?;
            if query.matches(&license, &ctx) {
                let key = query.order_value(&license, &ctx).unwrap_or(FieldValue::Null);
                merged.offer(*license, key, &mut reader);
            }
        }
    } else {
        let ctx = &ctx;
        let ranked: Vec<Ranking> = futures_util::stream::iter(sources)
            .map(|source| async {
                let mut reader = PathReader::new(store, vec![source], base.clone(), descending);
                reader.wanted = k;
                let mut own = ranking();
                while let Some(row) = reader.next().await? {
                    let Row::Full(license) = row else { continue };
                    if principal.can_access(license.product) && query.matches(&license, ctx) {
                        let key = query.order_value(&license, ctx).unwrap_or(FieldValue::Null);
                        own.offer(*license, key, &mut reader);
                    }
                }
                Ok::<_, ApiError>(own)
            })
            .buffer_unordered(PARTITIONS_AT_ONCE)
            .try_collect()
            .await?;
        for own in ranked {
            merged.matched += own.matched;
            for license in own.top.into_page(0) {
                let key = query.order_value(&license, ctx).unwrap_or(FieldValue::Null);
                merged.top.offer(key, license.id, license);
            }
        }
    }
    let page = merged.top.into_page(query.offset);
    Ok(Listed { count: count.unwrap_or(merged.matched), page, ctx })
}

//! Lists: query-parameter parsing (filters, `order_by`, `limit`/`offset`), one pure in-memory
//! filter evaluator, ordering, and the paginated response with absolute `next`/`previous` links.
//!
//! Each resource declares its filters and orderable fields as tables of accessor functions, so
//! the evaluation is the same code for every list. `C` is whatever context the accessors need
//! (e.g. the company's catalog, to follow a customer's account).

use std::cmp::Ordering;

use lambda_http::Request;
use serde_json::{json, Value};

use crate::error::{ApiError, FieldErrors};
use crate::http;
use crate::input::{parse_bool, parse_int};

pub const DEFAULT_LIMIT: usize = 20;
/// `limit` caps (API.md §1): licenses keep the vendor's 100, the other lists go to 1,000.
pub const MAX_LIMIT: usize = 1_000;
pub const LICENSES_MAX_LIMIT: usize = 100;
/// A page's results stop before the body would pass this many bytes (Lambda answers at most
/// 6 MB through API Gateway; the rest of the body and headers need a little room).
pub const MAX_RESULTS_BYTES: usize = 5_500_000;

/// How a list reads its query string (API.md §1).
#[derive(Debug, Clone, Copy)]
pub struct ListRules {
    /// A larger `limit` is capped to this, silently, as the vendor does.
    pub max_limit: usize,
    /// `Prefer: handling=strict`: unknown parameters are a 400 naming them, not ignored.
    pub strict: bool,
}

impl ListRules {
    pub fn of(req: &Request, max_limit: usize) -> Self {
        ListRules { max_limit, strict: http::prefers_strict_handling(req) }
    }
}
/// Longest `__in` list accepted.
const MAX_IN_VALUES: usize = 1_000;

/// What a filter compares against, read off one object.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Time(time::OffsetDateTime),
    Date(time::Date),
    /// A to-many field: matches when any element does.
    Many(Vec<FieldValue>),
}

impl From<time::OffsetDateTime> for FieldValue {
    fn from(t: time::OffsetDateTime) -> Self {
        FieldValue::Time(t)
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::Text(s.to_string())
    }
}

impl<T: Into<FieldValue>> From<Option<T>> for FieldValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(FieldValue::Null, Into::into)
    }
}

impl From<&String> for FieldValue {
    fn from(s: &String) -> Self {
        FieldValue::Text(s.clone())
    }
}

impl From<u64> for FieldValue {
    fn from(n: u64) -> Self {
        FieldValue::Int(n as i64)
    }
}

impl From<bool> for FieldValue {
    fn from(b: bool) -> Self {
        FieldValue::Bool(b)
    }
}

/// The Django lookups this API supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Case-sensitive equality of text.
    Exact,
    /// Case-insensitive equality of text.
    IExact,
    IContains,
    StartsWith,
    /// Equality of an integer (ids).
    IntExact,
    BoolExact,
    /// `true` matches null fields, `false` the others.
    IsNull,
    /// Comma list of texts.
    In,
    /// Comma list of integers.
    IntIn,
    /// Comparisons of a time or date with a time (a date field compares with its date part).
    Gt,
    Gte,
    Lt,
    Lte,
    /// Comparisons of the date part only (`__date__gt` …).
    DateGt,
    DateGte,
    DateLt,
    DateLte,
}

pub struct FilterSpec<T, C> {
    pub param: &'static str,
    pub lookup: Lookup,
    pub field: fn(&T, &C) -> FieldValue,
}

pub struct OrderSpec<T, C> {
    pub name: &'static str,
    pub key: fn(&T, &C) -> FieldValue,
}

/// A filter whose value was parsed against its lookup.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    Text(String),
    Int(i64),
    Bool(bool),
    Texts(Vec<String>),
    Ints(Vec<i64>),
    Time(time::OffsetDateTime),
}

pub struct ActiveFilter<'s, T, C> {
    spec: &'s FilterSpec<T, C>,
    wanted: Wanted,
}

impl<T, C> ActiveFilter<'_, T, C> {
    /// The filter's parameter name (its canonical spelling).
    pub fn param(&self) -> &'static str {
        self.spec.param
    }

    pub fn lookup(&self) -> Lookup {
        self.spec.lookup
    }

    pub fn wanted(&self) -> &Wanted {
        &self.wanted
    }
}

pub struct ListQuery<'s, T, C> {
    pub filters: Vec<ActiveFilter<'s, T, C>>,
    order: Option<(&'s OrderSpec<T, C>, bool)>,
    pub limit: usize,
    pub offset: usize,
}

impl<'s, T, C> ListQuery<'s, T, C> {
    /// Reads `limit`, `offset`, `order_by` and the filters. As django-filter does, a parameter
    /// with an empty value is not applied, and an unknown one is ignored (and logged), unless
    /// `rules.strict`, where it is a 400 naming it.
    pub fn parse(
        pairs: &[(String, String)],
        specs: &'s [FilterSpec<T, C>],
        orders: &'s [OrderSpec<T, C>],
        rules: ListRules,
    ) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::default();
        let mut query = ListQuery { filters: Vec::new(), order: None, limit: DEFAULT_LIMIT, offset: 0 };
        let mut ignored: Vec<&str> = Vec::new();
        for (name, value) in pairs.iter().filter(|(_, value)| !value.trim().is_empty()) {
            match name.as_str() {
                "limit" => match value.trim().parse::<usize>() {
                    Ok(n) if n > 0 => query.limit = n.min(rules.max_limit),
                    _ => errors.add("limit", "A positive integer is required."),
                },
                "offset" => match value.trim().parse::<usize>() {
                    Ok(n) => query.offset = n,
                    _ => errors.add("offset", "A non-negative integer is required."),
                },
                "order_by" => {
                    let (descending, field) = match value.trim().strip_prefix('-') {
                        Some(field) => (true, field),
                        None => (false, value.trim()),
                    };
                    match orders.iter().find(|o| o.name == field) {
                        Some(spec) => query.order = Some((spec, descending)),
                        None => errors.add("order_by", format!("Cannot order by \"{field}\".")),
                    }
                }
                _ => match specs.iter().find(|s| s.param == name) {
                    Some(spec) => match parse_wanted(spec.lookup, value) {
                        Ok(wanted) => query.filters.push(ActiveFilter { spec, wanted }),
                        Err(message) => errors.add(name.clone(), message),
                    },
                    None if rules.strict => errors.add(name.clone(), "Unknown query parameter."),
                    None => ignored.push(name),
                },
            }
        }
        if !ignored.is_empty() {
            tracing::info!(parameters = ?ignored, "ignored unknown query parameters");
        }
        errors.into_result()?;
        Ok(query)
    }

    /// `Some(descending)` when the requested order is the index's (id order, the default);
    /// `None` for any other field.
    pub fn index_order(&self) -> Option<bool> {
        match self.order {
            None => Some(false),
            Some((spec, descending)) if spec.name == "id" => Some(descending),
            Some(_) => None,
        }
    }

    /// The value the requested ordering sorts `item` by (`None`: id order).
    pub fn order_value(&self, item: &T, ctx: &C) -> Option<FieldValue> {
        self.order.map(|(spec, _)| (spec.key)(item, ctx))
    }

    /// The requested ordering: its field name and whether descending (`None`: the default,
    /// ascending id order).
    pub fn ordering(&self) -> Option<(&'static str, bool)> {
        self.order.map(|(spec, descending)| (spec.name, descending))
    }

    /// The value given for a filter parameter, if it is active (for resources that can answer
    /// it from an index instead of a full read).
    pub fn text_filter(&self, param: &str) -> Option<&str> {
        self.filters.iter().find_map(|f| match (&f.wanted, f.spec.param == param) {
            (Wanted::Text(text), true) => Some(text.as_str()),
            _ => None,
        })
    }

    /// Whether any active filter's parameter starts with `prefix` (to load only the related
    /// data the filters need).
    pub fn uses(&self, prefix: &str) -> bool {
        self.filters.iter().any(|f| f.spec.param.starts_with(prefix))
    }

    /// The ids an integer `__in` filter gives, if it is active.
    pub fn ints_filter(&self, param: &str) -> Option<&[i64]> {
        self.filters.iter().find_map(|f| match (&f.wanted, f.spec.param == param) {
            (Wanted::Ints(ids), true) => Some(ids.as_slice()),
            _ => None,
        })
    }

    /// The texts a text `__in` filter gives, if it is active.
    pub fn texts_filter(&self, param: &str) -> Option<&[String]> {
        self.filters.iter().find_map(|f| match (&f.wanted, f.spec.param == param) {
            (Wanted::Texts(texts), true) => Some(texts.as_slice()),
            _ => None,
        })
    }

    /// The lower bound a `created_at`-style filter (`__gt`, `__gte`, `__date__gt`, `__date__gte`)
    /// puts on `field`, and the upper bound, as times (dates widened to whole days).
    pub fn time_bounds(&self, field: &str) -> (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>) {
        let (mut from, mut to) = (None, None);
        for f in &self.filters {
            let Wanted::Time(t) = f.wanted else { continue };
            if !f.spec.param.starts_with(field) || !f.spec.param[field.len()..].starts_with("__") {
                continue;
            }
            let day = t.replace_time(time::Time::MIDNIGHT);
            match f.spec.lookup {
                Lookup::Gt | Lookup::Gte => from = from.max(Some(t)),
                Lookup::DateGt | Lookup::DateGte => from = from.max(Some(day)),
                Lookup::Lt | Lookup::Lte => to = Some(to.map_or(t, |x: time::OffsetDateTime| x.min(t))),
                Lookup::DateLt | Lookup::DateLte => {
                    let end = day + time::Duration::days(1);
                    to = Some(to.map_or(end, |x: time::OffsetDateTime| x.min(end)))
                }
                _ => {}
            }
        }
        (from, to)
    }

    /// Like `text_filter`, for an integer lookup.
    pub fn int_filter(&self, param: &str) -> Option<i64> {
        self.filters.iter().find_map(|f| match (&f.wanted, f.spec.param == param) {
            (Wanted::Int(n), true) => Some(*n),
            _ => None,
        })
    }

    pub fn matches(&self, item: &T, ctx: &C) -> bool {
        self.filters.iter().all(|f| matches(f.spec.lookup, &f.wanted, &(f.spec.field)(item, ctx)))
    }

    /// The items that match the filters, in the order they came (id order).
    pub fn apply_all<'i>(&self, items: &'i [T], ctx: &C) -> Vec<&'i T> {
        items.iter().filter(|item| self.matches(item, ctx)).collect()
    }

    /// Filters, orders (default: ascending id order, which is creation order, as the items
    /// arrive), then cuts the page. Returns the total count and the page.
    pub fn apply<'i>(&self, items: &'i [T], ctx: &C) -> (usize, Vec<&'i T>) {
        let mut kept: Vec<&T> = items.iter().filter(|item| self.matches(item, ctx)).collect();
        if let Some((spec, descending)) = self.order {
            // Items arrive in id order and the sort is stable: ties stay in id order, and in
            // descending id order for a descending sort.
            sort_ties_by_arrival(&mut kept, descending, |a, b| compare(&(spec.key)(a, ctx), &(spec.key)(b, ctx)));
        }
        let count = kept.len();
        let page = kept.into_iter().skip(self.offset).take(self.limit).collect();
        (count, page)
    }
}

/// An item ranked for a top-k: by its sort key, ties by id (API.md §1), all reversed when
/// descending; a [`TopK`]'s greatest is the one it drops first.
struct Ranked<T> {
    key: FieldValue,
    id: u64,
    item: T,
    descending: bool,
}

impl<T> Ranked<T> {
    fn order(&self, other: &Self) -> Ordering {
        let ascending = compare(&self.key, &other.key).then(self.id.cmp(&other.id));
        if self.descending {
            ascending.reverse()
        } else {
            ascending
        }
    }
}

impl<T> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.order(other) == Ordering::Equal
    }
}

impl<T> Eq for Ranked<T> {}

impl<T> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order(other)
    }
}

/// The best `k` items seen by a sort key, in O(k) memory (issue 12, item 4).
pub struct TopK<T> {
    k: usize,
    descending: bool,
    heap: std::collections::BinaryHeap<Ranked<T>>,
}

impl<T> TopK<T> {
    pub fn new(k: usize, descending: bool) -> Self {
        TopK { k, descending, heap: std::collections::BinaryHeap::new() }
    }

    /// Offers an item; whether it was kept.
    pub fn offer(&mut self, key: FieldValue, id: u64, item: T) -> bool {
        let ranked = Ranked { key, id, item, descending: self.descending };
        if self.heap.len() < self.k {
            self.heap.push(ranked);
            return true;
        }
        match self.heap.peek() {
            Some(worst) if ranked < *worst => {
                self.heap.pop();
                self.heap.push(ranked);
                true
            }
            _ => false,
        }
    }

    /// The key of the worst item kept, once `k` are kept.
    pub fn worst_when_full(&self) -> Option<&FieldValue> {
        (self.heap.len() == self.k).then(|| self.heap.peek().map(|r| &r.key)).flatten()
    }

    /// The items kept, best first, the first `offset` skipped.
    pub fn into_page(self, offset: usize) -> Vec<T> {
        self.heap.into_sorted_vec().into_iter().skip(offset).map(|r| r.item).collect()
    }
}

/// One page of a list read a Query page at a time from an index in id order, in bounded
/// memory (API.md §9): in id order only the page is kept, and reading stops once it is in hand
/// and `count` is known (a counter); in another order a [`TopK`] keeps `offset + limit`. Items
/// `keep` refuses (out of the caller's scope) are skipped. The pager must read in the
/// direction [`ListQuery::index_order`] gives.
pub async fn page_from_index<E: crate::store::Entity, C>(
    store: crate::store::TenantStore<'_>,
    query: &ListQuery<'_, E, C>,
    ctx: &C,
    count: Option<usize>,
    pager: &mut crate::store::IndexPager<E>,
    keep: impl Fn(&E) -> bool,
) -> Result<(usize, Vec<E>), crate::store::StoreError> {
    let wanted = query.offset.saturating_add(query.limit);
    let by_id = query.index_order().is_some();
    let mut top = TopK::new(wanted, query.order.is_some_and(|(_, descending)| descending));
    let mut page = Vec::new();
    let mut matched = 0usize;
    let page_size = if count.is_some() && query.filters.is_empty() && by_id { wanted.clamp(1, 1_000) } else { 1_000 };
    while let Some(items) = pager.next_page(store, page_size).await? {
        for item in items {
            if !keep(&item) || !query.matches(&item, ctx) {
                continue;
            }
            matched += 1;
            if by_id {
                if matched > query.offset && page.len() < query.limit {
                    page.push(item);
                }
            } else {
                let key = query.order_value(&item, ctx).unwrap_or(FieldValue::Null);
                top.offer(key, item.id(), item);
            }
        }
        if by_id && count.is_some() && matched >= wanted {
            break;
        }
    }
    let page = if by_id { page } else { top.into_page(query.offset) };
    Ok((count.unwrap_or(matched), page))
}

/// Sorts items that arrive in id order by `ordering`, descending if asked; ties keep id order
/// in the same direction (API.md §1), so offset pages never repeat or skip.
pub fn sort_ties_by_arrival<X>(items: &mut [X], descending: bool, ordering: impl Fn(&X, &X) -> Ordering) {
    if descending {
        items.reverse();
        items.sort_by(|a, b| ordering(a, b).reverse());
    } else {
        items.sort_by(ordering);
    }
}

fn parse_wanted(lookup: Lookup, value: &str) -> Result<Wanted, String> {
    let list = || -> Result<Vec<String>, String> {
        let items: Vec<String> = value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if items.len() > MAX_IN_VALUES {
            return Err(format!("Ensure this list has no more than {MAX_IN_VALUES} values."));
        }
        Ok(items)
    };
    match lookup {
        Lookup::Exact | Lookup::IExact | Lookup::IContains | Lookup::StartsWith => Ok(Wanted::Text(value.to_string())),
        Lookup::IntExact => parse_int(value).map(Wanted::Int).ok_or_else(|| "Enter a whole number.".to_string()),
        Lookup::BoolExact | Lookup::IsNull => {
            parse_bool(value).map(Wanted::Bool).ok_or_else(|| "Enter true or false.".to_string())
        }
        Lookup::In => list().map(Wanted::Texts),
        Lookup::Gt
        | Lookup::Gte
        | Lookup::Lt
        | Lookup::Lte
        | Lookup::DateGt
        | Lookup::DateGte
        | Lookup::DateLt
        | Lookup::DateLte => crate::timefmt::parse_time(value)
            .map(Wanted::Time)
            .ok_or_else(|| "Enter a valid date or date/time (YYYY-MM-DD, YYYY-MM-DDThh:mm:ssZ).".to_string()),
        Lookup::IntIn => list()?
            .iter()
            .map(|s| parse_int(s).ok_or_else(|| "Enter a comma-separated list of whole numbers.".to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Wanted::Ints),
    }
}

fn matches(lookup: Lookup, wanted: &Wanted, field: &FieldValue) -> bool {
    if let FieldValue::Many(values) = field {
        return match (lookup, wanted) {
            (Lookup::IsNull, Wanted::Bool(null)) => values.is_empty() == *null,
            _ => values.iter().any(|v| matches(lookup, wanted, v)),
        };
    }
    match (lookup, wanted, field) {
        (Lookup::IsNull, Wanted::Bool(null), field) => (*field == FieldValue::Null) == *null,
        (Lookup::Exact, Wanted::Text(w), FieldValue::Text(f)) => f == w,
        (Lookup::IExact, Wanted::Text(w), FieldValue::Text(f)) => f.to_lowercase() == w.to_lowercase(),
        (Lookup::IContains, Wanted::Text(w), FieldValue::Text(f)) => f.to_lowercase().contains(&w.to_lowercase()),
        (Lookup::StartsWith, Wanted::Text(w), FieldValue::Text(f)) => f.starts_with(w.as_str()),
        (Lookup::IntExact, Wanted::Int(w), FieldValue::Int(f)) => f == w,
        (Lookup::BoolExact, Wanted::Bool(w), FieldValue::Bool(f)) => f == w,
        (Lookup::In, Wanted::Texts(ws), FieldValue::Text(f)) => ws.iter().any(|w| w == f),
        (Lookup::IntIn, Wanted::Ints(ws), FieldValue::Int(f)) => ws.contains(f),
        (_, Wanted::Time(w), FieldValue::Time(_) | FieldValue::Date(_)) => compares(lookup, field, *w),
        _ => false,
    }
}

/// A time or date field against a wanted time, as Django compares them: a date field (or a
/// `__date__` lookup) compares dates.
fn compares(lookup: Lookup, field: &FieldValue, wanted: time::OffsetDateTime) -> bool {
    let ordering = match (lookup, field) {
        (Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte, FieldValue::Time(t)) => t.cmp(&wanted),
        (_, FieldValue::Time(t)) => t.date().cmp(&wanted.date()),
        (_, FieldValue::Date(d)) => d.cmp(&wanted.date()),
        _ => return false,
    };
    match lookup {
        Lookup::Gt | Lookup::DateGt => ordering == Ordering::Greater,
        Lookup::Gte | Lookup::DateGte => ordering != Ordering::Less,
        Lookup::Lt | Lookup::DateLt => ordering == Ordering::Less,
        Lookup::Lte | Lookup::DateLte => ordering != Ordering::Greater,
        _ => false,
    }
}

/// Orders two scalar JSON values as [`compare`] orders field values: nulls first, then numbers,
/// booleans or text (RFC 3339 times and dates sort as text).
pub fn compare_json(a: &Value, b: &Value) -> Ordering {
    let field = |v: &Value| match v {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => n.as_i64().map_or_else(|| FieldValue::Text(n.to_string()), FieldValue::Int),
        Value::String(s) => FieldValue::Text(s.clone()),
        other => FieldValue::Text(other.to_string()),
    };
    compare(&field(a), &field(b))
}

/// Nulls first ascending (as PostgreSQL's `NULLS FIRST` on ascending is not Django's default,
/// but a stable, documented choice).
pub fn compare(a: &FieldValue, b: &FieldValue) -> Ordering {
    match (a, b) {
        (FieldValue::Null, FieldValue::Null) => Ordering::Equal,
        (FieldValue::Null, _) => Ordering::Less,
        (_, FieldValue::Null) => Ordering::Greater,
        (FieldValue::Int(x), FieldValue::Int(y)) => x.cmp(y),
        (FieldValue::Bool(x), FieldValue::Bool(y)) => x.cmp(y),
        (FieldValue::Text(x), FieldValue::Text(y)) => x.cmp(y),
        (FieldValue::Time(x), FieldValue::Time(y)) => x.cmp(y),
        (FieldValue::Date(x), FieldValue::Date(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// The length of `value` as JSON text, counted as it is written (nothing is kept).
pub fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).map_or(0, |_| counter.0)
}

/// The DRF paginated body, `next`/`previous` keeping every other query parameter.
/// The page of API.md §1. Results that would pass `MAX_RESULTS_BYTES` are left to the next
/// page: `next` then starts after the last result sent.
pub fn page_body(req: &Request, count: usize, limit: usize, offset: usize, mut results: Vec<Value>) -> Value {
    let mut bytes = 0;
    let fits = results
        .iter()
        .take_while(|r| {
            bytes += json_len(r) + 1;
            bytes <= MAX_RESULTS_BYTES
        })
        .count()
        .max(1);
    let sent = if fits < results.len() {
        results.truncate(fits);
        fits
    } else {
        limit
    };
    let pairs = http::query_pairs(req);
    let base = http::absolute_path(req);
    let link = |new_offset: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs.iter().filter(|(n, _)| n != "limit" && n != "offset") {
            query.append_pair(name, value);
        }
        query.append_pair("limit", &limit.to_string());
        if new_offset > 0 {
            query.append_pair("offset", &new_offset.to_string());
        }
        format!("{base}?{}", query.finish())
    };
    let next = (offset.saturating_add(sent) < count).then(|| link(offset + sent));
    let previous = (offset > 0).then(|| link(offset.saturating_sub(limit)));
    json!({ "count": count, "next": next, "previous": previous, "results": results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    struct Row {
        id: u64,
        email: &'static str,
        labels: Vec<i64>,
        archived: bool,
        account: Option<&'static str>,
    }

    fn specs() -> Vec<FilterSpec<Row, ()>> {
        vec![
            FilterSpec { param: "email", lookup: Lookup::Exact, field: |r, _| r.email.into() },
            FilterSpec { param: "email__icontains", lookup: Lookup::IContains, field: |r, _| r.email.into() },
            FilterSpec { param: "email__startswith", lookup: Lookup::StartsWith, field: |r, _| r.email.into() },
            FilterSpec { param: "id", lookup: Lookup::IntExact, field: |r, _| r.id.into() },
            FilterSpec { param: "is_archived", lookup: Lookup::BoolExact, field: |r, _| r.archived.into() },
            FilterSpec {
                param: "label__in",
                lookup: Lookup::IntIn,
                field: |r, _| FieldValue::Many(r.labels.iter().map(|l| FieldValue::Int(*l)).collect()),
            },
            FilterSpec { param: "account__isnull", lookup: Lookup::IsNull, field: |r, _| r.account.into() },
        ]
    }

    fn orders() -> Vec<OrderSpec<Row, ()>> {
        vec![OrderSpec { name: "id", key: |r, _| r.id.into() }, OrderSpec { name: "email", key: |r, _| r.email.into() }]
    }

    fn rows() -> Vec<Row> {
        vec![
            Row { id: 1, email: "ana@x.com", labels: vec![8], archived: false, account: None },
            Row { id: 2, email: "bo@y.com", labels: vec![8, 34], archived: true, account: Some("acme") },
            Row { id: 3, email: "Cy@x.com", labels: vec![], archived: false, account: None },
        ]
    }

    fn run(query: &str) -> Result<(usize, Vec<u64>), ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let (specs, orders, rows) = (specs(), orders(), rows());
        let q = ListQuery::parse(&pairs, &specs, &orders, ListRules { max_limit: 100, strict: true })?;
        let (count, page) = q.apply(&rows, &());
        Ok((count, page.iter().map(|r| r.id).collect()))
    }

    #[test]
    fn lookups() {
        assert_eq!(run("email=ana@x.com").unwrap(), (1, vec![1]));
        assert_eq!(run("email__icontains=X.COM").unwrap(), (2, vec![1, 3]));
        assert_eq!(run("email__startswith=C").unwrap(), (1, vec![3]));
        assert_eq!(run("is_archived=TRUE").unwrap(), (1, vec![2]));
        assert_eq!(run("label__in=34,99").unwrap(), (1, vec![2]));
        assert_eq!(run("label__in=8").unwrap(), (2, vec![1, 2]));
        assert_eq!(run("account__isnull=true").unwrap(), (2, vec![1, 3]));
        assert_eq!(run("email__icontains=x.com&is_archived=false&id=3").unwrap(), (1, vec![3]));
    }

    #[test]
    fn time_and_date_comparisons() {
        use time::macros::{date, datetime};
        let at = FieldValue::Time(datetime!(2024-05-10 12:00 UTC));
        let on = FieldValue::Date(date!(2024 - 05 - 10));
        let wanted = |s: &str| crate::timefmt::parse_time(s).unwrap();
        assert!(compares(Lookup::Gt, &at, wanted("2024-05-10T11:59:59Z")));
        assert!(!compares(Lookup::Gt, &at, wanted("2024-05-10T12:00:00Z")));
        assert!(compares(Lookup::Gte, &at, wanted("2024-05-10 12:00:00")));
        assert!(compares(Lookup::Lt, &at, wanted("2024-05-11")));
        assert!(!compares(Lookup::DateLt, &at, wanted("2024-05-10T23:00:00Z")));
        assert!(compares(Lookup::DateLte, &at, wanted("2024-05-10T23:00:00Z")));
        assert!(compares(Lookup::Gte, &on, wanted("2024-05-10T23:00:00Z")), "a date field compares dates");
        assert!(!compares(Lookup::Gt, &on, wanted("2024-05-10")));
        assert!(parse_wanted(Lookup::Gt, "soon").is_err());
    }

    #[test]
    fn ordering_and_pagination() {
        assert_eq!(run("order_by=-id").unwrap(), (3, vec![3, 2, 1]));
        assert_eq!(run("order_by=email").unwrap(), (3, vec![3, 1, 2]));
        assert_eq!(run("limit=2&offset=1").unwrap(), (3, vec![2, 3]));
        assert_eq!(run("limit=1000").unwrap(), (3, vec![1, 2, 3]));
        assert_eq!(run("offset=5").unwrap(), (3, vec![]));
    }

    #[test]
    fn bad_parameters_are_400s_naming_them() {
        for (query, field) in [
            ("limit=-1", "limit"),
            ("limit=abc", "limit"),
            ("offset=-3", "offset"),
            ("order_by=nope", "order_by"),
            ("is_archived=maybe", "is_archived"),
            ("id=x", "id"),
            ("label__in=1,a", "label__in"),
            ("emial=ana@x.com", "emial"),
        ] {
            match run(query) {
                Err(ApiError::Validation(errors)) => {
                    assert_eq!(errors.fields().collect::<Vec<_>>(), [field])
                }
                other => panic!("{query}: {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn json_len_is_the_length_of_the_text() {
        let value = json!({"a": [1, "x\u{e9}"], "b": null, "c": {"d": 2.5}});
        assert_eq!(json_len(&value), serde_json::to_string(&value).unwrap().len());
    }

    #[test]
    fn links_keep_other_parameters() {
        let mut req = Request::new(Body::Empty);
        *req.uri_mut() = "/api/v1/customers/?email__icontains=x&limit=2&offset=2".parse().unwrap();
        req.headers_mut().insert("host", "api.example.com".parse().unwrap());
        let body = page_body(&req, 5, 2, 2, vec![]);
        assert_eq!(body["next"], "https://api.example.com/api/v1/customers/?email__icontains=x&limit=2&offset=4");
        assert_eq!(body["previous"], "https://api.example.com/api/v1/customers/?email__icontains=x&limit=2");
        let last = page_body(&req, 4, 2, 2, vec![]);
        assert_eq!(last["next"], Value::Null);
        let far = page_body(&req, 4, 2, usize::MAX, vec![]);
        assert_eq!(far["next"], Value::Null, "no overflow on a huge offset");
    }
}

//! `GET /api/v1/licenses/` (API.md §7): the filters as one table for the in-memory evaluator,
//! and a query planner that reads only the most selective indexed access path.
//!
//! | access path (first that applies)                 | reads                                   |
//! |--------------------------------------------------|-----------------------------------------|
//! | `id__in`                                         | BatchGetItem of those ids               |
//! | `license_key`                                    | one GSI4 Query (key)                    |
//! | `order__store_id`                                | store-id marker, one GSI3 Query (order) |
//! | `customer__id`, `customer__email`                | (email marker,) one GSI2 Query          |
//! | `product__id`, `product__short_code` (`__in`)    | one GSI1 Query per product              |
//! | `created_at` bounds                              | GSI5 Queries for the months in range    |
//! | a manager scoped to products                     | one GSI1 Query per product              |
//! | anything else                                    | GSI5 Queries for every month of the company |
//!
//! Every other filter is evaluated in memory over what the path read, so its cost is that of
//! the path. The first five cost the same whatever the tenant's size.

pub mod page;
pub mod pushdown;
pub mod read;
mod sorted;

use std::collections::HashMap;
use std::sync::LazyLock;

use time::OffsetDateTime;

use super::License;
use crate::auth::Principal;
use crate::catalog::{Catalog, Customer, CustomerAccount};
use crate::error::ApiError;
use crate::ids::{id_time, Id};
use crate::input::parse_bool;
use crate::listing::{FieldValue, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec};
use crate::orders::Order;

/// What the filters read besides the license.
pub struct LicenseCtx {
    pub company: Id,
    pub catalog: Catalog,
    pub related: super::Related,
    pub orders: HashMap<Id, Order>,
    /// The request's time, once: what depends on the clock (floating seats in use) must not
    /// change during a sort.
    pub now: OffsetDateTime,
}

impl LicenseCtx {
    fn customer(&self, l: &License) -> Option<&Customer> {
        l.customer.and_then(|id| self.related.customers.get(&id))
    }

    fn customer_account(&self, l: &License) -> Option<&CustomerAccount> {
        self.customer(l).and_then(|c| c.account).and_then(|id| self.catalog.account(id))
    }

    fn order_account(&self, l: &License) -> Option<&CustomerAccount> {
        self.orders.get(&l.order).and_then(|o| o.customer_account).and_then(|id| self.catalog.account(id))
    }
}

type Field = fn(&License, &LicenseCtx) -> FieldValue;

fn text(value: Option<&str>) -> FieldValue {
    value.into()
}

fn many<'a>(values: impl Iterator<Item = &'a str>) -> FieldValue {
    FieldValue::Many(values.map(FieldValue::from).collect())
}

fn date(value: &Option<String>) -> FieldValue {
    value.as_deref().and_then(crate::timefmt::parse_date).map_or(FieldValue::Null, FieldValue::Date)
}

/// The text fields of an account that filters name.
const ACCOUNT_FIELDS: &[&str] = &["name", "code", "description", "phone", "address", "email", "reference"];

/// The filters of API.md §7, spelled as Django lookups.
static FILTERS: LazyLock<Vec<FilterSpec<License, LicenseCtx>>> = LazyLock::new(|| {
    let mut specs: Vec<FilterSpec<License, LicenseCtx>> = Vec::new();
    let mut add = |param: &str, lookup: Lookup, field: Field| {
        // Parameter names are built once per process; leaking them gives the table 'static names.
        let param: &'static str = Box::leak(param.to_string().into_boxed_str());
        specs.push(FilterSpec { param, lookup, field });
    };
    use Lookup::*;
    let texts: &[(&str, Field)] = &[
        ("license_key", |l, _| text(l.license_key.as_deref())),
        ("order__store_id", |l, _| (&l.order_store_id).into()),
        ("customer__email", |l, c| text(c.customer(l).map(|c| c.email.as_str()))),
        ("license_template__code", |l, c| {
            text(
                l.license_template
                    .and_then(|t| c.catalog.templates.iter().find(|x| x.id == t))
                    .map(|t| t.code.as_str()),
            )
        }),
        ("license_users__true_email", |l, _| many(l.users.iter().map(|u| u.email.as_str()))),
        ("manager__true_email", |l, _| many(l.users.iter().filter(|u| u.is_manager).map(|u| u.email.as_str()))),
        ("devices__hostname", |l, _| many(l.devices.iter().map(|d| d.hostname.as_str()))),
        ("devices__hardware_id", |l, _| many(l.devices.iter().map(|d| d.hardware_id.as_str()))),
        ("devices__os", |l, _| many(l.devices.iter().map(|d| d.os_ver.as_str()))),
    ];
    for (name, field) in texts {
        add(name, Exact, *field);
        add(&format!("{name}__icontains"), IContains, *field);
    }
    add("license_key__startswith", StartsWith, |l, _| text(l.license_key.as_deref()));
    add("license_users__true_email__startswith", StartsWith, |l, _| many(l.users.iter().map(|u| u.email.as_str())));
    add("order__store_id__startswith", StartsWith, |l, _| (&l.order_store_id).into());
    add("subscription_id", Exact, |l, _| text(l.subscription_id.as_deref()));
    add("product__short_code", Exact, |l, c| text(c.catalog.product(l.product).map(|p| p.short_code.as_str())));
    add("product__short_code__in", In, |l, c| text(c.catalog.product(l.product).map(|p| p.short_code.as_str())));
    add("product__authorization_method", Exact, |l, c| {
        text(c.catalog.product(l.product).map(|p| p.authorization_method.as_str()))
    });
    add("product__product_name__icontains", IContains, |l, c| {
        text(c.catalog.product(l.product).map(|p| p.product_name.as_str()))
    });
    add("customer__company_name__icontains", IContains, |l, c| text(c.customer(l).map(|c| c.company_name.as_str())));
    add("customer__name__icontains", IContains, |l, c| {
        many(c.customer(l).into_iter().flat_map(|c| [c.first_name.as_str(), c.last_name.as_str()]))
    });
    add("customer__reference__icontains", IContains, |l, c| text(c.customer(l).map(|c| c.reference.as_str())));
    add("note__icontains", IContains, |l, _| text(l.note.as_deref()));
    add("license_user_group", Exact, |_, _| FieldValue::Null);

    add("id__in", IntIn, |l, _| l.id.into());
    add("customer__id", IntExact, |l, _| l.customer.into());
    add("customer__account", IntExact, |l, c| c.customer(l).and_then(|c| c.account).into());
    add("customer__label__in", IntIn, |l, c| {
        FieldValue::Many(c.customer(l).map(|c| c.labels.iter().map(|x| x.label.into()).collect()).unwrap_or_default())
    });
    add("order__customer_account", IntExact, |l, c| c.orders.get(&l.order).and_then(|o| o.customer_account).into());
    add("product__id", IntExact, |l, _| l.product.into());
    add("product_features__id", IntExact, |l, _| {
        FieldValue::Many(l.features.iter().map(|f| f.feature.into()).collect())
    });
    add("license_users__id", IntExact, |l, _| FieldValue::Many(l.users.iter().map(|u| u.id.into()).collect()));
    add("license_template__id", IntExact, |l, _| l.license_template.into());
    add("company", IntExact, |_, c| c.company.into());

    add("license_key__isnull", IsNull, |l, _| text(l.license_key.as_deref()));
    add("bundle_license__isnull", IsNull, |l, _| l.bundle_parent.into());
    add("customer__account__isnull", IsNull, |l, c| c.customer_account(l).map(|a| a.id).into());
    let booleans: &[(&str, Field)] = &[
        ("active", |l, _| l.active.into()),
        ("enabled", |l, _| l.enabled.into()),
        ("is_any_floating", |l, _| (l.is_floating || l.is_floating_cloud).into()),
        ("is_air_gapped", |l, _| l.is_air_gapped.into()),
        ("is_bundle", |l, _| l.is_bundle.into()),
        ("is_trial", |l, _| l.is_trial.into()),
        ("has_max_consumptions", |l, _| (l.max_consumptions > 0).into()),
        ("is_hardware_key_auth", |_, _| false.into()),
    ];
    for (name, field) in booleans {
        add(name, BoolExact, *field);
    }

    // Accounts: the customer's (`customer__account__…`) and the order's (`order__customer_account__…`).
    for name in ACCOUNT_FIELDS {
        let customer_param = format!("customer__account__{name}");
        let field: Field = account_field(name, false);
        add(&customer_param, Exact, field);
        add(&format!("{customer_param}__icontains"), IContains, field);
        if *name == "name" || *name == "code" {
            let order_param = format!("order__customer_account__{name}");
            let field: Field = account_field(name, true);
            add(&order_param, Exact, field);
            add(&format!("{order_param}__icontains"), IContains, field);
        }
    }

    let times: &[(&str, Field)] = &[
        ("validity_period", |l, _| date(&l.validity_period)),
        ("time_activated", |l, _| l.time_activated.into()),
        ("updated_at", |l, _| l.updated_at.into()),
        ("created_at", |l, _| l.created_at.into()),
    ];
    let comparisons = [
        ("gt", Gt),
        ("gte", Gte),
        ("lt", Lt),
        ("lte", Lte),
        ("date__gt", DateGt),
        ("date__gte", DateGte),
        ("date__lt", DateLt),
        ("date__lte", DateLte),
    ];
    for (name, field) in times {
        for (suffix, lookup) in comparisons {
            add(&format!("{name}__{suffix}"), lookup, *field);
        }
    }
    specs
});

/// One accessor per account field and side; `fn` pointers cannot capture, so each is spelled.
fn account_field(name: &str, of_order: bool) -> Field {
    macro_rules! pick {
        ($field:ident) => {{
            let field: Field = if of_order {
                |l, c| text(c.order_account(l).map(|a| a.$field.as_str()))
            } else {
                |l, c| text(c.customer_account(l).map(|a| a.$field.as_str()))
            };
            field
        }};
    }
    match name {
        "name" => pick!(name),
        "code" => pick!(code),
        "description" => pick!(description),
        "phone" => pick!(phone),
        "address" => pick!(address),
        "email" => pick!(email),
        _ => pick!(reference),
    }
}

/// Other spellings of filters, each an alias of its twin (API.md §7): the vendor's current pages
/// write some with one underscore, and its official Go SDK sends names of its own.
const ALIASES: &[(&str, &str)] = &[
    ("license_key_starts_with", "license_key__startswith"),
    ("license_key_contains", "license_key__icontains"),
    ("license_key_is_null", "license_key__isnull"),
    ("order_store_id", "order__store_id"),
    ("order_store_id_starts_with", "order__store_id__startswith"),
    ("order_store_id_contains", "order__store_id__icontains"),
    ("id_in", "id__in"),
    ("customer_company_name_contains", "customer__company_name__icontains"),
    ("customer_reference_contains", "customer__reference__icontains"),
    ("customer_name_contains", "customer__name__icontains"),
    ("license_user_email", "license_users__true_email"),
    ("license_user_email_starts_with", "license_users__true_email__startswith"),
    ("license_user_email_contains", "license_users__true_email__icontains"),
    ("note_contains", "note__icontains"),
    ("customer_id", "customer__id"),
    ("customer_email", "customer__email"),
    ("customer_email__icontains", "customer__email__icontains"),
    ("customer_company_name__icontains", "customer__company_name__icontains"),
    ("customer_name__icontains", "customer__name__icontains"),
    ("product_id", "product__id"),
    ("product_short_code", "product__short_code"),
    ("product_short_code__in", "product__short_code__in"),
    ("product_name__icontains", "product__product_name__icontains"),
    ("license_template_id", "license_template__id"),
];

static ORDERS: &[OrderSpec<License, LicenseCtx>] = &[
    OrderSpec { name: "id", key: |l, _| l.id.into() },
    OrderSpec { name: "created_at", key: |l, _| l.created_at.into() },
    OrderSpec { name: "updated_at", key: |l, _| l.updated_at.into() },
    OrderSpec { name: "time_activated", key: |l, _| l.time_activated.into() },
    OrderSpec { name: "time_disabled", key: |l, _| l.time_disabled.into() },
    OrderSpec { name: "last_check", key: |l, _| l.last_check.into() },
    OrderSpec { name: "validity_period", key: |l, _| date(&l.validity_period) },
    OrderSpec { name: "maintenance_period", key: |l, _| date(&l.maintenance_period) },
    OrderSpec { name: "max_activations", key: |l, _| FieldValue::Int(l.max_activations) },
    OrderSpec { name: "times_activated", key: |l, _| FieldValue::Int(l.times_activated) },
    OrderSpec { name: "max_consumptions", key: |l, _| FieldValue::Int(l.max_consumptions) },
    OrderSpec { name: "total_consumptions", key: |l, _| FieldValue::Int(l.total_consumptions) },
    OrderSpec { name: "max_overages", key: |l, _| FieldValue::Int(l.max_overages) },
    OrderSpec { name: "trial_days", key: |l, _| FieldValue::Int(l.trial_days) },
    OrderSpec { name: "floating_users", key: |l, _| FieldValue::Int(l.floating_users) },
    OrderSpec { name: "max_license_users", key: |l, _| FieldValue::Int(l.max_license_users) },
    OrderSpec { name: "transfer_count", key: |l, _| FieldValue::Int(l.transfer_count) },
    OrderSpec { name: "floating_timeout", key: |l, _| l.floating_timeout.map_or(FieldValue::Null, FieldValue::Int) },
    OrderSpec { name: "max_transfers", key: |l, _| FieldValue::Int(l.max_transfers) },
    OrderSpec { name: "max_borrow_time", key: |l, _| FieldValue::Int(l.max_borrow_time) },
    // Every other scalar of the license JSON (API.md §1: any scalar field, text included).
    OrderSpec { name: "status", key: |l, _| l.status().into() },
    OrderSpec { name: "license_key", key: |l, _| text(l.license_key.as_deref()) },
    OrderSpec { name: "note", key: |l, _| text(l.note.as_deref()) },
    OrderSpec { name: "order_store_id", key: |l, _| (&l.order_store_id).into() },
    OrderSpec { name: "license_type", key: |l, _| (&l.license_type).into() },
    OrderSpec { name: "valid_duration", key: |l, _| text(l.valid_duration.as_deref()) },
    OrderSpec { name: "maintenance_duration", key: |l, _| text(l.maintenance_duration.as_deref()) },
    OrderSpec { name: "subscription_id", key: |l, _| text(l.subscription_id.as_deref()) },
    OrderSpec { name: "consumption_period", key: |l, _| text(l.consumption_period.as_deref()) },
    OrderSpec { name: "active", key: |l, _| l.active.into() },
    OrderSpec { name: "enabled", key: |l, _| l.enabled.into() },
    OrderSpec { name: "enable_maintenance_period", key: |l, _| l.enable_maintenance_period.into() },
    OrderSpec { name: "is_trial", key: |l, _| l.is_trial.into() },
    OrderSpec { name: "prevent_vm", key: |l, _| l.prevent_vm.into() },
    OrderSpec { name: "allow_overages", key: |l, _| l.allow_overages.into() },
    OrderSpec { name: "reset_consumption", key: |l, _| l.reset_consumption.into() },
    OrderSpec { name: "is_floating", key: |l, _| l.is_floating.into() },
    OrderSpec { name: "is_floating_cloud", key: |l, _| l.is_floating_cloud.into() },
    OrderSpec { name: "is_air_gapped", key: |l, _| l.is_air_gapped.into() },
    OrderSpec { name: "can_borrow", key: |l, _| l.can_borrow.into() },
    OrderSpec { name: "is_bundle", key: |l, _| l.is_bundle.into() },
    OrderSpec { name: "order", key: |l, _| l.order.into() },
    OrderSpec { name: "order_item", key: |l, _| l.order_item.into() },
    OrderSpec { name: "floating_in_use_devices", key: |l, ctx| FieldValue::Int(l.floating_in_use(ctx.now) as i64) },
    OrderSpec { name: "active_up_to_date_devices", key: |l, _| FieldValue::Int(l.devices.len() as i64) },
    OrderSpec { name: "total_active_devices", key: |l, _| FieldValue::Int(l.devices.len() as i64) },
    OrderSpec { name: "disabled_user", key: |_, _| FieldValue::Null },
    OrderSpec { name: "last_activation_device", key: |_, _| FieldValue::Null },
];

/// Query parameters with the aliases renamed to their twins, and the Go SDK's
/// `sort_descending=true` applied: it reverses the requested order (`created_at` by default).
pub fn canonical_pairs(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let descending = pairs.iter().any(|(name, value)| name == "sort_descending" && parse_bool(value) == Some(true));
    let mut pairs: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(name, _)| name != "sort_descending")
        .map(|(name, value)| match ALIASES.iter().find(|(alias, _)| *alias == name) {
            Some((_, canonical)) => (canonical.to_string(), value),
            None => (name, value),
        })
        .collect();
    if descending {
        match pairs.iter_mut().find(|(name, value)| name == "order_by" && !value.trim().is_empty()) {
            Some((_, field)) => {
                let field_name = field.trim().to_string();
                *field = match field_name.strip_prefix('-') {
                    Some(ascending) => ascending.to_string(),
                    None => format!("-{field_name}"),
                };
            }
            None => pairs.push(("order_by".into(), "-created_at".into())),
        }
    }
    pairs
}

pub fn parse_query(
    pairs: &[(String, String)],
    rules: ListRules,
) -> Result<ListQuery<'static, License, LicenseCtx>, ApiError> {
    ListQuery::parse(pairs, &FILTERS, ORDERS, rules)
}

/// The index reads a list needs, most selective first.
#[derive(Debug, Clone, PartialEq)]
pub enum AccessPath {
    Ids(Vec<Id>),
    Key(String),
    StoreId(String),
    Customer(Id),
    CustomerEmail(String),
    Products(Vec<Id>),
    /// Creation months from the first to the last (inclusive).
    Months(OffsetDateTime, OffsetDateTime),
}

/// Picks the access path for a query. Pure: `now` ends open ranges, the company's id (which
/// encodes its creation time) starts them.
pub fn plan(
    query: &ListQuery<'_, License, LicenseCtx>,
    principal: &Principal,
    catalog: &Catalog,
    now: OffsetDateTime,
) -> AccessPath {
    if let Some(ids) = query.ints_filter("id__in") {
        return AccessPath::Ids(ids.iter().filter(|id| **id > 0).map(|id| *id as Id).collect());
    }
    if let Some(key) = query.text_filter("license_key") {
        return AccessPath::Key(key.to_string());
    }
    if let Some(store_id) = query.text_filter("order__store_id") {
        return AccessPath::StoreId(store_id.to_string());
    }
    if let Some(id) = query.int_filter("customer__id") {
        return AccessPath::Customer(id.max(0) as Id);
    }
    if let Some(email) = query.text_filter("customer__email") {
        return AccessPath::CustomerEmail(email.to_string());
    }
    let by_code = |codes: &[String]| -> Vec<Id> {
        codes.iter().filter_map(|code| catalog.product_by_code(code)).map(|p| p.id).collect()
    };
    let products = if let Some(id) = query.int_filter("product__id") {
        Some(vec![id.max(0) as Id])
    } else if let Some(code) = query.text_filter("product__short_code") {
        Some(by_code(&[code.to_string()]))
    } else {
        query.texts_filter("product__short_code__in").map(by_code)
    };
    if let Some(products) = products {
        // Each product once: a code given twice must not read (and list) its licenses twice.
        let mut seen = std::collections::HashSet::new();
        return AccessPath::Products(
            products.into_iter().filter(|p| principal.can_access(*p) && seen.insert(*p)).collect(),
        );
    }
    let (from, to) = query.time_bounds("created_at");
    if from.is_some() || to.is_some() {
        let start = id_time(principal.company);
        return AccessPath::Months(from.unwrap_or(start).max(start), to.unwrap_or(now).min(now));
    }
    if let Some(products) = &principal.products {
        let mut products: Vec<Id> = products.iter().copied().collect();
        products.sort_unstable();
        return AccessPath::Products(products);
    }
    AccessPath::Months(id_time(principal.company), now)
}

/// The first day of every month from `from` to `to`, inclusive.
pub(super) fn months(from: OffsetDateTime, to: OffsetDateTime) -> Vec<OffsetDateTime> {
    let mut months = Vec::new();
    let mut month = from.replace_day(1).unwrap_or(from).replace_time(time::Time::MIDNIGHT);
    while month <= to {
        months.push(month);
        let next = if month.month() == time::Month::December {
            month.replace_year(month.year() + 1).and_then(|m| m.replace_month(time::Month::January))
        } else {
            month.replace_month(month.month().next())
        };
        let Ok(next) = next else { break };
        month = next;
    }
    months
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const STRICT: ListRules = ListRules { max_limit: 100, strict: true };

    fn query(q: &str) -> ListQuery<'static, License, LicenseCtx> {
        let pairs = canonical_pairs(form_urlencoded::parse(q.as_bytes()).into_owned().collect());
        parse_query(&pairs, STRICT).unwrap()
    }

    /// An admin of a company created 2026-01-15 (its id encodes the time).
    fn admin() -> Principal {
        Principal {
            company: crate::ids::first_id_at(datetime!(2026-01-15 0:00 UTC)),
            products: None,
            key_prefix: "admin".into(),
        }
    }

    fn catalog() -> Catalog {
        let now = datetime!(2026-01-15 0:00 UTC);
        let product = |id: Id, code: &str| crate::catalog::Product {
            id,
            product_name: code.into(),
            short_code: code.into(),
            authorization_method: "license-key".into(),
            is_bundle: false,
            bundle_products: vec![],
            max_activations: None,
            max_consumptions: 0,
            trial_days: 0,
            metadata: Default::default(),
            is_archived: false,
            created_at: now,
            updated_at: now,
        };
        Catalog { products: vec![product(7, "app"), product(8, "cli")], ..Default::default() }
    }

    #[test]
    fn the_most_selective_path_wins() {
        let now = datetime!(2026-03-10 0:00 UTC);
        let (p, c) = (admin(), catalog());
        let cases = [
            ("id__in=3,4&license_key=K&product__id=7", AccessPath::Ids(vec![3, 4])),
            ("license_key=K&customer__id=9", AccessPath::Key("K".into())),
            ("order__store_id=web-1&customer__id=9", AccessPath::StoreId("web-1".into())),
            ("customer_id=9&product_id=7", AccessPath::Customer(9)),
            ("customer_email=a@b.c&product_id=7", AccessPath::CustomerEmail("a@b.c".into())),
            ("product_short_code=app&enabled=true", AccessPath::Products(vec![7])),
            ("product__short_code__in=cli,app,nope", AccessPath::Products(vec![8, 7])),
            ("product__short_code__in=app,cli,app", AccessPath::Products(vec![7, 8])),
            (
                "created_at__gte=2026-02-01T00:00:00Z&note__icontains=x",
                AccessPath::Months(datetime!(2026-02-01 0:00 UTC), now),
            ),
            (
                "created_at__date__lte=2026-02-10",
                AccessPath::Months(datetime!(2026-01-15 0:00 UTC), datetime!(2026-02-11 0:00 UTC)),
            ),
            ("note__icontains=x", AccessPath::Months(datetime!(2026-01-15 0:00 UTC), now)),
        ];
        for (q, expected) in cases {
            assert_eq!(plan(&query(q), &p, &c, now), expected, "{q}");
        }
    }

    #[test]
    fn scoped_managers_read_their_products_only() {
        let now = datetime!(2026-03-10 0:00 UTC);
        let scoped = Principal { products: Some([8].into_iter().collect()), ..admin() };
        assert_eq!(plan(&query("enabled=true"), &scoped, &catalog(), now), AccessPath::Products(vec![8]));
        assert_eq!(plan(&query("product_id=7"), &scoped, &catalog(), now), AccessPath::Products(vec![]));
    }

    #[test]
    fn months_span_year_ends() {
        let got = months(datetime!(2025-11-20 5:00 UTC), datetime!(2026-02-01 0:00 UTC));
        let labels: Vec<String> = got.iter().map(|m| format!("{}-{:02}", m.year(), m.month() as u8)).collect();
        assert_eq!(labels, ["2025-11", "2025-12", "2026-01", "2026-02"]);
    }

    #[test]
    fn every_filter_of_the_contract_parses() {
        for param in [
            "license_key",
            "active",
            "order__store_id",
            "order__customer_account",
            "order__customer_account__name",
            "order__customer_account__code",
            "customer__id",
            "customer__email",
            "customer__account",
            "customer__account__name",
            "customer__account__code",
            "customer__account__description",
            "customer__account__phone",
            "customer__account__address",
            "customer__account__email",
            "customer__account__reference",
            "product__id",
            "product__short_code",
            "product_features__id",
            "product__authorization_method",
            "license_users__id",
            "license_users__true_email",
            "devices__hostname",
            "devices__hardware_id",
            "devices__os",
            "subscription_id",
            "license_template__id",
            "license_template__code",
            "license_user_group",
            "license_key__icontains",
            "order__store_id__icontains",
            "order__customer_account__name__icontains",
            "order__customer_account__code__icontains",
            "customer__email__icontains",
            "customer__company_name__icontains",
            "customer__name__icontains",
            "customer__reference__icontains",
            "customer__account__name__icontains",
            "customer__account__code__icontains",
            "customer__account__description__icontains",
            "customer__account__phone__icontains",
            "customer__account__address__icontains",
            "customer__account__email__icontains",
            "customer__account__reference__icontains",
            "product__product_name__icontains",
            "license_users__true_email__icontains",
            "devices__hostname__icontains",
            "devices__hardware_id__icontains",
            "devices__os__icontains",
            "license_template__code__icontains",
            "note__icontains",
            "license_key__startswith",
            "order__store_id__startswith",
            "license_key__isnull",
            "company",
            "manager__true_email",
            "manager__true_email__icontains",
            "product__short_code__in",
            "customer__label__in",
            "enabled",
            "is_any_floating",
            "is_air_gapped",
            "is_bundle",
            "bundle_license__isnull",
            "is_trial",
            "has_max_consumptions",
            "is_hardware_key_auth",
            "customer__account__isnull",
            "id__in",
            "validity_period__gt",
            "time_activated__date__lte",
            "updated_at__lt",
            "created_at__date__gte",
            "customer_id",
            "customer_email",
            "customer_email__icontains",
            "customer_company_name__icontains",
            "customer_name__icontains",
            "product_id",
            "product_short_code",
            "product_short_code__in",
            "product_name__icontains",
            "license_template_id",
        ] {
            let value = match param {
                p if p.ends_with("__in") => "1",
                p if p.contains("__gt") || p.contains("__lt") => "2026-01-01",
                p if p.ends_with("isnull") || p.starts_with("is_") || p.starts_with("has_") => "true",
                "active" | "enabled" => "false",
                p if p.ends_with("__id") || p.ends_with("_id") || p == "company" || p.ends_with("account") => "1",
                _ => "x",
            };
            let pairs = canonical_pairs(vec![(param.to_string(), value.to_string())]);
            assert!(parse_query(&pairs, STRICT).is_ok(), "{param}={value}");
        }
        let pairs = canonical_pairs(vec![("customer__nmae".to_string(), "x".to_string())]);
        assert!(parse_query(&pairs, STRICT).is_err());
    }
}

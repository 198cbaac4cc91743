//! The filters of API.md §7 as DynamoDB filter expressions (issue 12, item 3): what DynamoDB
//! can evaluate on the license item runs there, so only matches cross the wire. The pure
//! evaluator (`ListQuery::matches`) stays the reference and still checks every item read; a
//! property test requires both to pick the same licenses.
//!
//! Cost classes (README "Listing licenses: cost per filter"):
//! - *index*: the access path itself (`plan`), counted by a counter;
//! - *expression*: evaluated by DynamoDB over the path: the path is read (read capacity) but
//!   only matches are returned;
//! - *catalog*: resolved through the cached catalog into product or template ids, then an
//!   expression;
//! - *related*: needs the license's customer or order (their fields, accounts, labels), read in
//!   batches for the licenses of the path, and evaluated in memory;
//! - *none*: a filter that can never match (devices before the License API) reads nothing.

use time::OffsetDateTime;

use super::LicenseCtx;
use crate::catalog::Catalog;
use crate::ids::Id;
use crate::licenses::License;
use crate::listing::{ActiveFilter, FieldValue, Lookup, Wanted};
use crate::store::condition::{Comparison, Condition, Scalar, SearchAttribute, MAX_IN_VALUES};
use crate::timefmt::format_date;

/// Lowercased copies for `__icontains`, and emails joined for the to-many user filters.
pub const NOTE_LC: &str = "note_lc";
pub const LICENSE_KEY_LC: &str = "license_key_lc";
pub const ORDER_STORE_ID_LC: &str = "order_store_id_lc";
/// Every user's email, each between newlines (`\na@x\nb@y\n`), so that `contains` finds one
/// whole (`\nemail\n`) or by its start (`\nprefix`).
pub const USER_EMAILS: &str = "user_emails";
pub const USER_EMAILS_LC: &str = "user_emails_lc";
pub const MANAGER_EMAILS: &str = "manager_emails";
pub const MANAGER_EMAILS_LC: &str = "manager_emails_lc";
/// The active devices' hostnames, hardware ids and OS versions, joined as the emails are.
pub const DEVICE_HOSTNAMES: &str = "device_hostnames";
pub const DEVICE_HOSTNAMES_LC: &str = "device_hostnames_lc";
pub const DEVICE_HARDWARE_IDS: &str = "device_hardware_ids";
pub const DEVICE_HARDWARE_IDS_LC: &str = "device_hardware_ids_lc";
pub const DEVICE_OSES: &str = "device_oses";
pub const DEVICE_OSES_LC: &str = "device_oses_lc";
pub const FEATURE_IDS: &str = "feature_ids";
pub const USER_IDS: &str = "user_ids";
/// Times as epoch microseconds (their text, with an optional fraction, does not sort).
pub const CREATED_AT_US: &str = "created_at_us";
pub const UPDATED_AT_US: &str = "updated_at_us";
pub const TIME_ACTIVATED_US: &str = "time_activated_us";

const SEPARATOR: char = '\n';

pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

fn joined<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut text = String::from(SEPARATOR);
    let mut any = false;
    for value in values {
        text.push_str(value);
        text.push(SEPARATOR);
        any = true;
    }
    any.then_some(text)
}

/// One text field of a device.
type DeviceField = fn(&crate::licenses::Device) -> &str;

/// The attributes a license is written with for the expressions below.
pub fn search_attributes(l: &License) -> Vec<(&'static str, SearchAttribute)> {
    use SearchAttribute::*;
    let mut out = vec![
        (ORDER_STORE_ID_LC, Text(l.order_store_id.to_lowercase())),
        (CREATED_AT_US, Number(micros(l.created_at))),
        (UPDATED_AT_US, Number(micros(l.updated_at))),
        (FEATURE_IDS, NumberSet(l.features.iter().map(|f| f.feature as i64).collect())),
        (USER_IDS, NumberSet(l.users.iter().map(|u| u.id as i64).collect())),
    ];
    if let Some(note) = &l.note {
        out.push((NOTE_LC, Text(note.to_lowercase())));
    }
    if let Some(key) = &l.license_key {
        out.push((LICENSE_KEY_LC, Text(key.to_lowercase())));
    }
    if let Some(t) = l.time_activated {
        out.push((TIME_ACTIVATED_US, Number(micros(t))));
    }
    let emails = |managers_only: bool| {
        joined(l.users.iter().filter(|u| !managers_only || u.is_manager).map(|u| u.email.as_str()))
    };
    if let Some(all) = emails(false) {
        out.push((USER_EMAILS_LC, Text(all.to_lowercase())));
        out.push((USER_EMAILS, Text(all)));
    }
    if let Some(managers) = emails(true) {
        out.push((MANAGER_EMAILS_LC, Text(managers.to_lowercase())));
        out.push((MANAGER_EMAILS, Text(managers)));
    }
    let devices: [(&'static str, &'static str, DeviceField); 3] = [
        (DEVICE_HOSTNAMES, DEVICE_HOSTNAMES_LC, |d| d.hostname.as_str()),
        (DEVICE_HARDWARE_IDS, DEVICE_HARDWARE_IDS_LC, |d| d.hardware_id.as_str()),
        (DEVICE_OSES, DEVICE_OSES_LC, |d| d.os_ver.as_str()),
    ];
    for (attr, lowercase, field) in devices {
        if let Some(all) = joined(l.devices.iter().map(field)) {
            out.push((lowercase, Text(all.to_lowercase())));
            out.push((attr, Text(all)));
        }
    }
    out
}

/// How one filter is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    /// By DynamoDB.
    Expression(Condition),
    /// Every license matches (e.g. `company` = the caller's company).
    Always,
    /// No license matches: nothing needs reading.
    Never,
    /// In memory, with the license's customer or order.
    Related,
}

/// The filters of a query as one expression, and what is left for memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pushdown {
    pub condition: Option<Condition>,
    /// Some filter is evaluated in memory with related items.
    pub related: bool,
    /// Some filter never matches.
    pub never: bool,
}

/// Translates every active filter but those the access path answers itself (`answered`).
pub fn push_down(filters: &[ActiveFilter<'_, License, LicenseCtx>], ctx: &Context<'_>, answered: &[&str]) -> Pushdown {
    let mut pushdown = Pushdown::default();
    let mut conditions = Vec::new();
    for filter in filters.iter().filter(|f| !answered.contains(&f.param())) {
        match translate(filter.param(), filter.lookup(), filter.wanted(), ctx) {
            Translation::Expression(c) => conditions.push(c),
            Translation::Always => {}
            Translation::Never => pushdown.never = true,
            Translation::Related => pushdown.related = true,
        }
    }
    pushdown.condition = Condition::all(conditions);
    pushdown
}

/// What translating needs besides the filter.
pub struct Context<'a> {
    pub company: Id,
    pub catalog: &'a Catalog,
}

fn text(wanted: &Wanted) -> &str {
    match wanted {
        Wanted::Text(t) => t,
        _ => "",
    }
}

/// `attr IN ids`, `Never` for none, `Related` past DynamoDB's operand limit.
fn one_of(attr: &'static str, ids: Vec<Id>) -> Translation {
    match ids.len() {
        0 => Translation::Never,
        n if n > MAX_IN_VALUES => Translation::Related,
        1 => Translation::Expression(Condition::Equals(attr, Scalar::Number(ids[0] as i64))),
        _ => {
            Translation::Expression(Condition::In(attr, ids.into_iter().map(|id| Scalar::Number(id as i64)).collect()))
        }
    }
}

fn products_where(catalog: &Catalog, keep: impl Fn(&crate::catalog::Product) -> bool) -> Translation {
    one_of("product", catalog.products.iter().filter(|p| keep(p)).map(|p| p.id).collect())
}

fn templates_where(catalog: &Catalog, keep: impl Fn(&str) -> bool) -> Translation {
    one_of("license_template", catalog.templates.iter().filter(|t| keep(&t.code)).map(|t| t.id).collect())
}

fn contains_text(attr: &'static str, needle: String) -> Translation {
    Translation::Expression(Condition::Contains(attr, Scalar::Text(needle)))
}

/// A whole value, or a value's start, among the joined ones (emails, device fields); a value
/// never holds the separator, so a filter holding one matches nothing (as in memory).
fn among_joined(attr: &'static str, value: &str, whole: bool) -> Translation {
    if value.contains(SEPARATOR) {
        return Translation::Never;
    }
    let mut needle = format!("{SEPARATOR}{value}");
    if whole {
        needle.push(SEPARATOR);
    }
    contains_text(attr, needle)
}

fn comparison(lookup: Lookup) -> Option<Comparison> {
    use Lookup::*;
    match lookup {
        Gt | DateGt => Some(Comparison::Greater),
        Gte | DateGte => Some(Comparison::GreaterOrEqual),
        Lt | DateLt => Some(Comparison::Less),
        Lte | DateLte => Some(Comparison::LessOrEqual),
        _ => None,
    }
}

/// A time field (as epoch microseconds) against a wanted time; a `__date__` lookup compares
/// whole UTC days, which are ranges of microseconds.
fn time_condition(attr: &'static str, lookup: Lookup, wanted: OffsetDateTime) -> Option<Condition> {
    let day = wanted.replace_time(time::Time::MIDNIGHT);
    let next_day = micros(day + time::Duration::days(1));
    let (op, at) = match lookup {
        Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte => (comparison(lookup)?, micros(wanted)),
        Lookup::DateGt => (Comparison::GreaterOrEqual, next_day),
        Lookup::DateGte => (Comparison::GreaterOrEqual, micros(day)),
        Lookup::DateLt => (Comparison::Less, micros(day)),
        Lookup::DateLte => (Comparison::Less, next_day),
        _ => return None,
    };
    Some(Condition::Compare(attr, op, Scalar::Number(at)))
}

fn boolean(attr: &'static str, wanted: bool) -> Translation {
    Translation::Expression(Condition::Equals(attr, Scalar::Bool(wanted)))
}

/// One filter (its canonical parameter, lookup and parsed value).
pub fn translate(param: &str, lookup: Lookup, wanted: &Wanted, ctx: &Context<'_>) -> Translation {
    use Translation::*;
    let catalog = ctx.catalog;
    let w = text(wanted);
    let lower = w.to_lowercase();
    let flag = matches!(wanted, Wanted::Bool(true));
    let number = match wanted {
        Wanted::Int(n) => *n,
        _ => 0,
    };
    match (param, lookup) {
        ("license_key", Lookup::Exact) => Expression(Condition::Equals("license_key", Scalar::Text(w.into()))),
        ("license_key__icontains", _) => contains_text(LICENSE_KEY_LC, lower),
        ("license_key__startswith", _) => Expression(Condition::BeginsWith("license_key", w.into())),
        ("license_key__isnull", _) => null_check("license_key", flag),
        ("order__store_id", _) => Expression(Condition::Equals("order_store_id", Scalar::Text(w.into()))),
        ("order__store_id__icontains", _) => contains_text(ORDER_STORE_ID_LC, lower),
        ("order__store_id__startswith", _) => Expression(Condition::BeginsWith("order_store_id", w.into())),
        ("note__icontains", _) => contains_text(NOTE_LC, lower),
        ("subscription_id", _) => Expression(Condition::Equals("subscription_id", Scalar::Text(w.into()))),
        ("license_users__true_email", _) => among_joined(USER_EMAILS, w, true),
        ("license_users__true_email__startswith", _) => among_joined(USER_EMAILS, w, false),
        ("license_users__true_email__icontains", _) if !lower.contains(SEPARATOR) => {
            contains_text(USER_EMAILS_LC, lower)
        }
        ("manager__true_email", _) => among_joined(MANAGER_EMAILS, w, true),
        ("manager__true_email__icontains", _) if !lower.contains(SEPARATOR) => contains_text(MANAGER_EMAILS_LC, lower),
        ("license_users__true_email__icontains" | "manager__true_email__icontains", _) => Never,
        ("devices__hostname", _) => among_joined(DEVICE_HOSTNAMES, w, true),
        ("devices__hardware_id", _) => among_joined(DEVICE_HARDWARE_IDS, w, true),
        ("devices__os", _) => among_joined(DEVICE_OSES, w, true),
        ("devices__hostname__icontains", _) if !lower.contains(SEPARATOR) => contains_text(DEVICE_HOSTNAMES_LC, lower),
        ("devices__hardware_id__icontains", _) if !lower.contains(SEPARATOR) => {
            contains_text(DEVICE_HARDWARE_IDS_LC, lower)
        }
        ("devices__os__icontains", _) if !lower.contains(SEPARATOR) => contains_text(DEVICE_OSES_LC, lower),
        (p, _) if p.starts_with("devices__") => Never,
        ("license_user_group", _) => Never,
        ("is_hardware_key_auth", _) => {
            if flag {
                Never
            } else {
                Always
            }
        }
        ("company", _) => {
            if number == ctx.company as i64 {
                Always
            } else {
                Never
            }
        }
        ("product__id", _) => one_of("product", vec![number.max(0) as Id]),
        ("product__short_code", _) => products_where(catalog, |p| p.short_code == w),
        ("product__short_code__in", _) => match wanted {
            Wanted::Texts(codes) => products_where(catalog, |p| codes.contains(&p.short_code)),
            _ => Related,
        },
        ("product__authorization_method", _) => products_where(catalog, |p| p.authorization_method == w),
        ("product__product_name__icontains", _) => {
            products_where(catalog, |p| p.product_name.to_lowercase().contains(&lower))
        }
        ("license_template__code", _) => templates_where(catalog, |code| code == w),
        ("license_template__code__icontains", _) => {
            templates_where(catalog, |code| code.to_lowercase().contains(&lower))
        }
        ("license_template__id", _) => Expression(Condition::Equals("license_template", Scalar::Number(number))),
        ("customer__id", _) => Expression(Condition::Equals("customer", Scalar::Number(number))),
        ("product_features__id", _) => Expression(Condition::Contains(FEATURE_IDS, Scalar::Number(number))),
        ("license_users__id", _) => Expression(Condition::Contains(USER_IDS, Scalar::Number(number))),
        ("bundle_license__isnull", _) => null_check("bundle_parent", flag),
        ("active" | "enabled" | "is_air_gapped" | "is_bundle" | "is_trial", _) => boolean(bool_attribute(param), flag),
        ("is_any_floating", _) => {
            let either = Condition::Or(vec![
                Condition::Equals("is_floating", Scalar::Bool(true)),
                Condition::Equals("is_floating_cloud", Scalar::Bool(true)),
            ]);
            Expression(if flag { either } else { Condition::Not(Box::new(either)) })
        }
        ("has_max_consumptions", _) => {
            let op = if flag { Comparison::Greater } else { Comparison::LessOrEqual };
            Expression(Condition::Compare("max_consumptions", op, Scalar::Number(0)))
        }
        (p, lookup) if comparison(lookup).is_some() => match (p.split("__").next(), wanted) {
            (Some("validity_period"), Wanted::Time(t)) => Expression(Condition::Compare(
                "validity_period",
                comparison(lookup).unwrap_or(Comparison::Greater),
                Scalar::Text(format_date(t.date())),
            )),
            (Some(field), Wanted::Time(t)) => match time_attribute(field).and_then(|a| time_condition(a, lookup, *t)) {
                Some(c) => Expression(c),
                None => Related,
            },
            _ => Related,
        },
        _ => Related,
    }
}

fn bool_attribute(param: &str) -> &'static str {
    match param {
        "active" => "active",
        "enabled" => "enabled",
        "is_air_gapped" => "is_air_gapped",
        "is_bundle" => "is_bundle",
        _ => "is_trial",
    }
}

fn time_attribute(field: &str) -> Option<&'static str> {
    match field {
        "created_at" => Some(CREATED_AT_US),
        "updated_at" => Some(UPDATED_AT_US),
        "time_activated" => Some(TIME_ACTIVATED_US),
        _ => None,
    }
}

fn null_check(attr: &'static str, null: bool) -> Translation {
    let is_null = Condition::IsNull(attr);
    Translation::Expression(if null { is_null } else { Condition::Not(Box::new(is_null)) })
}

/// How an orderable field is stored, for a top-k threshold: only where DynamoDB's order of the
/// stored value is the order of `listing::compare` (numbers; text by UTF-8 bytes; dates as
/// `YYYY-MM-DD`; times as epoch microseconds).
fn stored_order(field: &str) -> Option<&'static str> {
    Some(match field {
        "max_activations" => "max_activations",
        "times_activated" => "times_activated",
        "max_consumptions" => "max_consumptions",
        "total_consumptions" => "total_consumptions",
        "max_overages" => "max_overages",
        "trial_days" => "trial_days",
        "floating_users" => "floating_users",
        "max_license_users" => "max_license_users",
        "transfer_count" => "transfer_count",
        "floating_timeout" => "floating_timeout",
        "max_transfers" => "max_transfers",
        "max_borrow_time" => "max_borrow_time",
        "license_key" => "license_key",
        "note" => "note",
        "order_store_id" => "order_store_id",
        "license_type" => "license_type",
        "valid_duration" => "valid_duration",
        "maintenance_duration" => "maintenance_duration",
        "subscription_id" => "subscription_id",
        "consumption_period" => "consumption_period",
        "validity_period" => "validity_period",
        "maintenance_period" => "maintenance_period",
        "updated_at" => UPDATED_AT_US,
        "time_activated" => TIME_ACTIVATED_US,
        _ => return None,
    })
}

/// A condition every license that could still enter a full top-k satisfies, given the key of
/// the worst one kept, when the path is read in the ranking's direction (later licenses then
/// lose ties on id, API.md §1): its key must be strictly better. Nulls sort first.
/// `None`: no such condition (read everything).
pub fn threshold(field: &str, worst: &FieldValue, descending: bool) -> Option<Condition> {
    let attr = stored_order(field)?;
    let value = match worst {
        // Descending, only a non-null key beats a null; ascending, nothing can (nulls come
        // first and later ones lose on id).
        FieldValue::Null if descending => return Some(Condition::Not(Box::new(Condition::IsNull(attr)))),
        FieldValue::Null => {
            return Some(Condition::And(vec![
                Condition::IsNull(attr),
                Condition::Not(Box::new(Condition::IsNull(attr))),
            ]))
        }
        FieldValue::Int(n) => Scalar::Number(*n),
        FieldValue::Text(t) => Scalar::Text(t.clone()),
        FieldValue::Date(d) => Scalar::Text(format_date(*d)),
        FieldValue::Time(t) => Scalar::Number(micros(*t)),
        _ => return None,
    };
    Some(if descending {
        Condition::Compare(attr, Comparison::Greater, value)
    } else {
        Condition::Or(vec![Condition::Compare(attr, Comparison::Less, value), Condition::IsNull(attr)])
    })
}

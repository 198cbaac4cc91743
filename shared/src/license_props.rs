//! License properties (API.md §4) as one table, read the same way wherever they appear:
//! license templates now, order licenses, CSV rows and feature overrides later. Values are
//! kept as canonical JSON (`"1y"`, `"2025-01-31"`, `"time-limited"`) keyed by property name, so
//! that layering explicit values over a template over product defaults is a map merge.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::input::{Input, LONG_TEXT, SHORT_TEXT};
use crate::timefmt::format_date;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// A non-negative integer.
    Count,
    /// `max_transfers`: a count, or -1 (the vendor's clients send it; stored as sent, API.md §4).
    Transfers,
    LicenseType,
    Duration,
    Date,
    ConsumptionPeriod,
    Text,
    Metadata,
}

/// Every license property of §4 a caller may set, with its kind.
pub const LICENSE_PROPERTIES: &[(&str, Kind)] = &[
    ("max_activations", Kind::Count),
    ("allow_unlimited_activations", Kind::Bool),
    ("license_type", Kind::LicenseType),
    ("valid_duration", Kind::Duration),
    ("validity_period", Kind::Date),
    ("start_date", Kind::Date),
    ("enable_maintenance_period", Kind::Bool),
    ("maintenance_duration", Kind::Duration),
    ("maintenance_period", Kind::Date),
    ("is_trial", Kind::Bool),
    ("trial_days", Kind::Count),
    ("prevent_vm", Kind::Bool),
    ("max_transfers", Kind::Transfers),
    ("max_consumptions", Kind::Count),
    ("allow_overages", Kind::Bool),
    ("max_overages", Kind::Count),
    ("reset_consumption", Kind::Bool),
    ("consumption_period", Kind::ConsumptionPeriod),
    ("is_floating", Kind::Bool),
    ("is_floating_cloud", Kind::Bool),
    ("floating_users", Kind::Count),
    ("floating_timeout", Kind::Count),
    ("can_borrow", Kind::Bool),
    ("max_borrow_time", Kind::Count),
    ("max_license_users", Kind::Count),
    ("is_air_gapped", Kind::Bool),
    ("subscription_id", Kind::Text),
    ("note", Kind::Text),
    ("metadata", Kind::Metadata),
];

/// Per-license overrides of a product feature (seed 003).
pub const FEATURE_OVERRIDES: &[(&str, Kind)] = &[
    ("max_consumption", Kind::Count),
    ("total_consumptions", Kind::Count),
    ("expiry_date", Kind::Date),
    ("allow_overages", Kind::Bool),
    ("max_overages", Kind::Count),
    ("reset_consumption", Kind::Bool),
    ("consumption_period", Kind::ConsumptionPeriod),
    ("metadata", Kind::Metadata),
    ("is_floating", Kind::Bool),
    ("is_floating_cloud", Kind::Bool),
    ("floating_users", Kind::Count),
    ("floating_timeout", Kind::Count),
];

/// Other names the vendor's pages use for a property.
const ALIASES: &[(&str, &str)] = &[("enable_maintenance_duration", "enable_maintenance_period")];

pub const LICENSE_TYPES: &[(&str, &str)] = &[
    ("perpetual", "perpetual"),
    ("time-limited", "time-limited"),
    ("time_limited", "time-limited"),
    ("consumption", "consumption"),
    ("subscription", "subscription"),
];

/// The seeds spell some periods differently; they all read as the canonical four, which are
/// the vendor's own spellings (`annualy` included: its clients compare the value they sent).
pub const CONSUMPTION_PERIODS: &[(&str, &str)] = &[
    ("daily", "daily"),
    ("day", "daily"),
    ("weekly", "weekly"),
    ("week", "weekly"),
    ("monthly", "monthly"),
    ("month", "monthly"),
    ("annualy", "annualy"),
    ("annually", "annualy"),
    ("year", "annualy"),
    ("yearly", "annualy"),
];

/// Largest count accepted (fits every client's integer type).
const MAX_COUNT: i64 = i32::MAX as i64;

/// Properties that were given, by name, as canonical JSON (`null` = explicitly cleared).
pub type Props = BTreeMap<String, Value>;

/// Reads the properties of `table` present in `input` (aliases included). Problems go to the
/// input's errors; a property with a problem is left out.
pub fn read(input: &mut Input, table: &[(&str, Kind)]) -> Props {
    let mut props = Props::new();
    for (name, kind) in table {
        let alias = ALIASES.iter().find(|(_, canonical)| canonical == name).map(|(alias, _)| *alias);
        let given = if input.has(name) { Some(*name) } else { alias.filter(|a| input.has(a)) };
        let Some(given) = given else { continue };
        if let Some(value) = read_one(input, given, *kind) {
            props.insert(name.to_string(), value);
        }
    }
    props
}

fn read_one(input: &mut Input, name: &str, kind: Kind) -> Option<Value> {
    if input.raw(name).is_some_and(Value::is_null) {
        return Some(if kind == Kind::Metadata { Value::Object(Map::new()) } else { Value::Null });
    }
    match kind {
        Kind::Bool => input.bool(name).map(Value::Bool),
        Kind::Count => input.int(name, 0, MAX_COUNT).map(Value::from),
        Kind::Transfers => input.int(name, -1, MAX_COUNT).map(Value::from),
        Kind::LicenseType => input.choice(name, LICENSE_TYPES).map(Value::from),
        Kind::ConsumptionPeriod => input.choice(name, CONSUMPTION_PERIODS).map(Value::from),
        Kind::Duration => input.duration(name).flatten().map(|d| Value::from(d.to_string())),
        Kind::Date => input.date(name).flatten().map(|d| Value::from(format_date(d))),
        Kind::Text => {
            let max = if name == "subscription_id" { SHORT_TEXT } else { LONG_TEXT };
            input.string(name, max).map(Value::from)
        }
        Kind::Metadata => input.metadata(name).map(Value::Object),
    }
}

/// Typed reads of a layered property map (absent or `null` → the default).
pub fn bool_of(props: &Props, name: &str, default: bool) -> bool {
    props.get(name).and_then(Value::as_bool).unwrap_or(default)
}

pub fn int_of(props: &Props, name: &str) -> Option<i64> {
    props.get(name).and_then(Value::as_i64)
}

pub fn text_of(props: &Props, name: &str) -> Option<String> {
    props.get(name).and_then(Value::as_str).map(str::to_string)
}

/// `props` as a JSON object with every property of `table`, `null` where not given.
pub fn render(props: &Props, table: &[(&str, Kind)]) -> Map<String, Value> {
    table.iter().map(|(name, _)| (name.to_string(), props.get(*name).cloned().unwrap_or(Value::Null))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldErrors;
    use serde_json::json;

    fn read_json(body: Value) -> (Props, FieldErrors) {
        let obj = body.as_object().unwrap().clone();
        let mut errors = FieldErrors::default();
        let props = read(&mut Input::new(&obj, &mut errors), LICENSE_PROPERTIES);
        (props, errors)
    }

    #[test]
    fn canonical_values() {
        let (props, errors) = read_json(json!({
            "license_type": "Time-Limited",
            "valid_duration": "1y",
            "validity_period": "2025-01-31 10:00:00",
            "max_activations": "5",
            "prevent_vm": "TRUE",
            "consumption_period": "annualy",
            "enable_maintenance_duration": true,
            "metadata": "{\"a\": 1}",
            "note": null,
            "unrelated": 1
        }));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            Value::Object(props.into_iter().collect()),
            json!({
                "license_type": "time-limited",
                "valid_duration": "1y",
                "validity_period": "2025-01-31",
                "max_activations": 5,
                "prevent_vm": true,
                "consumption_period": "annualy",
                "enable_maintenance_period": true,
                "metadata": {"a": 1},
                "note": null
            })
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let (props, errors) = read_json(json!({
            "license_type": "forever", "valid_duration": "1 year", "max_activations": -1,
            "validity_period": "soon", "is_trial": "nope"
        }));
        assert!(props.is_empty());
        assert_eq!(
            errors.fields().collect::<Vec<_>>(),
            ["is_trial", "license_type", "max_activations", "valid_duration", "validity_period"]
        );
    }

    #[test]
    fn render_lists_every_property() {
        let mut props = Props::new();
        props.insert("is_trial".into(), json!(true));
        let rendered = render(&props, LICENSE_PROPERTIES);
        assert_eq!(rendered.len(), LICENSE_PROPERTIES.len());
        assert_eq!(rendered["is_trial"], json!(true));
        assert_eq!(rendered["max_activations"], Value::Null);
    }
}

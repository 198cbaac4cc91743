//! Reading JSON request bodies the way the vendor's clients send them: lenient scalars
//! (`"true"`, `"12"`), strict sizes and types, every problem reported under its dotted field path.

use serde_json::{Map, Value};

use crate::duration::LicenseDuration;
use crate::error::FieldErrors;
use crate::ids::Id;
use crate::timefmt;

/// Codes, ids, keys, emails and names.
pub const SHORT_TEXT: usize = 255;
/// Every other string.
pub const LONG_TEXT: usize = 4_000;
/// `metadata`, serialized.
pub const METADATA_BYTES: usize = 32 * 1024;

pub const REQUIRED: &str = "This field is required.";
pub const NOT_NULL: &str = "This field may not be null.";
pub const BLANK: &str = "This field may not be blank.";
const NOT_INTEGER: &str = "A valid integer is required.";
const NOT_BOOLEAN: &str = "Must be a valid boolean.";
const NOT_STRING: &str = "Not a valid string.";

/// One JSON object being read, with the path prefix its errors are reported under.
pub struct Input<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    errors: &'a mut FieldErrors,
}

impl<'a> Input<'a> {
    pub fn new(obj: &'a Map<String, Value>, errors: &'a mut FieldErrors) -> Self {
        Self::nested(obj, String::new(), errors)
    }

    /// `prefix` is the dotted path of `obj` itself, e.g. `items.0.licenses.1`.
    pub fn nested(obj: &'a Map<String, Value>, prefix: String, errors: &'a mut FieldErrors) -> Self {
        let prefix = if prefix.is_empty() { prefix } else { format!("{prefix}.") };
        Self { obj, prefix, errors }
    }

    /// The reader of an object nested in this one at `name` (e.g. `product_features.2`).
    pub fn child<'b>(&'b mut self, obj: &'b Map<String, Value>, name: &str) -> Input<'b> {
        let prefix = self.path(name);
        Input::nested(obj, prefix, &mut *self.errors)
    }

    pub fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        let path = self.path(name);
        self.errors.add(path, message);
    }

    pub fn has(&self, name: &str) -> bool {
        self.obj.contains_key(name)
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name)
    }

    /// An optional object field: `None` when absent, `null` or `{}` (Go clients send unset
    /// structs as `{}`: API.md §1); `Some(value)` otherwise, object or not, for the caller to
    /// check.
    pub fn given_object(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
    }

    /// Present and not null.
    fn value(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// A string (numbers are taken as their text, as DRF does), at most `max` characters.
    pub fn string(&mut self, name: &str, max: usize) -> Option<String> {
        let text = match self.value(name)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                self.error(name, NOT_STRING);
                return None;
            }
        };
        if text.chars().count() > max {
            self.error(name, format!("Ensure this field has no more than {max} characters."));
            return None;
        }
        Some(text)
    }

    /// A string that must be present and not blank.
    pub fn required_string(&mut self, name: &str, max: usize) -> Option<String> {
        match self.obj.get(name) {
            None => self.error(name, REQUIRED),
            Some(Value::Null) => self.error(name, NOT_NULL),
            Some(_) => match self.string(name, max) {
                Some(s) if s.trim().is_empty() => self.error(name, BLANK),
                other => return other,
            },
        }
        None
    }

    /// `required_string` when creating, `string` when patching (absent means unchanged).
    pub fn text(&mut self, name: &str, max: usize, required: bool) -> Option<String> {
        if required {
            return self.required_string(name, max);
        }
        match self.obj.get(name) {
            Some(Value::Null) => {
                self.error(name, NOT_NULL);
                None
            }
            Some(_) => match self.string(name, max) {
                Some(s) if s.trim().is_empty() => {
                    self.error(name, BLANK);
                    None
                }
                other => other,
            },
            None => None,
        }
    }

    /// A plausible email address (one `@`, something on each side, no spaces).
    pub fn email(&mut self, name: &str, required: bool) -> Option<String> {
        let email = self.text(name, SHORT_TEXT, required)?.trim().to_string();
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !email.contains(char::is_whitespace)
            }
            None => false,
        };
        if !valid {
            self.error(name, "Enter a valid email address.");
            return None;
        }
        Some(email)
    }

    /// Absent → `None`; `null` → `Some(None)`; a string → `Some(Some(s))`.
    pub fn nullable_string(&mut self, name: &str, max: usize) -> Option<Option<String>> {
        match self.obj.get(name)? {
            Value::Null => Some(None),
            _ => self.string(name, max).map(Some),
        }
    }

    /// A boolean, or `"true"`/`"false"` in any case (also `1`/`0`, as DRF reads them).
    pub fn bool(&mut self, name: &str) -> Option<bool> {
        let parsed = match self.value(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => parse_bool(s),
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.error(name, NOT_BOOLEAN);
        }
        parsed
    }

    /// An integer or a string of digits, within `min..=max`.
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let parsed = match self.value(name)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => parse_int(s),
            _ => None,
        };
        let Some(n) = parsed else {
            self.error(name, NOT_INTEGER);
            return None;
        };
        if n < min {
            self.error(name, format!("Ensure this value is greater than or equal to {min}."));
            None
        } else if n > max {
            self.error(name, format!("Ensure this value is less than or equal to {max}."));
            None
        } else {
            Some(n)
        }
    }

    /// Absent → `None`; `null` → `Some(None)`.
    pub fn nullable_int(&mut self, name: &str, min: i64, max: i64) -> Option<Option<i64>> {
        match self.obj.get(name)? {
            Value::Null => Some(None),
            _ => self.int(name, min, max).map(Some),
        }
    }

    /// An object id: a positive integer or a string of digits.
    pub fn id(&mut self, name: &str) -> Option<Id> {
        self.int(name, 1, i64::MAX).map(|n| n as Id)
    }

    /// An id that must be given (absent and `null` are errors).
    pub fn required_id(&mut self, name: &str) -> Option<Id> {
        match self.obj.get(name) {
            None => self.error(name, REQUIRED),
            Some(Value::Null) => self.error(name, NOT_NULL),
            Some(_) => return self.id(name),
        }
        None
    }

    /// One of `choices`, each `(accepted spelling, canonical value)`; matched case-insensitively.
    pub fn choice(&mut self, name: &str, choices: &[(&str, &'static str)]) -> Option<&'static str> {
        let text = self.string(name, SHORT_TEXT)?;
        let found = choices
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(text.trim()))
            .map(|(_, canonical)| *canonical);
        if found.is_none() {
            self.error(name, format!("\"{text}\" is not a valid choice."));
        }
        found
    }

    /// Absent → `None`; `null` → `Some(None)`.
    pub fn nullable_choice(&mut self, name: &str, choices: &[(&str, &'static str)]) -> Option<Option<&'static str>> {
        match self.obj.get(name)? {
            Value::Null => Some(None),
            _ => self.choice(name, choices).map(Some),
        }
    }

    /// Absent → `None`; `null` → `Some(None)`.
    pub fn duration(&mut self, name: &str) -> Option<Option<LicenseDuration>> {
        match self.obj.get(name)? {
            Value::Null => Some(None),
            _ => {
                let text = self.string(name, SHORT_TEXT)?;
                match text.trim().parse() {
                    Ok(d) => Some(Some(d)),
                    Err(help) => {
                        self.error(name, help);
                        None
                    }
                }
            }
        }
    }

    /// A date (`YYYY-M-D`, or a date-time whose date part is used). Absent, `""` or Go's zero
    /// time → `None` (not given, API.md §1); `null` → `Some(None)`.
    pub fn date(&mut self, name: &str) -> Option<Option<time::Date>> {
        match self.obj.get(name)? {
            Value::Null => Some(None),
            _ => {
                let text = self.string(name, SHORT_TEXT)?;
                if timefmt::is_unset(&text) {
                    return None;
                }
                let parsed = timefmt::parse_date(&text);
                if parsed.is_none() {
                    self.error(name, "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
                }
                parsed.map(Some)
            }
        }
    }

    /// A date-time as Django reads it (see `timefmt::parse_time`). `""` or Go's zero time →
    /// `None`: not given (API.md §1).
    pub fn time(&mut self, name: &str) -> Option<time::OffsetDateTime> {
        let text = self.string(name, SHORT_TEXT)?;
        if timefmt::is_unset(&text) {
            return None;
        }
        let parsed = timefmt::parse_time(&text);
        if parsed.is_none() {
            self.error(
                name,
                "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm:ssZ, YYYY-MM-DD hh:mm:ss.",
            );
        }
        parsed
    }

    /// A JSON object, or a string holding one (the vendor's documented form). `null` reads as `{}`.
    pub fn metadata(&mut self, name: &str) -> Option<Map<String, Value>> {
        let parsed = match self.obj.get(name)? {
            Value::Null => Ok(Map::new()),
            Value::Object(map) => Ok(map.clone()),
            Value::String(text) if text.trim().is_empty() => Ok(Map::new()),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("Metadata must be a JSON object."),
                Err(_) => Err("Value must be valid JSON."),
            },
            _ => Err("Metadata must be a JSON object."),
        };
        match parsed {
            Ok(map) if serde_json::to_string(&map).map_or(0, |s| s.len()) > METADATA_BYTES => {
                self.error(name, format!("Ensure metadata has no more than {METADATA_BYTES} bytes."));
                None
            }
            Ok(map) => Some(map),
            Err(message) => {
                self.error(name, message);
                None
            }
        }
    }

    /// A list of at most `max_items` values.
    pub fn list(&mut self, name: &str, max_items: usize) -> Option<&'a Vec<Value>> {
        match self.value(name)? {
            Value::Array(items) if items.len() <= max_items => Some(items),
            Value::Array(_) => {
                self.error(name, format!("Ensure this field has no more than {max_items} elements."));
                None
            }
            _ => {
                self.error(name, "Expected a list of items.");
                None
            }
        }
    }

    /// The objects of `items` (the list at `name`) with their paths (`name.i`); any other
    /// element is reported.
    pub fn objects<'v>(&mut self, name: &str, items: &'v [Value]) -> Vec<(String, &'v Map<String, Value>)> {
        let mut objects = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{name}.{i}");
            match item.as_object() {
                Some(obj) => objects.push((path, obj)),
                None => self.error(&path, "Expected an object."),
            }
        }
        objects
    }

    /// A list of strings (each at most `max_len` characters).
    pub fn string_list(&mut self, name: &str, max_items: usize, max_len: usize) -> Option<Vec<String>> {
        let items = self.list(name, max_items)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if s.chars().count() <= max_len => out.push(s.clone()),
                Value::String(_) => self
                    .error(&format!("{name}.{i}"), format!("Ensure this field has no more than {max_len} characters.")),
                _ => self.error(&format!("{name}.{i}"), NOT_STRING),
            }
        }
        (out.len() == items.len()).then_some(out)
    }
}

/// `true`/`false` in any case, `1`/`0`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// An optional `-` and digits only.
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read<T>(body: Value, f: impl FnOnce(&mut Input) -> T) -> (T, FieldErrors) {
        let obj = body.as_object().unwrap().clone();
        let mut errors = FieldErrors::default();
        let out = f(&mut Input::nested(&obj, "items.0".into(), &mut errors));
        (out, errors)
    }

    #[test]
    fn lenient_scalars() {
        let (got, errors) = read(json!({"a": "TRUE", "b": "false", "c": "12", "d": 7, "e": 1}), |i| {
            (i.bool("a"), i.bool("b"), i.int("c", 0, 100), i.int("d", 0, 100), i.bool("e"))
        });
        assert!(errors.is_empty());
        assert_eq!(got, (Some(true), Some(false), Some(12), Some(7), Some(true)));
    }

    #[test]
    fn errors_carry_the_dotted_path() {
        let (_, errors) = read(json!({"n": "1.5", "b": "yes", "s": [1]}), |i| {
            i.int("n", 0, 10);
            i.bool("b");
            i.string("s", 10);
            i.required_string("missing", 10);
        });
        let fields: Vec<&str> = errors.fields().collect();
        assert_eq!(fields, ["items.0.b", "items.0.missing", "items.0.n", "items.0.s"]);
    }

    #[test]
    fn bounds_and_sizes() {
        let long = "x".repeat(256);
        let (got, errors) = read(json!({"n": -1, "s": long, "ok": "é".repeat(255)}), |i| {
            (i.int("n", 0, 10), i.string("s", 255), i.string("ok", 255))
        });
        assert_eq!(got.0, None);
        assert_eq!(got.1, None);
        assert!(got.2.is_some());
        assert_eq!(errors.fields().count(), 2);
    }

    #[test]
    fn metadata_accepts_object_or_json_string() {
        let (got, errors) = read(
            json!({"a": "{ \"flower\": \"license\" }", "b": {"x": 1}, "c": "[1]", "d": "{nope", "e": null}),
            |i| (i.metadata("a"), i.metadata("b"), i.metadata("c"), i.metadata("d"), i.metadata("e")),
        );
        assert_eq!(got.0.unwrap()["flower"], "license");
        assert_eq!(got.1.unwrap()["x"], 1);
        assert!(got.2.is_none() && got.3.is_none());
        assert_eq!(got.4, Some(Map::new()));
        assert_eq!(errors.fields().collect::<Vec<_>>(), ["items.0.c", "items.0.d"]);
    }

    #[test]
    fn oversized_metadata_is_refused() {
        let big = json!({"m": {"k": "v".repeat(METADATA_BYTES)}});
        let (got, errors) = read(big, |i| i.metadata("m"));
        assert!(got.is_none());
        assert!(!errors.is_empty());
    }

    #[test]
    fn nullable_fields_tell_absent_from_null() {
        let (got, _) = read(json!({"a": null, "d": "3m"}), |i| {
            (i.nullable_string("a", 5), i.nullable_string("b", 5), i.duration("d"), i.duration("x"))
        });
        assert_eq!(got.0, Some(None));
        assert_eq!(got.1, None);
        assert_eq!(got.2.unwrap().unwrap().to_string(), "3m");
        assert_eq!(got.3, None);
    }

    #[test]
    fn choices_are_case_insensitive_and_canonical() {
        let choices = [("daily", "daily"), ("annualy", "annually"), ("year", "annually")];
        let (got, errors) =
            read(json!({"a": "Annualy", "b": "hourly"}), |i| (i.choice("a", &choices), i.choice("b", &choices)));
        assert_eq!(got, (Some("annually"), None));
        assert_eq!(errors.fields().collect::<Vec<_>>(), ["items.0.b"]);
    }
}

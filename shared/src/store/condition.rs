//! Conditions DynamoDB evaluates on an item (`FilterExpression`s, API.md §9), built from typed
//! parts so that no attribute name or value is ever spliced into expression text: every name
//! becomes a `#n<i>` placeholder and every value a `:v<i>` one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// A value a condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Number(i64),
    Bool(bool),
}

/// A comparison operator of DynamoDB's condition grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// A condition on one item's attributes (top-level attributes only).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `attr = value` (false when the attribute is absent or of another type).
    Equals(&'static str, Scalar),
    Compare(&'static str, Comparison, Scalar),
    /// `begins_with(attr, text)`.
    BeginsWith(&'static str, String),
    /// `contains(attr, value)`: a substring of a text attribute, or an element of a set.
    Contains(&'static str, Scalar),
    /// `attr IN (values)`; DynamoDB takes at most 100 values.
    In(&'static str, Vec<Scalar>),
    /// The attribute is absent or `NULL`.
    IsNull(&'static str),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

/// An attribute written beside an entity's own fields for conditions to evaluate (a lowercased
/// copy for `contains`, a time as a number, ids as a set); see `Entity::search_attributes`.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchAttribute {
    Text(String),
    Number(i64),
    /// Written only when not empty (DynamoDB has no empty sets).
    NumberSet(Vec<i64>),
}

impl SearchAttribute {
    pub(super) fn value(&self) -> Option<AttributeValue> {
        match self {
            SearchAttribute::Text(text) => Some(AttributeValue::S(text.clone())),
            SearchAttribute::Number(n) => Some(AttributeValue::N(n.to_string())),
            SearchAttribute::NumberSet(ns) if ns.is_empty() => None,
            SearchAttribute::NumberSet(ns) => Some(AttributeValue::Ns(ns.iter().map(i64::to_string).collect())),
        }
    }
}

/// Most operands DynamoDB accepts in one `IN`.
pub const MAX_IN_VALUES: usize = 100;

impl Condition {
    /// The conditions joined with AND (`None` for none).
    pub fn all(mut conditions: Vec<Condition>) -> Option<Condition> {
        match conditions.len() {
            0 => None,
            1 => conditions.pop(),
            _ => Some(Condition::And(conditions)),
        }
    }
}

/// A condition rendered as expression text with its placeholders.
#[derive(Debug, Default)]
pub struct Rendered {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Rendered {
    /// The placeholder of an attribute name (one per distinct name).
    pub fn name(&mut self, attr: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, name)| name.as_str() == attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    /// A new placeholder for a value.
    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn scalar(&mut self, scalar: &Scalar) -> String {
        self.value(match scalar {
            Scalar::Text(text) => AttributeValue::S(text.clone()),
            Scalar::Number(n) => AttributeValue::N(n.to_string()),
            Scalar::Bool(b) => AttributeValue::Bool(*b),
        })
    }

    /// Renders `condition` into this set of placeholders and returns its text.
    pub fn render(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::Equals(attr, value) => format!("{} = {}", self.name(attr), self.scalar(value)),
            Condition::Compare(attr, op, value) => {
                let op = match op {
                    Comparison::Less => "<",
                    Comparison::LessOrEqual => "<=",
                    Comparison::Greater => ">",
                    Comparison::GreaterOrEqual => ">=",
                };
                format!("{} {op} {}", self.name(attr), self.scalar(value))
            }
            Condition::BeginsWith(attr, prefix) => {
                format!("begins_with({}, {})", self.name(attr), self.scalar(&Scalar::Text(prefix.clone())))
            }
            Condition::Contains(attr, value) => format!("contains({}, {})", self.name(attr), self.scalar(value)),
            Condition::In(attr, values) => {
                let list: Vec<String> = values.iter().map(|v| self.scalar(v)).collect();
                format!("{} IN ({})", self.name(attr), list.join(", "))
            }
            Condition::IsNull(attr) => {
                let name = self.name(attr);
                let null = self.value(AttributeValue::S("NULL".into()));
                format!("(attribute_not_exists({name}) OR attribute_type({name}, {null}))")
            }
            Condition::Not(inner) => format!("(NOT {})", self.render(inner)),
            Condition::And(parts) => self.join(parts, " AND "),
            Condition::Or(parts) => self.join(parts, " OR "),
        }
    }

    fn join(&mut self, parts: &[Condition], with: &str) -> String {
        let texts: Vec<String> = parts.iter().map(|p| self.render(p)).collect();
        format!("({})", texts.join(with))
    }

    /// Renders a condition as the whole expression.
    pub fn of(condition: &Condition) -> Rendered {
        let mut rendered = Rendered::default();
        rendered.expression = rendered.render(condition);
        rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_placeholders() {
        let condition = Condition::And(vec![
            Condition::Equals("order", Scalar::Number(7)),
            Condition::Or(vec![
                Condition::Contains("note_lc", Scalar::Text("a) OR x".into())),
                Condition::IsNull("order"),
            ]),
            Condition::In("product", vec![Scalar::Number(1), Scalar::Number(2)]),
        ]);
        let rendered = Rendered::of(&condition);
        assert_eq!(
            rendered.expression,
            "(#n0 = :v0 AND (contains(#n1, :v1) OR (attribute_not_exists(#n0) OR attribute_type(#n0, :v2))) \
             AND #n2 IN (:v3, :v4))"
        );
        assert_eq!(rendered.names["#n0"], "order");
        assert_eq!(rendered.values[":v1"], AttributeValue::S("a) OR x".into()));
        assert_eq!(rendered.values.len(), 5);
    }
}

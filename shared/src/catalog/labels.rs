//! Customer labels: created on first use of their name (by customers, orders, imports).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::Id;
use crate::store::{Entity, UniqueKey};
use crate::timefmt::rfc3339;

/// Colours new labels take in turn, from the vendor's palette.
const PALETTE: &[&str] = &["#ff9f43", "#3a0cd4", "#28c76f", "#ea5455", "#00cfe8", "#7367f0"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Label {
    pub id: Id,
    /// Unique within the company, case-insensitively.
    pub name: String,
    pub color: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Label {
    pub fn new(id: Id, name: &str, now: OffsetDateTime) -> Self {
        let color = PALETTE[(id % PALETTE.len() as u64) as usize].to_string();
        Label { id, name: name.to_string(), color, created_at: now, updated_at: now }
    }

    /// The form names are unique in (Unicode lowercase): "Äpfel" and "äpfel" are one label.
    pub fn folded(name: &str) -> String {
        name.to_lowercase()
    }
}

impl Entity for Label {
    const KIND: &'static str = "LABEL";
    const NAME: &'static str = "label";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![UniqueKey { kind: "LABEL_NAME", scope: "-".into(), value: Label::folded(&self.name), field: "labels" }]
    }
}

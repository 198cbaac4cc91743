//! Customer accounts: `/api/v1/customer-accounts/`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{Catalog, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::Id;
use crate::input::{Input, LONG_TEXT, SHORT_TEXT};
use crate::listing::{FilterSpec, Lookup, OrderSpec};
use crate::store::{Entity, UniqueKey};
use crate::timefmt::{format_time, rfc3339};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerAccount {
    pub id: Id,
    pub name: String,
    /// Unique within the company; orders and customers link by it.
    pub code: String,
    pub description: String,
    pub phone: String,
    pub address: String,
    pub email: String,
    pub reference: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for CustomerAccount {
    const KIND: &'static str = "ACCOUNT";
    const NAME: &'static str = "customer account";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![UniqueKey { kind: "ACCOUNT_CODE", scope: "-".into(), value: self.code.clone(), field: "code" }]
    }
}

static FILTERS: &[FilterSpec<CustomerAccount, Catalog>] = &[
    FilterSpec { param: "name", lookup: Lookup::Exact, field: |a, _| (&a.name).into() },
    FilterSpec { param: "name__icontains", lookup: Lookup::IContains, field: |a, _| (&a.name).into() },
    FilterSpec { param: "code", lookup: Lookup::Exact, field: |a, _| (&a.code).into() },
    FilterSpec { param: "code__icontains", lookup: Lookup::IContains, field: |a, _| (&a.code).into() },
];

static ORDERS: &[OrderSpec<CustomerAccount, Catalog>] = &[
    OrderSpec { name: "id", key: |a, _| a.id.into() },
    OrderSpec { name: "created_at", key: |a, _| a.id.into() },
    OrderSpec { name: "name", key: |a, _| (&a.name).into() },
    OrderSpec { name: "code", key: |a, _| (&a.code).into() },
];

/// The free-text fields and their size limits.
const TEXT_FIELDS: &[(&str, usize)] = &[
    ("description", LONG_TEXT),
    ("phone", SHORT_TEXT),
    ("address", LONG_TEXT),
    ("email", SHORT_TEXT),
    ("reference", SHORT_TEXT),
];

impl CustomerAccount {
    fn text_field(&mut self, name: &str) -> &mut String {
        match name {
            "description" => &mut self.description,
            "phone" => &mut self.phone,
            "address" => &mut self.address,
            "email" => &mut self.email,
            _ => &mut self.reference,
        }
    }
}

impl Resource for CustomerAccount {
    const PATH: &'static str = "customer-accounts";

    fn product(&self) -> Option<Id> {
        None
    }

    const FILTERS: &'static [FilterSpec<Self, Catalog>] = FILTERS;
    const ORDERS: &'static [OrderSpec<Self, Catalog>] = ORDERS;

    fn blank(id: Id, now: OffsetDateTime) -> Self {
        CustomerAccount {
            id,
            name: String::new(),
            code: String::new(),
            description: String::new(),
            phone: String::new(),
            address: String::new(),
            email: String::new(),
            reference: String::new(),
            created_at: now,
            updated_at: now,
        }
    }

    fn read(mut self, input: &mut Input, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        if let Some(name) = input.text("name", SHORT_TEXT, ctx.creating) {
            self.name = name;
        }
        if let Some(code) = input.text("code", SHORT_TEXT, ctx.creating) {
            self.code = code.trim().to_string();
        }
        for (name, max) in TEXT_FIELDS {
            if let Some(value) = input.nullable_string(name, *max) {
                *self.text_field(name) = value.unwrap_or_default();
            }
        }
        Ok(self)
    }

    fn set_updated_at(&mut self, now: OffsetDateTime) {
        self.updated_at = now;
    }

    fn render(&self, _: &Catalog) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "code": self.code,
            "description": self.description,
            "phone": self.phone,
            "address": self.address,
            "email": self.email,
            "reference": self.reference,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        })
    }

    fn in_catalog(catalog: &Catalog) -> &[Self] {
        &catalog.accounts
    }

    fn in_catalog_mut(catalog: &mut Catalog) -> Option<&mut Vec<Self>> {
        Some(&mut catalog.accounts)
    }
}

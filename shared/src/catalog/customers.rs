//! Customers: `/api/v1/customers/`. Unlike the catalog, a company may have millions, so each
//! has its own partition and lists go through GSI1.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{Catalog, Label, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::Id;
use crate::input::{Input, LONG_TEXT, SHORT_TEXT};
use crate::listing::{FieldValue, FilterSpec, ListQuery, Lookup, OrderSpec};
use crate::store::{keys, Entity, IndexKey, StoreError, TenantStore, UniqueKey};
use crate::timefmt::{format_time, rfc3339};

/// Most labels one customer may carry.
const MAX_LABELS: usize = 50;
/// Most labels one request may create: each is two writes (the label and its name's marker),
/// and the rest of the transaction (customer, order, licenses) needs room.
const MAX_NEW_LABELS: usize = 25;

/// A label on a customer: `id` is the link's own id, as the vendor's `labels[].id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerLabel {
    pub id: Id,
    pub label: Id,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Customer {
    pub id: Id,
    /// Unique within the company, case-insensitively; orders and imports match customers by it.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: String,
    pub phone: String,
    pub reference: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub state: String,
    pub country: String,
    #[serde(with = "super::json_text")]
    pub metadata: Map<String, Value>,
    pub labels: Vec<CustomerLabel>,
    pub account: Option<Id>,
    /// Kept by the order writes, which also move `updated_at` so that a concurrent PATCH
    /// (conditional on `updated_at`) cannot write back stale totals.
    pub total_orders: i64,
    pub total_licenses: i64,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for Customer {
    const KIND: &'static str = "CUSTOMER";
    const COUNTED: bool = true;
    const NAME: &'static str = "customer";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![Customer::email_key(&self.email)]
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::customer_pk(company, id), keys::CUSTOMER_SK.into())
    }

    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        vec![IndexKey { index: 1, pk: keys::customers_gsi1pk(company), sk: keys::padded(self.id) }]
    }
}

fn account_field(c: &Customer, catalog: &Catalog, field: fn(&super::CustomerAccount) -> &String) -> FieldValue {
    c.account.and_then(|id| catalog.account(id)).map(field).into()
}

static FILTERS: &[FilterSpec<Customer, Catalog>] = &[
    FilterSpec { param: "email", lookup: Lookup::Exact, field: |c, _| (&c.email).into() },
    FilterSpec { param: "email__icontains", lookup: Lookup::IContains, field: |c, _| (&c.email).into() },
    FilterSpec { param: "email__startswith", lookup: Lookup::StartsWith, field: |c, _| (&c.email).into() },
    FilterSpec { param: "company_name__icontains", lookup: Lookup::IContains, field: |c, _| (&c.company_name).into() },
    FilterSpec { param: "first_name__icontains", lookup: Lookup::IContains, field: |c, _| (&c.first_name).into() },
    FilterSpec { param: "last_name__icontains", lookup: Lookup::IContains, field: |c, _| (&c.last_name).into() },
    FilterSpec { param: "phone__icontains", lookup: Lookup::IContains, field: |c, _| (&c.phone).into() },
    FilterSpec { param: "reference", lookup: Lookup::Exact, field: |c, _| (&c.reference).into() },
    FilterSpec { param: "reference__exact", lookup: Lookup::Exact, field: |c, _| (&c.reference).into() },
    FilterSpec { param: "reference__icontains", lookup: Lookup::IContains, field: |c, _| (&c.reference).into() },
    FilterSpec { param: "reference__startswith", lookup: Lookup::StartsWith, field: |c, _| (&c.reference).into() },
    FilterSpec {
        param: "label__in",
        lookup: Lookup::IntIn,
        field: |c, _| FieldValue::Many(c.labels.iter().map(|l| l.label.into()).collect()),
    },
    FilterSpec { param: "account", lookup: Lookup::IntExact, field: |c, _| c.account.into() },
    FilterSpec { param: "account__name", lookup: Lookup::Exact, field: |c, cat| account_field(c, cat, |a| &a.name) },
    FilterSpec {
        param: "account__name__icontains",
        lookup: Lookup::IContains,
        field: |c, cat| account_field(c, cat, |a| &a.name),
    },
    FilterSpec { param: "account__code", lookup: Lookup::Exact, field: |c, cat| account_field(c, cat, |a| &a.code) },
    FilterSpec {
        param: "account__code__icontains",
        lookup: Lookup::IContains,
        field: |c, cat| account_field(c, cat, |a| &a.code),
    },
];

static ORDERS: &[OrderSpec<Customer, Catalog>] = &[
    OrderSpec { name: "id", key: |c, _| c.id.into() },
    OrderSpec { name: "created_at", key: |c, _| c.id.into() },
    OrderSpec { name: "updated_at", key: |c, _| format_time(c.updated_at).as_str().into() },
    OrderSpec { name: "email", key: |c, _| (&c.email).into() },
    OrderSpec { name: "first_name", key: |c, _| (&c.first_name).into() },
    OrderSpec { name: "last_name", key: |c, _| (&c.last_name).into() },
    OrderSpec { name: "company_name", key: |c, _| (&c.company_name).into() },
];

/// The customer fields of §4 that are plain text, with their size limits.
pub const TEXT_FIELDS: &[(&str, usize)] = &[
    ("first_name", SHORT_TEXT),
    ("last_name", SHORT_TEXT),
    ("company_name", SHORT_TEXT),
    ("phone", SHORT_TEXT),
    ("reference", SHORT_TEXT),
    ("address", LONG_TEXT),
    ("postcode", SHORT_TEXT),
    ("city", SHORT_TEXT),
    ("state", SHORT_TEXT),
    ("country", SHORT_TEXT),
];

impl Customer {
    pub fn email_key(email: &str) -> UniqueKey {
        UniqueKey { kind: "EMAIL", scope: "-".into(), value: email.to_lowercase(), field: "email" }
    }

    fn text_field(&mut self, name: &str) -> &mut String {
        match name {
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "company_name" => &mut self.company_name,
            "phone" => &mut self.phone,
            "reference" => &mut self.reference,
            "address" => &mut self.address,
            "postcode" => &mut self.postcode,
            "city" => &mut self.city,
            "state" => &mut self.state,
            _ => &mut self.country,
        }
    }

    /// Links to labels by name, creating the labels not seen before in `ctx`'s transaction.
    /// Names are matched as their uniqueness marker folds them ([`Label::folded`]), so two
    /// names that differ only in case ("Äpfel", "äpfel") are one label, never two claims of one
    /// marker. At most [`MAX_NEW_LABELS`] new labels per request keep the transaction within
    /// DynamoDB's 100 items.
    fn read_labels(&mut self, names: Vec<String>, input: &mut Input, ctx: &mut WriteCtx) -> Result<(), ApiError> {
        let mut links = Vec::with_capacity(names.len());
        let mut created = 0;
        for (i, name) in names.iter().map(|n| n.trim()).enumerate() {
            if name.is_empty() {
                input.error(&format!("labels.{i}"), crate::input::BLANK);
                continue;
            }
            let folded = Label::folded(name);
            let existing = ctx.catalog.labels.iter().find(|l| Label::folded(&l.name) == folded).map(|l| l.id);
            let label = match existing {
                Some(id) => id,
                None if created == MAX_NEW_LABELS => {
                    input
                        .error("labels", format!("At most {MAX_NEW_LABELS} new labels can be created in one request."));
                    break;
                }
                None => {
                    created += 1;
                    let label = Label::new(ctx.ids.next_id(), name, ctx.now);
                    ctx.tx.create(&label)?;
                    ctx.catalog.labels.push(label.clone());
                    label.id
                }
            };
            if !links.iter().any(|l: &CustomerLabel| l.label == label) {
                let id = self.labels.iter().find(|l| l.label == label).map_or_else(|| ctx.ids.next_id(), |l| l.id);
                links.push(CustomerLabel { id, label });
            }
        }
        self.labels = links;
        Ok(())
    }

    fn read_account(&mut self, input: &mut Input, catalog: &Catalog) {
        if input.has("customer_account") {
            match input.raw("customer_account") {
                Some(Value::Null) => self.account = None,
                _ => {
                    if let Some(id) = input.id("customer_account") {
                        match catalog.account(id) {
                            Some(account) => self.account = Some(account.id),
                            None => {
                                input.error("customer_account", format!("Invalid pk \"{id}\" - object does not exist."))
                            }
                        }
                    }
                }
            }
        }
        if let Some(code) = input.nullable_string("customer_account_code", SHORT_TEXT) {
            match code.filter(|c| !c.is_empty()) {
                None => self.account = None,
                Some(code) => match catalog.accounts.iter().find(|a| a.code == code) {
                    Some(account) => self.account = Some(account.id),
                    None => input.error("customer_account_code", format!("Unknown customer account code \"{code}\".")),
                },
            }
        }
    }

    /// The customer as a license shows it (exactly the keys of seed 002).
    pub fn render_core(&self, company: Id, catalog: &Catalog) -> Value {
        let labels: Vec<(&CustomerLabel, &Label)> =
            self.labels.iter().filter_map(|link| catalog.label(link.label).map(|l| (link, l))).collect();
        json!({
            "id": self.id,
            "total_orders": self.total_orders,
            "total_licenses": self.total_licenses,
            "labels": labels.iter().map(|(link, l)| json!({
                "id": link.id, "label_id": l.id, "label": l.name, "color": l.color
            })).collect::<Vec<_>>(),
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company_name": self.company_name,
            "phone": self.phone,
            "reference": self.reference,
            "address": self.address,
            "postcode": self.postcode,
            "city": self.city,
            "country": self.country,
            "state": self.state,
            "clabels_all": labels.iter().map(|(_, l)| l.name.to_lowercase()).collect::<String>(),
            "cognito_user_pool_id": "",
            "metadata": self.metadata,
            "company": company,
            "license_user": null,
            "clabels": labels.iter().map(|(_, l)| l.id).collect::<Vec<_>>(),
        })
    }
}

impl Resource for Customer {
    const PATH: &'static str = "customers";

    fn product(&self) -> Option<Id> {
        None
    }

    const FILTERS: &'static [FilterSpec<Self, Catalog>] = FILTERS;
    const ORDERS: &'static [OrderSpec<Self, Catalog>] = ORDERS;

    fn blank(id: Id, now: OffsetDateTime) -> Self {
        Customer {
            id,
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            company_name: String::new(),
            phone: String::new(),
            reference: String::new(),
            address: String::new(),
            postcode: String::new(),
            city: String::new(),
            state: String::new(),
            country: String::new(),
            metadata: Map::new(),
            labels: Vec::new(),
            account: None,
            total_orders: 0,
            total_licenses: 0,
            created_at: now,
            updated_at: now,
        }
    }

    fn read(mut self, input: &mut Input, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        if let Some(email) = input.email("email", ctx.creating) {
            self.email = email;
        }
        for (name, max) in TEXT_FIELDS {
            if let Some(value) = input.nullable_string(name, *max) {
                *self.text_field(name) = value.unwrap_or_default();
            }
        }
        if let Some(metadata) = input.metadata("metadata") {
            self.metadata = metadata;
        }
        if let Some(names) = input.string_list("labels", MAX_LABELS, SHORT_TEXT) {
            self.read_labels(names, input, ctx)?;
        }
        self.read_account(input, &ctx.catalog);
        Ok(self)
    }

    fn set_updated_at(&mut self, now: OffsetDateTime) {
        self.updated_at = now;
    }

    fn render(&self, catalog: &Catalog) -> Value {
        // The company id is not stored on the customer; every key of it carries the tenant.
        let mut value = self.render_core(0, catalog);
        if let Some(obj) = value.as_object_mut() {
            obj.remove("company");
        }
        value["customer_account"] = json!(self.account);
        value["created_at"] = json!(format_time(self.created_at));
        value["updated_at"] = json!(format_time(self.updated_at));
        value
    }

    fn in_catalog(_: &Catalog) -> &[Self] {
        &[]
    }

    fn in_catalog_mut(_: &mut Catalog) -> Option<&mut Vec<Self>> {
        None
    }

    /// Every other list pages the company's customers through GSI1.
    fn index(company: Id, query: &ListQuery<'_, Self, Catalog>) -> Option<(u8, String)> {
        query.text_filter("email").is_none().then(|| (1, keys::customers_gsi1pk(company)))
    }

    /// An exact `email` filter reads one marker and one item.
    async fn load(
        store: TenantStore<'_>,
        _: &Catalog,
        query: &ListQuery<'_, Self, Catalog>,
    ) -> Result<Vec<Self>, StoreError> {
        if let Some(email) = query.text_filter("email") {
            let key = Customer::email_key(email);
            let owner = store.unique_owner(key.kind, &key.scope, &key.value).await?;
            return Ok(match owner {
                Some(id) => store.get::<Customer>(id).await?.into_iter().collect(),
                None => Vec::new(),
            });
        }
        store.query_index(1, keys::customers_gsi1pk(store.company())).await
    }

    async fn find(store: TenantStore<'_>, _: &Catalog, id: Id) -> Result<Option<Self>, StoreError> {
        store.get(id).await
    }
}

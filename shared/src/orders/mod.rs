//! Orders (seed 004): `create_order`, `generate_license`, and reading orders back.

pub mod handlers;
pub mod request;
pub mod staging;
pub mod update;
pub mod view;
pub mod write;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::catalog::Customer;
use crate::ids::Id;
use crate::licenses::{License, RenderCtx};
use crate::store::{keys, Entity, IndexKey, UniqueKey};
use crate::timefmt::{format_time, rfc3339};

/// An order item: the licenses of one product within an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub id: Id,
    pub product: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: Id,
    /// The caller's order id (`id` in the request body), unique within the company.
    pub store_id: String,
    pub is_test: bool,
    pub is_trial: bool,
    pub order_type: String,
    pub reference: String,
    pub language: String,
    pub campaign_params: String,
    pub download_id: String,
    pub customer: Option<Id>,
    pub customer_account: Option<Id>,
    #[serde(with = "crate::catalog::json_text")]
    pub metadata: Map<String, Value>,
    #[serde(with = "crate::catalog::json_text")]
    pub items: Vec<OrderItem>,
    /// Multi-transaction writes whose licenses are visible (see `write`).
    pub committed_attempts: Vec<String>,
    /// How many licenses the order has: moved in the same transaction as every license write
    /// (an order renders only its newest 1,000: API.md §9).
    #[serde(default)]
    pub license_count: i64,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for Order {
    const KIND: &'static str = "ORDER";
    const COUNTED: bool = true;
    const NAME: &'static str = "order";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![Order::store_id_claim(&self.store_id)]
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::order_pk(company, id), keys::ORDER_SK.into())
    }

    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        let mut entries = vec![IndexKey { index: 1, pk: keys::orders_gsi1pk(company), sk: keys::padded(self.id) }];
        if let Some(customer) = self.customer {
            entries.push(IndexKey {
                index: 2,
                pk: keys::customer_orders_gsi2pk(company, customer),
                sk: keys::padded(self.id),
            });
        }
        entries
    }
}

impl Order {
    pub fn store_id_claim(store_id: &str) -> UniqueKey {
        UniqueKey { kind: "STORE_ID", scope: "-".into(), value: store_id.to_string(), field: "id" }
    }

    /// Whether a license of this order is visible: written in one transaction with it, or by
    /// an attempt this order lists as committed.
    pub fn shows(&self, license: &License) -> bool {
        self.shows_attempt(license.attempt.as_deref())
    }

    /// Whether a license written by `attempt` (none: with the order) is visible.
    pub fn shows_attempt(&self, attempt: Option<&str>) -> bool {
        attempt.is_none_or(|attempt| self.committed_attempts.iter().any(|a| a == attempt))
    }

    /// The order JSON of API.md §4, with the given (visible) licenses under their items.
    pub fn render(&self, licenses: &[License], ctx: &RenderCtx) -> Value {
        let customer = self
            .customer
            .and_then(|id| ctx.related.customers.get(&id))
            .map(|c| c.render_core(ctx.company, ctx.catalog));
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|item| {
                let rendered: Vec<Value> =
                    licenses.iter().filter(|l| l.order_item == item.id).map(|l| l.render(ctx)).collect();
                json!({"id": item.id, "product_id": item.product, "licenses": rendered})
            })
            .collect();
        json!({
            "id": self.id,
            "store_id": self.store_id,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "is_test": self.is_test,
            "is_trial": self.is_trial,
            "order_type": self.order_type,
            "reference": self.reference,
            "language": self.language,
            "campaign_params": self.campaign_params,
            "download_id": self.download_id,
            "customer": customer,
            "customer_account": self.customer_account,
            "metadata": self.metadata,
            "order_items": items,
        })
    }
}

/// Customers by id, for rendering.
pub type Customers = HashMap<Id, Customer>;

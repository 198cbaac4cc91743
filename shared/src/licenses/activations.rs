//! License activation history (LICENSE-API.md §0; issue 15): one entry per activation, check
//! write and deactivation of a license on a device, written by the License API in the same
//! transaction as the license. Listed newest first by license (GSI1) or across the company
//! (GSI2), a Query page at a time, on `GET /api/v1/license-activation-histories/`; the
//! company's are counted by a counter that moves in the same transaction.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::handlers::visible_license;
use crate::app::{respond, route, App};
use crate::error::ApiError;
use crate::http::{ok, query_pairs};
use crate::ids::Id;
use crate::listing::{page_body, page_from_index, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec, MAX_LIMIT};
use crate::store::{keys, Entity, IndexKey, IndexPager};
use crate::timefmt::{format_time, rfc3339};

/// One activation, check or deactivation of a license on a device (LICENSE-API.md §0),
/// written in the same transaction as the license.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationEntry {
    pub id: Id,
    pub license: Id,
    pub product: Id,
    /// `activation`, `check` or `deactivation`.
    pub action: String,
    pub hardware_id: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Entity for ActivationEntry {
    const KIND: &'static str = "LICENSE_ACTIVATION";
    const NAME: &'static str = "license activation entry";
    /// The company's list is counted by a counter (a check writes an entry a minute per device:
    /// reading them all to count would follow the tenant).
    const COUNTED: bool = true;

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.created_at
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::license_activation_pk(company, id), keys::LICENSE_ACTIVATION_SK.into())
    }

    /// Listed with its license's entries (GSI1) and with the company's (GSI2).
    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        let sk = keys::padded(self.id);
        vec![
            IndexKey { index: 1, pk: keys::license_activations_gsi1pk(company, self.license), sk: sk.clone() },
            IndexKey { index: 2, pk: keys::activations_gsi2pk(company), sk },
        ]
    }
}

impl ActivationEntry {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "license": self.license,
            "action": self.action,
            "hardware_id": self.hardware_id,
            "created_at": format_time(self.created_at),
        })
    }
}

static FILTERS: &[FilterSpec<ActivationEntry, ()>] = &[
    FilterSpec { param: "license", lookup: Lookup::IntExact, field: |e, _| e.license.into() },
    FilterSpec { param: "action", lookup: Lookup::Exact, field: |e, _| e.action.as_str().into() },
    FilterSpec { param: "hardware_id", lookup: Lookup::Exact, field: |e, _| e.hardware_id.as_str().into() },
];

static ORDERS: &[OrderSpec<ActivationEntry, ()>] = &[
    OrderSpec { name: "id", key: |e, _| e.id.into() },
    OrderSpec { name: "created_at", key: |e, _| e.created_at.into() },
];

/// `GET /api/v1/license-activation-histories/` (filters `license`, `action`, `hardware_id`;
/// newest first unless `order_by` says otherwise), `/{id}/`, and
/// `/transfer_count/?license=<id>` (`{"transfer_count": N}`). A manager scoped to products sees
/// the entries of their licenses only.
pub async fn activation_histories_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let segments = crate::http::api_segments(req.uri().path()).unwrap_or_default();
        if segments.get(1).map(String::as_str) == Some("transfer_count") {
            let routed = route(app, &req, &["license-activation-histories", "transfer_count"], Method::GET).await?;
            let store = app.store.tenant(routed.principal.company);
            let license = query_pairs(&req)
                .into_iter()
                .find(|(name, _)| name == "license")
                .and_then(|(_, v)| v.trim().parse::<Id>().ok())
                .ok_or_else(|| ApiError::field("license", "A license id is required."))?;
            let license = visible_license(store, &routed.principal, license).await?;
            return Ok(ok(&json!({"transfer_count": license.transfer_count})));
        }
        let one = segments.len() == 2;
        let pattern: &[&str] =
            if one { &["license-activation-histories", "{id}"] } else { &["license-activation-histories"] };
        let routed = route(app, &req, pattern, Method::GET).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        if let Some(id) = routed.id {
            let entry = store.get::<ActivationEntry>(id).await?.filter(|e| principal.can_access(e.product));
            return Ok(ok(&entry.ok_or(ApiError::NotFound)?.render()));
        }
        let mut pairs = query_pairs(&req);
        if !pairs.iter().any(|(name, value)| name == "order_by" && !value.trim().is_empty()) {
            pairs.push(("order_by".into(), "-id".into()));
        }
        let query = ListQuery::parse(&pairs, FILTERS, ORDERS, ListRules::of(&req, MAX_LIMIT))?;
        let forward = !query.index_order().unwrap_or(false);
        let mut pager = match query.int_filter("license") {
            Some(license) => {
                IndexPager::new(1, keys::license_activations_gsi1pk(store.company(), license.max(0) as Id), forward)
            }
            None => IndexPager::new(2, keys::activations_gsi2pk(store.company()), forward),
        };
        // The company's entries, unfiltered, are counted by their counter; a license's are few.
        let unfiltered = principal.is_admin() && query.filters.is_empty();
        let count = match unfiltered {
            true => Some(store.entity_count::<ActivationEntry>().await?.max(0) as usize),
            false => None,
        };
        let in_scope = |e: &ActivationEntry| principal.can_access(e.product);
        let (count, page) = page_from_index(store, &query, &(), count, &mut pager, in_scope).await?;
        let results = page.iter().map(ActivationEntry::render).collect();
        Ok(ok(&page_body(&req, count, query.limit, query.offset, results)))
    })
    .await
}

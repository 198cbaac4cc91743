//! DynamoDB access. Key formats live in [`keys`]; this module turns entities into items and
//! back, and makes every multi-item write one conditional transaction, so a uniqueness
//! conflict or a concurrent change leaves nothing half-written.

pub mod condition;
pub mod keys;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{Id, NodeLease};
use crate::timefmt::format_time;

pub type Item = HashMap<String, AttributeValue>;

/// Most writes one DynamoDB transaction may hold.
pub const MAX_TRANSACTION: usize = 100;
/// Most bytes one DynamoDB transaction may hold (the sum of its items' sizes).
pub const MAX_TRANSACTION_BYTES: usize = 4_000_000;
/// Largest item DynamoDB stores (400 KB, attribute names and values included).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness condition failed: the text says which value is taken.
    #[error("{0}")]
    Conflict(String),
    /// What the write was based on changed meanwhile (another request won a race); reading
    /// again and retrying may succeed.
    #[error("{0}")]
    Stale(String),
    #[error("DynamoDB: {0}")]
    Aws(String),
    #[error("item does not match its type: {0}")]
    Corrupt(String),
    /// The write would pass one of DynamoDB's limits (item or transaction size, items per
    /// transaction): the client's input made it so, and `field` names what to shrink.
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
}

fn aws<E: std::error::Error + 'static, R: std::fmt::Debug + 'static>(err: SdkError<E, R>) -> StoreError {
    StoreError::Aws(error_text(&err))
}

/// An error with its source chain, for logs: the SDK's Display is terse ("service error").
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// A new `updated_at` for a write conditional on `previous`: now, and strictly later than
/// `previous`, so that any two versions differ.
pub fn later_than(previous: OffsetDateTime) -> OffsetDateTime {
    crate::timefmt::now().max(previous + time::Duration::microseconds(1))
}

/// Exponential backoff with jitter before retry `round` (none before the first try).
pub async fn backoff(round: u32) {
    if round == 0 {
        return;
    }
    let base = 25u64 << round.min(6);
    let jitter = rand::random_range(0..base);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// An item's entry in one of the overloaded GSIs (`GSI<n>PK` / `GSI<n>SK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub index: u8,
    pub pk: String,
    pub sk: String,
}

/// A value that at most one entity of a company may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    pub kind: &'static str,
    pub scope: String,
    pub value: String,
    /// The input field the value came from, for the conflict message.
    pub field: &'static str,
}

/// Something stored as one item, with optimistic concurrency on `updated_at`.
pub trait Entity: Serialize + DeserializeOwned + Send + Sync {
    /// The sort-key prefix of catalog kinds, and the `entity` attribute of every item.
    const KIND: &'static str;
    /// Singular noun for messages.
    const NAME: &'static str;
    fn id(&self) -> Id;
    fn updated_at(&self) -> OffsetDateTime;
    fn unique_keys(&self) -> Vec<UniqueKey> {
        Vec::new()
    }
    /// `(PK, SK)` of the item; by default in the company's partition, beside its catalog.
    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::tenant_pk(company), keys::catalog_sk(Self::KIND, id))
    }

    /// The GSI entries of this item (none for catalog kinds).
    fn index_keys(&self, _company: Id) -> Vec<IndexKey> {
        Vec::new()
    }

    /// Whether the company keeps a count of these entities (lists answer `count` from it): a
    /// create adds 1 and a delete takes 1, in the same transaction.
    const COUNTED: bool = false;

    /// Attributes derived from the entity, written with it for filter expressions to read
    /// (never read back: deserialising ignores them).
    fn search_attributes(&self) -> Vec<(&'static str, condition::SearchAttribute)> {
        Vec::new()
    }

    /// The request field an attribute of the item comes from, for a 400 naming it (an item
    /// past 400 KB names its largest attribute).
    fn request_field(attribute: &str) -> String {
        attribute.to_string()
    }

    /// What this entity's claim of `key` adds besides its marker: see [`ClaimExtras`].
    fn claim_extras(&self, _company: Id, _key: &UniqueKey) -> ClaimExtras {
        ClaimExtras::default()
    }
}

/// Index entries and counters of a claim's marker, for claims that are listed and counted (a
/// license's custom field values: their markers make each value findable by its id). They
/// follow the claim: written and counted with it, moved by `replace`, released by `delete`.
/// A staged claim is counted by the commit ([`Transaction::count_claims`]), not when staged.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ClaimExtras {
    pub index: Vec<IndexKey>,
    pub counters: Vec<String>,
}

/// A claim's marker as a list of claims reads it: the claimed value and its owner.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ListedClaim {
    pub owner: Id,
    #[serde(default)]
    pub value: String,
    /// Set while the owner is staged by a write not yet settled.
    #[serde(default)]
    pub attempt: Option<String>,
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The size DynamoDB counts for an item: each attribute's name plus its value (see "Item
/// sizes" in the DynamoDB developer guide: strings and binaries by length, numbers about one
/// byte per two digits plus one, 3 bytes of overhead per list or map and 1 per element).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number.len().div_ceil(2) + 1,
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// `TooLarge` when `item` would pass DynamoDB's item limit, naming its largest attribute.
fn check_item_size(item: &Item, what: &str) -> Result<usize, StoreError> {
    let size = item_size(item);
    if size <= MAX_ITEM_BYTES {
        return Ok(size);
    }
    let largest = item
        .iter()
        .max_by_key(|(name, value)| name.len() + value_size(value))
        .map_or_else(|| "non_field_errors".to_string(), |(name, _)| name.clone());
    Err(StoreError::TooLarge {
        field: largest,
        message: format!(
            "This {what} would take {size} bytes; DynamoDB stores at most {MAX_ITEM_BYTES} bytes per item. \
             Shorten this field."
        ),
    })
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// One step of a transaction and the conflict it means when its condition fails.
struct Write {
    item: TransactWriteItem,
    conflict: StoreError,
    /// The size of the item it puts (0 for deletes and condition checks).
    bytes: usize,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    /// Items returned by Queries and batch reads since the container started: the cost
    /// measure of list access paths (benchmarks read its deltas).
    items_read: Arc<AtomicU64>,
    /// Each company's partition (its catalog) as last read, with the `catalog_version` it was
    /// read at: a warm container reads it again only when one GetItem shows a newer version.
    partitions: Arc<std::sync::Mutex<HashMap<Id, CachedPartition>>>,
}

/// A company's partition and the `catalog_version` it was read at.
type CachedPartition = (u64, Arc<Vec<Item>>);

/// Companies whose catalogs a container keeps (beyond, the cache starts afresh).
const CACHED_PARTITIONS: usize = 1_000;

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), items_read: Arc::default(), partitions: Arc::default() }
    }

    pub fn items_read(&self) -> u64 {
        self.items_read.load(Ordering::Relaxed)
    }

    fn count_read(&self, items: usize) {
        self.items_read.fetch_add(items as u64, Ordering::Relaxed);
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The store of one company. Handlers get a company id only from authentication.
    pub fn tenant(&self, company: Id) -> TenantStore<'_> {
        TenantStore { store: self, company }
    }

    /// Leases an id node number for `owner` until `until_ms` (see [`crate::ids::NodeLease`]):
    /// starting at an atomic counter (so containers starting together try different nodes),
    /// the first of `node_count` nodes that is free or whose lease can be taken over, by a
    /// conditional write. `Exhausted` when every node is held by a live lease.
    pub async fn lease_id_node(
        &self,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
        node_count: u64,
    ) -> Result<NodeLease, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::ID_NODE_PK))
            .key(keys::SK, s(keys::ID_NODE_SK))
            .update_expression("ADD next_node :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(aws)?;
        let start = out
            .attributes()
            .and_then(|a| a.get("next_node"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Corrupt("id node counter".into()))?;
        // A lease that expired before this instant (by more than clocks can disagree) is free.
        let expired_before = now_ms - crate::ids::CLOCK_SKEW_MS;
        for step in 0..node_count {
            let node = (start + step) % node_count;
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(keys::PK, s(keys::id_node_lease_pk(node)))
                .item(keys::SK, s(keys::ID_NODE_LEASE_SK))
                .item("owner", s(owner))
                .item("until_ms", AttributeValue::N(until_ms.to_string()))
                .item("entity", s("ID_NODE_LEASE"))
                .condition_expression("attribute_not_exists(PK) OR until_ms < :expired_before")
                .expression_attribute_values(":expired_before", AttributeValue::N(expired_before.to_string()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(NodeLease { node, owner: owner.to_string(), until_ms }),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(aws(err)),
            }
        }
        Err(StoreError::Aws(format!(
            "all {node_count} id node numbers are leased by live containers: no id can be issued safely"
        )))
    }

    /// Extends `lease` to `until_ms` if `lease.owner` still holds it; `false` if another
    /// container took the node over (the caller then leases another).
    pub async fn renew_id_node(&self, lease: &NodeLease, until_ms: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::id_node_lease_pk(lease.node)))
            .key(keys::SK, s(keys::ID_NODE_LEASE_SK))
            .update_expression("SET until_ms = :until")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":until", AttributeValue::N(until_ms.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(aws(err)),
        }
    }

    /// Gives a node back (a short-lived process such as `provision`): its lease ends now, so
    /// it can be taken over once clocks surely agree it has ended, as any expired lease.
    pub async fn release_id_node(&self, lease: &NodeLease, now_ms: i64) -> Result<(), StoreError> {
        let released = NodeLease { until_ms: now_ms, ..lease.clone() };
        self.renew_id_node(&released, now_ms).await.map(|_| ())
    }

    /// Up to `limit` items of GSI1 partition `pk` whose sort key is below `sk_below`, in
    /// sort-key order (the sweeper's overdue staged writes, across companies).
    pub async fn query_index_below(&self, pk: &str, sk_below: &str, limit: i32) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::gsi_name(1))
            .key_condition_expression("#pk = :pk AND #sk < :below")
            .expression_attribute_names("#pk", keys::gsi_pk(1))
            .expression_attribute_names("#sk", keys::gsi_sk(1))
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":below", s(sk_below))
            .limit(limit)
            .send()
            .await
            .map_err(aws)?;
        let items = out.items.unwrap_or_default();
        self.count_read(items.len());
        Ok(items)
    }

    pub async fn get_api_key(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get_item(keys::api_key_pk(prefix), keys::API_KEY_SK.to_string()).await
    }

    pub async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let item =
            self.item_of(record, keys::api_key_pk(&record.prefix), keys::API_KEY_SK.into(), &[], &[], "API_KEY")?;
        self.transact(vec![self.put_new(item, StoreError::Conflict("API key prefix already in use.".into()))]).await
    }

    pub async fn get_license_api_key(&self, api_key: &str) -> Result<Option<LicenseApiKeyRecord>, StoreError> {
        self.get_item(keys::license_api_key_pk(api_key), keys::LICENSE_API_KEY_SK.to_string()).await
    }

    pub async fn put_license_api_key(&self, record: &LicenseApiKeyRecord) -> Result<(), StoreError> {
        let (pk, sk) = (keys::license_api_key_pk(&record.api_key), keys::LICENSE_API_KEY_SK.to_string());
        let item = self.item_of(record, pk, sk, &[], &[], "LICENSE_API_KEY")?;
        self.transact(vec![self.put_new(item, StoreError::Conflict("License API key already in use.".into()))]).await
    }

    pub async fn put_company(&self, company: &Company) -> Result<(), StoreError> {
        let item = self.item_of(company, keys::tenant_pk(company.id), keys::COMPANY_SK.into(), &[], &[], "COMPANY")?;
        let exists = StoreError::Conflict(format!("Company {} already exists.", company.id));
        self.transact(vec![self.put_new(item, exists)]).await
    }

    async fn get_item<T: DeserializeOwned>(&self, pk: String, sk: String) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
        out.item.map(from_item).transpose()
    }

    fn item_of<T: Serialize>(
        &self,
        value: &T,
        pk: String,
        sk: String,
        indexes: &[IndexKey],
        derived: &[(&str, AttributeValue)],
        entity: &str,
    ) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for (name, value) in derived {
            item.insert(name.to_string(), value.clone());
        }
        item.insert(keys::PK.into(), s(pk));
        item.insert(keys::SK.into(), s(sk));
        for index in indexes {
            item.insert(keys::gsi_pk(index.index), s(&index.pk));
            item.insert(keys::gsi_sk(index.index), s(&index.sk));
        }
        item.insert("entity".into(), s(entity));
        check_item_size(&item, &entity.to_lowercase())?;
        Ok(item)
    }

    fn put_new(&self, item: Item, conflict: StoreError) -> Write {
        let bytes = item_size(&item);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .expect("table, item and condition are set");
        Write { item: TransactWriteItem::builder().put(put).build(), conflict, bytes }
    }

    /// Runs the writes as one transaction. A failed condition becomes the `Conflict` of the
    /// write it belongs to. A transaction cancelled by another one on the same items, or by
    /// throttling, is tried again with backoff (the SDK retries throttled requests itself, but
    /// not these cancellations).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        const RETRIES: u32 = 5;
        let (items, conflicts): (Vec<_>, Vec<_>) = writes.into_iter().map(|w| (w.item, w.conflict)).unzip();
        let mut round = 0;
        loop {
            backoff(round).await;
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let Err(err) = result else { return Ok(()) };
            if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() {
                let reasons = cancel.cancellation_reasons();
                if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
                    return Err(conflicts[index].clone());
                }
                let passing = reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
                    )
                });
                if passing && round < RETRIES {
                    round += 1;
                    continue;
                }
            }
            return Err(aws(err));
        }
    }

    /// BatchGetItem in chunks of 100 (strongly consistent), resubmitting unprocessed keys with
    /// backoff. Missing items are simply absent from the answer.
    async fn batch_get(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(pk, sk)| HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))]))
                .collect();
            let mut round = 0;
            while !pending.is_empty() {
                if round > 10 {
                    return Err(StoreError::Aws("BatchGetItem kept returning unprocessed keys".into()));
                }
                backoff(round).await;
                round += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(aws)?;
                let items = out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default();
                self.count_read(items.len());
                found.extend(items);
                pending =
                    out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// BatchWriteItem in chunks of 25, resubmitting unprocessed items with backoff.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                if round > 10 {
                    return Err(StoreError::Aws("BatchWriteItem kept returning unprocessed items".into()));
                }
                backoff(round).await;
                round += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(aws)?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn query_all(&self, index: Option<&str>, pk_attr: &str, pk: String) -> Result<Vec<Item>, StoreError> {
        self.query_prefix(index, pk_attr, pk, None).await
    }

    /// Every item of a partition (of the table or of a GSI), only those whose sort key starts
    /// with `sk_prefix` if one is given (table only).
    async fn query_prefix(
        &self,
        index: Option<&str>,
        pk_attr: &str,
        pk: String,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        let condition = if sk_prefix.is_some() { "#pk = :pk AND begins_with(#sk, :prefix)" } else { "#pk = :pk" };
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(condition)
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_consistent_read(index.is_none().then_some(true))
                .set_exclusive_start_key(start);
            if let Some(prefix) = sk_prefix {
                request = request
                    .expression_attribute_names("#sk", keys::SK)
                    .expression_attribute_values(":prefix", s(prefix));
            }
            let out = request.send().await.map_err(aws)?;
            let page = out.items.unwrap_or_default();
            self.count_read(page.len());
            items.extend(page);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

/// Most items one Query evaluates (its `Limit`): DynamoDB also stops a page at 1 MB, which
/// for licenses of a few KB comes first; the limit keeps local stand-ins page-sized too.
pub const MAX_PAGE_ITEMS: usize = 1_000;

/// A GSI partition between optional inclusive sort-key bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRange {
    pub index: u8,
    pub pk: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One Query of an [`IndexRange`].
pub struct RangePage<'q> {
    pub range: &'q IndexRange,
    /// Sort-key order, else descending.
    pub forward: bool,
    /// Items DynamoDB evaluates at most (before the filter; capped at [`MAX_PAGE_ITEMS`]).
    pub limit: usize,
    pub start: Option<Item>,
    /// Evaluated by DynamoDB: only matching items cross the wire.
    pub filter: Option<&'q condition::Condition>,
    /// Only these attributes of each item (all when `None`).
    pub projection: Option<&'q [&'static str]>,
}

fn counter_value(item: &Item) -> Option<i64> {
    item.get("n").and_then(|v| v.as_n().ok())?.parse().ok()
}

/// An index partition read a page at a time in sort-key (id) order.
pub struct IndexPager<E> {
    index: u8,
    pk: String,
    forward: bool,
    start: Option<Item>,
    done: bool,
    entity: std::marker::PhantomData<E>,
}

impl<E: DeserializeOwned> IndexPager<E> {
    /// `GSI<index>PK` = `pk`, in sort-key order (`forward`) or descending.
    pub fn new(index: u8, pk: String, forward: bool) -> Self {
        IndexPager { index, pk, forward, start: None, done: false, entity: std::marker::PhantomData }
    }

    /// The next page of at most `limit` items; `None` past the end.
    pub async fn next_page(&mut self, store: TenantStore<'_>, limit: usize) -> Result<Option<Vec<E>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let (page, next) =
            store.query_index_page::<E>(self.index, self.pk.clone(), self.forward, limit, self.start.take()).await?;
        self.done = next.is_none();
        self.start = next;
        Ok(Some(page))
    }
}

/// One company's view of the table.
#[derive(Clone, Copy)]
pub struct TenantStore<'a> {
    store: &'a Store,
    company: Id,
}

impl<'a> TenantStore<'a> {
    pub fn company(&self) -> Id {
        self.company
    }

    pub async fn get<E: Entity>(&self, id: Id) -> Result<Option<E>, StoreError> {
        let (pk, sk) = E::primary_key(self.company, id);
        self.store.get_item(pk, sk).await
    }

    /// Every item of the company's own partition (its catalog), as of a strongly consistent
    /// read of its `catalog_version`: from this container's cache when that version is the
    /// one cached (one GetItem), else by a Query (API.md §9: a request costs its page, not the
    /// catalog). Every write to the partition bumps the version in its own transaction.
    pub async fn company_partition(&self) -> Result<Arc<Vec<Item>>, StoreError> {
        // The version first: items read after it are at least as new, so the cache can only
        // be stale towards an older version, which the next read replaces.
        let version = self.catalog_version().await?;
        let cached = {
            let partitions = self.store.partitions.lock().unwrap_or_else(|p| p.into_inner());
            partitions.get(&self.company).filter(|(v, _)| *v == version).map(|(_, items)| items.clone())
        };
        if let Some(items) = cached {
            return Ok(items);
        }
        let items = Arc::new(self.store.query_all(None, keys::PK, keys::tenant_pk(self.company)).await?);
        let mut partitions = self.store.partitions.lock().unwrap_or_else(|p| p.into_inner());
        if partitions.len() >= CACHED_PARTITIONS {
            partitions.clear();
        }
        partitions.insert(self.company, (version, items.clone()));
        Ok(items)
    }

    async fn catalog_version(&self) -> Result<u64, StoreError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .key(keys::PK, s(keys::tenant_pk(self.company)))
            .key(keys::SK, s(keys::COMPANY_SK))
            .projection_expression(keys::CATALOG_VERSION)
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
        Ok(out
            .item
            .as_ref()
            .and_then(|item| item.get(keys::CATALOG_VERSION))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// The company's license counters, each the sum of its shards: the company's total and
    /// each product's and creation month's (one Query of the counters' partition: 16 small
    /// items per counter).
    pub async fn license_counters(&self) -> Result<LicenseTally, StoreError> {
        let pk = keys::counters_pk(self.company);
        let shards = self.store.query_prefix(None, keys::PK, pk, None).await?;
        let mut counters = LicenseTally::default();
        for item in &shards {
            let (Some(sk), Some(n)) = (item.get(keys::SK).and_then(|v| v.as_s().ok()), counter_value(item)) else {
                continue;
            };
            if sk.starts_with(keys::LICENSE_COUNTER_PREFIX) {
                counters.total += n;
            } else if let Some(product) = keys::counter_product(sk) {
                *counters.products.entry(product).or_default() += n;
            } else if let Some(month) = keys::counter_month(sk) {
                *counters.months.entry(month).or_default() += n;
            }
        }
        Ok(counters)
    }

    async fn counter_sum(&self, prefix: &str) -> Result<i64, StoreError> {
        let pk = keys::counters_pk(self.company);
        let shards = self.store.query_prefix(None, keys::PK, pk, Some(prefix)).await?;
        Ok(shards.iter().filter_map(counter_value).sum())
    }

    /// One page of a GSI range (see [`RangePage`]): the raw items, for the caller to read as
    /// a whole entity or as the projection it asked for, and where the next page starts.
    pub async fn query_range_page(&self, page: RangePage<'_>) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let range = page.range;
        let mut rendered = condition::Rendered::default();
        let filter = page.filter.map(|f| rendered.render(f));
        let mut key_condition = "#pk = :pk".to_string();
        let mut request = self
            .store
            .client
            .query()
            .table_name(&self.store.table)
            .index_name(keys::gsi_name(range.index))
            .expression_attribute_names("#pk", keys::gsi_pk(range.index))
            .expression_attribute_values(":pk", s(range.pk.clone()));
        match (&range.from, &range.to) {
            (Some(from), Some(to)) => {
                key_condition.push_str(" AND #sk BETWEEN :from AND :to");
                request = request
                    .expression_attribute_values(":from", s(from.clone()))
                    .expression_attribute_values(":to", s(to.clone()));
            }
            (Some(from), None) => {
                key_condition.push_str(" AND #sk >= :from");
                request = request.expression_attribute_values(":from", s(from.clone()));
            }
            (None, Some(to)) => {
                key_condition.push_str(" AND #sk <= :to");
                request = request.expression_attribute_values(":to", s(to.clone()));
            }
            (None, None) => {}
        }
        if range.from.is_some() || range.to.is_some() {
            request = request.expression_attribute_names("#sk", keys::gsi_sk(range.index));
        }
        if let Some(attributes) = page.projection {
            let names: Vec<String> = attributes.iter().map(|a| rendered.name(a)).collect();
            request = request.projection_expression(names.join(", "));
        }
        let mut request = request
            .key_condition_expression(key_condition)
            .set_filter_expression(filter)
            .scan_index_forward(page.forward)
            .limit(page.limit.clamp(1, MAX_PAGE_ITEMS) as i32)
            .set_exclusive_start_key(page.start);
        for (placeholder, name) in rendered.names {
            request = request.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in rendered.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        let out = request.send().await.map_err(aws)?;
        let items = out.items.unwrap_or_default();
        self.store.count_read(items.len());
        Ok((items, out.last_evaluated_key))
    }

    /// One page of up to `limit` items of `GSI<index>PK` = `pk` in sort-key order (descending
    /// if not `forward`), from `start` on; and where the next page starts, if anywhere.
    pub async fn query_index_page<E: DeserializeOwned>(
        &self,
        index: u8,
        pk: String,
        forward: bool,
        limit: usize,
        start: Option<Item>,
    ) -> Result<(Vec<E>, Option<Item>), StoreError> {
        let out = self
            .store
            .client
            .query()
            .table_name(&self.store.table)
            .index_name(keys::gsi_name(index))
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::gsi_pk(index))
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(forward)
            .limit(limit.clamp(1, 1_000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(aws)?;
        let items = out.items.unwrap_or_default();
        self.store.count_read(items.len());
        let entities = items.into_iter().map(from_item).collect::<Result<Vec<E>, _>>()?;
        Ok((entities, out.last_evaluated_key))
    }

    /// Up to `max` items of `GSI<index>PK` = `pk` that `keep` accepts, from the highest
    /// `GSI<index>SK` down (newest first, for sort keys that are ids), reading pages of at most
    /// `max` items and stopping as soon as `max` are kept; and whether any item is left unread.
    pub async fn query_index_newest<E: Entity>(
        &self,
        index: u8,
        pk: String,
        max: usize,
        keep: impl Fn(&E) -> bool,
    ) -> Result<(Vec<E>, bool), StoreError> {
        let mut kept = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.query_index_page::<E>(index, pk.clone(), false, max - kept.len(), start).await?;
            let mut page = page.into_iter();
            for entity in page.by_ref() {
                if keep(&entity) {
                    kept.push(entity);
                    if kept.len() == max {
                        break;
                    }
                }
            }
            let left = page.len() > 0 || next.is_some();
            if kept.len() == max || next.is_none() {
                return Ok((kept, left));
            }
            start = next;
        }
    }

    /// Every item whose `GSI<index>PK` is `pk`, in `GSI<index>SK` order.
    pub async fn query_index<E: Entity>(&self, index: u8, pk: String) -> Result<Vec<E>, StoreError> {
        let items = self.store.query_all(Some(&keys::gsi_name(index)), &keys::gsi_pk(index), pk).await?;
        items.into_iter().map(from_item).collect()
    }

    /// The id of the entity holding a unique value, if any.
    pub async fn unique_owner(&self, kind: &str, scope: &str, value: &str) -> Result<Option<Id>, StoreError> {
        let marker: Option<UniqueMarker> =
            self.store.get_item(keys::unique_pk(self.company, kind, scope, value), keys::UNIQUE_SK.into()).await?;
        Ok(marker.map(|m| m.owner))
    }

    /// Writes `entities` as they are, without conditions or claims, in batches: bulk loads of
    /// fresh tables (the benchmarks), never a request's write.
    pub async fn put_all<E: Entity>(&self, entities: &[E]) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(entities.len());
        for entity in entities {
            let put = PutRequest::builder()
                .set_item(Some(self.entity_item(entity)?))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.store.batch_write(requests).await
    }

    /// The entities with these ids that exist (BatchGetItem, strongly consistent), in no
    /// particular order.
    pub async fn get_many<E: Entity>(&self, ids: &[Id]) -> Result<Vec<E>, StoreError> {
        let mut unique: Vec<Id> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let keys = unique.iter().map(|id| E::primary_key(self.company, *id)).collect();
        let items = self.store.batch_get(keys).await?;
        items.into_iter().map(from_item).collect()
    }

    /// The entities of two kinds with these ids that exist, in one BatchGetItem (a request per
    /// 100 keys), in no particular order.
    pub async fn get_both<A: Entity, B: Entity>(&self, a: &[Id], b: &[Id]) -> Result<(Vec<A>, Vec<B>), StoreError> {
        let unique = |ids: &[Id]| {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let a_sk = A::primary_key(self.company, 0).1;
        let mut keys: Vec<(String, String)> =
            unique(a).into_iter().map(|id| A::primary_key(self.company, id)).collect();
        keys.extend(unique(b).into_iter().map(|id| B::primary_key(self.company, id)));
        let (mut found_a, mut found_b) = (Vec::new(), Vec::new());
        for item in self.store.batch_get(keys).await? {
            match item.get(keys::SK).and_then(|v| v.as_s().ok()) == Some(&a_sk) {
                true => found_a.push(from_item(item)?),
                false => found_b.push(from_item(item)?),
            }
        }
        Ok((found_a, found_b))
    }

    /// The entity `id` and the owner of the claim `key`, in one BatchGetItem.
    pub async fn get_with_owner<E: Entity>(
        &self,
        id: Id,
        key: &UniqueKey,
    ) -> Result<(Option<E>, Option<Id>), StoreError> {
        let claim_pk = self.unique_pk(key);
        let keys = vec![E::primary_key(self.company, id), (claim_pk.clone(), keys::UNIQUE_SK.into())];
        let (mut entity, mut owner) = (None, None);
        for item in self.store.batch_get(keys).await? {
            match item.get(keys::PK).and_then(|v| v.as_s().ok()) == Some(&claim_pk) {
                true => owner = Some(from_item::<UniqueMarker>(item)?.owner),
                false => entity = Some(from_item(item)?),
            }
        }
        Ok((entity, owner))
    }

    /// Records that each license user `(user, license)` is on that license (see
    /// [`keys::user_licenses_pk`]), in BatchWriteItems of 25. Written before the license's own
    /// transaction and never conditional: an entry whose license then failed, or lost the user,
    /// is passed over by [`TenantStore::user_licenses`]'s readers, which check the license.
    pub async fn index_user_licenses(&self, pairs: &[(Id, Id)]) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(pairs.len());
        for (user, license) in pairs {
            let item = self.user_license_item(*user, *license);
            let put =
                PutRequest::builder().set_item(Some(item)).build().map_err(|e| StoreError::Corrupt(e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.store.batch_write(requests).await
    }

    /// The entry saying that `user` is on `license`.
    fn user_license_item(&self, user: Id, license: Id) -> Item {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::user_licenses_pk(self.company, user)));
        item.insert(keys::SK.into(), s(keys::padded(license)));
        item.insert("license".into(), AttributeValue::N(license.to_string()));
        item.insert("entity".into(), s("USER_LICENSE"));
        item
    }

    /// The licenses user `user` may be on (one Query; readers check each license's users).
    pub async fn user_licenses(&self, user: Id) -> Result<Vec<Id>, StoreError> {
        let items = self.store.query_all(None, keys::PK, keys::user_licenses_pk(self.company, user)).await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get("license").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()))
            .collect())
    }

    /// The owners of those of `values` that are held for `kind` within `scope`.
    pub async fn unique_owners(
        &self,
        kind: &str,
        scope: &str,
        values: &[String],
    ) -> Result<HashMap<String, Id>, StoreError> {
        Ok(self.claims(kind, scope, values).await?.into_iter().map(|(value, claim)| (value, claim.owner)).collect())
    }

    /// Which of the items `(PK, SK)` exist. Keys must come from [`keys`] builders of this company.
    pub async fn existing(&self, keys: Vec<(String, String)>) -> Result<HashSet<(String, String)>, StoreError> {
        let items = self.store.batch_get(keys).await?;
        let text = |item: &Item, attr: &str| item.get(attr).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        Ok(items.iter().map(|item| (text(item, keys::PK), text(item, keys::SK))).collect())
    }

    /// The items of partition `pk` whose sort key starts with `sk_prefix`, in sort-key order.
    pub async fn query_sk_prefix<T: DeserializeOwned>(
        &self,
        pk: String,
        sk_prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let items = self.store.query_prefix(None, keys::PK, pk, Some(sk_prefix)).await?;
        items.into_iter().map(from_item).collect()
    }

    /// Which of `values` are already held for `kind` within `scope`.
    pub async fn taken(&self, kind: &str, scope: &str, values: &[String]) -> Result<HashSet<String>, StoreError> {
        Ok(self.claims(kind, scope, values).await?.into_keys().collect())
    }

    /// The claims on those of `values` that are held for `kind` within `scope`.
    pub async fn claims(
        &self,
        kind: &str,
        scope: &str,
        values: &[String],
    ) -> Result<HashMap<String, Claim>, StoreError> {
        let prefix = keys::unique_pk(self.company, kind, scope, "");
        let keys =
            values.iter().map(|v| (keys::unique_pk(self.company, kind, scope, v), keys::UNIQUE_SK.into())).collect();
        let mut claims = HashMap::new();
        for item in self.store.batch_get(keys).await? {
            let value = item.get(keys::PK).and_then(|v| v.as_s().ok()).map(|pk| pk[prefix.len()..].to_string());
            let marker: UniqueMarker = from_item(item)?;
            if let Some(value) = value {
                claims.insert(value, Claim { owner: marker.owner, attempt: marker.attempt });
            }
        }
        Ok(claims)
    }

    /// Settles the items a staged write `attempt` made for `entities` (each entity's item and
    /// its claims): only items still marked with `attempt` are touched, so a settled, deleted
    /// or rewritten item is left as it is. In transactions of up to 100; a transaction
    /// cancelled on a condition is redone item by item (skipping the items that fail it).
    pub async fn settle_staged<E: Entity>(
        &self,
        entities: &[E],
        attempt: &str,
        settle: Settle,
    ) -> Result<(), StoreError> {
        let mut steps = Vec::new();
        for entity in entities {
            let (pk, sk) = E::primary_key(self.company, entity.id());
            steps.push(self.settle_step(pk, sk, attempt, settle, &["attempt"])?);
            for key in entity.unique_keys() {
                let attributes: &[&str] = &["attempt", keys::TTL_ATTRIBUTE];
                steps.push(self.settle_step(
                    self.unique_pk(&key),
                    keys::UNIQUE_SK.into(),
                    attempt,
                    settle,
                    attributes,
                )?);
            }
        }
        self.run_settle_steps(steps).await
    }

    /// Settles the items of kind `E` with these ids that `attempt` marks (no claims): as
    /// [`TenantStore::settle_staged`]; ids without such an item are passed over.
    pub async fn settle_staged_ids<E: Entity>(
        &self,
        ids: &[Id],
        attempt: &str,
        settle: Settle,
    ) -> Result<(), StoreError> {
        let mut steps = Vec::with_capacity(ids.len());
        for id in ids {
            let (pk, sk) = E::primary_key(self.company, *id);
            steps.push(self.settle_step(pk, sk, attempt, settle, &["attempt"])?);
        }
        self.run_settle_steps(steps).await
    }

    /// Runs settle steps in transactions of `MAX_TRANSACTION`; a chunk whose condition fails is
    /// run step by step, and a step whose item is no longer marked is passed over.
    async fn run_settle_steps(&self, steps: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        for chunk in steps.chunks(MAX_TRANSACTION) {
            let result = self.store.client.transact_write_items().set_transact_items(Some(chunk.to_vec())).send().await;
            let Err(err) = result else { continue };
            let on_condition = matches!(
                err.as_service_error(),
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
            );
            if !on_condition {
                return Err(aws(err));
            }
            for step in chunk {
                let single = self.store.client.transact_write_items().transact_items(step.clone()).send().await;
                if let Err(err) = single {
                    let failed_condition = matches!(
                        err.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    );
                    if !failed_condition {
                        return Err(aws(err));
                    }
                }
            }
        }
        Ok(())
    }

    fn settle_step(
        &self,
        pk: String,
        sk: String,
        attempt: &str,
        settle: Settle,
        marks: &[&str],
    ) -> Result<TransactWriteItem, StoreError> {
        let table = self.store.table();
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
        Ok(match settle {
            Settle::Delete => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(table)
                        .key(keys::PK, s(pk))
                        .key(keys::SK, s(sk))
                        .condition_expression("attempt = :attempt")
                        .expression_attribute_values(":attempt", s(attempt))
                        .build()
                        .map_err(built)?,
                )
                .build(),
            Settle::Keep => TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(table)
                        .key(keys::PK, s(pk))
                        .key(keys::SK, s(sk))
                        .update_expression(format!("REMOVE {}", marks.join(", ")))
                        .condition_expression("attempt = :attempt")
                        .expression_attribute_values(":attempt", s(attempt))
                        .build()
                        .map_err(built)?,
                )
                .build(),
        })
    }

    /// A transaction over this company's items.
    pub fn transaction(&self) -> Transaction<'a> {
        Transaction { tenant: *self, writes: Vec::new(), counters: Default::default() }
    }

    /// The step that moves the company's `catalog_version` on (see `company_partition`).
    fn bump_catalog_version(&self) -> Result<Write, StoreError> {
        let update = Update::builder()
            .table_name(self.store.table())
            .key(keys::PK, s(keys::tenant_pk(self.company)))
            .key(keys::SK, s(keys::COMPANY_SK))
            .update_expression("ADD #version :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#version", keys::CATALOG_VERSION)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let gone = StoreError::Corrupt(format!("company {} has no company item", self.company));
        Ok(Write { item: TransactWriteItem::builder().update(update).build(), conflict: gone, bytes: 0 })
    }

    /// What creating `entity` adds to a transaction: its item and its claims.
    pub fn create_cost<E: Entity>(&self, entity: &E) -> Result<WriteCost, StoreError> {
        let keys = entity.unique_keys();
        let claims = keys.len();
        let bytes = item_size(&self.entity_item(entity)?);
        let mut counters: Vec<String> =
            keys.iter().flat_map(|key| entity.claim_extras(self.company, key).counters).collect();
        counters.sort_unstable();
        counters.dedup();
        let counter = usize::from(E::COUNTED) + counters.len();
        Ok(WriteCost { writes: 1 + claims + counter, bytes: bytes + claims * MARKER_BYTES })
    }

    /// The sum of the counter `prefix`'s shards (claims' counters: see [`ClaimExtras`]).
    pub async fn counter(&self, prefix: &str) -> Result<i64, StoreError> {
        self.counter_sum(prefix).await
    }

    /// How many entities of a counted kind the company has (see `Entity::COUNTED`): the sum of
    /// the counter's shards.
    pub async fn entity_count<E: Entity>(&self) -> Result<i64, StoreError> {
        self.counter_sum(&keys::entity_counter_prefix(E::KIND)).await
    }

    fn unique_pk(&self, key: &UniqueKey) -> String {
        keys::unique_pk(self.company, key.kind, &key.scope, &key.value)
    }

    fn entity_item<E: Entity>(&self, entity: &E) -> Result<Item, StoreError> {
        let (pk, sk) = E::primary_key(self.company, entity.id());
        let derived = entity.search_attributes();
        let derived: Vec<(&str, AttributeValue)> =
            derived.iter().filter_map(|(name, value)| Some((*name, value.value()?))).collect();
        self.store.item_of(entity, pk, sk, &entity.index_keys(self.company), &derived, E::KIND).map_err(|err| match err
        {
            StoreError::TooLarge { field, message } => {
                StoreError::TooLarge { field: E::request_field(&field), message }
            }
            other => other,
        })
    }
}

/// The partition key a transaction step writes or deletes.
fn written_pk(item: &TransactWriteItem) -> Option<&str> {
    fn key(map: &Item) -> Option<&str> {
        map.get(keys::PK).and_then(|v| v.as_s().ok()).map(String::as_str)
    }
    if let Some(put) = item.put() {
        return key(put.item());
    }
    if let Some(delete) = item.delete() {
        return key(delete.key());
    }
    item.update().and_then(|update| key(update.key()))
}

/// What adding something to a transaction costs: writes (items) and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCost {
    pub writes: usize,
    pub bytes: usize,
}

impl std::ops::Add for WriteCost {
    type Output = WriteCost;
    fn add(self, other: WriteCost) -> WriteCost {
        WriteCost { writes: self.writes + other.writes, bytes: self.bytes + other.bytes }
    }
}

impl std::iter::Sum for WriteCost {
    fn sum<I: Iterator<Item = WriteCost>>(iter: I) -> WriteCost {
        iter.fold(WriteCost::default(), |a, b| a + b)
    }
}

/// A uniqueness marker's size, generously (its key holds the value: ≤ 255 characters + scope).
const MARKER_BYTES: usize = 1_024;

/// Writes collected and committed as one DynamoDB transaction: all of them or none.
pub struct Transaction<'a> {
    tenant: TenantStore<'a>,
    writes: Vec<Write>,
    /// What this transaction adds to each counter (by its sort-key prefix), written as one
    /// step per counter at commit: a transaction may touch an item only once.
    counters: std::collections::BTreeMap<String, i64>,
}

impl Transaction<'_> {
    /// A new entity, and claims on its unique values; a value already taken is a `Conflict`.
    pub fn create<E: Entity>(&mut self, entity: &E) -> Result<(), StoreError> {
        self.create_as(entity, false)
    }

    /// Like `create`, for a write that read first that the values were free (an order id, a
    /// customer email): if another request took one meanwhile, the failure is `Stale`, so the
    /// caller can read again (and, say, append to that order instead).
    pub fn create_after_lookup<E: Entity>(&mut self, entity: &E) -> Result<(), StoreError> {
        self.create_as(entity, true)
    }

    fn create_as<E: Entity>(&mut self, entity: &E, stale_on_conflict: bool) -> Result<(), StoreError> {
        self.create_marked(entity, stale_on_conflict, None)
    }

    /// Like `create`, for an item of a staged write: its claims carry `attempt` and a TTL
    /// (`expires_at`, epoch seconds) until the write is settled (`settle_staged`). The entity
    /// itself carries its own mark (a license's `attempt`).
    pub fn create_staged<E: Entity>(&mut self, entity: &E, attempt: &str, expires_at: i64) -> Result<(), StoreError> {
        self.create_marked(entity, false, Some((attempt, expires_at)))
    }

    fn create_marked<E: Entity>(
        &mut self,
        entity: &E,
        stale_on_conflict: bool,
        staged: Option<(&str, i64)>,
    ) -> Result<(), StoreError> {
        let item = self.tenant.entity_item(entity)?;
        let exists = StoreError::Conflict(format!("{} {} already exists.", E::NAME, entity.id()));
        self.writes.push(self.tenant.store.put_new(item, exists));
        if E::COUNTED {
            self.count(keys::entity_counter_prefix(E::KIND), 1);
        }
        for key in entity.unique_keys() {
            self.claim(entity, &key, stale_on_conflict, staged)?;
        }
        Ok(())
    }

    /// An item that is not an entity (a record under an entity's partition), written only if
    /// absent: present means another run already wrote it, which is `Stale`.
    pub fn create_record<T: Serialize>(
        &mut self,
        pk: String,
        sk: String,
        record: &T,
        kind: &str,
    ) -> Result<(), StoreError> {
        let item = self.tenant.store.item_of(record, pk, sk, &[], &[], kind)?;
        let exists = StoreError::Stale(format!("This {} was already written.", kind.to_lowercase()));
        self.writes.push(self.tenant.store.put_new(item, exists));
        Ok(())
    }

    /// The entry saying that `user` is on `license` (see [`TenantStore::index_user_licenses`]),
    /// written with this transaction, unconditionally (it may be there from before).
    pub fn index_user_license(&mut self, user: Id, license: Id) -> Result<(), StoreError> {
        let item = self.tenant.user_license_item(user, license);
        let put = Put::builder()
            .table_name(self.tenant.store.table())
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let unreachable = StoreError::Corrupt("an unconditional put failed its condition".into());
        self.writes.push(Write {
            item: TransactWriteItem::builder().put(put).build(),
            conflict: unreachable,
            bytes: MARKER_BYTES,
        });
        Ok(())
    }

    /// `new` in place of `old`, if nobody changed `old` meanwhile (else `Stale`); unique values
    /// that changed move with it.
    pub fn replace<E: Entity>(&mut self, old: &E, new: &E) -> Result<(), StoreError> {
        let changed =
            StoreError::Stale(format!("The {} was changed by another request; read it again and retry.", E::NAME));
        let table = self.tenant.store.table().to_string();
        let item = self.tenant.entity_item(new)?;
        let bytes = item_size(&item);
        let put = Put::builder()
            .table_name(&table)
            .set_item(Some(item))
            .condition_expression("updated_at = :seen")
            .expression_attribute_values(":seen", s(format_time(old.updated_at())))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.writes.push(Write {
            item: TransactWriteItem::builder().put(put).build(),
            conflict: changed.clone(),
            bytes,
        });
        let new_keys = new.unique_keys();
        self.release_claims(old, &new_keys, &changed)?;
        let old_keys = old.unique_keys();
        for key in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            self.claim(new, key, false, None)?;
        }
        Ok(())
    }

    /// Deletes the markers of `old`'s unique values but those in `kept`, each conditional on
    /// `old` still owning it (else `changed`).
    fn release_claims<E: Entity>(
        &mut self,
        old: &E,
        kept: &[UniqueKey],
        changed: &StoreError,
    ) -> Result<(), StoreError> {
        for key in old.unique_keys().iter().filter(|k| !kept.contains(k)) {
            for counter in old.claim_extras(self.tenant.company, key).counters {
                self.count(counter, -1);
            }
            let delete = Delete::builder()
                .table_name(self.tenant.store.table())
                .key(keys::PK, s(self.tenant.unique_pk(key)))
                .key(keys::SK, s(keys::UNIQUE_SK))
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", AttributeValue::N(old.id().to_string()))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.writes.push(Write {
                item: TransactWriteItem::builder().delete(delete).build(),
                conflict: changed.clone(),
                bytes: 0,
            });
        }
        Ok(())
    }

    /// Adds a tally of licenses made visible (or removed) by this transaction to the license
    /// counters: the company's, and each product's and creation month's it names (each one
    /// write at commit, on one of its shards chosen at random; see [`LicenseTally`]).
    pub fn count_licenses(&mut self, tally: &LicenseTally) -> Result<(), StoreError> {
        self.count(keys::LICENSE_COUNTER_PREFIX.to_string(), tally.total);
        for (product, n) in &tally.products {
            self.count(keys::product_counter_prefix(*product), *n);
        }
        for ((year, month), n) in &tally.months {
            self.count(keys::month_counter_prefix(*year, *month), *n);
        }
        Ok(())
    }

    fn count(&mut self, prefix: String, n: i64) {
        *self.counters.entry(prefix).or_default() += n;
    }

    /// The step adding `n` to one shard of the counter `prefix`, unconditionally.
    fn counter_write(&self, prefix: &str, n: i64) -> Result<Write, StoreError> {
        let shard = rand::random_range(0..keys::LICENSE_COUNTER_SHARDS);
        let update = Update::builder()
            .table_name(self.tenant.store.table())
            .key(keys::PK, s(keys::counters_pk(self.tenant.company)))
            .key(keys::SK, s(keys::counter_sk(prefix, shard)))
            .update_expression("ADD #n :n")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let never = StoreError::Corrupt("an unconditional counter update failed its condition".into());
        Ok(Write { item: TransactWriteItem::builder().update(update).build(), conflict: never, bytes: 0 })
    }

    /// Adds `n` to the number `attribute` of the entity `id` and moves its `updated_at` to
    /// `updated_at`, unconditionally: a counter moved by many writers never loses a race, and
    /// a writer that replaces the whole entity (conditional on the `updated_at` it read) then
    /// fails and reads again, so no increment is lost.
    pub fn add_to<E: Entity>(
        &mut self,
        id: Id,
        attribute: &str,
        n: i64,
        updated_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.add_all_to::<E>(id, &[(attribute, n)], updated_at)
    }

    /// [`Transaction::add_to`] of several attributes of one item, in one write (a transaction
    /// may not name an item twice).
    pub fn add_all_to<E: Entity>(
        &mut self,
        id: Id,
        adds: &[(&str, i64)],
        updated_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (pk, sk) = E::primary_key(self.tenant.company, id);
        let terms: Vec<String> = (0..adds.len()).map(|i| format!("#n{i} :n{i}")).collect();
        let mut update = Update::builder()
            .table_name(self.tenant.store.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(format!("ADD {} SET updated_at = :at", terms.join(", ")))
            // `updated_at` must change, or a writer that read it could still replace the item
            // and lose this increment; equal only within one microsecond of another write.
            .condition_expression("attribute_exists(PK) AND updated_at <> :at")
            .expression_attribute_values(":at", s(format_time(updated_at)));
        for (i, (attribute, n)) in adds.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#n{i}"), *attribute)
                .expression_attribute_values(format!(":n{i}"), AttributeValue::N(n.to_string()));
        }
        let update = update.build().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let gone = StoreError::Stale(format!("The {} {id} is gone.", E::NAME));
        self.writes.push(Write { item: TransactWriteItem::builder().update(update).build(), conflict: gone, bytes: 0 });
        Ok(())
    }

    /// Deletes `entity` if nobody changed it meanwhile (else `Stale`), and the markers of its
    /// unique values (a deleted license's key is free again).
    pub fn delete<E: Entity>(&mut self, entity: &E) -> Result<(), StoreError> {
        let changed =
            StoreError::Stale(format!("The {} was changed by another request; read it again and retry.", E::NAME));
        let (pk, sk) = E::primary_key(self.tenant.company, entity.id());
        let delete = Delete::builder()
            .table_name(self.tenant.store.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .condition_expression("updated_at = :seen")
            .expression_attribute_values(":seen", s(format_time(entity.updated_at())))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.writes.push(Write {
            item: TransactWriteItem::builder().delete(delete).build(),
            conflict: changed.clone(),
            bytes: 0,
        });
        self.release_claims(entity, &[], &changed)?;
        if E::COUNTED {
            self.count(keys::entity_counter_prefix(E::KIND), -1);
        }
        Ok(())
    }

    /// Claims `key` for `owner` (a marker written only if absent), with the claim's extras.
    fn claim<E: Entity>(
        &mut self,
        owner: &E,
        key: &UniqueKey,
        stale_on_conflict: bool,
        staged: Option<(&str, i64)>,
    ) -> Result<(), StoreError> {
        let extras = owner.claim_extras(self.tenant.company, key);
        let marker = UniqueMarker {
            owner: owner.id(),
            value: (!extras.index.is_empty()).then(|| key.value.clone()),
            attempt: staged.map(|(attempt, _)| attempt.to_string()),
            expires_at: staged.map(|(_, expires_at)| expires_at),
        };
        let item = self.tenant.store.item_of(
            &marker,
            self.tenant.unique_pk(key),
            keys::UNIQUE_SK.into(),
            &extras.index,
            &[],
            "UNIQUE",
        )?;
        let message = format!("A {} with this {} (\"{}\") already exists.", E::NAME, key.field, key.value);
        let conflict = if stale_on_conflict { StoreError::Stale(message) } else { StoreError::Conflict(message) };
        self.writes.push(self.tenant.store.put_new(item, conflict));
        if staged.is_none() {
            for counter in extras.counters {
                self.count(counter, 1);
            }
        }
        Ok(())
    }

    /// Counts the claims of `entities`, staged uncounted (see [`ClaimExtras`]): for the
    /// transaction that commits them.
    pub fn count_claims<E: Entity>(&mut self, entities: &[E]) {
        for entity in entities {
            for key in entity.unique_keys() {
                for counter in entity.claim_extras(self.tenant.company, &key).counters {
                    self.count(counter, 1);
                }
            }
        }
    }

    /// How many writes the transaction holds (DynamoDB takes at most `MAX_TRANSACTION`).
    pub fn len(&self) -> usize {
        self.writes.len() + self.counters.values().filter(|n| **n != 0).count()
    }

    /// The bytes of the items it puts (DynamoDB takes at most `MAX_TRANSACTION_BYTES`).
    pub fn bytes(&self) -> usize {
        self.writes.iter().map(|w| w.bytes).sum()
    }

    /// Whether `more` (writes, bytes) still fit in this transaction, with `reserve` writes
    /// and bytes kept for what the caller adds last (and one write for the catalog version,
    /// which `commit` adds when the transaction writes the catalog).
    pub fn has_room(&self, more: WriteCost, reserve: WriteCost) -> bool {
        self.len() + more.writes + reserve.writes < MAX_TRANSACTION
            && self.bytes() + more.bytes + reserve.bytes <= MAX_TRANSACTION_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Commits all writes or none. A transaction over DynamoDB's limits is `TooLarge` before
    /// anything is sent (callers that can split their writes check `has_room` first).
    pub async fn commit(mut self) -> Result<(), StoreError> {
        for (prefix, n) in std::mem::take(&mut self.counters) {
            if n != 0 {
                let write = self.counter_write(&prefix, n)?;
                self.writes.push(write);
            }
        }
        if self.writes.is_empty() {
            return Ok(());
        }
        let catalog = keys::tenant_pk(self.tenant.company);
        if self.writes.iter().any(|w| written_pk(&w.item) == Some(catalog.as_str())) {
            self.writes.push(self.tenant.bump_catalog_version()?);
        }
        let (count, bytes) = (self.len(), self.bytes());
        if count > MAX_TRANSACTION || bytes > MAX_TRANSACTION_BYTES {
            return Err(StoreError::TooLarge {
                field: "non_field_errors".into(),
                message: format!(
                    "This request would write {count} items ({bytes} bytes) at once; DynamoDB writes at most \
                     {MAX_TRANSACTION} items and {MAX_TRANSACTION_BYTES} bytes in one transaction."
                ),
            });
        }
        self.tenant.store.transact(self.writes).await
    }
}

#[derive(Serialize, Deserialize)]
struct UniqueMarker {
    owner: Id,
    /// The claimed value, on markers that are listed (see [`ClaimExtras`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// Set while the owner is staged by a multi-transaction write not yet settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempt: Option<String>,
    /// DynamoDB's TTL (epoch seconds) on a staged claim: the backstop if no sweeper settles it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// What a write adds to the license counters (API.md §9 counts): the company's total, and
/// per product and per creation month (`(year, month)`). A write adds its tally in the same
/// transaction as its licenses, so the counters move exactly when the licenses become visible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenseTally {
    pub total: i64,
    pub products: std::collections::BTreeMap<Id, i64>,
    pub months: std::collections::BTreeMap<(i32, u8), i64>,
}

impl LicenseTally {
    /// Counts `n` licenses of `product` created at `created`.
    pub fn add(&mut self, product: Id, created: OffsetDateTime, n: i64) {
        self.total += n;
        *self.products.entry(product).or_default() += n;
        *self.months.entry((created.year(), created.month() as u8)).or_default() += n;
    }

    /// The tally of `licenses` (product and creation time of each).
    pub fn of(licenses: impl IntoIterator<Item = (Id, OffsetDateTime)>) -> Self {
        let mut tally = LicenseTally::default();
        for (product, created) in licenses {
            tally.add(product, created, 1);
        }
        tally
    }

    /// The transaction writes adding it takes.
    pub fn writes(&self) -> usize {
        1 + self.products.len() + self.months.len()
    }

    pub fn merge(&mut self, other: &LicenseTally) {
        self.total += other.total;
        for (product, n) in &other.products {
            *self.products.entry(*product).or_default() += n;
        }
        for (month, n) in &other.months {
            *self.months.entry(*month).or_default() += n;
        }
    }
}

/// Who holds a unique value: its owner, and the staged write it belongs to if not settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub owner: Id,
    pub attempt: Option<String>,
}

/// What settling a staged write does to each of its items (those still marked with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Committed: the mark (and a claim's TTL) is removed; the item stays.
    Keep,
    /// Rolled back: the item is deleted.
    Delete,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Company {
    pub id: Id,
    pub name: String,
    #[serde(with = "crate::timefmt::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// License API credentials as stored (LICENSE-API.md §0).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LicenseApiKeyRecord {
    pub api_key: String,
    pub company: Id,
    /// The HMAC shared key, sealed by the deployment's credentials key (`license_api::keys`).
    pub shared_key_sealed: String,
    pub revoked: bool,
}

/// An API key as stored: the secret only as its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub prefix: String,
    pub company: Id,
    pub secret_sha256: String,
    /// `None`: an admin of every product of the company; else the products it may manage.
    pub products: Option<Vec<Id>>,
    pub revoked: bool,
}

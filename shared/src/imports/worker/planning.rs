//! Planning: each row checked on its own, what a window's rows refer to looked up in a few
//! batched reads, and batches planned to fit one transaction each.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::{first_message, Batch, Known, Prepared, RowPlan, Run, WorkerError};
use crate::catalog::{Catalog, Customer, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::Id;
use crate::imports::rows::{column_of, map_row, row_text, RawRow};
use crate::imports::{ImportJob, InvalidRow, MAX_INVALID_DETAILS};
use crate::licenses::License;
use crate::orders::request::read_order;
use crate::orders::write::materialize;
use crate::orders::{Order, OrderItem};
use crate::store::{keys, later_than, Entity, MAX_TRANSACTION};

/// The job, the batch's page of invalid rows, the company's license counter and its creation
/// months' (two, should a batch straddle a month's end), and its customer and order counters.
/// Each product's counter is counted with the batch's first row of that product.
const BATCH_WRITES: usize = 7;
/// Invalid rows are stored with their batch, in one item (≤ 400 KB): a batch ends when its
/// invalid rows reach this size.
const INVALID_PAGE_BYTES: usize = 200 << 10;

impl Batch {
    /// Records an invalid row (while the job records details).
    fn invalid(&mut self, job: &ImportJob, row: InvalidRow) {
        if job.invalid_recorded + (self.invalid.len() as u64) < MAX_INVALID_DETAILS {
            self.invalid_bytes += serde_json::to_string(&row).map_or(0, |text| text.len());
            self.invalid.push(row);
        }
    }

    fn customer(&self, known: &Known, id: Id) -> Option<Customer> {
        self.customers.get(&id).map(|(_, after)| after.clone()).or_else(|| known.customers.get(&id).cloned())
    }

    fn order(&self, known: &Known, id: Id) -> Option<Order> {
        self.orders.get(&id).map(|(_, after)| after.clone()).or_else(|| known.orders.get(&id).cloned())
    }

    fn put_customer(&mut self, known: &Known, customer: Customer) {
        self.writes += stage(&mut self.customers, &known.customers, customer);
    }

    fn put_order(&mut self, known: &Known, order: Order) {
        self.writes += stage(&mut self.orders, &known.orders, order);
    }

    /// At most how many writes a valid row adds: its license, its history entry and its key
    /// claim; a customer or an order not in the batch yet: new (item, claim, counted marker) or
    /// found (item, marker); for a row without a customer, the totals of its order's customer.
    fn row_writes(&self, names_customer: bool, customer: Option<Id>, order: Option<Id>) -> usize {
        let touch = |in_batch: bool, found: bool| match (in_batch, found) {
            (true, _) => 0,
            (false, true) => 2,
            (false, false) => 3,
        };
        let customer = match (names_customer, customer) {
            (true, Some(id)) => touch(self.customers.contains_key(&id), true),
            (true, None) => 3,
            (false, _) => 1,
        };
        let order =
            order.map_or(3, |id| touch(self.orders.contains_key(&id) || self.order_adds.contains_key(&id), true));
        3 + customer + order
    }

    /// Whether this customer or order is counted for the first time (and marks it).
    fn first_use(&mut self, known: &Known, kind: &str, id: Id) -> bool {
        let marker = keys::import_seen_sk(kind, id);
        if known.counted.contains(&marker) || self.counted.contains(&marker) {
            return false;
        }
        self.counted.push(marker);
        self.writes += 1;
        true
    }
}

/// Puts `after` into a batch's versions, beside what the table holds; the writes it adds: one
/// (a replace) or two (a new item and its claim) the first time, none after.
fn stage<E: Entity + Clone>(staged: &mut BTreeMap<Id, (Option<E>, E)>, known: &HashMap<Id, E>, after: E) -> usize {
    let before = known.get(&after.id()).cloned();
    let writes = match (staged.contains_key(&after.id()), &before) {
        (true, _) => 0,
        (false, Some(_)) => 1,
        (false, None) => 2,
    };
    staged.insert(after.id(), (before, after));
    writes
}

impl<'a> Run<'a> {
    /// Checks a row on its own: its cells, then the order it stands for, as create_order would.
    pub(super) fn prepare(&self, row: &RawRow) -> Prepared {
        let invalid = |errors| Prepared::Invalid(InvalidRow { row: row.number, errors });
        let mapped = match row_text(&self.header.columns, &row.record).and_then(|t| map_row(&self.header.columns, &t)) {
            Ok(mapped) => mapped,
            Err(errors) => return invalid(errors),
        };
        let store_id = mapped.store_id.clone().unwrap_or_else(|| format!("import-{}", self.job.id));
        let mut body = mapped.order.clone();
        body.insert("id".into(), Value::String(store_id.clone()));
        if let Some(customer) = &mapped.customer {
            body.insert("customer".into(), Value::Object(customer.clone()));
        }
        let mut item = Map::new();
        item.insert("product_code".into(), Value::String(mapped.product_code.clone()));
        item.insert("licenses".into(), Value::Array(vec![Value::Object(mapped.license.clone())]));
        body.insert("items".into(), Value::Array(vec![Value::Object(item)]));
        let request = match read_order(&body, &self.catalog, &self.principal, self.created) {
            Ok(request) => request,
            Err(ApiError::Validation(errors)) => {
                let mut by_column: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (path, messages) in errors.entries() {
                    by_column.entry(column_of(path)).or_default().extend(messages.iter().cloned());
                }
                return invalid(by_column);
            }
            Err(other) => {
                return invalid(BTreeMap::from([("product__short_code".to_string(), vec![first_message(&other)])]))
            }
        };
        let Some(plan) = request.licenses.first() else {
            return invalid(BTreeMap::from([(
                "product__short_code".to_string(),
                vec!["No license to import.".to_string()],
            )]));
        };
        let (product, key) = (plan.license.product, plan.key.clone().unwrap_or_default());
        Prepared::Valid(Box::new(RowPlan {
            store_id,
            email: request.customer_email.as_ref().map(|e| e.to_lowercase()),
            request,
            enabled: mapped.enabled,
            product,
            key,
        }))
    }

    /// Reads what the rows refer to: customers by email, orders by id (and their customers),
    /// key claims, and which of those customers and orders this job has counted.
    pub(super) async fn look_up(&self, rows: &[(&RawRow, Prepared)]) -> Result<Known, WorkerError> {
        let plans: Vec<&RowPlan> = rows
            .iter()
            .filter_map(|(_, p)| if let Prepared::Valid(plan) = p { Some(plan.as_ref()) } else { None })
            .collect();
        let mut known = Known::default();
        let distinct = |values: Vec<String>| values.into_iter().collect::<HashSet<_>>().into_iter().collect::<Vec<_>>();

        let emails = distinct(plans.iter().filter_map(|p| p.email.clone()).collect());
        let email_claim = Customer::email_key("");
        known.customer_ids = self.store.unique_owners(email_claim.kind, &email_claim.scope, &emails).await?;
        let store_ids = distinct(plans.iter().map(|p| p.store_id.clone()).collect());
        let order_claim = Order::store_id_claim("");
        known.order_ids = self.store.unique_owners(order_claim.kind, &order_claim.scope, &store_ids).await?;
        let order_ids: Vec<Id> = known.order_ids.values().copied().collect();
        known.orders = self.store.get_many::<Order>(&order_ids).await?.into_iter().map(|o| (o.id, o)).collect();
        let mut customer_ids: Vec<Id> = known.customer_ids.values().copied().collect();
        customer_ids.extend(known.orders.values().filter_map(|o| o.customer));
        known.customers =
            self.store.get_many::<Customer>(&customer_ids).await?.into_iter().map(|c| (c.id, c)).collect();

        let mut by_product: BTreeMap<Id, Vec<String>> = BTreeMap::new();
        for plan in &plans {
            by_product.entry(plan.product).or_default().push(plan.key.clone());
        }
        for (product, keys) in by_product {
            let claim = License::key_claim(product, "");
            for (key, held) in self.store.claims(claim.kind, &claim.scope, &distinct(keys)).await? {
                match held.attempt {
                    Some(_) => known.staged_keys.insert((product, key)),
                    None => known.taken_keys.insert((product, key)),
                };
            }
        }

        let pk = keys::import_pk(self.store.company(), self.job.id);
        let markers: Vec<(String, String)> = known
            .customers
            .keys()
            .map(|id| keys::import_seen_sk(Customer::KIND, *id))
            .chain(known.orders.keys().map(|id| keys::import_seen_sk(Order::KIND, *id)))
            .map(|sk| (pk.clone(), sk))
            .collect();
        known.counted = self.store.existing(markers).await?.into_iter().map(|(_, sk)| sk).collect();
        Ok(known)
    }

    /// The next batch: rows from the start of `rows` while the transaction has room, at most
    /// `max_rows` of them.
    pub(super) fn plan(
        &self,
        rows: &[(&RawRow, Prepared)],
        known: &Known,
        max_rows: usize,
    ) -> Result<Batch, WorkerError> {
        let mut batch = Batch { first_row: rows.first().map_or(0, |(r, _)| r.number), ..Batch::default() };
        let mut new_keys: HashSet<(Id, String)> = HashSet::new();
        let mut new_customers: HashMap<String, Id> = HashMap::new();
        let mut new_orders: HashMap<String, Id> = HashMap::new();
        for (raw, prepared) in rows {
            let plan = match prepared {
                Prepared::Valid(plan) => Some(plan),
                Prepared::Invalid(_) => None,
            };
            let customer_id = plan
                .and_then(|p| p.email.as_ref())
                .and_then(|e| known.customer_ids.get(e).or_else(|| new_customers.get(e)).copied());
            let order_id =
                plan.and_then(|p| known.order_ids.get(&p.store_id).or_else(|| new_orders.get(&p.store_id)).copied());
            let writes = plan.map_or(0, |p| {
                let new_product = !batch.licenses.iter().any(|l| l.product == p.product);
                // Each custom field value: its marker, and at most its field's and the
                // company's value counters.
                let values = p.request.licenses.first().map_or(0, |l| l.license.custom_fields.len());
                let value_writes = if values == 0 { 0 } else { 2 * values + 1 };
                batch.row_writes(p.email.is_some(), customer_id, order_id) + usize::from(new_product) + value_writes
            });
            let full =
                batch.writes + writes + BATCH_WRITES > MAX_TRANSACTION || batch.invalid_bytes >= INVALID_PAGE_BYTES;
            if batch.rows > 0 && (full || batch.rows >= max_rows) {
                break;
            }
            let staged = plan.is_some_and(|p| {
                let key = (p.product, p.key.clone());
                known.staged_keys.contains(&key) && !new_keys.contains(&key)
            });
            if staged {
                // The batch ends before this row; it is read again once that write settles.
                batch.blocked = true;
                break;
            }
            batch.rows += 1;
            batch.end = raw.end;
            batch.next_row = raw.number + 1;
            batch.counts.total_row_count += 1;
            let plan = match prepared {
                Prepared::Invalid(row) => {
                    batch.invalid(&self.job, row.clone());
                    continue;
                }
                Prepared::Valid(plan) => plan,
            };
            let key = (plan.product, plan.key.clone());
            batch.counts.valid_row_count += 1;
            if known.taken_keys.contains(&key) || new_keys.contains(&key) {
                // The license is left as it is; what it would have used is found, not made.
                batch.counts.existed_licenses_count += 1;
                if customer_id.is_some_and(|id| batch.first_use(known, Customer::KIND, id)) {
                    batch.counts.existed_customers_count += 1;
                }
                if order_id.is_some_and(|id| batch.first_use(known, Order::KIND, id)) {
                    batch.counts.existed_orders_count += 1;
                }
                continue;
            }

            // The customer: found by email, else created from the row.
            let mut customer = match (customer_id, &plan.request.customer) {
                (Some(id), _) => {
                    let customer = batch
                        .customer(known, id)
                        .ok_or_else(|| WorkerError::Transient(format!("customer {id} vanished")))?;
                    if batch.first_use(known, Customer::KIND, id) {
                        batch.counts.existed_customers_count += 1;
                    }
                    Some(customer)
                }
                (None, Some(input)) => {
                    let created = match Customer::create(input, &mut self.ctx_for_create()) {
                        Ok(created) => created,
                        Err(ApiError::Validation(errors)) => {
                            let errors =
                                errors.entries().map(|(f, m)| (format!("customer__{f}"), m.to_vec())).collect();
                            batch.counts.valid_row_count -= 1;
                            batch.invalid(&self.job, InvalidRow { row: raw.number, errors });
                            continue;
                        }
                        Err(other) => return Err(other.into()),
                    };
                    new_customers.insert(plan.email.clone().unwrap_or_default(), created.id);
                    batch.first_use(known, Customer::KIND, created.id);
                    batch.counts.created_customers_count += 1;
                    Some(created)
                }
                (None, None) => None,
            };

            // The order: found by its id, else created from the row's order columns.
            let is_new_order = order_id.is_none();
            let mut order = match order_id {
                Some(id) => {
                    let order =
                        batch.order(known, id).ok_or_else(|| WorkerError::Transient(format!("order {id} vanished")))?;
                    if batch.first_use(known, Order::KIND, id) {
                        batch.counts.existed_orders_count += 1;
                    }
                    order
                }
                None => {
                    let order = Order {
                        id: self.ids.next_id(),
                        customer: customer.as_ref().map(|c| c.id),
                        ..plan.request.order.clone()
                    };
                    new_orders.insert(plan.store_id.clone(), order.id);
                    batch.first_use(known, Order::KIND, order.id);
                    batch.counts.created_orders_count += 1;
                    if let Some(c) = customer.as_mut() {
                        c.total_orders += 1;
                    }
                    order
                }
            };
            let (items_before, customer_before) = (order.items.len(), order.customer);
            order.customer = order.customer.or(customer.as_ref().map(|c| c.id));
            let item = match order.items.iter().find(|i| i.product == plan.product) {
                Some(item) => item.clone(),
                None => {
                    let item = OrderItem { id: self.ids.next_id(), product: plan.product };
                    order.items.push(item.clone());
                    item
                }
            };
            // An existing order is rewritten only when the row changes it (a new item, its
            // first customer): orders that shops append to all the time are not raced for
            // nothing.
            let order_changed = is_new_order || order.items.len() != items_before || order.customer != customer_before;
            // Its count: in the item when the batch writes the order anyway (a change, or an
            // earlier row of the batch), else by an add.
            let order_written = order_changed || batch.orders.contains_key(&order.id);
            if order_written {
                if let Some(added) = batch.order_adds.remove(&order.id) {
                    order.license_count += added;
                    batch.writes -= 1; // the add becomes part of the order's own write
                }
                order.license_count += 1;
            } else {
                let added = batch.order_adds.entry(order.id).or_insert_with(|| {
                    batch.writes += 1;
                    0
                });
                *added += 1;
            }
            if order_changed {
                order.updated_at = later_than(order.updated_at);
            }

            // The license belongs to the row's customer, else to the order's.
            if customer.is_none() {
                customer = order.customer.and_then(|id| batch.customer(known, id));
            }
            let mut licenses = materialize(&plan.request, &order, &[item], customer.as_ref(), self.ids);
            let Some(mut license) = licenses.pop() else { continue };
            if let Some(enabled) = plan.enabled {
                license.enabled = enabled;
            }
            if let Some(c) = customer.as_mut() {
                c.total_licenses += 1;
                c.updated_at = later_than(c.updated_at);
                batch.put_customer(known, c.clone());
            }
            if order_written {
                batch.put_order(known, order);
            }
            new_keys.insert(key);
            let new_product = !batch.licenses.iter().any(|l| l.product == license.product);
            let keys = license.unique_keys();
            let counters: Vec<String> =
                keys.iter().flat_map(|key| license.claim_extras(self.store.company(), key).counters).collect();
            let new_counters = counters.into_iter().filter(|c| batch.claim_counters.insert(c.clone())).count();
            // The license, its history entry, its claims and the counters it adds to the batch.
            batch.writes += 2 + keys.len() + usize::from(new_product) + new_counters;
            batch.licenses.push(license);
            batch.counts.created_licenses_count += 1;
        }
        Ok(batch)
    }

    /// What `Customer::create` needs. A row's customer columns name no labels or accounts,
    /// so the catalog is not consulted.
    pub(super) fn ctx_for_create(&self) -> WriteCtx<'_> {
        WriteCtx {
            principal: &self.principal,
            catalog: Catalog::default(),
            ids: self.ids,
            now: self.created,
            tx: self.store.transaction(),
            creating: true,
        }
    }
}

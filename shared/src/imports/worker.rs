//! The import worker: SQS messages (S3 "object created" events, and this worker's own
//! follow-ups) → rows of the file → customers, orders and licenses.
//!
//! Exactly-once effect. SQS delivers at least once, S3 may send an event twice, and a Lambda
//! can die anywhere. So:
//! - a run first takes the job's *lease* (a conditional write of the job); a message for a job
//!   another run holds is acknowledged and dropped: that run's own message stays in flight
//!   and comes back if it dies, after the lease has expired (lease = the run's deadline plus
//!   a margin, shorter than the queue's visibility timeout);
//! - rows are written in batches, each ONE DynamoDB transaction holding the batch's licenses
//!   and key claims, new or updated customers and orders, "counted" markers, the invalid rows
//!   of the batch, and the job itself with its checkpoint (byte offset and row number of the
//!   next row) and counts. The job write is conditional on the version the run last wrote,
//!   which also fences a run that lost its lease. A batch is thus written with its checkpoint
//!   or not at all: a resumed run starts exactly where the last committed batch ended;
//! - a batch whose transaction fails on a condition (a key, email or order id taken
//!   meanwhile, a customer changed) is looked up and planned again.
//!
//! Counts: a license is created or existed (its key already belonged to the product); a
//! customer or order counts once per job, as created or existed, when a row first uses it
//! (the marker written with that batch keeps a resumed run from counting it again).
//!
//! The file is read in ranges of `RANGE_BYTES` from the checkpoint, never whole. A run stops
//! `STOP_MARGIN` before its deadline, releases the lease and sends a follow-up message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::rows::{column_of, map_row, read_header, row_text, split_rows, Header, RawRow};
use super::{Counted, InvalidPage, InvalidRow, JobStatus, Lease, MAX_INVALID_DETAILS};
use crate::app::App;
use crate::auth::Principal;
use crate::catalog::{Catalog, Customer, Resource, WriteCtx};
use crate::error::ApiError;
use crate::ids::{Id, IdGenerator};
use crate::licenses::License;
use crate::orders::request::{read_order, OrderRequest};
use crate::orders::write::materialize;
use crate::orders::{Order, OrderItem};
use crate::store::{keys, later_than, Entity, StoreError, TenantStore, MAX_TRANSACTION};

use super::ImportJob;

/// Bytes read from S3 per request.
const RANGE_BYTES: u64 = 4 << 20;
/// The header row must fit in this many bytes.
const HEAD_BYTES: u64 = 64 << 10;
/// Rows looked up together (one set of batched reads).
const WINDOW_ROWS: usize = 500;
/// The job and the batch's page of invalid rows.
const BATCH_WRITES: usize = 2;
/// Invalid rows are stored with their batch, in one item (≤ 400 KB): a batch ends when its
/// invalid rows reach this size.
const INVALID_PAGE_BYTES: usize = 200 << 10;
/// How long, and how often, a window waits for a staged order write that holds one of its
/// keys to commit or roll back (a crashed one is rolled back by the sweeper, within minutes;
/// past the waits the message comes back later).
const STAGED_WAIT: Duration = Duration::from_secs(1);
const STAGED_WAITS: usize = 30;
/// Lost races on one window before the run gives up (the message is retried).
const WINDOW_ATTEMPTS: usize = 5;
/// A job's reason when its file was replaced after its import started.
const FILE_CHANGED: &str = "The file changed during the import (another upload to the same URL).";
/// Time kept for the last batch, releasing the lease and the follow-up message.
pub const STOP_MARGIN: Duration = Duration::from_secs(60);
/// How long a lease outlives its run's deadline. Must stay below the queue's visibility
/// timeout minus the function timeout (infra/template.yaml: 960 s − 900 s).
pub const LEASE_MARGIN: Duration = Duration::from_secs(20);
/// Deliveries of one message before it goes to the dead-letter queue (the template's
/// maxReceiveCount); the last one marks its job failed.
const MAX_RECEIVES: u32 = 5;

/// When the run must be done, how long before that it stops, and how long its lease
/// outlives the deadline.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    pub deadline: SystemTime,
    pub stop_margin: Duration,
    pub lease_margin: Duration,
}

impl WorkerOptions {
    /// A Lambda invocation's options.
    pub fn until(deadline: SystemTime) -> Self {
        WorkerOptions { deadline, stop_margin: STOP_MARGIN, lease_margin: LEASE_MARGIN }
    }
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// An object was created in the import bucket; `etag` names the upload (without quotes).
    Object { bucket: String, key: String, etag: Option<String> },
    /// A job to continue (a follow-up of a run that ran out of time).
    Continue { company: Id, job: Id },
}

#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records", default)]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Named,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Named {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    #[serde(rename = "eTag", default)]
    etag: Option<String>,
}

#[derive(Deserialize)]
struct FollowUp {
    import_job: JobRef,
}

#[derive(Deserialize)]
struct JobRef {
    company: Id,
    job: Id,
}

/// The work a message body asks for: S3 events (test events and other event types ask for
/// nothing) or a follow-up. S3 sends keys URL-encoded, with `+` for a space.
pub fn read_message(body: &str) -> Vec<Work> {
    if let Ok(follow_up) = serde_json::from_str::<FollowUp>(body) {
        return vec![Work::Continue { company: follow_up.import_job.company, job: follow_up.import_job.job }];
    }
    let Ok(notification) = serde_json::from_str::<S3Notification>(body) else { return Vec::new() };
    notification
        .records
        .into_iter()
        .filter(|r| r.event_name.is_empty() || r.event_name.starts_with("ObjectCreated"))
        .map(|r| Work::Object {
            bucket: r.s3.bucket.name,
            key: decode_key(&r.s3.object.key),
            etag: r.s3.object.etag.as_deref().map(unquoted),
        })
        .collect()
}

/// An ETag without its quotes (S3 quotes it in headers, not in events).
fn unquoted(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The body of a follow-up message.
pub fn follow_up_body(company: Id, job: Id) -> String {
    json!({"import_job": {"company": company, "job": job}}).to_string()
}

#[derive(Debug, thiserror::Error)]
enum WorkerError {
    /// The file can never be imported; the reason is shown in the job.
    #[error("{0}")]
    Fatal(String),
    /// Worth another delivery (AWS errors, lost races).
    #[error("{0}")]
    Transient(String),
    /// Another run took over the job.
    #[error("the job's lease was taken over")]
    LeaseLost,
}

impl From<StoreError> for WorkerError {
    fn from(err: StoreError) -> Self {
        WorkerError::Transient(err.to_string())
    }
}

impl From<ApiError> for WorkerError {
    fn from(err: ApiError) -> Self {
        WorkerError::Transient(err.to_string())
    }
}

/// One invocation of the worker Lambda: its SQS batch, within the invocation's deadline.
pub async fn handle_invocation(
    app: &App,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_http::Error> {
    let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
    Ok(handle_event(app, event.payload, &WorkerOptions::until(deadline)).await)
}

/// Handles a batch of SQS messages; the failed ones are reported for redelivery.
pub async fn handle_event(app: &App, event: SqsEvent, options: &WorkerOptions) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        if let Err(err) = handle_message(app, &message, options).await {
            tracing::error!(message_id = ?message.message_id, error = %err, "import message failed");
            if let Some(id) = message.message_id {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

async fn handle_message(app: &App, message: &SqsMessage, options: &WorkerOptions) -> Result<(), WorkerError> {
    let receives: u32 = message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    for work in read_message(message.body.as_deref().unwrap_or_default()) {
        let (company, job, upload) = match work {
            Work::Object { bucket, key, etag } => {
                let owner = keys::import_object_owner(&key);
                match owner {
                    Some((company, job)) if app.config.import_bucket.as_deref() == Some(bucket.as_str()) => {
                        (company, job, Some(Upload { key, etag }))
                    }
                    _ => {
                        tracing::warn!(bucket, key, "ignoring an object outside the import prefix");
                        continue;
                    }
                }
            }
            Work::Continue { company, job } => (company, job, None),
        };
        let store = app.store.tenant(company);
        let span = tracing::info_span!("import", company, job);
        // Boxed: the run's future is deep, and every caller's future would embed it.
        let result = tracing::Instrument::instrument(Box::pin(run_job(app, store, job, upload, options)), span).await;
        match result {
            Ok(()) | Err(WorkerError::LeaseLost) => {}
            Err(WorkerError::Fatal(reason)) => {
                fail_job(store, job, &reason).await;
                return Err(WorkerError::Fatal(reason));
            }
            Err(WorkerError::Transient(text)) => {
                if receives >= MAX_RECEIVES {
                    let reason = format!("The import failed {receives} times on storage errors and was given up.");
                    fail_job(store, job, &reason).await;
                }
                return Err(WorkerError::Transient(text));
            }
        }
    }
    Ok(())
}

/// Marks a job failed (unless it has finished meanwhile).
async fn fail_job(store: TenantStore<'_>, id: Id, reason: &str) {
    for _ in 0..3 {
        let Ok(Some(job)) = store.get::<ImportJob>(id).await else { return };
        if job.status.is_finished() {
            return;
        }
        let now = crate::timefmt::now();
        let mut failed = job.next_version(now);
        failed.status = JobStatus::Error;
        failed.error = Some(reason.to_string());
        failed.finished_at = Some(now);
        failed.lease = None;
        let mut tx = store.transaction();
        if tx.replace(&job, &failed).is_ok() && tx.commit().await.is_ok() {
            return;
        }
    }
    tracing::error!(job = id, "could not mark the import job failed");
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The upload an S3 event reports.
struct Upload {
    key: String,
    etag: Option<String>,
}

impl Upload {
    /// Whether this event is the one of the upload `job` imports (a redelivery of it), rather
    /// than a later upload to the same presigned URL, which a started job ignores.
    fn is_of(&self, job: &ImportJob) -> bool {
        self.key == job.object_key
            && match (&self.etag, &job.object_etag) {
                (Some(event), Some(recorded)) => event == recorded,
                // Not recorded yet (no run has read the file): the next run reads and pins it.
                _ => true,
            }
    }
}

async fn run_job(
    app: &App,
    store: TenantStore<'_>,
    id: Id,
    upload: Option<Upload>,
    options: &WorkerOptions,
) -> Result<(), WorkerError> {
    let owner = format!("{:016x}", rand::random::<u64>());
    let mut attempts = 0;
    let job = loop {
        let Some(job) = store.get::<ImportJob>(id).await? else {
            tracing::warn!("no such import job; ignoring the message");
            return Ok(());
        };
        if job.status.is_finished() {
            tracing::info!(status = job.status.as_str(), "the job has ended; ignoring the message");
            return Ok(());
        }
        if upload.as_ref().is_some_and(|u| job.status != JobStatus::Pending && !u.is_of(&job)) {
            tracing::warn!("another upload to a job that has started; ignoring it");
            return Ok(());
        }
        if job.lease.as_ref().is_some_and(|l| l.until_ms > epoch_ms(SystemTime::now())) {
            tracing::info!("another run holds the job");
            return Ok(());
        }
        let now = crate::timefmt::now();
        let mut taken = job.next_version(now);
        taken.status = JobStatus::Running;
        taken.started_at.get_or_insert(now);
        taken.lease = Some(Lease { owner: owner.clone(), until_ms: epoch_ms(options.deadline + options.lease_margin) });
        if let Some(upload) = &upload {
            taken.object_key.clone_from(&upload.key);
        }
        let mut tx = store.transaction();
        tx.replace(&job, &taken)?;
        match tx.commit().await {
            Ok(()) => break taken,
            Err(StoreError::Stale(_)) if attempts < 3 => attempts += 1,
            Err(err) => return Err(err.into()),
        }
    };
    let mut run = Run::start(app, store, job, options).await?;
    let finished = run.import().await?;
    run.end(finished).await?;
    if !finished {
        let queue = app.config.import_queue_url.as_deref().ok_or_else(|| {
            WorkerError::Transient("IMPORT_QUEUE_URL is not set: the job continues when this message returns".into())
        })?;
        let body = follow_up_body(store.company(), id);
        app.sqs.send_message().queue_url(queue).message_body(body).send().await.map_err(|e| {
            WorkerError::Transient(format!("sending the follow-up message: {}", crate::store::error_text(&e)))
        })?;
        tracing::info!(next_row = run.job.next_row, "out of time; a follow-up message continues the job");
    }
    Ok(())
}

/// One run over a job whose lease it holds.
struct Run<'a> {
    app: &'a App,
    store: TenantStore<'a>,
    /// The job as this run last wrote it.
    job: ImportJob,
    /// When the run stops taking new rows (once it has written some: every run makes progress,
    /// whatever deadline an emulator or a short timeout gives it).
    stop_at: SystemTime,
    wrote_rows: bool,
    principal: Principal,
    catalog: Catalog,
    ids: &'a IdGenerator,
    header: Header,
    size: u64,
    /// When rows are dated: the job's start, the same in every run of the job.
    created: OffsetDateTime,
}

/// A row read and checked against the catalog; nothing looked up yet.
enum Prepared {
    Invalid(InvalidRow),
    Valid(Box<RowPlan>),
}

struct RowPlan {
    store_id: String,
    request: OrderRequest,
    email: Option<String>,
    enabled: Option<bool>,
    product: Id,
    key: String,
}

/// What the table holds for the rows of a window, as of the last lookup plus the batches
/// committed since.
#[derive(Default)]
struct Known {
    customer_ids: HashMap<String, Id>,
    customers: HashMap<Id, Customer>,
    order_ids: HashMap<String, Id>,
    orders: HashMap<Id, Order>,
    taken_keys: HashSet<(Id, String)>,
    /// Keys claimed by a staged order write not settled yet: its licenses may still be rolled
    /// back, so such a row is neither created nor counted `existed` until it is settled.
    staged_keys: HashSet<(Id, String)>,
    counted: HashSet<String>,
}

/// The writes of one transaction.
#[derive(Default)]
struct Batch {
    rows: usize,
    first_row: u64,
    end: u64,
    next_row: u64,
    customers: BTreeMap<Id, (Option<Customer>, Customer)>,
    orders: BTreeMap<Id, (Option<Order>, Order)>,
    licenses: Vec<License>,
    counted: Vec<String>,
    invalid: Vec<InvalidRow>,
    invalid_bytes: usize,
    counts: super::Counts,
    writes: usize,
    /// The batch stops before a row whose key a staged order write holds.
    blocked: bool,
}

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

    /// At most how many writes a valid row adds: its license and key claim; a customer or an
    /// order not in the batch yet: new (item, claim, counted marker) or found (item, marker);
    /// for a row without a customer, the totals of its order's customer.
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
        let order = order.map_or(3, |id| touch(self.orders.contains_key(&id), true));
        2 + customer + order
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
    async fn start(
        app: &'a App,
        store: TenantStore<'a>,
        job: ImportJob,
        options: &WorkerOptions,
    ) -> Result<Run<'a>, WorkerError> {
        // The margin is at most a quarter of the time left, so a short-lived run (a small
        // function timeout, a local emulator) still makes progress before it hands over.
        let left = options.deadline.duration_since(SystemTime::now()).unwrap_or_default();
        let stop_at = options.deadline - options.stop_margin.min(left / 4);
        tracing::info!(ms_left = left.as_millis() as u64, next_row = job.next_row, "run started");
        let bucket = app
            .config
            .import_bucket
            .clone()
            .ok_or_else(|| WorkerError::Transient("IMPORT_BUCKET is not set".into()))?;
        let mut job = job;
        let head = app.s3.head_object().bucket(&bucket).key(&job.object_key).send().await;
        let (size, etag) = match head {
            Ok(head) => (head.content_length().unwrap_or(0).max(0) as u64, head.e_tag().map(unquoted)),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Err(WorkerError::Fatal("The uploaded file is gone.".into()))
            }
            Err(err) => return Err(WorkerError::Transient(crate::store::error_text(&err))),
        };
        // The first run pins the version it reads; the job stores it with its first batch.
        match (&job.object_etag, etag) {
            (Some(pinned), Some(now)) if *pinned != now => return Err(WorkerError::Fatal(FILE_CHANGED.into())),
            (Some(_), _) => {}
            (None, now) => job.object_etag = now,
        }
        let principal = Principal {
            company: store.company(),
            products: job.products.as_ref().map(|p| p.iter().copied().collect()),
        };
        let ids = app.ids().await?;
        let catalog = Catalog::load(store).await?;
        let created = job.started_at.unwrap_or(job.created_at);
        let header = Header { columns: Vec::new(), data_start: 0 };
        let mut run =
            Run { app, store, job, stop_at, wrote_rows: false, principal, catalog, ids, header, size, created };
        let head = run.read_range(0, HEAD_BYTES).await?;
        run.header = read_header(&head).map_err(|err| WorkerError::Fatal(first_message(&err)))?;
        Ok(run)
    }

    fn out_of_time(&self) -> bool {
        self.wrote_rows && SystemTime::now() >= self.stop_at
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, WorkerError> {
        if self.size == 0 || start >= self.size {
            return Ok(Vec::new());
        }
        let end = (start + len).min(self.size) - 1;
        let bucket = self.app.config.import_bucket.as_deref().unwrap_or_default();
        let out = self
            .app
            .s3
            .get_object()
            .bucket(bucket)
            .key(&self.job.object_key)
            .range(format!("bytes={start}-{end}"))
            .set_if_match(self.job.object_etag.as_ref().map(|etag| format!("\"{etag}\"")))
            .send()
            .await
            .map_err(|e| match e.raw_response().map(|r| r.status().as_u16()) {
                // Another upload replaced the file: the rest of it is not the file the job read.
                Some(412) => WorkerError::Fatal(FILE_CHANGED.into()),
                _ => WorkerError::Transient(crate::store::error_text(&e)),
            })?;
        let bytes = out.body.collect().await.map_err(|e| WorkerError::Transient(e.to_string()))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// The complete rows of the range from `start` (numbered from `first_row`) and whether it
    /// reaches the end of the file; `None` past the end.
    async fn rows_from(&self, start: u64, first_row: u64) -> Result<Option<(Vec<RawRow>, bool)>, WorkerError> {
        if start >= self.size {
            return Ok(None);
        }
        let buf = self.read_range(start, RANGE_BYTES).await?;
        let at_end = start + buf.len() as u64 >= self.size;
        let rows = split_rows(&buf, start, first_row, at_end);
        if rows.is_empty() && !at_end {
            return Err(WorkerError::Fatal(format!("Row {first_row} is longer than {} MB.", RANGE_BYTES >> 20)));
        }
        Ok(Some((rows, at_end)))
    }

    /// Counts the data rows (once per job, for its progress).
    async fn count_rows(&self) -> Result<u64, WorkerError> {
        let (mut at, mut count) = (self.header.data_start, 0);
        while let Some((rows, at_end)) = self.rows_from(at, count + 1).await? {
            count += rows.len() as u64;
            match rows.last() {
                Some(last) if !at_end => at = last.end,
                _ => break,
            }
        }
        Ok(count)
    }

    /// Imports from the checkpoint on; `false` if the run ran out of time first.
    async fn import(&mut self) -> Result<bool, WorkerError> {
        if self.job.total_rows.is_none() {
            self.job.total_rows = Some(self.count_rows().await?);
        }
        loop {
            let start = self.job.next_offset.max(self.header.data_start);
            let Some((rows, at_end)) = self.rows_from(start, self.job.next_row).await? else { return Ok(true) };
            for window in rows.chunks(WINDOW_ROWS) {
                if self.out_of_time() {
                    return Ok(false);
                }
                self.import_window(window).await?;
                self.wrote_rows = true;
            }
            if at_end {
                return Ok(true);
            }
        }
    }

    /// Ends the run: the job finished, or released for the follow-up.
    async fn end(&mut self, finished: bool) -> Result<(), WorkerError> {
        let now = crate::timefmt::now();
        let mut next = self.job.next_version(now);
        next.lease = None;
        if finished {
            next.status = JobStatus::Success;
            next.finished_at = Some(now);
        }
        let mut tx = self.store.transaction();
        tx.replace(&self.job, &next)?;
        match tx.commit().await {
            Ok(()) => {
                self.job = next;
                Ok(())
            }
            Err(StoreError::Stale(_)) => Err(WorkerError::LeaseLost),
            Err(err) => Err(err.into()),
        }
    }

    async fn import_window(&mut self, rows: &[RawRow]) -> Result<(), WorkerError> {
        let prepared: Vec<(&RawRow, Prepared)> = rows.iter().map(|row| (row, self.prepare(row))).collect();
        let mut done = 0;
        let mut attempts = 0;
        let mut waits = 0;
        while done < prepared.len() {
            let mut known = self.look_up(&prepared[done..]).await?;
            while done < prepared.len() {
                let batch = self.plan(&prepared[done..], &known)?;
                let rows = batch.rows;
                if rows == 0 && batch.blocked {
                    // A staged order write holds the next row's key: wait for it to settle.
                    waits += 1;
                    if waits > STAGED_WAITS {
                        return Err(WorkerError::Transient(
                            "a row's key stays held by an unsettled order write".into(),
                        ));
                    }
                    tokio::time::sleep(STAGED_WAIT).await;
                    break;
                }
                match self.commit(batch, &mut known).await? {
                    true => done += rows,
                    false => {
                        attempts += 1;
                        if attempts >= WINDOW_ATTEMPTS {
                            return Err(WorkerError::Transient("rows kept losing races with other writers".into()));
                        }
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks a row on its own: its cells, then the order it stands for, as create_order would.
    fn prepare(&self, row: &RawRow) -> Prepared {
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
    async fn look_up(&self, rows: &[(&RawRow, Prepared)]) -> Result<Known, WorkerError> {
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

    /// The next batch: rows from the start of `rows` while the transaction has room.
    fn plan(&self, rows: &[(&RawRow, Prepared)], known: &Known) -> Result<Batch, WorkerError> {
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
            let writes = plan.map_or(0, |p| batch.row_writes(p.email.is_some(), customer_id, order_id));
            let full =
                batch.writes + writes + BATCH_WRITES > MAX_TRANSACTION || batch.invalid_bytes >= INVALID_PAGE_BYTES;
            if batch.rows > 0 && full {
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
            order.customer = order.customer.or(customer.as_ref().map(|c| c.id));
            let item = match order.items.iter().find(|i| i.product == plan.product) {
                Some(item) => item.clone(),
                None => {
                    let item = OrderItem { id: self.ids.next_id(), product: plan.product };
                    order.items.push(item.clone());
                    item
                }
            };
            order.updated_at = later_than(order.updated_at);

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
            batch.put_order(known, order);
            new_keys.insert(key);
            batch.writes += 1 + license.unique_keys().len();
            batch.licenses.push(license);
            batch.counts.created_licenses_count += 1;
        }
        Ok(batch)
    }

    /// What `Customer::create` needs. A row's customer columns name no labels or accounts,
    /// so the catalog is not consulted.
    fn ctx_for_create(&self) -> WriteCtx<'_> {
        WriteCtx {
            principal: &self.principal,
            catalog: Catalog::default(),
            ids: self.ids,
            now: self.created,
            tx: self.store.transaction(),
            creating: true,
        }
    }

    /// Writes a batch with the job's checkpoint in one transaction. `false`: a condition
    /// failed (another writer got there first); look up and plan again.
    async fn commit(&mut self, batch: Batch, known: &mut Known) -> Result<bool, WorkerError> {
        let company = self.store.company();
        let mut tx = self.store.transaction();
        for (before, after) in batch.customers.values() {
            match before {
                Some(before) => tx.replace(before, after)?,
                None => tx.create_after_lookup(after)?,
            }
        }
        for (before, after) in batch.orders.values() {
            match before {
                Some(before) => tx.replace(before, after)?,
                None => tx.create_after_lookup(after)?,
            }
        }
        for license in &batch.licenses {
            tx.create(license)?;
        }
        let pk = keys::import_pk(company, self.job.id);
        for marker in &batch.counted {
            tx.create_record(pk.clone(), marker.clone(), &Counted { job: self.job.id }, "COUNTED")?;
        }
        if !batch.invalid.is_empty() {
            let page = InvalidPage { rows: batch.invalid.clone() };
            tx.create_record(pk.clone(), keys::import_invalid_sk(batch.first_row), &page, "INVALID_ROWS")?;
        }
        let mut job = self.job.next_version(crate::timefmt::now());
        let (c, d) = (&mut job.counts, &batch.counts);
        c.total_row_count += d.total_row_count;
        c.valid_row_count += d.valid_row_count;
        c.created_customers_count += d.created_customers_count;
        c.existed_customers_count += d.existed_customers_count;
        c.created_orders_count += d.created_orders_count;
        c.existed_orders_count += d.existed_orders_count;
        c.created_licenses_count += d.created_licenses_count;
        c.existed_licenses_count += d.existed_licenses_count;
        job.next_offset = batch.end;
        job.next_row = batch.next_row;
        job.invalid_recorded += batch.invalid.len() as u64;
        tx.replace(&self.job, &job)?;
        match tx.commit().await {
            Ok(()) => {}
            Err(StoreError::Stale(_) | StoreError::Conflict(_)) => {
                let current = self.store.get::<ImportJob>(self.job.id).await?;
                if current.is_none_or(|j| j.updated_at != self.job.updated_at) {
                    return Err(WorkerError::LeaseLost);
                }
                return Ok(false);
            }
            Err(err) => return Err(err.into()),
        }
        self.job = job;
        for (_, after) in batch.customers.into_values() {
            known.customer_ids.insert(after.email.to_lowercase(), after.id);
            known.customers.insert(after.id, after);
        }
        for (_, after) in batch.orders.into_values() {
            known.order_ids.insert(after.store_id.clone(), after.id);
            known.orders.insert(after.id, after);
        }
        for license in batch.licenses {
            known.taken_keys.insert((license.product, license.license_key.unwrap_or_default()));
        }
        known.counted.extend(batch.counted);
        Ok(true)
    }
}

/// The first message of an error, for a job's reason or a row's column.
fn first_message(err: &ApiError) -> String {
    let body = err.body();
    let first = body.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(Value::Null);
    match first {
        Value::String(text) => text,
        Value::Array(list) => list.first().and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_work() {
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-23T08:00:00Z","Bucket":"b"}"#;
        assert_eq!(read_message(test_event), vec![]);
        assert_eq!(read_message("not json"), vec![]);
        // moto's shape: few fields, key URL-encoded (`/` as %2F, space as +).
        let created = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"imports%2F1%2F2%2Fmy+file%281%29.csv","size":3,"eTag":"0cc175b9c0f1b6a831c399e269772661"}}}]}"#;
        assert_eq!(
            read_message(created),
            vec![Work::Object {
                bucket: "b".into(),
                key: "imports/1/2/my file(1).csv".into(),
                etag: Some("0cc175b9c0f1b6a831c399e269772661".into())
            }]
        );
        let removed =
            r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        assert_eq!(read_message(removed), vec![]);
        assert_eq!(read_message(&follow_up_body(4, 9)), vec![Work::Continue { company: 4, job: 9 }]);
    }

    #[test]
    fn first_messages_of_errors() {
        assert_eq!(first_message(&ApiError::field("file", "The file is empty.")), "The file is empty.");
        assert_eq!(first_message(&ApiError::PermissionDenied("No.".into())), "No.");
    }
}

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
//!
//! This module takes messages and jobs (leases, failures, follow-ups); `reading` reads the
//! file, `planning` turns rows into batches, `committing` runs the windows and commits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::rows::Header;
use super::{InvalidRow, JobStatus, Lease};
use crate::app::App;
use crate::auth::Principal;
use crate::catalog::{Catalog, Customer};
use crate::error::ApiError;
use crate::ids::{Id, IdGenerator};
use crate::licenses::License;
use crate::orders::request::OrderRequest;
use crate::orders::Order;
use crate::store::{keys, StoreError, TenantStore};

use super::ImportJob;

mod committing;
mod planning;
mod reading;

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
        match err {
            // The file's content made a write pass DynamoDB's limits: no retry can help.
            StoreError::TooLarge { message, .. } => WorkerError::Fatal(message),
            other => WorkerError::Transient(other.to_string()),
        }
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
    /// Licenses added to orders the batch does not otherwise change: their `license_count`
    /// moves by an unconditional add (see `Transaction::add_to`).
    order_adds: BTreeMap<Id, i64>,
    licenses: Vec<License>,
    /// The counters the licenses' claims move (their custom field values'), each one write.
    claim_counters: std::collections::BTreeSet<String>,
    counted: Vec<String>,
    invalid: Vec<InvalidRow>,
    invalid_bytes: usize,
    counts: super::Counts,
    writes: usize,
    /// The batch stops before a row whose key a staged order write holds.
    blocked: bool,
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

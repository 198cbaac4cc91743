//! `make chaos` (issue 11): everything at once against moto, with faults, then the invariants.
//!
//! For `CHAOS_SECONDS` (default 600): 4 imports at once of overlapping files (shared keys,
//! customers and order ids), fed to the worker by an in-process bridge as Lambda's SQS event
//! source would (up to `IMPORT_WORKER_CONCURRENCY` invocations at once, one message each,
//! failed messages back after their visibility timeout); create_orders appending to the same
//! orders for the same customers, some large enough to be staged; update_features on the
//! licenses being imported; and a random `CHAOS_FAULT_RATE` (default 0.02) of DynamoDB calls
//! failing (throttling, 500, timeout; the SDK retries as in production). New files are
//! uploaded as imports finish. Then the writers stop, faults stop, the imports drain, the
//! sweeper runs, and the invariants are checked and printed as one line:
//!
//! `chaos ops=<n> faults=<f> stuck_jobs=0 lost_rows=0 duplicate_keys=0 count_mismatches=0`
//!
//! Exits non-zero if any is not 0. Needs the AWS settings of moto (scripts/chaos.sh).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use integration_tests::faults::{Fault, Faults, Service};
use integration_tests::{counter_mismatches, history_mismatches, scan, Tenant};
use serde_json::{json, Value};
use shared::imports::worker::{handle_event, WorkerOptions};

/// Keys, customers and order ids the files and orders draw from (overlapping on purpose).
const KEYS: usize = 3_000;
const CUSTOMERS: usize = 40;
const STORE_IDS: usize = 30;
const ROWS_PER_FILE: usize = 400;
/// How long a delivered message stays invisible (the bridge's own, shorter than the
/// template's: a failed run's message comes back within the drain).
const VISIBILITY_S: i32 = 20;
/// A worker invocation's time (its lease lasts until then).
const INVOCATION: Duration = Duration::from_secs(15);

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A file of `ROWS_PER_FILE` valid rows from the shared pools, seeded by `n`.
fn file(n: u64) -> (String, BTreeSet<String>) {
    let mut text = String::from("license__license_key,product__short_code,customer__email,order__store_id\n");
    let mut keys = BTreeSet::new();
    let start = (n as usize * 97) % KEYS;
    for i in 0..ROWS_PER_FILE {
        let key = format!("CH-{:05}", (start + i * 7) % KEYS);
        if !keys.insert(key.clone()) {
            continue;
        }
        let customer = (start + i) % CUSTOMERS;
        let store_id = (start / 7 + i) % STORE_IDS;
        text.push_str(&format!("{key},app,c{customer}@example.com,s-{store_id}\n"));
    }
    (text, keys)
}

struct Stats {
    ops: AtomicU64,
    stop: AtomicBool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let seconds: u64 = env_num("CHAOS_SECONDS", 600);
    let rate: f64 = env_num("CHAOS_FAULT_RATE", 0.02);
    let concurrency: usize = env_num("IMPORT_WORKER_CONCURRENCY", 4);
    let faults = Faults::default();
    let t = Arc::new(Tenant::of(integration_tests::app_with_faults(&faults, true).await).await);
    let product = t.product("app").await;
    t.create("/api/v1/product-features/", &json!({"product": product, "name": "F", "code": "f"})).await;
    let stats = Arc::new(Stats { ops: AtomicU64::new(0), stop: AtomicBool::new(false) });
    faults.fail_randomly(Service::DynamoDb, rate, &[Fault::Throttle, Fault::ServerError, Fault::Timeout]);
    let started = Instant::now();

    let bridge = tokio::spawn(bridge(t.clone(), concurrency));
    let mut writers = Vec::new();
    for w in 0..3 {
        writers.push(tokio::spawn(orders(t.clone(), stats.clone(), w)));
    }
    writers.push(tokio::spawn(feature_changes(t.clone(), stats.clone())));
    // Imports: 4 at once, a new file as one finishes.
    let mut jobs: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut running: Vec<u64> = Vec::new();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        while running.len() < 4 {
            n += 1;
            let (text, keys) = file(n);
            let (status, body) = t.upload_csv(&format!("chaos-{n}.csv"), text.as_bytes()).await;
            stats.ops.fetch_add(1, Ordering::Relaxed);
            if status == 200 {
                let job = body["job_id"].as_u64().expect("job_id");
                jobs.insert(job, keys);
                running.push(job);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut still = Vec::new();
        for job in running {
            if !finished(&t, job).await {
                still.push(job);
            }
        }
        running = still;
    }
    stats.stop.store(true, Ordering::SeqCst);
    for writer in writers {
        let _ = writer.await;
    }
    faults.clear();
    // Drain: every job ends (failed messages come back after their visibility timeout).
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(300) {
        let mut open = 0;
        for job in jobs.keys() {
            if !finished(&t, *job).await {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let drained = drain.elapsed().as_secs();
    bridge.abort();
    let far = shared::ids::now_ms() + shared::orders::staging::DEADLINE_MS + shared::ids::CLOCK_SKEW_MS + 1_000;
    shared::orders::staging::sweep(&t.app.store, far).await.expect("sweep");

    let checking = Instant::now();
    let report = check(&t, &jobs).await;
    println!(
        "chaos ops={} faults={} stuck_jobs={} lost_rows={} duplicate_keys={} count_mismatches={}",
        stats.ops.load(Ordering::Relaxed) + jobs.len() as u64,
        faults.injected(),
        report.stuck_jobs,
        report.lost_rows,
        report.duplicate_keys,
        report.count_mismatches
    );
    eprintln!(
        "chaos: {} s in all ({} s draining, {} s checking), {} imports",
        started.elapsed().as_secs(),
        drained,
        checking.elapsed().as_secs(),
        jobs.len()
    );
    for detail in report.details.iter().take(20) {
        eprintln!("chaos: {detail}");
    }
    if report.stuck_jobs + report.lost_rows + report.duplicate_keys + report.count_mismatches > 0 {
        std::process::exit(1);
    }
}

async fn finished(t: &Tenant, job: u64) -> bool {
    let (_, body) = t.get(&format!("/api/v1/licenses-import-results/{job}/")).await;
    matches!(body["status"].as_str(), Some("success" | "error"))
}

/// Lambda's SQS event source, in process: one message per invocation, up to `concurrency`
/// invocations at once; a message the worker reports failed comes back after its visibility
/// timeout.
async fn bridge(t: Arc<Tenant>, concurrency: usize) {
    let queue = t.app.config.import_queue_url.clone().expect("queue");
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let received = t
            .app
            .sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(1)
            .visibility_timeout(VISIBILITY_S)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await;
        let Some(message) = received.ok().and_then(|r| r.messages.unwrap_or_default().into_iter().next()) else {
            continue;
        };
        let t = t.clone();
        let queue = queue.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.body = message.body.clone();
            if let Some(attributes) = &message.attributes {
                for (name, value) in attributes {
                    record.attributes.insert(name.as_str().to_string(), value.clone());
                }
            }
            let mut event = SqsEvent::default();
            event.records = vec![record];
            let options = WorkerOptions {
                deadline: SystemTime::now() + INVOCATION,
                stop_margin: Duration::from_secs(3),
                lease_margin: Duration::from_secs(2),
            };
            let response = handle_event(&t.app, event, &options).await;
            if response.batch_item_failures.is_empty() {
                if let Some(handle) = message.receipt_handle() {
                    let _ = t.app.sqs.delete_message().queue_url(&queue).receipt_handle(handle).send().await;
                }
            }
        });
    }
}

/// create_orders on the shared customers and order ids: appends of 1–3 licenses (pool keys or
/// generated), and now and then 50 at once (a staged write).
async fn orders(t: Arc<Tenant>, stats: Arc<Stats>, writer: u64) {
    let mut i: u64 = 0;
    while !stats.stop.load(Ordering::SeqCst) {
        i += 1;
        let seed = (writer * 7_919 + i * 104_729) as usize;
        let count = if i.is_multiple_of(25) { 50 } else { 1 + seed % 3 };
        let licenses: Vec<Value> = (0..count)
            .map(|j| {
                if (seed + j).is_multiple_of(2) {
                    json!({"key": format!("CH-{:05}", (seed + j * 13) % KEYS)})
                } else {
                    json!({})
                }
            })
            .collect();
        let body = json!({
            "id": format!("s-{}", seed % STORE_IDS), "append": true,
            "customer": {"email": format!("c{}@example.com", seed % CUSTOMERS)},
            "items": [{"product_code": "app", "licenses": licenses}],
        });
        t.post("/api/v1/orders/create_order/", &body).await;
        stats.ops.fetch_add(1, Ordering::Relaxed);
    }
}

/// update_features on licenses of the pool, while imports write them.
async fn feature_changes(t: Arc<Tenant>, stats: Arc<Stats>) {
    let mut i = 0;
    while !stats.stop.load(Ordering::SeqCst) {
        i += 1;
        let key = format!("CH-{:05}", (i * 37) % KEYS);
        let (_, list) = t.get(&format!("/api/v1/licenses/?license_key={key}")).await;
        stats.ops.fetch_add(1, Ordering::Relaxed);
        if let Some(id) = list["results"][0]["id"].as_u64() {
            let change = json!({"product_features": [{"product_feature": "f", "max_consumption": i % 100}]});
            t.post(&format!("/api/v1/licenses/{id}/update_features/"), &change).await;
            stats.ops.fetch_add(1, Ordering::Relaxed);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[derive(Default)]
struct Report {
    stuck_jobs: u64,
    lost_rows: u64,
    duplicate_keys: u64,
    count_mismatches: u64,
    details: Vec<String>,
}

/// The invariants: jobs ended, rows imported, keys unique, counts adding up.
async fn check(t: &Tenant, jobs: &BTreeMap<u64, BTreeSet<String>>) -> Report {
    use shared::licenses::License;
    let mut report = Report::default();
    let licenses: Vec<License> = scan(t).await;
    let mut by_key: HashMap<String, u64> = HashMap::new();
    for license in &licenses {
        if license.attempt.is_some() {
            report.count_mismatches += 1;
            report.details.push(format!("license {} still marked by a staged write", license.id));
        }
        if let Some(key) = &license.license_key {
            *by_key.entry(key.clone()).or_default() += 1;
        }
    }
    // Every counter against a recount (every write has settled by now).
    for mismatch in counter_mismatches(t).await.into_iter().chain(history_mismatches(t).await) {
        report.count_mismatches += 1;
        report.details.push(mismatch);
    }
    for (key, count) in &by_key {
        if *count > 1 {
            report.duplicate_keys += 1;
            report.details.push(format!("key {key} is held by {count} licenses"));
        }
    }
    for (job, keys) in jobs {
        let (_, result) = t.get(&format!("/api/v1/licenses-import-results/{job}/")).await;
        match result["status"].as_str() {
            Some("success") => {}
            other => {
                report.stuck_jobs += 1;
                report.details.push(format!("job {job} ended {other:?}: {}", result["error"]));
                continue;
            }
        }
        for key in keys {
            if !by_key.contains_key(key) {
                report.lost_rows += 1;
                report.details.push(format!("job {job}: no license for {key}"));
            }
        }
        let r = &result["result"];
        let n = |name: &str| r[name].as_u64().unwrap_or(u64::MAX);
        let rows = keys.len() as u64;
        let adds_up = n("total_row_count") == rows
            && n("valid_row_count") == rows
            && n("created_licenses_count") + n("existed_licenses_count") == rows
            && result["progress"]["processed_rows"] == result["progress"]["total_rows"];
        if !adds_up {
            report.count_mismatches += 1;
            report.details.push(format!("job {job}: {result}"));
        }
    }
    report
}

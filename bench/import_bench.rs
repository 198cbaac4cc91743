//! A CSV import of many rows into moto: rows/s, the worker's peak RSS, DynamoDB requests per
//! row; and, in the same run, moto's raw BatchWriteItem rate for as many items, as the
//! yardstick (import rows/s ÷ raw items/s).
//!
//! The worker runs in this process, fed the S3 event SQS would deliver; the peak RSS is the
//! process's high-water mark, reset (`/proc/self/clear_refs`) after the file was generated
//! and uploaded, so it is the worker's.
//!
//! usage (make bench starts moto): import_bench [ROWS]

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use bench::BenchTenant;
use lambda_http::http::Method;
use serde_json::json;
use shared::imports::worker::{handle_event, WorkerOptions};
use shared::store::keys;

/// A row like a vendor's export: a customer with names, an order of ten rows, a note.
fn csv(rows: usize) -> String {
    let mut text = String::from(
        "license__license_key,product__short_code,customer__email,customer__first_name,customer__last_name,\
         customer__company_name,order__store_id,license__license_type,license__max_activations,license__note\n",
    );
    for i in 0..rows {
        let customer = i / 10;
        text.push_str(&format!(
            "IMP-{i:08},app,c{customer}@bench.example,First{customer},Last{customer},\"Company {customer}, Ltd\",\
             order-{},perpetual,{},\"imported row {i}\"\n",
            i / 10,
            i % 5 + 1
        ));
    }
    text
}

fn rss_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let tenant = BenchTenant::new().await;
    let BenchTenant { app, counter, company, .. } = &tenant;
    let company = *company;
    let (status, _) = tenant
        .call(Method::POST, "/api/v1/products/", Some(&json!({"product_name": "App", "short_code": "app"})))
        .await;
    assert_eq!(status, 201);

    // The file goes up as through upload_url (straight to S3), then its S3 event runs the worker.
    let (status, upload) = tenant
        .call(Method::POST, "/api/v1/licenses/import_from_csv/upload_url/", Some(&json!({"file_name": "bench.csv"})))
        .await;
    assert_eq!(status, 200, "{upload}");
    let job = upload["job_id"].as_u64().expect("job_id");
    let key = keys::import_object_key(company, job, "bench.csv");
    let bucket = app.config.import_bucket.clone().expect("bucket");
    let file = csv(rows);
    let file_mb = file.len() as f64 / 1e6;
    app.s3.put_object().bucket(&bucket).key(&key).body(file.into_bytes().into()).send().await.expect("upload");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = rss_kb("VmRSS:");

    let mut message = SqsMessage::default();
    message.message_id = Some("bench".into());
    let encoded: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    message.body = Some(
        json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": encoded}}}]})
            .to_string(),
    );
    let mut event = SqsEvent::default();
    event.records = vec![message];
    let options = WorkerOptions {
        deadline: SystemTime::now() + Duration::from_secs(6 * 3600),
        stop_margin: Duration::ZERO,
        lease_margin: Duration::ZERO,
    };
    counter.take();
    let started = Instant::now();
    let response = handle_event(app, event, &options).await;
    let import_secs = started.elapsed().as_secs_f64();
    let peak_kb = rss_kb("VmHWM:");
    assert!(response.batch_item_failures.is_empty());
    let requests = counter.take();
    let (_, result) =
        tenant.call(Method::GET, &format!("/api/v1/licenses-import-results/{job}/"), Some(&json!(null))).await;
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["result"]["created_licenses_count"], rows);

    // The yardstick: as many items, of a license's size, in BatchWriteItem requests of 25.
    let item_bytes = 2_000;
    let raw_items: Vec<WriteRequest> = (0..rows)
        .map(|i| {
            let put = PutRequest::builder()
                .item(keys::PK, AttributeValue::S(format!("RAW#{i:08}")))
                .item(keys::SK, AttributeValue::S("RAW".into()))
                .item("payload", AttributeValue::S("x".repeat(item_bytes)))
                .build()
                .expect("key set");
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let dynamodb = app.store.client();
    let started = Instant::now();
    for chunk in raw_items.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = dynamodb
                .batch_write_item()
                .request_items(app.store.table(), pending)
                .send()
                .await
                .expect("raw batch write");
            pending = out.unprocessed_items.and_then(|mut u| u.remove(app.store.table())).unwrap_or_default();
        }
    }
    let raw_secs = started.elapsed().as_secs_f64();

    let total: u64 = requests.values().sum();
    let by_operation: Vec<String> = requests.iter().map(|(op, n)| format!("{op} {n}")).collect();
    let import_rate = rows as f64 / import_secs;
    let raw_rate = rows as f64 / raw_secs;
    println!("| rows | file MB | import s | rows/s | worker peak RSS MB | DynamoDB requests (per row) | raw BatchWriteItem items/s | ratio |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {rows} | {file_mb:.1} | {import_secs:.1} | {import_rate:.0} | {:.1} (before: {:.1}) | {total} ({:.3}: {}) | {raw_rate:.0} | {:.2} |",
        peak_kb as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        total as f64 / rows as f64,
        by_operation.join(", "),
        import_rate / raw_rate
    );
}

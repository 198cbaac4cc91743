//! CSV imports: the upload endpoints, the worker fed the S3 events and follow-ups SQS would
//! deliver, and the job results; redelivery, a killed worker and follow-ups end like one
//! clean run.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use integration_tests::{counter_mismatches, history_mismatches, multipart, Tenant, MULTIPART_BOUNDARY as BOUNDARY};
use lambda_http::http::Method;
use serde_json::{json, Value};
use shared::imports::worker::{handle_event, read_message, Work, WorkerOptions};
use shared::store::keys;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SAMPLE: &str = include_str!("../fixtures/licenses-sample.csv");
async fn upload_raw(t: &Tenant, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    t.post_raw("/api/v1/licenses/import_from_csv/", content_type, body).await
}

async fn upload(t: &Tenant, file_name: &str, content: &[u8]) -> (u16, Value) {
    t.upload_csv(file_name, content).await
}

/// The S3 event moto puts on the queue for an object: few fields, the key URL-encoded.
fn s3_event(bucket: &str, key: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": encoded}}}]})
        .to_string()
}

fn message(id: &str, body: String) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_string());
    message.body = Some(body);
    message
}

fn event(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

/// A run with an hour to go, stopping only at its deadline.
fn an_hour() -> WorkerOptions {
    WorkerOptions {
        deadline: SystemTime::now() + Duration::from_secs(3600),
        stop_margin: Duration::ZERO,
        lease_margin: Duration::ZERO,
    }
}

/// The message S3 would send for the job's file.
fn object_message(t: &Tenant, job: u64, file_name: &str) -> SqsMessage {
    let bucket = t.app.config.import_bucket.clone().expect("bucket");
    message(&format!("m-{job}"), s3_event(&bucket, &keys::import_object_key(t.company, job, file_name)))
}

/// Uploads `content` and runs the worker on its event; the job's result.
async fn import(t: &Tenant, file_name: &str, content: &[u8]) -> Value {
    let (status, body) = upload(t, file_name, content).await;
    assert_eq!(status, 200, "{body}");
    let job = body["job_id"].as_u64().expect("job_id");
    let response = handle_event(&t.app, event(vec![object_message(t, job, file_name)]), &an_hour()).await;
    assert!(response.batch_item_failures.is_empty());
    job_result(t, job).await
}

async fn job_result(t: &Tenant, job: u64) -> Value {
    let (status, body) = t.get(&format!("/api/v1/licenses-import-results/{job}/")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A data row of the sample's columns, the cells not named empty.
fn sample_row(cells: &[(&str, &str)]) -> String {
    let header = SAMPLE.lines().next().expect("header");
    let row: Vec<&str> =
        header.split(',').map(|h| cells.iter().find(|(name, _)| *name == h).map_or("", |(_, v)| v)).collect();
    format!("{}\r\n", row.join(","))
}

#[tokio::test]
async fn the_sample_with_invalid_rows_imports_exactly_and_a_reimport_finds_everything() {
    let t = Tenant::isolated().await;
    t.product("mch").await;
    let mut content = format!("\u{feff}{SAMPLE}");
    for cells in [
        vec![("license__license_key", "AAAA-BBBB-CCCC-0006"), ("product__short_code", "nope")],
        vec![
            ("license__license_key", "AAAA-BBBB-CCCC-0007"),
            ("product__short_code", "mch"),
            ("license__max_activations", "many"),
        ],
        vec![("product__short_code", "mch"), ("license__enabled", "maybe")],
        vec![
            ("license__license_key", "AAAA-BBBB-CCCC-0009"),
            ("product__short_code", "mch"),
            ("license__license_type", "Time-Limited"),
        ],
        vec![
            ("license__license_key", "AAAA-BBBB-CCCC-0010"),
            ("product__short_code", "mch"),
            ("customer__email", "not-an-email"),
        ],
    ] {
        content.push_str(&sample_row(&cells));
    }
    let result = import(&t, "sample.csv", content.as_bytes()).await;
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["file_name"], "sample.csv");
    assert_eq!(result["progress"], json!({"processed_rows": 10, "total_rows": 10}));
    assert!(result["started_at"].is_string() && result["finished_at"].is_string());
    let r = &result["result"];
    let counts = |r: &Value| {
        [
            "total_row_count",
            "valid_row_count",
            "created_customers_count",
            "existed_customers_count",
            "created_orders_count",
            "existed_orders_count",
            "created_licenses_count",
            "existed_licenses_count",
        ]
        .map(|k| r[k].as_u64().unwrap_or(u64::MAX))
    };
    assert_eq!(counts(r), [10, 5, 2, 0, 3, 0, 5, 0], "{r}");
    let invalid: Vec<(u64, Vec<String>)> = r["invalid_rows"]
        .as_array()
        .expect("invalid_rows")
        .iter()
        .map(|i| (i["row"].as_u64().unwrap(), i["errors"].as_object().unwrap().keys().cloned().collect()))
        .collect();
    let expected: Vec<(u64, Vec<String>)> = [
        (6, vec!["product__short_code"]),
        (7, vec!["license__max_activations"]),
        (8, vec!["license__enabled", "license__license_key"]),
        (9, vec!["license__valid_duration"]),
        (10, vec!["customer__email"]),
    ]
    .into_iter()
    .map(|(row, columns)| (row, columns.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(invalid, expected, "{r}");

    // The licenses carry the cells, quoted, multi-line and defaulted ones alike.
    let license = |key: &'static str| {
        let t = &t;
        async move {
            let (_, list) = t.get(&format!("/api/v1/licenses/?license_key={key}")).await;
            assert_eq!(list["count"], 1, "{key}: {list}");
            list["results"][0].clone()
        }
    };
    let first = license("AAAA-BBBB-CCCC-0001").await;
    assert_eq!(first["max_activations"], 3);
    assert_eq!(first["note"], "imported, \"legacy\" customer");
    assert_eq!(
        (first["enable_maintenance_period"].clone(), first["maintenance_period"].clone()),
        (json!(true), json!("2027-09-15"))
    );
    assert_eq!(first["customer"]["email"], "ana@example.com");
    assert_eq!(first["customer"]["company_name"], "Horvat d.o.o.");
    assert_eq!(first["order_store_id"], "web-1001");
    let second = license("AAAA-BBBB-CCCC-0002").await;
    assert_eq!(
        (second["license_type"].as_str(), second["valid_duration"].as_str()),
        (Some("time-limited"), Some("1y"))
    );
    assert!(second["validity_period"].is_string());
    let third = license("AAAA-BBBB-CCCC-0003").await;
    assert_eq!(
        [&third["max_consumptions"], &third["allow_overages"], &third["max_overages"], &third["consumption_period"]],
        [&json!(500), &json!(true), &json!(50), &json!("monthly")]
    );
    let fourth = license("AAAA-BBBB-CCCC-0004").await;
    assert_eq!(fourth["note"], "multi-line\nnote");
    assert_eq!((fourth["is_floating_cloud"].clone(), fourth["floating_users"].clone()), (json!(true), json!(5)));
    assert_eq!(fourth["floating_timeout"], 30);
    assert_eq!(fourth["customer"], Value::Null);
    assert!(fourth["order_store_id"].as_str().unwrap().starts_with("import-"));
    let fifth = license("AAAA-BBBB-CCCC-0005").await;
    assert_eq!((fifth["subscription_id"].as_str(), fifth["is_trial"].as_bool()), (Some("sub_123"), Some(true)));
    assert_eq!(fifth["trial_days"], 14);
    let (_, orders) = t.get("/api/v1/orders/?store_id=web-1001").await;
    assert_eq!(orders["count"], 1);
    assert_eq!(orders["results"][0]["order_items"][0]["licenses"].as_array().map(Vec::len), Some(2));
    assert_eq!(orders["results"][0]["customer"]["email"], "ana@example.com");

    // The same file again: everything exists, nothing is written twice.
    let again = import(&t, "sample.csv", content.as_bytes()).await;
    assert_eq!(counts(&again["result"]), [10, 5, 0, 2, 0, 2, 0, 5], "{again}");
    assert_eq!(again["result"]["invalid_rows"], r["invalid_rows"]);
    assert_eq!(t.get("/api/v1/licenses/").await.1["count"], 5);
    assert_eq!(t.get("/api/v1/orders/").await.1["count"], 3);
}

#[tokio::test]
async fn uploads_are_checked_before_anything_is_queued() {
    let t = Tenant::isolated().await;
    let header = "license__license_key,product__short_code\r\n";
    for (content, needle) in [
        (&b""[..], "empty"),
        (b"license__license_key,customer__email\r\nK,a@b.c\r\n", "product__short_code"),
        (b"license__license_key,product__short_code,colour\r\n", "colour"),
        (b"license__license_key,product__short_code,\xff\xfe\r\n", "UTF-8"),
    ] {
        let (status, body) = upload(&t, "bad.csv", content).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["file"][0].as_str().unwrap().contains(needle), "{body}");
    }
    let (status, body) = upload_raw(&t, "application/json", b"{}".to_vec()).await;
    assert_eq!((status, body["file"].is_array()), (400, true), "{body}");
    let (status, body) = upload_raw(
        &t,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        multipart("other", "a.csv", header.as_bytes()),
    )
    .await;
    assert_eq!((status, body["file"].is_array()), (400, true), "{body}");
    let mut big = header.as_bytes().to_vec();
    big.resize(6 * 1024 * 1024, b'x');
    let (status, body) = upload(&t, "big.csv", &big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("upload_url"));
    assert_eq!(t.get("/api/v1/licenses-import-results/").await.1["count"], 0, "no job was recorded");
    let anonymous = t.call_as(None, Method::GET, "/api/v1/licenses-import-results/", None).await;
    assert_eq!(anonymous.0, 403);
}

#[tokio::test]
async fn results_list_filter_and_stay_in_their_company() {
    // On the shared table: the scoped manager below is another app on the same company.
    let t = Tenant::new().await;
    let app = t.product("app").await;
    let done = import(&t, "one.csv", b"license__license_key,product__short_code\r\nK-1,app\r\n").await;
    let (status, pending) = upload(&t, "two.csv", b"license__license_key,product__short_code\r\nK-2,app\r\n").await;
    assert_eq!(status, 200);
    let (_, list) = t.get("/api/v1/licenses-import-results/?status__iexact=SUCCESS").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["id"], done["id"]);
    let (_, list) = t.get("/api/v1/licenses-import-results/?status__iexact=pending").await;
    assert_eq!(list["results"][0]["id"], pending["job_id"]);
    assert_eq!(list["results"][0]["result"], Value::Null);
    let (_, all) = t.get("/api/v1/licenses-import-results/?order_by=-created_at").await;
    assert_eq!(all["results"][0]["id"], pending["job_id"]);
    assert_eq!(t.get("/api/v1/licenses-import-results/?state=x").await.0, 200, "unknown parameters are ignored");
    assert_eq!(t.get_strict("/api/v1/licenses-import-results/?state=x").await.0, 400);

    // A manager scoped to a product imports only rows of that product.
    t.product("hidden").await;
    let scoped = Tenant { app: integration_tests::app().await, company: t.company, key: t.scoped_key(&[app]).await };
    let result =
        import(&scoped, "scoped.csv", b"license__license_key,product__short_code\nS-1,app\nS-2,hidden\n").await;
    assert_eq!(result["result"]["created_licenses_count"], 1, "{result}");
    assert_eq!(result["result"]["invalid_rows"][0]["row"], 2);
    assert!(result["result"]["invalid_rows"][0]["errors"]["product__short_code"].is_array());

    let other = Tenant::new().await;
    assert_eq!(other.get(&format!("/api/v1/licenses-import-results/{}/", done["id"])).await.0, 404);
    assert_eq!(other.get("/api/v1/licenses-import-results/").await.1["count"], 0);
}

/// 1,000 rows over 3 orders (and the import's own), 7 customers, every 50th row invalid.
fn generated_file() -> String {
    let mut text = String::from(
        "license__license_key,product__short_code,customer__email,order__store_id,license__max_activations\n",
    );
    for i in 1..=1000 {
        let store_id = if i % 10 == 0 { String::new() } else { format!("s-{}", i % 3) };
        let activations = if i % 50 == 0 { "x".to_string() } else { (i % 5 + 1).to_string() };
        text.push_str(&format!("GEN-{i:05},app,c{}@example.com,{store_id},{activations}\n", i % 7));
    }
    text
}

/// What an import left behind: each license's key, order, customer and activations (read
/// through the orders: few requests, as moto scans its whole table per index query).
async fn licenses_of(t: &Tenant) -> Vec<String> {
    let (_, orders) = t.get("/api/v1/orders/?limit=100").await;
    let mut found = Vec::new();
    for order in orders["results"].as_array().expect("results") {
        let store_id = order["store_id"].as_str().unwrap_or_default();
        let store_id = if store_id.starts_with("import-") { "import" } else { store_id };
        for item in order["order_items"].as_array().expect("items") {
            for l in item["licenses"].as_array().expect("licenses") {
                assert_eq!(l["order_store_id"], order["store_id"]);
                found.push(format!(
                    "{} {store_id} {} {}",
                    l["license_key"], l["customer"]["email"], l["max_activations"]
                ));
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn redelivered_and_interrupted_imports_end_like_one_clean_run() {
    let file = generated_file();
    let clean = Tenant::isolated().await;
    clean.product("app").await;
    let expected = import(&clean, "gen.csv", file.as_bytes()).await;
    assert_eq!(expected["status"], "success");
    let r = &expected["result"];
    assert_eq!((r["total_row_count"].clone(), r["valid_row_count"].clone()), (json!(1000), json!(980)));
    assert_eq!((r["created_customers_count"].clone(), r["created_orders_count"].clone()), (json!(7), json!(4)));
    let expected_licenses = licenses_of(&clean).await;
    assert_eq!(expected_licenses.len(), 980);

    // The same message twice at once, then once more: one run does the work.
    let twice = Tenant::isolated().await;
    twice.product("app").await;
    let (_, body) = upload(&twice, "gen.csv", file.as_bytes()).await;
    let job = body["job_id"].as_u64().unwrap();
    let options = an_hour();
    let (a, b) = tokio::join!(
        handle_event(&twice.app, event(vec![object_message(&twice, job, "gen.csv")]), &options),
        handle_event(&twice.app, event(vec![object_message(&twice, job, "gen.csv")]), &options),
    );
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    handle_event(&twice.app, event(vec![object_message(&twice, job, "gen.csv")]), &options).await;
    assert_eq!(job_result(&twice, job).await["result"], expected["result"]);
    assert_eq!(licenses_of(&twice).await, expected_licenses);
    assert_eq!(counter_mismatches(&twice).await, Vec::<String>::new(), "counters of a redelivered job");
    assert_eq!(history_mismatches(&twice).await, Vec::<String>::new(), "one imported entry per license");

    // A run killed after its first batches; the message comes back once the lease expired.
    let killed = Tenant::isolated().await;
    killed.product("app").await;
    let (_, body) = upload(&killed, "gen.csv", file.as_bytes()).await;
    let job = body["job_id"].as_u64().unwrap();
    let short = WorkerOptions { deadline: SystemTime::now() + Duration::from_secs(10), ..an_hour() };
    let mut run = Box::pin(handle_event(&killed.app, event(vec![object_message(&killed, job, "gen.csv")]), &short));
    let progress_at_kill = loop {
        tokio::select! {
            _ = &mut run => panic!("the run finished before it could be killed"),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {
                let progress = job_result(&killed, job).await["progress"]["processed_rows"].as_u64().unwrap();
                if progress > 0 {
                    break progress;
                }
            }
        }
    };
    drop(run); // the kill: the run's future is gone mid-flight, its lease still held
    let stopped = job_result(&killed, job).await;
    assert_eq!(stopped["status"], "running");
    assert!(progress_at_kill < 1000, "killed mid-file");
    // While the dead run's lease lasts, a delivery leaves the job alone (checked when the
    // lease surely outlasts the call: a loaded machine may have used it up already).
    let lease_left = short.deadline.duration_since(SystemTime::now()).unwrap_or_default();
    if lease_left > Duration::from_secs(3) {
        handle_event(&killed.app, event(vec![object_message(&killed, job, "gen.csv")]), &an_hour()).await;
        assert_eq!(job_result(&killed, job).await["progress"], stopped["progress"]);
    }
    tokio::time::sleep(short.deadline.duration_since(SystemTime::now()).unwrap_or_default()).await;
    let resumed = handle_event(&killed.app, event(vec![object_message(&killed, job, "gen.csv")]), &an_hour()).await;
    assert!(resumed.batch_item_failures.is_empty());
    let after = job_result(&killed, job).await;
    assert_eq!(after["status"], "success");
    assert_eq!(after["result"], expected["result"]);
    assert_eq!(licenses_of(&killed).await, expected_licenses);
    assert_eq!(counter_mismatches(&killed).await, Vec::<String>::new(), "counters of a resumed job");
    assert_eq!(history_mismatches(&killed).await, Vec::<String>::new(), "one imported entry per license");
}

#[tokio::test]
async fn a_run_out_of_time_continues_in_a_follow_up_message() {
    let mut t = Tenant::isolated().await;
    t.product("app").await;
    // A queue of this test's own, so that it reads only its follow-ups.
    let sqs = t.app.sqs.clone();
    let queue = sqs.create_queue().queue_name(format!("follow-up-{}", t.company)).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_string();
    t.app.config.import_queue_url = Some(queue_url.clone());
    let (_, body) = upload(&t, "gen.csv", generated_file().as_bytes()).await;
    let job = body["job_id"].as_u64().unwrap();

    // A run past its stop time still imports one window of rows (every run makes progress),
    // then hands over.
    let late = WorkerOptions { deadline: SystemTime::now(), ..an_hour() };
    let response = handle_event(&t.app, event(vec![object_message(&t, job, "gen.csv")]), &late).await;
    assert!(response.batch_item_failures.is_empty());
    let handed_over = job_result(&t, job).await;
    assert_eq!(handed_over["status"], "running");
    assert_eq!(handed_over["progress"], json!({"processed_rows": 500, "total_rows": 1000}));
    let received = sqs.receive_message().queue_url(&queue_url).wait_time_seconds(2).send().await.unwrap();
    let follow_up = received.messages().first().expect("a follow-up message").clone();
    let body = follow_up.body().unwrap_or_default().to_string();
    assert_eq!(read_message(&body), [Work::Continue { company: t.company, job }]);

    let response = handle_event(&t.app, event(vec![message("follow-up", body)]), &an_hour()).await;
    assert!(response.batch_item_failures.is_empty());
    let done = job_result(&t, job).await;
    assert_eq!(done["status"], "success");
    assert_eq!(done["result"]["created_licenses_count"], 980);
    assert_eq!(done["progress"], json!({"processed_rows": 1000, "total_rows": 1000}));
}

#[tokio::test]
async fn a_file_with_a_bad_header_fails_its_job_with_the_reason() {
    let t = Tenant::isolated().await;
    let (_, body) = t.post("/api/v1/licenses/import_from_csv/upload_url/", &json!({"file_name": "bad.csv"})).await;
    let job = body["job_id"].as_u64().unwrap();
    let bucket = t.app.config.import_bucket.clone().unwrap();
    let key = keys::import_object_key(t.company, job, "bad.csv");
    t.app
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"license__license_key\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let response = handle_event(&t.app, event(vec![message("m", s3_event(&bucket, &key))]), &an_hour()).await;
    assert_eq!(response.batch_item_failures.len(), 1, "the message goes back, and on to the dead-letter queue");
    let failed = job_result(&t, job).await;
    assert_eq!(failed["status"], "error");
    assert!(failed["error"].as_str().unwrap().contains("product__short_code"), "{failed}");
    assert!(failed["finished_at"].is_string());
}

/// PUTs `body` to a presigned URL of the local S3 (plain HTTP); the response status.
async fn http_put(url: &str, body: &[u8]) -> u16 {
    let rest = url.strip_prefix("http://").expect("a local http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect to moto");
    let head =
        format!("PUT /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The S3 event moto put on the import queue for the object `key` (other events read
/// meanwhile go back on the queue for the tests that wait for them).
async fn queued_event(t: &Tenant, key: &str) -> String {
    let sqs = &t.app.sqs;
    let queue = t.app.config.import_queue_url.clone().unwrap();
    for _ in 0..30 {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let mut ours = None;
        for m in received.messages() {
            let body = m.body().unwrap_or_default();
            let handle = m.receipt_handle().unwrap();
            if read_message(body).iter().any(|w| matches!(w, Work::Object { key: k, .. } if k == key)) {
                ours = Some(body.to_string());
                sqs.delete_message().queue_url(&queue).receipt_handle(handle).send().await.unwrap();
            } else {
                // Another test's event (or one nobody waits for): back on the queue at once.
                sqs.change_message_visibility()
                    .queue_url(&queue)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            }
        }
        if let Some(body) = ours {
            return body;
        }
    }
    panic!("no S3 event for {key} on the queue")
}

#[tokio::test]
async fn a_presigned_upload_is_imported_from_its_s3_event() {
    let t = Tenant::isolated().await;
    t.product("app").await;
    let (status, body) =
        t.post("/api/v1/licenses/import_from_csv/upload_url/", &json!({"file_name": "big file.csv"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 900);
    let job = body["job_id"].as_u64().unwrap();
    assert_eq!(job_result(&t, job).await["status"], "pending");
    let url = body["upload_url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let content =
        "license__license_key,product__short_code,customer__email\nP-1,app,p@example.com\nP-2,app,p@example.com\n";
    assert_eq!(http_put(url, content.as_bytes()).await, 200);

    // The upload's own S3 event, as moto put it on the import queue.
    let key = keys::import_object_key(t.company, job, "big_file.csv");
    let body = queued_event(&t, &key).await;
    let response = handle_event(&t.app, event(vec![message("presigned", body)]), &an_hour()).await;
    assert!(response.batch_item_failures.is_empty());
    let done = job_result(&t, job).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["file_name"], "big file.csv");
    let r = &done["result"];
    assert_eq!((r["created_licenses_count"].clone(), r["created_customers_count"].clone()), (json!(2), json!(1)));
}

#[tokio::test]
async fn a_key_claimed_mid_import_is_found_existing_and_the_job_finishes() {
    // Issue 11, item 1: a batch that loses a race is planned again; it used to be taken for a
    // lost lease (a time in memory compared with its stored, truncated text), leaving the job
    // `running` forever.
    let t = Tenant::isolated().await;
    t.product("app").await;
    let (_, body) = upload(&t, "gen.csv", generated_file().as_bytes()).await;
    let job = body["job_id"].as_u64().unwrap();
    let options = an_hour();
    let mut run = Box::pin(handle_event(&t.app, event(vec![object_message(&t, job, "gen.csv")]), &options));
    // Once the first batch is in, another writer takes a key of the last batch of the window
    // the worker has already looked up.
    loop {
        tokio::select! {
            _ = &mut run => panic!("the run finished before the race"),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {
                if job_result(&t, job).await["progress"]["processed_rows"].as_u64().unwrap() > 0 {
                    break;
                }
            }
        }
    }
    let order = json!({"id": "racer", "items": [{"product_code": "app", "licenses": [{"key": "GEN-00499"}]}]});
    let (status, body) = t.post("/api/v1/orders/create_order/", &order).await;
    assert_eq!(status, 200, "{body}");
    let response = run.await;
    assert!(response.batch_item_failures.is_empty());
    let done = job_result(&t, job).await;
    assert_eq!(done["status"], "success", "{done}");
    let r = &done["result"];
    assert_eq!((r["created_licenses_count"].clone(), r["existed_licenses_count"].clone()), (json!(979), json!(1)));
    assert_eq!(done["progress"], json!({"processed_rows": 1000, "total_rows": 1000}));
}

#[tokio::test]
async fn a_second_upload_to_the_url_never_mixes_into_a_started_job() {
    // Issue 11, item 4: the presigned URL accepts PUTs until it expires.
    let t = Tenant::isolated().await;
    t.product("app").await;
    let (_, body) = t.post("/api/v1/licenses/import_from_csv/upload_url/", &json!({"file_name": "gen.csv"})).await;
    let job = body["job_id"].as_u64().unwrap();
    let url = body["upload_url"].as_str().unwrap().to_string();
    let key = keys::import_object_key(t.company, job, "gen.csv");
    assert_eq!(http_put(&url, generated_file().as_bytes()).await, 200);
    let first = queued_event(&t, &key).await;

    // A run killed after its first batch, its lease still held.
    let short = WorkerOptions { deadline: SystemTime::now() + Duration::from_secs(8), ..an_hour() };
    let mut run = Box::pin(handle_event(&t.app, event(vec![message("first", first.clone())]), &short));
    loop {
        tokio::select! {
            _ = &mut run => panic!("the run finished before it could be killed"),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {
                if job_result(&t, job).await["progress"]["processed_rows"].as_u64().unwrap() > 0 {
                    break;
                }
            }
        }
    }
    drop(run);
    let stopped = job_result(&t, job).await;

    // Another file PUT to the same URL: its event is not the job's upload, and is ignored.
    let other = generated_file().replace("GEN-", "OTHER-");
    assert_eq!(http_put(&url, other.as_bytes()).await, 200);
    let second = queued_event(&t, &key).await;
    assert_ne!(read_message(&second), read_message(&first), "a new ETag");
    let response = handle_event(&t.app, event(vec![message("second", second)]), &an_hour()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(job_result(&t, job).await["progress"], stopped["progress"]);

    // The job's own message comes back after the lease: the file it pinned is gone.
    tokio::time::sleep(short.deadline.duration_since(SystemTime::now()).unwrap_or_default()).await;
    let response = handle_event(&t.app, event(vec![message("first", first)]), &an_hour()).await;
    assert_eq!(response.batch_item_failures.len(), 1, "the message fails for the dead-letter queue");
    let ended = job_result(&t, job).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert!(ended["error"].as_str().unwrap().contains("The file changed during the import"), "{ended}");
    let (_, others) = t.get("/api/v1/licenses/?license_key__startswith=OTHER-").await;
    assert_eq!(others["count"], 0, "nothing of the second file was imported");
}

#[tokio::test]
async fn an_import_under_random_faults_ends_exactly_as_a_clean_run() {
    use integration_tests::faults::{Fault, Faults, Service};
    let file = generated_file();
    let clean = Tenant::isolated().await;
    clean.product("app").await;
    let expected = import(&clean, "gen.csv", file.as_bytes()).await;
    let expected_licenses = licenses_of(&clean).await;

    // SDK retries off: every injected fault fails its call, and so the run; SQS delivers the
    // message again once the run's lease is over.
    let faults = Faults::default();
    let t = Tenant::of(integration_tests::app_with_faults(&faults, false).await).await;
    t.product("app").await;
    let (_, body) = upload(&t, "gen.csv", file.as_bytes()).await;
    let job = body["job_id"].as_u64().unwrap();
    let kinds = [Fault::Throttle, Fault::ServerError, Fault::Timeout];
    // A few faults surely (a batch's commit, a ranged read), then a random share.
    faults.fail_nth(Service::DynamoDb, Some("TransactWriteItems"), 3, Fault::ServerError);
    faults.fail_nth(Service::S3, Some("GET"), 2, Fault::Timeout);
    faults.fail_randomly(Service::DynamoDb, 0.05, &kinds);
    faults.fail_randomly(Service::S3, 0.05, &kinds);
    let mut deliveries = 0;
    loop {
        deliveries += 1;
        assert!(deliveries <= 200, "the job never finished");
        let options = WorkerOptions { deadline: SystemTime::now() + Duration::from_secs(2), ..an_hour() };
        let response = handle_event(&t.app, event(vec![object_message(&t, job, "gen.csv")]), &options).await;
        let status = t.app.store.tenant(t.company).get::<shared::imports::ImportJob>(job).await;
        if matches!(status, Ok(Some(j)) if j.status.is_finished()) {
            break;
        }
        if !response.batch_item_failures.is_empty() {
            tokio::time::sleep(options.deadline.duration_since(SystemTime::now()).unwrap_or_default()).await;
        }
    }
    let injected = faults.injected();
    faults.clear();
    assert!(injected > 0, "faults were injected");
    let done = job_result(&t, job).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["result"], expected["result"]);
    assert_eq!(licenses_of(&t).await, expected_licenses);
    println!("import under faults: {injected} faults over {deliveries} deliveries");
}

#[tokio::test]
async fn the_fifth_delivery_of_a_failing_import_marks_its_job_failed() {
    use integration_tests::faults::{Fault, Faults, Service};
    let faults = Faults::default();
    let t = Tenant::of(integration_tests::app_with_faults(&faults, false).await).await;
    t.product("app").await;
    let (_, body) = upload(&t, "sample.csv", SAMPLE.as_bytes()).await;
    let job = body["job_id"].as_u64().unwrap();
    faults.fail_randomly(Service::S3, 1.0, &[Fault::ServerError]);
    for receives in 1..=5 {
        let mut message = object_message(&t, job, "sample.csv");
        message.attributes.insert("ApproximateReceiveCount".into(), receives.to_string());
        // A run whose lease is over as soon as it fails, as when SQS delivers again.
        let options = WorkerOptions { deadline: SystemTime::now(), ..an_hour() };
        let response = handle_event(&t.app, event(vec![message]), &options).await;
        assert_eq!(response.batch_item_failures.len(), 1, "delivery {receives} fails");
        let result = job_result(&t, job).await;
        if receives < 5 {
            assert_ne!(result["status"], "error", "delivery {receives}: {result}");
        } else {
            assert_eq!(result["status"], "error", "{result}");
            assert!(result["error"].as_str().unwrap().contains("failed 5 times"), "{result}");
        }
    }
    faults.clear();
}

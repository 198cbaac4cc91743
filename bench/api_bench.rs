//! Warm latency (p50/p99) and DynamoDB requests per call of the main endpoints, in-process
//! against moto, on a tenant of 2,000 licenses.
//!
//! usage (make bench starts moto): api_bench [RUNS]

use std::time::Instant;

use bench::{BenchTenant, CallTally};
use lambda_http::http::Method;
use serde_json::{json, Value};

const ORDERS: usize = 20;
const PER_ORDER: usize = 100;

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100);
    let tenant = BenchTenant::new().await;
    let (tenant, counter) = (&tenant, &tenant.counter);
    let call = |method: Method, path: String, body: Option<Value>| async move {
        tenant.call(method, &path, body.as_ref()).await
    };
    let product = json!({"product_name": "Bench", "short_code": "bench"});
    assert_eq!(call(Method::POST, "/api/v1/products/".into(), Some(product)).await.0, 201);
    let mut license_ids = Vec::new();
    for o in 0..ORDERS {
        let licenses: Vec<Value> = (0..PER_ORDER)
            .map(|i| {
                let note = if (o * PER_ORDER + i) % 100 == 7 { "needle" } else { "hay" };
                json!({"key": format!("API-{o:03}-{i:03}"), "note": note})
            })
            .collect();
        let body = json!({"id": format!("api-{o}"), "customer": {"email": format!("c{o}@bench.example")},
                          "items": [{"product_code": "bench", "licenses": licenses}]});
        let (status, order) = call(Method::POST, "/api/v1/orders/create_order/".into(), Some(body)).await;
        assert_eq!(status, 200, "{order}");
        for l in order["order_items"][0]["licenses"].as_array().expect("licenses") {
            license_ids.push(l["id"].as_u64().expect("id"));
        }
    }

    type Case = (&'static str, Box<dyn Fn(usize) -> (Method, String, Option<Value>)>);
    let ids = license_ids.clone();
    let (patched, updated, historic) = (license_ids.clone(), license_ids.clone(), license_ids.clone());
    let (assigned_new, assigned_known) = (license_ids.clone(), license_ids.clone());
    let cases: Vec<Case> = vec![
        (
            "retrieve license",
            Box::new(move |run| (Method::GET, format!("/api/v1/licenses/{}/", ids[run * 37 % ids.len()]), None)),
        ),
        (
            "list licenses, indexed (license_key)",
            Box::new(|run| (Method::GET, format!("/api/v1/licenses/?license_key=API-{:03}-042", run % ORDERS), None)),
        ),
        (
            "list licenses, non-indexed (note__icontains)",
            Box::new(|_| (Method::GET, "/api/v1/licenses/?note__icontains=needle".into(), None)),
        ),
        (
            "create_order (1 license)",
            Box::new(|run| {
                let body = json!({"id": format!("bench-one-{run}"), "customer": {"email": "one@bench.example"},
                                  "items": [{"product_code": "bench", "licenses": [{}]}]});
                (Method::POST, "/api/v1/orders/create_order/".into(), Some(body))
            }),
        ),
        ("retrieve order", Box::new(|_| (Method::GET, "/api/v1/orders/?store_id=api-3".into(), None))),
        ("list products", Box::new(|_| (Method::GET, "/api/v1/products/".into(), None))),
        (
            "PATCH license",
            Box::new(move |run| {
                let id = patched[run * 37 % patched.len()];
                (Method::PATCH, format!("/api/v1/licenses/{id}/"), Some(json!({"note": format!("run {run}")})))
            }),
        ),
        (
            "bulk_update (50 licenses)",
            Box::new(move |run| {
                let window = &updated[run * 50 % (updated.len() - 50)..][..50];
                let items: Vec<Value> =
                    window.iter().map(|id| json!({"id": id, "max_activations": run % 7 + 1})).collect();
                (Method::PATCH, "/api/v1/licenses/bulk_update/".into(), Some(Value::Array(items)))
            }),
        ),
        (
            "assign_user (a user new to the company)",
            Box::new(move |run| {
                let id = assigned_new[(run * 37 + 11) % assigned_new.len()];
                let body = json!({"email": format!("new-{run}@bench.example"), "first_name": "N"});
                (Method::POST, format!("/api/v1/licenses/{id}/assign_user/"), Some(body))
            }),
        ),
        (
            "assign_user (a user the company has)",
            Box::new(move |run| {
                let id = assigned_known[(run * 37 + 23) % assigned_known.len()];
                let body = json!({"email": "known@bench.example"});
                (Method::POST, format!("/api/v1/licenses/{id}/assign_user/"), Some(body))
            }),
        ),
        (
            "license history page (one license)",
            Box::new(move |run| {
                let id = historic[run * 37 % historic.len()];
                (Method::GET, format!("/api/v1/license-histories/?license={id}"), None)
            }),
        ),
    ];

    println!("| endpoint call | runs | p50 ms | p99 ms | DynamoDB requests per call |\n|---|---|---|---|---|");
    for (name, make) in &cases {
        let mut tally = CallTally::default();
        for run in 0..runs {
            let (method, path, body) = make(run);
            counter.take();
            let started = Instant::now();
            let (status, answer) = call(method, path, body).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            assert!(status == 200, "{name}: {status} {answer}");
            tally.record(ms, counter.take());
        }
        println!("{}", tally.row(name));
    }

    // The License API (issue 15): requests signed as the vendor's SDK signs them. Each
    // activation takes a license no device has (a write); checks then read one that is active
    // (a check writes its device's last_check at most once a minute).
    let credentials = integration_tests::license_api::Credentials::mint(&tenant.app, tenant.company).await;
    let v4 = |method: Method, endpoint: &'static str, params: Value| {
        let credentials = &credentials;
        async move {
            let now = time::OffsetDateTime::now_utc();
            let req = credentials.request(method, endpoint, &params, now, &credentials.shared_key);
            let response = integration_tests::dispatch(&tenant.app, req).await;
            assert!(credentials.signed(&response), "{endpoint}: signed");
            integration_tests::read(response)
        }
    };
    let device = |key: String| {
        json!({"product": "bench", "license_key": key, "hardware_id": "bench-hw",
        "os_ver": "linux", "hostname": "h", "ip": "127.0.0.1", "mac_address": "00", "is_vm": false, "sdk_ver": "bench"})
    };
    for (name, method, endpoint) in [
        ("activate_license (a new device)", Method::POST, "activate_license"),
        ("check_license", Method::GET, "check_license"),
    ] {
        let mut tally = CallTally::default();
        for run in 0..runs {
            // Licenses of order 19 (the last): activated by the first loop, checked by the second.
            let key = format!("API-019-{:03}", run % PER_ORDER);
            counter.take();
            let started = Instant::now();
            let (status, answer) = v4(method.clone(), endpoint, device(key)).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(status, 200, "{name}: {answer}");
            tally.record(ms, counter.take());
        }
        println!("{}", tally.row(name));
    }
    // Signing one response (a License object of ~3 KB): RSA-2048, PKCS#1 v1.5, SHA-256.
    let keys =
        shared::license_api::keys::Keys::from_secret(&shared::license_api::keys::Keys::new_secret()).expect("keys");
    let body = vec![b'x'; 3_000];
    let started = Instant::now();
    let signatures = 1_000;
    for _ in 0..signatures {
        std::hint::black_box(keys.sign(&body));
    }
    println!(
        "| sign a response (3 KB body) | {signatures} | {:.3} ms each | | 0 |",
        started.elapsed().as_secs_f64() * 1000.0 / signatures as f64
    );

    // disable_bulk: each measured call disables a window of licenses that a bulk_update (not
    // measured) enabled again first, so every run writes them all.
    for size in [100, 1_000] {
        let bulk_runs = if size == 100 { 10 } else { 3 };
        let mut tally = CallTally::default();
        for run in 0..bulk_runs {
            let window: Vec<u64> = license_ids.iter().copied().skip(run * 100 % 1_000).take(size).collect();
            for chunk in window.chunks(50) {
                let items: Vec<Value> = chunk.iter().map(|id| json!({"id": id, "enabled": true})).collect();
                let (status, _) =
                    call(Method::PATCH, "/api/v1/licenses/bulk_update/".into(), Some(Value::Array(items))).await;
                assert_eq!(status, 200);
            }
            counter.take();
            let started = Instant::now();
            let (status, answer) =
                call(Method::POST, "/api/v1/licenses/disable_bulk/".into(), Some(json!(window))).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(status, 200, "{answer}");
            tally.record(ms, counter.take());
        }
        println!("{}", tally.row(&format!("disable_bulk ({size} ids)")));
    }
}

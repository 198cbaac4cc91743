//! create_order against moto: latency of 1- and 100-license orders, and the DynamoDB requests
//! each makes (counted by an SDK interceptor, by operation).
//!
//! usage (make bench starts moto): order_bench [RUNS]

use std::collections::BTreeMap;
use std::time::Instant;

use bench::{percentile, BenchTenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20);
    let tenant = BenchTenant::new().await;
    let (tenant, counter) = (&tenant, &tenant.counter);
    let (status, _) = tenant
        .call(Method::POST, "/api/v1/products/", Some(&json!({"product_name": "Bench", "short_code": "bench"})))
        .await;
    assert_eq!(status, 201);

    println!("| order | runs | p50 ms | p90 ms | mean ms | DynamoDB requests per order |");
    println!("|---|---|---|---|---|---|");
    for size in [1usize, 100] {
        let mut latencies = Vec::with_capacity(runs);
        let mut requests: BTreeMap<String, u64> = BTreeMap::new();
        for run in 0..runs {
            let licenses: Vec<Value> = (0..size).map(|i| json!({"key": format!("B{size}-{run}-{i}")})).collect();
            let body = json!({"id": format!("bench-{size}-{run}"), "customer": {"email": format!("c{run}@bench.example")},
                              "items": [{"product_code": "bench", "licenses": licenses}]});
            counter.take();
            let started = Instant::now();
            let (status, answer) = tenant.call(Method::POST, "/api/v1/orders/create_order/", Some(&body)).await;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200, "{answer}");
            for (operation, n) in counter.take() {
                *requests.entry(operation).or_default() += n;
            }
        }
        latencies.sort_by(f64::total_cmp);
        let mean = latencies.iter().sum::<f64>() / runs as f64;
        let per_order: Vec<String> =
            requests.iter().map(|(op, n)| format!("{op} {}", *n as f64 / runs as f64)).collect();
        let total: u64 = requests.values().sum();
        println!(
            "| {size} license{} | {runs} | {:.1} | {:.1} | {:.1} | {} ({}) |",
            if size == 1 { "" } else { "s" },
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            mean,
            total as f64 / runs as f64,
            per_order.join(", ")
        );
    }
}

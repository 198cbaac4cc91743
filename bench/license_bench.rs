//! GET /api/v1/licenses/ over a tenant of N licenses (default 100,000) in moto: per access path,
//! the latency of one page, the items the request read (path, catalog, page's customers) and
//! its DynamoDB requests; then the in-memory filter evaluator's throughput on one core.
//!
//! usage (make bench starts moto): license_bench [LICENSES]

use std::collections::HashMap;
use std::time::Instant;

use bench::BenchTenant;
use integration_tests::{dispatch, read, request};
use lambda_http::http::Method;
use serde_json::json;
use shared::catalog::Catalog;
use shared::licenses::list::{canonical_pairs, parse_query, LicenseCtx};
use shared::licenses::License;
use shared::listing::{ListRules, LICENSES_MAX_LIMIT};
use time::OffsetDateTime;

#[tokio::main]
async fn main() {
    let total: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let BenchTenant { app, counter, company, auth } = BenchTenant::new().await;
    let call = |path: String| {
        let req = request(Method::GET, &path, Some(&auth), None);
        let app = &app;
        async move { read(dispatch(app, req).await) }
    };
    let post = |path: &str, body: serde_json::Value| {
        let req = request(Method::POST, path, Some(&auth), Some(&body));
        let app = &app;
        async move { read(dispatch(app, req).await) }
    };
    for code in ["app", "cli"] {
        assert_eq!(post("/api/v1/products/", json!({"product_name": code, "short_code": code})).await.0, 201);
    }
    // One real order and customer give the template license for the bulk load.
    let (status, order) = post(
        "/api/v1/orders/create_order/",
        json!({"id": "bench-order", "customer": {"email": "bench@example.com"},
               "items": [{"product_code": "app", "licenses": [{"key": "TEMPLATE-KEY", "note": "template"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    let template: License = {
        let store = app.store.tenant(company);
        let id = order["order_items"][0]["licenses"][0]["id"].as_u64().unwrap();
        store.get::<License>(id).await.unwrap().unwrap()
    };
    let products: Vec<u64> =
        Catalog::load(app.store.tenant(company)).await.unwrap().products.iter().map(|p| p.id).collect();

    // Bulk load: the template license with distinct ids and keys, two products, 1,000 customer
    // ids, orders of 10, a rare note and one license in ten disabled.
    let started = Instant::now();
    let ids = app.ids().await.unwrap();
    let store = app.store.tenant(company);
    let mut loaded = Vec::with_capacity(total);
    for i in 0..total {
        let mut l = template.clone();
        l.id = ids.next_id();
        l.license_key = Some(format!("BULK-{i:07}"));
        l.product = products[i % 2];
        l.customer = Some(1_000_000 + (i % 1_000) as u64);
        l.order = 2_000_000 + (i / 10) as u64;
        l.order_store_id = format!("bulk-{}", i / 10);
        l.note = Some(if i % 100 == 7 { "needle".into() } else { "hay".into() });
        l.enabled = i % 10 != 0;
        loaded.push(l);
    }
    for chunk in loaded.chunks(2_500) {
        store.put_all(chunk).await.expect("load");
    }
    // The counters a real write moves in the same transaction as its licenses.
    let mut counted = store.transaction();
    let tally = shared::store::LicenseTally::of(loaded.iter().map(|l| (l.product, l.created_at)));
    counted.count_licenses(&tally).expect("a counter write");
    counted.commit().await.expect("count the loaded licenses");
    counter.take();
    eprintln!("loaded {total} licenses in {:.0} s", started.elapsed().as_secs_f64());

    let some_ids: Vec<String> = loaded.iter().step_by(total / 20).map(|l| l.id.to_string()).collect();
    let catalog = Catalog::load(store).await.unwrap();
    let paths = [
        ("exact key", "license_key=BULK-0004242".to_string()),
        ("id list (20)", format!("id__in={}", some_ids.join(","))),
        ("order store id", "order__store_id=bench-order".to_string()),
        ("customer id", "customer__id=1000042".to_string()),
        ("product id", format!("product__id={}", products[1])),
        (
            "created this month",
            format!(
                "created_at__gte={}-{:02}-01",
                OffsetDateTime::now_utc().year(),
                OffsetDateTime::now_utc().month() as u8
            ),
        ),
        ("non-indexed (note)", "note__icontains=needle".to_string()),
    ];
    println!("| access path | query | page ms | items read | matches | DynamoDB requests |");
    println!("|---|---|---|---|---|---|");
    for (name, query) in paths {
        counter.take();
        let items_before = app.store.items_read();
        let started = Instant::now();
        let (status, page) = call(format!("/api/v1/licenses/?{query}")).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        // Everything the request read: the path, the catalog, the page's customers.
        let read_items = app.store.items_read() - items_before;
        assert_eq!(status, 200, "{page}");
        let requests = counter.take();
        let described: Vec<String> = requests.iter().map(|(op, n)| format!("{op} {n}")).collect();
        let shown = if query.len() > 40 { format!("{}…", &query[..40]) } else { query.clone() };
        println!(
            "| {name} | `{shown}` | {ms:.0} | {read_items} | {} | {} ({}) |",
            page["count"],
            requests.values().sum::<u64>(),
            described.join(", ")
        );
    }

    // The evaluator alone: every loaded license through three filters, on one core.
    // (1% carry the note, all of those enabled: 1% match.)
    let pairs =
        canonical_pairs(form_urlencoded_pairs("note__icontains=needle&enabled=true&product__short_code__in=app,cli"));
    let query = parse_query(&pairs, ListRules { max_limit: LICENSES_MAX_LIMIT, strict: true }).unwrap();
    let ctx = LicenseCtx {
        company,
        catalog,
        related: Default::default(),
        orders: HashMap::new(),
        now: shared::timefmt::now(),
    };
    let started = Instant::now();
    let rounds = 5;
    let mut matched = 0;
    for _ in 0..rounds {
        matched = query.apply(&loaded, &ctx).0;
    }
    let per_second = (total * rounds) as f64 / started.elapsed().as_secs_f64();
    println!();
    println!("In-memory evaluator: {per_second:.0} licenses/s on one core (3 filters, {matched} of {total} match).");
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

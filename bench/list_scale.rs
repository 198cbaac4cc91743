//! `make bench-lists` (issue 12): GET /api/v1/licenses/ on two tenants of one shape, small and
//! large (`BENCH_LICENSES_SMALL`, `BENCH_LICENSES_LARGE`; 10,000 and 100,000 by default), over
//! 5 products, customers and orders of 10. One line per access path and size:
//!
//! `list_scale path=<name> licenses=<N> requests=<r> items=<i> peak_rss_mb=<m> ms=<t>`
//!
//! `requests`: DynamoDB requests of the call (counted by the SDK interceptor); `items`: items
//! DynamoDB returned to it; `peak_rss_mb`: the growth of the process's VmHWM over the call.
//! Handlers run in process, release build, against moto (latencies are moto's).

use std::time::Instant;

use bench::BenchTenant;
use integration_tests::{dispatch, read, request};
use lambda_http::http::Method;
use serde_json::json;
use shared::licenses::License;

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let sizes = [env_size("BENCH_LICENSES_SMALL", 10_000), env_size("BENCH_LICENSES_LARGE", 100_000)];
    for total in sizes {
        run(total).await;
    }
}

async fn run(total: usize) {
    let tenant = BenchTenant::new().await;
    let (app, counter, company) = (&tenant.app, &tenant.counter, tenant.company);
    let mut products = Vec::new();
    for i in 0..5 {
        let (status, product) = tenant
            .call(
                Method::POST,
                "/api/v1/products/",
                Some(&json!({"product_name": format!("p{i}"), "short_code": format!("p{i}")})),
            )
            .await;
        assert_eq!(status, 201, "{product}");
        products.push(product["id"].as_u64().unwrap());
    }
    // One real order and customer: the template of the bulk load, and the customer and order
    // the customer and order paths look up.
    let body = json!({"id": "scale-0", "customer": {"email": "scale@example.com"},
        "items": [{"product_code": "p0", "licenses": [{"key": "SCALE-TEMPLATE", "note": "hay"}]}]});
    let (status, order) = tenant.call(Method::POST, "/api/v1/orders/create_order/", Some(&body)).await;
    assert_eq!(status, 200, "{order}");
    let store = app.store.tenant(company);
    let first = &order["order_items"][0]["licenses"][0];
    let template: License = store.get(first["id"].as_u64().unwrap()).await.unwrap().unwrap();
    let customer = template.customer.expect("a customer");

    let started = Instant::now();
    let ids = app.ids().await.unwrap();
    let mut batch = Vec::with_capacity(2_500);
    let mut tally = shared::store::LicenseTally::default();
    for i in 0..total {
        let mut l = template.clone();
        l.id = ids.next_id();
        // Created when its id was made, as every real write does.
        l.created_at = shared::ids::id_time(l.id);
        l.updated_at = l.created_at;
        l.license_key = Some(format!("SCALE-{i:07}"));
        l.product = products[i % 5];
        // 1,000 customers: the real one is one of them.
        l.customer = Some(if i % 1_000 == 0 { customer } else { 5_000_000 + (i % 1_000) as u64 });
        l.order = 6_000_000 + (i / 10) as u64;
        l.order_store_id = format!("scale-{}", i / 10);
        l.note = Some(if i % 100 == 7 { "needle".into() } else { "hay".into() });
        l.validity_period = Some(format!("2030-{:02}-{:02}", 1 + i % 12, 1 + i % 28));
        tally.add(l.product, l.created_at, 1);
        batch.push(l);
        if batch.len() == 2_500 {
            store.put_all(&batch).await.expect("load");
            batch.clear();
        }
    }
    store.put_all(&batch).await.expect("load");
    let mut counted = store.transaction();
    counted.count_licenses(&tally).expect("a counter write");
    counted.commit().await.expect("count the loaded licenses");
    eprintln!("list_scale: loaded {total} licenses in {:.0} s", started.elapsed().as_secs_f64());

    let scoped = provision::create_api_key(&app.store, company, Some(products[..2].to_vec())).await.unwrap();
    let week_ago = time::OffsetDateTime::now_utc() - time::Duration::days(7);
    let paths: Vec<(&str, String, Option<&str>)> = vec![
        ("no_filter", String::new(), None),
        ("product__short_code", "product__short_code=p1".into(), None),
        ("scoped_manager", String::new(), Some(scoped.as_str())),
        ("customer__email", "customer__email=scale@example.com".into(), None),
        ("order__store_id", "order__store_id=scale-4242".into(), None),
        ("license_key", "license_key=SCALE-0004242".into(), None),
        ("created_at__gte", format!("created_at__gte={}", shared::timefmt::format_date(week_ago.date())), None),
        ("note__icontains", "note__icontains=needle".into(), None),
        ("order_by=-validity_period", "order_by=-validity_period".into(), None),
        ("offset=1000", "offset=1000".into(), None),
    ];
    // A warm container: the catalog and the key are cached by a first call.
    tenant.call(Method::GET, "/api/v1/licenses/?limit=1", None).await;
    for (name, query, key) in paths {
        let auth = format!(
            "Api-Key {}",
            key.map_or_else(|| tenant.auth.trim_start_matches("Api-Key ").to_string(), str::to_string)
        );
        let req = request(Method::GET, &format!("/api/v1/licenses/?{query}"), Some(&auth), None);
        let app_ref = app;
        dispatch(app_ref, request(Method::GET, "/api/v1/licenses/?limit=1", Some(&auth), None)).await;
        counter.take();
        let items_before = app.store.items_read();
        let rss_before = vm_hwm_kb();
        let started = Instant::now();
        let (status, page) = read(dispatch(app_ref, req).await);
        let ms = started.elapsed().as_secs_f64() * 1_000.0;
        assert_eq!(status, 200, "{name}: {page}");
        let requests: u64 = counter.take().values().sum();
        let items = app.store.items_read() - items_before;
        let rss = vm_hwm_kb().saturating_sub(rss_before) as f64 / 1024.0;
        println!(
            "list_scale path={name} licenses={total} requests={requests} items={items} peak_rss_mb={rss:.1} ms={ms:.0}"
        );
    }
}

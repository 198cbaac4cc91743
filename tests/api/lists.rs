//! Issue 12: `GET /api/v1/licenses/` read from the index in bounded memory gives what the pure
//! in-memory evaluator gives, for random data and random filters; and the license counters
//! stay exact.

use std::collections::HashMap;

use integration_tests::faults::Faults;
use integration_tests::{counter_mismatches, ids, isolated_app, scan, Tenant};
use lambda_http::http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use shared::catalog::{Catalog, Customer};
use shared::ids::{first_id_at, id_time, Id};
use shared::licenses::list::{canonical_pairs, parse_query, LicenseCtx};
use shared::licenses::License;
use shared::listing::ListRules;
use shared::orders::Order;
use shared::store::LicenseTally;

const CREATE: &str = "/api/v1/orders/create_order/";

fn pick<'a, T>(rng: &mut StdRng, values: &'a [T]) -> &'a T {
    &values[rng.random_range(0..values.len())]
}

/// A tenant of random licenses: 3 products (one user-based), 4 customers (one in an account,
/// with labels), orders of 1–3 licenses with random notes, keys, flags, dates and users; and
/// 12 licenses written straight to the table in three earlier months (as a tenant that has
/// grown for a while has them), with their counters moved as a real write moves them.
async fn random_tenant(rng: &mut StdRng) -> (Tenant, Vec<Id>, Id) {
    // A table of its own: moto reads a whole table for every index Query, and this test sends
    // hundreds.
    let t = Tenant::founded_days_ago(isolated_app(&Faults::default(), true).await, 120).await;
    t.create("/api/v1/customer-accounts/", &json!({"name": "Acme Corp", "code": "acme"})).await;
    let app = t.product("app").await;
    t.product("cli").await;
    t.create(
        "/api/v1/products/",
        &json!({"product_name": "Team Cloud", "short_code": "team", "authorization_method": "user"}),
    )
    .await;
    t.create("/api/v1/product-features/", &json!({"product": app, "name": "F1", "code": "f1"})).await;
    let customers = [
        json!({"email": "ana@example.com", "first_name": "Ana", "last_name": "Horvat", "company_name": "Horvat d.o.o.",
               "labels": ["vip"], "customer_account_code": "acme"}),
        json!({"email": "Bo@Other.org", "first_name": "Bo", "last_name": "Berg"}),
        json!({"email": "cy@example.com", "reference": "REF-9"}),
        json!({"email": "di@shop.io"}),
    ];
    let notes = [None, Some("Alpha"), Some("alpha beta"), Some("GAMMA ray"), Some("ÄPFEL")];
    let emails = ["u1@example.com", "U2@Example.com", "lead@other.org", "x@shop.io"];
    let mut made = Vec::new();
    for i in 0..36 {
        let product = *pick(rng, &["app", "cli", "team"]);
        let mut licenses = Vec::new();
        for j in 0..rng.random_range(1..=3) {
            let mut l = json!({
                "max_activations": rng.random_range(0..5),
                "is_trial": rng.random_bool(0.3),
                "enabled": rng.random_bool(0.8),
            });
            if product == "team" {
                let n = rng.random_range(1..=2);
                let users: Vec<Value> = (0..n)
                    .map(|k| json!({"email": emails[(i + j + k) % emails.len()], "is_manager": rng.random_bool(0.4)}))
                    .collect();
                l["users"] = json!(users);
            } else {
                l["key"] = json!(format!("{}-{i:02}{j}", pick(rng, &["AB", "cd", "Ab"])));
            }
            if product == "app" && rng.random_bool(0.5) {
                l["product_features"] = json!(["f1"]);
            }
            if let Some(note) = pick(rng, &notes) {
                l["note"] = json!(note);
            }
            if rng.random_bool(0.5) {
                l["license_type"] = json!("time-limited");
                l["validity_period"] =
                    json!(format!("2027-{:02}-{:02}", rng.random_range(1..=12), rng.random_range(1..=28)));
            }
            if rng.random_bool(0.2) {
                l["is_floating_cloud"] = json!(true);
            }
            if rng.random_bool(0.2) {
                l["max_consumptions"] = json!(5);
                l["license_type"] = json!("consumption");
            }
            licenses.push(l);
        }
        let store_id = format!("{}-{i}", pick(rng, &["web", "Shop"]));
        let mut body = json!({"id": store_id, "items": [{"product_code": product, "licenses": licenses}]});
        if rng.random_bool(0.8) {
            body["customer"] = pick(rng, &customers).clone();
        }
        let (status, order) = t.post(CREATE, &body).await;
        assert_eq!(status, 200, "{body}: {order}");
        for l in order["order_items"][0]["licenses"].as_array().unwrap() {
            made.push(l["id"].as_u64().unwrap());
        }
    }
    // Licenses of earlier months: copies of made ones, created then.
    let store = t.app.store.tenant(t.company);
    let now = shared::timefmt::now();
    let mut old = Vec::new();
    let mut tx = store.transaction();
    let (mut per_order, mut per_customer) = (HashMap::new(), HashMap::new());
    for (n, id) in made.iter().take(12).enumerate() {
        let mut l: License = store.get(*id).await.unwrap().unwrap();
        let months_ago = 1 + (n % 3) as i64;
        l.id = first_id_at(now - time::Duration::days(31 * months_ago)) + n as u64;
        l.created_at = id_time(l.id);
        l.updated_at = l.created_at;
        l.license_key = l.license_key.map(|k| format!("OLD-{k}"));
        *per_order.entry(l.order).or_insert(0) += 1;
        if let Some(customer) = l.customer {
            *per_customer.entry(customer).or_insert(0) += 1;
        }
        old.push(l);
    }
    for (order, n) in per_order {
        tx.add_to::<Order>(order, "license_count", n, now).unwrap();
    }
    for (customer, n) in per_customer {
        tx.add_to::<Customer>(customer, "total_licenses", n, now).unwrap();
    }
    tx.count_licenses(&LicenseTally::of(old.iter().map(|l| (l.product, l.created_at)))).unwrap();
    tx.commit().await.unwrap();
    store.put_all(&old).await.unwrap();
    made.extend(old.iter().map(|l| l.id));
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
    (t, made, app)
}

/// A random query string: 0–3 filters, an ordering, a limit and an offset.
fn random_query(rng: &mut StdRng, licenses: &[License], ctx: &LicenseCtx) -> String {
    let some = |rng: &mut StdRng| licenses[rng.random_range(0..licenses.len())].clone();
    let mut params: Vec<(String, String)> = Vec::new();
    let product = |rng: &mut StdRng| ctx.catalog.products[rng.random_range(0..ctx.catalog.products.len())].clone();
    let filters = rng.random_range(0..=3);
    for _ in 0..filters {
        let l = some(rng);
        let time = |t: time::OffsetDateTime| shared::timefmt::format_time(t);
        let pair: (&str, String) = match rng.random_range(0..30) {
            0 => ("note__icontains", pick(rng, &["alpha", "ALP", "beta", "ray", "äpfel", "zzz"]).to_string()),
            1 => ("license_key__startswith", pick(rng, &["AB", "cd", "Ab-1", "OLD"]).to_string()),
            2 => ("license_key__icontains", pick(rng, &["ab-1", "CD", "old-ab"]).to_string()),
            3 => ("license_key__isnull", pick(rng, &["true", "false"]).to_string()),
            4 => ("order__store_id__startswith", pick(rng, &["web", "Shop", "shop"]).to_string()),
            5 => ("order__store_id__icontains", pick(rng, &["SHOP", "eb-1"]).to_string()),
            6 => ("customer__email", pick(rng, &["ana@example.com", "Bo@Other.org", "nobody@x.y"]).to_string()),
            7 => ("customer__email__icontains", pick(rng, &["EXAMPLE", "other"]).to_string()),
            8 => ("customer__name__icontains", pick(rng, &["an", "BERG"]).to_string()),
            9 => ("product__short_code", product(rng).short_code),
            10 => ("product__id", product(rng).id.to_string()),
            11 => (
                *pick(rng, &["is_trial", "enabled", "active", "is_any_floating", "has_max_consumptions"]),
                pick(rng, &["true", "false"]).to_string(),
            ),
            12 => (
                "license_users__true_email",
                pick(rng, &["u1@example.com", "lead@other.org", "U2@Example.com"]).to_string(),
            ),
            13 => ("license_users__true_email__icontains", pick(rng, &["EXAMPLE", "lead"]).to_string()),
            14 => ("manager__true_email__icontains", pick(rng, &["example", "OTHER"]).to_string()),
            15 => ("license_users__true_email__startswith", pick(rng, &["u", "U2", "lead@"]).to_string()),
            16 => (
                *pick(rng, &["validity_period__gte", "validity_period__lt"]),
                format!("2027-{:02}-15", rng.random_range(1..=12)),
            ),
            17 | 18 => (*pick(rng, &["created_at__gte", "created_at__lt", "created_at__gt"]), time(l.created_at)),
            19 => ("created_at__date__gte", shared::timefmt::format_date(l.created_at.date())),
            20 => (*pick(rng, &["updated_at__gt", "updated_at__lte"]), time(l.updated_at)),
            21 => ("product_features__id", ctx.catalog.features.first().map_or(0, |f| f.id).to_string()),
            22 => ("customer__account__code", "acme".into()),
            23 => (
                "customer__label__in",
                ctx.related
                    .customers
                    .values()
                    .flat_map(|c| c.labels.iter().map(|x| x.label))
                    .next()
                    .unwrap_or(1)
                    .to_string(),
            ),
            24 => ("product__short_code__in", format!("{},{}", product(rng).short_code, product(rng).short_code)),
            25 => ("order__store_id", l.order_store_id.clone()),
            26 => ("customer__id", l.customer.unwrap_or(1).to_string()),
            27 => ("license_key", l.license_key.clone().unwrap_or_else(|| "none".into())),
            28 => ("bundle_license__isnull", "true".into()),
            _ => ("devices__hostname__icontains", "x".into()),
        };
        params.push((pair.0.to_string(), pair.1));
    }
    if rng.random_bool(0.5) {
        let field = pick(
            rng,
            &[
                "id",
                "-id",
                "-created_at",
                "max_activations",
                "-max_activations",
                "note",
                "-note",
                "-validity_period",
                "validity_period",
                "license_key",
                "-order_store_id",
                "-updated_at",
                "enabled",
            ],
        );
        params.push(("order_by".into(), field.to_string()));
    }
    params.push(("limit".into(), rng.random_range(1..=12).to_string()));
    if rng.random_bool(0.6) {
        params.push(("offset".into(), rng.random_range(0..=60).to_string()));
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params {
        query.append_pair(name, value);
    }
    query.finish()
}

/// The reference answer: every license in memory, through the pure evaluator.
fn reference(query: &str, licenses: &[License], ctx: &LicenseCtx, scope: Option<&[Id]>) -> (usize, Vec<Id>) {
    let pairs = canonical_pairs(form_urlencoded::parse(query.as_bytes()).into_owned().collect());
    let parsed = parse_query(&pairs, ListRules { max_limit: 100, strict: true }).expect("a valid query");
    let visible: Vec<License> =
        licenses.iter().filter(|l| scope.is_none_or(|s| s.contains(&l.product))).cloned().collect();
    let (count, page) = parsed.apply(&visible, ctx);
    (count, page.iter().map(|l| l.id).collect())
}

#[tokio::test]
async fn random_filters_answer_as_the_reference_evaluator() {
    let seed: u64 = std::env::var("LIST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let (t, made, app) = random_tenant(&mut rng).await;
    let store = t.app.store.tenant(t.company);
    let mut licenses: Vec<License> = store.get_many(&made).await.unwrap();
    licenses.sort_by_key(|l| l.id);
    let ctx = LicenseCtx {
        company: t.company,
        catalog: Catalog::load(store).await.unwrap(),
        related: shared::licenses::Related {
            customers: scan::<Customer>(&t).await.into_iter().map(|c| (c.id, c)).collect(),
            users: HashMap::new(),
        },
        orders: scan::<Order>(&t).await.into_iter().map(|o| (o.id, o)).collect::<HashMap<_, _>>(),
        now: shared::timefmt::now(),
    };
    let scoped_products = [app, ctx.catalog.product_by_code("team").unwrap().id];
    let scoped = t.scoped_key(&scoped_products).await;
    for round in 0..160 {
        let query = random_query(&mut rng, &licenses, &ctx);
        let as_scoped = round % 4 == 3;
        let path = format!("/api/v1/licenses/?{query}");
        let (status, page) =
            if as_scoped { t.call_as(Some(&scoped), Method::GET, &path, None).await } else { t.get(&path).await };
        assert_eq!(status, 200, "seed {seed}, {query}: {page}");
        let expected = reference(&query, &licenses, &ctx, as_scoped.then_some(&scoped_products[..]));
        assert_eq!(
            (page["count"].as_u64().unwrap() as usize, ids(&page)),
            expected,
            "seed {seed} (LIST_SEED={seed} reproduces), scoped {as_scoped}: {query}"
        );
    }
    // Every page boundary of the plain listing, both ways, and a page of 100.
    let total = licenses.len();
    for descending in [false, true] {
        for offset in [0, 1, total - 1, total, total + 1] {
            let order = if descending { "&order_by=-id" } else { "" };
            let query = format!("limit=5&offset={offset}{order}");
            let (_, page) = t.get(&format!("/api/v1/licenses/?{query}")).await;
            assert_eq!(
                (page["count"].as_u64().unwrap() as usize, ids(&page)),
                reference(&query, &licenses, &ctx, None),
                "{query}"
            );
        }
    }
    let (_, page) = t.get("/api/v1/licenses/?limit=100").await;
    assert_eq!(ids(&page).len(), total.min(100));
    assert_eq!(page["next"].is_null(), total <= 100);
}

#[tokio::test]
async fn counters_stay_exact_under_a_concurrent_order_and_import() {
    let t = Tenant::of(isolated_app(&Faults::default(), true).await).await;
    t.product("app").await;
    t.product("cli").await;
    let mut file = String::from("license__license_key,product__short_code,customer__email,order__store_id\n");
    for i in 0..300 {
        file.push_str(&format!("IMP-{i:04},{},c{}@example.com,shared-{}\n", ["app", "cli"][i % 2], i % 5, i % 3));
    }
    let (status, body) = t.upload_csv("rows.csv", file.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let job = body["job_id"].as_u64().unwrap();
    let import = t.run_import_job(job);
    let orders = async {
        for i in 0..12 {
            let body = json!({"id": format!("shared-{}", i % 3), "append": true, "customer": {"email": format!("c{}@example.com", i % 5)},
                "items": [{"product_code": if i % 2 == 0 { "app" } else { "cli" }, "licenses": [{"key": format!("ORD-{i:03}-A")}, {"key": format!("ORD-{i:03}-B")}]}]});
            let (status, order) = t.post(CREATE, &body).await;
            assert_eq!(status, 200, "{order}");
        }
    };
    let (result, ()) = tokio::join!(import, orders);
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
    let (_, all) = t.get("/api/v1/licenses/?limit=1").await;
    assert_eq!(all["count"], 324);
    let (_, app) = t.get("/api/v1/licenses/?product__short_code=app&limit=1").await;
    assert_eq!(app["count"], 162, "the product counter");
    // The other lists page their index and count from the entity counters.
    for (path, n) in [("orders", 3), ("customers", 5), ("licenses-import-results", 1)] {
        let (_, first) = t.get(&format!("/api/v1/{path}/?limit=2")).await;
        assert_eq!(first["count"], n, "{path}");
        let (_, last) = t.get(&format!("/api/v1/{path}/?limit=2&offset={}&order_by=-id", n - 1)).await;
        let (_, all) = t.get(&format!("/api/v1/{path}/?limit=100")).await;
        assert_eq!(ids(&last), ids(&all)[..1].to_vec(), "{path}: the last page, descending, is the first id");
        assert_eq!(ids(&all).len(), n as usize, "{path}");
    }
}

#[tokio::test]
async fn a_created_at_range_is_counted_from_the_month_counters_not_by_reading_it() {
    // A company minutes old: the plan starts its `created_at__gte=<last week>` range at the
    // company's creation, where nothing lies outside it.
    let t = Tenant::of(isolated_app(&Faults::default(), true).await).await;
    t.product("app").await;
    for o in 0..4 {
        let licenses: Vec<Value> = (0..60).map(|i| json!({"key": format!("CR-{o}-{i:02}")})).collect();
        let body = json!({"id": format!("cr-{o}"), "items": [{"product_code": "app", "licenses": licenses}]});
        assert_eq!(t.post(CREATE, &body).await.0, 200);
    }
    let week_ago = shared::timefmt::format_date((shared::timefmt::now() - time::Duration::days(7)).date());
    let before = t.app.store.items_read();
    let (_, page) = t.get(&format!("/api/v1/licenses/?created_at__gte={week_ago}&limit=5")).await;
    let read = t.app.store.items_read() - before;
    assert_eq!((page["count"].clone(), ids(&page).len()), (json!(240), 5));
    assert!(read < 240, "{read} items read for a count of 240 and a page of 5");
}

/// `order_by=validity_period` pages from its own index (GSI6) when nothing but the products
/// filters: the same order as the reference (nulls first, ties by id, all reversed when
/// descending), across products merged, at every offset, for a scoped manager too.
#[tokio::test]
async fn validity_ordering_pages_from_its_index_as_the_reference_orders() {
    let t = Tenant::new().await;
    let a = t.product("va").await;
    let b = t.product("vb").await;
    let dates = [None, Some("2031-03-01"), Some("2030-01-15"), Some("2031-03-01"), None, Some("2029-12-31")];
    let mut made: Vec<(Option<&str>, u64, Id)> = Vec::new();
    for (i, date) in dates.iter().chain(dates.iter().rev()).enumerate() {
        let (code, product) = if i % 2 == 0 { ("va", a) } else { ("vb", b) };
        let mut license = json!({"key": format!("VAL-{i}")});
        if let Some(date) = date {
            license = json!({"key": format!("VAL-{i}"), "license_type": "time-limited", "validity_period": date});
        }
        let body = json!({"id": format!("val-{i}"), "items": [{"product_code": code, "licenses": [license]}]});
        let (status, order) = t.post("/api/v1/orders/create_order/", &body).await;
        assert_eq!(status, 200, "{order}");
        made.push((*date, order["order_items"][0]["licenses"][0]["id"].as_u64().unwrap(), product));
    }
    made.sort_by(|x, y| (x.0.is_some(), x.0, x.1).cmp(&(y.0.is_some(), y.0, y.1)));
    let ascending: Vec<u64> = made.iter().map(|m| m.1).collect();
    let descending: Vec<u64> = ascending.iter().rev().copied().collect();
    for (order, expected) in [("validity_period", &ascending), ("-validity_period", &descending)] {
        for (offset, limit) in [(0, 20), (0, 5), (3, 4), (10, 5), (12, 3)] {
            let path = format!("/api/v1/licenses/?order_by={order}&offset={offset}&limit={limit}");
            let (status, page) = t.get(&path).await;
            assert_eq!(status, 200, "{page}");
            let want: Vec<u64> = expected.iter().skip(offset).take(limit).copied().collect();
            assert_eq!((ids(&page), page["count"].as_u64()), (want, Some(12)), "{path}");
        }
        // One product, and a manager scoped to it: that product's licenses in the same order.
        let of_a: Vec<u64> =
            expected.iter().filter(|id| made.iter().any(|m| m.1 == **id && m.2 == a)).copied().collect();
        let (_, page) = t.get(&format!("/api/v1/licenses/?order_by={order}&product__short_code=va")).await;
        assert_eq!(ids(&page), of_a, "{order} of one product");
        let scoped = t.scoped_key(&[a]).await;
        let path = format!("/api/v1/licenses/?order_by={order}");
        let (_, page) = t.call_as(Some(&scoped), Method::GET, &path, None).await;
        assert_eq!((ids(&page), page["count"].as_u64()), (of_a.clone(), Some(6)), "{order} for a scoped manager");
    }
    // A PATCH moves a license in the ordering (its index entry moves with it).
    let first = ascending[0];
    let (status, _) = t.patch(&format!("/api/v1/licenses/{first}/"), &json!({"validity_period": "2040-01-01"})).await;
    assert_eq!(status, 200);
    let (_, page) = t.get("/api/v1/licenses/?order_by=-validity_period&limit=1").await;
    assert_eq!(ids(&page), [first]);
}

/// A license written before the validity index existed (no GSI6 entry) is missing from that
/// ordering until `provision reindex` writes its entry; running it again changes nothing.
#[tokio::test]
async fn reindex_gives_older_licenses_their_validity_entry() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let t = Tenant::new().await;
    t.product("old").await;
    let body =
        json!({"id": "old-1", "items": [{"product_code": "old", "licenses": [{"key": "OLD-1"}, {"key": "OLD-2"}]}]});
    let (status, order) = t.post("/api/v1/orders/create_order/", &body).await;
    assert_eq!(status, 200, "{order}");
    let old = order["order_items"][0]["licenses"][0]["id"].as_u64().unwrap();
    t.app
        .store
        .client()
        .update_item()
        .table_name(t.app.store.table())
        .key("PK", AttributeValue::S(shared::store::keys::license_pk(t.company, old)))
        .key("SK", AttributeValue::S(shared::store::keys::LICENSE_SK.into()))
        .update_expression("REMOVE GSI6PK, GSI6SK")
        .send()
        .await
        .expect("an index entry removed");
    let (_, page) = t.get("/api/v1/licenses/?order_by=validity_period").await;
    assert_eq!(ids(&page).len(), 1, "without its entry the license is not in the ordering: {page}");
    assert!(provision::reindex_licenses(&t.app.store).await.expect("reindex") >= 1);
    let (_, page) = t.get("/api/v1/licenses/?order_by=validity_period").await;
    assert_eq!(ids(&page).len(), 2, "{page}");
    assert!(ids(&page).contains(&old));
    // Every license now has its entry (every write since the index existed gives one).
    assert_eq!(provision::reindex_licenses(&t.app.store).await.expect("reindex"), 0);
}

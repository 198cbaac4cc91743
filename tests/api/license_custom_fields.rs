//! Issue 14 (API.md §8.3): a license's custom field values, by license, by id and listed.

use integration_tests::{counter_mismatches, history_mismatches, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

const CREATE: &str = "/api/v1/orders/create_order/";
const VALUES: &str = "/api/v1/license-custom-fields/";

/// Products `app` (fields `seat`, default "1", and `region`) and `cli` (field `tier`), and an
/// order of two `app` licenses with `seat` 5: the tenant, the field ids and the licenses.
async fn setup() -> (Tenant, [u64; 3], [u64; 2]) {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    let cli = t.product("cli").await;
    let field = |product: u64, name: &str, default: &str| {
        let t = &t;
        let body = json!({"product": product, "name": name, "default_value": default});
        async move { t.create("/api/v1/product-custom-fields/", &body).await }
    };
    let fields = [field(app, "seat", "1").await, field(app, "region", "").await, field(cli, "tier", "gold").await];
    let (status, order) = t
        .post(
            CREATE,
            &json!({"id": "cf-1", "items": [{"product_code": "app", "licenses": [
                {"key": "CF-1", "custom_fields": [{"name": "seat", "value": 5}]},
                {"key": "CF-2", "custom_fields": [{"name": "seat", "value": 5}]}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let licenses = &order["order_items"][0]["licenses"];
    (t, fields, [licenses[0]["id"].as_u64().unwrap(), licenses[1]["id"].as_u64().unwrap()])
}

async fn page(t: &Tenant, query: &str) -> (u64, Vec<Value>) {
    let (status, page) = t.get(&format!("{VALUES}?{query}")).await;
    assert_eq!(status, 200, "{query}: {page}");
    (page["count"].as_u64().unwrap(), page["results"].as_array().unwrap().clone())
}

fn value_ids(rows: &[Value]) -> Vec<u64> {
    rows.iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn values_are_read_changed_added_and_removed_by_id() {
    let (t, [seat, region, tier], [first, second]) = setup().await;
    let (count, rows) = page(&t, &format!("license={first}")).await;
    assert_eq!(count, 2);
    let seat_row = rows.iter().find(|r| r["product_custom_field"] == seat).unwrap().clone();
    assert_eq!((seat_row["value"].clone(), seat_row["name"].clone()), (json!("5"), json!("seat")));
    let id = seat_row["id"].as_u64().unwrap();
    let path = format!("{VALUES}{id}/");
    assert_eq!(t.get(&path).await.1, seat_row);

    // PATCH: the value and the license JSON, with a history entry.
    let (status, patched) = t.patch(&path, &json!({"value": 9})).await;
    assert_eq!((status, patched["value"].clone()), (200, json!("9")), "{patched}");
    let (_, license) = t.get(&format!("/api/v1/licenses/{first}/")).await;
    let shown = license["product_custom_fields"].as_array().unwrap().iter().find(|v| v["id"] == id).unwrap().clone();
    assert_eq!(shown["value"], "9");
    let (_, history) = t.get(&format!("/api/v1/license-histories/?license={first}")).await;
    assert_eq!(history["results"][0]["action"], "updated");
    assert_eq!(t.patch(&path, &json!({})).await.0, 400, "value is required");

    // DELETE, then POST it back; a second POST, another product's field, an unknown license: 400.
    assert_eq!(t.call_as(Some(&t.key), Method::DELETE, &path, None).await.0, 204);
    assert_eq!(t.get(&path).await.0, 404);
    assert_eq!(page(&t, &format!("license={first}")).await.0, 1);
    let (status, created) =
        t.post(VALUES, &json!({"license": first, "product_custom_field": seat, "value": "7"})).await;
    assert_eq!(status, 201, "{created}");
    assert_ne!(created["id"].as_u64().unwrap(), id, "a new value, a new id");
    assert_eq!(t.get(&format!("{VALUES}{}/", created["id"])).await.1, created);
    for (body, field) in [
        (json!({"license": first, "product_custom_field": seat}), "product_custom_field"),
        (json!({"license": first, "product_custom_field": tier}), "product_custom_field"),
        (json!({"license": 1, "product_custom_field": seat}), "license"),
        (json!({"product_custom_field": seat}), "license"),
    ] {
        let (status, errors) = t.post(VALUES, &body).await;
        assert_eq!((status, errors[field].is_array()), (400, true), "{body}: {errors}");
    }

    // Lists: the company's, one field's, paged both ways; they follow a deleted license.
    let (count, all) = page(&t, "limit=100").await;
    assert_eq!((count, all.len()), (4, 4));
    let ids = value_ids(&all);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order: {ids:?}");
    let (_, newest) = page(&t, "order_by=-id&limit=2").await;
    assert_eq!(value_ids(&newest), [ids[3], ids[2]]);
    let (_, second_page) = page(&t, "limit=2&offset=2").await;
    assert_eq!(value_ids(&second_page), ids[2..]);
    assert_eq!(page(&t, &format!("product_custom_field={seat}")).await.0, 2);
    assert_eq!(page(&t, &format!("product_custom_field={region}")).await.0, 2);
    assert_eq!(page(&t, &format!("product_custom_field={tier}")).await.0, 0);
    let second_values = value_ids(&page(&t, &format!("license={second}")).await.1);
    assert_eq!(t.call_as(Some(&t.key), Method::DELETE, &format!("/api/v1/licenses/{second}/"), None).await.0, 204);
    assert_eq!(page(&t, "").await.0, 2);
    assert_eq!(t.get(&format!("{VALUES}{}/", second_values[0])).await.0, 404);
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());

    // A manager of `cli` sees none of `app`'s values and cannot add one.
    let cli = t.get("/api/v1/products/?short_code=cli").await.1["results"][0]["id"].as_u64().unwrap();
    let scoped = t.scoped_key(&[cli]).await;
    let (_, seen) = t.call_as(Some(&scoped), Method::GET, VALUES, None).await;
    assert_eq!(seen["count"], 0, "{seen}");
    let created_path = format!("{VALUES}{}/", created["id"]);
    assert_eq!(t.call_as(Some(&scoped), Method::GET, &created_path, None).await.0, 404);
    assert_eq!(t.call_as(Some(&scoped), Method::DELETE, &created_path, None).await.0, 404);
    let body = json!({"license": first, "product_custom_field": region, "value": "x"});
    assert_eq!(t.call_as(Some(&scoped), Method::POST, VALUES, Some(&body)).await.0, 400);
}

#[tokio::test]
async fn staged_orders_and_imports_index_and_count_their_values() {
    let (t, [seat, _, tier], _) = setup().await;
    // 60 licenses do not fit one transaction: the order is staged, its claims counted at commit.
    let licenses: Vec<Value> = (0..60).map(|i| json!({"key": format!("BIG-{i}")})).collect();
    let (status, order) =
        t.post(CREATE, &json!({"id": "cf-big", "items": [{"product_code": "cli", "licenses": licenses}]})).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(page(&t, &format!("product_custom_field={tier}")).await.0, 60);
    let some = order["order_items"][0]["licenses"][59]["product_custom_fields"][0]["id"].as_u64().unwrap();
    let (status, row) = t.get(&format!("{VALUES}{some}/")).await;
    assert_eq!((status, row["value"].clone()), (200, json!("gold")), "{row}");

    // An import gives its licenses the fields' defaults, indexed and counted the same way.
    let file = "license__license_key,product__short_code\nIMP-1,app\nIMP-2,app\nIMP-3,cli\n";
    let (status, body) = t.upload_csv("values.csv", file.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let result = t.run_import_job(body["job_id"].as_u64().unwrap()).await;
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(page(&t, &format!("product_custom_field={seat}")).await.0, 4);
    assert_eq!(page(&t, "").await.0, 4 + 2 + 61 + 2);
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
    // Every license has its one `created` (order) or `imported` (import) entry.
    assert_eq!(history_mismatches(&t).await, Vec::<String>::new());
    let imported = result["result"]["created_licenses_count"].as_u64().unwrap();
    let (_, entries) = t.get("/api/v1/license-histories/?action=imported").await;
    assert_eq!((imported, entries["count"].as_u64().unwrap()), (3, 3));
}

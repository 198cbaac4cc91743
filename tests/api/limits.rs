//! Input at DynamoDB's limits is a 400 naming the field, or just works; never a 500
//! (issue 11, item 6): 100 items and 4 MB per transaction, 400 KB per item.

use integration_tests::Tenant;
use serde_json::json;

const CREATE: &str = "/api/v1/orders/create_order/";

#[tokio::test]
async fn many_new_labels_are_a_400_naming_labels_and_write_nothing() {
    let t = Tenant::new().await;
    let labels: Vec<String> = (0..50).map(|i| format!("label-{i}")).collect();
    let (status, body) = t.post("/api/v1/customers/", &json!({"email": "many@example.com", "labels": labels})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["labels"][0].as_str().unwrap_or_default().contains("new labels"), "{body}");
    assert_eq!(t.get("/api/v1/customers/?email=many@example.com").await.1["count"], 0);
    // In two requests of 25 they are all created.
    let (status, body) =
        t.post("/api/v1/customers/", &json!({"email": "many@example.com", "labels": labels[..25]})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_u64().unwrap();
    let (status, body) = t.patch(&format!("/api/v1/customers/{id}/"), &json!({"labels": labels})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["labels"].as_array().map(Vec::len), Some(50));
}

#[tokio::test]
async fn labels_equal_after_case_folding_are_one_label() {
    let t = Tenant::new().await;
    let (status, body) = t
        .post("/api/v1/customers/", &json!({"email": "fold@example.com", "labels": ["Äpfel", "äpfel", "ÄPFEL"]}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["labels"].as_array().map(Vec::len), Some(1), "{body}");
    let (status, body) = t
        .post(
            CREATE,
            &json!({"id": "o-fold", "customer": {"email": "fold2@example.com", "labels": ["äpfel", "Birne", "BIRNE"]},
            "items": [{"product_code": "app", "licenses": [{}]}]}),
        )
        .await;
    // The product does not exist: a 400, and no 500 on the labels.
    assert_eq!(status, 400, "{body}");
}

/// Product `app` with `n` features `f0`…; the `product_features` of a license that give each
/// a metadata of about `bytes` bytes (each within the 32 KB a metadata may hold).
async fn app_with_features(t: &Tenant, n: usize, bytes: usize) -> Vec<serde_json::Value> {
    let app = t.product("app").await;
    let blob = "v".repeat(bytes);
    let mut grants = Vec::new();
    for i in 0..n {
        let code = format!("f{i}");
        t.create("/api/v1/product-features/", &json!({"product": app, "name": code, "code": code})).await;
        grants.push(json!({"code": code, "metadata": {"blob": blob}}));
    }
    grants
}

#[tokio::test]
async fn an_item_over_400_kb_is_a_400_naming_its_largest_field() {
    let t = Tenant::new().await;
    // 14 features with 30 KB of metadata each: each within its limit, together 420 KB.
    let features = app_with_features(&t, 14, 30_000).await;
    let order = json!({"id": "o-big", "items": [{"product_code": "app", "licenses": [{"key": "BIG-1", "product_features": features}]}]});
    let (status, body) = t.post(CREATE, &order).await;
    let text = body.to_string();
    assert_eq!(status, 400, "{}", &text[..text.len().min(500)]);
    assert!(body.as_object().is_some_and(|o| o.contains_key("product_features")), "{}", &text[..text.len().min(500)]);
    assert_eq!(t.get("/api/v1/orders/?store_id=o-big").await.1["count"], 0, "nothing written");
}

#[tokio::test]
async fn a_product_has_at_most_40_custom_fields() {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    for i in 0..40 {
        t.create("/api/v1/product-custom-fields/", &json!({"product": app, "name": format!("c{i}")})).await;
    }
    let (status, body) = t.post("/api/v1/product-custom-fields/", &json!({"product": app, "name": "c40"})).await;
    assert_eq!((status, body["product"][0].as_str().is_some_and(|m| m.contains("40"))), (400, true), "{body}");
    // A license with all 40 values, its markers and counters: one transaction.
    let values: Vec<_> = (0..40).map(|i| json!({"name": format!("c{i}"), "value": "x".repeat(4_000)})).collect();
    let (status, order) =
        t.post(CREATE, &json!({"id": "o-40", "items": [{"product_code": "app", "licenses": [{"key": "C-40", "custom_fields": values}]}]})).await;
    assert_eq!(status, 200, "{}", &order.to_string()[..300]);
    let (_, listed) = t
        .get(&format!("/api/v1/license-custom-fields/?license={}", order["order_items"][0]["licenses"][0]["id"]))
        .await;
    assert_eq!(listed["count"], 40);
}

#[tokio::test]
async fn an_order_over_4_mb_is_written_in_transactions_that_fit() {
    let t = Tenant::isolated().await;
    // 12 licenses of ~330 KB: 4 MB, 36 writes; one transaction would pass DynamoDB's 4 MB.
    let features = app_with_features(&t, 11, 30_000).await;
    let licenses: Vec<_> =
        (0..12).map(|i| json!({"key": format!("HEAVY-{i:03}"), "product_features": features})).collect();
    let (status, body) =
        t.post(CREATE, &json!({"id": "o-heavy", "items": [{"product_code": "app", "licenses": licenses}]})).await;
    let text = body.to_string();
    assert_eq!(status, 200, "{}", &text[..text.len().min(500)]);
    assert_eq!(t.get("/api/v1/licenses/?order__store_id=o-heavy&limit=1").await.1["count"], 12);
}

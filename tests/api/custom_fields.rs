use integration_tests::{ids, Tenant};
use serde_json::json;

#[tokio::test]
async fn create_list_patch_and_duplicates() {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    let other = t.product("other").await;
    let (status, field) =
        t.post("/api/v1/product-custom-fields/", &json!({"product": app, "name": "t1", "default_value": 333})).await;
    assert_eq!(status, 201, "{field}");
    assert_eq!(field["default_value"], "333");
    assert_eq!(field["data_type"], serde_json::Value::Null);
    assert_eq!(field["description"], serde_json::Value::Null);
    let id = field["id"].as_u64().unwrap();

    let (status, _) = t.post("/api/v1/product-custom-fields/", &json!({"product": app, "name": "t1"})).await;
    assert_eq!(status, 409);
    let on_other = t.create("/api/v1/product-custom-fields/", &json!({"product": other, "name": "t1"})).await;

    let (_, list) = t.get(&format!("/api/v1/product-custom-fields/?product={other}")).await;
    assert_eq!(ids(&list), [on_other]);
    let (status, patched) = t
        .patch(&format!("/api/v1/product-custom-fields/{id}/"), &json!({"data_type": "text", "description": "Seats"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!((patched["data_type"].as_str(), patched["description"].as_str()), (Some("text"), Some("Seats")));

    // The product shows its custom fields as a license's product does (seed 002).
    let (_, product) = t.get(&format!("/api/v1/products/{app}/")).await;
    assert_eq!(
        product["custom_fields"],
        json!([{"id": id, "name": "t1", "data_type": "text", "default_value": "333", "description": "Seats", "product": app}])
    );

    let (status, body) =
        t.post("/api/v1/product-custom-fields/", &json!({"product": app, "name": "", "default_value": {"x": 1}})).await;
    assert_eq!(status, 400);
    assert!(body.get("name").is_some() && body.get("default_value").is_some(), "{body}");
}

#[tokio::test]
async fn tenants_and_scopes() {
    integration_tests::check_product_scoping(
        "/api/v1/product-custom-fields/",
        |product| json!({"product": product, "name": "f"}),
    )
    .await;
}

use integration_tests::{ids, Tenant};
use serde_json::json;

#[tokio::test]
async fn create_list_retrieve_patch() {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    let other = t.product("other").await;
    let (status, f) = t
        .post(
            "/api/v1/product-features/",
            &json!({"product": app.to_string(), "name": "Export", "code": "export", "feature_type": "consumption",
                    "max_consumption": "10", "allow_overages": "true", "consumption_period": "annualy"}),
        )
        .await;
    assert_eq!(status, 201, "{f}");
    assert_eq!(f["product"], app);
    assert_eq!(f["max_consumption"], 10);
    assert_eq!(f["allow_overages"], true);
    assert_eq!(f["consumption_period"], "annualy", "the vendor's spelling, as sent");
    assert_eq!(f["is_deleted"], false);
    let fid = f["id"].as_u64().unwrap();
    let second =
        t.create("/api/v1/product-features/", &json!({"product": app, "name": "Print", "code": "print"})).await;
    let on_other =
        t.create("/api/v1/product-features/", &json!({"product": other, "name": "Export", "code": "export"})).await;

    let (_, list) = t.get(&format!("/api/v1/product-features/?product={app}")).await;
    assert_eq!(ids(&list), [fid, second]);
    let (_, list) = t.get("/api/v1/product-features/?code=export").await;
    assert_eq!(ids(&list), [fid, on_other]);
    let (status, got) = t.get(&format!("/api/v1/product-features/{fid}/")).await;
    assert_eq!((status, &got), (200, &f));

    let (status, patched) = t
        .patch(&format!("/api/v1/product-features/{fid}/"), &json!({"consumption_period": null, "max_overages": 5}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["consumption_period"], serde_json::Value::Null);
    assert_eq!(patched["max_overages"], 5);
    assert_eq!(patched["code"], "export");
    let (status, body) = t.patch(&format!("/api/v1/product-features/{fid}/"), &json!({"product": other})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn validation_and_duplicates() {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    let (status, body) = t.post("/api/v1/product-features/", &json!({"name": "N", "code": "c"})).await;
    assert_eq!((status, &body["product"]), (400, &json!(["This field is required."])));
    let (status, body) =
        t.post("/api/v1/product-features/", &json!({"product": 12345, "name": "N", "code": "c"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["product"], json!(["Invalid pk \"12345\" - object does not exist."]));
    let (status, body) = t
        .post(
            "/api/v1/product-features/",
            &json!({"product": app, "name": "N", "code": "c", "feature_type": "magic", "max_consumption": -1}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.get("feature_type").is_some() && body.get("max_consumption").is_some(), "{body}");

    t.create("/api/v1/product-features/", &json!({"product": app, "name": "N", "code": "c"})).await;
    let (status, _) = t.post("/api/v1/product-features/", &json!({"product": app, "name": "N2", "code": "c"})).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn tenants_and_scopes() {
    integration_tests::check_product_scoping(
        "/api/v1/product-features/",
        |product| json!({"product": product, "name": "N", "code": "c"}),
    )
    .await;
}

use integration_tests::{ids, Tenant};
use serde_json::{json, Value};

async fn product_with_features(t: &Tenant, code: &str) -> u64 {
    let product = t.product(code).await;
    for f in ["f1", "f2"] {
        t.create("/api/v1/product-features/", &json!({"product": product, "name": f, "code": f})).await;
    }
    product
}

#[tokio::test]
async fn properties_and_features_round_trip() {
    let t = Tenant::new().await;
    let app = product_with_features(&t, "app").await;
    let (status, tpl) = t
        .post(
            "/api/v1/license-templates/",
            &json!({
                "product": app, "name": "Annual", "code": "policy_A",
                "license_type": "Time-Limited", "valid_duration": "1y", "max_activations": "5",
                "enable_maintenance_duration": true, "maintenance_duration": "3m", "prevent_vm": "true",
                "metadata": "{\"plan\": \"pro\"}",
                "product_features": ["f1", {"code": "f2", "max_consumption": 33}]
            }),
        )
        .await;
    assert_eq!(status, 201, "{tpl}");
    assert_eq!(tpl["license_type"], "time-limited");
    assert_eq!(tpl["valid_duration"], "1y");
    assert_eq!(tpl["max_activations"], 5);
    assert_eq!(tpl["enable_maintenance_period"], true);
    assert_eq!(tpl["prevent_vm"], true);
    assert_eq!(tpl["metadata"], json!({"plan": "pro"}));
    assert_eq!(tpl["is_trial"], Value::Null, "unset properties fall through to the product");
    assert_eq!(tpl["product_features"][0]["code"], "f1");
    assert_eq!(tpl["product_features"][1]["code"], "f2");
    assert_eq!(tpl["product_features"][1]["max_consumption"], 33);
    let id = tpl["id"].as_u64().unwrap();

    let (status, patched) = t
        .patch(
            &format!("/api/v1/license-templates/{id}/"),
            &json!({"valid_duration": null, "license_type": "perpetual", "product_features": []}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["valid_duration"], Value::Null);
    assert_eq!(patched["license_type"], "perpetual");
    assert_eq!(patched["max_activations"], 5, "absent properties are kept");
    assert_eq!(patched["product_features"], json!([]));
    let (_, got) = t.get(&format!("/api/v1/license-templates/{id}/")).await;
    assert_eq!(got, patched);
}

#[tokio::test]
async fn bad_values_are_400_and_codes_unique_per_product() {
    let t = Tenant::new().await;
    let app = product_with_features(&t, "app").await;
    let other = product_with_features(&t, "other").await;
    let (status, body) = t
        .post(
            "/api/v1/license-templates/",
            &json!({"product": app, "name": "Bad", "code": "bad", "valid_duration": "1 year", "license_type": "forever",
                    "product_features": ["f1", "nope", {"max_consumption": 1}, "f1"], "max_activations": -2}),
        )
        .await;
    assert_eq!(status, 400);
    for field in [
        "valid_duration",
        "license_type",
        "product_features.1",
        "product_features.2.code",
        "product_features.3",
        "max_activations",
    ] {
        assert!(body.get(field).is_some(), "{field} missing in {body}");
    }
    t.create("/api/v1/license-templates/", &json!({"product": app, "name": "A", "code": "a"})).await;
    let (status, _) = t.post("/api/v1/license-templates/", &json!({"product": app, "name": "A2", "code": "a"})).await;
    assert_eq!(status, 409);
    t.create("/api/v1/license-templates/", &json!({"product": other, "name": "A", "code": "a"})).await;
}

#[tokio::test]
async fn one_default_per_product() {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    let other = t.product("other").await;
    let first = t
        .create("/api/v1/license-templates/", &json!({"product": app, "name": "1", "code": "one", "is_default": true}))
        .await;
    let elsewhere = t
        .create("/api/v1/license-templates/", &json!({"product": other, "name": "x", "code": "x", "is_default": true}))
        .await;
    let second = t
        .create(
            "/api/v1/license-templates/",
            &json!({"product": app, "name": "2", "code": "two", "is_default": "true"}),
        )
        .await;
    let (_, defaults) = t.get("/api/v1/license-templates/?is_default=true&order_by=id").await;
    assert_eq!(ids(&defaults), [elsewhere, second]);
    let (_, got) = t.get(&format!("/api/v1/license-templates/{first}/")).await;
    assert_eq!(got["is_default"], false);

    t.patch(&format!("/api/v1/license-templates/{first}/"), &json!({"is_default": true})).await;
    let (_, defaults) = t.get(&format!("/api/v1/license-templates/?is_default=true&product={app}")).await;
    assert_eq!(ids(&defaults), [first]);
}

#[tokio::test]
async fn tenants_and_scopes() {
    integration_tests::check_product_scoping(
        "/api/v1/license-templates/",
        |product| json!({"product": product, "name": "1", "code": "one"}),
    )
    .await;
}

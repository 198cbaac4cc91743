//! Tenant isolation, endpoint by endpoint: company A's key on every object of company B is a
//! 404 (never a 403 that would confirm it exists), B's objects are in none of A's lists, and
//! B's codes mean nothing in A's writes.

use integration_tests::{ids, Tenant};
use lambda_http::http::Method;
use serde_json::json;

/// Company B with one object of every kind; the paths of those objects.
async fn company_with_everything() -> (Tenant, Vec<(&'static str, u64)>) {
    let b = Tenant::new().await;
    let product = b.product("secret").await;
    let feature =
        b.create("/api/v1/product-features/", &json!({"product": product, "name": "Export", "code": "export"})).await;
    let field = b.create("/api/v1/product-custom-fields/", &json!({"product": product, "name": "seat"})).await;
    let template =
        b.create("/api/v1/license-templates/", &json!({"product": product, "name": "Pro", "code": "pro"})).await;
    let account = b.create("/api/v1/customer-accounts/", &json!({"name": "Acme", "code": "acme"})).await;
    let customer = b.create("/api/v1/customers/", &json!({"email": "boss@b.example"})).await;
    let (status, order) = b
        .post(
            "/api/v1/orders/create_order/",
            &json!({"id": "b-1", "customer": {"email": "boss@b.example"},
                    "items": [{"product_code": "secret", "licenses": [{"key": "B-KEY-1",
                      "users": [{"email": "user@b.example"}]}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let license = order["order_items"][0]["licenses"][0]["id"].as_u64().unwrap();
    let user = order["order_items"][0]["licenses"][0]["license_users"][0]["id"].as_u64().unwrap();
    let value = order["order_items"][0]["licenses"][0]["product_custom_fields"][0]["id"].as_u64().unwrap();
    let order = order["id"].as_u64().unwrap();
    let (status, job) = b.post("/api/v1/licenses/import_from_csv/upload_url/", &json!({})).await;
    assert_eq!(status, 200, "{job}");
    let job = job["job_id"].as_u64().unwrap();
    // A device, activated through B's License API credentials.
    let client = super::license_api::Client::of(&b).await;
    let mut activation = super::license_api::on("B-KEY-1", "b-machine");
    activation["product"] = json!("secret");
    let (status, activated) = client.call(&b, Method::POST, "activate_license", &activation).await;
    assert_eq!(status, 200, "{activated}");
    let (_, devices) = b.get(&format!("/api/v1/devices/?license={license}")).await;
    let device = devices["results"][0]["id"].as_u64().unwrap();
    let objects = vec![
        ("products", product),
        ("product-features", feature),
        ("product-custom-fields", field),
        ("license-templates", template),
        ("customer-accounts", account),
        ("customers", customer),
        ("orders", order),
        ("licenses", license),
        ("licenses-import-results", job),
        ("license-users", user),
        ("license-custom-fields", value),
        ("devices", device),
    ];
    (b, objects)
}

#[tokio::test]
async fn no_endpoint_shows_or_changes_another_company_s_objects() {
    let (b, objects) = company_with_everything().await;
    let a = Tenant::new().await;
    a.product("mine").await;

    for (collection, id) in &objects {
        let path = format!("/api/v1/{collection}/{id}/");
        assert_eq!(b.get(&path).await.0, 200, "B sees its own {path}");
        let (status, body) = a.get(&path).await;
        assert_eq!((status, body), (404, json!({"detail": "Not found."})), "GET {path}");
        let (_, list) = a.get(&format!("/api/v1/{collection}/")).await;
        assert!(!ids(&list).contains(id), "A's list of {collection} shows B's {id}");
    }
    for (collection, id) in &objects[..6] {
        let path = format!("/api/v1/{collection}/{id}/");
        assert_eq!(a.patch(&path, &json!({"name": "taken over"})).await.0, 404, "PATCH {path}");
    }
    let order = objects.iter().find(|(c, _)| *c == "orders").unwrap().1;
    assert_eq!(a.patch(&format!("/api/v1/orders/{order}/"), &json!({"reference": "taken over"})).await.0, 404);
    let license = objects.iter().find(|(c, _)| *c == "licenses").unwrap().1;
    let update =
        a.post(&format!("/api/v1/licenses/{license}/update_features/"), &json!({"product_features": []})).await;
    assert_eq!(update.0, 404, "update_features on B's license");
    // The lifecycle of B's license (API.md §8): every call is a 404 and changes nothing.
    let path = format!("/api/v1/licenses/{license}/");
    assert_eq!(a.patch(&path, &json!({"note": "taken over"})).await.0, 404, "PATCH {path}");
    for action in ["disable", "enable", "reset"] {
        assert_eq!(a.post(&format!("{path}{action}/"), &json!({})).await.0, 404, "{action} on B's license");
    }
    assert_eq!(a.call_as(Some(&a.key), Method::DELETE, &path, None).await.0, 404, "DELETE {path}");
    // B's license users (API.md §8.2): not assignable, changeable nor found by email.
    let user = objects.iter().find(|(c, _)| *c == "license-users").unwrap().1;
    for action in ["assign_user", "assign_users", "unassign_user", "set_users_activations"] {
        let body = json!({"email": "x@a.example", "emails": [{"email": "x@a.example"}], "license_user_id": user});
        assert_eq!(a.post(&format!("{path}{action}/"), &body).await.0, 404, "{action} on B's license");
    }
    let user_path = format!("/api/v1/license-users/{user}/");
    assert_eq!(a.patch(&user_path, &json!({"first_name": "taken over"})).await.0, 404, "PATCH {user_path}");
    let password = json!({"password": "taken over"});
    assert_eq!(a.post(&format!("{user_path}set_password/"), &password).await.0, 404);
    assert_eq!(a.post("/api/v1/license-users/set_password/?email=user@b.example", &password).await.0, 404);
    assert_eq!(a.get("/api/v1/license-users/?true_email=user@b.example").await.1["count"], 0);
    assert_eq!(a.get(&format!("/api/v1/license-users/?license={license}")).await.1["count"], 0);
    assert_eq!(b.get(&user_path).await.1["is_initial_password"], true, "B's user is unchanged");
    // B's custom field values (API.md §8.3).
    let value = objects.iter().find(|(c, _)| *c == "license-custom-fields").unwrap().1;
    let value_path = format!("/api/v1/license-custom-fields/{value}/");
    assert_eq!(a.patch(&value_path, &json!({"value": "taken over"})).await.0, 404);
    assert_eq!(a.call_as(Some(&a.key), Method::DELETE, &value_path, None).await.0, 404);
    let field = objects.iter().find(|(c, _)| *c == "product-custom-fields").unwrap().1;
    let body = json!({"license": license, "product_custom_field": field, "value": "x"});
    assert_eq!(a.post("/api/v1/license-custom-fields/", &body).await.0, 400, "B's license is unknown to A");
    assert_eq!(a.get(&format!("/api/v1/license-custom-fields/?license={license}")).await.1["count"], 0);
    assert_eq!(b.get(&value_path).await.1["value"], "", "B's value is unchanged");
    let (_, history) = a.get(&format!("/api/v1/license-histories/?license={license}")).await;
    assert_eq!(history["count"], 0, "B's history is not A's");
    // B's devices (issue 15): neither reset, blacklisted nor found by hardware id or hostname.
    let device = objects.iter().find(|(c, _)| *c == "devices").unwrap().1;
    for action in ["reset", "blacklist"] {
        assert_eq!(a.post(&format!("/api/v1/devices/{device}/{action}/"), &json!({})).await.0, 404, "{action}");
    }
    for query in ["hardware_id=b-machine", "hostname=h", &format!("license={license}")] {
        assert_eq!(a.get(&format!("/api/v1/devices/?{query}")).await.1["count"], 0, "{query}");
    }
    assert_eq!(b.get(&format!("/api/v1/devices/{device}/")).await.1["device_active"], true, "B's device is unchanged");
    let unchanged = b.get(&format!("/api/v1/licenses/{license}/")).await.1;
    assert_eq!(unchanged["license_key"], "B-KEY-1");
    assert_eq!((unchanged["note"].clone(), unchanged["enabled"].clone()), (json!(null), json!(true)));

    // B's codes, keys, emails and store ids mean nothing to A.
    for query in [
        "/api/v1/licenses/?license_key=B-KEY-1",
        "/api/v1/licenses/?product__short_code=secret",
        "/api/v1/licenses/?order__store_id=b-1",
        "/api/v1/licenses/?customer__email=boss@b.example",
        "/api/v1/orders/?store_id=b-1",
        "/api/v1/customers/?email=boss@b.example",
        "/api/v1/products/?short_code=secret",
    ] {
        let (status, list) = a.get(query).await;
        assert_eq!((status, list["count"].clone()), (200, json!(0)), "{query}");
    }
    let order = a
        .post(
            "/api/v1/orders/create_order/",
            &json!({"id": "b-1", "items": [{"product_code": "secret", "licenses": [{"key": "B-KEY-1"}]}]}),
        )
        .await;
    assert_eq!(order.0, 400, "B's product code is unknown to A: {}", order.1);
    assert_eq!(a.get("/api/v1/orders/generate_license/?product=secret&quantity=1").await.0, 400);
    // A may use B's order id and key for itself: they are B's, not global.
    let (status, mine) = a
        .post(
            "/api/v1/orders/create_order/",
            &json!({"id": "b-1", "items": [{"product_code": "mine", "licenses": [{"key": "B-KEY-1"}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(b.get("/api/v1/orders/?store_id=b-1").await.1["count"], 1);
}

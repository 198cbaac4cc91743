use integration_tests::{ids, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

const CREATE: &str = "/api/v1/orders/create_order/";

/// A key-based product `app` with features f1 (activation) and f2 (consumption), a custom
/// field `seats` (default 5) and a default policy `annual` plus a policy `trial`.
async fn catalog(t: &Tenant) -> u64 {
    let app =
        t.create("/api/v1/products/", &json!({"product_name": "App", "short_code": "app", "max_activations": 3})).await;
    t.create("/api/v1/product-features/", &json!({"product": app, "name": "F1", "code": "f1"})).await;
    t.create(
        "/api/v1/product-features/",
        &json!({"product": app, "name": "F2", "code": "f2", "feature_type": "consumption", "max_consumption": 20}),
    )
    .await;
    t.create("/api/v1/product-custom-fields/", &json!({"product": app, "name": "seats", "default_value": "5"})).await;
    t.create(
        "/api/v1/license-templates/",
        &json!({"product": app, "name": "Annual", "code": "annual", "is_default": true,
                "license_type": "time-limited", "valid_duration": "1y", "product_features": ["f1"]}),
    )
    .await;
    t.create(
        "/api/v1/license-templates/",
        &json!({"product": app, "name": "Trial", "code": "trial", "is_trial": true, "max_activations": 1,
                "license_type": "perpetual"}),
    )
    .await;
    app
}

fn licenses(order: &Value) -> Vec<Value> {
    order["order_items"].as_array().unwrap().iter().flat_map(|i| i["licenses"].as_array().unwrap().clone()).collect()
}

#[tokio::test]
async fn key_based_order_resolves_policy_product_and_explicit_values() {
    let t = Tenant::new().await;
    let app = catalog(&t).await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({
                "id": "web-1001", "created": "2024-03-01 10:00:00", "reference": "PO-7", "language": "en",
                "metadata": "{ \"flower\": \"license\" }",
                "customer": {"email": "Ana@Example.com", "first_name": "Ana", "labels": ["vip"]},
                "items": [{"product_code": "app", "licenses": [
                    {"key": "AAAA-BBBB-CCCC-0001", "max_activations": "7", "custom_fields": [{"name": "seats", "value": 10}]},
                    {"policy_code": "trial"},
                    {"policy_code": "annual", "license_type": "perpetual", "product_features": [{"code": "f2", "max_consumption": 33}]}
                ]}]
            }),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["store_id"], "web-1001");
    assert_eq!(order["reference"], "PO-7");
    assert_eq!(order["created_at"], "2024-03-01T10:00:00Z");
    assert_eq!(order["metadata"], json!({"flower": "license"}));
    assert_eq!(order["customer"]["email"], "Ana@Example.com");
    assert_eq!(order["customer"]["total_orders"], 1);
    assert_eq!(order["customer"]["total_licenses"], 3);
    let order_id = order["id"].as_u64().unwrap();
    let items = order["order_items"].as_array().unwrap();
    assert_eq!((items.len(), items[0]["product_id"].as_u64()), (1, Some(app)));
    let ls = licenses(&order);
    assert_eq!(ls.len(), 3);
    for l in &ls {
        assert_eq!(l["order"], order_id);
        assert_eq!(l["order_item"], items[0]["id"]);
        assert_eq!(l["order_store_id"], "web-1001");
        assert_eq!(l["status"], "Inactive");
        assert_eq!(l["customer"]["email"], "Ana@Example.com");
    }

    // 1: the default policy (annual, time-limited 1y from the order's date) with explicit values.
    assert_eq!(ls[0]["license_key"], "AAAA-BBBB-CCCC-0001");
    assert_eq!(ls[0]["max_activations"], 7);
    assert_eq!(ls[0]["license_type"], "time-limited");
    assert_eq!(ls[0]["valid_duration"], "1y");
    assert_eq!(ls[0]["validity_period"], "2025-03-01");
    assert_eq!(ls[0]["product_features"][0]["product_feature"]["code"], "f1");
    assert_eq!(ls[0]["product_custom_fields"][0]["name"], "seats");
    assert_eq!(ls[0]["product_custom_fields"][0]["value"], "10");
    // 2: the trial policy; a generated key in the vendor's format.
    let key = ls[1]["license_key"].as_str().unwrap();
    assert_eq!(key.len(), 19, "{key}");
    assert!(key.split('-').all(|g| g.len() == 4));
    assert_eq!(ls[1]["is_trial"], true);
    assert_eq!(ls[1]["max_activations"], 1);
    assert_eq!(ls[1]["product_custom_fields"][0]["value"], "5", "the field's default");
    // 3: explicit type and features override the policy; max_activations from the product.
    assert_eq!(ls[2]["license_type"], "perpetual");
    assert_eq!(ls[2]["max_activations"], 3);
    assert_eq!(ls[2]["product_features"].as_array().unwrap().len(), 1);
    assert_eq!(ls[2]["product_features"][0]["product_feature"]["code"], "f2");
    assert_eq!(ls[2]["product_features"][0]["max_consumption"], 33);

    // The same order reads back by its own id and by its store id.
    let (status, got) = t.get(&format!("/api/v1/orders/{order_id}/")).await;
    assert_eq!((status, &got), (200, &order));
    let (_, list) = t.get("/api/v1/orders/?store_id=web-1001").await;
    assert_eq!(list["results"], json!([order]));
}

#[tokio::test]
async fn without_a_product_default_max_activations_is_1() {
    let t = Tenant::new().await;
    t.product("plain").await;
    let (status, order) =
        t.post(CREATE, &json!({"id": 42, "items": [{"product_code": "plain", "licenses": [{}]}]})).await;
    assert_eq!(status, 200, "{order}");
    let l = &licenses(&order)[0];
    assert_eq!(l["max_activations"], 1);
    assert_eq!(l["license_type"], "perpetual");
    assert_eq!(order["store_id"], "42");
    assert_eq!(order["customer"], Value::Null);
}

#[tokio::test]
async fn order_fields_and_consumption_licenses() {
    let t = Tenant::new().await;
    t.create("/api/v1/products/", &json!({"product_name": "C", "short_code": "cons", "max_consumptions": 250})).await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({"id": "Shop-ABC-9", "is_test": "true", "is_trial": true, "order_type": "normal", "language": "hr",
            "campaign_params": "utm_source=x", "download_id": "dl-7",
            "items": [{"product_code": "cons", "licenses": [
                {"license_type": "consumption"},
                {"license_type": "consumption", "max_consumptions": "40", "allow_overages": true,
                 "max_overages": 5, "reset_consumption": "true", "consumption_period": "month"}
            ]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    for (field, value) in [
        ("is_test", json!(true)),
        ("is_trial", json!(true)),
        ("order_type", json!("normal")),
        ("language", json!("hr")),
        ("campaign_params", json!("utm_source=x")),
        ("download_id", json!("dl-7")),
    ] {
        assert_eq!(order[field], value, "{field}");
    }
    let ls = licenses(&order);
    assert_eq!(ls[0]["max_consumptions"], 250, "the product's");
    assert_eq!(ls[1]["max_consumptions"], 40);
    assert_eq!(ls[1]["allow_overages"], true);
    assert_eq!(ls[1]["max_overages"], 5);
    assert_eq!(ls[1]["reset_consumption"], true);
    assert_eq!(ls[1]["consumption_period"], "monthly");
    let (_, found) = t.get("/api/v1/orders/?store_id__icontains=abc").await;
    assert_eq!(ids(&found), [order["id"].as_u64().unwrap()]);
    let (_, none) = t.get("/api/v1/orders/?store_id__startswith=abc").await;
    assert_eq!(none["count"], 0, "startswith is case-sensitive");
}

#[tokio::test]
async fn duplicate_order_ids_and_append() {
    let t = Tenant::new().await;
    t.product("plain").await;
    let body = |key: &str| json!({"id": "o-1", "items": [{"product_code": "plain", "licenses": [{"key": key}]}]});
    assert_eq!(t.post(CREATE, &body("K-1")).await.0, 200);
    let (status, answer) = t.post(CREATE, &body("K-2")).await;
    assert_eq!(status, 409, "{answer}");

    let mut append = body("K-3");
    append["append"] = json!("true");
    let (status, order) = t.post(CREATE, &append).await;
    assert_eq!(status, 200, "{order}");
    let keys: Vec<String> = licenses(&order).iter().map(|l| l["license_key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys, ["K-1", "K-3"]);
    assert_eq!(order["order_items"].as_array().unwrap().len(), 2);

    // append on an id that does not exist yet simply creates the order.
    let mut fresh = body("K-4");
    fresh["id"] = json!("o-2");
    fresh["append"] = json!(true);
    assert_eq!(t.post(CREATE, &fresh).await.0, 200);
    let (_, list) = t.get("/api/v1/orders/?store_id__startswith=o-&order_by=store_id").await;
    let stores: Vec<&str> =
        list["results"].as_array().unwrap().iter().map(|o| o["store_id"].as_str().unwrap()).collect();
    assert_eq!(stores, ["o-1", "o-2"]);
}

#[tokio::test]
async fn duplicate_keys_are_409_and_leave_nothing_behind() {
    let t = Tenant::new().await;
    t.product("plain").await;
    t.create("/api/v1/products/", &json!({"product_name": "Other", "short_code": "other"})).await;
    let ok = json!({"id": "first", "items": [{"product_code": "plain", "licenses": [{"key": "TAKEN"}]}]});
    assert_eq!(t.post(CREATE, &ok).await.0, 200);

    let clash = json!({"id": "second", "customer": {"email": "new@example.com"},
        "items": [{"product_code": "plain", "licenses": [{"key": "FREE-1"}, {"key": "TAKEN"}]}]});
    let (status, answer) = t.post(CREATE, &clash).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("\"TAKEN\""), "the message names the key: {answer}");
    let twice = json!({"id": "third", "items": [{"product_code": "plain", "licenses": [{"key": "X"}, {"key": "X"}]}]});
    assert_eq!(t.post(CREATE, &twice).await.0, 409);

    // Nothing of the failed orders exists: not the order, not the customer, not the free key.
    let (_, list) = t.get("/api/v1/orders/").await;
    assert_eq!(list["count"], 1);
    let (_, customers) = t.get("/api/v1/customers/").await;
    assert_eq!(customers["count"], 0);
    let reuse = json!({"id": "fourth", "items": [{"product_code": "plain", "licenses": [{"key": "FREE-1"}]}]});
    assert_eq!(t.post(CREATE, &reuse).await.0, 200);
    // The same key on another product is fine.
    let other = json!({"id": "fifth", "items": [{"product_code": "other", "licenses": [{"key": "TAKEN"}]}]});
    assert_eq!(t.post(CREATE, &other).await.0, 200);
}

#[tokio::test]
async fn user_based_licenses() {
    let t = Tenant::new().await;
    t.create("/api/v1/products/", &json!({"product_name": "U", "short_code": "u", "authorization_method": "user"}))
        .await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({"id": "u-1", "items": [{"product_code": "u", "licenses": [
                {"users": [{"email": "a@x.com", "is_manager": "true", "first_name": "A", "max_activations": 2}, {"email": "b@x.com"}]},
                {"user": {"email": "c@x.com"}}
            ]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let ls = licenses(&order);
    assert_eq!(ls[0]["license_key"], Value::Null);
    assert_eq!(ls[0]["license_users"][0]["true_email"], "a@x.com");
    assert_eq!(ls[0]["license_users"][0]["is_manager"], true);
    assert_eq!(ls[0]["license_users"][0]["max_activations"], 2);
    assert_eq!(ls[0]["license_users"][1]["email"], "b@x.com");
    assert_eq!(ls[1]["license_users"][0]["email"], "c@x.com");

    for (license, field) in [
        (json!({}), "items.0.licenses.0.users"),
        (json!({"users": [{"email": "nope"}]}), "items.0.licenses.0.users.0.email"),
        (json!({"key": "K", "users": [{"email": "a@x.com"}]}), "items.0.licenses.0.key"),
    ] {
        let (status, answer) =
            t.post(CREATE, &json!({"id": "u-bad", "items": [{"product_code": "u", "licenses": [license]}]})).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.get(field).is_some(), "{field} in {answer}");
    }
}

#[tokio::test]
async fn key_based_licenses_may_list_users() {
    let t = Tenant::new().await;
    t.product("plain").await;
    let (status, order) = t
        .post(CREATE, &json!({"id": "k", "items": [{"product_code": "plain", "licenses": [{"key": "K1", "users": [{"email": "u@x.com"}]}]}]}))
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(licenses(&order)[0]["license_users"][0]["email"], "u@x.com");
}

#[tokio::test]
async fn validation_names_the_field() {
    let t = Tenant::new().await;
    catalog(&t).await;
    let cases = [
        (json!({"items": [{"product_code": "app", "licenses": [{}]}]}), "id"),
        (json!({"id": "x"}), "items"),
        (json!({"id": "x", "items": [{"product_code": "nope", "licenses": [{}]}]}), "items.0.product_code"),
        (
            json!({"id": "x", "items": [{"product_code": "app", "licenses": [{"max_activations": "many"}]}]}),
            "items.0.licenses.0.max_activations",
        ),
        (
            json!({"id": "x", "items": [{"product_code": "app", "licenses": [{"policy_code": "trial", "license_type": "time-limited"}]}]}),
            "items.0.licenses.0.valid_duration",
        ),
        (
            json!({"id": "x", "items": [{"product_code": "app", "licenses": [{"valid_duration": "1 year"}]}]}),
            "items.0.licenses.0.valid_duration",
        ),
        (
            json!({"id": "x", "items": [{"product_code": "app", "licenses": [{"policy_code": "gold"}]}]}),
            "items.0.licenses.0.policy_code",
        ),
        (
            json!({"id": "x", "items": [{"product_code": "app", "licenses": [{"product_features": ["nope"]}]}]}),
            "items.0.licenses.0.product_features.0",
        ),
        (
            json!({"id": "x", "items": [{"product_code": "app", "licenses": [{"custom_fields": [{"name": "nope", "value": 1}]}]}]}),
            "items.0.licenses.0.custom_fields.0.name",
        ),
        (
            json!({"id": "x", "items": [{"product_code": "app", "licenses": [{"metadata": "{not json"}]}]}),
            "items.0.licenses.0.metadata",
        ),
        (json!({"id": "x", "metadata": "[1]", "items": [{"product_code": "app", "licenses": [{}]}]}), "metadata"),
        (json!({"id": "x", "created": "yesterday", "items": [{"product_code": "app", "licenses": [{}]}]}), "created"),
        (
            json!({"id": "x", "customer": {"email": "bad"}, "items": [{"product_code": "app", "licenses": [{}]}]}),
            "customer.email",
        ),
        (
            json!({"id": "x", "customer_account_code": "nope", "items": [{"product_code": "app", "licenses": [{}]}]}),
            "customer_account_code",
        ),
        (
            json!({"id": "x", "customer_account_id": 5, "items": [{"product_code": "app", "licenses": [{}]}]}),
            "customer_account_id",
        ),
        (json!({"id": "x".repeat(256), "items": [{"product_code": "app", "licenses": [{}]}]}), "id"),
    ];
    for (body, field) in cases {
        let (status, answer) = t.post(CREATE, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.get(field).is_some(), "{field} in {answer}");
    }
    let (_, list) = t.get("/api/v1/orders/").await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn vendor_client_forms_work_unchanged() {
    let t = Tenant::new().await;
    catalog(&t).await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({
                "id": "vendor-1", "created": "2024-01-15 08:30:00", "reference": "R-1", "prevent_vm": "true",
                "is_test": "false", "append": true,
                "items": [{"product_code": "app", "licenses": [{
                    "key": "VEND-0001", "validity_period": "2030-06-30 00:00:00", "valid_duration": "2w",
                    "license_type": "Time-Limited", "max_activations": "2",
                    "users": [{"email": "u@x.com"}], "custom_fields": [{"name": "seats", "value": true}],
                    "enable_maintenance_duration": true, "maintenance_duration": "3m"
                }, {"validity_period": "2001-01-01", "license_type": "time-limited", "prevent_vm": false}]}]
            }),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let ls = licenses(&order);
    assert_eq!(ls[0]["validity_period"], "2030-06-30", "validity_period is the end; the duration is kept");
    assert_eq!(ls[0]["valid_duration"], "2w");
    assert_eq!(ls[0]["prevent_vm"], true, "order-level prevent_vm");
    assert_eq!(ls[0]["product_custom_fields"][0]["value"], "true");
    assert_eq!(ls[0]["enable_maintenance_period"], true);
    assert_eq!(ls[0]["maintenance_period"], "2024-04-15");
    assert_eq!(ls[1]["validity_period"], "2001-01-01", "a past date is accepted");
    assert_eq!(ls[1]["prevent_vm"], false, "the license's own value wins");
    assert_eq!(order["reference"], "R-1");
}

#[tokio::test]
async fn customers_are_upserted_by_email_and_linked_to_accounts() {
    let t = Tenant::new().await;
    t.product("plain").await;
    let acme = t.create("/api/v1/customer-accounts/", &json!({"name": "Acme", "code": "acme"})).await;
    let first = json!({"id": "c-1", "customer_account_code": "acme",
        "customer": {"email": "ana@example.com", "first_name": "Ana", "labels": ["vip"]},
        "items": [{"product_code": "plain", "licenses": [{}, {}]}]});
    let (status, order) = t.post(CREATE, &first).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["customer_account"], acme);
    let customer = order["customer"]["id"].as_u64().unwrap();

    let second = json!({"id": "c-2", "customer_account_id": acme, "add_to_customer_account": false,
        "customer": {"email": "ANA@example.com", "last_name": "Horvat"},
        "items": [{"product_code": "plain", "licenses": [{}]}]});
    let (status, order) = t.post(CREATE, &second).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["customer"]["id"], customer, "matched by email");
    assert_eq!(order["customer"]["first_name"], "Ana", "kept");
    assert_eq!(order["customer"]["last_name"], "Horvat", "updated");
    assert_eq!(order["customer"]["total_orders"], 2);
    assert_eq!(order["customer"]["total_licenses"], 3);
    let (_, c) = t.get(&format!("/api/v1/customers/{customer}/")).await;
    assert_eq!(c["customer_account"], acme, "joined the account with the first order");
    assert_eq!(c["clabels_all"], "vip");

    let (_, by_email) = t.get("/api/v1/orders/?customer_email=ana@example.com&order_by=id").await;
    assert_eq!(by_email["count"], 2);
    let (_, by_id) = t.get(&format!("/api/v1/orders/?customer_id={customer}")).await;
    assert_eq!(ids(&by_id), ids(&by_email));
    let (_, none) = t.get("/api/v1/orders/?customer_email=nobody@example.com").await;
    assert_eq!(none["count"], 0);
}

#[tokio::test]
async fn bundle_orders() {
    let t = Tenant::new().await;
    t.bundle("suite", &["m1", "m2"], 4).await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({"id": "b-1", "is_bundle": true, "items": [{"product_code": "suite", "licenses": [
                {"key": "BUN-1", "product_code": "m1", "policy_code": "m1-p"},
                {"key": "BUN-1", "product_code": "m2", "license_template_code": "m2-p"}
            ]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let ls = licenses(&order);
    assert_eq!(ls.len(), 3);
    assert_eq!(ls[0]["is_bundle"], true);
    assert!(ls.iter().all(|l| l["license_key"] == "BUN-1"));
    assert_eq!(ls[1]["max_activations"], 4);

    let bad = [
        json!({"id": "b-2", "is_bundle": true, "items": [{"product_code": "suite", "licenses": [
            {"key": "B2", "product_code": "m1", "policy_code": "m1-p"}]}]}),
        json!({"id": "b-3", "is_bundle": true, "items": [{"product_code": "suite", "licenses": [
            {"key": "B3", "product_code": "m1"}, {"key": "B3", "product_code": "m2", "policy_code": "m2-p"}]}]}),
        json!({"id": "b-4", "items": [{"product_code": "suite", "licenses": [{}]}]}),
        json!({"id": "b-5", "is_bundle": true, "items": [{"product_code": "m1", "licenses": [{}]}]}),
    ];
    for body in bad {
        let (status, answer) = t.post(CREATE, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
}

#[tokio::test]
async fn concurrent_orders_with_one_id_let_exactly_one_win() {
    let t = Tenant::new().await;
    t.product("plain").await;
    let body = |key: &str| json!({"id": "race", "items": [{"product_code": "plain", "licenses": [{"key": key}]}]});
    let (first, second) = (body("R-A"), body("R-B"));
    let (a, b) = tokio::join!(t.post(CREATE, &first), t.post(CREATE, &second));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.1, b.1);
    let (_, list) = t.get("/api/v1/orders/").await;
    assert_eq!(list["count"], 1);
    assert_eq!(licenses(&list["results"][0]).len(), 1);
}

#[tokio::test]
async fn concurrent_orders_for_one_key_let_exactly_one_win() {
    let t = Tenant::new().await;
    t.product("plain").await;
    let body = |id: &str| json!({"id": id, "items": [{"product_code": "plain", "licenses": [{"key": "SAME"}]}]});
    let (first, second) = (body("one"), body("two"));
    let (a, b) = tokio::join!(t.post(CREATE, &first), t.post(CREATE, &second));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let (_, list) = t.get("/api/v1/orders/").await;
    assert_eq!(list["count"], 1);
}

#[tokio::test]
async fn a_thousand_licenses_commit_together() {
    let t = Tenant::isolated().await;
    t.product("plain").await;
    let many: Vec<Value> = (0..1000).map(|i| json!({"key": format!("BULK-{i:04}")})).collect();
    let (status, order) =
        t.post(CREATE, &json!({"id": "bulk", "customer": {"email": "bulk@x.com"}, "items": [{"product_code": "plain", "licenses": many}]})).await;
    assert_eq!(status, 200);
    assert_eq!(licenses(&order).len(), 1000);
    assert_eq!(order["customer"]["total_licenses"], 1000);
    let id = order["id"].as_u64().unwrap();
    let (_, got) = t.get(&format!("/api/v1/orders/{id}/")).await;
    assert_eq!(licenses(&got).len(), 1000);

    // 1,000 more where the last key is taken: none of them may appear, and their keys stay free.
    let mut clash: Vec<Value> = (0..999).map(|i| json!({"key": format!("MORE-{i:04}")})).collect();
    clash.push(json!({"key": "BULK-0999"}));
    let (status, answer) =
        t.post(CREATE, &json!({"id": "bulk-2", "items": [{"product_code": "plain", "licenses": clash}]})).await;
    assert_eq!(status, 409, "{answer}");
    let (_, list) = t.get("/api/v1/orders/").await;
    assert_eq!(list["count"], 1);
    let retry: Vec<Value> = (0..999).map(|i| json!({"key": format!("MORE-{i:04}")})).collect();
    let (status, _) =
        t.post(CREATE, &json!({"id": "bulk-2", "items": [{"product_code": "plain", "licenses": retry}]})).await;
    assert_eq!(status, 200, "the keys of the failed attempt were released");

    let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let (status, answer) =
        t.post(CREATE, &json!({"id": "huge", "items": [{"product_code": "plain", "licenses": too_many}]})).await;
    assert_eq!(status, 400);
    assert!(answer.get("items").is_some());
}

#[tokio::test]
async fn scoping_and_tenants() {
    let a = Tenant::new().await;
    let b = Tenant::new().await;
    let mine = a.product("mine").await;
    a.product("theirs").await;
    let key = a.scoped_key(&[mine]).await;
    let body = json!({"id": "s-1", "items": [{"product_code": "theirs", "licenses": [{}]}]});
    let (status, _) = a.call_as(Some(&key), Method::POST, CREATE, Some(&body)).await;
    assert_eq!(status, 403);
    let ok = json!({"id": "s-2", "items": [{"product_code": "mine", "licenses": [{}]}]});
    let (status, order) = a.call_as(Some(&key), Method::POST, CREATE, Some(&ok)).await;
    assert_eq!(status, 200, "{order}");
    let theirs = a.post(CREATE, &json!({"id": "s-3", "items": [{"product_code": "theirs", "licenses": [{}]}]})).await.1;
    let (_, list) = a.call_as(Some(&key), Method::GET, "/api/v1/orders/", None).await;
    assert_eq!(ids(&list), [order["id"].as_u64().unwrap()]);
    let (status, _) = a.call_as(Some(&key), Method::GET, &format!("/api/v1/orders/{}/", theirs["id"]), None).await;
    assert_eq!(status, 404);

    // Another company: the order is not found, and the product code means nothing.
    let (status, _) = b.get(&format!("/api/v1/orders/{}/", order["id"])).await;
    assert_eq!(status, 404);
    let (status, answer) = b.post(CREATE, &ok).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(a.call_as(None, Method::POST, CREATE, Some(&ok)).await.0, 403);
}

#[tokio::test]
async fn generate_license_gives_fresh_keys() {
    let t = Tenant::new().await;
    t.product("plain").await;
    let (status, keys) = t.get("/api/v1/orders/generate_license/?product=plain&quantity=5").await;
    assert_eq!(status, 200, "{keys}");
    let keys: Vec<String> = serde_json::from_value(keys).unwrap();
    assert_eq!(keys.len(), 5);
    assert!(keys
        .iter()
        .all(|k| k.len() == 19 && k.chars().all(|c| c == '-' || "23456789ABCDEFGHJKLMNPQRSTUVWXYZ".contains(c))));
    let (_, custom) =
        t.get("/api/v1/orders/generate_license/?product=plain&quantity=200&key_length=20&alphabet=AB").await;
    let custom: Vec<String> = serde_json::from_value(custom).unwrap();
    assert_eq!(custom.iter().collect::<std::collections::HashSet<_>>().len(), 200);
    assert!(custom.iter().all(|k| k.replace('-', "").len() == 20 && k.chars().all(|c| "AB-".contains(c))));
    // The keys can be used as they are.
    let licenses: Vec<Value> = keys.iter().map(|k| json!({"key": k})).collect();
    assert_eq!(
        t.post(CREATE, &json!({"id": "g", "items": [{"product_code": "plain", "licenses": licenses}]})).await.0,
        200
    );

    for (query, field) in [
        ("quantity=1", "product"),
        ("product=nope", "product"),
        ("product=plain&quantity=0", "quantity"),
        ("product=plain&quantity=1001", "quantity"),
        ("product=plain&key_length=15", "key_length"),
        ("product=plain&key_length=241", "key_length"),
        ("product=plain&alphabet=A", "alphabet"),
    ] {
        let (status, answer) = t.get(&format!("/api/v1/orders/generate_license/?{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(answer.get(field).is_some(), "{field} in {answer}");
    }
    // Leftover parameters of a shop script are ignored, unless strict handling is asked.
    let (status, answer) = t.get("/api/v1/orders/generate_license/?product=plain&colour=red&quantity=").await;
    assert_eq!((status, answer.as_array().map(Vec::len)), (200, Some(1)), "{answer}");
    let (status, answer) = t.get_strict("/api/v1/orders/generate_license/?product=plain&colour=red").await;
    assert_eq!(status, 400);
    assert!(answer.get("colour").is_some(), "{answer}");
}

#[tokio::test]
async fn a_large_order_renders_its_newest_1000_licenses() {
    // Issue 12, item 6: an order of 1,500 licenses renders 1,000, says so and counts them all.
    let t = Tenant::isolated().await;
    t.product("app").await;
    let batch = |from: usize, n: usize| -> Vec<Value> {
        (from..from + n).map(|i| json!({"key": format!("BIG-{i:05}")})).collect()
    };
    let (status, first) =
        t.post(CREATE, &json!({"id": "big", "items": [{"product_code": "app", "licenses": batch(0, 1000)}]})).await;
    assert_eq!(status, 200);
    assert_eq!((first["licenses_count"].clone(), first["licenses_truncated"].clone()), (json!(1000), json!(false)));
    let (status, appended) = t
        .post(
            CREATE,
            &json!({"id": "big", "append": true, "items": [{"product_code": "app", "licenses": batch(1000, 500)}]}),
        )
        .await;
    assert_eq!(status, 200);
    let shown = licenses(&appended);
    assert_eq!(shown.len(), 1000);
    assert!(shown.iter().filter(|l| l["license_key"].as_str().unwrap() >= "BIG-01000").count() == 500, "the new ones");
    assert_eq!(
        (appended["licenses_count"].clone(), appended["licenses_truncated"].clone()),
        (json!(1500), json!(true))
    );
    let (_, order) = t.get(&format!("/api/v1/orders/{}/", appended["id"])).await;
    let shown = licenses(&order);
    assert_eq!(shown.len(), 1000);
    assert_eq!(shown.first().unwrap()["license_key"], "BIG-00500", "the newest 1,000, oldest first");
    assert_eq!((order["licenses_count"].clone(), order["licenses_truncated"].clone()), (json!(1500), json!(true)));
    assert_eq!(t.get("/api/v1/licenses/?order__store_id=big&limit=1").await.1["count"], 1500);
}

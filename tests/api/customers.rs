use integration_tests::{ids, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn create_with_labels_and_account_in_the_seed_shape() {
    let t = Tenant::new().await;
    let account = t.create("/api/v1/customer-accounts/", &json!({"name": "Acme", "code": "acme"})).await;
    let (status, c) = t
        .post(
            "/api/v1/customers/",
            &json!({"email": "Ana@Example.com", "first_name": "Ana", "labels": ["Customer", "Loyal"],
                    "customer_account_code": "acme", "metadata": {"crm": 7}}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["email"], "Ana@Example.com");
    assert_eq!(c["customer_account"], account);
    assert_eq!(c["clabels_all"], "customerloyal");
    assert_eq!(c["labels"][0]["label"], "Customer");
    assert_eq!(c["labels"][1]["label"], "Loyal");
    let label_ids: Vec<Value> = c["labels"].as_array().unwrap().iter().map(|l| l["label_id"].clone()).collect();
    assert_eq!(c["clabels"], json!(label_ids));
    assert_eq!((c["total_orders"].as_i64(), c["total_licenses"].as_i64()), (Some(0), Some(0)));
    for key in ["phone", "reference", "address", "postcode", "city", "country", "state", "cognito_user_pool_id"] {
        assert_eq!(c[key], "", "{key}");
    }
    assert_eq!(c["license_user"], Value::Null);

    // A second customer reuses the label (case-insensitively) instead of making another.
    let (_, d) = t.post("/api/v1/customers/", &json!({"email": "bo@example.com", "labels": ["loyal"]})).await;
    assert_eq!(d["labels"][0]["label_id"], c["labels"][1]["label_id"]);
    assert_eq!(d["labels"][0]["label"], "Loyal");

    let id = c["id"].as_u64().unwrap();
    let (status, got) = t.get(&format!("/api/v1/customers/{id}/")).await;
    assert_eq!((status, &got), (200, &c));
}

#[tokio::test]
async fn emails_are_unique_case_insensitively() {
    let t = Tenant::new().await;
    t.create("/api/v1/customers/", &json!({"email": "ana@example.com"})).await;
    let (status, _) = t.post("/api/v1/customers/", &json!({"email": "ANA@example.com"})).await;
    assert_eq!(status, 409);
    let bo = t.create("/api/v1/customers/", &json!({"email": "bo@example.com"})).await;
    let (status, _) = t.patch(&format!("/api/v1/customers/{bo}/"), &json!({"email": "Ana@Example.com"})).await;
    assert_eq!(status, 409);
    let (status, moved) = t.patch(&format!("/api/v1/customers/{bo}/"), &json!({"email": "bob@example.com"})).await;
    assert_eq!((status, moved["email"].as_str()), (200, Some("bob@example.com")));
    t.create("/api/v1/customers/", &json!({"email": "bo@example.com"})).await;
    Tenant::new().await.create("/api/v1/customers/", &json!({"email": "ana@example.com"})).await;
}

#[tokio::test]
async fn validation() {
    let t = Tenant::new().await;
    for (body, field) in [
        (json!({}), "email"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": "a@b.c", "customer_account_code": "nope"}), "customer_account_code"),
        (json!({"email": "a@b.c", "customer_account": 42}), "customer_account"),
        (json!({"email": "a@b.c", "labels": "vip"}), "labels"),
        (json!({"email": "a@b.c", "first_name": "x".repeat(256)}), "first_name"),
        (json!({"email": "a@b.c", "metadata": "not json"}), "metadata"),
    ] {
        let (status, answer) = t.post("/api/v1/customers/", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.get(field).is_some(), "{field} in {answer}");
    }
    let (_, list) = t.get("/api/v1/customers/").await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn every_list_filter() {
    let t = Tenant::new().await;
    let acme = t.create("/api/v1/customer-accounts/", &json!({"name": "Acme Corp", "code": "acme"})).await;
    t.create("/api/v1/customer-accounts/", &json!({"name": "Globex", "code": "globex"})).await;
    let ana = t
        .create(
            "/api/v1/customers/",
            &json!({"email": "ana@example.com", "first_name": "Ana", "last_name": "Horvat", "company_name": "Horvat d.o.o.",
                    "phone": "+385 1 234", "reference": "REF-001", "labels": ["vip"], "customer_account_code": "acme"}),
        )
        .await;
    let bo = t
        .create(
            "/api/v1/customers/",
            &json!({"email": "bo@other.org", "first_name": "Bo", "last_name": "Berg", "reference": "X-REF-002",
                    "labels": ["vip", "new"], "customer_account_code": "globex"}),
        )
        .await;
    let cy = t.create("/api/v1/customers/", &json!({"email": "cy@example.com", "first_name": "Cy"})).await;
    let (_, c) = t.get(&format!("/api/v1/customers/{bo}/")).await;
    let new_label = c["labels"][1]["label_id"].as_u64().unwrap();
    let vip = c["labels"][0]["label_id"].as_u64().unwrap();

    let cases: Vec<(String, Vec<u64>)> = vec![
        ("email=ana@example.com".into(), vec![ana]),
        ("email=ANA@example.com".into(), vec![]),
        ("email__icontains=EXAMPLE".into(), vec![ana, cy]),
        ("email__startswith=bo".into(), vec![bo]),
        ("company_name__icontains=d.o.o".into(), vec![ana]),
        ("first_name__icontains=c".into(), vec![cy]),
        ("last_name__icontains=er".into(), vec![bo]),
        ("phone__icontains=234".into(), vec![ana]),
        ("reference=REF-001".into(), vec![ana]),
        ("reference__exact=X-REF-002".into(), vec![bo]),
        ("reference__icontains=ref".into(), vec![ana, bo]),
        ("reference__startswith=REF".into(), vec![ana]),
        (format!("label__in={new_label}"), vec![bo]),
        (format!("label__in={vip},{new_label}"), vec![ana, bo]),
        (format!("account={acme}"), vec![ana]),
        ("account__name=Globex".into(), vec![bo]),
        ("account__name__icontains=corp".into(), vec![ana]),
        ("account__code=acme".into(), vec![ana]),
        ("account__code__icontains=GLO".into(), vec![bo]),
        ("email__icontains=example&first_name__icontains=a".into(), vec![ana]),
        ("order_by=-email".into(), vec![cy, bo, ana]),
    ];
    for (query, expected) in cases {
        let (status, list) = t.get(&format!("/api/v1/customers/?{query}")).await;
        assert_eq!(status, 200, "{query}: {list}");
        assert_eq!(ids(&list), expected, "{query}");
    }
    let (status, _) = t.get("/api/v1/customers/?account=abc").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn patch_links_and_unlinks_accounts_and_labels() {
    let t = Tenant::new().await;
    let acme = t.create("/api/v1/customer-accounts/", &json!({"name": "Acme", "code": "acme"})).await;
    let id = t.create("/api/v1/customers/", &json!({"email": "a@b.c", "labels": ["one", "two"]})).await;
    let (status, c) = t
        .patch(
            &format!("/api/v1/customers/{id}/"),
            &json!({"customer_account": acme, "labels": ["two"], "city": "Zagreb"}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["customer_account"], acme);
    assert_eq!(c["clabels_all"], "two");
    assert_eq!(c["city"], "Zagreb");
    let (_, c) = t.patch(&format!("/api/v1/customers/{id}/"), &json!({"customer_account": null})).await;
    assert_eq!(c["customer_account"], Value::Null);
}

#[tokio::test]
async fn other_tenants_cannot_see_customers_and_scoped_keys_can() {
    let a = Tenant::new().await;
    let b = Tenant::new().await;
    let id = a.create("/api/v1/customers/", &json!({"email": "a@b.c"})).await;
    let (status, _) = b.get(&format!("/api/v1/customers/{id}/")).await;
    assert_eq!(status, 404);
    let (status, _) = b.patch(&format!("/api/v1/customers/{id}/"), &json!({"city": "x"})).await;
    assert_eq!(status, 404);
    let (_, list) = b.get("/api/v1/customers/?email=a@b.c").await;
    assert_eq!(list["count"], 0);
    // Customers are company-wide: a manager scoped to products still sees them.
    let product = a.product("p").await;
    let key = a.scoped_key(&[product]).await;
    let (status, _) = a.call_as(Some(&key), Method::GET, &format!("/api/v1/customers/{id}/"), None).await;
    assert_eq!(status, 200);
}

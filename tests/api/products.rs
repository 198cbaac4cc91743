use integration_tests::{ids, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn create_retrieve_list_patch() {
    let t = Tenant::new().await;
    let (status, created) = t
        .post(
            "/api/v1/products/",
            &json!({"product_name": "My App", "short_code": "myapp", "max_activations": "3",
                    "metadata": "{\"tier\": \"gold\"}", "trial_days": 14}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    assert!(id < 1 << 53);
    assert_eq!(created["authorization_method"], "license-key");
    assert_eq!(created["max_activations"], 3);
    assert_eq!(created["metadata"], json!({"tier": "gold"}));
    assert_eq!(created["is_archived"], false);

    let (status, got) = t.get(&format!("/api/v1/products/{id}/")).await;
    assert_eq!(status, 200);
    assert_eq!(got, created);
    let (status, got) = t.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!((status, got["short_code"].as_str()), (200, Some("myapp")));

    let (status, patched) =
        t.patch(&format!("/api/v1/products/{id}/"), &json!({"product_name": "Renamed", "is_archived": "true"})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["product_name"], "Renamed");
    assert_eq!(patched["short_code"], "myapp");
    assert_eq!(patched["is_archived"], true);
    assert_ne!(patched["updated_at"], created["updated_at"]);

    let (status, list) = t.get("/api/v1/products/").await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["product_name"], "Renamed");
}

#[tokio::test]
async fn validation_errors_name_their_fields() {
    let t = Tenant::new().await;
    let (status, body) = t
        .post(
            "/api/v1/products/",
            &json!({"short_code": "", "max_activations": "many", "authorization_method": "magic"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["product_name"], json!(["This field is required."]));
    assert_eq!(body["short_code"], json!(["This field may not be blank."]));
    assert_eq!(body["max_activations"], json!(["A valid integer is required."]));
    assert_eq!(body["authorization_method"], json!(["\"magic\" is not a valid choice."]));

    let long = "x".repeat(256);
    let (status, body) =
        t.post("/api/v1/products/", &json!({"product_name": long, "short_code": "a", "metadata": "[1,2]"})).await;
    assert_eq!(status, 400);
    assert!(body.get("product_name").is_some() && body.get("metadata").is_some(), "{body}");

    let (status, body) = t.get("/api/v1/products/").await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(0)), "nothing was written");
}

#[tokio::test]
async fn duplicate_short_code_is_409_on_create_and_patch() {
    let t = Tenant::new().await;
    t.product("dup").await;
    let (status, body) = t.post("/api/v1/products/", &json!({"product_name": "Other", "short_code": "dup"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("short_code"));

    let other = t.product("other").await;
    let (status, _) = t.patch(&format!("/api/v1/products/{other}/"), &json!({"short_code": "dup"})).await;
    assert_eq!(status, 409);
    // The code moves when it changes: the old one is free again, the new one taken.
    let (status, _) = t.patch(&format!("/api/v1/products/{other}/"), &json!({"short_code": "renamed"})).await;
    assert_eq!(status, 200);
    t.create("/api/v1/products/", &json!({"product_name": "Again", "short_code": "other"})).await;
    let (status, _) = t.post("/api/v1/products/", &json!({"product_name": "X", "short_code": "renamed"})).await;
    assert_eq!(status, 409);

    // Another company may use the same code.
    Tenant::new().await.product("dup").await;
}

#[tokio::test]
async fn concurrent_creates_of_one_code_let_exactly_one_win() {
    let t = Tenant::new().await;
    let body = json!({"product_name": "Race", "short_code": "race"});
    let results = futures_join(&t, &body).await;
    let mut statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409]);
    let (_, list) = t.get("/api/v1/products/?short_code=race").await;
    assert_eq!(list["count"], 1);
}

async fn futures_join(t: &Tenant, body: &serde_json::Value) -> Vec<(u16, serde_json::Value)> {
    let (a, b, c, d) = tokio::join!(
        t.post("/api/v1/products/", body),
        t.post("/api/v1/products/", body),
        t.post("/api/v1/products/", body),
        t.post("/api/v1/products/", body)
    );
    vec![a, b, c, d]
}

#[tokio::test]
async fn filters_ordering_and_pagination() {
    let t = Tenant::new().await;
    let mut created = Vec::new();
    for code in ["p-c", "p-a", "p-b"] {
        created.push(t.product(code).await);
    }
    t.patch(&format!("/api/v1/products/{}/", created[1]), &json!({"is_archived": true})).await;

    let (_, list) = t.get("/api/v1/products/?is_archived=false").await;
    assert_eq!(ids(&list), [created[0], created[2]]);
    let (_, list) = t.get("/api/v1/products/?short_code=p-b").await;
    assert_eq!(ids(&list), [created[2]]);
    let (_, list) = t.get("/api/v1/products/?order_by=short_code").await;
    assert_eq!(ids(&list), [created[1], created[2], created[0]]);
    let (_, list) = t.get("/api/v1/products/?order_by=-created_at").await;
    assert_eq!(ids(&list), [created[2], created[1], created[0]]);

    let (_, page) = t.get("/api/v1/products/?limit=2&order_by=id").await;
    assert_eq!(page["count"], 3);
    assert_eq!(ids(&page), &created[..2]);
    assert_eq!(page["previous"], serde_json::Value::Null);
    let next = page["next"].as_str().unwrap();
    assert_eq!(next, "https://testserver/api/v1/products/?order_by=id&limit=2&offset=2");
    let (_, page2) = t.get(next.trim_start_matches("https://testserver")).await;
    assert_eq!(ids(&page2), &created[2..]);
    assert_eq!(page2["next"], serde_json::Value::Null);
    assert_eq!(page2["previous"], "https://testserver/api/v1/products/?order_by=id&limit=2");

    for bad in ["limit=-1", "offset=x", "order_by=colour", "is_archived=maybe"] {
        let (status, body) = t.get(&format!("/api/v1/products/?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let name = bad.split('=').next().unwrap();
        assert!(body.get(name).is_some(), "{bad}: {body}");
    }
    // Unknown and empty parameters are ignored (a shop's leftovers), unless strict.
    let (status, body) = t.get("/api/v1/products/?shortcode=p-a&product=app&quantity=1&short_code=").await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(3)), "{body}");
    let (status, body) = t.get_strict("/api/v1/products/?shortcode=p-a").await;
    assert_eq!(status, 400);
    assert!(body.get("shortcode").is_some(), "{body}");
    // Any scalar field of the JSON orders, ties by id.
    let (status, body) = t.get("/api/v1/products/?order_by=-is_archived").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [created[1], created[2], created[0]]);
    let (_, body) = t.get("/api/v1/products/?order_by=is_archived&limit=1&offset=1").await;
    assert_eq!((ids(&body), body["count"].as_u64()), (vec![created[2]], Some(3)));
}

#[tokio::test]
async fn bundles_name_same_method_members() {
    let t = Tenant::new().await;
    t.product("member-a").await;
    t.product("member-b").await;
    t.create(
        "/api/v1/products/",
        &json!({"product_name": "U", "short_code": "user-app", "authorization_method": "user"}),
    )
    .await;

    let (status, bundle) = t
        .post("/api/v1/products/", &json!({"product_name": "Suite", "short_code": "suite", "is_bundle": true, "bundle_products": ["member-a", "member-b"]}))
        .await;
    assert_eq!(status, 201, "{bundle}");
    assert_eq!(bundle["bundle_products"], json!(["member-a", "member-b"]));

    let (status, body) = t
        .post("/api/v1/products/", &json!({"product_name": "Bad", "short_code": "bad", "is_bundle": true, "bundle_products": ["member-a", "user-app", "nope", "suite"]}))
        .await;
    assert_eq!(status, 400);
    for field in ["bundle_products.1", "bundle_products.2", "bundle_products.3"] {
        assert!(body.get(field).is_some(), "{field}: {body}");
    }
    let (status, body) =
        t.post("/api/v1/products/", &json!({"product_name": "Empty", "short_code": "empty", "is_bundle": true})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn other_companies_products_are_404_and_invisible() {
    let a = Tenant::new().await;
    let b = Tenant::new().await;
    let id = a.product("secret").await;
    let (status, body) = b.get(&format!("/api/v1/products/{id}/")).await;
    assert_eq!((status, body), (404, json!({"detail": "Not found."})));
    let (status, _) = b.patch(&format!("/api/v1/products/{id}/"), &json!({"product_name": "mine"})).await;
    assert_eq!(status, 404);
    let (_, list) = b.get("/api/v1/products/").await;
    assert_eq!(list["count"], 0);
    let (_, still) = a.get(&format!("/api/v1/products/{id}/")).await;
    assert_eq!(still["product_name"], "secret");
}

#[tokio::test]
async fn scoped_managers_see_and_write_only_their_products() {
    let t = Tenant::new().await;
    let mine = t.product("mine").await;
    let theirs = t.product("theirs").await;
    let key = t.scoped_key(&[mine]).await;
    let as_scoped = |method, path: String, body: Option<serde_json::Value>| {
        let key = key.clone();
        let t = &t;
        async move { t.call_as(Some(&key), method, &path, body.as_ref()).await }
    };
    use lambda_http::http::Method;
    let (_, list) = as_scoped(Method::GET, "/api/v1/products/".into(), None).await;
    assert_eq!(ids(&list), [mine]);
    let (status, _) = as_scoped(Method::GET, format!("/api/v1/products/{theirs}/"), None).await;
    assert_eq!(status, 404);
    let (status, _) =
        as_scoped(Method::PATCH, format!("/api/v1/products/{theirs}/"), Some(json!({"trial_days": 1}))).await;
    assert_eq!(status, 404);
    let (status, _) =
        as_scoped(Method::PATCH, format!("/api/v1/products/{mine}/"), Some(json!({"trial_days": 1}))).await;
    assert_eq!(status, 200);
    let (status, body) =
        as_scoped(Method::POST, "/api/v1/products/".into(), Some(json!({"product_name": "N", "short_code": "new"})))
            .await;
    assert_eq!(status, 403, "{body}");
    let (_, list) = t.get("/api/v1/products/?short_code=new").await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn a_warm_container_reads_the_catalog_again_only_after_a_change() {
    // Issue 12, item 5: two containers (apps) of one company; each caches the catalog.
    let t = Tenant::new().await;
    t.product("first").await;
    let other = Tenant { app: integration_tests::app().await, company: t.company, key: t.key.clone() };
    assert_eq!(t.get("/api/v1/products/").await.1["count"], 1);
    let before = t.app.store.items_read();
    assert_eq!(t.get("/api/v1/products/").await.1["count"], 1);
    assert_eq!(t.app.store.items_read(), before, "served from the cache: no Query");
    // Another container writes the catalog: the version moves, this one reads it anew.
    other.product("second").await;
    let (_, list) = t.get("/api/v1/products/?order_by=id").await;
    assert_eq!(list["count"], 2, "{list}");
    assert!(t.app.store.items_read() > before);
    // A label made by a customer write is a catalog write too.
    other.post("/api/v1/customers/", &json!({"email": "l@example.com", "labels": ["vip"]})).await;
    let (status, customer) = t.post("/api/v1/customers/", &json!({"email": "m@example.com", "labels": ["VIP"]})).await;
    assert_eq!(status, 201, "{customer}");
    assert_eq!(customer["labels"][0]["label"], "vip", "the label the other container created");
}

#[tokio::test]
async fn bundles_list_their_members_and_products_their_bundles() {
    let t = Tenant::new().await;
    let m1 = t.product("m1").await;
    let m2 = t.product("m2").await;
    let lone = t.product("lone").await;
    let suite = t
        .create(
            "/api/v1/products/",
            &json!({"product_name": "Suite", "short_code": "suite", "is_bundle": true, "bundle_products": ["m1", "m2"]}),
        )
        .await;
    let codes = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|p| p["short_code"].as_str().unwrap().to_string()).collect()
    };
    let (status, members) = t.get(&format!("/api/v1/products/{suite}/bundle/")).await;
    assert_eq!((status, codes(&members)), (200, vec!["m1".to_string(), "m2".to_string()]));
    let (_, bundles) = t.get(&format!("/api/v1/products/{m2}/in_bundle/")).await;
    assert_eq!(codes(&bundles), ["suite"]);
    assert_eq!(codes(&t.get(&format!("/api/v1/products/{lone}/in_bundle/")).await.1), Vec::<String>::new());
    assert_eq!(codes(&t.get(&format!("/api/v1/products/{lone}/bundle/")).await.1), Vec::<String>::new());
    // A manager sees what its scope holds; a product out of it is a 404, as is another tenant's.
    let scoped = t.scoped_key(&[suite, m1]).await;
    let (_, seen) = t.call_as(Some(&scoped), Method::GET, &format!("/api/v1/products/{suite}/bundle/"), None).await;
    assert_eq!(codes(&seen), ["m1"]);
    let (status, _) = t.call_as(Some(&scoped), Method::GET, &format!("/api/v1/products/{m2}/in_bundle/"), None).await;
    assert_eq!(status, 404);
    let other = Tenant::new().await;
    assert_eq!(other.get(&format!("/api/v1/products/{suite}/bundle/")).await.0, 404);
}

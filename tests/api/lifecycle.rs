//! Issue 14 (API.md §8.1, §8.4): a license's own operations, and the history they write.

use integration_tests::{counter_mismatches, ids, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

const CREATE: &str = "/api/v1/orders/create_order/";

/// A tenant with products `app` (feature `f1`) and `cli`, and an order of two `app` licenses
/// for a customer; the licenses' ids.
async fn two_licenses() -> (Tenant, u64, u64) {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    t.product("cli").await;
    t.create("/api/v1/product-features/", &json!({"product": app, "name": "F1", "code": "f1"})).await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({"id": "life-1", "customer": {"email": "c@example.com"},
                    "items": [{"product_code": "app", "licenses": [{"key": "LIFE-1"}, {"key": "LIFE-2"}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let licenses = &order["order_items"][0]["licenses"];
    (t, licenses[0]["id"].as_u64().unwrap(), licenses[1]["id"].as_u64().unwrap())
}

async fn history(t: &Tenant, license: u64) -> Vec<Value> {
    let (status, page) = t.get(&format!("/api/v1/license-histories/?license={license}")).await;
    assert_eq!(status, 200, "{page}");
    page["results"].as_array().unwrap().clone()
}

#[tokio::test]
async fn patch_sets_writable_properties_and_refuses_read_only_ones() {
    let (t, id, _) = two_licenses().await;
    let path = format!("/api/v1/licenses/{id}/");
    let (status, license) = t
        .patch(
            &path,
            &json!({"max_activations": 5, "note": "moved", "is_trial": true, "validity_period": "2031-02-03",
                    "total_consumptions": 0, "product_features": [{"product_feature": "f1", "max_consumption": 7}]}),
        )
        .await;
    assert_eq!(status, 200, "{license}");
    assert_eq!((license["max_activations"].clone(), license["note"].clone()), (json!(5), json!("moved")));
    assert_eq!((license["is_trial"].clone(), license["validity_period"].clone()), (json!(true), json!("2031-02-03")));
    assert_eq!(license["product_features"][0]["max_consumption"], 7, "update_features semantics");
    assert_eq!(t.get(&path).await.1, license, "what PATCH answered is what is stored");

    // Read-only fields and bad values: 400 naming each, nothing written.
    let (status, errors) =
        t.patch(&path, &json!({"license_key": "OTHER", "product": 1, "max_activations": -2, "note": "no"})).await;
    assert_eq!(status, 400, "{errors}");
    for field in ["license_key", "product", "max_activations"] {
        assert!(errors.get(field).is_some(), "{field}: {errors}");
    }
    assert_eq!(t.get(&path).await.1["note"], "moved");

    let entries = history(&t, id).await;
    assert_eq!(entries.len(), 2, "its creation and one change, one entry each: {entries:?}");
    let created = &entries[1];
    assert_eq!((created["action"].clone(), created["id"].clone()), (json!("created"), json!(id)));
    assert_eq!(created["changes"]["license_key"], json!([null, "LIFE-1"]));
    let entry = &entries[0];
    assert_eq!((entry["action"].clone(), entry["license"].clone()), (json!("updated"), json!(id)));
    assert_eq!(entry["changes"]["max_activations"], json!([1, 5]));
    assert_eq!(entry["changes"]["note"], json!([null, "moved"]));
    assert!(entry["manager"].as_str().is_some_and(|m| t.key.starts_with(m)), "{entry}");
    let (status, one) = t.get(&format!("/api/v1/license-histories/{}/", entry["id"])).await;
    assert_eq!((status, &one), (200, entry));
}

#[tokio::test]
async fn disable_enable_and_reset_are_recorded_newest_first() {
    let (t, id, other) = two_licenses().await;
    let path = format!("/api/v1/licenses/{id}/");
    t.patch(&path, &json!({"total_consumptions": 4})).await;
    let (status, disabled) = t.post(&format!("{path}disable/"), &json!({})).await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!((disabled["enabled"].clone(), disabled["status"].clone()), (json!(false), json!("Disabled")));
    assert!(disabled["time_disabled"].is_string());
    let (_, reset) = t.post(&format!("{path}reset/"), &json!({})).await;
    assert_eq!((reset["total_consumptions"].clone(), reset["status"].clone()), (json!(0), json!("Disabled")));
    let (_, enabled) = t.post(&format!("{path}enable/"), &json!({})).await;
    assert_eq!((enabled["enabled"].clone(), enabled["status"].clone()), (json!(true), json!("Inactive")));
    assert_eq!(enabled["time_disabled"], Value::Null);

    let actions: Vec<Value> = history(&t, id).await.iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions, [json!("enabled"), json!("reset"), json!("disabled"), json!("updated"), json!("created")]);
    let others: Vec<Value> = history(&t, other).await.iter().map(|e| e["action"].clone()).collect();
    assert_eq!(others, [json!("created")], "the other license was only created");
    let (_, all) = t.get("/api/v1/license-histories/?limit=2").await;
    assert_eq!((all["count"].clone(), ids(&all).len()), (json!(6), 2), "the company's history, counted");
    let (_, oldest) = t.get("/api/v1/license-histories/?order_by=id&limit=1").await;
    assert_eq!(oldest["results"][0]["action"], "created");
}

#[tokio::test]
async fn delete_frees_the_key_and_moves_every_count() {
    let (t, id, other) = two_licenses().await;
    let path = format!("/api/v1/licenses/{id}/");
    let (status, _) = t.call_as(Some(&t.key), Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(t.get(&path).await.0, 404);
    assert_eq!(t.call_as(Some(&t.key), Method::DELETE, &path, None).await.0, 404, "gone");
    let (_, list) = t.get("/api/v1/licenses/").await;
    assert_eq!((list["count"].clone(), ids(&list)), (json!(1), vec![other]));
    let (_, by_key) = t.get("/api/v1/licenses/?license_key=LIFE-1").await;
    assert_eq!(by_key["count"], 0);
    let (_, order) = t.get("/api/v1/orders/?store_id=life-1").await;
    assert_eq!(order["results"][0]["licenses_count"], 1);
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
    let entries = history(&t, id).await;
    assert_eq!(entries[0]["action"], "deleted");
    // The key is free again.
    let (status, again) = t
        .post(CREATE, &json!({"id": "life-2", "items": [{"product_code": "app", "licenses": [{"key": "LIFE-1"}]}]}))
        .await;
    assert_eq!(status, 200, "{again}");
}

#[tokio::test]
async fn scoped_managers_reach_only_their_products_and_races_write_once() {
    let (t, id, _) = two_licenses().await;
    let cli = t.get("/api/v1/products/?short_code=cli").await.1["results"][0]["id"].as_u64().unwrap();
    let other_scope = t.scoped_key(&[cli]).await;
    let path = format!("/api/v1/licenses/{id}/");
    let as_other = |method: Method, suffix: &'static str| {
        let (key, path) = (other_scope.clone(), format!("{path}{suffix}"));
        let t = &t;
        async move { t.call_as(Some(&key), method, &path, Some(&json!({"note": "x"}))).await.0 }
    };
    assert_eq!(as_other(Method::PATCH, "").await, 404);
    assert_eq!(as_other(Method::DELETE, "").await, 404);
    assert_eq!(as_other(Method::POST, "disable/").await, 404);
    assert_eq!(as_other(Method::POST, "reset/").await, 404);
    let (_, history_seen) = t.call_as(Some(&other_scope), Method::GET, "/api/v1/license-histories/", None).await;
    assert_eq!(history_seen["count"], 0);

    // Two PATCHes at once: each that succeeds wrote exactly one entry; a loser is a 409.
    let (note_a, note_b) = (json!({"note": "a"}), json!({"note": "b"}));
    let (a, b) = tokio::join!(t.patch(&path, &note_a), t.patch(&path, &note_b));
    let statuses = [a.0, b.0];
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let won = statuses.iter().filter(|s| **s == 200).count();
    assert!(won >= 1);
    assert_eq!(history(&t, id).await.len(), won + 1, "its creation, and one entry per change");
}

#[tokio::test]
async fn disable_bulk_checks_every_id_first_and_can_be_repeated() {
    let (t, a, b) = two_licenses().await;
    let unknown = a + 7_777;
    let (status, _) = t.post("/api/v1/licenses/disable_bulk/", &json!([a, b, unknown])).await;
    assert_eq!(status, 404, "one unknown id: the whole call");
    for id in [a, b] {
        assert_eq!(t.get(&format!("/api/v1/licenses/{id}/")).await.1["enabled"], true, "nothing written");
    }
    let (status, errors) = t.post("/api/v1/licenses/disable_bulk/", &json!([a, "x"])).await;
    assert_eq!((status, errors["1"].is_array()), (400, true), "{errors}");
    let too_many: Vec<u64> = (0..1_001).map(|i| a + i).collect();
    let (status, errors) = t.post("/api/v1/licenses/disable_bulk/", &json!(too_many)).await;
    assert_eq!(status, 400, "{errors}");
    assert!(errors["non_field_errors"][0].as_str().unwrap().contains("1000"), "{errors}");

    t.post(&format!("/api/v1/licenses/{b}/disable/"), &json!({})).await;
    let (status, body) = t.post("/api/v1/licenses/disable_bulk/", &json!([a, b.to_string()])).await;
    assert_eq!((status, body), (200, json!({"disabled": [a, b]})));
    let (status, _) = t.post("/api/v1/licenses/disable_bulk/", &json!([a, b])).await;
    assert_eq!(status, 200, "repeated");
    for id in [a, b] {
        assert_eq!(t.get(&format!("/api/v1/licenses/{id}/")).await.1["status"], "Disabled");
        let disabled = history(&t, id).await.iter().filter(|e| e["action"] == "disabled").count();
        assert_eq!(disabled, 1, "one entry per license actually disabled");
    }
}

#[tokio::test]
async fn bulk_update_is_all_or_nothing_with_errors_by_index() {
    let (t, a, b) = two_licenses().await;
    let path = "/api/v1/licenses/bulk_update/";
    let bad = json!([{"id": a, "note": "first"}, {"id": b, "max_activations": -1}]);
    let (status, errors) = t.call_as(Some(&t.key), Method::PATCH, path, Some(&bad)).await;
    assert_eq!(status, 400, "{errors}");
    assert!(errors["1.max_activations"].is_array(), "{errors}");
    assert_eq!(t.get(&format!("/api/v1/licenses/{a}/")).await.1["note"], Value::Null, "nothing written");

    let good = json!([{"id": a, "note": "first"}, {"id": b, "max_activations": 9, "enabled": false}]);
    let (status, changed) = t.call_as(Some(&t.key), Method::PATCH, path, Some(&good)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed[0]["note"], "first");
    assert_eq!((changed[1]["max_activations"].clone(), changed[1]["enabled"].clone()), (json!(9), json!(false)));
    assert_eq!(history(&t, b).await[0]["changes"]["max_activations"], json!([1, 9]));

    let many: Vec<Value> = (0..51).map(|i| json!({"id": a + i})).collect();
    let (status, errors) = t.call_as(Some(&t.key), Method::PATCH, path, Some(&json!(many))).await;
    assert_eq!(status, 400, "{errors}");
    assert!(errors["non_field_errors"][0].as_str().unwrap().contains("50"), "{errors}");
}

#[tokio::test]
async fn history_entries_fit_an_item_whatever_the_license_holds() {
    let (t, id, _) = two_licenses().await;
    let path = format!("/api/v1/licenses/{id}/");
    let big = |c: &str| json!({"blob": c.repeat(30 * 1024)});
    for fill in ["a", "b"] {
        let (status, body) = t.patch(&path, &json!({"metadata": big(fill), "note": fill})).await;
        assert_eq!(status, 200, "a license of 30 KB metadata changes: {body}");
    }
    assert_eq!(t.call_as(Some(&t.key), Method::DELETE, &path, None).await.0, 204);
    let entries = history(&t, id).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["deleted", "updated", "updated", "created"]);
    let changed = &entries[1]["changes"];
    assert_eq!(changed["note"], json!(["a", "b"]));
    assert!(changed["metadata"][0].as_str().is_some_and(|s| s.ends_with("bytes not kept)")), "{changed}");
    assert_eq!(entries[0]["changes"]["license_key"], json!(["LIFE-1", null]));
    assert!(entries.iter().all(|e| e.to_string().len() < 16 * 1024));
}

#[tokio::test]
async fn patching_an_order_moves_its_licenses_store_id_and_customer_with_it() {
    let (t, id, _) = two_licenses().await;
    let other = t.create("/api/v1/customers/", &json!({"email": "d@example.com"})).await;
    let (_, listed) = t.get("/api/v1/orders/?store_id=life-1").await;
    let order = listed["results"][0]["id"].as_u64().unwrap();
    let path = format!("/api/v1/orders/{order}/");
    let (status, patched) = t
        .patch(&path, &json!({"store_id": "life-renamed", "customer": other, "reference": "ref-9", "is_test": true}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!((patched["store_id"].clone(), patched["reference"].clone()), (json!("life-renamed"), json!("ref-9")));
    assert_eq!(patched["customer"]["email"], "d@example.com");
    let licenses = patched["order_items"][0]["licenses"].as_array().unwrap();
    assert!(licenses
        .iter()
        .all(|l| l["order_store_id"] == "life-renamed" && l["customer"]["email"] == "d@example.com"));
    assert_eq!(t.get(&path).await.1, patched, "what PATCH answered is what is stored");
    let (_, license) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!(license["order_store_id"], "life-renamed");
    for (query, n) in [
        ("order__store_id=life-renamed", 2),
        ("order__store_id=life-1", 0),
        ("customer__email=d@example.com", 2),
        ("customer__email=c@example.com", 0),
    ] {
        assert_eq!(t.get(&format!("/api/v1/licenses/?{query}")).await.1["count"], n, "{query}");
    }
    let (_, customers) = t.get("/api/v1/customers/?order_by=email").await;
    let totals: Vec<(Value, Value)> = customers["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["total_orders"].clone(), c["total_licenses"].clone()))
        .collect();
    assert_eq!(totals, [(json!(0), json!(0)), (json!(1), json!(2))]);
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
    let (_, entries) = t.get(&format!("/api/v1/license-histories/?license={id}")).await;
    assert_eq!(entries["results"][0]["action"], "updated");
    assert_eq!(entries["results"][0]["changes"]["order_store_id"], json!(["life-1", "life-renamed"]));

    // The old store id is free, a taken one is a 409, bad fields are 400s, nothing written.
    let (status, _) = t
        .post(CREATE, &json!({"id": "life-1", "items": [{"product_code": "cli", "licenses": [{"key": "CLI-1"}]}]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(t.patch(&path, &json!({"store_id": "life-1"})).await.0, 409);
    let (status, errors) = t.patch(&path, &json!({"store_id": "", "customer": 1, "is_trial": "maybe"})).await;
    assert_eq!(status, 400, "{errors}");
    assert!(errors["store_id"].is_array() && errors["is_trial"].is_array(), "{errors}");
    assert_eq!(t.patch(&path, &json!({"customer": 1})).await.0, 400, "an unknown customer");
    assert_eq!(t.get(&path).await.1["store_id"], "life-renamed");

    // Scope: an order of `app` only is not there for a manager of `cli`.
    let cli = t.get("/api/v1/products/?short_code=cli").await.1["results"][0]["id"].as_u64().unwrap();
    let scoped = t.scoped_key(&[cli]).await;
    let (status, _) = t.call_as(Some(&scoped), Method::PATCH, &path, Some(&json!({"reference": "x"}))).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_large_order_keeps_its_store_id_but_changes_the_rest() {
    let t = Tenant::new().await;
    t.product("bulk").await;
    let licenses: Vec<Value> = (0..46).map(|i| json!({"key": format!("BULK-{i}")})).collect();
    let (status, order) =
        t.post(CREATE, &json!({"id": "big-1", "items": [{"product_code": "bulk", "licenses": licenses}]})).await;
    assert_eq!(status, 200, "{order}");
    let path = format!("/api/v1/orders/{}/", order["id"]);
    let (status, errors) = t.patch(&path, &json!({"store_id": "big-2"})).await;
    assert_eq!(status, 400, "{errors}");
    assert!(errors["store_id"][0].as_str().unwrap().contains("45"), "{errors}");
    let (status, patched) = t.patch(&path, &json!({"reference": "fine"})).await;
    assert_eq!(
        (status, patched["reference"].clone(), patched["store_id"].clone()),
        (200, json!("fine"), json!("big-1"))
    );
}

//! Product scope on the paths that reach other products indirectly (issue 11, items 2 and 3):
//! a bundle's member products, and the licenses an appended-to order already holds.

use integration_tests::Tenant;
use lambda_http::http::Method;
use serde_json::{json, Value};

const CREATE: &str = "/api/v1/orders/create_order/";

/// Products m1, m2 (with policies) and a bundle `suite` of both; the bundle's id.
async fn bundle(t: &Tenant) -> u64 {
    for code in ["m1", "m2"] {
        let id = t.product(code).await;
        t.create("/api/v1/license-templates/", &json!({"product": id, "name": code, "code": format!("{code}-p")}))
            .await;
    }
    t.create(
        "/api/v1/products/",
        &json!({"product_name": "Suite", "short_code": "suite", "is_bundle": true, "bundle_products": ["m1", "m2"]}),
    )
    .await
}

#[tokio::test]
async fn a_key_scoped_to_a_bundle_cannot_reach_its_members_or_add_others() {
    let t = Tenant::new().await;
    let suite = bundle(&t).await;
    t.product("other").await;
    let key = t.scoped_key(&[suite]).await;
    let order = json!({"id": "b-1", "is_bundle": true, "items": [{"product_code": "suite", "licenses": [
        {"key": "BUN-1", "product_code": "m1", "policy_code": "m1-p"},
        {"key": "BUN-1", "product_code": "m2", "policy_code": "m2-p"}]}]});
    let (status, body) = t.call_as(Some(&key), Method::POST, CREATE, Some(&order)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(t.get("/api/v1/licenses/?license_key=BUN-1").await.1["count"], 0, "nothing written");

    let patch = json!({"bundle_products": ["m1", "other"]});
    let path = format!("/api/v1/products/{suite}/");
    let (status, body) = t.call_as(Some(&key), Method::PATCH, &path, Some(&patch)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(t.get(&path).await.1["bundle_products"], json!(["m1", "m2"]));

    // A key scoped to the bundle and its members may do both.
    let members: Vec<u64> = [suite].into_iter().chain(member_ids(&t).await).collect();
    let full = t.scoped_key(&members).await;
    let (status, body) = t.call_as(Some(&full), Method::POST, CREATE, Some(&order)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t.call_as(Some(&full), Method::PATCH, &path, Some(&json!({"bundle_products": ["m2"]}))).await;
    assert_eq!(status, 200, "{body}");
}

async fn member_ids(t: &Tenant) -> Vec<u64> {
    let mut ids = Vec::new();
    for code in ["m1", "m2"] {
        let (_, list) = t.get(&format!("/api/v1/products/?short_code={code}")).await;
        ids.push(list["results"][0]["id"].as_u64().expect("id"));
    }
    ids
}

fn keys_of(order: &Value) -> Vec<String> {
    let mut keys: Vec<String> = order["order_items"]
        .as_array()
        .expect("order_items")
        .iter()
        .flat_map(|item| item["licenses"].as_array().expect("licenses").iter())
        .map(|l| l["license_key"].as_str().unwrap_or_default().to_string())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn an_append_shows_only_the_products_in_scope() {
    let t = Tenant::new().await;
    let a = t.product("pa").await;
    t.product("pb").await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({"id": "mixed", "customer": {"email": "x@example.com"}, "items": [
                {"product_code": "pb", "licenses": [{"key": "B-SECRET", "users": [{"email": "u@example.com"}]}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let key = t.scoped_key(&[a]).await;
    let append =
        json!({"id": "mixed", "append": true, "items": [{"product_code": "pa", "licenses": [{"key": "A-1"}]}]});
    let (status, shown) = t.call_as(Some(&key), Method::POST, CREATE, Some(&append)).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(keys_of(&shown), ["A-1"]);
    assert!(!shown.to_string().contains("B-SECRET") && !shown.to_string().contains("u@example.com"));
    assert_eq!(shown["order_items"].as_array().map(Vec::len), Some(1));
    // The same as GET shows that manager, and the admin sees both.
    let path = format!("/api/v1/orders/{}/", shown["id"]);
    let (_, got) = t.call_as(Some(&key), Method::GET, &path, None).await;
    assert_eq!(keys_of(&got), ["A-1"]);
    assert_eq!(keys_of(&t.get(&path).await.1), ["A-1", "B-SECRET"]);
}

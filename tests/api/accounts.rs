use integration_tests::{ids, Tenant};
use serde_json::json;

#[tokio::test]
async fn create_filter_patch_and_duplicates() {
    let t = Tenant::new().await;
    let (status, acme) = t
        .post(
            "/api/v1/customer-accounts/",
            &json!({"name": "Acme Corp", "code": "acme", "phone": "+1 555", "reference": "R-1"}),
        )
        .await;
    assert_eq!(status, 201, "{acme}");
    assert_eq!(acme["description"], "");
    let acme_id = acme["id"].as_u64().unwrap();
    let globex = t.create("/api/v1/customer-accounts/", &json!({"name": "Globex", "code": "globex"})).await;

    let (status, body) = t.post("/api/v1/customer-accounts/", &json!({"name": "Again", "code": "acme"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = t.patch(&format!("/api/v1/customer-accounts/{globex}/"), &json!({"code": "acme"})).await;
    assert_eq!(status, 409);

    let (_, list) = t.get("/api/v1/customer-accounts/?name__icontains=CORP").await;
    assert_eq!(ids(&list), [acme_id]);
    let (_, list) = t.get("/api/v1/customer-accounts/?code=globex").await;
    assert_eq!(ids(&list), [globex]);
    let (_, list) = t.get("/api/v1/customer-accounts/?order_by=-name").await;
    assert_eq!(ids(&list), [globex, acme_id]);

    let (status, patched) =
        t.patch(&format!("/api/v1/customer-accounts/{acme_id}/"), &json!({"description": "Big", "phone": null})).await;
    assert_eq!(status, 200);
    assert_eq!((patched["description"].as_str(), patched["phone"].as_str()), (Some("Big"), Some("")));

    let (status, body) = t.post("/api/v1/customer-accounts/", &json!({"name": "No code"})).await;
    assert_eq!((status, &body["code"]), (400, &json!(["This field is required."])));

    let other = Tenant::new().await;
    let (status, _) = other.get(&format!("/api/v1/customer-accounts/{acme_id}/")).await;
    assert_eq!(status, 404);
    other.create("/api/v1/customer-accounts/", &json!({"name": "Acme elsewhere", "code": "acme"})).await;
}

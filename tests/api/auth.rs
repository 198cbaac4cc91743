use integration_tests::Tenant;
use lambda_http::http::Method;
use serde_json::json;

const PATHS: &[&str] = &[
    "/api/v1/products/",
    "/api/v1/product-features/",
    "/api/v1/product-custom-fields/",
    "/api/v1/license-templates/",
    "/api/v1/customer-accounts/",
    "/api/v1/customers/",
];

#[tokio::test]
async fn every_catalog_endpoint_answers_403_without_or_with_a_bad_key() {
    let t = Tenant::new().await;
    let prefix = t.key.split('.').next().unwrap();
    for path in PATHS {
        for method in [Method::GET, Method::POST] {
            let body = Some(json!({}));
            let (status, answer) = t.call_as(None, method.clone(), path, body.as_ref()).await;
            assert_eq!(
                (status, &answer),
                (403, &json!({"detail": "Authentication credentials were not provided."})),
                "{method} {path}"
            );
            for bad in ["garbled", "nope.nope", &format!("{prefix}.wrongsecret")] {
                let (status, answer) = t.call_as(Some(bad), method.clone(), path, body.as_ref()).await;
                let expected = if bad == "garbled" {
                    json!({"detail": "Authentication credentials were not provided."})
                } else {
                    json!({"detail": "Invalid API key."})
                };
                assert_eq!((status, &answer), (403, &expected), "{method} {path} with {bad}");
            }
        }
    }
}

#[tokio::test]
async fn other_schemes_are_not_credentials() {
    let t = Tenant::new().await;
    let req = integration_tests::request(Method::GET, "/api/v1/products/", Some(&format!("Bearer {}", t.key)), None);
    let (status, body) = integration_tests::read(integration_tests::dispatch(&t.app, req).await);
    assert_eq!((status, body), (403, json!({"detail": "Authentication credentials were not provided."})));
    let req = integration_tests::request(Method::GET, "/api/v1/products/", Some(&format!("api-key {}", t.key)), None);
    let (status, _) = integration_tests::read(integration_tests::dispatch(&t.app, req).await);
    assert_eq!(status, 200, "the scheme is case-insensitive");
}

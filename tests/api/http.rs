use integration_tests::Tenant;
use lambda_http::http::Method;
use serde_json::json;

#[tokio::test]
async fn unknown_paths_and_ids_are_404_in_the_contract_shape() {
    let t = Tenant::new().await;
    for path in ["/api/v1/nothing/", "/api/v1/products/12/extra/", "/api/v1/products/abc/", "/api/v1/products/999/"] {
        let (status, body) = t.get(path).await;
        assert_eq!((status, body), (404, json!({"detail": "Not found."})), "{path}");
    }
}

#[tokio::test]
async fn unsupported_methods_are_405() {
    let t = Tenant::new().await;
    let id = t.product("m").await;
    let (status, body) = t.call_as(Some(&t.key), Method::DELETE, &format!("/api/v1/products/{id}/"), None).await;
    assert_eq!((status, body), (405, json!({"detail": "Method \"DELETE\" not allowed."})));
    let (status, _) = t.call_as(Some(&t.key), Method::PATCH, "/api/v1/products/", Some(&json!({}))).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let t = Tenant::new().await;
    let req = integration_tests::request(Method::POST, "/api/v1/products/", Some(&format!("Api-Key {}", t.key)), None);
    let (mut parts, _) = req.into_parts();
    parts.headers.insert("content-type", "application/json".parse().unwrap());
    let req = lambda_http::Request::from_parts(parts, lambda_http::Body::Text("{\"product_name\": ".into()));
    let (status, body) = integration_tests::read(integration_tests::dispatch(&t.app, req).await);
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().starts_with("JSON parse error"), "{body}");
    // Bytes that are not UTF-8 (API Gateway hands them over base64-encoded, as binary).
    for path in ["/api/v1/products/", "/api/v1/orders/create_order/", "/api/v1/licenses/import_from_csv/"] {
        let req = integration_tests::request(Method::POST, path, Some(&format!("Api-Key {}", t.key)), None);
        let (parts, _) = req.into_parts();
        let req = lambda_http::Request::from_parts(parts, lambda_http::Body::Binary(vec![0xff, 0xfe, 0x02, b'{']));
        let (status, _) = integration_tests::read(integration_tests::dispatch(&t.app, req).await);
        assert_eq!(status, 400, "{path}");
    }

    let (status, body) = t.call_as(Some(&t.key), Method::POST, "/api/v1/products/", Some(&json!(["a list"]))).await;
    assert_eq!(status, 400);
    assert_eq!(body, json!({"detail": "Invalid data. Expected a dictionary, but got list."}));
}

#[tokio::test]
async fn get_with_json_content_type_and_no_body_is_fine() {
    // The vendor's examples send Content-Type: application/json on every GET.
    let t = Tenant::new().await;
    let (status, body) = t.get("/api/v1/customers").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"], json!([]));
}

/// Found by `make fuzz`: a `null` product created a feature, field or template of product 0.
#[tokio::test]
async fn a_required_product_may_not_be_null() {
    let t = Tenant::new().await;
    for (path, body) in [
        ("/api/v1/product-features/", json!({"product": null, "name": "Export", "code": "export"})),
        ("/api/v1/product-custom-fields/", json!({"product": null, "name": "seat"})),
        ("/api/v1/license-templates/", json!({"product": null, "name": "Pro", "code": "pro"})),
        ("/api/v1/license-templates/", json!({"name": "Pro", "code": "pro"})),
    ] {
        let (status, errors) = t.post(path, &body).await;
        assert_eq!(status, 400, "{path} {body}: {errors}");
        assert!(errors["product"].is_array(), "{errors}");
        assert_eq!(t.get(path).await.1["count"], 0, "nothing was created at {path}");
    }
}

#[tokio::test]
async fn responses_are_gzip_encoded_for_clients_that_accept_it() {
    use std::io::Read;
    let t = Tenant::new().await;
    for i in 0..20 {
        t.product(&format!("gz-{i}")).await;
    }
    let plain = t.get("/api/v1/products/?limit=20").await.1;
    let auth = format!("Api-Key {}", t.key);
    for accept in ["gzip", "deflate, gzip;q=0.8", "*"] {
        let mut req = integration_tests::request(Method::GET, "/api/v1/products/?limit=20", Some(&auth), None);
        req.headers_mut().insert("accept-encoding", accept.parse().unwrap());
        let response = integration_tests::dispatch(&t.app, req).await;
        assert_eq!(response.headers()["content-encoding"], "gzip", "{accept}");
        let compressed: &[u8] = response.body().as_ref();
        let mut text = String::new();
        flate2::read::GzDecoder::new(compressed).read_to_string(&mut text).unwrap();
        assert!(compressed.len() < text.len() / 2, "{} of {}", compressed.len(), text.len());
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), plain);
    }
    for accept in ["identity", "gzip;q=0", "br"] {
        let mut req = integration_tests::request(Method::GET, "/api/v1/products/?limit=20", Some(&auth), None);
        req.headers_mut().insert("accept-encoding", accept.parse().unwrap());
        let response = integration_tests::dispatch(&t.app, req).await;
        assert!(response.headers().get("content-encoding").is_none(), "{accept}");
    }
}

//! Issue 15 (LICENSE-API.md §4.1, §4.2): cloud floating seats of licenses and features, with
//! borrows, and bundles activated, checked and deactivated as one.

use integration_tests::{counter_mismatches, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

use super::license_api::{license, on, Client};

fn floating() -> Value {
    json!({"is_floating_cloud": true, "floating_users": 1, "floating_timeout": 30, "max_activations": 3,
           "can_borrow": true, "max_borrow_time": 24})
}

#[tokio::test]
async fn floating_seats_are_counted_exactly_borrowed_and_released() {
    let t = Tenant::new().await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let id = license(&t, "FL-1", floating()).await;
    let call = |endpoint: &'static str, method: Method, params: Value| {
        let (client, t) = (&client, &t);
        async move { client.call(t, method, endpoint, &params).await }
    };

    let (status, first) = call("activate_license", Method::POST, on("FL-1", "hw-1")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!((first["floating_in_use_devices"].clone(), first["floating_timeout"].clone()), (json!(1), json!(30)));
    // The only seat is hw-1's: another device can neither activate nor check.
    let (status, refused) = call("activate_license", Method::POST, on("FL-1", "hw-2")).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("no_floating_seats_available")));
    let (_, managed) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!((managed["floating_in_use_devices"].clone(), managed["times_activated"].clone()), (json!(1), json!(1)));

    // Released, the seat goes to hw-2; hw-1 stays activated but has no seat until it is free.
    assert_eq!(call("floating/release", Method::POST, on("FL-1", "hw-1")).await.0, 200);
    assert_eq!(call("activate_license", Method::POST, on("FL-1", "hw-2")).await.0, 200);
    let (status, no_seat) = call("check_license", Method::GET, on("FL-1", "hw-1")).await;
    assert_eq!((status, no_seat["code"].clone()), (400, json!("no_floating_seats_available")));

    // A borrow: null is the longest allowed, past max_borrow_time is refused.
    let mut borrow = on("FL-1", "hw-2");
    borrow["borrowed_until"] = json!("2999-01-01T00:00:00Z");
    let (status, too_long) = call("floating/borrow", Method::POST, borrow.clone()).await;
    assert_eq!((status, too_long["code"].clone()), (400, json!("borrow_period_too_long")));
    borrow["borrowed_until"] = Value::Null;
    let (status, borrowed) = call("floating/borrow", Method::POST, borrow).await;
    assert_eq!(status, 200, "{borrowed}");
    assert_eq!(borrowed["is_borrowed"], true);
    let until = borrowed["borrowed_until"].as_str().unwrap();
    assert!(until.ends_with('Z'), "{until}");
    let (_, devices) = t.get(&format!("/api/v1/devices/?license={id}")).await;
    let hw2 = devices["results"].as_array().unwrap().iter().find(|d| d["hardware_id"] == "hw-2").unwrap().clone();
    assert_eq!((hw2["floating_in_use"].clone(), hw2["borrowed_until"].clone()), (json!(true), json!(until)));

    // Two devices racing for one free seat: one gets it.
    assert_eq!(call("floating/release", Method::POST, on("FL-1", "hw-2")).await.0, 200);
    let (a, b) = tokio::join!(
        call("check_license", Method::GET, on("FL-1", "hw-1")),
        call("check_license", Method::GET, on("FL-1", "hw-2")),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let (_, managed) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!(managed["floating_in_use_devices"], 1);

    // A license that cannot be borrowed.
    license(&t, "FL-2", json!({"is_floating_cloud": true, "floating_users": 2})).await;
    assert_eq!(call("activate_license", Method::POST, on("FL-2", "hw-1")).await.0, 200);
    let (status, refused) = call("floating/borrow", Method::POST, on("FL-2", "hw-1")).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("borrowing_not_allowed")));
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
}

#[tokio::test]
async fn floating_features_hold_seats_per_device() {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    t.create(
        "/api/v1/product-features/",
        &json!({"product": app, "name": "Pro", "code": "pro", "feature_type": "activation"}),
    )
    .await;
    let client = Client::of(&t).await;
    let mut extra = json!({"max_activations": 2, "can_borrow": true, "max_borrow_time": 2});
    extra["product_features"] = json!([{"code": "pro", "is_floating_cloud": true, "floating_users": 1}]);
    license(&t, "FF-1", extra).await;
    for hw in ["hw-1", "hw-2"] {
        assert_eq!(client.call(&t, Method::POST, "activate_license", &on("FF-1", hw)).await.0, 200);
    }
    let feature = |hw: &str| {
        let mut params = on("FF-1", hw);
        params["feature"] = json!("pro");
        params
    };
    let (status, held) = client.call(&t, Method::GET, "check_license_feature", &feature("hw-1")).await;
    assert_eq!(status, 200, "{held}");
    assert_eq!((held["code"].clone(), held["floating_in_use_devices"].clone()), (json!("pro"), json!(1)));
    let (status, refused) = client.call(&t, Method::GET, "check_license_feature", &feature("hw-2")).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("no_floating_seats_available")));

    let mut borrow = feature("hw-1");
    borrow["borrowed_until"] = Value::Null;
    let (status, borrowed) = client.call(&t, Method::POST, "floating/feature_borrow", &borrow).await;
    assert_eq!(status, 200, "{borrowed}");
    assert!(borrowed["borrowed_until"].as_str().unwrap().ends_with('Z'), "{borrowed}");
    assert_eq!(client.call(&t, Method::POST, "floating/feature_release", &feature("hw-1")).await.0, 200);
    let (status, taken) = client.call(&t, Method::GET, "check_license_feature", &feature("hw-2")).await;
    assert_eq!((status, taken["floating_in_use_devices"].clone()), (200, json!(1)), "{taken}");
    // Deactivating hw-2 gives its feature seat back.
    assert_eq!(client.call(&t, Method::POST, "deactivate_license", &on("FF-1", "hw-2")).await.0, 200);
    let (status, back) = client.call(&t, Method::GET, "check_license_feature", &feature("hw-1")).await;
    assert_eq!((status, back["floating_in_use_devices"].clone()), (200, json!(1)), "{back}");
}

#[tokio::test]
async fn a_bundle_is_activated_checked_and_deactivated_as_one() {
    let t = Tenant::new().await;
    t.bundle("suite", &["m1", "m2"], 1).await;
    let (status, order) = t
        .post(
            "/api/v1/orders/create_order/",
            &json!({"id": "bundle-1", "is_bundle": true, "items": [{"product_code": "suite", "licenses": [
                {"key": "BUNDLE-1", "product_code": "m1", "policy_code": "m1-p"},
                {"key": "BUNDLE-1", "product_code": "m2", "policy_code": "m2-p"}
            ]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let client = Client::of(&t).await;
    let of = |hw: &str| {
        let mut params = on("BUNDLE-1", hw);
        params["product"] = json!("suite");
        params
    };
    // A user's email without the password activates nothing (as activate_license).
    let by_email = json!({"product": "suite", "hardware_id": "hw-1", "username": "someone@example.com"});
    let (status, refused) = client.call(&t, Method::POST, "activate_bundle", &by_email).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("missing_parameters")));
    let (status, members) = client.call(&t, Method::POST, "activate_bundle", &of("hw-1")).await;
    assert_eq!(status, 200, "{members}");
    let codes: Vec<&str> =
        members.as_array().unwrap().iter().map(|m| m["product_details"]["short_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["m1", "m2"]);
    assert!(members.as_array().unwrap().iter().all(|m| m["license_active"] == true && m["times_activated"] == 1));
    // Every license of the bundle shows the device in the Management API.
    let (_, page) = t.get("/api/v1/licenses/?license_key=BUNDLE-1").await;
    let active: Vec<Value> = page["results"].as_array().unwrap().iter().map(|l| l["times_activated"].clone()).collect();
    assert_eq!(active, [json!(1), json!(1), json!(1)]);

    // A second device finds no seat on any member: nothing of the bundle changes.
    let (status, refused) = client.call(&t, Method::POST, "activate_bundle", &of("hw-2")).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("license_activated_max_times")));
    let (status, checked) = client.call(&t, Method::GET, "check_bundle", &of("hw-1")).await;
    assert_eq!((status, checked.as_array().map(Vec::len)), (200, Some(2)), "{checked}");
    let (status, not_active) = client.call(&t, Method::GET, "check_bundle", &of("hw-2")).await;
    assert_eq!((status, not_active["code"].clone()), (400, json!("license_not_active")));
    let mut member = of("hw-1");
    member["product"] = json!("m1");
    let (status, not_bundle) = client.call(&t, Method::GET, "check_bundle", &member).await;
    assert_eq!((status, not_bundle["code"].clone()), (400, json!("product_not_bundle")), "{not_bundle}");

    assert_eq!(client.call(&t, Method::POST, "deactivate_bundle", &of("hw-1")).await.0, 200);
    let (_, page) = t.get("/api/v1/licenses/?license_key=BUNDLE-1").await;
    assert!(page["results"].as_array().unwrap().iter().all(|l| l["times_activated"] == 0), "{page}");
    // Each member's seat is free again, but moving to another device is a transfer.
    let (status, moved) = client.call(&t, Method::POST, "activate_bundle", &of("hw-2")).await;
    assert_eq!((status, moved["code"].clone()), (400, json!("license_transfer_limit")), "{moved}");
    let (_, history) = t.get("/api/v1/license-activation-histories/?action=deactivation").await;
    let (_, everything) = t.get("/api/v1/license-activation-histories/").await;
    assert_eq!(history["count"], 3, "one deactivation entry per license of the bundle: {everything}");
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
}

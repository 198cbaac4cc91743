//! Issue 15 (LICENSE-API.md): the License API as the vendor's SDK calls it: HMAC-signed
//! requests, signed responses, and the rules of §0 on devices.

use integration_tests::license_api::Credentials;
use integration_tests::{dispatch, read, Tenant};
use lambda_http::http::Method;
use lambda_http::Body;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// A tenant's License API client.
pub struct Client(pub Credentials);

impl Client {
    pub async fn of(t: &Tenant) -> Client {
        Client(Credentials::mint(&t.app, t.company).await)
    }

    /// `endpoint` sent at `date`, signed with `shared_key`: the status, the body and whether
    /// its signature holds.
    async fn call_at(
        &self,
        t: &Tenant,
        method: Method,
        endpoint: &str,
        params: &Value,
        date: OffsetDateTime,
        shared_key: &str,
    ) -> (u16, Value, bool) {
        let req = self.0.request(method, endpoint, params, date, shared_key);
        let response = Box::pin(dispatch(&t.app, req)).await;
        let signed = self.0.signed(&response);
        let (status, value) = read(response);
        (status, value, signed)
    }

    pub async fn call(&self, t: &Tenant, method: Method, endpoint: &str, params: &Value) -> (u16, Value) {
        let now = OffsetDateTime::now_utc();
        let (status, body, signed) = self.call_at(t, method, endpoint, params, now, &self.0.shared_key).await;
        assert!(signed, "{endpoint}: the response carries a valid LicenseSignature");
        (status, body)
    }
}

/// A product `app` and its license `key` (from an order); the license id.
pub async fn license(t: &Tenant, key: &str, extra: Value) -> u64 {
    let mut license = json!({"key": key});
    license.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (status, order) = t
        .post(
            "/api/v1/orders/create_order/",
            &json!({"id": format!("o-{key}"), "items": [{"product_code": "app", "licenses": [license]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    order["order_items"][0]["licenses"][0]["id"].as_u64().unwrap()
}

pub fn on(key: &str, hardware_id: &str) -> Value {
    json!({"product": "app", "license_key": key, "hardware_id": hardware_id, "os_ver": "linux", "hostname": "h",
           "ip": "127.0.0.1", "mac_address": "00:00", "is_vm": false, "vm_info": null, "sdk_ver": "PythonSDK 4.0.0"})
}

#[tokio::test]
async fn a_key_based_license_is_activated_checked_and_deactivated() {
    let t = Tenant::new().await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let id = license(&t, "V4-1", json!({"max_activations": 2})).await;

    let (status, activated) = client.call(&t, Method::POST, "activate_license", &on("V4-1", "hw-1")).await;
    assert_eq!(status, 200, "{activated}");
    assert_eq!((activated["id"].as_u64(), activated["license_key"].clone()), (Some(id), json!("V4-1")));
    assert_eq!((activated["times_activated"].clone(), activated["license_active"].clone()), (json!(1), json!(true)));
    assert_eq!(activated["product_details"]["short_code"], "app");
    for field in [
        "max_transfers",
        "transfer_count",
        "start_date",
        "maintenance_period",
        "max_activations",
        "allow_unlimited_activations",
        "is_trial",
        "allow_grace_period",
        "grace_period",
        "metadata",
        "prevent_vm",
        "validity_period",
        "is_floating",
        "is_floating_cloud",
        "floating_timeout",
    ] {
        assert!(activated.get(field).is_some(), "{field} is sent (LICENSE-API.md §5.2)");
    }
    // Again from the same device: idempotent, no second activation.
    let (_, again) = client.call(&t, Method::POST, "activate_license", &on("V4-1", "hw-1")).await;
    assert_eq!(again["times_activated"], 1);

    let check =
        json!({"product": "app", "license_key": "V4-1", "hardware_id": "hw-1", "include_expired_features": "false"});
    let (status, checked) = client.call(&t, Method::GET, "check_license", &check).await;
    assert_eq!((status, checked["id"].as_u64()), (200, Some(id)), "{checked}");
    let elsewhere = json!({"product": "app", "license_key": "V4-1", "hardware_id": "hw-9"});
    let (status, refused) = client.call(&t, Method::GET, "check_license", &elsewhere).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("license_not_active")), "{refused}");

    // The Management API sees the device, and finds the license by it.
    for query in ["devices__hardware_id=hw-1", "devices__hostname=h", "devices__os__icontains=LIN"] {
        let (_, found) = t.get(&format!("/api/v1/licenses/?{query}")).await;
        assert_eq!(found["count"], 1, "{query}: {found}");
    }
    assert_eq!(t.get("/api/v1/licenses/?devices__hardware_id=hw-9").await.1["count"], 0);
    let (_, managed) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!((managed["status"].clone(), managed["total_active_devices"].clone()), (json!("Active"), json!(1)));
    assert_eq!(managed["last_activation_device"], "hw-1");

    let (status, _) = client.call(&t, Method::POST, "deactivate_license", &on("V4-1", "hw-1")).await;
    assert_eq!(status, 200);
    let (status, gone) = client.call(&t, Method::POST, "deactivate_license", &on("V4-1", "hw-1")).await;
    assert_eq!((status, gone["code"].clone()), (400, json!("device_not_found")));
    let (_, managed) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!((managed["status"].clone(), managed["total_active_devices"].clone()), (json!("Inactive"), json!(0)));

    // Its activation history: the activation and the deactivation (a check within the minute
    // writes nothing), newest first; the transfer count; none of it for another company.
    let (status, history) = t.get(&format!("/api/v1/license-activation-histories/?license={id}")).await;
    assert_eq!(status, 200, "{history}");
    let actions: Vec<&str> =
        history["results"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["deactivation", "activation"]);
    assert_eq!(history["results"][0]["hardware_id"], "hw-1");
    let entry = history["results"][1]["id"].as_u64().unwrap();
    assert_eq!(t.get(&format!("/api/v1/license-activation-histories/{entry}/")).await.1["action"], "activation");
    let (_, transfers) = t.get(&format!("/api/v1/license-activation-histories/transfer_count/?license={id}")).await;
    assert_eq!(transfers, json!({"transfer_count": 0}));
    let (_, company_wide) = t.get("/api/v1/license-activation-histories/?limit=1").await;
    assert_eq!(company_wide["count"], 2, "the company's entries, counted by their counter");
    assert_eq!(integration_tests::counter_mismatches(&t).await, Vec::<String>::new());
    let stranger = Tenant::new().await;
    assert_eq!(stranger.get(&format!("/api/v1/license-activation-histories/{entry}/")).await.0, 404);
    assert_eq!(stranger.get("/api/v1/license-activation-histories/").await.1["count"], 0);
    assert_eq!(
        stranger.get(&format!("/api/v1/license-activation-histories/transfer_count/?license={id}")).await.0,
        404
    );
    let (status, details) = client
        .call(&t, Method::GET, "product_details", &json!({"product": "app", "include_custom_fields": "true"}))
        .await;
    assert_eq!((status, details["short_code"].clone()), (200, json!("app")), "{details}");
    let (status, unknown) = client.call(&t, Method::GET, "product_details", &json!({"product": "nope"})).await;
    assert_eq!((status, unknown["code"].clone()), (400, json!("product_not_found")));
}

#[tokio::test]
async fn two_devices_racing_for_the_last_activation_get_one_seat() {
    let t = Tenant::new().await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let id = license(&t, "V4-RACE", json!({"max_activations": 1})).await;
    let (on_a, on_b) = (on("V4-RACE", "hw-a"), on("V4-RACE", "hw-b"));
    let (a, b) = tokio::join!(
        client.call(&t, Method::POST, "activate_license", &on_a),
        client.call(&t, Method::POST, "activate_license", &on_b),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let refused = if a.0 == 400 { &a.1 } else { &b.1 };
    assert_eq!(refused["code"], "license_activated_max_times");
    let (_, managed) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!((managed["times_activated"].clone(), managed["total_active_devices"].clone()), (json!(1), json!(1)));
}

#[tokio::test]
async fn the_rules_and_the_credentials_are_enforced() {
    let t = Tenant::new().await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let disabled = license(&t, "V4-OFF", json!({})).await;
    assert_eq!(t.post(&format!("/api/v1/licenses/{disabled}/disable/"), &json!({})).await.0, 200);
    license(&t, "V4-OLD", json!({"license_type": "time-limited", "validity_period": "2020-01-01"})).await;
    license(&t, "V4-VM", json!({"prevent_vm": true})).await;
    let code = |endpoint: &'static str, params: Value| {
        let (client, t) = (&client, &t);
        async move {
            let (status, body) = client.call(t, Method::POST, endpoint, &params).await;
            assert_eq!(status, 400, "{body}");
            body["code"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(code("activate_license", on("V4-OFF", "hw")).await, "license_not_enabled");
    assert_eq!(code("activate_license", on("V4-OLD", "hw")).await, "license_expired");
    let mut vm = on("V4-VM", "hw");
    vm["is_vm"] = json!(true);
    assert_eq!(code("activate_license", vm).await, "vm_not_allowed");
    assert_eq!(code("activate_license", on("NO-SUCH", "hw")).await, "license_not_found");
    assert_eq!(code("activate_license", json!({"product": "app", "hardware_id": "hw"})).await, "missing_parameters");

    // Credentials: a wrong shared key, a stale Date, another company's license.
    let now = OffsetDateTime::now_utc();
    let (status, body, _) =
        client.call_at(&t, Method::POST, "activate_license", &on("V4-VM", "hw"), now, "wrong").await;
    assert_eq!((status, body["code"].clone()), (403, json!("invalid_signature")));
    let stale = now - time::Duration::minutes(6);
    let (status, body, _) =
        client.call_at(&t, Method::POST, "activate_license", &on("V4-VM", "hw"), stale, &client.0.shared_key).await;
    assert_eq!((status, body["code"].clone()), (403, json!("authorization_date_skew")));
    let other = Tenant::new().await;
    other.product("app").await;
    let other_client = Client::of(&other).await;
    let (status, body) = other_client.call(&other, Method::POST, "activate_license", &on("V4-VM", "hw")).await;
    assert_eq!((status, body["code"].clone()), (400, json!("license_not_found")), "another company's key is unknown");
    let unsigned = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v4/activate_license")
        .header("host", "testserver")
        .body(Body::Text(on("V4-VM", "hw").to_string()))
        .unwrap();
    let (status, body) = read(Box::pin(dispatch(&t.app, unsigned)).await);
    assert_eq!((status, body["code"].clone()), (401, json!("authorization_missing_params")));
}

#[tokio::test]
async fn consumption_features_and_device_variables_are_kept_exactly() {
    let t = Tenant::new().await;
    let app = t.product("app").await;
    t.create(
        "/api/v1/product-features/",
        &json!({"product": app, "name": "F", "code": "f1", "feature_type": "consumption", "max_consumption": 5}),
    )
    .await;
    let client = Client::of(&t).await;
    let id = license(
        &t,
        "V4-USE",
        json!({"license_type": "consumption", "max_consumptions": 10, "max_activations": 2,
               "product_features": [{"code": "f1", "max_consumption": 5}]}),
    )
    .await;
    for hw in ["hw-1", "hw-2"] {
        assert_eq!(client.call(&t, Method::POST, "activate_license", &on("V4-USE", hw)).await.0, 200);
    }
    let consume = |hw: &'static str, n: i64| json!({"product": "app", "license_key": "V4-USE", "hardware_id": hw, "consumptions": n});
    // Two devices consuming at once: no consumption is lost.
    let (a, b) = (consume("hw-1", 3), consume("hw-2", 4));
    let (ra, rb) = tokio::join!(
        client.call(&t, Method::POST, "add_consumption", &a),
        client.call(&t, Method::POST, "add_consumption", &b),
    );
    assert_eq!((ra.0, rb.0), (200, 200), "{ra:?} {rb:?}");
    let (_, managed) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!(managed["total_consumptions"], 7);
    let (status, over) = client.call(&t, Method::POST, "add_consumption", &consume("hw-1", 4)).await;
    assert_eq!((status, over["code"].clone()), (400, json!("consumption_limit_reached")));
    let (status, foreign) = client.call(&t, Method::POST, "add_consumption", &consume("hw-9", 1)).await;
    assert_eq!((status, foreign["code"].clone()), (400, json!("license_not_active")));

    let feature =
        json!({"product": "app", "license_key": "V4-USE", "hardware_id": "hw-1", "feature": "f1", "consumptions": 2});
    let (status, f) = client.call(&t, Method::POST, "add_feature_consumption", &feature).await;
    assert_eq!((status, f["code"].clone(), f["total_consumptions"].clone()), (200, json!("f1"), json!(2)), "{f}");
    let check = json!({"product": "app", "license_key": "V4-USE", "hardware_id": "hw-1", "feature": "f1"});
    let (_, checked) = client.call(&t, Method::GET, "check_license_feature", &check).await;
    assert_eq!(checked["total_consumptions"], 2);
    let (status, missing) = client
        .call(
            &t,
            Method::GET,
            "check_license_feature",
            &json!({"product": "app", "license_key": "V4-USE", "hardware_id": "hw-1", "feature": "nope"}),
        )
        .await;
    assert_eq!((status, missing["code"].clone()), (400, json!("feature_not_found")));

    let variables = json!({"product": "app", "license_key": "V4-USE", "hardware_id": "hw-1", "variables": {"os": "linux", "seats": 3}});
    assert_eq!(client.call(&t, Method::POST, "track_device_variables", &variables).await.0, 200);
    let read_back = json!({"product": "app", "license_key": "V4-USE", "hardware_id": "hw-1"});
    let (_, listed) = client.call(&t, Method::GET, "get_device_variables", &read_back).await;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|v| v["variable"].as_str().unwrap()).collect();
    assert_eq!(names, ["os", "seats"]);
    assert_eq!(listed[1]["value"], 3);
    let (_, other_device) = client
        .call(
            &t,
            Method::GET,
            "get_device_variables",
            &json!({"product": "app", "license_key": "V4-USE", "hardware_id": "hw-2"}),
        )
        .await;
    assert_eq!(other_device, json!([]), "variables are the device's");
}

#[tokio::test]
async fn a_user_based_license_activates_with_the_users_password_and_the_password_changes() {
    let t = Tenant::new().await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let (status, order) = t
        .post(
            "/api/v1/orders/create_order/",
            &json!({"id": "o-user", "items": [{"product_code": "app", "licenses": [
                {"max_activations": 2, "max_transfers": -1, "users": [{"email": "Ann@example.com", "max_activations": 1}]}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let license = &order["order_items"][0]["licenses"][0];
    let (id, initial) = (
        license["id"].as_u64().unwrap(),
        license["license_users"][0]["initial_password"].as_str().unwrap().to_string(),
    );
    let as_user = |password: &str, hw: &str| json!({"product": "app", "username": "ann@example.com", "password": password, "hardware_id": hw});

    let (status, wrong) = client.call(&t, Method::POST, "activate_license", &as_user("nope", "hw-1")).await;
    assert_eq!((status, wrong["code"].clone()), (400, json!("unknown_user_or_password")));
    let (status, activated) = client.call(&t, Method::POST, "activate_license", &as_user(&initial, "hw-1")).await;
    assert_eq!((status, activated["id"].as_u64()), (200, Some(id)), "{activated}");
    assert_eq!(
        (activated["user"]["email"].clone(), activated["user"]["is_initial_password"].clone()),
        (json!("Ann@example.com"), json!(true))
    );
    // The user's own max_activations (1) holds though the license allows 2.
    let (status, second) = client.call(&t, Method::POST, "activate_license", &as_user(&initial, "hw-2")).await;
    assert_eq!((status, second["code"].clone()), (400, json!("license_activated_max_times")), "{second}");
    // Check and deactivate send the username and the license id, no password (§1.5).
    let later =
        json!({"product": "app", "username": "Ann@example.com", "license_id": id.to_string(), "hardware_id": "hw-1"});
    assert_eq!(client.call(&t, Method::GET, "check_license", &later).await.0, 200);

    let change = |old: &str, new: &str| json!({"username": "ann@example.com", "password": old, "new_password": new});
    let (status, refused) = client.call(&t, Method::POST, "change_password", &change("nope", "a new secret")).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("unknown_user_or_password")));
    assert_eq!(client.call(&t, Method::POST, "change_password", &change(&initial, "short")).await.0, 400);
    assert_eq!(client.call(&t, Method::POST, "change_password", &change(&initial, "a new secret")).await.0, 200);
    let (_, user) = t.get("/api/v1/license-users/?true_email__iexact=ann@example.com").await;
    assert_eq!(user["results"][0]["is_initial_password"], false);
    assert_eq!(client.call(&t, Method::POST, "deactivate_license", &later).await.0, 200);
    let (status, _) = client.call(&t, Method::POST, "activate_license", &as_user("a new secret", "hw-2")).await;
    assert_eq!(status, 200, "the new password, and the freed user seat");
}

#[tokio::test]
async fn a_trial_is_given_once_per_email_and_product() {
    let t = Tenant::new().await;
    t.post("/api/v1/products/", &json!({"product_name": "Trial", "short_code": "tri", "trial_days": 14})).await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let ask = |product: &str, email: &str| json!({"product": product, "hardware_id": "hw", "email": email});
    let (status, trial) = client.call(&t, Method::GET, "trial_key", &ask("tri", "ann@example.com")).await;
    assert_eq!(status, 200, "{trial}");
    let key = trial["license"].as_str().unwrap().to_string();
    let (status, again) = client.call(&t, Method::GET, "trial_key", &ask("tri", "Ann@Example.com")).await;
    assert_eq!((status, again["code"].clone()), (400, json!("trial_already_used")));
    let (status, none) = client.call(&t, Method::GET, "trial_key", &ask("app", "ann@example.com")).await;
    assert_eq!((status, none["code"].clone()), (400, json!("trial_not_allowed")));

    let device = json!({"product": "tri", "license_key": key, "hardware_id": "hw", "is_vm": false});
    let (status, activated) = client.call(&t, Method::POST, "activate_license", &device).await;
    assert_eq!((status, activated["is_trial"].clone()), (200, json!(true)), "{activated}");
    let (_, managed) = t.get(&format!("/api/v1/licenses/?license_key={key}")).await;
    let license = &managed["results"][0];
    assert_eq!((license["is_trial"].clone(), license["license_type"].clone()), (json!(true), json!("time-limited")));
    assert_eq!(license["customer"]["email"], "ann@example.com");
    let ends = time::Date::parse(
        license["validity_period"].as_str().unwrap(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    assert_eq!(ends - OffsetDateTime::now_utc().date(), time::Duration::days(14));
}

#[tokio::test]
async fn a_users_licenses_and_a_customers_users_are_found() {
    let t = Tenant::new().await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let (status, order) = t
        .post(
            "/api/v1/orders/create_order/",
            &json!({"id": "o-dir", "customer": {"email": "buyer@example.com"}, "items": [{"product_code": "app", "licenses": [
                {"users": [{"email": "u1@example.com"}, {"email": "u2@example.com"}]}, {"users": [{"email": "u1@example.com"}]}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let licenses = order["order_items"][0]["licenses"].as_array().unwrap();
    let password = licenses[0]["license_users"][0]["initial_password"].as_str().unwrap().to_string();
    let ask = json!({"product": "app", "username": "u1@example.com", "password": password});
    let (status, found) = client.call(&t, Method::GET, "user_licenses", &ask).await;
    assert_eq!(status, 200, "{found}");
    let ids: Vec<u64> = found.as_array().unwrap().iter().map(|l| l["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [licenses[0]["id"].as_u64().unwrap(), licenses[1]["id"].as_u64().unwrap()]);
    let wrong = json!({"product": "app", "username": "u1@example.com", "password": "nope"});
    assert_eq!(client.call(&t, Method::GET, "user_licenses", &wrong).await.1["code"], "unknown_user_or_password");

    let (_, users) = client
        .call(&t, Method::GET, "customer_license_users", &json!({"product": "app", "customer": "Buyer@example.com"}))
        .await;
    let emails: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["u1@example.com", "u2@example.com"]);
    let (status, unknown) = client
        .call(&t, Method::GET, "customer_license_users", &json!({"product": "app", "customer": "x@example.com"}))
        .await;
    assert_eq!((status, unknown["code"].clone()), (400, json!("customer_not_found")));
}

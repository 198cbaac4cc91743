//! Issue 15: `/api/v1/devices/`, the devices License API activations create: listed, found by
//! id, filtered, reset and blacklisted, counted exactly, and scoped like their licenses.

use integration_tests::{counter_mismatches, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

use super::license_api::{license, on, Client};

fn ids(page: &Value) -> Vec<u64> {
    page["results"].as_array().unwrap().iter().map(|d| d["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn devices_are_listed_found_reset_and_blacklisted() {
    let t = Tenant::new().await;
    t.product("app").await;
    let other = t.product("other").await;
    let client = Client::of(&t).await;
    let id = license(&t, "DEV-1", json!({"max_activations": 3, "max_transfers": 0})).await;
    for hw in ["hw-1", "hw-2", "hw-3"] {
        let mut params = on("DEV-1", hw);
        params["hostname"] = json!(format!("host-{hw}"));
        assert_eq!(client.call(&t, Method::POST, "activate_license", &params).await.0, 200);
    }

    let (status, all) = t.get("/api/v1/devices/").await;
    assert_eq!((status, all["count"].clone()), (200, json!(3)), "{all}");
    let listed = ids(&all);
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "id order: {listed:?}");
    let (_, newest) = t.get("/api/v1/devices/?order_by=-id&limit=1").await;
    assert_eq!((ids(&newest), newest["count"].clone()), (vec![listed[2]], json!(3)));
    let (_, second) = t.get("/api/v1/devices/?limit=1&offset=1").await;
    assert_eq!(ids(&second), vec![listed[1]]);
    let (_, one) = t.get(&format!("/api/v1/devices/{}/", listed[0])).await;
    assert_eq!((one["hardware_id"].clone(), one["license"].clone()), (json!("hw-1"), json!(id)));
    assert_eq!((one["device_active"].clone(), one["hostname"].clone()), (json!(true), json!("host-hw-1")));
    for (query, expected) in [
        (format!("license={id}"), listed.clone()),
        ("hardware_id=hw-2".to_string(), vec![listed[1]]),
        ("hostname=host-hw-3".to_string(), vec![listed[2]]),
        ("hardware_id=hw-2&hostname=host-hw-3".to_string(), vec![]),
        ("hardware_id=nothing".to_string(), vec![]),
    ] {
        let (status, page) = t.get(&format!("/api/v1/devices/?{query}")).await;
        assert_eq!((status, ids(&page)), (200, expected.clone()), "{query}: {page}");
        assert_eq!(page["count"], expected.len(), "{query}");
    }
    assert_eq!(t.get("/api/v1/devices/999/").await.0, 404);
    // One machine on two licenses: counted from its markers, paged in id order.
    license(&t, "DEV-2", json!({})).await;
    assert_eq!(client.call(&t, Method::POST, "activate_license", &on("DEV-2", "hw-2")).await.0, 200);
    let (_, machine) = t.get("/api/v1/devices/?hardware_id=hw-2").await;
    assert_eq!(machine["count"], 2, "{machine}");
    let (_, second) = t.get("/api/v1/devices/?hardware_id=hw-2&limit=1&offset=1").await;
    assert_eq!((second["count"].clone(), ids(&second)), (json!(2), vec![ids(&machine)[1]]));
    assert_eq!(ids(&machine)[0], listed[1]);
    let (_, newest) = t.get("/api/v1/devices/?hardware_id=hw-2&order_by=-id&limit=1").await;
    assert_eq!(ids(&newest), vec![ids(&machine)[1]]);

    // A reset frees the activation without counting a transfer: a new device takes the seat.
    let (status, reset) = t.post(&format!("/api/v1/devices/{}/reset/", listed[0]), &json!({})).await;
    assert_eq!((status, reset["device_active"].clone()), (200, json!(false)), "{reset}");
    assert_eq!(t.get(&format!("/api/v1/devices/{}/", listed[0])).await.0, 404);
    let (status, moved) = client.call(&t, Method::POST, "activate_license", &on("DEV-1", "hw-4")).await;
    assert_eq!((status, moved["transfer_count"].clone()), (200, json!(0)), "{moved}");

    // A blacklisted device is deactivated, listed as blacklisted, and may not come back.
    let (status, barred) = t.post(&format!("/api/v1/devices/{}/blacklist/", listed[1]), &json!({})).await;
    assert_eq!(
        (status, barred["blacklisted"].clone(), barred["device_active"].clone()),
        (200, json!(true), json!(false))
    );
    let (status, refused) = client.call(&t, Method::POST, "activate_license", &on("DEV-1", "hw-2")).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("device_blacklisted")));
    let (status, refused) = client.call(&t, Method::GET, "check_license", &on("DEV-1", "hw-2")).await;
    assert_eq!((status, refused["code"].clone()), (400, json!("device_blacklisted")));
    let (_, managed) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!((managed["times_activated"].clone(), managed["total_active_devices"].clone()), (json!(2), json!(2)));
    let (_, page) = t.get("/api/v1/devices/").await;
    assert_eq!(page["count"], 4, "hw-3, hw-4, the blacklisted hw-2 and DEV-2's hw-2: {page}");
    // Reset lifts the blacklist.
    assert_eq!(t.post(&format!("/api/v1/devices/{}/reset/", listed[1]), &json!({})).await.0, 200);
    let (_, history) = t.get(&format!("/api/v1/license-activation-histories/?license={id}&action=blacklist")).await;
    assert_eq!(history["count"], 1);
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());

    // A license reset deactivates every device (and so frees every marker).
    assert_eq!(t.post(&format!("/api/v1/licenses/{id}/reset/"), &json!({})).await.0, 200);
    let (_, page) = t.get(&format!("/api/v1/devices/?license={id}")).await;
    assert_eq!(page["count"], 0, "{page}");
    assert_eq!(t.get("/api/v1/devices/").await.1["count"], 1, "DEV-2's device stays");
    let (status, again) = client.call(&t, Method::POST, "activate_license", &on("DEV-1", "hw-9")).await;
    assert_eq!((status, again["times_activated"].clone()), (200, json!(1)), "{again}");
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());

    // A manager scoped to another product sees none of these devices.
    let scoped = t.scoped_key(&[other]).await;
    let (status, page) = t.call_as(Some(&scoped), Method::GET, "/api/v1/devices/", None).await;
    assert_eq!((status, page["count"].clone()), (200, json!(0)), "{page}");
    let (_, device) = t.get("/api/v1/devices/").await;
    let device = ids(&device)[0];
    assert_eq!(t.call_as(Some(&scoped), Method::GET, &format!("/api/v1/devices/{device}/"), None).await.0, 404);
    assert_eq!(
        t.call_as(Some(&scoped), Method::POST, &format!("/api/v1/devices/{device}/reset/"), Some(&json!({}))).await.0,
        404
    );
}

/// A license active on more devices than one transaction can release is refused a reset with a
/// 400 naming the limit, never a 500; reset device by device, it resets.
#[tokio::test]
async fn a_reset_past_the_transaction_limit_is_a_400() {
    let t = Tenant::new().await;
    t.product("app").await;
    let client = Client::of(&t).await;
    let id = license(&t, "DEV-MANY", json!({"max_activations": 100})).await;
    for i in 0..97 {
        let (status, body) =
            client.call(&t, Method::POST, "activate_license", &on("DEV-MANY", &format!("m-{i}"))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, refused) = t.post(&format!("/api/v1/licenses/{id}/reset/"), &json!({})).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("100"), "the limit is named: {refused}");
    let (_, page) = t.get(&format!("/api/v1/devices/?license={id}&limit=10")).await;
    assert_eq!(page["count"], 97, "nothing was reset");
    for device in ids(&page) {
        assert_eq!(t.post(&format!("/api/v1/devices/{device}/reset/"), &json!({})).await.0, 200);
    }
    assert_eq!(t.post(&format!("/api/v1/licenses/{id}/reset/"), &json!({})).await.0, 200);
    assert_eq!(t.get(&format!("/api/v1/devices/?license={id}")).await.1["count"], 0);
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
}

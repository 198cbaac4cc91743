//! Storage faults (issue 11, item 9), injected by `integration_tests::faults`: a write either
//! happens whole or not at all, whichever step fails.

use integration_tests::faults::{Fault, Faults, Service};
use integration_tests::{counter_mismatches, history_mismatches, isolated_app, Tenant};
use serde_json::{json, Value};
use shared::ids::{now_ms, CLOCK_SKEW_MS};
use shared::licenses::License;
use shared::orders::staging::{sweep, DEADLINE_MS};

const CREATE: &str = "/api/v1/orders/create_order/";

fn order(store_id: &str, prefix: &str, n: usize) -> Value {
    let licenses: Vec<Value> = (0..n).map(|i| json!({"key": format!("{prefix}-{i:03}")})).collect();
    json!({"id": store_id, "customer": {"email": format!("{store_id}@example.com")},
           "items": [{"product_code": "app", "licenses": licenses}]})
}

async fn visible(t: &Tenant, store_id: &str) -> u64 {
    let (status, list) = t.get(&format!("/api/v1/licenses/?order__store_id={store_id}&limit=1")).await;
    assert_eq!(status, 200, "{list}");
    list["count"].as_u64().unwrap()
}

/// Fails each DynamoDB call of a create_order in turn (SDK retries off, so each fault fails its
/// step): every outcome is the whole order or nothing, and what a failure leaves is finished by
/// the sweeper so that the client's retry then succeeds.
async fn create_order_under_a_fault_at_every_step(n: usize, prefix: &str) -> u64 {
    let faults = Faults::default();
    let t = Tenant::of(isolated_app(&faults, false).await).await;
    let product = t.product("app").await;
    assert_eq!(t.post(CREATE, &order(&format!("{prefix}-warm"), &format!("{prefix}W"), n)).await.0, 200);
    let before = faults.calls();
    assert_eq!(t.post(CREATE, &order(&format!("{prefix}-clean"), &format!("{prefix}C"), n)).await.0, 200);
    let steps = faults.calls() - before;
    for step in 1..=steps {
        // A 500 and a timeout in turn (each is retried by the SDK alike: both at every step
        // would double the run for no new path).
        let fault = if step % 2 == 1 { Fault::ServerError } else { Fault::Timeout };
        {
            let store_id = format!("{prefix}-{step}-{fault:?}");
            let keys = format!("{prefix}{step}{fault:?}");
            faults.fail_nth(Service::DynamoDb, None, step, fault);
            let (status, body) = t.post(CREATE, &order(&store_id, &keys, n)).await;
            faults.clear();
            match status {
                200 => assert_eq!(visible(&t, &store_id).await, n as u64, "step {step}: all of it"),
                500 => {
                    assert_eq!(visible(&t, &store_id).await, 0, "step {step}: none of it");
                    assert_eq!(t.get(&format!("/api/v1/orders/?store_id={store_id}")).await.1["count"], 0);
                }
                other => panic!("step {step} {fault:?}: {other} {body}"),
            }
            sweep(&t.app.store, now_ms() + DEADLINE_MS + CLOCK_SKEW_MS + 1_000).await.unwrap();
            let (again, body) = t.post(CREATE, &order(&store_id, &keys, n)).await;
            assert_eq!(again, if status == 200 { 409 } else { 200 }, "step {step}: the retry {body}");
            assert_eq!(visible(&t, &store_id).await, n as u64);
            let claim = License::key_claim(product, "");
            let values: Vec<String> = (0..n).map(|i| format!("{keys}-{i:03}")).collect();
            let claims = t.app.store.tenant(t.company).claims(claim.kind, &claim.scope, &values).await.unwrap();
            assert_eq!(claims.len(), n);
            assert!(claims.values().all(|c| c.attempt.is_none()), "step {step}: every claim settled");
            assert_eq!(counter_mismatches(&t).await, Vec::<String>::new(), "step {step}: counters exact");
            assert_eq!(history_mismatches(&t).await, Vec::<String>::new(), "step {step}: one creation entry each");
        }
    }
    steps
}

#[tokio::test]
async fn an_order_of_one_transaction_is_all_or_nothing_at_every_step() {
    let steps = create_order_under_a_fault_at_every_step(3, "ONE").await;
    assert!(steps >= 3, "{steps} steps");
}

#[tokio::test]
async fn a_staged_order_is_all_or_nothing_at_every_step() {
    let steps = create_order_under_a_fault_at_every_step(50, "STG").await;
    assert!(steps >= 7, "record, two stagings, commit, settling, record deletion: {steps} steps");
}

#[tokio::test]
async fn a_fault_in_update_features_leaves_the_license_unchanged() {
    let faults = Faults::default();
    let t = Tenant::of(integration_tests::app_with_faults(&faults, false).await).await;
    let product = t.product("app").await;
    t.create("/api/v1/product-features/", &json!({"product": product, "name": "F", "code": "f"})).await;
    let (status, created) = t.post(CREATE, &order("uf-1", "UF", 1)).await;
    assert_eq!(status, 200, "{created}");
    let id = created["order_items"][0]["licenses"][0]["id"].as_u64().unwrap();
    let path = format!("/api/v1/licenses/{id}/");
    let (_, before) = t.get(&path).await;
    for fault in [Fault::ServerError, Fault::Timeout, Fault::Throttle] {
        faults.fail_nth(Service::DynamoDb, Some("TransactWriteItems"), 1, fault);
        let change = json!({"product_features": [{"product_feature": "f", "max_consumption": 9}]});
        let (status, _) = t.post(&format!("{path}update_features/"), &change).await;
        faults.clear();
        assert_eq!(status, 500, "{fault:?}");
        assert_eq!(t.get(&path).await.1, before, "{fault:?}: unchanged");
    }
    assert!(faults.injected() >= 3);
}

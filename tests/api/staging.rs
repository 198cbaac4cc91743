//! Large orders written in steps (issue 11, item 5): a Lambda killed between staging and the
//! commit, or between the commit and settling, leaves nothing the sweeper does not finish.
//! Each test has a table of its own: the sweeper acts on every company of its table.

use std::time::Duration;

use integration_tests::faults::{Fault, Faults, Service};
use integration_tests::{counter_mismatches, history_mismatches, isolated_app, Tenant};
use serde_json::{json, Value};
use shared::ids::{now_ms, CLOCK_SKEW_MS};
use shared::licenses::License;
use shared::orders::staging::{sweep, DEADLINE_MS};

const CREATE: &str = "/api/v1/orders/create_order/";

/// An order of `n` licenses keyed `<prefix>-000`…: more than one transaction holds.
fn big_order(store_id: &str, prefix: &str, n: usize) -> Value {
    let licenses: Vec<Value> = (0..n).map(|i| json!({"key": format!("{prefix}-{i:03}")})).collect();
    json!({"id": store_id, "items": [{"product_code": "app", "licenses": licenses}]})
}

/// A time at which every staged write started now is overdue.
fn after_deadlines() -> i64 {
    now_ms() + DEADLINE_MS + CLOCK_SKEW_MS + 1_000
}

async fn visible_count(t: &Tenant, query: &str) -> u64 {
    let (status, list) = t.get(&format!("/api/v1/licenses/?{query}&limit=1")).await;
    assert_eq!(status, 200, "{list}");
    list["count"].as_u64().unwrap()
}

/// The claims on `keys` of product `product` that a staged write still marks.
async fn marked_claims(t: &Tenant, product: u64, keys: &[String]) -> usize {
    let claim = License::key_claim(product, "");
    let claims = t.app.store.tenant(t.company).claims(claim.kind, &claim.scope, keys).await.unwrap();
    claims.values().filter(|c| c.attempt.is_some()).count()
}

#[tokio::test]
async fn a_write_killed_before_its_commit_is_rolled_back_by_the_sweeper() {
    let faults = Faults::default();
    let t = Tenant::of(isolated_app(&faults, true).await).await;
    let product = t.product("app").await;
    // The commit (the transaction holding the order) never returns: the Lambda is gone.
    faults.fail_matching(Service::DynamoDb, "TransactWriteItems", "committed_attempts", 1, Fault::Hang);
    let killed = tokio::time::timeout(Duration::from_secs(10), t.post(CREATE, &big_order("big-1", "K", 60))).await;
    assert!(killed.is_err(), "the request was cut off");
    faults.clear();
    assert_eq!(visible_count(&t, "license_key=K-000").await, 0, "staged licenses are invisible");
    assert_eq!(t.get("/api/v1/orders/?store_id=big-1").await.1["count"], 0);
    let keys: Vec<String> = (0..60).map(|i| format!("K-{i:03}")).collect();
    assert_eq!(marked_claims(&t, product, &keys).await, 60);
    // The client's retry finds its keys held until the sweeper has run.
    assert_eq!(t.post(CREATE, &big_order("big-1", "K", 60)).await.0, 409);

    // An import of some of those keys waits for the write to settle rather than count them.
    let file = (0..10).fold(String::from("license__license_key,product__short_code\n"), |mut f, i| {
        f.push_str(&format!("K-{i:03},app\n"));
        f
    });
    let job = upload(&t, &file).await;
    let (counts, report) = tokio::join!(import(&t, job), async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sweep(&t.app.store, after_deadlines()).await.unwrap()
    });
    assert_eq!((report.rolled_back, report.settled), (1, 0));
    assert_eq!(marked_claims(&t, product, &keys).await, 0);
    assert_eq!(counts, (10, 0), "created, not existed: the rolled-back licenses are gone");

    // Now the client's retry goes through (the 10 imported keys are taken by then).
    let (status, body) = t.post(CREATE, &big_order("big-1", "R", 60)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(visible_count(&t, "order__store_id=big-1").await, 60);
    assert_eq!(sweep(&t.app.store, after_deadlines()).await.unwrap(), Default::default(), "nothing left over");
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new(), "counters after a rolled-back write");
    assert_eq!(history_mismatches(&t).await, Vec::<String>::new(), "no entry of a rolled-back write");
}

#[tokio::test]
async fn a_write_killed_after_its_commit_is_settled_without_losing_a_concurrent_change() {
    let faults = Faults::default();
    let t = Tenant::of(isolated_app(&faults, true).await).await;
    let product = t.product("app").await;
    t.create("/api/v1/product-features/", &json!({"product": product, "name": "F", "code": "f"})).await;
    // Settling (removing the marks) never returns.
    faults.fail_matching(Service::DynamoDb, "TransactWriteItems", "REMOVE attempt", 1, Fault::Hang);
    let killed = tokio::time::timeout(Duration::from_secs(10), t.post(CREATE, &big_order("big-2", "C", 50))).await;
    assert!(killed.is_err(), "the request was cut off");
    faults.clear();
    assert_eq!(visible_count(&t, "order__store_id=big-2").await, 50, "committed: all visible");
    let keys: Vec<String> = (0..50).map(|i| format!("C-{i:03}")).collect();
    assert_eq!(marked_claims(&t, product, &keys).await, 50);

    // Meanwhile a manager changes one of them; settling must not write over it.
    let (_, list) = t.get("/api/v1/licenses/?license_key=C-007").await;
    let id = list["results"][0]["id"].as_u64().unwrap();
    let change = json!({"product_features": [{"product_feature": "f", "max_consumption": 7}]});
    let (status, body) = t.post(&format!("/api/v1/licenses/{id}/update_features/"), &change).await;
    assert_eq!(status, 200, "{body}");

    let report = sweep(&t.app.store, after_deadlines()).await.unwrap();
    assert_eq!((report.settled, report.rolled_back), (1, 0));
    assert_eq!(marked_claims(&t, product, &keys).await, 0, "no claim keeps its TTL");
    let (_, license) = t.get(&format!("/api/v1/licenses/{id}/")).await;
    assert_eq!(license["product_features"][0]["max_consumption"], 7, "{license}");
    assert_eq!(visible_count(&t, "order__store_id=big-2").await, 50);
}

/// Uploads a CSV file; the job id.
async fn upload(t: &Tenant, file: &str) -> u64 {
    let (status, body) = t.upload_csv("keys.csv", file.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    body["job_id"].as_u64().expect("job_id")
}

/// Runs the worker on `job` (as its follow-up message would); (created, existed) licenses.
async fn import(t: &Tenant, job: u64) -> (u64, u64) {
    let result = t.run_import_job(job).await;
    assert_eq!(result["status"], "success", "{result}");
    let counts = &result["result"];
    (counts["created_licenses_count"].as_u64().unwrap(), counts["existed_licenses_count"].as_u64().unwrap())
}

//! What real clients send (issue 13): each case from the field, replayed over HTTP against the
//! in-process front (`integration_tests::front`), as the client sent it. The next field case
//! goes here.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use integration_tests::front;
use serde_json::{json, Value};
use shared::imports::worker::{follow_up_body, handle_event, WorkerOptions};
use shared::imports::ImportJob;

/// A company of its own behind the HTTP front.
struct Client {
    base: String,
    key: String,
    app: &'static shared::App,
    company: u64,
}

impl Client {
    async fn new() -> Self {
        // A table of its own: some of these import thousands of rows.
        let faults = integration_tests::faults::Faults::default();
        let app: &'static shared::App = Box::leak(Box::new(integration_tests::isolated_app(&faults, true).await));
        let (company, key) = provision::create_company(&app.store, "compat").await.expect("company");
        Client { base: front::start(app).await, key, app, company }
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let auth = format!("Api-Key {}", self.key);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        front::send(method, &format!("{}{path}", self.base), &all, body).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, &[("Content-Type", "application/json")], b"").await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes()).await
    }

    async fn product(&self, code: &str, method: &str) -> u64 {
        let body = json!({"product_name": code, "short_code": code, "authorization_method": method});
        let (status, product) = self.post("/api/v1/products/", &body).await;
        assert_eq!(status, 201, "{product}");
        product["id"].as_u64().unwrap()
    }

    /// Uploads a CSV file as a multipart form; status and body.
    async fn upload(&self, content: &[u8]) -> (u16, Value) {
        let content_type = format!("multipart/form-data; boundary={}", integration_tests::MULTIPART_BOUNDARY);
        let body = integration_tests::multipart("file", "field.csv", content);
        self.call("POST", "/api/v1/licenses/import_from_csv/", &[("Content-Type", content_type.as_str())], &body).await
    }

    /// An `upload_url` job whose file is `content` (put where the presigned URL points); its id.
    async fn presigned(&self, content: Vec<u8>) -> u64 {
        let (_, upload) =
            self.post("/api/v1/licenses/import_from_csv/upload_url/", &json!({"file_name": "f.csv"})).await;
        let job = upload["job_id"].as_u64().unwrap();
        let stored: ImportJob = self.app.store.tenant(self.company).get(job).await.unwrap().unwrap();
        let bucket = self.app.config.import_bucket.clone().unwrap();
        self.app.s3.put_object().bucket(bucket).key(&stored.object_key).body(content.into()).send().await.unwrap();
        job
    }

    /// Runs the import worker on `job` as SQS would; the job's result.
    async fn import(&self, job: u64) -> Value {
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("m-{job}"));
        message.body = Some(follow_up_body(self.company, job));
        let mut event = SqsEvent::default();
        event.records = vec![message];
        let options = WorkerOptions {
            deadline: SystemTime::now() + Duration::from_secs(600),
            stop_margin: Duration::ZERO,
            lease_margin: Duration::ZERO,
        };
        handle_event(self.app, event, &options).await;
        self.get(&format!("/api/v1/licenses-import-results/{job}/")).await.1
    }
}

fn licenses(order: &Value) -> Vec<Value> {
    order["order_items"].as_array().unwrap().iter().flat_map(|i| i["licenses"].as_array().unwrap().clone()).collect()
}

#[tokio::test]
async fn go_sdk_zero_values_mean_not_given() {
    // 1. The Go SDK: unset structs as {}, unset times as year 1, the path without its slash.
    let c = Client::new().await;
    c.product("app", "license-key").await;
    let body = json!({"id": "o-1", "created": "0001-01-01T00:00:00Z", "customer": {}, "items": [{"product_code": "app",
        "licenses": [{"user": {}, "key": "K-1", "validity_period": "0001-01-01T00:00:00Z"}]}]});
    let (status, order) = c.post("/api/v1/orders/create_order", &body).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["customer"], Value::Null);
    let license = &licenses(&order)[0];
    assert_eq!(license["license_key"], "K-1");
    assert_eq!(license["license_users"], json!([]));
    assert_eq!(license["validity_period"], Value::Null);
    let created = shared::timefmt::parse_time(order["created_at"].as_str().unwrap()).unwrap();
    assert!((shared::timefmt::now() - created).whole_seconds().abs() < 60, "created now: {created}");
    let body = json!({"id": "o-2", "created": "", "items": [{"product_code": "app", "licenses": [{}]}]});
    assert_eq!(c.post("/api/v1/orders/create_order/", &body).await.0, 200);
}

#[tokio::test]
async fn django_dates_are_read_in_bodies_cells_and_filters() {
    // 2. A PHP plugin: one-digit day.
    let c = Client::new().await;
    c.product("app", "license-key").await;
    let body = json!({"id": "o-php", "created": "2019-06-5 14:03:09", "items": [{"product_code": "app",
        "licenses": [{"key": "D-1", "license_type": "time-limited", "validity_period": "2030-1-5"}]}]});
    let (status, order) = c.post("/api/v1/orders/create_order/", &body).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["created_at"], "2019-06-05T14:03:09Z");
    assert_eq!(licenses(&order)[0]["validity_period"], "2030-01-05");
    let (status, list) =
        c.get("/api/v1/licenses/?validity_period__gte=2030-1-5&validity_period__lt=2030-1-6%201:0").await;
    assert_eq!((status, list["count"].as_u64()), (200, Some(1)), "{list}");
    // A CSV cell.
    let file = b"license__license_key,product__short_code,license__license_type,license__validity_period\r\nD-2,app,time-limited,2031-2-3\r\n";
    let (status, body) = c.upload(file).await;
    assert_eq!(status, 200, "{body}");
    let result = c.import(body["job_id"].as_u64().unwrap()).await;
    assert_eq!(result["result"]["created_licenses_count"], 1, "{result}");
    let (_, list) = c.get("/api/v1/licenses/?license_key=D-2").await;
    assert_eq!(list["results"][0]["validity_period"], "2031-02-03");
}

#[tokio::test]
async fn one_user_object_and_unlimited_transfers() {
    // 3. A shop script.
    let c = Client::new().await;
    c.product("app", "license-key").await;
    let body = json!({"id": "o-shop", "items": [{"product_code": "app", "licenses": [{"key": "K-2",
        "users": {"email": "u@example.com", "is_manager": false}, "max_transfers": -1}]}]});
    let (status, order) = c.post("/api/v1/orders/create_order/", &body).await;
    assert_eq!(status, 200, "{order}");
    let license = &licenses(&order)[0];
    assert_eq!(license["license_users"].as_array().map(Vec::len), Some(1));
    assert_eq!(license["license_users"][0]["true_email"], "u@example.com");
    assert_eq!(license["max_transfers"], -1);
    let body = json!({"id": "o-shop-2", "items": [{"product_code": "app", "licenses": [{"max_transfers": -2}]}]});
    assert_eq!(c.post("/api/v1/orders/create_order/", &body).await.0, 400);
}

#[tokio::test]
async fn new_license_users_get_initial_passwords() {
    // 4. A trial portal: one user-based license per trial user, appended to a fixed order.
    let c = Client::new().await;
    c.product("trial", "user").await;
    let mut passwords = Vec::new();
    for user in ["ana@example.com", "bo@example.com"] {
        let body = json!({"id": "trials", "append": true, "items": [{"product_code": "trial",
            "licenses": [{"users": [{"email": user}]}]}]});
        let (status, order) = c.post("/api/v1/orders/create_order/", &body).await;
        assert_eq!(status, 200, "{order}");
        let found = licenses(&order)
            .into_iter()
            .flat_map(|l| l["license_users"].as_array().unwrap().clone())
            .find(|u| u["true_email"] == user)
            .expect("the user's license");
        let password = found["initial_password"].as_str().unwrap().to_string();
        assert!(password.len() >= 10, "{found}");
        assert_eq!(found["is_initial_password"], true);
        passwords.push((found["id"].clone(), password));
    }
    assert_ne!(passwords[0].1, passwords[1].1);
    // An existing user keeps its password (and id) on another license; a given password is
    // set instead of a generated one, and never shown.
    let body = json!({"id": "more", "items": [{"product_code": "trial", "licenses": [
        {"users": [{"email": "ANA@example.com"}]},
        {"users": [{"email": "cy@example.com", "password": "chosen-by-shop"}]}]}]});
    let (status, order) = c.post("/api/v1/orders/create_order/", &body).await;
    assert_eq!(status, 200, "{order}");
    let users: Vec<Value> = licenses(&order).into_iter().map(|l| l["license_users"][0].clone()).collect();
    assert_eq!((users[0]["id"].clone(), users[0]["initial_password"].as_str().unwrap().to_string()), passwords[0]);
    assert_eq!(
        (users[1]["initial_password"].clone(), users[1]["is_initial_password"].clone()),
        (json!(""), json!(false))
    );
    assert!(!order.to_string().contains("chosen-by-shop"));
}

#[tokio::test]
async fn empty_and_unknown_parameters_are_not_applied() {
    // 5. The Go SDK's customer search sends every field; 6. shop scripts leave parameters.
    let c = Client::new().await;
    c.product("app", "license-key").await;
    for (email, reference) in [("a@example.com", "R-1"), ("b@example.com", "R-2")] {
        c.post("/api/v1/customers/", &json!({"email": email, "reference": reference})).await;
    }
    let (status, list) =
        c.get("/api/v1/customers/?email=&email__icontains=&label__in=&account=&reference__exact=R-1").await;
    assert_eq!((status, list["count"].as_u64()), (200, Some(1)), "{list}");
    let (status, list) = c.get("/api/v1/products/?product=app&quantity=1").await;
    assert_eq!((status, list["count"].as_u64()), (200, Some(1)));
    let (status, body) = c.call("GET", "/api/v1/products/?product=app", &[("Prefer", "handling=strict")], b"").await;
    assert_eq!(status, 400);
    assert!(body["product"].is_array(), "{body}");
    // The Go SDK's names and its sort_descending.
    for key in ["G-1", "G-2", "H-1"] {
        let body = json!({"id": format!("o-{key}"), "items": [{"product_code": "app", "licenses": [{"key": key}]}]});
        c.post("/api/v1/orders/create_order/", &body).await;
    }
    let (_, list) = c.get("/api/v1/licenses/?license_key_starts_with=G-&sort_descending=true").await;
    let keys: Vec<&str> =
        list["results"].as_array().unwrap().iter().map(|l| l["license_key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["G-2", "G-1"]);
    let (_, list) = c.get("/api/v1/licenses/?order_store_id=o-H-1&license_key_contains=h").await;
    assert_eq!(list["count"], 1);
}

#[tokio::test]
async fn lists_other_than_licenses_answer_up_to_1000() {
    // 7. A script fetches every customer in one call.
    let c = Client::new().await;
    c.product("app", "license-key").await;
    for i in 0..3 {
        c.post("/api/v1/customers/", &json!({"email": format!("c{i}@example.com")})).await;
    }
    let (status, list) = c.get("/api/v1/customers/?limit=5854").await;
    assert_eq!((status, list["results"].as_array().map(Vec::len)), (200, Some(3)));
    assert_eq!(list["next"], Value::Null);
    let (_, list) = c.get("/api/v1/customers/?limit=5854&offset=1").await;
    assert!(list["previous"].as_str().unwrap().contains("limit=1000"), "{list}");
    let (_, list) = c.get("/api/v1/licenses/?limit=5854").await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn excel_csv_files_import() {
    // 8. Excel in European locales (`;`), and its "Unicode Text" (UTF-16, tabs).
    let c = Client::new().await;
    c.product("app", "license-key").await;
    let (status, body) = c.upload(b"license__license_key;product__short_code\r\nK-3;app\r\n").await;
    assert_eq!(status, 200, "{body}");
    let result = c.import(body["job_id"].as_u64().unwrap()).await;
    assert_eq!(result["result"]["created_licenses_count"], 1, "{result}");
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend("license__license_key\tproduct__short_code\r\nK-4\tapp\r\n".encode_utf16().flat_map(u16::to_le_bytes));
    let (status, body) = c.upload(&utf16).await;
    assert_eq!(status, 200, "{body}");
    let result = c.import(body["job_id"].as_u64().unwrap()).await;
    assert_eq!(result["result"]["created_licenses_count"], 1, "{result}");
    assert_eq!(c.get("/api/v1/licenses/?license_key=K-4").await.1["count"], 1);
    // A large UTF-16 file comes through upload_url: the worker converts it in ranges.
    let mut big = String::from("license__license_key\tproduct__short_code\tcustomer__email\tcustomer__first_name\r\n");
    for i in 0..3_000 {
        big.push_str(&format!("U-{i:05}\tapp\tu{i}@example.com\tRené Ærø 名前 {i}\r\n"));
    }
    let mut utf16 = vec![0xFE, 0xFF];
    utf16.extend(big.encode_utf16().flat_map(u16::to_be_bytes));
    let result = c.import(c.presigned(utf16).await).await;
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["result"]["created_licenses_count"], 3_000, "{}", &result.to_string()[..600]);
    let (_, list) = c.get("/api/v1/licenses/?license_key=U-02999").await;
    assert_eq!(list["results"][0]["customer"]["first_name"], "René Ærø 名前 2999", "{list}");

    let (status, body) = c.upload(b"license__license_key|product__short_code\r\nK-5|app\r\n").await;
    assert_eq!(status, 400);
    assert!(body["file"][0].as_str().unwrap().contains("tried: comma, semicolon, tab"), "{body}");
}

#[tokio::test]
async fn a_file_not_in_a_supported_encoding_is_refused_before_anything_is_written() {
    // 9. A Windows-1252 `é` in a data row.
    let c = Client::new().await;
    c.product("app", "license-key").await;
    let file = b"license__license_key,product__short_code,customer__first_name\r\nK-6,app,Ana\r\nK-7,app,Ren\xe9\r\n";
    let (status, body) = c.upload(file).await;
    assert_eq!(status, 400);
    assert!(body["file"][0].as_str().unwrap().starts_with("Line 3 "), "{body}");
    let (_, jobs) = c.get("/api/v1/licenses-import-results/").await;
    assert_eq!(jobs["count"], 0, "nothing queued");
    // Through a presigned upload the job ends `error` before any row is written.
    let result = c.import(c.presigned(file.to_vec()).await).await;
    assert_eq!(result["status"], "error", "{result}");
    assert!(result["error"].as_str().unwrap().starts_with("Line 3 "), "{result}");
    assert_eq!(c.get("/api/v1/licenses/?license_key=K-6").await.1["count"], 0, "no row written");
}

#[tokio::test]
async fn the_customers_own_account_wins() {
    // 10.
    let c = Client::new().await;
    c.product("app", "license-key").await;
    for code in ["acc-A", "acc-B"] {
        let (status, body) = c.post("/api/v1/customer-accounts/", &json!({"name": code, "code": code})).await;
        assert_eq!(status, 201, "{body}");
    }
    let body = json!({"id": "o-acc", "customer_account_code": "acc-B",
        "customer": {"email": "acc@example.com", "customer_account_code": "acc-A"},
        "items": [{"product_code": "app", "licenses": [{"key": "ACC-1"}]}]});
    let (status, order) = c.post("/api/v1/orders/create_order/", &body).await;
    assert_eq!(status, 200, "{order}");
    let (_, accounts) = c.get("/api/v1/customer-accounts/?code=acc-B").await;
    assert_eq!(order["customer_account"], accounts["results"][0]["id"]);
    let (_, list) = c.get("/api/v1/licenses/?customer__account__code=acc-A").await;
    assert_eq!(list["count"], 1);
    let (_, list) = c.get("/api/v1/licenses/?customer__account__code=acc-B").await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn any_scalar_field_orders_and_the_vendors_spellings_come_back() {
    // 11. order_by on a text field; 12. "annualy" as sent.
    let c = Client::new().await;
    let app = c.product("app", "license-key").await;
    for key in ["B-2", "A-9", "C-1", "A-9x"] {
        let body = json!({"id": format!("o-{key}"), "items": [{"product_code": "app", "licenses": [{"key": key}]}]});
        c.post("/api/v1/orders/create_order/", &body).await;
    }
    let (status, list) = c.get("/api/v1/licenses/?order_by=license_key").await;
    assert_eq!(status, 200, "{list}");
    let keys: Vec<&str> =
        list["results"].as_array().unwrap().iter().map(|l| l["license_key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["A-9", "A-9x", "B-2", "C-1"]);
    let (status, _) = c.get("/api/v1/licenses/?order_by=-note").await;
    assert_eq!(status, 200);
    let body = json!({"product": app, "name": "Export", "code": "export", "feature_type": "consumption",
        "consumption_period": "annualy"});
    let (status, feature) = c.post("/api/v1/product-features/", &body).await;
    assert_eq!((status, feature["consumption_period"].clone()), (201, json!("annualy")));
}

//! Test support: a moto-backed stack created once per test process, fresh companies per test
//! (so tests run in parallel without seeing each other), and requests routed to the same
//! handlers API Gateway routes to.

pub mod faults;
pub mod front;
pub mod license_api;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::catalog::{handle, CustomField, Customer, CustomerAccount, Feature, LicenseTemplate, Product};
use shared::config::Config;
use shared::ids::Id;
use shared::imports::handlers as imports;
use shared::licenses::handlers as licenses;
use shared::licenses::lifecycle;
use shared::orders::handlers as orders;
use shared::App;
use tokio::sync::OnceCell;

static STACK: OnceCell<provision::Stack> = OnceCell::const_new();

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// The License API secret tests use unless `LICENSE_API_SECRET` names another.
pub const LICENSE_API_SECRET: &str = "licensing-test-license-api";

/// The configuration tests run with; the stack is created on first use.
pub async fn app() -> App {
    let sdk = aws_config::load_from_env().await;
    app_with(&sdk).await
}

/// An app whose AWS calls pass through `faults`. With `retries` off, each injected fault fails
/// its call outright (else the SDK's standard retries may absorb it, as in production).
pub async fn app_with_faults(faults: &faults::Faults, retries: bool) -> App {
    let sdk = aws_config::load_from_env().await;
    let mut sdk = faults.wrap(&sdk).into_builder();
    // A hung call must stay hung (a killed Lambda), not be given up on by the SDK's
    // stalled-stream protection and retried.
    sdk.set_stalled_stream_protection(Some(
        aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
    ));
    if !retries {
        sdk.set_retry_config(Some(aws_config::retry::RetryConfig::disabled()));
    }
    app_with(&sdk.build()).await
}

/// Like [`app_with_faults`], on a table of its own (the bucket and queue are shared): for tests
/// that sweep staged writes of every company, which must not touch other tests' writes.
pub async fn isolated_app(faults: &faults::Faults, retries: bool) -> App {
    let mut app = app_with_faults(faults, retries).await;
    let table = format!("isolated-{}", shared::ids::new_lease_owner());
    provision::create_table(app.store.client(), &table).await.expect("create an isolated table");
    app.config.table_name = table.clone();
    app.store = shared::store::Store::new(app.store.client().clone(), table);
    app
}

async fn app_with(sdk: &aws_config::SdkConfig) -> App {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "integration tests need moto server: run them with `make test`");
    let names = provision::StackNames {
        table: env_or("TABLE_NAME", "licensing-test"),
        bucket: env_or("IMPORT_BUCKET", "licensing-test-imports"),
        queue: env_or("IMPORT_QUEUE_NAME", "licensing-test-imports"),
        license_api_secret: env_or("LICENSE_API_SECRET", LICENSE_API_SECRET),
    };
    let stack = STACK
        .get_or_init(|| async { provision::create_stack(sdk, &names).await.expect("create the test stack in moto") })
        .await;
    let config = Config {
        table_name: names.table,
        import_bucket: Some(names.bucket),
        import_queue_url: Some(stack.queue_url.clone()),
        license_api_secret: Some(names.license_api_secret),
    };
    App::new(config, sdk)
}

/// Sends a request to the handler API Gateway would route it to. Each handler's future is
/// boxed: one enum of all of them would be as large as the largest, on every test's stack.
pub async fn dispatch(app: &App, req: Request) -> Response<Body> {
    use std::future::Future;
    use std::pin::Pin;
    type Handler<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;
    let path = req.uri().path().to_string();
    if let Some(endpoint) = path.split("/api/v4/").nth(1) {
        use shared::license_api::handlers as v4;
        use shared::license_api::{bundles, floating, usage};
        let handler: Handler = match endpoint.trim_end_matches('/') {
            "activate_license" => Box::pin(v4::activate_license_handler(app, req)),
            "check_license" => Box::pin(v4::check_license_handler(app, req)),
            "deactivate_license" => Box::pin(v4::deactivate_license_handler(app, req)),
            "product_details" => Box::pin(v4::product_details_handler(app, req)),
            "change_password" => Box::pin(v4::change_password_handler(app, req)),
            "trial_key" => Box::pin(shared::license_api::trials::trial_key_handler(app, req)),
            "user_licenses" => Box::pin(shared::license_api::directory::user_licenses_handler(app, req)),
            "customer_license_users" => {
                Box::pin(shared::license_api::directory::customer_license_users_handler(app, req))
            }
            "add_consumption" => Box::pin(usage::add_consumption_handler(app, req)),
            "add_feature_consumption" => Box::pin(usage::add_feature_consumption_handler(app, req)),
            "check_license_feature" => Box::pin(usage::check_license_feature_handler(app, req)),
            "track_device_variables" => Box::pin(usage::track_device_variables_handler(app, req)),
            "get_device_variables" => Box::pin(usage::get_device_variables_handler(app, req)),
            "floating/borrow" => Box::pin(floating::floating_borrow_handler(app, req)),
            "floating/release" => Box::pin(floating::floating_release_handler(app, req)),
            "floating/feature_borrow" => Box::pin(floating::feature_borrow_handler(app, req)),
            "floating/feature_release" => Box::pin(floating::feature_release_handler(app, req)),
            "activate_bundle" => Box::pin(bundles::activate_bundle_handler(app, req)),
            "check_bundle" => Box::pin(bundles::check_bundle_handler(app, req)),
            "deactivate_bundle" => Box::pin(bundles::deactivate_bundle_handler(app, req)),
            _ => Box::pin(shared::http::not_found(app, req)),
        };
        return handler.await;
    }
    if path == "/" {
        return Box::pin(shared::license_api::handlers::root_handler(app, req)).await;
    }
    let segments = shared::http::api_segments(req.uri().path()).unwrap_or_default();
    let handler: Handler = match segments.first().map(String::as_str) {
        Some("products") if segments.len() == 3 => Box::pin(shared::catalog::products::bundle_handler(app, req)),
        Some("products") => Box::pin(handle::<Product>(app, req)),
        Some("product-features") => Box::pin(handle::<Feature>(app, req)),
        Some("product-custom-fields") => Box::pin(handle::<CustomField>(app, req)),
        Some("license-templates") => Box::pin(handle::<LicenseTemplate>(app, req)),
        Some("customer-accounts") => Box::pin(handle::<CustomerAccount>(app, req)),
        Some("customers") => Box::pin(handle::<Customer>(app, req)),
        Some("orders") => match segments.get(1).map(String::as_str) {
            None => Box::pin(orders::list_orders_handler(app, req)),
            Some("create_order") => Box::pin(orders::create_order_handler(app, req)),
            Some("generate_license") => Box::pin(orders::generate_license_handler(app, req)),
            Some(_) if req.method() == Method::PATCH => {
                Box::pin(shared::orders::update::update_order_handler(app, req))
            }
            Some(_) => Box::pin(orders::get_order_handler(app, req)),
        },
        Some("licenses") => match (segments.get(1).map(String::as_str), segments.get(2)) {
            (Some("import_from_csv"), None) => Box::pin(imports::import_from_csv_handler(app, req)),
            (Some("import_from_csv"), Some(_)) => Box::pin(imports::upload_url_handler(app, req)),
            (None, _) => Box::pin(licenses::list_licenses_handler(app, req)),
            (Some("disable_bulk"), None) => Box::pin(lifecycle::disable_bulk_handler(app, req)),
            (Some("bulk_update"), None) => Box::pin(lifecycle::bulk_update_handler(app, req)),
            (Some(_), None) => match *req.method() {
                Method::PATCH => Box::pin(lifecycle::patch_license_handler(app, req)),
                Method::DELETE => Box::pin(lifecycle::delete_license_handler(app, req)),
                _ => Box::pin(licenses::get_license_handler(app, req)),
            },
            (Some(_), Some(action)) => match action.as_str() {
                "enable" | "disable" => Box::pin(lifecycle::set_enabled_handler(app, req)),
                "reset" => Box::pin(lifecycle::reset_handler(app, req)),
                "assign_user" | "assign_users" | "unassign_user" | "set_users_activations" => {
                    Box::pin(shared::licenses::assignments::license_user_assignments_handler(app, req))
                }
                _ => Box::pin(licenses::update_features_handler(app, req)),
            },
        },
        Some("license-custom-fields") => {
            Box::pin(shared::licenses::custom_field_values::license_custom_fields_handler(app, req))
        }
        Some("devices") => match segments.get(2).map(String::as_str) {
            Some("reset") => Box::pin(shared::licenses::devices::reset_device_handler(app, req)),
            Some("blacklist") => Box::pin(shared::licenses::devices::blacklist_device_handler(app, req)),
            _ => Box::pin(shared::licenses::devices::devices_handler(app, req)),
        },
        Some("license-activation-histories") => {
            Box::pin(shared::licenses::activations::activation_histories_handler(app, req))
        }
        Some("license-users") => Box::pin(shared::licenses::license_users::license_users_handler(app, req)),
        Some("license-histories") => Box::pin(shared::licenses::history::license_histories_handler(app, req)),
        Some("licenses-import-results") => match segments.get(1) {
            None => Box::pin(imports::list_import_results_handler(app, req)),
            Some(_) => Box::pin(imports::get_import_result_handler(app, req)),
        },
        _ => Box::pin(shared::http::not_found(app, req)),
    };
    handler.await
}

pub fn request(method: Method, path: &str, auth: Option<&str>, body: Option<&Value>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "testserver")
        .header("content-type", "application/json");
    if let Some(auth) = auth {
        builder = builder.header("authorization", auth);
    }
    let body = body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
    builder.body(body).expect("a valid request")
}

/// The status and JSON body of a response.
pub fn read(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes: &[u8] = response.body().as_ref();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(bytes).expect("a JSON body") };
    (status, body)
}

/// A fresh company with an admin key.
pub struct Tenant {
    pub app: App,
    pub company: Id,
    pub key: String,
}

impl Tenant {
    pub async fn new() -> Self {
        Self::of(app().await).await
    }

    /// A fresh company on a table of its own: for tests that write thousands of items, which
    /// would slow every other test's Queries (moto reads a whole table for each).
    pub async fn isolated() -> Self {
        Self::of(isolated_app(&faults::Faults::default(), true).await).await
    }

    /// A fresh company served by `app` (one made with [`app_with_faults`], say).
    pub async fn of(app: App) -> Self {
        let (company, key) = provision::create_company(&app.store, "test company").await.expect("create company");
        Tenant { app, company, key }
    }

    /// A fresh company founded `days` ago (its id encodes the time), for data spanning months,
    /// served by `app`.
    pub async fn founded_days_ago(app: App, days: i64) -> Self {
        let at = shared::timefmt::now() - time::Duration::days(days);
        let company = shared::ids::first_id_at(at) + rand::random_range(0..1u64 << 22);
        let record = shared::store::Company { id: company, name: "an older company".into(), created_at: at };
        app.store.put_company(&record).await.expect("put company");
        let key = provision::create_api_key(&app.store, company, None).await.expect("create key");
        Tenant { app, company, key }
    }

    /// Runs the import worker on `job` as its follow-up message would, with ten minutes to go;
    /// the job's result afterwards (it must have ended, every message acknowledged).
    pub async fn run_import_job(&self, job: Id) -> Value {
        use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
        use shared::imports::worker::{follow_up_body, handle_event, WorkerOptions};
        let mut message = SqsMessage::default();
        message.message_id = Some("m".into());
        message.body = Some(follow_up_body(self.company, job));
        let mut event = SqsEvent::default();
        event.records = vec![message];
        let options = WorkerOptions {
            deadline: std::time::SystemTime::now() + std::time::Duration::from_secs(600),
            stop_margin: std::time::Duration::ZERO,
            lease_margin: std::time::Duration::ZERO,
        };
        assert!(handle_event(&self.app, event, &options).await.batch_item_failures.is_empty());
        self.get(&format!("/api/v1/licenses-import-results/{job}/")).await.1
    }

    /// Another key of this company, scoped to `products`.
    pub async fn scoped_key(&self, products: &[Id]) -> String {
        provision::create_api_key(&self.app.store, self.company, Some(products.to_vec())).await.expect("create key")
    }

    pub async fn call_as(&self, key: Option<&str>, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = key.map(|k| format!("Api-Key {k}"));
        read(dispatch(&self.app, request(method, path, auth.as_deref(), body)).await)
    }

    /// POSTs a body of any content type (multipart uploads, malformed bodies).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let req = lambda_http::http::Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", "testserver")
            .header("content-type", content_type)
            .header("authorization", format!("Api-Key {}", self.key))
            .body(Body::Binary(body))
            .expect("a request");
        read(dispatch(&self.app, req).await)
    }

    /// Uploads a CSV file as a client would (multipart, field `file`): status and body.
    pub async fn upload_csv(&self, file_name: &str, content: &[u8]) -> (u16, Value) {
        let content_type = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
        self.post_raw("/api/v1/licenses/import_from_csv/", &content_type, multipart("file", file_name, content)).await
    }

    /// GET with `Prefer: handling=strict`: unknown query parameters are a 400 (API.md §1).
    pub async fn get_strict(&self, path: &str) -> (u16, Value) {
        let mut req = request(Method::GET, path, Some(&format!("Api-Key {}", self.key)), None);
        req.headers_mut().insert("prefer", "handling=strict".parse().expect("a header value"));
        read(dispatch(&self.app, req).await)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call_as(Some(&self.key), Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call_as(Some(&self.key), Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call_as(Some(&self.key), Method::PATCH, path, Some(body)).await
    }

    /// POSTs and expects 201; returns the created object's id.
    pub async fn create(&self, path: &str, body: &Value) -> Id {
        let (status, created) = self.post(path, body).await;
        assert_eq!(status, 201, "POST {path} {body}: {created}");
        created["id"].as_u64().expect("an id")
    }

    /// A key-based product with a unique short code.
    pub async fn product(&self, short_code: &str) -> Id {
        self.create("/api/v1/products/", &serde_json::json!({"product_name": short_code, "short_code": short_code}))
            .await
    }

    /// A bundle product `short_code` of `members`, each a new product with a policy
    /// `<member>-p` of `max_activations` (a bundle order names one per license).
    pub async fn bundle(&self, short_code: &str, members: &[&str], max_activations: i64) -> Id {
        use serde_json::json;
        for code in members {
            let product = self.product(code).await;
            let policy = json!({"product": product, "name": code, "code": format!("{code}-p"), "max_activations": max_activations});
            self.create("/api/v1/license-templates/", &policy).await;
        }
        let bundle = json!({"product_name": short_code, "short_code": short_code, "is_bundle": true, "bundle_products": members});
        self.create("/api/v1/products/", &bundle).await
    }
}

pub const MULTIPART_BOUNDARY: &str = "----import-test-boundary";

/// A multipart/form-data body with `content` as the file `file_name` under `field`.
pub fn multipart(field: &str, file_name: &str, content: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
    body
}

/// The ids of a list response's results.
pub fn ids(list: &Value) -> Vec<Id> {
    list["results"].as_array().expect("results").iter().map(|r| r["id"].as_u64().expect("id")).collect()
}

/// Tenant isolation and manager scoping of a resource that belongs to a product, at `path`
/// (e.g. `/api/v1/product-features/`); `body(product)` must be a valid create body.
pub async fn check_product_scoping(path: &str, body: impl Fn(Id) -> Value) {
    use serde_json::json;
    let a = Tenant::new().await;
    let b = Tenant::new().await;
    let app = a.product("app").await;
    let hidden = a.product("hidden").await;
    let mine = a.create(path, &body(app)).await;
    let theirs = a.create(path, &body(hidden)).await;

    // Another company: not found, not listed, and the product id means nothing to it.
    assert_eq!(b.get(&format!("{path}{mine}/")).await.0, 404);
    assert_eq!(b.patch(&format!("{path}{mine}/"), &json!({})).await.0, 404);
    assert_eq!(b.get(path).await.1["count"], 0);
    assert_eq!(b.post(path, &body(app)).await.0, 400);

    // A manager scoped to `app` sees and writes only what belongs to it.
    let key = a.scoped_key(&[app]).await;
    let (_, list) = a.call_as(Some(&key), Method::GET, path, None).await;
    assert_eq!(ids(&list), [mine]);
    let (status, _) = a.call_as(Some(&key), Method::GET, &format!("{path}{theirs}/"), None).await;
    assert_eq!(status, 404);
    let (status, _) = a.call_as(Some(&key), Method::PATCH, &format!("{path}{theirs}/"), Some(&json!({}))).await;
    assert_eq!(status, 404);
    let (status, _) = a.call_as(Some(&key), Method::POST, path, Some(&body(hidden))).await;
    assert_eq!(status, 403);
    let (status, _) = a.call_as(Some(&key), Method::PATCH, &format!("{path}{mine}/"), Some(&json!({}))).await;
    assert_eq!(status, 200);
}

/// Every entity of the tenant whose `entity` attribute is `E::KIND` (a Scan: the harness reads
/// everything at once; an API list would cost a Query per page per key on moto).
pub async fn scan<E: shared::store::Entity>(t: &Tenant) -> Vec<E> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut entities = Vec::new();
    let mut start = None;
    loop {
        let out = t
            .app
            .store
            .client()
            .scan()
            .table_name(t.app.store.table())
            .filter_expression("entity = :kind AND begins_with(PK, :tenant)")
            .expression_attribute_values(":kind", AttributeValue::S(E::KIND.into()))
            .expression_attribute_values(":tenant", AttributeValue::S(format!("T#{}#", t.company)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in out.items.unwrap_or_default() {
            entities.push(shared::store::from_item(item).expect("an entity of its kind"));
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return entities;
        }
    }
}

/// Every visible license has exactly one `created` or `imported` history entry (API.md §8.4),
/// settled; every such entry has its license, or a `deleted` entry after it: the mismatches.
pub async fn history_mismatches(t: &Tenant) -> Vec<String> {
    use shared::licenses::history::HistoryEntry;
    use shared::licenses::License;
    use shared::orders::Order;
    use std::collections::{HashMap, HashSet};
    let orders: HashMap<Id, Order> = scan::<Order>(t).await.into_iter().map(|o| (o.id, o)).collect();
    let licenses: HashSet<Id> = scan::<License>(t)
        .await
        .into_iter()
        .filter(|l| l.attempt.is_none() || orders.get(&l.order).is_some_and(|o| o.shows(l)))
        .map(|l| l.id)
        .collect();
    let entries = scan::<HistoryEntry>(t).await;
    let deleted: HashSet<Id> = entries.iter().filter(|e| e.action == "deleted").map(|e| e.license).collect();
    let mut creations: HashMap<Id, usize> = HashMap::new();
    let mut mismatches = Vec::new();
    for entry in entries.iter().filter(|e| e.action == "created" || e.action == "imported") {
        *creations.entry(entry.license).or_default() += 1;
        if entry.attempt.is_some() {
            mismatches.push(format!("license {}: its {} entry is still marked", entry.license, entry.action));
        }
        if !licenses.contains(&entry.license) && !deleted.contains(&entry.license) {
            mismatches.push(format!("license {}: a {} entry but no license", entry.license, entry.action));
        }
    }
    for license in &licenses {
        let n = creations.get(license).copied().unwrap_or(0);
        if n != 1 {
            mismatches.push(format!("license {license}: {n} creation entries"));
        }
    }
    mismatches
}

/// Every counter of the tenant (licenses per company, product and creation month; each
/// order's `license_count` and each customer's `total_licenses`; the orders, customers and
/// import jobs) against a recount: the mismatches, described.
pub async fn counter_mismatches(t: &Tenant) -> Vec<String> {
    use shared::licenses::License;
    use shared::orders::Order;
    use std::collections::HashMap;
    let orders: HashMap<Id, Order> = scan::<Order>(t).await.into_iter().map(|o| (o.id, o)).collect();
    let licenses: Vec<License> = scan::<License>(t)
        .await
        .into_iter()
        .filter(|l| l.attempt.is_none() || orders.get(&l.order).is_some_and(|o| o.shows(l)))
        .collect();
    let mut mismatches = Vec::new();
    let store = t.app.store.tenant(t.company);
    let counters = store.license_counters().await.expect("the license counters");
    let total = counters.total;
    if total != licenses.len() as i64 {
        mismatches.push(format!("company counter {total} but {} licenses", licenses.len()));
    }
    let mut per_product: HashMap<Id, i64> = HashMap::new();
    let mut per_month: HashMap<(i32, u8), i64> = HashMap::new();
    let mut per_order: HashMap<Id, i64> = HashMap::new();
    let mut per_customer: HashMap<Id, i64> = HashMap::new();
    for l in &licenses {
        *per_product.entry(l.product).or_default() += 1;
        *per_month.entry((l.created_at.year(), l.created_at.month() as u8)).or_default() += 1;
        *per_order.entry(l.order).or_default() += 1;
        if let Some(customer) = l.customer {
            *per_customer.entry(customer).or_default() += 1;
        }
    }
    for (product, n) in &per_product {
        let counted = counters.products.get(product).copied().unwrap_or(0);
        if counted != *n {
            mismatches.push(format!("product {product}: counter {counted} but {n} licenses"));
        }
    }
    for (month, n) in &per_month {
        let counted = counters.months.get(month).copied().unwrap_or(0);
        if counted != *n {
            mismatches.push(format!("month {month:?}: counter {counted} but {n} licenses"));
        }
    }
    for order in orders.values() {
        let n = per_order.get(&order.id).copied().unwrap_or(0);
        if order.license_count != n {
            mismatches
                .push(format!("order {}: license_count {} but {n} licenses", order.store_id, order.license_count));
        }
    }
    let customers = scan::<Customer>(t).await;
    let jobs = scan::<shared::imports::ImportJob>(t).await.len() as i64;
    let users = scan::<shared::licenses::users::CompanyUser>(t).await.len() as i64;
    use shared::licenses::activations::ActivationEntry;
    let activations = scan::<ActivationEntry>(t).await.len() as i64;
    let entities = [
        ("orders", store.entity_count::<Order>().await, orders.len() as i64),
        ("customers", store.entity_count::<Customer>().await, customers.len() as i64),
        ("import jobs", store.entity_count::<shared::imports::ImportJob>().await, jobs),
        ("license users", store.entity_count::<shared::licenses::users::CompanyUser>().await, users),
        ("activation entries", store.entity_count::<ActivationEntry>().await, activations),
    ];
    for (kind, counted, n) in entities {
        let counted = counted.expect("an entity counter");
        if counted != n {
            mismatches.push(format!("{kind}: counter {counted} but {n}"));
        }
    }
    // Custom field values: the company's and each field's.
    let mut per_field: HashMap<Id, i64> = HashMap::new();
    for value in licenses.iter().flat_map(|l| l.custom_fields.iter()) {
        *per_field.entry(value.field).or_default() += 1;
    }
    let all_values: i64 = per_field.values().sum();
    let counted =
        store.counter(shared::store::keys::CUSTOM_FIELD_VALUES_COUNTER_PREFIX).await.expect("the value counter");
    if counted != all_values {
        mismatches.push(format!("custom field values: counter {counted} but {all_values}"));
    }
    let catalog = shared::catalog::Catalog::load(store).await.expect("the catalog");
    for field in &catalog.custom_fields {
        let n = per_field.get(&field.id).copied().unwrap_or(0);
        let counted =
            store.counter(&shared::store::keys::custom_field_counter_prefix(field.id)).await.expect("a field counter");
        if counted != n {
            mismatches.push(format!("custom field {}: counter {counted} but {n} values", field.name));
        }
    }
    // Devices (active and blacklisted, each with a marker): the company's and each product's.
    use shared::store::keys::{devices_counter_prefix, DEVICES_COUNTER_PREFIX};
    let devices_of = |product: Option<Id>| {
        licenses
            .iter()
            .filter(move |l| product.is_none_or(|p| l.product == p))
            .map(|l| l.devices.iter().chain(&l.blacklisted_devices).filter(|d| d.id != 0).count() as i64)
    };
    let counted = store.counter(DEVICES_COUNTER_PREFIX).await.expect("the device counter");
    if counted != devices_of(None).sum::<i64>() {
        mismatches.push(format!("devices: counter {counted} but {}", devices_of(None).sum::<i64>()));
    }
    for product in &catalog.products {
        let counted = store.counter(&devices_counter_prefix(product.id)).await.expect("a device counter");
        let n: i64 = devices_of(Some(product.id)).sum();
        if counted != n {
            mismatches.push(format!("devices of {}: counter {counted} but {n}", product.short_code));
        }
    }
    for customer in customers {
        let n = per_customer.get(&customer.id).copied().unwrap_or(0);
        if customer.total_licenses != n {
            mismatches.push(format!(
                "customer {}: total_licenses {} but {n} licenses",
                customer.email, customer.total_licenses
            ));
        }
    }
    mismatches
}

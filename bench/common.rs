//! What the benchmarks share: a tenant in a fresh stack, and counting DynamoDB requests by
//! operation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use lambda_http::http::Method;
use serde_json::Value;
use shared::config::Config;
use shared::ids::Id;
use shared::App;

/// The stack of `TABLE_NAME` (created if missing), an app whose DynamoDB requests are counted,
/// and a new company with its admin key.
pub struct BenchTenant {
    pub app: App,
    pub counter: CountRequests,
    pub company: Id,
    /// The `Authorization` header value.
    pub auth: String,
}

impl BenchTenant {
    pub async fn new() -> Self {
        let sdk = aws_config::load_from_env().await;
        let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "licensing-bench".into());
        let names = provision::StackNames {
            table: table.clone(),
            bucket: format!("{table}-imports"),
            queue: table.clone(),
            license_api_secret: format!("{table}-license-api"),
        };
        let stack = provision::create_stack(&sdk, &names).await.expect("create the stack");
        let counter = CountRequests::default();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build(),
        );
        let config = Config {
            table_name: table,
            import_bucket: Some(names.bucket.clone()),
            import_queue_url: Some(stack.queue_url),
            license_api_secret: Some(names.license_api_secret.clone()),
        };
        let app = App::with_dynamodb(config, &sdk, dynamodb);
        let (company, key) = provision::create_company(&app.store, "bench").await.expect("company");
        BenchTenant { app, counter, company, auth: format!("Api-Key {key}") }
    }
}

impl BenchTenant {
    /// A request to the handler API Gateway would route it to, with this tenant's key.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let req = integration_tests::request(method, path, Some(&self.auth), body);
        integration_tests::read(integration_tests::dispatch(&self.app, req).await)
    }
}

/// The value at fraction `p` of sorted latencies.
/// One endpoint's runs: each call's latency and the DynamoDB requests it sent, printed as a
/// row of `| name | runs | p50 ms | p99 ms | requests per call (by operation) |`.
#[derive(Default)]
pub struct CallTally {
    latencies: Vec<f64>,
    requests: BTreeMap<String, u64>,
}

impl CallTally {
    pub fn record(&mut self, ms: f64, requests: BTreeMap<String, u64>) {
        self.latencies.push(ms);
        for (op, n) in requests {
            *self.requests.entry(op).or_default() += n;
        }
    }

    pub fn row(mut self, name: &str) -> String {
        let runs = self.latencies.len().max(1);
        self.latencies.sort_by(f64::total_cmp);
        let total: u64 = self.requests.values().sum();
        let by_op: Vec<String> =
            self.requests.iter().map(|(op, n)| format!("{op} {}", *n as f64 / runs as f64)).collect();
        format!(
            "| {name} | {} | {:.1} | {:.1} | {} ({}) |",
            self.latencies.len(),
            percentile(&self.latencies, 0.5),
            percentile(&self.latencies, 0.99),
            total as f64 / runs as f64,
            by_op.join(", ")
        )
    }
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// An SDK interceptor counting requests by DynamoDB operation (the `X-Amz-Target` header).
#[derive(Debug, Clone, Default)]
pub struct CountRequests(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_string();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(operation).or_default() += 1;
        Ok(())
    }
}

impl CountRequests {
    /// The counts since the last call.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

//! A fault-injecting layer for tests (issue 11, item 9): the SDK's HTTP connector wrapped so
//! that chosen DynamoDB, S3 or SQS calls fail with throttling, a 500, a timeout, or hang for
//! good (a Lambda killed mid-call, once the test drops the future).
//!
//! It sits where the SDK sends requests rather than in an interceptor: an interceptor cannot
//! keep a request from reaching the service, nor make it hang, and a fault injected after the
//! service applied the write would test moto's lack of idempotency tokens, not our code. A
//! failed call here never reached the service.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// What an injected fault looks like to the SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 ThrottlingException (DynamoDB) / 503 SlowDown (S3): retried by the SDK.
    Throttle,
    /// 500 InternalServerError: retried by the SDK.
    ServerError,
    /// A connect timeout: retried by the SDK.
    Timeout,
    /// The call never returns, nor do later calls that match the same rule (the SDK retrying
    /// it): the test drops the future, as a killed Lambda.
    Hang,
}

/// Which service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    S3,
    Sqs,
}

/// One planned fault: the `nth` (1-based) matching call from now fails with `fault`.
#[derive(Debug, Clone)]
struct Rule {
    service: Service,
    /// DynamoDB's or SQS's operation (`TransactWriteItems`), or S3's HTTP method; any if `None`.
    operation: Option<String>,
    /// Only calls whose body contains this text match.
    body_contains: Option<String>,
    nth: u64,
    seen: u64,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Plan {
    rules: Vec<Rule>,
    /// Each call of a service listed fails with its probability (a fault drawn among those).
    random: Vec<(Service, f64, Vec<Fault>)>,
}

/// The faults to inject, shared by the test and the connector; counts every call.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    plan: Arc<Mutex<Plan>>,
    calls: Arc<AtomicU64>,
    injected: Arc<AtomicU64>,
}

impl Faults {
    /// The `nth` call from now of `service` (of `operation`, if given) fails with `fault`.
    pub fn fail_nth(&self, service: Service, operation: Option<&str>, nth: u64, fault: Fault) {
        self.add(Rule { service, operation: operation.map(str::to_string), body_contains: None, nth, seen: 0, fault });
    }

    /// The `nth` call from now of `operation` whose body contains `text` fails with `fault`.
    pub fn fail_matching(&self, service: Service, operation: &str, text: &str, nth: u64, fault: Fault) {
        let operation = Some(operation.to_string());
        self.add(Rule { service, operation, body_contains: Some(text.to_string()), nth, seen: 0, fault });
    }

    /// Every call of `service` fails with probability `rate`, with one of `faults`.
    pub fn fail_randomly(&self, service: Service, rate: f64, faults: &[Fault]) {
        self.lock().random.push((service, rate, faults.to_vec()));
    }

    /// No more faults.
    pub fn clear(&self) {
        *self.lock() = Plan::default();
    }

    /// Calls made through the layer so far, and faults injected.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// The SDK configuration `sdk` with every client's requests passing through this layer.
    pub fn wrap(&self, sdk: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        // The tests reach moto over plain HTTP; an SDK configuration without a client of its
        // own would get the SDK's default one, which cannot be wrapped.
        let inner = sdk.http_client().unwrap_or_else(|| aws_smithy_http_client::Builder::new().build_http());
        let client = FaultyClient { inner, faults: self.clone() };
        sdk.to_builder().http_client(SharedHttpClient::new(client)).build()
    }

    fn add(&self, rule: Rule) {
        self.lock().rules.push(rule);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault for this call, if any (each rule fires once).
    fn decide(&self, service: Service, operation: &str, body: &[u8]) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut plan = self.lock();
        let mut fired = None;
        for (i, rule) in plan.rules.iter_mut().enumerate() {
            let matches = rule.service == service
                && rule.operation.as_deref().is_none_or(|o| o == operation)
                && rule.body_contains.as_deref().is_none_or(|text| contains(body, text.as_bytes()));
            if matches {
                rule.seen += 1;
                if rule.seen == rule.nth {
                    fired = Some((i, rule.fault));
                    break;
                }
            }
        }
        let fault = match fired {
            // A hang stays: whatever retries the call meets the same fate, as from a dead Lambda.
            Some((i, Fault::Hang)) => {
                plan.rules[i].nth += 1;
                Some(Fault::Hang)
            }
            Some((i, fault)) => {
                plan.rules.remove(i);
                Some(fault)
            }
            None => plan
                .random
                .iter()
                .find(|(s, _, faults)| *s == service && !faults.is_empty())
                .filter(|(_, rate, _)| rand::random::<f64>() < *rate)
                .map(|(_, _, faults)| faults[rand::random_range(0..faults.len())]),
        };
        if fault.is_some() {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        fault
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Faults,
}

impl HttpClient for FaultyClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(FaultyConnector { inner, faults: self.faults.clone() })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default().to_string();
        let (service, operation) = match target.split_once('.') {
            Some((prefix, op)) if prefix.starts_with("DynamoDB") => (Service::DynamoDb, op.to_string()),
            Some((prefix, op)) if prefix.starts_with("AmazonSQS") => (Service::Sqs, op.to_string()),
            _ => (Service::S3, request.method().to_string()),
        };
        let body = request.body().bytes().unwrap_or_default().to_vec();
        match self.faults.decide(service, &operation, &body) {
            None => self.inner.call(request),
            Some(Fault::Hang) => HttpConnectorFuture::new(std::future::pending()),
            Some(Fault::Timeout) => HttpConnectorFuture::ready(Err(ConnectorError::timeout("injected timeout".into()))),
            Some(fault) => HttpConnectorFuture::ready(Ok(response(service, fault))),
        }
    }
}

/// The error response the service would send.
fn response(service: Service, fault: Fault) -> HttpResponse {
    let (status, content_type, body) = match (service, fault) {
        (Service::S3, Fault::Throttle) => {
            (503, "application/xml", "<Error><Code>SlowDown</Code><Message>injected</Message></Error>".to_string())
        }
        (Service::S3, _) => {
            (500, "application/xml", "<Error><Code>InternalError</Code><Message>injected</Message></Error>".into())
        }
        (_, Fault::Throttle) => {
            let kind = if service == Service::DynamoDb {
                "com.amazonaws.dynamodb.v20120810#ThrottlingException"
            } else {
                "com.amazonaws.sqs#ThrottlingException"
            };
            (400, "application/x-amz-json-1.0", format!(r#"{{"__type":"{kind}","message":"injected"}}"#))
        }
        _ => (
            500,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"#.into(),
        ),
    };
    let mut response = HttpResponse::new(StatusCode::try_from(status).expect("a status"), SdkBody::from(body));
    response.headers_mut().insert("content-type", content_type);
    response
}

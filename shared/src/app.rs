//! What every Lambda shares at run time: configuration, AWS clients, the key cache and the id
//! generator, created once per container; and the request wrapper that authenticates, logs
//! with the request id and maps errors to responses in one place.

use std::future::Future;
use std::time::Instant;

use lambda_http::http::Method;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use lambda_runtime::LambdaEvent;
use tokio::sync::OnceCell;
use tracing::Instrument;

use crate::auth::{Authenticator, Principal};
use crate::config::Config;
use crate::error::ApiError;
use crate::http::api_segments;
use crate::ids::{now_ms, Id, IdGenerator, NodeLease, NODE_COUNT};
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    /// Import files (path-style addressing: local endpoints have no per-bucket host names).
    pub s3: aws_sdk_s3::Client,
    /// The import queue (follow-up messages of long imports).
    pub sqs: aws_sdk_sqs::Client,
    /// Secrets Manager: the License API's keys (`license_api::keys`).
    pub secrets: aws_sdk_secretsmanager::Client,
    auth: Authenticator,
    ids: OnceCell<IdGenerator>,
    /// This container's lease on the generator's node number; renewed before it runs short.
    node_lease: tokio::sync::Mutex<Option<NodeLease>>,
    /// A random token naming this container as a lease owner.
    lease_owner: String,
}

impl App {
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        Self::with_dynamodb(config, sdk, aws_sdk_dynamodb::Client::new(sdk))
    }

    /// With a DynamoDB client of the caller's (benchmarks count its requests).
    pub fn with_dynamodb(config: Config, sdk: &aws_config::SdkConfig, dynamodb: aws_sdk_dynamodb::Client) -> Self {
        let store = Store::new(dynamodb, config.table_name.clone());
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let lease_owner = crate::ids::new_lease_owner();
        Self {
            config,
            store,
            s3,
            sqs,
            secrets,
            auth: Authenticator::default(),
            ids: OnceCell::new(),
            node_lease: tokio::sync::Mutex::new(None),
            lease_owner,
        }
    }

    /// From the environment (`TABLE_NAME`, …; AWS settings including `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_from_env().await;
        Ok(Self::new(config, &sdk))
    }

    pub async fn authenticate(&self, req: &Request) -> Result<Principal, ApiError> {
        let header = req.headers().get("authorization").and_then(|v| v.to_str().ok());
        self.auth.authenticate(&self.store, header).await
    }

    /// The container's id generator, its node lease checked first: leased on first use,
    /// renewed when less than `RENEW_BEFORE_MS` is left (so it outlives this invocation), and
    /// replaced by another node if a container took it over while this one was frozen.
    pub async fn ids(&self) -> Result<&IdGenerator, ApiError> {
        let mut held = self.node_lease.lock().await;
        let now = now_ms();
        let lease = match held.take() {
            Some(lease) if !lease.needs_renewal(now) => lease,
            Some(lease) => {
                let until = NodeLease::expiry(now);
                if self.store.renew_id_node(&lease, until).await? {
                    NodeLease { until_ms: until, ..lease }
                } else {
                    tracing::warn!(node = lease.node, "id node lease taken over; leasing another");
                    self.store.lease_id_node(&self.lease_owner, now, until, NODE_COUNT).await?
                }
            }
            None => self.store.lease_id_node(&self.lease_owner, now, NodeLease::expiry(now), NODE_COUNT).await?,
        };
        let node = lease.node;
        *held = Some(lease);
        let ids = self.ids.get_or_init(|| async { IdGenerator::new(node) }).await;
        ids.set_node(node);
        Ok(ids)
    }
}

/// Structured JSON logs (CloudWatch-friendly); `RUST_LOG` sets the level, `info` by default.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}

/// Runs an HTTP Lambda whose every request goes to `handler`. The `App` lives for the whole
/// container, so it is created once and leaked into a `'static` reference.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut + Send + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_tracing();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    let handler = &handler;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(handler(app, req).await)
    }))
    .await
}

/// Runs a Lambda fed events of type `E` (SQS batches, scheduled events): each invocation goes
/// to `handler` inside a span with its request id.
pub async fn serve_events<E, R, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static App, LambdaEvent<E>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<R, lambda_http::Error>> + Send,
{
    init_tracing();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    let handler = &handler;
    // Boxed: the runtime's service future is too deep for the compiler's layout limit otherwise.
    let runtime = Box::pin(lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<E>| async move {
        let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
        Box::pin(handler(app, event)).instrument(span).await
    })));
    runtime.await
}

/// Runs one request: a span with the request id, the outcome logged once, errors mapped to
/// their response. Never logs headers (API keys) or bodies.
pub async fn respond<Fut>(req: &Request, work: Fut) -> Response<Body>
where
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_else(|| "-".to_string());
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    async move {
        let response = match work.await {
            Ok(response) => response,
            Err(err) => {
                if let ApiError::Internal(text) = &err {
                    tracing::error!(error = %text, "request failed");
                }
                err.into_response()
            }
        };
        let response = crate::http::encoded_for(req, response);
        tracing::info!(status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "done");
        response
    }
    .instrument(span)
    .await
}

/// Where a request goes once its path matched: the principal, and the `{id}` if the path has one.
pub struct Routed {
    pub principal: Principal,
    pub id: Option<Id>,
}

/// Matches the path against `pattern` (segments after `/api/v1/`, `{id}` for an object id),
/// checks the method, then authenticates.
pub async fn route(app: &App, req: &Request, pattern: &[&str], method: Method) -> Result<Routed, ApiError> {
    let segments = api_segments(req.uri().path()).ok_or(ApiError::NotFound)?;
    if segments.len() != pattern.len() {
        return Err(ApiError::NotFound);
    }
    let mut id = None;
    for (segment, expected) in segments.iter().zip(pattern) {
        if *expected == "{id}" {
            id = Some(segment.parse::<Id>().map_err(|_| ApiError::NotFound)?);
        } else if segment != expected {
            return Err(ApiError::NotFound);
        }
    }
    let principal = app.authenticate(req).await?;
    if req.method() != method {
        return Err(ApiError::MethodNotAllowed(req.method().to_string()));
    }
    Ok(Routed { principal, id })
}

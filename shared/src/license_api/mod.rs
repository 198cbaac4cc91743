//! The License API (`/api/v4/`, LICENSE-API.md): what a vendor's shipped applications call,
//! through the vendor's SDKs, to activate and check their licenses.
//!
//! Every answer is JSON; errors are `{"status", "code", "message"}` (§3), 400 for a rule a
//! request breaks, 401/403 for credentials. Every body is signed (`LicenseSignature`, §2.1)
//! over the exact bytes sent, before any gzip encoding.

pub mod auth;
pub mod bundles;
pub mod directory;
pub mod floating;
pub mod handlers;
pub mod keys;
pub mod objects;
pub mod request;
pub mod rules;
pub mod trials;
pub mod usage;

use std::future::Future;
use std::time::Instant;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};
use tracing::Instrument;

use crate::app::App;
use crate::store::StoreError;

/// A License API error: its HTTP status, its snake_case `code` (the SDK reacts to
/// `license_not_active`, `license_not_enabled` and `license_expired`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl LicenseApiError {
    /// A rule the request breaks (the vendor answers 400 for nearly everything).
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        LicenseApiError { status: 400, code, message: message.into() }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        LicenseApiError { status: 401, code, message: message.into() }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        LicenseApiError { status: 403, code, message: message.into() }
    }

    fn internal() -> Self {
        LicenseApiError { status: 500, code: "internal_error", message: "Internal server error.".into() }
    }

    fn body(&self) -> Value {
        json!({"status": self.status, "code": self.code, "message": self.message})
    }
}

impl From<StoreError> for LicenseApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Stale(_) | StoreError::Conflict(_) => LicenseApiError {
                status: 409,
                code: "conflict",
                message: "Another request changed the license; try again.".into(),
            },
            // A write past DynamoDB's limits (an item's 400 KB, a transaction's 100 items) is
            // the request's: a 400, never a 500.
            StoreError::TooLarge { message, .. } => LicenseApiError::rule("request_too_large", message),
            other => {
                tracing::error!(error = %other, "license api storage error");
                LicenseApiError::internal()
            }
        }
    }
}

impl From<keys::KeysError> for LicenseApiError {
    fn from(err: keys::KeysError) -> Self {
        tracing::error!(error = %err, "license api keys");
        LicenseApiError::internal()
    }
}

/// Runs one License API request: a span with the request id, the outcome logged once (never
/// headers or bodies), the answer or the error as JSON, signed with the deployment's key.
pub async fn respond<Fut>(app: &App, req: &Request, work: Fut) -> Response<Body>
where
    Fut: Future<Output = Result<Value, LicenseApiError>>,
{
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_else(|| "-".to_string());
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    async move {
        let (status, body) = match work.await {
            Ok(body) => (StatusCode::OK, body),
            Err(err) => (StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST), err.body()),
        };
        let text = body.to_string();
        let mut response = Response::new(Body::Text(text.clone()));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match keys::load(&app.secrets, app.config.license_api_secret.as_deref()).await {
            Ok(keys) => {
                if let Ok(value) = HeaderValue::from_str(&keys.sign(text.as_bytes())) {
                    response.headers_mut().insert("LicenseSignature", value);
                }
            }
            Err(err) => tracing::error!(error = %err, "responses cannot be signed"),
        }
        let response = crate::http::encoded_for(req, response);
        tracing::info!(status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "done");
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_dynamodbs_limits_is_the_requests_400() {
        let too_large =
            StoreError::TooLarge { field: "devices".into(), message: "A transaction holds 100 writes.".into() };
        let err = LicenseApiError::from(too_large);
        assert_eq!((err.status, err.code), (400, "request_too_large"));
        assert_eq!(LicenseApiError::from(StoreError::Stale("license".into())).status, 409);
        assert_eq!(LicenseApiError::from(StoreError::Aws("throttled".into())).status, 500);
    }
}

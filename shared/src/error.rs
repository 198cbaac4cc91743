//! The API's one error type and its single mapping to HTTP (Django-REST-Framework shaped bodies).

use std::collections::BTreeMap;

use lambda_http::{http::StatusCode, Body, Response};
use serde_json::{json, Value};

/// Field errors keyed by (dotted) field path, as DRF serializers report them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    /// The same errors under `prefix.` (errors of a nested object).
    pub fn prefixed(self, prefix: &str) -> Self {
        FieldErrors(self.0.into_iter().map(|(field, messages)| (format!("{prefix}.{field}"), messages)).collect())
    }

    /// Adds every error of `other`.
    pub fn extend(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each field with its messages.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(field, messages)| (field.as_str(), messages.as_slice()))
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `Ok(())` when nothing was reported, else the errors as a 400.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self))
        }
    }

    fn to_json(&self) -> Value {
        json!(self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed on {:?}", .0.fields().collect::<Vec<_>>())]
    Validation(FieldErrors),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("authentication credentials were not provided")]
    NotAuthenticated,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("not found")]
    NotFound,
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// Anything the client did not cause. The text is logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 on one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        ApiError::Validation(errors)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotAuthenticated | ApiError::InvalidApiKey | ApiError::PermissionDenied(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> Value {
        let detail = |text: &str| json!({ "detail": text });
        match self {
            ApiError::Validation(errors) => errors.to_json(),
            ApiError::BadRequest(message)
            | ApiError::PermissionDenied(message)
            | ApiError::Conflict(message)
            | ApiError::PayloadTooLarge(message) => detail(message),
            ApiError::NotAuthenticated => detail("Authentication credentials were not provided."),
            ApiError::InvalidApiKey => detail("Invalid API key."),
            ApiError::NotFound => detail("Not found."),
            ApiError::MethodNotAllowed(method) => detail(&format!("Method \"{method}\" not allowed.")),
            ApiError::Internal(_) => detail("Internal server error."),
        }
    }

    pub fn into_response(self) -> Response<Body> {
        crate::http::json_response(self.status(), &self.body())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict(message) | StoreError::Stale(message) => ApiError::Conflict(message),
            StoreError::TooLarge { field, message } => ApiError::field(field, message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_render_as_drf_map() {
        let mut errors = FieldErrors::default();
        errors.add("items.0.licenses.1.max_activations", "A valid integer is required.");
        errors.add("name", "This field is required.");
        let err = ApiError::Validation(errors);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.body(),
            json!({
                "items.0.licenses.1.max_activations": ["A valid integer is required."],
                "name": ["This field is required."]
            })
        );
    }

    #[test]
    fn internal_errors_hide_their_text() {
        let err = ApiError::Internal("ResourceNotFoundException: table licensing".into());
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.body().to_string().contains("ResourceNotFound"));
    }

    #[test]
    fn auth_errors_are_403_with_vendor_texts() {
        assert_eq!(ApiError::NotAuthenticated.status(), StatusCode::FORBIDDEN);
        assert_eq!(ApiError::InvalidApiKey.body(), json!({"detail": "Invalid API key."}));
    }
}

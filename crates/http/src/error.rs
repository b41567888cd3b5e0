//! API errors: `{"error": {"code": "...", "message": "..."}}` with a fitting status.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use porchlight_store::StoreError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// Every error's body: a stable machine code and a message for people.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    error: Inner<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn internal() -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, code: "internal", message: "internal error".into() }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    /// A JSON body the API could not take: 413 `body_too_large` past the size limit (axum's,
    /// 2 MB), otherwise 400 `invalid_body` with what was wrong with it.
    pub fn bad_body(rejection: axum::extract::rejection::JsonRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self { status, code: "body_too_large", message: "the body is larger than 2 MB".into() }
        } else {
            Self::bad_request("invalid_body", rejection.body_text())
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code, message: message.into() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // The detail goes to the operator's log, never to the client.
        tracing::error!(error = %e, "store error");
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, code: "internal", message: "internal error".into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: Inner { code: self.code, message: &self.message } };
        (self.status, Json(body)).into_response()
    }
}

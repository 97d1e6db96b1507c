//! The admin API's errors: JSON `{"code", "message"}` with a stable code and its status —
//! `invalid` 400 (413 for a body over the limit, 415 for one that is not JSON),
//! `unauthorized` 401, `forbidden` 403, `not_found` 404, `conflict` 409, `timeout` 503,
//! `internal` 500. A service function's refusal ([`crate::lifecycle::Refused`]) keeps its
//! meaning; anything else is absage's fault: logged with its chain of causes, answered without
//! any of it. Also: [`JsonBody`], a JSON request body whose refusal names the field, and
//! [`json_errors`], which gives axum's and the layers' plain-text refusals the same shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Turns the plain-text refusals under `/api` — of axum's extractors (a path id that is not a
/// number, a query that does not parse), of the router (no such route), of the listener's
/// layers (a body over the size limit, a request over the time limit) — into the documented
/// `{"code", "message"}`. Other paths pass unchanged.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    };
    let text = match axum::body::to_bytes(resp.into_body(), 16 * 1024).await {
        Ok(text) => String::from_utf8_lossy(&text).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = match code {
        // Whatever a layer wrote there, a failure on our side shows no internals.
        "internal" => INTERNAL.to_owned(),
        "timeout" => "absage did not finish this within http.request_timeout_secs; \
                      look whether it was carried out before trying again"
            .to_owned(),
        _ if !text.is_empty() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase(),
    };
    ApiError::new(status, code, message).into_response()
}

/// What a client reads about a failure on our side; the cause is in the log.
const INTERNAL: &str = "absage could not carry this out; the log says why";

/// The body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, for programs: `unauthorized` (401), `forbidden` (403), `not_found` (404),
    /// `invalid` (400, also 413 and 415), `conflict` (409), `timeout` (503: over
    /// `http.request_timeout_secs`), `internal` (500).
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
            },
        }
    }

    pub fn unauthorized() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an API token is required: Authorization: Bearer absage_…",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// `what` does not exist (for this caller).
    pub fn not_found(what: &str) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"))
    }

    /// A request that cannot be carried out as asked (400); the message says why.
    pub fn invalid(e: impl std::fmt::Display) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A failure on our side (the database, a bug): logged with its whole chain of causes,
    /// answered 500 `internal` without any of it.
    pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        let e: anyhow::Error = e.into();
        tracing::error!(error = %format!("{e:#}"), "a request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", INTERNAL)
    }

    /// The answer to a failed service action (the outage lifecycle, the queue): what the
    /// caller can act on keeps its meaning — [`Refused`](crate::lifecycle::Refused) `Invalid`
    /// 400, `NotFound` 404, `Conflict` 409, `Forbidden` 403; anything else is absage's fault
    /// ([`ApiError::internal`]).
    pub fn of_lifecycle(e: anyhow::Error) -> ApiError {
        use crate::lifecycle::Refused;
        match e.downcast_ref::<Refused>() {
            Some(Refused::Invalid(m)) => ApiError::invalid(m),
            Some(Refused::NotFound(m)) => Self::new(StatusCode::NOT_FOUND, "not_found", m.clone()),
            Some(Refused::Conflict(m)) => ApiError::conflict(m.clone()),
            Some(Refused::Forbidden(m)) => ApiError::forbidden(m.clone()),
            None => ApiError::internal(e),
        }
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.body.code
    }

    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<anyhow::Error> for ApiError {
    /// A service function's failure: its refusals keep their meaning.
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::of_lifecycle(e)
    }
}

/// A JSON request body. Unlike axum's `Json`, whatever is wrong with it is a 400 `invalid`
/// whose message names the field (`from: invalid type: integer, expected a string`), or says
/// that it is no JSON at all; a body without `Content-Type: application/json` is a 415.
pub struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(Self::refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON, with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Self::refused(e.status(), e.body_text()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut *de)
            .map_err(|e| ApiError::invalid(body_error(&e)))?;
        de.end()
            .map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))?;
        Ok(JsonBody(value))
    }
}

impl<T> JsonBody<T> {
    fn refused(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::new(status, "invalid", message)
    }
}

/// What is wrong with a JSON body, naming the field where it is one.
fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = e.inner();
    match inner.classify() {
        Category::Data => {
            let path = e.path().to_string();
            if path.is_empty() || path == "." {
                format!("the body does not fit: {inner}")
            } else {
                format!("{path}: {inner}")
            }
        }
        Category::Syntax | Category::Eof | Category::Io => {
            format!("the body is not valid JSON: {inner}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Refused;

    #[test]
    fn refusals_keep_their_meaning_and_anything_else_is_internal_without_its_text() {
        let refusals = [
            (Refused::Invalid("to before from".into()), 400, "invalid"),
            (Refused::NotFound("no outage #9".into()), 404, "not_found"),
            (Refused::Conflict("already decided".into()), 409, "conflict"),
            (Refused::Forbidden("four-eyes".into()), 403, "forbidden"),
        ];
        for (refused, status, code) in refusals {
            let text = refused.to_string();
            let e = ApiError::of_lifecycle(anyhow::Error::from(refused).context("approving"));
            assert_eq!((e.status().as_u16(), e.code()), (status, code));
            assert_eq!(e.message(), text);
        }
        let fault = anyhow::anyhow!("no such table: targets").context("declaring");
        let e = ApiError::of_lifecycle(fault);
        assert_eq!((e.status().as_u16(), e.code()), (500, "internal"));
        assert!(!e.message().contains("targets"), "{}", e.message());
    }

    #[test]
    fn a_body_that_does_not_fit_names_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            from: Option<String>,
            reason: String,
        }
        let error = |text: &str| {
            let de = &mut serde_json::Deserializer::from_str(text);
            body_error(&serde_path_to_error::deserialize::<_, Body>(de).unwrap_err())
        };
        assert!(error(r#"{"from": 3, "reason": "x"}"#).starts_with("from: invalid type: integer"));
        assert!(error(r#"{"from": "x"}"#).contains("missing field `reason`"));
        assert!(error("{not json").starts_with("the body is not valid JSON"));
    }
}

//! HTTP plumbing shared by the layers, routes and gateway: JSON error
//! responses and bounded body reading. Framework-neutral (http + http-body).

use bytes::{Buf, Bytes};
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Collected, Limited};
use serde::{Deserialize, Serialize};

/// The JSON error body every rejection in this crate uses: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What was wrong, in words a developer can act on.
    pub error: String,
}

impl ErrorBody {
    /// An error body with this message.
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
        }
    }
}

/// Builds `status` with a JSON body `{"error": message}` and
/// `content-type: application/json`.
pub(crate) fn json_error<B: From<Bytes>>(status: StatusCode, message: &str) -> Response<B> {
    let body = serde_json::to_vec(&ErrorBody::new(message)).expect("a string map serializes");
    let mut res = Response::new(B::from(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// 405 with a JSON error and `Allow: <allowed>`, like every other rejection
/// in this crate; the fallback of routes that take one method.
#[cfg(feature = "axum")]
fn method_not_allowed(allowed: &'static str) -> axum::response::Response {
    let mut res = json_error::<axum::body::Body>(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method not allowed: use {allowed}"),
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    res
}

/// The fallback for a route that only takes `POST`.
#[cfg(feature = "axum")]
pub(crate) async fn post_only() -> axum::response::Response {
    method_not_allowed("POST")
}

/// The fallback for a route that only takes `GET`.
#[cfg(feature = "gateway")]
pub(crate) async fn get_only() -> axum::response::Response {
    method_not_allowed("GET")
}

/// Reading a request body failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the limit (413).
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body stream failed (client went away, bad chunking) (400).
    #[error("could not read the request body")]
    Read,
}

impl BodyError {
    /// The status to answer with: 413 for too large, 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads the whole body once, stopping as soon as it passes `limit` bytes
/// (the rest is never buffered). A `Content-Length` over the limit is refused
/// before reading anything.
#[cfg_attr(not(feature = "axum"), allow(dead_code))] // only the axum routes read whole bodies this way
pub(crate) async fn read_limited<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let collect = start_limited(headers, body, limit)?;
    finish_limited(collect.await, limit)
}

/// The first half of [`read_limited`] for hand-written futures (a layer's
/// nameable `ResponseFuture`): refuses a declared `Content-Length` over the
/// limit, otherwise returns the collecting future. Finish with
/// [`finish_limited`].
pub(crate) fn start_limited<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Collect<Limited<B>>, BodyError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Limited::new(body, limit).collect())
}

/// The second half of [`read_limited`]: maps the collected body or the
/// `Limited` error to bytes or a [`BodyError`].
pub(crate) fn finish_limited<D: Buf>(
    collected: Result<Collected<D>, Box<dyn std::error::Error + Send + Sync>>,
    limit: usize,
) -> Result<Bytes, BodyError> {
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err)
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge { limit })
        }
        Err(_) => Err(BodyError::Read),
    }
}

/// Reading a JSON object body failed: the status and message to answer with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonBodyError {
    /// The body could not be read or was too large.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The body is not valid JSON (400). The message is serde_json's, which
    /// names the line and column but does not quote the body.
    #[error("Invalid JSON body: {0}")]
    Malformed(String),
    /// The body is valid JSON but not an object (400).
    #[error("Request body must be a JSON object")]
    NotAnObject,
}

impl JsonBodyError {
    /// 413 for an oversized body, 400 for everything else.
    pub fn status(&self) -> StatusCode {
        match self {
            JsonBodyError::Body(e) => e.status(),
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Parses `bytes` as a JSON object, whatever the content-type said.
#[cfg_attr(not(feature = "axum"), allow(dead_code))] // only the axum routes read whole bodies this way
pub(crate) fn parse_json_object(
    bytes: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, JsonBodyError> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(JsonBodyError::NotAnObject),
        Err(e) => Err(JsonBodyError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    #[tokio::test]
    async fn reads_within_limit() {
        let bytes = read_limited(
            &http::HeaderMap::new(),
            Full::new(Bytes::from_static(b"abc")),
            3,
        )
        .await
        .unwrap();
        assert_eq!(&bytes[..], b"abc");
    }

    #[tokio::test]
    async fn refuses_over_limit_streamed() {
        let chunks = (0..10)
            .map(|_| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(b"aaaa"))));
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let err = read_limited(&http::HeaderMap::new(), body, 16)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 16 }));
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn refuses_declared_length_over_limit() {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
        let err = read_limited(&headers, Full::new(Bytes::new()), 16)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }));
    }

    #[test]
    fn json_object_errors() {
        assert!(parse_json_object(br#"{"a":1}"#).is_ok());
        let e = parse_json_object(b"{").unwrap_err();
        assert!(e.to_string().starts_with("Invalid JSON body: "), "{e}");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(matches!(
            parse_json_object(b"[1]"),
            Err(JsonBodyError::NotAnObject)
        ));
        assert!(matches!(
            parse_json_object(b""),
            Err(JsonBodyError::Malformed(_))
        ));
    }

    #[test]
    fn json_error_shape() {
        let res: Response<Full<Bytes>> = json_error(StatusCode::FORBIDDEN, "Invalid appId");
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    }
}

//! Private plumbing shared by the callback, the routes and the gateway: the
//! one JSON field reader, bounded body reading and JSON error responses.
//!
//! The field reader walks the JSON once and keeps only the named fields (as
//! [`JsonField`]s); everything else is skipped without allocating. It costs
//! less than half of parsing into a `serde_json::Value` map (measured with
//! criterion on a callback body: 255 ns against 577 ns).

use std::fmt;

use http::StatusCode;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The JSON error body every rejection in this crate uses: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "tower"), allow(dead_code))] // built by the tower glue, read by the client
pub(crate) struct ErrorBody {
    pub(crate) error: String,
}

/// Reading or parsing a JSON object body failed. Each condition has one text,
/// whichever route or check reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyRejection {
    /// Over the limit (413).
    #[error("Request body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// The body stream failed (400).
    #[error("Could not read the request body")]
    Unreadable,
    /// Not JSON (400). serde_json's message names a line and column, never
    /// quotes the body.
    #[error("Invalid JSON body: {0}")]
    Malformed(String),
    /// JSON, but not an object (400).
    #[error("Request body must be a JSON object")]
    NotAnObject,
}

impl BodyRejection {
    /// 413 for an oversized body, 400 for everything else.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))] // the axum routes answer with it
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyRejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The text of a 405 for a route that takes only `allowed`.
pub(crate) fn method_not_allowed_text(allowed: &str) -> String {
    format!("Method not allowed: use {allowed}")
}

/// One field of a JSON object, reduced to what the checks need: strings are
/// the only values kept.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum JsonField {
    #[default]
    Absent,
    Null,
    Bool(bool),
    Str(String),
    UInt(u64),
    Negative,
    Float(f64),
    Compound,
}

impl JsonField {
    /// JavaScript's falsiness (`!value`), as the reference checks fields.
    pub(crate) fn is_falsy(&self) -> bool {
        match self {
            JsonField::Absent | JsonField::Null | JsonField::Bool(false) => true,
            JsonField::Str(s) => s.is_empty(),
            JsonField::UInt(n) => *n == 0,
            JsonField::Float(f) => *f == 0.0,
            JsonField::Bool(true) | JsonField::Negative | JsonField::Compound => false,
        }
    }

    /// Absent or `null` is `None`, a string is `Some`, anything else `Err`.
    pub(crate) fn into_optional_string(self) -> Result<Option<String>, NotAString> {
        match self {
            JsonField::Absent | JsonField::Null => Ok(None),
            JsonField::Str(s) => Ok(Some(s)),
            _ => Err(NotAString),
        }
    }
}

/// A field that had to be a string was another JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAString;

/// Parses `bytes` as a JSON object and returns the fields `names`, in that
/// order ([`JsonField::Absent`] when missing). Unknown keys are skipped; a
/// repeated key keeps its last value, like `JSON.parse`. Skipped values are
/// checked as strictly as kept ones ([`Skip`]): a body is accepted only if
/// it is JSON serde_json accepts.
pub(crate) fn read_fields<const N: usize>(
    bytes: &[u8],
    names: &[&'static str; N],
) -> Result<[JsonField; N], BodyRejection> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let fields = Fields { names }
        .deserialize(&mut de)
        .and_then(|fields| de.end().map(|()| fields));
    fields.map_err(|e| {
        // Every value is accepted, so a data error can only be a top-level
        // value that is not an object.
        if e.is_data() {
            BodyRejection::NotAnObject
        } else {
            BodyRejection::Malformed(e.to_string())
        }
    })
}

struct Fields<'n, const N: usize> {
    names: &'n [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Fields<'_, N> {
    type Value = [JsonField; N];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Fields<'_, N> {
    type Value = [JsonField; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = std::array::from_fn(|_| JsonField::Absent);
        while let Some(index) = map.next_key_seed(Key { names: self.names })? {
            match index {
                Some(i) => fields[i] = map.next_value()?,
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// A key, as the index of the wanted name it matches.
struct Key<'n, const N: usize> {
    names: &'n [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Key<'_, N> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<const N: usize> Visitor<'_> for Key<'_, N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.names.iter().position(|name| *name == v))
    }
}

impl<'de> de::Deserialize<'de> for JsonField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = JsonField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<JsonField, E> {
        Ok(JsonField::Null)
    }
    fn visit_none<E>(self) -> Result<JsonField, E> {
        Ok(JsonField::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<JsonField, E> {
        Ok(JsonField::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JsonField, E> {
        Ok(JsonField::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JsonField, E> {
        Ok(u64::try_from(v).map_or(JsonField::Negative, JsonField::UInt))
    }
    fn visit_f64<E>(self, v: f64) -> Result<JsonField, E> {
        Ok(JsonField::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<JsonField, E> {
        Ok(JsonField::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<JsonField, E> {
        Ok(JsonField::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonField, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(JsonField::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonField, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(JsonField::Compound)
    }
}

/// A value that is read and dropped, but read in full: strings decoded
/// (UTF-8, escapes, surrogate pairs) and numbers parsed. serde's
/// `IgnoredAny` lets serde_json skip a value without those checks, so a
/// body with invalid UTF-8, a lone `\ud800` or `1e999` in a skipped value
/// was accepted though it is not JSON serde_json reads (found by the
/// `callback_verifier` and `json_fields` fuzz targets). Strings are
/// borrowed from the input or serde_json's scratch buffer: nothing is
/// allocated.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

#[cfg(feature = "tower")]
pub(crate) use self::body::*;

#[cfg(feature = "tower")]
mod body {
    use bytes::{Buf, Bytes};
    use http::{HeaderValue, Response, StatusCode, header};
    use http_body::Body;
    use http_body_util::combinators::Collect;
    use http_body_util::{BodyExt, Collected, Limited};
    use tower::BoxError;

    use super::BodyRejection;

    /// Builds `status` with a JSON body `{"error": message}` and
    /// `content-type: application/json`.
    pub(crate) fn json_error<B: From<Bytes>>(status: StatusCode, message: &str) -> Response<B> {
        let body = super::ErrorBody {
            error: message.to_owned(),
        };
        let body = serde_json::to_vec(&body).expect("a string field serializes");
        let mut res = Response::new(B::from(Bytes::from(body)));
        *res.status_mut() = status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }

    /// 405 with a JSON error and `Allow: <allowed>`.
    #[cfg(feature = "axum")]
    fn method_not_allowed<B: From<Bytes>>(allowed: &'static str) -> Response<B> {
        let mut res = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &super::method_not_allowed_text(allowed),
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

    /// Reads the whole body once, stopping as soon as it passes `limit`
    /// bytes (the rest is never buffered). A `Content-Length` over the limit
    /// is refused before reading anything.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))] // the axum routes await it
    pub(crate) async fn read_limited<B>(
        headers: &http::HeaderMap,
        body: B,
        limit: usize,
    ) -> Result<Bytes, BodyRejection>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let collect = start_limited(headers, body, limit)?;
        finish_limited(collect.await, limit)
    }

    /// The first half of [`read_limited`], for a nameable future.
    pub(crate) fn start_limited<B>(
        headers: &http::HeaderMap,
        body: B,
        limit: usize,
    ) -> Result<Collect<Limited<B>>, BodyRejection>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(BodyRejection::TooLarge { limit });
        }
        Ok(Limited::new(body, limit).collect())
    }

    /// The second half of [`read_limited`].
    pub(crate) fn finish_limited<D: Buf>(
        collected: Result<Collected<D>, BoxError>,
        limit: usize,
    ) -> Result<Bytes, BodyRejection> {
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                Err(BodyRejection::TooLarge { limit })
            }
            Err(_) => Err(BodyRejection::Unreadable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["a", "b"];

    #[test]
    fn reads_named_fields_skips_others_last_duplicate_wins() {
        let [a, b] = read_fields(br#"{"x":[{"y":1}],"a":"first","a":"s","b":5}"#, &NAMES).unwrap();
        assert_eq!(a, JsonField::Str("s".into()));
        assert_eq!(b, JsonField::UInt(5));
        let [a, b] = read_fields(br#"{"a":null}"#, &NAMES).unwrap();
        assert_eq!((a, b), (JsonField::Null, JsonField::Absent));
    }

    #[test]
    fn one_text_per_rejection() {
        assert_eq!(
            read_fields(b"[1]", &NAMES).unwrap_err(),
            BodyRejection::NotAnObject
        );
        for body in [&b""[..], b"{", b"{\"a\":}", b"{} x", b"nul"] {
            let e = read_fields(body, &NAMES).unwrap_err();
            assert!(e.to_string().starts_with("Invalid JSON body: "), "{e}");
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        }
        let large = BodyRejection::TooLarge { limit: 16 };
        assert_eq!(
            large.to_string(),
            "Request body is larger than the 16-byte limit"
        );
        assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    /// Regressions (fuzz/regressions/callback_verifier, json_fields): a
    /// skipped value (an unknown key, or inside a kept array or object) is
    /// checked like a kept one, so what serde_json refuses is refused.
    #[test]
    fn skipped_values_are_read_strictly() {
        for body in [
            &b"{\"x\":\"\xee\",\"a\":\"s\"}"[..],
            b"{\"x\":[\"\xff\"],\"a\":\"s\"}",
            b"{\"x\":\"\\ud83de00\",\"a\":\"s\"}",
            b"{\"x\":{\"y\":\"\\udc00\"},\"a\":\"s\"}",
            b"{\"a\":[\"\\ud800\"]}",
            b"{\"b\":{\"\\ud800\":1}}",
            b"{\"x\":1e999,\"a\":\"s\"}",
            b"{\"a\":\"s\"} \xee",
        ] {
            assert!(serde_json::from_slice::<serde_json::Value>(body).is_err());
            let e = read_fields(body, &NAMES).unwrap_err();
            assert!(e.to_string().starts_with("Invalid JSON body: "), "{e}");
        }
        // Valid escapes and pairs in skipped values are fine.
        let [a, _] =
            read_fields(br#"{"x":["\ud83d\ude00",{"k":-1.5e3}],"a":"s"}"#, &NAMES).unwrap();
        assert_eq!(a, JsonField::Str("s".into()));
    }

    #[test]
    fn falsiness_and_strings() {
        for falsy in [
            JsonField::Absent,
            JsonField::Null,
            JsonField::Bool(false),
            JsonField::Str(String::new()),
            JsonField::UInt(0),
            JsonField::Float(0.0),
        ] {
            assert!(falsy.is_falsy(), "{falsy:?}");
        }
        assert!(!JsonField::Negative.is_falsy());
        assert_eq!(JsonField::Null.into_optional_string(), Ok(None));
        assert_eq!(JsonField::UInt(1).into_optional_string(), Err(NotAString));
    }

    #[cfg(feature = "tower")]
    mod body {
        use super::super::*;
        use bytes::Bytes;
        use http::{HeaderValue, header};
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
        async fn refuses_over_limit_streamed_or_declared() {
            let chunks = (0..10).map(|_| {
                Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(b"aaaa")))
            });
            let body = StreamBody::new(futures_util::stream::iter(chunks));
            let err = read_limited(&http::HeaderMap::new(), body, 16)
                .await
                .unwrap_err();
            assert_eq!(err, BodyRejection::TooLarge { limit: 16 });
            let mut headers = http::HeaderMap::new();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
            let err = read_limited(&headers, Full::new(Bytes::new()), 16)
                .await
                .unwrap_err();
            assert_eq!(err, BodyRejection::TooLarge { limit: 16 });
        }

        #[test]
        fn json_error_shape() {
            let res: http::Response<Full<Bytes>> =
                json_error(http::StatusCode::FORBIDDEN, "Invalid appId");
            assert_eq!(res.status(), http::StatusCode::FORBIDDEN);
            assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        }
    }
}

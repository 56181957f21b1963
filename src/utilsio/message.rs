//! The canonical message `deviceId-appId-timestamp[-additionalData]`.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A message field was missing. The texts are the SDK's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// `deviceId` was empty.
    #[error("deviceId is required")]
    DeviceIdRequired,
    /// `appId` was empty.
    #[error("appId is required")]
    AppIdRequired,
    /// `timestamp` was empty or zero.
    #[error("timestamp is required")]
    TimestampRequired,
}

/// A Unix-seconds timestamp as the SDK takes it: a number or a string, written
/// into the message exactly as given (the number in decimal, the string verbatim).
///
/// ```
/// use tower_signing::utilsio::Timestamp;
///
/// assert_eq!(Timestamp::from(1_700_000_000u64).to_string(), "1700000000");
/// assert_eq!(Timestamp::from("01700000000").to_string(), "01700000000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Timestamp<'a> {
    /// An integer, written in decimal.
    Seconds(u64),
    /// A string, written verbatim.
    Text(Cow<'a, str>),
}

impl Timestamp<'_> {
    /// The timestamp as a number of seconds, when it is one: the integer, or a
    /// string of ASCII decimal digits that fits in a `u64`.
    pub fn as_seconds(&self) -> Option<u64> {
        match self {
            Timestamp::Seconds(s) => Some(*s),
            Timestamp::Text(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                t.parse().ok()
            }
            Timestamp::Text(_) => None,
        }
    }

    /// Whether the SDK would call it missing (`!timestamp`): `0` or `""`.
    fn is_missing(&self) -> bool {
        match self {
            Timestamp::Seconds(s) => *s == 0,
            Timestamp::Text(t) => t.is_empty(),
        }
    }

    /// Copies borrowed text so the timestamp outlives its input.
    pub fn into_owned(self) -> Timestamp<'static> {
        match self {
            Timestamp::Seconds(s) => Timestamp::Seconds(s),
            Timestamp::Text(t) => Timestamp::Text(Cow::Owned(t.into_owned())),
        }
    }

    /// Calls `f` with the bytes the timestamp contributes to the message.
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Timestamp::Seconds(s) => {
                let mut buf = [0u8; 20];
                f(write_decimal(*s, &mut buf))
            }
            Timestamp::Text(t) => f(t.as_bytes()),
        }
    }
}

/// Writes `n` in decimal at the end of `buf`, returning the written digits.
fn write_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

impl fmt::Display for Timestamp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timestamp::Seconds(s) => write!(f, "{s}"),
            Timestamp::Text(t) => f.write_str(t),
        }
    }
}

impl From<u64> for Timestamp<'_> {
    fn from(s: u64) -> Self {
        Timestamp::Seconds(s)
    }
}

impl From<u32> for Timestamp<'_> {
    fn from(s: u32) -> Self {
        Timestamp::Seconds(u64::from(s))
    }
}

impl<'a> From<&'a str> for Timestamp<'a> {
    fn from(s: &'a str) -> Self {
        Timestamp::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Timestamp<'_> {
    fn from(s: String) -> Self {
        Timestamp::Text(Cow::Owned(s))
    }
}

/// The fields utilsio signs, validated as the SDK's `buildSignatureMessage`.
///
/// `Display` writes the canonical message; signing feeds the same bytes to the
/// HMAC without building the string.
///
/// ```
/// use tower_signing::utilsio::SignatureMessage;
///
/// let msg = SignatureMessage::new("device-1", "my-app", 1_700_000_000u64)?
///     .with_additional_data("0.033333");
/// assert_eq!(msg.to_string(), "device-1-my-app-1700000000-0.033333");
///
/// // An empty additionalData is the same as none.
/// let basic = SignatureMessage::new("device-1", "my-app", "1700000000")?.with_additional_data("");
/// assert_eq!(basic.to_string(), "device-1-my-app-1700000000");
///
/// assert_eq!(
///     SignatureMessage::new("", "my-app", 1u64).unwrap_err().to_string(),
///     "deviceId is required"
/// );
/// # Ok::<(), tower_signing::utilsio::MessageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignatureMessage<'a> {
    device_id: Cow<'a, str>,
    app_id: Cow<'a, str>,
    timestamp: Timestamp<'a>,
    additional_data: Option<Cow<'a, str>>,
}

impl<'a> SignatureMessage<'a> {
    /// A message without additionalData.
    ///
    /// # Errors
    /// [`MessageError`] for an empty deviceId or appId, or an empty/zero
    /// timestamp, checked in that order like the SDK.
    pub fn new(
        device_id: impl Into<Cow<'a, str>>,
        app_id: impl Into<Cow<'a, str>>,
        timestamp: impl Into<Timestamp<'a>>,
    ) -> Result<Self, MessageError> {
        let device_id = device_id.into();
        let app_id = app_id.into();
        let timestamp = timestamp.into();
        if device_id.is_empty() {
            return Err(MessageError::DeviceIdRequired);
        }
        if app_id.is_empty() {
            return Err(MessageError::AppIdRequired);
        }
        if timestamp.is_missing() {
            return Err(MessageError::TimestampRequired);
        }
        Ok(SignatureMessage {
            device_id,
            app_id,
            timestamp,
            additional_data: None,
        })
    }

    /// Adds additionalData. An empty string means none, as in the SDK.
    #[must_use]
    pub fn with_additional_data(mut self, additional_data: impl Into<Cow<'a, str>>) -> Self {
        let data = additional_data.into();
        self.additional_data = if data.is_empty() { None } else { Some(data) };
        self
    }

    /// Adds additionalData when `Some` and non-empty.
    #[must_use]
    pub fn with_optional_additional_data(
        self,
        additional_data: Option<impl Into<Cow<'a, str>>>,
    ) -> Self {
        match additional_data {
            Some(data) => self.with_additional_data(data),
            None => self,
        }
    }

    /// The deviceId.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The appId.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The timestamp, as given.
    pub fn timestamp(&self) -> &Timestamp<'a> {
        &self.timestamp
    }

    /// The additionalData, `None` when absent or empty.
    pub fn additional_data(&self) -> Option<&str> {
        self.additional_data.as_deref()
    }

    /// Copies borrowed fields so the message outlives its input.
    pub fn into_owned(self) -> SignatureMessage<'static> {
        SignatureMessage {
            device_id: Cow::Owned(self.device_id.into_owned()),
            app_id: Cow::Owned(self.app_id.into_owned()),
            timestamp: self.timestamp.into_owned(),
            additional_data: self.additional_data.map(|d| Cow::Owned(d.into_owned())),
        }
    }

    /// Feeds the canonical message's bytes, in order, to `sink`.
    pub(crate) fn write_to(&self, mut sink: impl FnMut(&[u8])) {
        sink(self.device_id.as_bytes());
        sink(b"-");
        sink(self.app_id.as_bytes());
        sink(b"-");
        self.timestamp.with_bytes(&mut sink);
        if let Some(data) = &self.additional_data {
            sink(b"-");
            sink(data.as_bytes());
        }
    }
}

impl fmt::Display for SignatureMessage<'_> {
    /// The canonical message, `deviceId-appId-timestamp[-additionalData]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.device_id, self.app_id, self.timestamp)?;
        if let Some(data) = &self.additional_data {
            write!(f, "-{data}")?;
        }
        Ok(())
    }
}

/// The `additionalData` convention for a cancellation: the ids sorted as
/// JavaScript's default `Array.prototype.sort` would (by UTF-16 code units)
/// and joined with `,`.
///
/// ```
/// use tower_signing::utilsio::cancellation_additional_data;
///
/// assert_eq!(cancellation_additional_data(["sub_b", "user_1", "sub_a"]), "sub_a,sub_b,user_1");
/// ```
pub fn cancellation_additional_data<I, S>(ids: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut ids: Vec<S> = ids.into_iter().collect();
    ids.sort_by(|a, b| a.as_ref().encode_utf16().cmp(b.as_ref().encode_utf16()));
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(id.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(msg: &SignatureMessage<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        msg.write_to(|b| out.extend_from_slice(b));
        out
    }

    #[test]
    fn errors_in_sdk_order() {
        assert_eq!(
            SignatureMessage::new("", "", "").unwrap_err(),
            MessageError::DeviceIdRequired
        );
        assert_eq!(
            SignatureMessage::new("d", "", "").unwrap_err(),
            MessageError::AppIdRequired
        );
        assert_eq!(
            SignatureMessage::new("d", "a", "").unwrap_err(),
            MessageError::TimestampRequired
        );
        assert_eq!(
            SignatureMessage::new("d", "a", 0u64).unwrap_err(),
            MessageError::TimestampRequired
        );
    }

    #[test]
    fn dashes_are_not_escaped() {
        let m = SignatureMessage::new("a-b", "c-d", 12u64)
            .unwrap()
            .with_additional_data("e-f");
        assert_eq!(m.to_string(), "a-b-c-d-12-e-f");
        assert_eq!(collect(&m), m.to_string().into_bytes());
    }

    #[test]
    fn decimal_writer_matches_display() {
        for n in [1u64, 9, 10, 99, 100, 1_700_000_000, u64::MAX] {
            let m = SignatureMessage::new("d", "a", n).unwrap();
            assert_eq!(collect(&m), m.to_string().into_bytes());
        }
    }

    #[test]
    fn string_timestamp_is_verbatim() {
        let m = SignatureMessage::new("d", "a", " 007").unwrap();
        assert_eq!(m.to_string(), "d-a- 007");
        assert_eq!(m.timestamp().as_seconds(), None);
        assert_eq!(Timestamp::from("007").as_seconds(), Some(7));
    }

    #[test]
    fn cancellation_sort_is_utf16_order() {
        // U+FF61 sorts after U+1F642 in UTF-16 (surrogates 0xD83D < 0xFF61) but not in UTF-8.
        assert_eq!(
            cancellation_additional_data(["\u{ff61}", "\u{1f642}"]),
            "\u{1f642},\u{ff61}"
        );
        assert_eq!(cancellation_additional_data(Vec::<String>::new()), "");
    }
}

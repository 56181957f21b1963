//! The crate's metrics, through the `metrics` facade: the application
//! installs the recorder (Prometheus, StatsD, ...). Without the `metrics`
//! feature every function here is empty and the crate has no `metrics`
//! dependency; call sites stay unconditional. With the feature and no
//! recorder installed, each call is a no-op of a few nanoseconds.
//!
//! The names, labels and outcomes are documented in the crate docs
//! (`## Metrics` in lib.rs): keep the two in step.

// Each function is used only by some features (callbacks by `tower` and
// `axum`, sessions by `client`, connects by `gateway`), the names only with
// `metrics`.
#![cfg_attr(
    not(all(
        feature = "metrics",
        feature = "axum",
        feature = "client",
        feature = "gateway"
    )),
    allow(dead_code)
)]

use crate::utilsio::{CallbackRejection, OriginProblem};

// Names and labels are literals so that each call uses a static key: no
// allocation or hashing per call.
#[cfg(feature = "metrics")]
macro_rules! count {
    ($name:literal, $outcome:expr, [$($variant:pat => $label:literal),* $(,)?]) => {
        match $outcome {
            $($variant => ::metrics::counter!($name, "outcome" => $label),)*
        }
        .increment(1)
    };
}

/// The `outcome` label of `tower_signing_callback_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackOutcome {
    Signed,
    Origin,
    Source,
    Https,
    Body,
    Timestamp,
    AppId,
}

/// The outcome of a callback rejection; `None` for a method other than
/// `POST`, which is not a callback attempt (browsers and scanners).
pub(crate) fn callback_outcome(rejection: &CallbackRejection) -> Option<CallbackOutcome> {
    Some(match rejection {
        CallbackRejection::MethodNotAllowed => return None,
        CallbackRejection::UnauthorizedOrigin(OriginProblem::SourceNotAllowed) => {
            CallbackOutcome::Source
        }
        CallbackRejection::UnauthorizedOrigin(_) => CallbackOutcome::Origin,
        CallbackRejection::HttpsRequired => CallbackOutcome::Https,
        CallbackRejection::BodyTooLarge { .. }
        | CallbackRejection::BodyUnreadable
        | CallbackRejection::InvalidJson(_)
        | CallbackRejection::NotAnObject
        | CallbackRejection::MissingFields
        | CallbackRejection::InvalidField(_) => CallbackOutcome::Body,
        CallbackRejection::InvalidTimestamp(_) => CallbackOutcome::Timestamp,
        CallbackRejection::InvalidAppId => CallbackOutcome::AppId,
    })
}

#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
fn callback(outcome: CallbackOutcome) {
    #[cfg(feature = "metrics")]
    count!("tower_signing_callback_requests_total", outcome, [
        CallbackOutcome::Signed => "signed",
        CallbackOutcome::Origin => "origin",
        CallbackOutcome::Source => "source",
        CallbackOutcome::Https => "https",
        CallbackOutcome::Body => "body",
        CallbackOutcome::Timestamp => "timestamp",
        CallbackOutcome::AppId => "app_id",
    ]);
}

/// A callback rejection became a response (once per request: the first
/// failing check answers).
pub(crate) fn callback_rejected(rejection: &CallbackRejection) {
    if let Some(outcome) = callback_outcome(rejection) {
        callback(outcome);
    }
}

/// A verified callback was signed.
pub(crate) fn callback_signed() {
    callback(CallbackOutcome::Signed);
}

/// How a `SessionManager::session` call (or the one gateway round shared
/// by concurrent callers for a user) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionOutcome {
    /// Served from the cache without a gateway call.
    CacheHit,
    /// A new session from `POST /api/auth/connect`.
    Connect,
    /// A new session from `POST /api/auth/refresh`.
    Refresh,
    /// No session, or a refresh failed and the current token was served.
    Error,
}

#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn session(outcome: SessionOutcome) {
    #[cfg(feature = "metrics")]
    count!("tower_signing_macrofy_sessions_total", outcome, [
        SessionOutcome::CacheHit => "cache_hit",
        SessionOutcome::Connect => "connect",
        SessionOutcome::Refresh => "refresh",
        SessionOutcome::Error => "error",
    ]);
}

/// The `outcome` label of `tower_signing_gateway_connects_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectOutcome {
    Admitted,
    Returning,
    Invalid,
    UnknownApp,
    BadSignature,
    QuotaExceeded,
    Unavailable,
}

/// A gateway connect request ended with this outcome.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn gateway_connect(outcome: ConnectOutcome) {
    #[cfg(feature = "metrics")]
    count!("tower_signing_gateway_connects_total", outcome, [
        ConnectOutcome::Admitted => "admitted",
        ConnectOutcome::Returning => "returning",
        ConnectOutcome::Invalid => "invalid",
        ConnectOutcome::UnknownApp => "unknown_app",
        ConnectOutcome::BadSignature => "bad_signature",
        ConnectOutcome::QuotaExceeded => "quota_exceeded",
        ConnectOutcome::Unavailable => "unavailable",
    ]);
}

/// Time spent checking and signing one callback, not counting the wait for
/// body bytes: started and paused around each piece of work. A zero-sized
/// no-op without the feature.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "metrics")]
    elapsed: std::time::Duration,
    #[cfg(feature = "metrics")]
    running: Option<std::time::Instant>,
}

impl Stopwatch {
    /// A running stopwatch.
    pub(crate) fn start() -> Self {
        let mut stopwatch = Stopwatch::default();
        stopwatch.resume();
        stopwatch
    }

    pub(crate) fn resume(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.running = Some(std::time::Instant::now());
        }
    }

    pub(crate) fn pause(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(started) = self.running.take() {
            self.elapsed += started.elapsed();
        }
    }

    /// Records the total in the verify-and-sign histogram.
    #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
    pub(crate) fn record(mut self) {
        self.pause();
        #[cfg(feature = "metrics")]
        ::metrics::histogram!("tower_signing_callback_verify_seconds")
            .record(self.elapsed.as_secs_f64());
    }

    /// Adds this time to the one a layer in front left in `extensions`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables, unused_mut))]
    pub(crate) fn add_to(mut self, extensions: &mut http::Extensions) {
        self.pause();
        #[cfg(feature = "metrics")]
        match extensions.get_mut::<Stopwatch>() {
            Some(total) => total.elapsed += self.elapsed,
            None => {
                extensions.insert(self);
            }
        }
    }

    /// The time the layers in front spent on this request's checks, paused.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn take_from(extensions: &mut http::Extensions) -> Stopwatch {
        #[cfg(feature = "metrics")]
        if let Some(total) = extensions.remove::<Stopwatch>() {
            return total;
        }
        Stopwatch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utilsio::{CallbackField, TimestampError};

    #[test]
    fn every_rejection_has_its_outcome() {
        let cases = [
            (CallbackRejection::MethodNotAllowed, None),
            (
                CallbackRejection::UnauthorizedOrigin(OriginProblem::Missing),
                Some(CallbackOutcome::Origin),
            ),
            (
                CallbackRejection::UnauthorizedOrigin(OriginProblem::Repeated),
                Some(CallbackOutcome::Origin),
            ),
            (
                CallbackRejection::UnauthorizedOrigin(OriginProblem::SourceNotAllowed),
                Some(CallbackOutcome::Source),
            ),
            (
                CallbackRejection::HttpsRequired,
                Some(CallbackOutcome::Https),
            ),
            (
                CallbackRejection::BodyTooLarge { limit: 1 },
                Some(CallbackOutcome::Body),
            ),
            (
                CallbackRejection::BodyUnreadable,
                Some(CallbackOutcome::Body),
            ),
            (
                CallbackRejection::InvalidJson("x".into()),
                Some(CallbackOutcome::Body),
            ),
            (CallbackRejection::NotAnObject, Some(CallbackOutcome::Body)),
            (
                CallbackRejection::MissingFields,
                Some(CallbackOutcome::Body),
            ),
            (
                CallbackRejection::InvalidField(CallbackField::Timestamp),
                Some(CallbackOutcome::Body),
            ),
            (
                CallbackRejection::InvalidTimestamp(TimestampError::TooOld {
                    age_secs: 61,
                    max_secs: 60,
                }),
                Some(CallbackOutcome::Timestamp),
            ),
            (
                CallbackRejection::InvalidAppId,
                Some(CallbackOutcome::AppId),
            ),
        ];
        for (rejection, outcome) in cases {
            assert_eq!(callback_outcome(&rejection), outcome, "{rejection:?}");
        }
    }
}

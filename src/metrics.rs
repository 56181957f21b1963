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

/// Counter: signature callbacks by `outcome`.
pub(crate) const CALLBACK_REQUESTS: &str = "tower_signing_callback_requests_total";
/// Histogram: seconds spent checking and signing one callback.
pub(crate) const CALLBACK_VERIFY_SECONDS: &str = "tower_signing_callback_verify_seconds";
/// Counter: `SessionManager::session` results by `outcome`.
pub(crate) const MACROFY_SESSIONS: &str = "tower_signing_macrofy_sessions_total";
/// Counter: gateway connect requests by `outcome`.
pub(crate) const GATEWAY_CONNECTS: &str = "tower_signing_gateway_connects_total";

#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
fn count(name: &'static str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(name, "outcome" => outcome).increment(1);
}

/// The `outcome` of a callback rejection; `None` for a method other than
/// `POST`, which is not a callback attempt (browsers and scanners).
pub(crate) fn callback_outcome(rejection: &CallbackRejection) -> Option<&'static str> {
    Some(match rejection {
        CallbackRejection::MethodNotAllowed => return None,
        CallbackRejection::UnauthorizedOrigin(OriginProblem::SourceNotAllowed) => "source",
        CallbackRejection::UnauthorizedOrigin(_) => "origin",
        CallbackRejection::HttpsRequired => "https",
        CallbackRejection::BodyTooLarge { .. }
        | CallbackRejection::BodyUnreadable
        | CallbackRejection::InvalidJson(_)
        | CallbackRejection::NotAnObject
        | CallbackRejection::MissingFields
        | CallbackRejection::InvalidField(_) => "body",
        CallbackRejection::InvalidTimestamp(_) => "timestamp",
        CallbackRejection::InvalidAppId => "app_id",
    })
}

/// A callback rejection became a response (once per request: the first
/// failing check answers).
pub(crate) fn callback_rejected(rejection: &CallbackRejection) {
    if let Some(outcome) = callback_outcome(rejection) {
        count(CALLBACK_REQUESTS, outcome);
    }
}

/// A verified callback was signed.
pub(crate) fn callback_signed() {
    count(CALLBACK_REQUESTS, "signed");
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

pub(crate) fn session(outcome: SessionOutcome) {
    count(
        MACROFY_SESSIONS,
        match outcome {
            SessionOutcome::CacheHit => "cache_hit",
            SessionOutcome::Connect => "connect",
            SessionOutcome::Refresh => "refresh",
            SessionOutcome::Error => "error",
        },
    );
}

/// A gateway connect request ended with this `outcome` (see lib.rs).
pub(crate) fn gateway_connect(outcome: &'static str) {
    count(GATEWAY_CONNECTS, outcome);
}

/// Time spent checking and signing one callback, not counting the wait for
/// body bytes. A zero-sized no-op without the feature.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "metrics")]
    elapsed: std::time::Duration,
}

/// A running [`Stopwatch`] lap.
#[derive(Debug)]
pub(crate) struct Lap {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Lap {
    pub(crate) fn start() -> Self {
        Lap {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    /// Adds this lap's time to `stopwatch`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables, unused_mut))]
    pub(crate) fn stop(self, stopwatch: &mut Stopwatch) {
        #[cfg(feature = "metrics")]
        {
            stopwatch.elapsed += self.started.elapsed();
        }
    }
}

impl Stopwatch {
    /// Adds `other`'s time (a check made by a layer in front).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables, unused_mut))]
    pub(crate) fn add(&mut self, other: Stopwatch) {
        #[cfg(feature = "metrics")]
        {
            self.elapsed += other.elapsed;
        }
    }

    /// Records the total in the verify-and-sign histogram.
    pub(crate) fn record(self) {
        #[cfg(feature = "metrics")]
        ::metrics::histogram!(CALLBACK_VERIFY_SECONDS).record(self.elapsed.as_secs_f64());
    }

    /// Adds this time to the one a layer in front left in `extensions`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn add_to(self, extensions: &mut http::Extensions) {
        #[cfg(feature = "metrics")]
        match extensions.get_mut::<Stopwatch>() {
            Some(total) => total.add(self),
            None => {
                extensions.insert(self);
            }
        }
    }

    /// The time the layers in front spent on this request's checks.
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
                Some("origin"),
            ),
            (
                CallbackRejection::UnauthorizedOrigin(OriginProblem::Repeated),
                Some("origin"),
            ),
            (
                CallbackRejection::UnauthorizedOrigin(OriginProblem::SourceNotAllowed),
                Some("source"),
            ),
            (CallbackRejection::HttpsRequired, Some("https")),
            (CallbackRejection::BodyTooLarge { limit: 1 }, Some("body")),
            (CallbackRejection::BodyUnreadable, Some("body")),
            (CallbackRejection::InvalidJson("x".into()), Some("body")),
            (CallbackRejection::NotAnObject, Some("body")),
            (CallbackRejection::MissingFields, Some("body")),
            (
                CallbackRejection::InvalidField(CallbackField::Timestamp),
                Some("body"),
            ),
            (
                CallbackRejection::InvalidTimestamp(TimestampError::TooOld {
                    age_secs: 61,
                    max_secs: 60,
                }),
                Some("timestamp"),
            ),
            (CallbackRejection::InvalidAppId, Some("app_id")),
        ];
        for (rejection, outcome) in cases {
            assert_eq!(callback_outcome(&rejection), outcome, "{rejection:?}");
        }
    }
}

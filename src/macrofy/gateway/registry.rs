//! Where the gateway finds each app's secret: the [`AppRegistry`] trait and
//! its in-memory implementation.

use std::collections::HashMap;
use std::fmt;
use std::future;

use super::{BoxError, BoxFuture};
use crate::error::InvalidSignature;
use crate::macrofy::{SigningKey, validate_app_id};

/// The signing keys of one app: its current secret and, during a
/// rotation, the previous one.
///
/// [`verify`](Self::verify) accepts a signature made with either. `Debug`
/// prints no key.
///
/// ```
/// use tower_signing::macrofy::SigningKey;
/// use tower_signing::macrofy::gateway::AppKeys;
///
/// let old = SigningKey::new("old-secret")?;
/// let keys = AppKeys::new(SigningKey::new("new-secret")?).with_previous(old.clone());
/// let signature = old.sign_user_id("user-1");
/// assert!(keys.verify("user-1", signature.as_str()).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AppKeys {
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl fmt::Debug for AppKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKeys")
            .field("keys", &"[redacted]")
            .field("rotating", &self.previous.is_some())
            .finish()
    }
}

impl From<SigningKey> for AppKeys {
    fn from(current: SigningKey) -> Self {
        AppKeys::new(current)
    }
}

impl AppKeys {
    /// One key: no rotation under way.
    pub fn new(current: SigningKey) -> Self {
        AppKeys {
            current,
            previous: None,
        }
    }

    /// Also accepts signatures made with `previous` (replacing any previous
    /// key set before), until the registry drops it.
    #[must_use]
    pub fn with_previous(mut self, previous: SigningKey) -> Self {
        self.previous = Some(previous);
        self
    }

    /// Checks `signature` against every key, each in constant time, always
    /// both when two are set, so the timing does not tell which one matched.
    ///
    /// # Errors
    /// [`InvalidSignature`] when no key matches.
    pub fn verify(&self, user_id: &str, signature: &str) -> Result<(), InvalidSignature> {
        let current = self.current.verify(user_id, signature).is_ok();
        let previous = self
            .previous
            .as_ref()
            .is_some_and(|key| key.verify(user_id, signature).is_ok());
        if current | previous {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }
}

/// Looks up the signing keys of an app by its appId.
///
/// The gateway calls it once per connect request, and once per refresh to
/// check that the app still exists. Implement it over a database or a
/// secrets manager; keys should be built once (with [`SigningKey::new`])
/// and cached, since building keys the HMAC.
pub trait AppRegistry: Send + Sync + 'static {
    /// The keys of `app_id`, `Ok(None)` when the app is unknown (401), or an
    /// error when the registry itself failed (503; the error is logged, so
    /// it must not contain secrets).
    fn app_keys<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<Option<AppKeys>, BoxError>>;
}

/// An [`AppRegistry`] held in memory, built from configuration at start-up.
///
/// `Debug` lists the app ids only.
///
/// ```
/// use tower_signing::macrofy::gateway::InMemoryAppRegistry;
///
/// let apps = InMemoryAppRegistry::from_spec("app_one_001:secret-1,app_two_002:secret-2")?;
/// assert_eq!(apps.len(), 2);
/// assert!(!format!("{apps:?}").contains("secret-1"));
///
/// // A rotation: app_one_001 accepts its new and its previous secret.
/// let apps = InMemoryAppRegistry::new().with_app_secrets("app_one_001", ["new", "old"])?;
/// let apps = InMemoryAppRegistry::from_spec("app_one_001:new,app_one_001:old")?;
/// # let _ = apps;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct InMemoryAppRegistry {
    apps: HashMap<String, AppKeys>,
}

impl fmt::Debug for InMemoryAppRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.apps.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("InMemoryAppRegistry")
            .field("app_ids", &ids)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// An app could not be registered. Messages never quote a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryConfigError {
    /// The appId is not a 10-12 character nanoid.
    #[error("app {position}: appId must be 10-12 characters from A-Za-z0-9_-")]
    InvalidAppId {
        /// 1-based position of the entry.
        position: usize,
    },
    /// The secret is empty.
    #[error("app {position} ({app_id}): the secret is empty")]
    EmptySecret {
        /// 1-based position of the entry.
        position: usize,
        /// The app id of the entry.
        app_id: String,
    },
    /// An entry of an `appId:secret,...` list has no `:`.
    #[error("app {position}: expected appId:secret")]
    MissingSeparator {
        /// 1-based position of the entry.
        position: usize,
    },
    /// The appId is already registered ([`InMemoryAppRegistry::with_app`]),
    /// or listed a third time in a spec (two secrets at most: the current
    /// and the previous one).
    #[error("app {position} ({app_id}): appId is listed too many times")]
    Duplicate {
        /// 1-based position of the entry.
        position: usize,
        /// The repeated app id.
        app_id: String,
    },
    /// No app was given.
    #[error("no app is configured")]
    Empty,
}

impl InMemoryAppRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an app, keying its HMAC now (once).
    ///
    /// # Errors
    /// An invalid appId, an empty secret, or an appId already registered.
    pub fn with_app(mut self, app_id: &str, secret: &str) -> Result<Self, RegistryConfigError> {
        let position = self.apps.len() + 1;
        self.insert(position, app_id, secret, false)?;
        Ok(self)
    }

    /// Adds an app during a secret rotation: connect accepts a signature made
    /// with either `[current, previous]`. Once every backend signs with the
    /// current secret, register the app with [`with_app`](Self::with_app)
    /// alone.
    ///
    /// # Errors
    /// As [`with_app`](Self::with_app).
    pub fn with_app_secrets(
        mut self,
        app_id: &str,
        [current, previous]: [&str; 2],
    ) -> Result<Self, RegistryConfigError> {
        let position = self.apps.len() + 1;
        self.insert(position, app_id, current, false)?;
        self.insert(position, app_id, previous, true)?;
        Ok(self)
    }

    fn insert(
        &mut self,
        position: usize,
        app_id: &str,
        secret: &str,
        previous: bool,
    ) -> Result<(), RegistryConfigError> {
        validate_app_id(app_id).map_err(|_| RegistryConfigError::InvalidAppId { position })?;
        let key = SigningKey::new(secret).map_err(|_| RegistryConfigError::EmptySecret {
            position,
            app_id: app_id.to_owned(),
        })?;
        let duplicate = || RegistryConfigError::Duplicate {
            position,
            app_id: app_id.to_owned(),
        };
        match self.apps.get_mut(app_id) {
            None if !previous => {
                self.apps.insert(app_id.to_owned(), AppKeys::new(key));
            }
            Some(keys) if previous && keys.previous.is_none() => keys.previous = Some(key),
            _ => return Err(duplicate()),
        }
        Ok(())
    }

    /// Parses `appId:secret,appId:secret` (the `MACROFY_GATEWAY_APPS`
    /// format).
    ///
    /// The secret is everything after the first `:` up to the next `,`,
    /// taken exactly as written (spaces included; it may contain `:`, not
    /// `,`). Whitespace around the appId is ignored, and entries that are
    /// empty or only whitespace are skipped.
    ///
    /// During a rotation list the app twice: the first entry is the current
    /// secret, the second the previous one, and connect accepts either
    /// (`app_one_001:new-secret,app_one_001:old-secret`).
    ///
    /// # Errors
    /// The first bad entry, by position (an app listed a third time is
    /// [`RegistryConfigError::Duplicate`]); or [`RegistryConfigError::Empty`].
    pub fn from_spec(spec: &str) -> Result<Self, RegistryConfigError> {
        let mut registry = Self::new();
        for (index, entry) in spec.split(',').filter(|e| !e.trim().is_empty()).enumerate() {
            let position = index + 1;
            let (app_id, secret) = entry
                .split_once(':')
                .ok_or(RegistryConfigError::MissingSeparator { position })?;
            let app_id = app_id.trim();
            let previous = registry.apps.contains_key(app_id);
            registry.insert(position, app_id, secret, previous)?;
        }
        if registry.apps.is_empty() {
            return Err(RegistryConfigError::Empty);
        }
        Ok(registry)
    }

    /// The number of registered apps.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// Whether no app is registered.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// Whether `app_id` is registered.
    pub fn contains(&self, app_id: &str) -> bool {
        self.apps.contains_key(app_id)
    }
}

impl AppRegistry for InMemoryAppRegistry {
    fn app_keys<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<Option<AppKeys>, BoxError>> {
        Box::pin(future::ready(Ok(self.apps.get(app_id).cloned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signs_like(r: &InMemoryAppRegistry, app_id: &str, secret: &str) -> bool {
        let sig = SigningKey::new(secret).unwrap().sign_user_id("u");
        r.apps[app_id].verify("u", sig.as_str()).is_ok()
    }

    #[test]
    fn spec_parsing_errors_name_the_entry_not_the_secret() {
        let err = InMemoryAppRegistry::from_spec("good_app_01:s3cr3t,bad").unwrap_err();
        assert_eq!(err.to_string(), "app 2: expected appId:secret");
        let err = InMemoryAppRegistry::from_spec("short:s3cr3t").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
        assert_eq!(
            InMemoryAppRegistry::from_spec("good_app_01:").unwrap_err(),
            RegistryConfigError::EmptySecret {
                position: 1,
                app_id: "good_app_01".into()
            }
        );
        let err = InMemoryAppRegistry::from_spec("good_app_01:a,good_app_01:b,good_app_01:c")
            .unwrap_err();
        assert!(matches!(
            err,
            RegistryConfigError::Duplicate { position: 3, .. }
        ));
        assert!(!err.to_string().contains(":c"));
        assert_eq!(
            InMemoryAppRegistry::from_spec(" , ").unwrap_err(),
            RegistryConfigError::Empty
        );
    }

    #[test]
    fn secret_may_contain_colons() {
        let r = InMemoryAppRegistry::from_spec("good_app_01:a:b").unwrap();
        assert!(signs_like(&r, "good_app_01", "a:b"));
    }

    #[test]
    fn secrets_are_taken_exactly_as_written() {
        let r = InMemoryAppRegistry::from_spec(
            " good_app_01:  padded secret \t, other_app_1: lead,third_app_1:trail ",
        )
        .unwrap();
        assert!(signs_like(&r, "good_app_01", "  padded secret \t"));
        assert!(!signs_like(&r, "good_app_01", "padded secret"));
        assert!(signs_like(&r, "other_app_1", " lead"));
        assert!(!signs_like(&r, "other_app_1", "lead"));
        assert!(signs_like(&r, "third_app_1", "trail "));
        assert!(!signs_like(&r, "third_app_1", "trail"));
        // A secret of spaces only is a secret, not an empty entry.
        let r = InMemoryAppRegistry::from_spec("good_app_01:  ").unwrap();
        assert!(signs_like(&r, "good_app_01", "  "));
    }

    #[test]
    fn an_app_listed_twice_rotates() {
        let r = InMemoryAppRegistry::from_spec("good_app_01:new,other_app_1:x,good_app_01:old")
            .unwrap();
        assert_eq!(r.len(), 2);
        assert!(signs_like(&r, "good_app_01", "new"));
        assert!(signs_like(&r, "good_app_01", "old"));
        assert!(!signs_like(&r, "good_app_01", "x"));
        assert!(!signs_like(&r, "other_app_1", "old"));
        let r = InMemoryAppRegistry::new()
            .with_app_secrets("good_app_01", ["new", "old"])
            .unwrap();
        assert!(signs_like(&r, "good_app_01", "new"));
        assert!(signs_like(&r, "good_app_01", "old"));
        assert!(!signs_like(&r, "good_app_01", "other"));
        // with_app never rotates by accident.
        assert!(matches!(
            InMemoryAppRegistry::new()
                .with_app("good_app_01", "a")
                .unwrap()
                .with_app("good_app_01", "b"),
            Err(RegistryConfigError::Duplicate { .. })
        ));
        assert!(matches!(
            InMemoryAppRegistry::new().with_app_secrets("good_app_01", ["a", ""]),
            Err(RegistryConfigError::EmptySecret { .. })
        ));
        let dbg = format!("{:?}", r.apps["good_app_01"]);
        assert!(!dbg.contains("new") && !dbg.contains("old"), "{dbg}");
    }

    #[tokio::test]
    async fn lookup() {
        let r = InMemoryAppRegistry::new()
            .with_app("good_app_01", "s")
            .unwrap();
        assert!(r.app_keys("good_app_01").await.unwrap().is_some());
        assert!(r.app_keys("other_app_1").await.unwrap().is_none());
    }
}

//! Where the gateway finds each app's secret: the [`AppRegistry`] trait and
//! its in-memory implementation.

use std::collections::HashMap;
use std::fmt;
use std::future;

use super::{BoxError, BoxFuture};
use crate::macrofy::{SigningKey, validate_app_id};

/// Looks up the signing key of an app by its appId.
///
/// The gateway calls it once per connect request. Implement it over a
/// database or a secrets manager; keys should be built once (with
/// [`SigningKey::new`]) and cached, since building keys the HMAC.
pub trait AppRegistry: Send + Sync + 'static {
    /// The key of `app_id`, `Ok(None)` when the app is unknown (401), or an
    /// error when the registry itself failed (503; the error is logged, so
    /// it must not contain secrets).
    fn app_key<'a>(
        &'a self,
        app_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SigningKey>, BoxError>>;
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct InMemoryAppRegistry {
    apps: HashMap<String, SigningKey>,
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
    /// The same appId is listed twice.
    #[error("app {position} ({app_id}): appId is listed twice")]
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
        self.insert(self.apps.len() + 1, app_id, secret)?;
        Ok(self)
    }

    fn insert(
        &mut self,
        position: usize,
        app_id: &str,
        secret: &str,
    ) -> Result<(), RegistryConfigError> {
        validate_app_id(app_id).map_err(|_| RegistryConfigError::InvalidAppId { position })?;
        let key = SigningKey::new(secret).map_err(|_| RegistryConfigError::EmptySecret {
            position,
            app_id: app_id.to_owned(),
        })?;
        if self.apps.contains_key(app_id) {
            return Err(RegistryConfigError::Duplicate {
                position,
                app_id: app_id.to_owned(),
            });
        }
        self.apps.insert(app_id.to_owned(), key);
        Ok(())
    }

    /// Parses `appId:secret,appId:secret` (the `MACROFY_GATEWAY_APPS`
    /// format). The secret is everything after the first `:`, so it may
    /// itself contain `:`; it may not contain `,`. Whitespace around entries
    /// is ignored, empty entries are skipped.
    ///
    /// # Errors
    /// The first bad entry, by position; or [`RegistryConfigError::Empty`].
    pub fn from_spec(spec: &str) -> Result<Self, RegistryConfigError> {
        let mut registry = Self::new();
        for (index, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let position = index + 1;
            let (app_id, secret) = entry
                .split_once(':')
                .ok_or(RegistryConfigError::MissingSeparator { position })?;
            registry.insert(position, app_id.trim(), secret)?;
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
    fn app_key<'a>(
        &'a self,
        app_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SigningKey>, BoxError>> {
        Box::pin(future::ready(Ok(self.apps.get(app_id).cloned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            InMemoryAppRegistry::from_spec("good_app_01:a,good_app_01:b"),
            Err(RegistryConfigError::Duplicate { position: 2, .. })
        ));
        assert_eq!(
            InMemoryAppRegistry::from_spec(" , ").unwrap_err(),
            RegistryConfigError::Empty
        );
    }

    #[test]
    fn secret_may_contain_colons() {
        let r = InMemoryAppRegistry::from_spec(" good_app_01:a:b ").unwrap();
        let key = r.apps.get("good_app_01").unwrap();
        assert_eq!(
            key.sign_user_id("u"),
            SigningKey::new("a:b").unwrap().sign_user_id("u")
        );
    }

    #[tokio::test]
    async fn lookup() {
        let r = InMemoryAppRegistry::new()
            .with_app("good_app_01", "s")
            .unwrap();
        assert!(r.app_key("good_app_01").await.unwrap().is_some());
        assert!(r.app_key("other_app_1").await.unwrap().is_none());
    }
}

//! The sandbox user limit: the [`QuotaStore`] trait and its in-memory
//! implementation.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future;
use std::sync::Mutex;

use super::{BoxError, BoxFuture};

/// What a [`QuotaStore`] decided for one connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// The user was already counted for this app: no quota used.
    Returning,
    /// A new user, now counted.
    Admitted,
    /// A new user, but the app already has `limit` distinct users (403).
    QuotaExceeded,
}

/// Counts the distinct users of each app against a limit.
///
/// `admit` must be atomic per app: checking "is this user known / is there
/// room" and recording the user happen as one step, so concurrent connects of
/// new users never admit more than `limit` (a database implementation would
/// use a transaction or a conditional insert).
pub trait QuotaStore: Send + Sync + 'static {
    /// Records `user` for `app_id` if there is room under `limit` (`None`
    /// means no limit). A user already recorded is always
    /// [`Admission::Returning`], even when the app is full.
    ///
    /// `user` is the gateway's scoped user id, so the store never sees the
    /// app's own user ids. An error means the store failed (503; it is
    /// logged, so it must not contain secrets).
    fn admit<'a>(
        &'a self,
        app_id: &'a str,
        user: &'a str,
        limit: Option<u64>,
    ) -> BoxFuture<'a, Result<Admission, BoxError>>;
}

/// A [`QuotaStore`] in process memory, the gateway's default. Counts are lost
/// on restart, which suits a local or test gateway.
///
/// One mutex guards the check and the insert together, so it is race-free
/// under concurrency. The lock is never held across an `.await`.
///
/// ```
/// use tower_signing::macrofy::gateway::{Admission, InMemoryQuotaStore, QuotaStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryQuotaStore::new();
/// assert_eq!(store.admit("app_one_001", "u1", Some(1)).await.unwrap(), Admission::Admitted);
/// assert_eq!(store.admit("app_one_001", "u2", Some(1)).await.unwrap(), Admission::QuotaExceeded);
/// assert_eq!(store.admit("app_one_001", "u1", Some(1)).await.unwrap(), Admission::Returning);
/// # });
/// ```
#[derive(Default)]
pub struct InMemoryQuotaStore {
    users: Mutex<HashMap<String, HashSet<String>>>,
}

impl fmt::Debug for InMemoryQuotaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let apps = self.users.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("InMemoryQuotaStore")
            .field("apps", &apps)
            .finish_non_exhaustive()
    }
}

impl InMemoryQuotaStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many distinct users `app_id` has.
    pub fn user_count(&self, app_id: &str) -> usize {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.get(app_id).map_or(0, HashSet::len)
    }

    fn admit_now(&self, app_id: &str, user: &str, limit: Option<u64>) -> Admission {
        // A poisoned lock only means another thread panicked mid-insert of a
        // HashSet entry; the map itself is still consistent.
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let set = users.entry(app_id.to_owned()).or_default();
        if set.contains(user) {
            return Admission::Returning;
        }
        if limit.is_some_and(|limit| set.len() as u64 >= limit) {
            return Admission::QuotaExceeded;
        }
        set.insert(user.to_owned());
        Admission::Admitted
    }
}

impl QuotaStore for InMemoryQuotaStore {
    fn admit<'a>(
        &'a self,
        app_id: &'a str,
        user: &'a str,
        limit: Option<u64>,
    ) -> BoxFuture<'a, Result<Admission, BoxError>> {
        Box::pin(future::ready(Ok(self.admit_now(app_id, user, limit))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn zero_limit_admits_nobody_and_none_admits_everyone() {
        let s = InMemoryQuotaStore::new();
        assert_eq!(s.admit_now("a", "u", Some(0)), Admission::QuotaExceeded);
        for i in 0..100 {
            assert_eq!(s.admit_now("b", &i.to_string(), None), Admission::Admitted);
        }
        assert_eq!(s.user_count("b"), 100);
        assert_eq!(s.user_count("a"), 0);
    }

    #[test]
    fn apps_are_counted_separately() {
        let s = InMemoryQuotaStore::new();
        assert_eq!(s.admit_now("a", "u", Some(1)), Admission::Admitted);
        assert_eq!(s.admit_now("b", "u", Some(1)), Admission::Admitted);
        assert_eq!(s.admit_now("a", "v", Some(1)), Admission::QuotaExceeded);
    }

    #[test]
    fn threads_never_exceed_the_limit() {
        let s = Arc::new(InMemoryQuotaStore::new());
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|i| {
                            s.admit_now("a", &format!("{t}-{i}"), Some(37)) == Admission::Admitted
                        })
                        .count()
                })
            })
            .collect();
        let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(admitted, 37);
        assert_eq!(s.user_count("a"), 37);
    }
}

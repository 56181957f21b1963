//! [`MemorySessionCache`]: sessions in process memory, bounded, evicting the
//! soonest-to-expire first.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use super::{CacheError, SessionCache};
use crate::macrofy::{BoxFuture, Session};
use crate::{Clock, SystemClock};

/// The default bound of a [`MemorySessionCache`]: 10 000 sessions.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// A [`SessionCache`] in process memory, for a single instance.
///
/// Holds at most `max_entries` sessions; an expired session is never
/// returned, and when the cache is full the session closest to its expiry
/// (expired ones first) makes room. `Debug` shows counts, never a token.
pub struct MemorySessionCache {
    entries: Mutex<Entries>,
    max_entries: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, (Session, u64)>,
    by_expiry: BTreeSet<(u64, String)>,
}

impl Entries {
    fn remove(&mut self, key: &str) {
        if let Some((_, exp)) = self.by_key.remove(key) {
            self.by_expiry.remove(&(exp, key.to_owned()));
        }
    }
}

impl fmt::Debug for MemorySessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionCache")
            .field("len", &self.len())
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl Default for MemorySessionCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySessionCache {
    /// An empty cache of at most [`DEFAULT_MAX_ENTRIES`] sessions.
    pub fn new() -> Self {
        MemorySessionCache {
            entries: Mutex::default(),
            max_entries: DEFAULT_MAX_ENTRIES,
            clock: Arc::new(SystemClock),
        }
    }

    /// At most `max` sessions (at least one).
    #[must_use]
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max.max(1);
        self
    }

    /// The clock that decides whether an entry has expired.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The number of sessions held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_now(&self, key: &str) -> Option<Session> {
        let now = self.clock.now_unix_seconds();
        let mut entries = self.lock();
        match entries.by_key.get(key) {
            Some((session, exp)) if *exp > now => Some(session.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put_now(&self, key: &str, session: &Session, expires_at: u64) {
        let now = self.clock.now_unix_seconds();
        let mut entries = self.lock();
        entries.remove(key);
        if expires_at <= now {
            return;
        }
        while entries.by_key.len() >= self.max_entries {
            let Some((_, soonest)) = entries.by_expiry.pop_first() else {
                break;
            };
            entries.by_key.remove(&soonest);
        }
        entries
            .by_key
            .insert(key.to_owned(), (session.clone(), expires_at));
        entries.by_expiry.insert((expires_at, key.to_owned()));
    }
}

impl SessionCache for MemorySessionCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Session>, CacheError>> {
        let found = self.get_now(key);
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        session: &'a Session,
        expires_at: u64,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.put_now(key, session, expires_at);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::macrofy::SessionUser;

    fn session(user: &str) -> Session {
        Session {
            token: format!("token-of-{user}"),
            user: SessionUser {
                id: format!("usr_{user}"),
                app_id: "abcdefghij".into(),
                external_id: user.into(),
            },
        }
    }

    async fn get(cache: &MemorySessionCache, key: &str) -> Option<Session> {
        cache.get(key).await.unwrap()
    }

    #[tokio::test]
    async fn bounded_and_evicts_the_soonest_to_expire() {
        let clock = ManualClock::new(1_000);
        let cache = MemorySessionCache::new()
            .with_max_entries(3)
            .with_clock(clock.clone());
        for (user, exp) in [("a", 5_000), ("b", 2_000), ("c", 9_000)] {
            cache.put(user, &session(user), exp).await.unwrap();
        }
        assert_eq!(cache.len(), 3);
        cache.put("d", &session("d"), 7_000).await.unwrap();
        assert_eq!(cache.len(), 3);
        assert_eq!(get(&cache, "b").await, None, "soonest expiry goes first");
        for user in ["a", "c", "d"] {
            assert_eq!(get(&cache, user).await, Some(session(user)), "{user}");
        }
        // Replacing a key does not evict anyone.
        cache.put("a", &session("a"), 8_000).await.unwrap();
        assert_eq!(cache.len(), 3);
        assert!(get(&cache, "c").await.is_some());
        assert!(get(&cache, "d").await.is_some());
    }

    #[tokio::test]
    async fn expired_entries_are_never_returned_and_go_first() {
        let clock = ManualClock::new(1_000);
        let cache = MemorySessionCache::new()
            .with_max_entries(2)
            .with_clock(clock.clone());
        cache.put("old", &session("old"), 1_100).await.unwrap();
        cache.put("new", &session("new"), 9_000).await.unwrap();
        clock.advance(100);
        assert_eq!(get(&cache, "old").await, None);
        assert_eq!(cache.len(), 1, "an expired entry is dropped when read");
        cache.put("x", &session("x"), 1_050).await.unwrap();
        assert_eq!(cache.len(), 1, "already expired: not stored");
        cache.put("y", &session("y"), 3_000).await.unwrap();
        cache.put("z", &session("z"), 4_000).await.unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(get(&cache, "y").await, None);
        assert!(get(&cache, "new").await.is_some());
        assert!(get(&cache, "z").await.is_some());
    }

    #[test]
    fn debug_shows_no_token() {
        let cache = MemorySessionCache::new();
        cache.put_now("k", &session("u"), u64::MAX);
        let dbg = format!("{cache:?}");
        assert!(!dbg.contains("token-of-u"), "{dbg}");
        assert!(dbg.contains("len: 1"), "{dbg}");
    }
}

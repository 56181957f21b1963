//! `session_file`: the client's file session store reading a file it did
//! not write (a corrupted disk, an older version, an attacker with write
//! access to the directory).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tower_signing::macrofy::Session;
use tower_signing::macrofy::client::{FileSessionStore, SessionStore};

use super::fixtures::block_on;

/// `session_file`: `data` is the whole content of the session file, written
/// to a fresh file and read back with `FileSessionStore::load`.
///
/// - Loading never fails and never panics on any content.
/// - It yields a session exactly when serde_json reads `{token, user: {id,
///   appId, externalId}}` with a non-empty token, and then that session;
///   anything else is no session.
/// - A loaded session saved again loads back equal, and its `Debug` does
///   not show the token.
pub fn session_file(data: &[u8]) -> bool {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"));
    let path = dir.path().join(format!(
        "session-{}.json",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, data).expect("write the session file");
    let store = FileSessionStore::new(&path);

    let loaded = block_on(store.load()).expect("a readable session file never fails to load");
    let expected = serde_json::from_slice::<Session>(data)
        .ok()
        .filter(|s| !s.token.is_empty());
    assert_eq!(
        loaded, expected,
        "loaded session differs from the file's JSON"
    );

    let accepted = loaded.is_some();
    if let Some(session) = loaded {
        // Debug does not depend on the token at all.
        let without_token = Session {
            token: String::new(),
            user: session.user.clone(),
        };
        assert_eq!(
            format!("{session:?}"),
            format!("{without_token:?}"),
            "Debug shows the token"
        );
        block_on(store.save(&session)).expect("save");
        let again = block_on(store.load()).expect("load after save");
        assert_eq!(
            again.as_ref(),
            Some(&session),
            "save then load changed the session"
        );
    }
    block_on(store.clear()).expect("clear");
    assert!(!path.exists(), "clear left the file");
    accepted
}

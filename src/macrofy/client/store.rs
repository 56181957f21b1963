//! Where the client keeps its session: the [`SessionStore`] trait, an
//! in-memory store and a file store.

use std::fmt;
use std::future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::macrofy::{BoxError, BoxFuture, Session};

/// A session store failed (an I/O error, or a custom backend's error).
///
/// A store holding unreadable data is not an error: it has no session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading, writing or removing the session file failed.
    #[error("session store I/O failed: {0}")]
    Io(#[from] io::Error),
    /// A custom store's backend failed.
    #[error("session store failed: {0}")]
    Backend(BoxError),
}

/// Persists the client's one session (the device keychain of SPEC 2.4).
///
/// Implement it over a keychain, a database row or an encrypted file.
/// `load` must treat unreadable or corrupt data as no session
/// (`Ok(None)`), never panic.
pub trait SessionStore: Send + Sync + 'static {
    /// The stored session, if any.
    fn load(&self) -> BoxFuture<'_, Result<Option<Session>, StoreError>>;
    /// Replaces the stored session.
    fn save<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Removes the stored session and every persisted credential.
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// A [`SessionStore`] in process memory: the session ends with the process.
/// `Debug` never shows the token.
#[derive(Default)]
pub struct MemorySessionStore {
    session: Mutex<Option<Session>>,
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.slot().as_ref().map(|s| s.user.clone());
        f.debug_struct("MemorySessionStore")
            .field("user", &user)
            .finish_non_exhaustive()
    }
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionStore for MemorySessionStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Session>, StoreError>> {
        Box::pin(future::ready(Ok(self.slot().clone())))
    }

    fn save<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<(), StoreError>> {
        *self.slot() = Some(session.clone());
        Box::pin(future::ready(Ok(())))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        *self.slot() = None;
        Box::pin(future::ready(Ok(())))
    }
}

/// A [`SessionStore`] in one JSON file.
///
/// - The file is created with mode `0600` (owner read/write only, on Unix).
/// - Writes are atomic: a temporary file in the same directory is written,
///   flushed to disk and renamed over the session file, so a crash leaves
///   the old session or the new one, never half of one.
/// - A missing, unreadable-as-JSON or otherwise corrupt file is no session.
/// - [`clear`](SessionStore::clear) removes the file.
///
/// File I/O runs on tokio's blocking pool.
///
/// ```no_run
/// use tower_signing::macrofy::client::{FileSessionStore, MacrofyClient};
///
/// let client = MacrofyClient::builder()
///     .session_store(FileSessionStore::new("/var/lib/my-app/macrofy-session.json"))
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileSessionStore {
    path: PathBuf,
}

impl FileSessionStore {
    /// A store at `path`; its directory must exist.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSessionStore { path: path.into() }
    }

    /// The session file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load_blocking(path: &Path) -> Result<Option<Session>, StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<Session>(&bytes) {
            Ok(session) if !session.token.is_empty() => Ok(Some(session)),
            _ => {
                // Never log the contents: they may hold a token.
                tracing::warn!(path = %path.display(), "macrofy session file is corrupt; treating it as no session");
                Ok(None)
            }
        }
    }

    fn save_blocking(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "session path has no file name")
            })?
            .to_string_lossy()
            .into_owned();
        let mut attempt = 0;
        let (tmp, mut file) = loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
            match open_private(&tmp) {
                Ok(file) => break (tmp, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        };
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        // Make the rename itself durable (best effort: not every platform
        // can open a directory).
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn clear_blocking(path: &Path) -> Result<(), StoreError> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn run<T, F>(&self, f: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&path))
                .await
                .map_err(|e| StoreError::Io(io::Error::other(e.to_string())))?
        })
    }
}

/// Creates `path` (which must not exist) readable and writable by the owner
/// only.
fn open_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl SessionStore for FileSessionStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Session>, StoreError>> {
        self.run(Self::load_blocking)
    }

    fn save<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<(), StoreError>> {
        let bytes = match serde_json::to_vec(session) {
            Ok(bytes) => zeroize::Zeroizing::new(bytes),
            Err(e) => return Box::pin(future::ready(Err(StoreError::Io(io::Error::other(e))))),
        };
        self.run(move |path| Self::save_blocking(path, &bytes))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(Self::clear_blocking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macrofy::SessionUser;

    fn session(token: &str) -> Session {
        Session {
            token: token.into(),
            user: SessionUser {
                id: "usr_1".into(),
                app_id: "abcdefghij".into(),
                external_id: "u1".into(),
            },
        }
    }

    #[tokio::test]
    async fn file_round_trip_mode_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileSessionStore::new(dir.path().join("s.json"));
        assert!(store.load().await.unwrap().is_none());
        store.save(&session("t1")).await.unwrap();
        store.save(&session("t2")).await.unwrap();
        assert_eq!(store.load().await.unwrap().unwrap().token, "t2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("s.json")]);
        store.clear().await.unwrap();
        assert!(!store.path().exists());
        store.clear().await.unwrap();
    }

    #[tokio::test]
    async fn corrupt_files_are_no_session() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let store = FileSessionStore::new(&path);
        for junk in [
            &b""[..],
            b"{",
            b"null",
            b"[]",
            b"\xff\xfe",
            br#"{"token":"","user":{"id":"a","appId":"b","externalId":"c"}}"#,
            br#"{"token":1}"#,
        ] {
            std::fs::write(&path, junk).unwrap();
            assert!(store.load().await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileSessionStore::new(dir.path().join("nope").join("s.json"));
        assert!(matches!(
            store.save(&session("t")).await,
            Err(StoreError::Io(_))
        ));
    }

    #[tokio::test]
    async fn memory_store_and_debug_hide_token() {
        let store = MemorySessionStore::new();
        store.save(&session("secret-token")).await.unwrap();
        assert!(!format!("{store:?}").contains("secret-token"));
        assert_eq!(store.load().await.unwrap().unwrap().token, "secret-token");
        store.clear().await.unwrap();
        assert!(store.load().await.unwrap().is_none());
    }
}

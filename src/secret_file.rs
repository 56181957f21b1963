//! Secrets from a variable or from the file another variable names (the
//! Docker and Kubernetes secrets convention: `X` or `X_FILE`).

use std::path::PathBuf;

use zeroize::{Zeroize, Zeroizing};

/// Reading a secret from `X` or from the file named by `X_FILE` failed.
/// Messages name the variables and the path, never the file's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretFileError {
    /// Both the variable and its `_FILE` variable are set.
    #[error("{var} and {file_var} are both set: set only one of them")]
    BothSet {
        /// The variable holding the secret itself.
        var: &'static str,
        /// The variable naming a file that holds it.
        file_var: &'static str,
    },
    /// The file named by the `_FILE` variable could not be read, is not
    /// UTF-8 text, or is empty.
    #[error("could not read the file {file_var} names ({}): {reason}", path.display())]
    Unreadable {
        /// The variable naming the file.
        file_var: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong (never the content).
        reason: String,
    },
}

/// The secret in `var`, or else in the file `file_var` names; `None` when
/// neither is set (an empty value counts as unset).
///
/// The file's content is kept verbatim except for **one** trailing line
/// ending (`\n` or `\r\n`), which `echo secret > file` adds: it is removed.
/// Other whitespace is part of the secret. An empty file is an error.
pub(crate) fn read_secret(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    file_var: &'static str,
) -> Result<Option<Zeroizing<String>>, SecretFileError> {
    let value = lookup(var).filter(|v| !v.is_empty()).map(Zeroizing::new);
    let path = lookup(file_var).filter(|v| !v.is_empty());
    let path = match (value, path) {
        (Some(_), Some(_)) => return Err(SecretFileError::BothSet { var, file_var }),
        (value, None) => return Ok(value),
        (None, Some(path)) => PathBuf::from(path),
    };
    let unreadable = |reason: String| SecretFileError::Unreadable {
        file_var,
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
    let mut text = Zeroizing::new(String::from_utf8(bytes).map_err(|e| {
        e.into_bytes().zeroize();
        unreadable("it is not UTF-8 text".into())
    })?);
    let ending = if text.ends_with("\r\n") {
        2
    } else {
        usize::from(text.ends_with('\n'))
    };
    let len = text.len() - ending;
    text.truncate(len);
    if text.is_empty() {
        return Err(unreadable("it is empty".into()));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn with_file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        file
    }

    fn read(value: Option<&str>, path: Option<&str>) -> Result<Option<String>, SecretFileError> {
        let lookup = |name: &str| match name {
            "X" => value.map(str::to_owned),
            "X_FILE" => path.map(str::to_owned),
            _ => None,
        };
        read_secret(&lookup, "X", "X_FILE").map(|v| v.map(|s| s.to_string()))
    }

    #[test]
    fn one_trailing_line_ending_is_removed_and_nothing_else() {
        for (content, expected) in [
            (&b"s3cret"[..], "s3cret"),
            (b"s3cret\n", "s3cret"),
            (b"s3cret\r\n", "s3cret"),
            (b"s3cret\n\n", "s3cret\n"),
            (b" s3cret \t\n", " s3cret \t"),
            (b"s3cret\r", "s3cret\r"),
        ] {
            let file = with_file(content);
            let got = read(None, file.path().to_str()).unwrap();
            assert_eq!(got.as_deref(), Some(expected), "{content:?}");
        }
    }

    #[test]
    fn variable_file_or_neither() {
        assert_eq!(read(Some("v"), None).unwrap().as_deref(), Some("v"));
        assert_eq!(read(None, None).unwrap(), None);
        assert_eq!(read(Some(""), Some("")).unwrap(), None);
        let file = with_file(b"from-file");
        let path = file.path().to_str();
        assert_eq!(read(Some(""), path).unwrap().as_deref(), Some("from-file"));
        assert_eq!(
            read(Some("v"), path).unwrap_err().to_string(),
            "X and X_FILE are both set: set only one of them"
        );
    }

    #[test]
    fn bad_files_are_named_without_their_content() {
        let err = read(None, Some("/nonexistent/tower-signing/secret")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "could not read the file X_FILE names (/nonexistent/tower-signing/secret): "
            ),
            "{msg}"
        );
        for content in [&b"\n"[..], b"\r\n", b""] {
            let file = with_file(content);
            let msg = read(None, file.path().to_str()).unwrap_err().to_string();
            assert!(msg.ends_with(": it is empty"), "{msg}");
        }
        let file = with_file(b"secret-part\xff\xfe");
        let msg = read(None, file.path().to_str()).unwrap_err().to_string();
        assert!(
            msg.ends_with(": it is not UTF-8 text") && !msg.contains("secret-part"),
            "{msg}"
        );
    }
}

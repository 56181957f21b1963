//! `tower-signing`: debug utilsio and Macrofy signatures from the shell, the
//! way the SDKs' `buildSignatureMessage` / `signRequest` would compute them.
//!
//! Secrets come from the environment only, never from argv (argv shows up in
//! `ps` and shell history). Input follows the library's rules: ids must not be
//! empty, the timestamp is a positive whole number of seconds written in
//! digits. Exit codes: 0 success / `valid`, 1 `invalid`, 2 bad input or a
//! missing environment variable; errors are one sentence on stderr and never
//! quote a secret.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tower_signing::utilsio::{AppHash, ScryptParams, SignatureMessage, SigningKey};
use tower_signing::{KeyError, macrofy};
use zeroize::Zeroizing;

/// Debug utilsio and Macrofy HMAC-SHA256 signatures byte-for-byte like the vendors' SDKs.
#[derive(Debug, Parser)]
#[command(name = "tower-signing", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    scheme: Scheme,
}

#[derive(Debug, Subcommand)]
enum Scheme {
    /// utilsio (subscription payments): scrypt app hash + signed `deviceId-appId-timestamp[-additionalData]`.
    #[command(subcommand)]
    Utilsio(UtilsioCommand),
    /// Macrofy (nutrition API): HMAC of the userId keyed by the app secret.
    #[command(subcommand)]
    Macrofy(MacrofyCommand),
}

#[derive(Debug, Subcommand)]
enum UtilsioCommand {
    /// Derive the app hash from env UTILSIO_APP_SECRET and the salt (--salt or env UTILSIO_APP_SALT); prints it (it is key material).
    Derive(DeriveArgs),
    /// Print the canonical message the SDK would sign.
    Message(MessageArgs),
    /// Sign with env UTILSIO_APP_HASH (hex, either case), or UTILSIO_APP_SECRET + UTILSIO_APP_SALT; prints the signature.
    Sign(MessageArgs),
    /// Check a signature: exit 0 `valid`, or exit 1 `invalid` and the message that was checked.
    Verify(VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum MacrofyCommand {
    /// Sign a userId with env MACROFY_APP_SECRET; prints the signature.
    Sign(UserArgs),
    /// Check a userId's signature: exit 0 `valid`, or exit 1 `invalid` and the userId checked.
    Verify(MacrofyVerifyArgs),
}

#[derive(Debug, Args)]
struct DeriveArgs {
    /// The salt as hex; defaults to env UTILSIO_APP_SALT.
    #[arg(long)]
    salt: Option<String>,
    /// scrypt N (a power of two).
    #[arg(long, default_value_t = 16384)]
    n: u64,
    /// scrypt r.
    #[arg(long, default_value_t = 8)]
    r: u32,
    /// scrypt p.
    #[arg(long, default_value_t = 1)]
    p: u32,
    /// Derived length in bytes: only 32, the SDK's default, since `sign`,
    /// `verify` and the library take a 64-character app hash.
    #[arg(long = "key-len", default_value_t = APP_HASH_BYTES)]
    key_len: usize,
}

#[derive(Debug, Args)]
struct MessageArgs {
    /// The deviceId, verbatim (use `--device-id=-x` for values starting with `-`).
    #[arg(long = "device-id")]
    device_id: String,
    /// The appId, verbatim.
    #[arg(long = "app-id")]
    app_id: String,
    /// The timestamp: a positive whole number of Unix seconds in digits, written verbatim into the message.
    #[arg(long)]
    timestamp: String,
    /// additionalData; empty (`--additional-data=`) means none.
    #[arg(long = "additional-data")]
    additional_data: Option<String>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    message: MessageArgs,
    /// The signature to check (hex, either case).
    #[arg(long)]
    signature: String,
}

#[derive(Debug, Args)]
struct UserArgs {
    /// The userId, verbatim.
    #[arg(long = "user-id")]
    user_id: String,
}

#[derive(Debug, Args)]
struct MacrofyVerifyArgs {
    #[command(flatten)]
    user: UserArgs,
    /// The signature to check (hex, either case).
    #[arg(long)]
    signature: String,
}

/// The length of an app hash in bytes (64 hex characters): what the SDK
/// derives by default and the only length `sign` and the library accept.
const APP_HASH_BYTES: usize = 32;

/// A failure to report on stderr with exit code 2.
struct Failure(String);

impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Self {
        Failure(e.to_string())
    }
}

impl From<tower_signing::utilsio::MessageError> for Failure {
    fn from(e: tower_signing::utilsio::MessageError) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.scheme {
        Scheme::Utilsio(UtilsioCommand::Derive(args)) => {
            if args.key_len != APP_HASH_BYTES {
                return Err(Failure(format!(
                    "--key-len must be {APP_HASH_BYTES}: sign, verify and the library take only a \
                     {}-character app hash, the SDK's default (got {})",
                    APP_HASH_BYTES * 2,
                    args.key_len
                )));
            }
            let secret = required_env("UTILSIO_APP_SECRET")?;
            let salt = match args.salt {
                Some(salt) => Zeroizing::new(salt),
                None => Zeroizing::new(env_var("UTILSIO_APP_SALT")?.ok_or_else(|| {
                    Failure("no salt: pass --salt or set UTILSIO_APP_SALT".to_owned())
                })?),
            };
            let params = ScryptParams::new(args.n, args.r, args.p, args.key_len)?;
            let hash = AppHash::derive(&secret, &salt, params)?;
            println!("{}", hash.expose_hex());
            Ok(ExitCode::SUCCESS)
        }
        Scheme::Utilsio(UtilsioCommand::Message(args)) => {
            println!("{}", message(&args)?);
            Ok(ExitCode::SUCCESS)
        }
        Scheme::Utilsio(UtilsioCommand::Sign(args)) => {
            let msg = message(&args)?;
            let key = utilsio_key()?;
            println!("{}", key.sign(&msg).as_str());
            Ok(ExitCode::SUCCESS)
        }
        Scheme::Utilsio(UtilsioCommand::Verify(args)) => {
            let msg = message(&args.message)?;
            let key = utilsio_key()?;
            Ok(verdict(
                key.verify(&msg, &args.signature).is_ok(),
                &msg.to_string(),
            ))
        }
        Scheme::Macrofy(MacrofyCommand::Sign(args)) => {
            user_id(&args.user_id)?;
            let key = macrofy_key()?;
            println!("{}", key.sign_user_id(&args.user_id).as_str());
            Ok(ExitCode::SUCCESS)
        }
        Scheme::Macrofy(MacrofyCommand::Verify(args)) => {
            user_id(&args.user.user_id)?;
            let key = macrofy_key()?;
            let ok = key.verify(&args.user.user_id, &args.signature).is_ok();
            Ok(verdict(ok, &args.user.user_id))
        }
    }
}

/// Prints `valid`, or `invalid` and the message checked (never the expected signature).
fn verdict(valid: bool, checked: &str) -> ExitCode {
    if valid {
        println!("valid");
        ExitCode::SUCCESS
    } else {
        println!("invalid");
        println!("message: {checked}");
        ExitCode::from(1)
    }
}

fn message(args: &MessageArgs) -> Result<SignatureMessage<'_>, Failure> {
    let message = SignatureMessage::new(
        args.device_id.as_str(),
        args.app_id.as_str(),
        args.timestamp.as_str(),
    )?;
    // The library's rule for a callback's timestamp: a positive number of
    // seconds, as an integer or a string of digits.
    if matches!(message.timestamp().as_seconds(), None | Some(0)) {
        return Err(Failure(format!(
            "--timestamp must be a positive whole number of Unix seconds written in digits, got {:?}",
            args.timestamp
        )));
    }
    Ok(message.with_optional_additional_data(args.additional_data.as_deref()))
}

/// The value of `name`, or a failure naming it. An empty value counts as missing.
fn env_var(name: &str) -> Result<Option<String>, Failure> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure(format!("{name} is not valid UTF-8")))
        }
    }
}

fn required_env(name: &str) -> Result<String, Failure> {
    env_var(name)?.ok_or_else(|| Failure(format!("environment variable {name} is not set")))
}

fn utilsio_key() -> Result<SigningKey, Failure> {
    if let Some(hash) = env_var("UTILSIO_APP_HASH")? {
        // Hex in either case names the same hash; the SDK's (and so the
        // HMAC key's) text is lowercase.
        let hash = Zeroizing::new(hash.to_ascii_lowercase());
        return SigningKey::from_app_hash_hex(&hash).map_err(|e| match e {
            KeyError::InvalidAppHash(problem) => Failure(format!(
                "UTILSIO_APP_HASH must be 64 hex characters (either case): {problem}"
            )),
            e => Failure(format!("UTILSIO_APP_HASH: {e}")),
        });
    }
    match (env_var("UTILSIO_APP_SECRET")?, env_var("UTILSIO_APP_SALT")?) {
        (Some(secret), Some(salt)) => SigningKey::derive(&secret, &salt, ScryptParams::default())
            .map_err(|e| Failure(format!("UTILSIO_APP_SECRET/UTILSIO_APP_SALT: {e}"))),
        (secret, _) => {
            let missing = if secret.is_none() {
                "UTILSIO_APP_SECRET"
            } else {
                "UTILSIO_APP_SALT"
            };
            Err(Failure(format!(
                "environment variable {missing} is not set (set UTILSIO_APP_HASH, or UTILSIO_APP_SECRET and UTILSIO_APP_SALT)"
            )))
        }
    }
}

/// The library's userId rule: not empty, at most 256 bytes.
fn user_id(user_id: &str) -> Result<(), Failure> {
    macrofy::validate_user_id(user_id).map_err(|e| match e {
        macrofy::ValidationError::Missing { .. } => Failure("userId is required".to_owned()),
        e => Failure(e.to_string()),
    })
}

fn macrofy_key() -> Result<macrofy::SigningKey, Failure> {
    let secret = required_env("MACROFY_APP_SECRET")?;
    Ok(macrofy::SigningKey::new(&secret)?)
}

//! The `tower-signing` binary, driven as a user would, against the vectors.
#![cfg(feature = "cli")]

use std::process::{Command, Output};

use serde_json::Value;

const ENV_VARS: [&str; 5] = [
    "UTILSIO_APP_SECRET",
    "UTILSIO_APP_SALT",
    "UTILSIO_APP_HASH",
    "MACROFY_APP_SECRET",
    "MACROFY_APP_ID",
];

/// A valid app hash (the first derive vector's).
const APP_HASH: &str = "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1";

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tower-signing"));
    for var in ENV_VARS {
        cmd.env_remove(var);
    }
    cmd.args(args).envs(env.iter().copied());
    cmd.output().expect("run tower-signing")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/handshake-vectors.json")).unwrap()
}

fn ts(v: &Value) -> String {
    match &v["timestamp"] {
        Value::String(s) => s.clone(),
        n => n.to_string(),
    }
}

/// The flags for one sign vector, with `--additional-data=` passed even when empty.
fn message_flags(v: &Value) -> Vec<String> {
    let mut flags = vec![
        format!("--device-id={}", v["deviceId"].as_str().unwrap()),
        format!("--app-id={}", v["appId"].as_str().unwrap()),
        format!("--timestamp={}", ts(v)),
    ];
    if let Some(data) = v["additionalData"].as_str() {
        flags.push(format!("--additional-data={data}"));
    }
    flags
}

#[test]
fn message_and_sign_match_a_sample_of_vectors() {
    let vectors = vectors();
    let sign = vectors["utilsio"]["sign"].as_array().unwrap();
    // Every 10th vector: covers unicode, tabs, quotes, string timestamps, empty additionalData.
    for v in sign.iter().step_by(10) {
        let flags = message_flags(v);
        let mut args = vec!["utilsio", "message"];
        args.extend(flags.iter().map(String::as_str));
        let out = run(&args, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("{}\n", v["message"].as_str().unwrap())
        );

        args[1] = "sign";
        let out = run(
            &args,
            &[("UTILSIO_APP_HASH", v["appHashHex"].as_str().unwrap())],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("{}\n", v["signature"].as_str().unwrap())
        );

        args[1] = "verify";
        let sig = format!("--signature={}", v["signature"].as_str().unwrap());
        args.push(&sig);
        let out = run(
            &args,
            &[("UTILSIO_APP_HASH", v["appHashHex"].as_str().unwrap())],
        );
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(stdout(&out), "valid\n");
    }
}

#[test]
fn derive_matches_vector_and_sign_can_derive() {
    let vectors = vectors();
    let v = &vectors["utilsio"]["derive"][2];
    let secret = v["appSecret"].as_str().unwrap();
    let salt = v["salt"].as_str().unwrap();
    let n = v["params"]["N"].to_string();
    let out = run(
        &[
            "utilsio",
            "derive",
            "--salt",
            salt,
            "--n",
            &n,
            "--r",
            "8",
            "--p",
            "1",
            "--key-len",
            "32",
        ],
        &[("UTILSIO_APP_SECRET", secret)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{}\n", v["appHashHex"].as_str().unwrap())
    );

    // Default parameters: derive vector 0 then sign with secret + salt from env.
    let v0 = &vectors["utilsio"]["derive"][0];
    let env = [
        ("UTILSIO_APP_SECRET", v0["appSecret"].as_str().unwrap()),
        ("UTILSIO_APP_SALT", v0["salt"].as_str().unwrap()),
    ];
    let sign_vec = vectors["utilsio"]["sign"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["appHashHex"] == v0["appHashHex"])
        .unwrap();
    let flags = message_flags(sign_vec);
    let mut args = vec!["utilsio", "sign"];
    args.extend(flags.iter().map(String::as_str));
    let out = run(&args, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{}\n", sign_vec["signature"].as_str().unwrap())
    );
}

#[test]
fn verify_invalid_prints_message_not_expected_signature() {
    let vectors = vectors();
    let v = &vectors["utilsio"]["sign"][5];
    let good = v["signature"].as_str().unwrap();
    let mut bad = good.to_owned();
    bad.replace_range(0..1, if good.starts_with('0') { "1" } else { "0" });
    let flags = message_flags(v);
    let sig = format!("--signature={bad}");
    let mut args = vec!["utilsio", "verify"];
    args.extend(flags.iter().map(String::as_str));
    args.push(&sig);
    let out = run(
        &args,
        &[("UTILSIO_APP_HASH", v["appHashHex"].as_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(
        stdout(&out),
        format!("invalid\nmessage: {}\n", v["message"].as_str().unwrap())
    );
    assert!(!text.contains(good), "expected signature leaked: {text}");
    assert!(!text.contains(v["appHashHex"].as_str().unwrap()));
}

#[test]
fn macrofy_sign_and_verify() {
    let vectors = vectors();
    for v in vectors["macrofy"]["sign"]
        .as_array()
        .unwrap()
        .iter()
        .step_by(5)
    {
        let secret = v["appSecret"].as_str().unwrap();
        let user = format!("--user-id={}", v["userId"].as_str().unwrap());
        let out = run(
            &["macrofy", "sign", &user],
            &[("MACROFY_APP_SECRET", secret)],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("{}\n", v["signature"].as_str().unwrap())
        );

        let sig = format!(
            "--signature={}",
            v["signature"].as_str().unwrap().to_uppercase()
        );
        let out = run(
            &["macrofy", "verify", &user, &sig],
            &[("MACROFY_APP_SECRET", secret)],
        );
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(stdout(&out), "valid\n");

        let out = run(
            &["macrofy", "verify", &user, "--signature=zz"],
            &[("MACROFY_APP_SECRET", secret)],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).starts_with("invalid\n"));
        assert!(!stdout(&out).contains(v["signature"].as_str().unwrap()));
    }
}

#[test]
fn values_are_verbatim() {
    let out = run(
        &[
            "utilsio",
            "message",
            "--device-id=-dev\t\"q\"",
            "--app-id=日本",
            "--timestamp=0017",
            "--additional-data=",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "-dev\t\"q\"-日本-0017\n");
}

#[test]
fn missing_env_exits_2_naming_the_variable() {
    let cases: [(&[&str], &str); 4] = [
        (&["utilsio", "derive", "--salt", "00"], "UTILSIO_APP_SECRET"),
        (
            &[
                "utilsio",
                "sign",
                "--device-id=d",
                "--app-id=a",
                "--timestamp=1",
            ],
            "UTILSIO_APP_SECRET",
        ),
        (&["macrofy", "sign", "--user-id=u"], "MACROFY_APP_SECRET"),
        (
            &["macrofy", "verify", "--user-id=u", "--signature=00"],
            "MACROFY_APP_SECRET",
        ),
    ];
    for (args, var) in cases {
        let out = run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(var), "{args:?}: {}", stderr(&out));
    }
    let out = run(
        &[
            "utilsio",
            "sign",
            "--device-id=d",
            "--app-id=a",
            "--timestamp=1",
        ],
        &[("UTILSIO_APP_SECRET", "s")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("UTILSIO_APP_SALT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let out = run(
        &[
            "utilsio",
            "message",
            "--device-id=",
            "--app-id=a",
            "--timestamp=1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("deviceId is required"));

    let out = run(&["utilsio", "message", "--device-id=d", "--app-id=a"], &[]);
    assert_eq!(out.status.code(), Some(2), "missing flag is a usage error");

    let out = run(
        &["utilsio", "derive", "--salt", "xyz"],
        &[("UTILSIO_APP_SECRET", "top-secret-value")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("salt is not valid hex"));
    assert!(!stderr(&out).contains("top-secret-value"));

    let out = run(
        &[
            "utilsio",
            "sign",
            "--device-id=d",
            "--app-id=a",
            "--timestamp=1",
        ],
        &[("UTILSIO_APP_HASH", "ABCDEF")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("UTILSIO_APP_HASH"));
    assert!(!stderr(&out).contains("ABCDEF"));

    let out = run(
        &["utilsio", "derive", "--salt", "00", "--n", "1000"],
        &[("UTILSIO_APP_SECRET", "s")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("power of two"));
}

fn sign_args(timestamp: &str) -> Vec<String> {
    vec![
        "utilsio".into(),
        "sign".into(),
        "--device-id=d".into(),
        "--app-id=a".into(),
        format!("--timestamp={timestamp}"),
    ]
}

fn run_strs(args: &[String], env: &[(&str, &str)]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, env)
}

#[test]
fn timestamps_follow_the_library_rule() {
    let hash = [("UTILSIO_APP_HASH", APP_HASH)];
    for bad in [
        "0",
        "000",
        "abc",
        "17e9",
        "-5",
        "1.5",
        " 17",
        "99999999999999999999",
    ] {
        for command in ["message", "sign"] {
            let mut args = sign_args(bad);
            args[1] = command.into();
            let out = run_strs(&args, &hash);
            assert_eq!(out.status.code(), Some(2), "{command} {bad}");
            assert!(out.stdout.is_empty(), "{command} {bad}: {}", stdout(&out));
            assert!(
                stderr(&out).contains("--timestamp must be a positive whole number"),
                "{command} {bad}: {}",
                stderr(&out)
            );
        }
    }
    let out = run_strs(&sign_args(""), &hash);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("timestamp is required"),
        "{}",
        stderr(&out)
    );
    // Digits are written verbatim, leading zeros included.
    for good in ["1", "01700000000", "1700000000"] {
        let out = run_strs(&sign_args(good), &hash);
        assert!(out.status.success(), "{good}: {}", stderr(&out));
    }
}

#[test]
fn empty_ids_are_refused() {
    let hash = [("UTILSIO_APP_HASH", APP_HASH)];
    let mut args = sign_args("1700000000");
    args[3] = "--app-id=".into();
    let out = run_strs(&args, &hash);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "error: appId is required\n");

    let secret = [("MACROFY_APP_SECRET", "a-macrofy-secret")];
    for args in [
        &["macrofy", "sign", "--user-id="][..],
        &["macrofy", "verify", "--user-id=", "--signature=00"][..],
    ] {
        let out = run(args, &secret);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&out), "error: userId is required\n");
        assert!(out.stdout.is_empty());
    }
    let long = format!("--user-id={}", "u".repeat(257));
    let out = run(&["macrofy", "sign", &long], &secret);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("at most 256 bytes"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn derive_reads_the_salt_from_the_environment_when_no_flag_is_given() {
    let vectors = vectors();
    let v = &vectors["utilsio"]["derive"][2];
    let n = v["params"]["N"].to_string();
    let secret = v["appSecret"].as_str().unwrap();
    let out = run(
        &["utilsio", "derive", "--n", &n],
        &[
            ("UTILSIO_APP_SECRET", secret),
            ("UTILSIO_APP_SALT", v["salt"].as_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{}\n", v["appHashHex"].as_str().unwrap())
    );

    // --salt wins over the environment.
    let out = run(
        &[
            "utilsio",
            "derive",
            "--n",
            &n,
            "--salt",
            v["salt"].as_str().unwrap(),
        ],
        &[("UTILSIO_APP_SECRET", secret), ("UTILSIO_APP_SALT", "00")],
    );
    assert_eq!(
        stdout(&out),
        format!("{}\n", v["appHashHex"].as_str().unwrap())
    );

    let out = run(&["utilsio", "derive"], &[("UTILSIO_APP_SECRET", secret)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no salt: pass --salt or set UTILSIO_APP_SALT\n"
    );
    assert!(!stderr(&out).contains(secret));
}

#[test]
fn the_app_hash_is_accepted_in_either_hex_case() {
    let vectors = vectors();
    let v = &vectors["utilsio"]["sign"][3];
    let flags = message_flags(v);
    let mut args = vec!["utilsio", "sign"];
    args.extend(flags.iter().map(String::as_str));
    let upper = v["appHashHex"].as_str().unwrap().to_uppercase();
    assert_ne!(upper, v["appHashHex"].as_str().unwrap(), "has hex letters");
    let out = run(&args, &[("UTILSIO_APP_HASH", &upper)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{}\n", v["signature"].as_str().unwrap())
    );

    let mut args = vec!["utilsio", "verify"];
    args.extend(flags.iter().map(String::as_str));
    let sig = format!("--signature={}", v["signature"].as_str().unwrap());
    args.push(&sig);
    let out = run(&args, &[("UTILSIO_APP_HASH", &upper)]);
    assert_eq!(stdout(&out), "valid\n");

    let out = run(&args, &[("UTILSIO_APP_HASH", "ABC")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: UTILSIO_APP_HASH must be 64 hex characters (either case): odd number of characters\n"
    );
}

#[test]
fn a_key_length_other_than_32_is_refused_before_deriving() {
    for len in ["16", "64", "1"] {
        let out = run(
            &["utilsio", "derive", "--salt", "00", "--key-len", len],
            &[("UTILSIO_APP_SECRET", "top-secret-value")],
        );
        assert_eq!(out.status.code(), Some(2), "{len}");
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert_eq!(
            err,
            format!(
                "error: --key-len must be 32: sign, verify and the library take only a \
                 64-character app hash, the SDK's default (got {len})\n"
            )
        );
    }
}

#[test]
fn errors_are_sentences_without_debug_output_or_secrets() {
    let secret = "top-secret-value";
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&[&str], Env<'_>); 4] = [
        (
            &["utilsio", "derive", "--salt", "zz"],
            &[("UTILSIO_APP_SECRET", secret)],
        ),
        (
            &[
                "utilsio",
                "sign",
                "--device-id=d",
                "--app-id=a",
                "--timestamp=1",
            ],
            &[("UTILSIO_APP_SECRET", secret), ("UTILSIO_APP_SALT", "zz")],
        ),
        (
            &[
                "utilsio",
                "sign",
                "--device-id=d",
                "--app-id=a",
                "--timestamp=1",
            ],
            &[("UTILSIO_APP_HASH", secret)],
        ),
        (
            &["macrofy", "sign", "--user-id=u"],
            &[("MACROFY_APP_SECRET", "")],
        ),
    ];
    for (args, env) in cases {
        let out = run(args, env);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("error: ") && err.ends_with('\n'), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains(secret), "{err}");
        // No Debug formatting of enums or structs.
        assert!(!err.contains('{') && !err.contains("(\""), "{err}");
    }
}

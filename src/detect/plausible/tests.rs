//! Each principle twice: its own function on a stand-in and on a look-alike credential, then the
//! whole detector on a line holding each (the stand-in is reported by no rule, the credential is).
//! Credentials here are synthetic random values.

use super::*;
use crate::detect::{Detector, Policy, Suppressed};
use crate::rules::Catalog;

/// Rule ids reported for `text` by the full detector.
fn rules_for(text: &str) -> Vec<String> {
    let catalog = Catalog::builtin().unwrap();
    let detector = Detector::new(
        &catalog,
        Policy {
            decode_depth: 2,
            ..Policy::default()
        },
    );
    detector
        .scan(text.as_bytes(), &mut Suppressed::default())
        .iter()
        .map(|m| catalog.rules[m.rule].id().to_string())
        .collect()
}

fn reported(text: &str) -> bool {
    !rules_for(text).is_empty()
}

#[test]
fn elided_values_are_shown_in_part() {
    assert!(elided(b"sk-proj-abc123", b"...\""));
    assert!(elided(b"ghp_16C7e...Ae178B4a", b""));
    assert!(elided(b"AKIA", "\u{2026} ".as_bytes()));
    assert!(!elided(b"sk-proj-abc123", b"\", x"));
    assert!(!elided(b"a.b.c", b". Next"));
}

#[test]
fn elided_key_in_a_readme_is_reported_by_no_rule() {
    let full = "OPENAI_API_KEY=sk-proj-KRhQGk3rkAjiiDYtayeuw9SHtIRIKMMf70xk9HT5qqAoSFf295sx";
    assert!(reported(full), "control: the full key is found");
    let shown = "OPENAI_API_KEY=sk-proj-KRhQGk3rkAjiiDYtayeuw9SHtIRIKMMf70xk9HT5qqAoSFf295sx...";
    assert_eq!(rules_for(shown), Vec::<String>::new());
}

#[test]
fn prefix_bodies_without_randomness_are_mocks() {
    for mock in [
        &b"hf_oauth_123"[..],
        b"sk_123456",
        b"sk-aaaaaaaaaaaaaaaaaaaa",
        b"ghp_abcabcabcabcabcabcabcabcabcabcabcabc",
        b"xoxb-1212121212-1212121212",
        b"hf_12",
    ] {
        assert!(
            !random_after_prefix(mock),
            "{}",
            String::from_utf8_lossy(mock)
        );
    }
    for short in [
        &b"sk-ant-oat01-file"[..],
        b"tok-local1",
        b"ed25519-key",
        b"unused-under-sigv4",
    ] {
        assert!(
            short_after_prefix(short),
            "{}",
            String::from_utf8_lossy(short)
        );
    }
    assert!(
        !short_after_prefix(b"Xk9mQ2Lp"),
        "no prefix: the other checks decide"
    );
    assert!(!short_after_prefix(b"tok-KRhQGk3rkAji"));
    for token in [
        &b"hf_KRhQGk3rkAjiiDYtayeuw9SHtIRIKMMf70"[..],
        b"9v840G8R3dRsrNzCzwrM",
        b"sk-proj-zsxoXvvdellP8C5O",
        // A custom format's short random part: its rule states the length.
        b"acme_3f9a1c7e",
        // Telegram's numeric bot id before a random part.
        b"123456789:AAHxk9HT5qqAoSFf295sxHmHJvR7H0EvQJx",
    ] {
        assert!(
            random_after_prefix(token),
            "{}",
            String::from_utf8_lossy(token)
        );
    }
}

#[test]
fn mocks_after_a_known_prefix_are_reported_by_no_rule() {
    assert!(reported(
        "HF_TOKEN = \"hf_KRhQGk3rkAjiiDYtayeuw9SHtIRIKMMf70\""
    ));
    // A short unit repeated: the entropy floor and the run checks let it through.
    assert_eq!(
        rules_for("HF_TOKEN = \"hf_Xk9mQ2LpXk9mQ2LpXk9mQ2LpXk9mQ2LpXk\""),
        Vec::<String>::new()
    );
    for mock in [
        "{\"access_token\": \"hf_oauth_123\", \"expires_in\": 600}",
        "{\"access_token\": \"sk-ant-oat01-file\"}",
        "client = Sandbox(sandbox_token=\"tok-local1\")",
    ] {
        assert_eq!(rules_for(mock), Vec::<String>::new(), "{mock}");
    }
    assert!(reported(
        "{\"access_token\": \"sk-ant-oat01-KRhQGk3rkAjiiDYt\"}"
    ));
}

const SIG: &str = "zqpTdwsqZAdbPhaEi3YnjcgnG2xbYkWmvaWscdlWtsS";

#[test]
fn jwts_without_credential_claims_authenticate_nobody() {
    let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    // {"name":"widget","n":3}
    let claimless = format!("{header}.eyJuYW1lIjoid2lkZ2V0IiwibiI6M30.{SIG}");
    // {"sub":"u-8r2kq","exp":1999999999}
    let credential = format!("{header}.eyJzdWIiOiJ1LThyMmtxIiwiZXhwIjoxOTk5OTk5OTk5fQ.{SIG}");
    assert!(jwt_without_claims(claimless.as_bytes()));
    assert!(!jwt_without_claims(credential.as_bytes()));
    assert!(!jwt_without_claims(b"not.a.jwt"));
    assert_eq!(
        rules_for(&format!("token: {claimless}")),
        Vec::<String>::new()
    );
    assert_eq!(rules_for(&format!("token: {credential}")), ["jwt"]);
}

#[test]
fn variable_names_are_not_passwords() {
    for name in [&b"DB_PASSWORD"[..], b"POSTGRES_PASSWORD2", b"YUAN2_API_KEY"] {
        assert!(variable_name(name), "{}", String::from_utf8_lossy(name));
    }
    for value in [
        &b"Db_Password"[..],
        b"PASSWORD",
        b"AB_C",
        b"x9_K2mQ_7Lp",
        b"S3CR3T_V4LU3",
        b"acme_deadbeef",
    ] {
        assert!(!variable_name(value), "{}", String::from_utf8_lossy(value));
    }
    // A first word too long for a token prefix: only the variable-name check decides.
    assert_eq!(
        rules_for("DATABASE_URL=postgresql://app:WAREHOUSEREPLICA_PASSWORD2@db.internal:5432/app"),
        Vec::<String>::new()
    );
    assert!(reported(
        "DATABASE_URL=postgresql://app:9v840G8R3dRsrNzCzwrM@db.internal:5432/app"
    ));
}

#[test]
fn placeholders_behind_an_encoding_are_decoded_first() {
    assert_eq!(percent_decode(b"p%40ssword%3d").unwrap(), b"p@ssword=");
    assert_eq!(percent_decode(b"plain"), None);
    assert_eq!(percent_decode(b"trailing%4"), None);
    assert_eq!(unleet(b"P@55w0rd_Ex@mple"), b"password_example");
    assert!(leet_word(b"P@55w0rd_Ex@mple"));
    assert!(leet_word(b"Ex@mpl3V4lu3x"));
    // A weak password someone uses, not a sample.
    assert!(!leet_word(b"Rotated!Passw0rd2026"));
    assert!(!leet_word(b"9v840G8R3dRsrNzCzwrM"));
    // No leetspeak in it: the plain-word checks decide, not this one.
    assert!(!leet_word(b"examplevalue"));
    assert!(!leet_word(b"sb_secret_AjU3Sa5YlmztAGITndxA7J"));
    assert_eq!(base64_text(b"cG9zdGdyZXM=").unwrap(), b"postgres");
    assert_eq!(base64_text(b"////////"), None);
    assert!(is_word(b"postgres"));
    assert!(is_word(b"app-user.default"));
    assert!(!is_word(b"Tq7#vLp2@xZ9wR4k"));
}

#[test]
fn encoded_placeholders_are_reported_by_no_rule() {
    // URL passwords whose escapes hide the placeholder.
    for url in [
        "HTTPS_PROXY=http://svc:%3Cproxy-pass%3E@proxy.corp.local:3128",
        "HTTPS_PROXY=http://svc:your%5Fproxy%5Fpass1@proxy.corp.local:3128",
    ] {
        assert_eq!(rules_for(url), Vec::<String>::new(), "{url}");
    }
    assert!(reported(
        "HTTPS_PROXY=http://svc:9v840G8R3d%40RsrNzCzwrM@proxy.corp.local:3128"
    ));
    assert!(!reported("db_password = \"P@55w0rd_Ex@mple\""));
    assert!(reported("db_password = \"9v840G8R3dRsrNzCzwrM\""));
    let secret = |value: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {value}\n")
    };
    // postgres, example-app-secret; then Tq7#vLp2@xZ9wR4k.
    assert_eq!(rules_for(&secret("cG9zdGdyZXM=")), Vec::<String>::new());
    assert!(!reported(&secret("ZXhhbXBsZS1hcHAtc2VjcmV0")));
    assert!(reported(&secret("VHE3I3ZMcDJAeFo5d1I0aw==")));
    // Rotated!Passw0rd2026: leetspeak for `password` alone is a weak password, still reported.
    assert!(reported(&secret("Um90YXRlZCFQYXNzdzByZDIwMjY=")));
}

#[test]
fn pagination_and_vocabulary_tokens_are_not_credentials() {
    assert_eq!(
        key_before(b"  \"nextPageToken\": \""),
        Some("nextPageToken".into())
    );
    assert_eq!(
        key_before(b"config['eos_token'] = '"),
        Some("eos_token".into())
    );
    assert_eq!(key_before(b"token="), Some("token".into()));
    assert_eq!(key_before(b"no key here "), None);
    assert!(not_credential_token(
        b"\"nextPageToken\": \"",
        b"9v840G8R3dRsrNzCzwrM"
    ));
    assert!(not_credential_token(b"token=\"", b"charturnerv2"));
    assert!(!not_credential_token(b"token=\"", b"9v840G8R3dRsrNzCzwrM"));
    assert!(!not_credential_token(b"api_key=\"", b"charturnerv2"));
    assert!(!reported(
        "{\"nextPageToken\": \"CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA\"}"
    ));
    assert!(!reported(
        "pipe.load_textual_inversion(path, token=\"charturnerv2\")"
    ));
    assert!(reported(
        "{\"auth_token\": \"CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA\"}"
    ));
    assert!(reported("client(token=\"9v840G8R3dRsrNzCzwrM\")"));
}

#[test]
fn code_and_words_are_not_literals() {
    for code in [
        "Lösenord",
        "Slaptažodis",
        "x25519.X25519PrivateKey",
        "settings.SECRET_KEY2",
        ",DuplicateBinding:",
        "foo;",
    ] {
        assert!(code_or_words(code.as_bytes()), "{code}");
    }
    for literal in [
        "9v840G8R3dRsrNzCzwrM",
        "Pässwörter9",
        "ÜberGeheim",
        "Tq7#vLp2@xZ9wR4k",
        "a.b",
    ] {
        assert!(!code_or_words(literal.as_bytes()), "{literal}");
    }
    assert!(!reported(
        "labels = {password:`Lösenord`, login:`Logga in`}"
    ));
    assert!(!reported("private_key: x25519.X25519PrivateKey"));
    assert!(!reported(
        "m={DefaultRestParameter:\"Unexpected token =\",DuplicateBinding:\"Duplicate binding\"}"
    ));
    assert!(reported("labels = {password:`Tq7vLp2xZ9wR4kWq`}"));
}

/// A README shows a key with a `...` line standing for the rest of its body: the DER check
/// ignores the dots and finds the structure whole, so only the elision says it is a snippet.
#[test]
fn pem_key_with_an_elided_body_line_is_reported_by_no_rule() {
    let catalog = Catalog::builtin().unwrap();
    let example = &catalog.get("pem-private-key").unwrap().spec.examples[0];
    assert_eq!(rules_for(example), ["pem-private-key"]);
    let first_body_line = example.find("-----\n").unwrap() + 6;
    let second = first_body_line + example[first_body_line..].find('\n').unwrap() + 1;
    let snippet = format!("{}...\n{}", &example[..second], &example[second..]);
    assert_eq!(rules_for(&snippet), Vec::<String>::new(), "{snippet}");
}

/// A synthetic base64 line (as in a JSON export's payload) with `ibm` glued inside it and a
/// 44-character run of letters and digits a few bytes later: the IBM Cloud rule's key word and
/// value shape, by chance. Found 5 times in the benchmark's generated 50 MB JSON.
const BLOB_WITH_KEY_WORD: &str = "\"data\": \"OA1rpmeIUSimWIWfhBbXA9Bl6tS2kOHi5MrENO9Pg9liiAJC32xMI8rKWINibm/C15uhzCZDFDRJ29q0uzAX3+Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz+xv6+iuMbFEayjG/i\"";

#[test]
fn key_word_glued_inside_a_base64_run_is_no_context() {
    let at = BLOB_WITH_KEY_WORD.find("ibm").unwrap();
    assert!(context_inside_encoded_run(
        BLOB_WITH_KEY_WORD.as_bytes(),
        at
    ));
    // `+` and `/` belong to the run: short stretches of letters joined by them are one blob.
    for sep in ["/", "+"] {
        let blob = format!(
            "{}Xibm{}",
            format!("Ab3{sep}").repeat(6),
            format!("{sep}Qz7").repeat(6)
        );
        assert!(
            context_inside_encoded_run(blob.as_bytes(), blob.find("ibm").unwrap()),
            "{blob}"
        );
    }
    for (text, word) in [
        (
            "IBMCLOUD_API_KEY=Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz",
            "IBM",
        ),
        (
            "{\"ibmApiKey\": \"Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz\"}",
            "ibm",
        ),
        (
            "GET https://api.example.com/ibm/keys/Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz",
            "ibm",
        ),
        (
            "myIbmCloudKey = 'Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz'",
            "Ibm",
        ),
    ] {
        let at = text.find(word).unwrap();
        assert!(!context_inside_encoded_run(text.as_bytes(), at), "{text}");
    }
}

#[test]
fn key_word_inside_a_blob_reports_nothing_and_a_named_key_is_reported() {
    assert_eq!(rules_for(BLOB_WITH_KEY_WORD), Vec::<String>::new());
    assert_eq!(
        rules_for("IBMCLOUD_API_KEY=Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz"),
        ["ibm-cloud-api-key"]
    );
    assert_eq!(
        rules_for("myIbmCloudKey = 'Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz'"),
        ["ibm-cloud-api-key"]
    );
}

/// A prefixed token's match starts on the separator before it: that is no key word, even after
/// a long hex run (`ck_<40 hex>:cs_<40 hex>`, a WooCommerce key pair).
#[test]
fn a_match_starting_on_a_separator_has_no_key_word() {
    let text = "-u ck_6b3c0e2f9a8d7c4b1e0f3a2d5c8b7e6f9a0d3c2b:cs_452f3d282448526c125084b192371fd5f2293ef7";
    assert!(!context_inside_encoded_run(
        text.as_bytes(),
        text.find(":cs_").unwrap()
    ));
}

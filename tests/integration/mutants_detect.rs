//! The boundaries of detect's value filters, pinned where cargo-mutants showed they could move
//! unnoticed (issue 18): the length limits of a generic value, the letters-only ratio, the
//! class and entropy checks, each path and URL prefix, and the length above which a secret
//! counts as long for the placeholder words. Pure calls of the public filters, no process.
//!
//! Invariant: every value here is synthetic and each row is rejected or accepted by exactly the
//! check it names, so moving that check's bound flips that row.
//!
//! The scanning of added lines (`Detector::scan_added`) is pinned the same way where its
//! offsets are easy to get wrong: windows that start deep in a file, not at byte 0.

use crate::harness::key_body;
use leakgate::detect::{generic_value_is_secret, is_placeholder, Detector, Policy, Suppressed};
use leakgate::rules::Catalog;

fn generic(cases: &[(&str, bool, &str)]) {
    for (value, want, why) in cases {
        assert_eq!(
            generic_value_is_secret(value.as_bytes()),
            *want,
            "{value:?}: {why}"
        );
    }
}

#[test]
fn generic_value_length_limits_are_8_and_200_inclusive() {
    let long = |n: usize| -> String {
        // A fixed high-entropy cycle over the base62 alphabet (no stopword, no run).
        let alphabet = b"q7XkP2mZr9VbT4wLc8NsJ3hYd6GfA5eUt0KoB1iRx";
        (0..n)
            .map(|i| alphabet[(i * 7) % alphabet.len()] as char)
            .collect()
    };
    generic(&[
        ("Zr8#qL2v", true, "8 characters is long enough"),
        ("Zr8#qL2", false, "7 characters is too short"),
        (&long(200), true, "200 characters is not too long"),
        (&long(201), false, "201 characters is too long"),
    ]);
}

#[test]
fn generic_value_that_is_a_path_or_url_is_not_a_secret() {
    generic(&[
        ("Zr8qL2vWm9xT4k", true, "the same value without a prefix"),
        ("/Zr8qL2vWm9xT4k", false, "absolute path"),
        ("./Zr8qL2vWm9xT4k", false, "relative path"),
        ("../Zr8qL2vWm9xT4k", false, "parent path"),
        ("~/Zr8qL2vWm9xT4k", false, "home path"),
        ("s3://Zr8qL2vWm9xT4k", false, "URL"),
        ("Zr8qL2v\\Wm9xT4k", false, "Windows path"),
    ]);
}

#[test]
fn generic_value_classes_ratio_and_entropy() {
    generic(&[
        (
            "01234567890123456789012345678901",
            false,
            "digits only: one class",
        ),
        (
            "qz#vk!wx@jp^ty&bm",
            false,
            "no digit and no capital: a word-like value",
        ),
        (
            "QmVTxLpWrKsYdNbZ",
            true,
            "letters only, 16 long, balanced case",
        ),
        ("QmVTxLpWrKsYdN", false, "letters only needs 16 characters"),
        (
            "QmVtxlpwrksydnbzcgf",
            false,
            "letters only with few capitals: a CamelCase name",
        ),
        (
            "QuiXotiC.ZePhyR-JuKeBoX.WaLtZ",
            false,
            "dotted and dashed words are code",
        ),
        ("Zr8#Zr8#Zr8#Zr8#", false, "repetitive: entropy too low"),
    ]);
}

#[test]
fn placeholder_words_count_in_secrets_up_to_128_characters() {
    let body = "Qm3vT9xL".repeat(16);
    let at_limit = format!("your{}", &body[..124]);
    let over = format!("your{}", &body[..125]);
    assert_eq!(at_limit.len(), 128);
    assert!(is_placeholder(at_limit.as_bytes()), "128 is not long");
    assert!(
        !is_placeholder(over.as_bytes()),
        "129 is long: `your` is chance"
    );
}

/// Two synthetic Hugging Face tokens (random, never issued).
const HF_OLD: &str = "hf_7z21AjwCTFozxM6qdkV1C3cuCHPZjzGuwv";
const HF_NEW: &str = "hf_rLSGcNnPlhegQuPZpXiotFKMLM5ox0dkik";

/// An allow-listed secret is counted as suppressed only when it sits on an added line, judged
/// in the whole text's offsets: in a window that starts deep in a file, the one on the
/// unchanged line just above the added line (inside the window) is not counted, the one on the
/// added line is.
#[test]
fn allowlist_count_in_a_window_deep_in_a_file_uses_file_offsets() {
    let catalog = Catalog::builtin().unwrap();
    let policy = Policy {
        allow_secrets: vec![regex::bytes::Regex::new("^hf_").unwrap()],
        decode_depth: 2,
        ..Policy::default()
    };
    let detector = Detector::new(&catalog, policy);
    let mut text = String::new();
    for i in 0..200 {
        text += &format!("setting_{i} = {i}\n");
    }
    text += &format!("OLD = '{HF_OLD}'\n");
    let added_start = text.len();
    text += &format!("NEW = '{HF_NEW}'\n");
    let added = vec![std::ops::Range {
        start: added_start,
        end: text.len(),
    }];
    let mut suppressed = Suppressed::default();
    let found = detector.scan_added(text.as_bytes(), &added, &mut suppressed);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(suppressed.allowlist, 1, "{suppressed:?}");
}

/// The rule ids `Detector::scan` reports in `text`, with the default decode depth.
fn scan_ids(text: &[u8]) -> Vec<String> {
    scan_ids_at(text, 2)
}

fn scan_ids_at(text: &[u8], decode_depth: usize) -> Vec<String> {
    let catalog = Catalog::builtin().unwrap();
    let policy = Policy {
        decode_depth,
        ..Policy::default()
    };
    let detector = Detector::new(&catalog, policy);
    let found = detector.scan(text, &mut Suppressed::default());
    found
        .iter()
        .map(|m| catalog.rules[m.rule].id().to_string())
        .collect()
}

fn basic_auth(decoded: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(decoded);
    format!("Authorization: Basic {b64}\n").into_bytes()
}

/// An encoded-value rule reports a value only when it decodes to text: tabs, newlines and
/// UTF-8 beyond ASCII are text; control bytes are not (a binary blob that happens to be
/// base64 is no credential).
#[test]
fn encoded_value_counts_as_text_with_tabs_and_utf8_but_not_control_bytes() {
    let rule = "http-basic-auth".to_string();
    for text in [
        "deploy:Qm4\tvT9xLw2",
        "déploy:Qm4vT9xLw2ø",
        "deploy:Qm4vT9\nxLw2",
    ] {
        let ids = scan_ids(&basic_auth(text.as_bytes()));
        assert!(ids.contains(&rule), "{text:?}: {ids:?}");
    }
    let ids = scan_ids(&basic_auth(
        b"\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f\x10\x11",
    ));
    assert!(!ids.contains(&rule), "control bytes: {ids:?}");
}

/// A decoded span is scanned inside up to 160 bytes of its line, so a key beside it counts;
/// what that context shows outside the span is the direct scan's business. Here the context
/// ends in the middle of a longer run of token characters that starts with `hf_`: cut there it
/// looks like a token, but the text holds none (the run goes on).
#[test]
fn a_token_lookalike_cut_by_a_decoded_spans_context_is_not_reported() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode("a plain sentence, base64 only");
    let run = format!("{HF_NEW}dG64lqSyXmZV2AmzScVOzw36da");
    // The closing quote, the padding, `hf_` and 34 token characters make the 160 bytes after
    // the span for one of these paddings (wherever the decoder ends the span).
    for pad in 110..=135 {
        let text = format!("note = \"{b64}\"{}{run}\n", " ".repeat(pad));
        let ids = scan_ids(text.as_bytes());
        assert!(ids.is_empty(), "padding {pad}: {ids:?}");
    }
    // The precondition: a token cut where the context is cut is a finding when it ends there.
    let text = format!("note = \"{b64}\" {}\n", &run[..37]);
    assert_eq!(scan_ids(text.as_bytes()), ["huggingface-token"]);
}

/// A key block (found by a whole-file rule) and a token found in the added lines' windows are
/// two findings when they only touch: the token starts right after the block's END marker.
#[test]
fn a_token_touching_the_end_of_a_key_block_is_a_finding_of_its_own() {
    let catalog = Catalog::builtin().unwrap();
    let policy = Policy {
        decode_depth: 2,
        ..Policy::default()
    };
    let detector = Detector::new(&catalog, policy);
    let text = format!(
        "-----BEGIN PRIVATE KEY-----\n{}-----END PRIVATE KEY-----{HF_NEW}\n",
        key_body(11, 10)
    );
    let added = vec![std::ops::Range {
        start: 0,
        end: text.len(),
    }];
    let found = detector.scan_added(text.as_bytes(), &added, &mut Suppressed::default());
    let ids: Vec<&str> = found.iter().map(|m| catalog.rules[m.rule].id()).collect();
    assert_eq!(ids, ["pem-private-key", "huggingface-token"], "{found:?}");
}

/// A key-name rule's value that is encoded (percent-escaped, or base64 as in a Secret's data)
/// is judged by what it decodes to: random text is a finding; only a stop word or placeholder
/// (`password`, `changeme`) makes it a stand-in. Judged as written, with decoding off
/// (`--decode-depth 0`): with it on, the decoded layer would report the value a second way.
#[test]
fn an_encoded_generic_value_without_a_stop_word_is_reported() {
    use base64::Engine as _;
    let rule = "generic-secret-assignment".to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode("Xk9#mQ2vLp7!zR4w");
    for text in [
        "db_password = \"Xk9%23mQ2vLp7%21zR4w\"\n".to_string(),
        format!("db_password = \"{b64}\"\n"),
    ] {
        let ids = scan_ids_at(text.as_bytes(), 0);
        assert!(ids.contains(&rule), "{text:?}: {ids:?}");
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode("default-9#mQ2vLp7!");
    let text = format!("db_password = \"{b64}\"\n");
    assert!(scan_ids_at(text.as_bytes(), 0).is_empty(), "{text:?}");
}

use super::structure::*;
use super::*;

fn default_policy() -> Policy {
    Policy {
        decode_depth: 2,
        ..Policy::default()
    }
}

/// Issue 15: a text holding every rule's keywords but no secret selects the whole catalog, and
/// the prescreens keep most of those regexes from being compiled (a prescreen cut short to
/// `[A-Za-z0-9_-]{16}` is met by a long keyword). Without the prescreen
/// step in `match_rule` every selected rule would compile.
#[test]
fn keywords_without_secrets_compile_few_regexes() {
    let catalog = Catalog::builtin().unwrap();
    let mut text = Vec::new();
    for rule in &catalog.rules {
        for k in &rule.spec.keywords {
            text.extend_from_slice(format!("we talk about {k} here.\n").as_bytes());
        }
    }
    assert_eq!(catalog.select(&text).len(), catalog.rules.len());
    let detector = Detector::new(&catalog, default_policy());
    let found = detector.scan(&text, &mut Suppressed::default());
    assert!(found.is_empty(), "{found:?}");
    let compiled: Vec<&str> = catalog
        .rules
        .iter()
        .filter(|r| r.is_compiled())
        .map(|r| r.id())
        .collect();
    assert!(
        compiled.len() * 4 < catalog.rules.len(),
        "{} of {} rules compiled: {compiled:?}",
        compiled.len(),
        catalog.rules.len()
    );
}

/// Every rule's examples yield exactly that rule's finding through the full pipeline, and its
/// negative examples yield none of it: the catalog tests itself.
#[test]
fn every_rule_example_and_negative_example() {
    let catalog = Catalog::builtin().unwrap();
    let detector = Detector::new(&catalog, default_policy());
    let mut failures = Vec::new();
    for rule in &catalog.rules {
        for ex in &rule.spec.examples {
            let found = detector.scan(ex.as_bytes(), &mut Suppressed::default());
            let ids: Vec<&str> = found.iter().map(|m| catalog.rules[m.rule].id()).collect();
            if ids.is_empty() || ids.iter().any(|id| *id != rule.id()) {
                failures.push(format!("{}: example {ex:?} gave {ids:?}", rule.id()));
            }
        }
        for ex in &rule.spec.negative_examples {
            let found = detector.scan(ex.as_bytes(), &mut Suppressed::default());
            if found.iter().any(|m| {
                m.rule
                    == catalog
                        .rules
                        .iter()
                        .position(|r| r.id() == rule.id())
                        .unwrap()
            }) {
                failures.push(format!("{}: negative example {ex:?} matched", rule.id()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} rule example failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A text large enough to be scanned on several threads finds exactly what the same lines
/// find when scanned alone (sequentially): same rules, secrets, encodings, offsets and
/// suppression counts.
#[test]
fn large_texts_scanned_in_parallel_match_the_sequential_scan() {
    let catalog = Catalog::builtin().unwrap();
    let policy = Policy {
        allow_secrets: vec![Regex::new("^gh[ps]_").unwrap()],
        ..default_policy()
    };
    let detector = Detector::new(&catalog, policy);
    let mut payload: String = catalog
        .rules
        .iter()
        .flat_map(|r| r.spec.examples.iter().chain(&r.spec.negative_examples))
        .map(|ex| format!("{ex}\n"))
        .collect();
    use base64::Engine as _;
    // A made-up token found in no example, so only its decoded form can report it.
    let encoded = base64::engine::general_purpose::STANDARD
        .encode("HF_TOKEN=hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T");
    payload.push_str(&format!("blob: {encoded}\n# leakgate:allow\n"));
    let filler = "value = compute(items, 42)  # an ordinary line of code\n";
    let pad = filler.repeat(PARALLEL_TEXT / filler.len() + 1);
    let large = format!("{pad}{payload}");
    assert!(large.len() >= PARALLEL_TEXT && payload.len() < PARALLEL_TEXT);

    let shape = |found: Vec<Match>, shift: usize| -> Vec<_> {
        found
            .into_iter()
            .map(|m| {
                (
                    m.rule,
                    m.start - shift,
                    m.end - shift,
                    m.secret,
                    m.encodings,
                )
            })
            .collect()
    };
    let (mut sup_small, mut sup_large) = (Suppressed::default(), Suppressed::default());
    let small = shape(detector.scan(payload.as_bytes(), &mut sup_small), 0);
    let large = shape(detector.scan(large.as_bytes(), &mut sup_large), pad.len());
    assert!(
        small.len() > catalog.rules.len() / 2,
        "{} findings",
        small.len()
    );
    assert!(
        small.iter().any(|m| !m.4.is_empty()),
        "an encoded finding is compared"
    );
    assert!(
        sup_small.allowlist > 0,
        "an allow-listed secret is compared"
    );
    assert_eq!(large, small);
    assert_eq!(sup_large, sup_small);
}

/// Issue 15, one keyword pass per text: a rule whose match holds its keyword runs only on the
/// lines around that keyword's occurrences (widened by its reach). On every example and
/// negative example, spread through filler so the windows are many, each cut close, and in a
/// text small enough for one thread and one large enough for several, that finds exactly
/// what running every selected rule over the whole text finds.
#[test]
fn keyword_windows_find_what_whole_text_passes_find() {
    let catalog = Catalog::builtin().unwrap();
    let windowed = Detector::new(&catalog, default_policy());
    let mut whole = Detector::new(&catalog, default_policy());
    whole.whole_text = true;
    let filler = "value = compute(items, 42)  # an ordinary line of code\n";
    let only_always: Vec<usize> = catalog
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.spec.keywords.is_empty())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        catalog.select(filler.as_bytes()),
        only_always,
        "the filler selects nothing"
    );
    let examples: Vec<&String> = catalog
        .rules
        .iter()
        .flat_map(|r| r.spec.examples.iter().chain(&r.spec.negative_examples))
        .collect();
    assert!(
        examples.iter().any(|ex| ex.contains('\n')),
        "multi-line examples are compared"
    );
    for gap in [1, PARALLEL_TEXT / filler.len() / examples.len() + 1] {
        let text: String = examples
            .iter()
            .map(|ex| format!("{}{ex}\n", filler.repeat(gap)))
            .collect();
        let shape = |found: Vec<Match>| -> Vec<_> {
            found
                .into_iter()
                .map(|m| (m.rule, m.start, m.end, m.secret, m.encodings))
                .collect()
        };
        let (mut sup_w, mut sup_whole) = (Suppressed::default(), Suppressed::default());
        let got = shape(windowed.scan(text.as_bytes(), &mut sup_w));
        let want = shape(whole.scan(text.as_bytes(), &mut sup_whole));
        assert!(
            want.len() > catalog.rules.len() / 2,
            "{} findings",
            want.len()
        );
        let anchored = want.iter().filter(|m| catalog.is_anchored(m.0)).count();
        assert!(
            anchored > want.len() / 2,
            "{anchored} findings of anchored rules"
        );
        let missing: Vec<_> = want.iter().filter(|m| !got.contains(m)).collect();
        let extra: Vec<_> = got.iter().filter(|m| !want.contains(m)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "gap {gap}: missing {:?}, extra {:?}",
            missing
                .iter()
                .map(|m| catalog.rules[m.0].id())
                .collect::<Vec<_>>(),
            extra
                .iter()
                .map(|m| catalog.rules[m.0].id())
                .collect::<Vec<_>>()
        );
        assert_eq!(got, want);
        assert_eq!(sup_w, sup_whole);
    }
}

/// Issue 14, "structural checks decide": every finding of any rule in `text`.
fn all_findings(text: &str) -> Vec<String> {
    let catalog = Catalog::builtin().unwrap();
    let detector = Detector::new(&catalog, default_policy());
    detector
        .scan(text.as_bytes(), &mut Suppressed::default())
        .iter()
        .map(|m| catalog.rules[m.rule].id().to_string())
        .collect()
}

/// A GitHub token body with its CRC32 recomputed: the valid token, and the same token with
/// the last checksum character changed.
fn github_pair(prefix: &str, body30: &str) -> (String, String) {
    let check = base62_fixed(crc32(body30.as_bytes()), 6);
    let good = format!(
        "{prefix}{body30}{}",
        String::from_utf8(check.clone()).unwrap()
    );
    let mut bad_check = check;
    bad_check[5] = if bad_check[5] == b'A' { b'B' } else { b'A' };
    let bad = format!("{prefix}{body30}{}", String::from_utf8(bad_check).unwrap());
    (good, bad)
}

#[test]
fn github_token_with_a_wrong_checksum_is_reported_by_no_rule() {
    let (good, bad) = github_pair("ghp_", "Qm3vT9xLpW2rKs8YdN4bZc7GfJhUeA");
    assert_eq!(
        all_findings(&format!("GITHUB_TOKEN={good}")),
        ["github-classic-pat"]
    );
    for text in [
        format!("GITHUB_TOKEN={bad}"),
        format!("github_token = \"{bad}\""),
        format!("curl -H 'Authorization: Bearer {bad}' https://api.github.com/user"),
    ] {
        assert_eq!(all_findings(&text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn npm_token_with_a_wrong_checksum_is_reported_by_no_rule() {
    let (good, bad) = github_pair("npm_", "Zr8qL2vWm9xT4kQm3vT9xLpW2rKs8Y");
    assert_eq!(
        all_findings(&format!("NPM_TOKEN={good}")),
        ["npm-access-token"]
    );
    let text = format!("//registry.npmjs.org/:_authToken={bad}\nNPM_TOKEN={bad}");
    assert_eq!(all_findings(&text), Vec::<String>::new());
}

#[test]
fn malformed_jwt_is_reported_by_no_rule() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let sig = "Xk2vQ9mLp4WzR7tYb1NcE8uHa3JdG6sF";
    let header = b64(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64(r#"{"sub":"svc-7f3k2","exp":1930000000}"#);
    let good = format!("{header}.{payload}.{sig}");
    assert_eq!(all_findings(&format!("auth_token = \"{good}\"")), ["jwt"]);
    // Right prefixes, but the payload is not JSON / the header names no algorithm.
    let not_json = format!("{header}.eyJ{}.{sig}", b64("zzz not json at all, really"));
    let no_alg = format!("{}.{payload}.{sig}", b64(r#"{"typ":"JWT","kid":"k1"}"#));
    for bad in [not_json, no_alg] {
        assert!(bad.starts_with("eyJ") && bad.contains(".eyJ"), "{bad}");
        let text = format!("auth_token = \"{bad}\"");
        assert_eq!(all_findings(&text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn pypi_token_that_is_not_a_macaroon_is_reported_by_no_rule() {
    let catalog = Catalog::builtin().unwrap();
    let rule = catalog.get("pypi-upload-token").unwrap();
    let good = rule.spec.examples[0].trim_start_matches("password = ");
    assert!(pypi_macaroon_well_formed(good.as_bytes()));
    assert_eq!(
        all_findings(&format!("TWINE_PASSWORD={good}")),
        ["pypi-upload-token"]
    );
    // The same token with its signature field's tag damaged, and a random body.
    let damaged = {
        let bytes = base64url_decode(good.trim_start_matches("pypi-").as_bytes()).unwrap();
        let mut bytes = bytes;
        let n = bytes.len();
        bytes[n - 34] = 7;
        use base64::Engine as _;
        format!(
            "pypi-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    };
    let random = "pypi-AgEIcHlwaS5vcmcQm3vT9xLpW2rKs8YdN4bZc7GfJhUeAZr8qL2vWm9xT4kQm3vT9xLpW2rKs8YdN4bZc7GfJhUeAVn5";
    for bad in [damaged.as_str(), random] {
        let text = format!("TWINE_PASSWORD={bad}");
        assert_eq!(all_findings(&text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn truncated_pem_key_is_reported_by_no_rule() {
    let catalog = Catalog::builtin().unwrap();
    let rule = catalog.get("pem-private-key").unwrap();
    for ex in &rule.spec.examples {
        assert_eq!(all_findings(ex), ["pem-private-key"], "{ex}");
    }
    // A documentation stub: the DER header announces a 2048-bit key, the body holds 48 bytes.
    let stub = "-----BEGIN RSA PRIVATE KEY----- \
                    MIIEpQIBAAKCAQEAuq3Rk7Zx2Wm9TvLp4YcBn8sHdJ0fGa6eQ1tNoUiXy5rKwVzDm. \
                    -----END RSA PRIVATE KEY-----";
    for text in [
        format!("For example, `{stub}`"),
        format!("private_key = \"{stub}\""),
    ] {
        assert_eq!(all_findings(&text), Vec::<String>::new(), "{text}");
    }
    // The same stub with one real line break and a JSON-escaped one still decodes the same.
    assert!(!pem_der_well_formed(stub.replace(' ', "\\n").as_bytes()));
}

#[test]
fn public_documentation_values_are_reported_by_no_rule() {
    for value in DOCUMENTATION_VALUES {
        for text in [
            format!("secret_value = \"{value}\""),
            format!("export API_TOKEN={value}"),
        ] {
            assert_eq!(all_findings(&text), Vec::<String>::new(), "{text}");
        }
    }
    // A value one character away from a documentation value is still reported.
    let near = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5d";
    assert_eq!(all_findings(&format!("token = \"{near}\"")), ["jwt"]);
}

#[test]
fn crc32_matches_zlib() {
    // zlib.crc32(b"123456789") == 0xCBF43926, the standard check value.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(base62_fixed(61, 3), b"00z".to_vec());
}

#[test]
fn placeholder_table() {
    let key_like = |parts: &[&str]| parts.concat();
    let cases: Vec<(String, bool)> = vec![
        ("hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(), true),
        ("YOUR_TOKEN_HERE".into(), true),
        ("<token>".into(), true),
        ("AKIAIOSFODNN7EXAMPLE".into(), true),
        ("aaaaaa1".into(), true),
        ("abcdefgh12".into(), true),
        ("hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T".into(), false),
        // A long key body that happens to contain `your` and `fake` is still a secret…
        (
            key_like(&[
                "MIIEvQ",
                &"Qm3vT9xL".repeat(8),
                "yourA",
                &"pW2rKs8Y".repeat(8),
                "fakeB",
                &"dN4bZc7G".repeat(4),
            ]),
            false,
        ),
        // …but a long placeholder made of markup or a long word is not.
        (
            key_like(&["MIIEvQ", &"Qm3vT9xL".repeat(20), "<your key here>"]),
            true,
        ),
        (key_like(&[&"Qm3vT9xL".repeat(20), "placeholder"]), true),
    ];
    for (s, want) in &cases {
        assert_eq!(is_placeholder(s.as_bytes()), *want, "{s}");
    }
}

#[test]
fn generic_value_table() {
    let cases: &[(&str, bool)] = &[
        ("Zr8#qL2v!Wm9xT4k", true),
        ("9f86d081884c7d659a2feaa0c55ad015", true),
        ("password", false),
        ("${DB_PASSWORD}", false),
        ("os.environ['X']", false),
        ("/etc/secrets/db", false),
        ("SOME_CONSTANT_NAME", false),
        ("settings.SECRET_KEY", false),
        ("short1A", false),
        ("correct horse battery staple", false),
        ("NextMarker", false),
        ("ContinuationTokenForThePage", false),
        ("QmVTxLpWrKsYdNbZcGfJhUeA", true),
    ];
    for (s, want) in cases {
        assert_eq!(generic_value_is_secret(s.as_bytes()), *want, "{s}");
    }
}

#[test]
fn allowed_lines_agree_with_the_line_search() {
    let text = b"a\nfoo leakgate:allow x gitleaks:allow\nbar\n\nleakgate:allow\nz leakgate:allow";
    let allowed = AllowedLines::new(text);
    for offset in 0..=text.len() {
        assert_eq!(
            allowed.contains(offset),
            line_has_allow_marker(text, offset),
            "{offset}"
        );
    }
}

#[test]
fn inline_allow_markers_suppress_only_their_line() {
    let text = b"a\nfoo leakgate:allow\nbar";
    assert!(line_has_allow_marker(text, 4));
    assert!(!line_has_allow_marker(text, 0));
    assert!(!line_has_allow_marker(text, text.len()));
}

#[test]
fn entropy_of_uniform_alphabet() {
    assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    assert_eq!(shannon_entropy(b""), 0.0);
}

/// Built-in rules match bytes with ASCII classes (rules.rs `compile`): a file in Latin-1 (a
/// Windows config, an old CSV) with an accented byte between the key and the value, invalid as
/// UTF-8, is matched like its ASCII twin. With Unicode classes `[^\n]` skips no invalid byte.
#[test]
fn latin1_bytes_between_key_and_value_hide_nothing() {
    let catalog = Catalog::builtin().unwrap();
    let detector = Detector::new(&catalog, default_policy());
    let ids = |text: &[u8]| -> Vec<String> {
        detector
            .scan(text, &mut Suppressed::default())
            .iter()
            .map(|m| catalog.rules[m.rule].id().to_string())
            .collect()
    };
    let ascii = b"IBM cle: Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz\n";
    let latin1 = b"IBM cl\xe9: Q7HLsC81NSYffGD3vtKQSdHJyXbHt0XRoBeyXh9nl2Bz\n";
    assert_eq!(ids(ascii), ["ibm-cloud-api-key"]);
    assert_eq!(ids(latin1), ids(ascii));
}

/// Issue 18 (cargo-mutants): the match loop always moves forward — by one UTF-8 scalar past
/// the match start when the match ended there (an empty match of a custom rule) — and never
/// reads past the end of the text doing so.
#[test]
fn next_start_always_moves_forward_by_one_scalar() {
    assert_eq!(next_start(b"abcd", 3, 1), 3, "the preferred start is ahead");
    assert_eq!(
        next_start(b"abcd", 1, 1),
        2,
        "an empty match steps one byte"
    );
    assert_eq!(
        next_start(b"ab", 1, 1),
        2,
        "stepping onto the end of the text"
    );
    assert_eq!(next_start("éa".as_bytes(), 0, 0), 2, "a scalar, not a byte");
    assert_eq!(next_start("aé".as_bytes(), 0, 0), 1);
}

use super::*;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;

// Synthetic, made-up token-like values: none of them is or was a real credential.
const HF: &str = "hf_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL";
const GHP: &str = "ghp_8dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKd";
const GLPAT: &str = "glpat-NnFRIBXuDL7DxtpYlSXpfKtHF4vUCsMehG";

fn b64(s: impl AsRef<[u8]>) -> String {
    STANDARD.encode(s)
}

fn b64url(s: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// Every third byte zero and others high: binary by any measure.
fn binary_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| if i % 3 == 0 { 0 } else { 0x80 | (i as u8) })
        .collect()
}

/// (encoding, raw span, decoded)
type Expect = (Encoding, String, String);

fn e(encoding: Encoding, raw: impl Into<String>, decoded: impl Into<String>) -> Expect {
    (encoding, raw.into(), decoded.into())
}

fn cases() -> Vec<(&'static str, Vec<u8>, Vec<Expect>)> {
    use Encoding::*;
    let docker_auth = b64(format!("ci-bot:{GHP}"));
    let jwt_header = b64url(r#"{"alg":"HS256","typ":"JWT"}"#);
    let jwt_payload = b64url(r#"{"sub":"1234567890","name":"Jane Roe","iat":1516239022}"#);
    let jwt_signature = b64url(binary_bytes(32));
    let escaped_hf: String = HF.bytes().map(|b| format!("\\u{b:04x}")).collect();
    let x_escaped_hf: String = HF.bytes().map(|b| format!("\\x{b:02X}")).collect();
    let png_uri = format!(
        "<img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{}\">",
        "QUJD".repeat(1 << 18)
    );
    vec![
        ("empty", vec![], vec![]),
        (
            "k8s secret data line",
            format!("  token: {}", b64(HF)).into_bytes(),
            vec![e(Base64, b64(HF), HF)],
        ),
        (
            "k8s data value of a 12-character password",
            format!("  password: {}", b64("Tr0ub4dor&3x")).into_bytes(),
            vec![e(Base64, b64("Tr0ub4dor&3x"), "Tr0ub4dor&3x")],
        ),
        (
            "dockerconfigjson auth",
            format!(r#"{{"auths":{{"registry.example.com":{{"auth":"{docker_auth}"}}}}}}"#)
                .into_bytes(),
            vec![e(Base64, &docker_auth, format!("ci-bot:{GHP}"))],
        ),
        (
            "whole dockerconfigjson in a secret: one level, the auth inside stays for recursion",
            format!(
                "  .dockerconfigjson: {}",
                b64(format!(
                    r#"{{"auths":{{"ghcr.io":{{"auth":"{docker_auth}"}}}}}}"#
                ))
            )
            .into_bytes(),
            vec![e(
                Base64,
                b64(format!(
                    r#"{{"auths":{{"ghcr.io":{{"auth":"{docker_auth}"}}}}}}"#
                )),
                format!(r#"{{"auths":{{"ghcr.io":{{"auth":"{docker_auth}"}}}}}}"#),
            )],
        ),
        (
            "helm values line",
            format!("  apiKey: \"{}\"  # base64, see chart README", b64(GLPAT)).into_bytes(),
            vec![e(Base64, b64(GLPAT), GLPAT)],
        ),
        (
            "unpadded base64, length not a multiple of 4",
            format!("auth={}\n", STANDARD_NO_PAD.encode(format!("user:{HF}"))).into_bytes(),
            vec![e(
                Base64,
                STANDARD_NO_PAD.encode(format!("user:{HF}")),
                format!("user:{HF}"),
            )],
        ),
        (
            "double base64 yields one level",
            format!("value: {}", b64(b64(HF))).into_bytes(),
            vec![e(Base64, b64(b64(HF)), b64(HF))],
        ),
        (
            "jwt: header and payload are text, the signature is binary",
            format!("Bearer {jwt_header}.{jwt_payload}.{jwt_signature}").into_bytes(),
            vec![
                e(Base64, &jwt_header, r#"{"alg":"HS256","typ":"JWT"}"#),
                e(
                    Base64,
                    &jwt_payload,
                    r#"{"sub":"1234567890","name":"Jane Roe","iat":1516239022}"#,
                ),
            ],
        ),
        (
            "base64url alphabet",
            format!("t={}", b64url("~~~ token ~~~ ??? >>> hf_x")).into_bytes(),
            vec![e(
                Base64Url,
                b64url("~~~ token ~~~ ??? >>> hf_x"),
                "~~~ token ~~~ ??? >>> hf_x",
            )],
        ),
        (
            "base64 after a url path",
            format!("https://vault.example.com/v1/secret/{}", b64url(HF)).into_bytes(),
            vec![e(Base64, b64url(HF), HF)],
        ),
        (
            "base64 of binary is dropped",
            format!("blob: {}", b64(binary_bytes(48))).into_bytes(),
            vec![],
        ),
        (
            "1 MB image data uri is dropped",
            png_uri.into_bytes(),
            vec![],
        ),
        (
            "text data uri is decoded",
            format!("data:text/plain;base64,{}", b64(HF)).into_bytes(),
            vec![e(Base64, b64(HF), HF)],
        ),
        (
            "padding in odd places",
            format!("==== a===b {0}{0} ={1}=", b64("hello, world!"), b64(HF)).into_bytes(),
            vec![
                e(Base64, b64("hello, world!"), "hello, world!"),
                e(Base64, b64("hello, world!"), "hello, world!"),
                // Extra `=` belong to the run; they do not change the decoding.
                e(Base64, format!("{}=", b64(HF)), HF),
            ],
        ),
        (
            "english words and identifiers",
            b"internationalization counterrevolutionaries transformers_model_name \
                  ThisIsAVeryLongCamelCaseIdentifier self.assertRaisesRegex(ValueError) \
                  MAX_CONTENT_LENGTH_IN_BYTES test_decode_spans_handles_everything \
                  InvalidGatewayID LifecycleConfigName"
                .to_vec(),
            vec![],
        ),
        (
            "file paths",
            b"/usr/lib/python3.11/site-packages/transformers/models/bert/modeling_bert.py \
                  src/main/java/com/example/service/impl/UserServiceImpl.java"
                .to_vec(),
            vec![],
        ),
        (
            "hex digests and uuids",
            b"sha1 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 \
                  sha256=E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 \
                  id 550e8400-e29b-41d4-a716-446655440000"
                .to_vec(),
            vec![],
        ),
        (
            "percent-encoded postgres uri",
            b"DATABASE_URL=postgres://app:p%40ssw0rd%21x@db.internal:5432/app # prod".to_vec(),
            vec![e(
                Percent,
                "DATABASE_URL=postgres://app:p%40ssw0rd%21x@db.internal:5432/app",
                "DATABASE_URL=postgres://app:p@ssw0rd!x@db.internal:5432/app",
            )],
        ),
        (
            "percent-encoded query string keeps plus",
            format!(
                "curl \"https://api.example.com/v1/items?api_key=hf%5F{}&q=a+b\"",
                &HF[3..]
            )
            .into_bytes(),
            vec![e(
                Percent,
                format!(
                    "https://api.example.com/v1/items?api_key=hf%5F{}&q=a+b",
                    &HF[3..]
                ),
                format!("https://api.example.com/v1/items?api_key={HF}&q=a+b"),
            )],
        ),
        (
            "double percent encoding yields one level",
            b"password=p%2540ssw0rd".to_vec(),
            vec![e(Percent, "password=p%2540ssw0rd", "password=p%40ssw0rd")],
        ),
        (
            "lone and doubled percent signs",
            b"100% of %% and %zz and 50%".to_vec(),
            vec![],
        ),
        (
            "printf formats decode to controls and are dropped",
            b"print('%02d:%02d:%02d' % t)".to_vec(),
            vec![],
        ),
        (
            "json unicode-escaped token",
            format!("{{\"token\": \"{escaped_hf}\"}}").into_bytes(),
            vec![e(
                Escape,
                format!("\"{escaped_hf}\"}}"),
                format!("\"{HF}\"}}"),
            )],
        ),
        (
            "c hex-escaped token",
            format!("char *k = \"{x_escaped_hf}\";").into_bytes(),
            vec![e(
                Escape,
                format!("\"{x_escaped_hf}\";"),
                format!("\"{HF}\";"),
            )],
        ),
        (
            "escape run with simple escapes and a surrogate pair",
            br#"msg="token:\u0068f_abc\n\"q\"\\\/\ud83d\ude00""#.to_vec(),
            vec![e(
                Escape,
                r#"msg="token:\u0068f_abc\n\"q\"\\\/\ud83d\ude00""#,
                "msg=\"token:hf_abc\n\"q\"\\/\u{1F600}\"",
            )],
        ),
        (
            "braced and long unicode escapes",
            br#"k="\u{68}\U00000066_secret-value""#.to_vec(),
            vec![e(
                Escape,
                r#"k="\u{68}\U00000066_secret-value""#,
                "k=\"hf_secret-value\"",
            )],
        ),
        (
            "lone surrogates become replacement characters",
            br#"pass\ud800word\udc00long"#.to_vec(),
            vec![e(
                Escape,
                r#"pass\ud800word\udc00long"#,
                "pass\u{FFFD}word\u{FFFD}long",
            )],
        ),
        (
            "truncated and garbage escapes",
            br#"\u12 \x4 \uZZZZ \u{} \u{1234567} \U0001 \x \u \"plain\" \n"#.to_vec(),
            vec![],
        ),
        (
            "escape trigger at end of input",
            b"abc \\u00".to_vec(),
            vec![],
        ),
        (
            "double-escaped json yields one level",
            br#"{\"k\":\"\\u0068\\u0066_value\"}"#.to_vec(),
            vec![e(
                Escape,
                r#"{\"k\":\"\\u0068\\u0066_value\"}"#,
                r#"{"k":"\u0068\u0066_value"}"#,
            )],
        ),
        (
            "json-escaped slashes in a url",
            br#"{"index": "https:\/\/ci:Zr8qLmN2vXw4Tb@nexus.corp.example\/repo"}"#.to_vec(),
            vec![e(
                Escape,
                r#""https:\/\/ci:Zr8qLmN2vXw4Tb@nexus.corp.example\/repo"}"#,
                r#""https://ci:Zr8qLmN2vXw4Tb@nexus.corp.example/repo"}"#,
            )],
        ),
        (
            "a lone escaped quote or newline is no trigger",
            br#"say \"hi\" then\nleave"#.to_vec(),
            vec![],
        ),
        (
            "binary escapes are dropped",
            br#"MAGIC = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR""#.to_vec(),
            vec![],
        ),
        (
            "invalid utf-8 around a base64 token",
            [
                b"\xff\xfe\x80 key: ".as_slice(),
                b64(HF).as_bytes(),
                b" \xc3\x28",
            ]
            .concat(),
            vec![e(Base64, b64(HF), HF)],
        ),
    ]
}

#[test]
fn table() {
    for (name, input, expected) in cases() {
        let got = decode_spans(&input);
        let got: Vec<Expect> = got
            .iter()
            .map(|d| {
                let raw = input
                    .get(d.start..d.end)
                    .unwrap_or_else(|| panic!("{name}: span {}..{} out of bounds", d.start, d.end));
                (
                    d.encoding,
                    String::from_utf8_lossy(raw).into_owned(),
                    String::from_utf8_lossy(&d.bytes).into_owned(),
                )
            })
            .collect();
        assert_eq!(got, expected, "case: {name}");
    }
}

#[test]
fn names_match_serde() {
    // serde_json is a dependency of the crate already; the report's JSON uses these names.
    for enc in [
        Encoding::Base64,
        Encoding::Base64Url,
        Encoding::Percent,
        Encoding::Escape,
    ] {
        let json = serde_json::to_string(&enc).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", enc.name()));
    }
}

use crate::test_rng::Rng;

/// Checks the invariants every output must keep.
fn check_invariants(input: &[u8], out: &Decodings, context: &str) {
    let mut last_start = 0;
    let mut total = 0usize;
    for d in &out.spans {
        assert!(
            d.start < d.end && d.end <= input.len(),
            "{context}: bad span {d:?}"
        );
        assert!(d.start >= last_start, "{context}: unsorted at {}", d.start);
        assert!(
            is_text(&d.bytes, ESCAPED_TEXT),
            "{context}: non-text decoding at {}",
            d.start
        );
        last_start = d.start;
        total += d.bytes.len();
    }
    assert!(out.spans.len() <= MAX_SPANS, "{context}: too many spans");
    assert!(
        total <= input.len() + OUTPUT_SLACK,
        "{context}: output {total} too large"
    );
    for enc in [Encoding::Base64, Encoding::Percent, Encoding::Escape] {
        let mut prev_end = 0;
        for d in out.spans.iter().filter(|d| {
            d.encoding == enc || (enc == Encoding::Base64 && d.encoding == Encoding::Base64Url)
        }) {
            assert!(d.start >= prev_end, "{context}: overlapping {enc:?} spans");
            prev_end = d.end;
        }
    }
}

/// The base64 scanner without the sampling shortcut: every maximal run, byte by byte.
fn reference_base64(text: &[u8]) -> Vec<Decoded> {
    let is_symbol = |i: usize| text.get(i).is_some_and(|&b| class(b) & B64 != 0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if !is_symbol(i) {
            i += 1;
            continue;
        }
        let start = i;
        while is_symbol(i) {
            i += 1;
        }
        let data_end = i;
        while text.get(i) == Some(&b'=') {
            i += 1;
        }
        if data_end - start >= MIN_BASE64_RUN {
            let flags = text[start..data_end].iter().fold(0, |f, &b| f | class(b));
            out.extend(base64_candidate(text, start, data_end, i, flags));
        }
    }
    out
}

#[test]
fn fuzz_random_inputs_keep_invariants() {
    const B64_ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_====";
    const PERCENT: &[u8] = b"%%%%0123456789abcdefABCDEFxyz:/@?&=+. \"'";
    const ESCAPE: &[u8] = b"\\\\\\\\uuxxUU{}0123456789abcdefABCDEFdDnt\"/ '";
    const TEXTY: &[u8] = b"abcdefghijklmnopqrstuvwxyz ABCXYZ012_-./:=%\\\"\n\t";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..20_000 {
        let len = rng.below(4097);
        let mode = rng.below(6);
        let mut input = Vec::with_capacity(len);
        while input.len() < len {
            match mode {
                0 => input.push(rng.next() as u8),
                1 => input.push(rng.pick(B64_ALPHABET)),
                2 => input.push(rng.pick(PERCENT)),
                3 => input.push(rng.pick(ESCAPE)),
                4 => input.push(rng.pick(TEXTY)),
                // Mixed: splice in real encodings of random printable text.
                _ => {
                    let n = rng.below(60);
                    let plain: Vec<u8> = (0..n).map(|_| 0x20 + rng.below(95) as u8).collect();
                    let piece = match rng.below(5) {
                        0 => STANDARD.encode(&plain).into_bytes(),
                        1 => URL_SAFE_NO_PAD.encode(&plain).into_bytes(),
                        2 => plain
                            .iter()
                            .flat_map(|b| format!("%{b:02x}").into_bytes())
                            .collect(),
                        3 => plain
                            .iter()
                            .flat_map(|b| format!("\\u{b:04x}").into_bytes())
                            .collect(),
                        _ => (0..n).map(|_| rng.next() as u8).collect(),
                    };
                    input.extend_from_slice(&piece);
                    input.push(rng.pick(b" \n\"'=.%\\"));
                }
            }
        }
        let out = decode_spans_bounded(&input);
        let context = format!("fuzz case {case} (mode {mode})");
        check_invariants(&input, &out, &context);
        if !out.truncated {
            let sampled: Vec<&Decoded> = out
                .spans
                .iter()
                .filter(|d| matches!(d.encoding, Encoding::Base64 | Encoding::Base64Url))
                .collect();
            let reference = reference_base64(&input);
            assert_eq!(sampled, reference.iter().collect::<Vec<_>>(), "{context}");
        }
    }
}

#[test]
fn round_trips_of_random_text() {
    let mut rng = Rng(42);
    for case in 0..2_000 {
        let len = 12 + rng.below(300);
        let plain: String = (0..len)
            .map(|_| char::from(0x21 + rng.below(94) as u8))
            .collect();
        let encodings = [
            STANDARD.encode(&plain),
            URL_SAFE_NO_PAD.encode(&plain),
            STANDARD_NO_PAD.encode(&plain),
        ];
        for encoded in encodings {
            let line = format!("  key: {encoded}\n");
            let spans = decode_spans(line.as_bytes());
            assert!(
                spans.iter().any(|d| d.bytes == plain.as_bytes()
                    && line.get(d.start..d.end) == Some(encoded.as_str())),
                "case {case}: {encoded} not decoded to {plain:?}: {spans:?}"
            );
        }
        let percent: String = plain.bytes().map(|b| format!("%{b:02X}")).collect();
        let spans = decode_spans(format!("x {percent} y").as_bytes());
        assert!(
            spans
                .iter()
                .any(|d| d.encoding == Encoding::Percent && d.bytes == plain.as_bytes()),
            "case {case}: percent {percent}"
        );
        let escaped: String = plain
            .chars()
            .map(|c| format!("\\u{:04x}", u32::from(c)))
            .collect();
        let expected = plain.replace('\\', "\\\\");
        let spans = decode_spans(format!("x {escaped} y").as_bytes());
        assert!(
            spans.iter().any(|d| d.encoding == Encoding::Escape
                && (d.bytes == plain.as_bytes() || d.bytes == expected.as_bytes())),
            "case {case}: escaped {escaped}"
        );
    }
}

#[test]
fn long_adversarial_runs_stay_bounded() {
    let mib = 1 << 20;
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("base64 zeros", b"A".repeat(mib)),
        (
            "base64 text",
            STANDARD.encode("x".repeat(mib / 2)).into_bytes(),
        ),
        ("percent run", b"%41".repeat(mib / 3)),
        ("invalid percents", b"%4".repeat(mib / 2)),
        ("escape run", b"\\u0041".repeat(mib / 6)),
        ("lone backslashes", b"\\".repeat(mib)),
        ("surrogate highs", b"\\ud800".repeat(mib / 6)),
        (
            "many tiny spans",
            format!("{} ", b64("hello world!"))
                .repeat(mib / 16)
                .into_bytes(),
        ),
        (
            "overlapping encodings",
            format!("\\u0041%41{}", b64("x".repeat(4096)))
                .repeat(64)
                .into_bytes(),
        ),
    ];
    for (name, input) in inputs {
        let out = decode_spans_bounded(&input);
        check_invariants(&input, &out, name);
        if name == "many tiny spans" {
            assert_eq!(out.spans.len(), MAX_SPANS, "{name}");
            assert!(out.truncated, "{name}");
        }
        if name == "overlapping encodings" {
            assert!(
                out.truncated,
                "{name}: the budget should have cut something"
            );
        }
    }
}

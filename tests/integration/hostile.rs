//! Hostile input (issue 7): inputs built to crash, hang, mislead or leak through leakgate.
//!
//! Three layers:
//! - a seeded mutation test over the four fuzzed entry points (`notebook::units`,
//!   `decode::decode_spans`, `git::added_ranges`, `Scanner::scan_content`) that runs the exact
//!   invariant checks of the cargo-fuzz targets (fuzz/src/lib.rs, included below) on the stable
//!   toolchain, plus every input the fuzzer ever crashed on as a named regression;
//! - a bad-input corpus run through the real binary in real repositories, each test asserting
//!   the exact outcome (exit status, line and column, skip reason, escaped output);
//! - redaction, fail-closed and resource-bound checks of the documented guarantees.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::harness::*;

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;

/// Two more synthetic Hugging Face tokens (made up; they authorise nothing).
const HF_D: &str = "hf_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL";
const HF_E: &str = "hf_8dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKd";

// ---------------------------------------------------------------------------------------------
// Seeded mutation test: the fuzz targets' logic on stable.

/// xorshift64: deterministic, no dependency, good enough to shuffle bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fragments that steer mutations towards the parsers' edge cases: JSON structure and escapes,
/// line endings, NUL, ANSI and bidi controls, BOMs, encodings, token prefixes.
const DICTIONARY: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\udc00",
    b"\\u001b[31m",
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\x1b[",
    b"\x1b]8;;",
    b"\x07",
    b"\x1b\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"\"cells\":",
    b"\"worksheets\":",
    b"\"outputs\":",
    b"\"source\":",
    b"\"output_type\":",
    b"\"error\"",
    b"\"stream\"",
    b"\"execute_result\"",
    b"\"data\":",
    b"\"text/plain\":",
    b"\"application/json\":",
    b"\"traceback\":",
    b"\"metadata\":",
    b"\"attachments\":",
    b"\"nbformat\": 3",
    b"hf_",
    b"hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T",
    b"aGZfNHN4MWVaN3pHVGJCRjlkNjZGMnJTSEdOS1NwbXE2S2EwVA==",
    b"%2",
    b"%",
    b"\\x",
    b"==",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xae",
    b"\xc2\x9b",
    b"\xf0\x9f",
    b"leakgate:allow",
];

/// Fragments that are valid inside a JSON string, for mutations that keep a notebook parseable.
const JSON_STRING_WORDS: &[&[u8]] = &[
    b"hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T",
    b"aGZfNHN4MWVaN3pHVGJCRjlkNjZGMnJTSEdOS1NwbXE2S2EwVA==",
    b"\\n",
    b"\\r\\n",
    b"\\r",
    b"\\t",
    b"\\u001b[31m",
    b"\\u001b]8;;",
    b"\\ud800",
    b"\\udc00",
    b"\\u0068f_",
    b"\\\\",
    b"\\\"",
    b"\xe2\x80\xae",
    b"\xc3\xa9",
    b"leakgate:allow",
    b"%2F",
    b"x",
];

/// Insert a JSON-string-safe fragment just inside a string literal of `input` (after an opening
/// quote): a notebook stays valid JSON, so the mutation reaches the notebook logic instead of
/// the JSON parser's first error.
fn mutate_inside_a_string(rng: &mut XorShift, input: &mut Vec<u8>) {
    let mut openings = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in input.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
            openings.push(i + 1);
        }
    }
    if openings.is_empty() {
        return;
    }
    for _ in 0..=rng.below(3) {
        let at = openings[rng.below(openings.len())];
        let word = JSON_STRING_WORDS[rng.below(JSON_STRING_WORDS.len())];
        input.splice(at..at, word.iter().copied());
        // Later openings moved; only the ones before `at` are still exact, so stop at one
        // position list per call (the next call recomputes).
        openings.retain(|&o| o <= at);
    }
}

/// Largest mutated input: the parsers are linear, so size adds time, not coverage.
const MAX_INPUT: usize = 1 << 16;

fn mutate(rng: &mut XorShift, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                input.drain(i..i + n);
            }
            3 => {
                let i = rng.below(len + 1);
                let word = DICTIONARY[rng.below(DICTIONARY.len())];
                input.splice(i..i, word.iter().copied());
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let copy = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let i = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - i).min(512));
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[i..i + n].iter().copied());
                }
            }
            6 if len > 0 => {
                let i = rng.below(len);
                const INTERESTING: &[u8] = b"\0\xff\"\\\n\r{}[]:,\x1b";
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            7 if len > 0 => input.truncate(rng.below(len)),
            _ => input.push(rng.next() as u8),
        }
    }
    input.truncate(MAX_INPUT);
}

/// The committed seed corpus of a fuzz target (fuzz/corpus/TARGET), sorted by name.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    seeds
}

/// Run `check` on every seed, then on `iterations` mutants; a panic is reported with the
/// iteration and the input (as an escaped byte string to paste into `FUZZ_REGRESSIONS`). The
/// whole run must finish within `limit_secs` (see [`within`]), and at least `min_deep_percent`
/// of the inputs must get past parsing to the check's deep invariants (measured with these
/// seeds, deterministic: notebook 33 %, decode 46 %, added_lines 85 %, scan_blob 42 %, index
/// 5 %; the floors sit below).
fn mutation_test(
    target: &str,
    check: Check,
    iterations: usize,
    seed: u64,
    limit_secs: u64,
    min_deep_percent: usize,
) {
    let corpus = seeds(target);
    let mut rng = XorShift(seed);
    let started = Instant::now();
    let deep_before = fuzz_checks::deep_checks();
    let mut input = Vec::new();
    for i in 0..corpus.len() + iterations {
        if i < corpus.len() {
            input.clone_from(&corpus[i]);
        } else {
            // Half the time restart from a seed (most stacked mutations break the JSON early),
            // half the time keep mutating the last input (deeper changes).
            if rng.below(2) == 0 {
                input.clone_from(&corpus[rng.below(corpus.len())]);
            }
            // Notebooks: three times in four, a mutation that keeps the JSON valid (from a
            // seed, so the input is JSON to begin with); random bytes rarely get past the parser.
            if target == "notebook" && rng.below(4) != 0 {
                input.clone_from(&corpus[rng.below(corpus.len())]);
                mutate_inside_a_string(&mut rng, &mut input);
            } else {
                mutate(&mut rng, &corpus, &mut input);
            }
        }
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            panic!(
                "{target}: iteration {i} (xorshift seed {seed}) broke an invariant (message above) \
                 on input b\"{}\"",
                input.escape_ascii()
            );
        }
    }
    let total = corpus.len() + iterations;
    let deep = fuzz_checks::deep_checks() - deep_before;
    eprintln!(
        "{target}: {total} inputs in {:.1?}, {deep} ({}%) reached the deep invariants",
        started.elapsed(),
        deep * 100 / total
    );
    within(started, limit_secs, target);
    assert!(
        deep * 100 >= total * min_deep_percent,
        "{target}: only {deep} of {total} inputs got past parsing (floor {min_deep_percent}%): \
         the mutator mostly feeds the checks inputs they reject"
    );
}

/// A generous time bound, so only a pathological slowdown (quadratic work, a hang) fails, never a
/// busy machine: each limit is about 10x what the debug build took on a 2-core machine running
/// several other builds (measured: 60 MiB blob 54 s, 20 MiB line 13 s, scan_blob mutants 23 s,
/// the other mutation runs under 1 s). Quadratic work on these inputs takes hours.
#[track_caller]
fn within(started: Instant, limit_secs: u64, what: &str) {
    let took = started.elapsed();
    assert!(
        took.as_secs() < limit_secs,
        "{what} took {took:.1?}, over the {limit_secs} s bound: a pathological slowdown"
    );
}

#[test]
fn mutation_notebook_units() {
    mutation_test(
        "notebook",
        fuzz_checks::check_notebook,
        3000,
        0x5eed_0001,
        60,
        20,
    );
}

#[test]
fn mutation_decode_spans() {
    mutation_test(
        "decode",
        fuzz_checks::check_decode,
        3000,
        0x5eed_0002,
        60,
        30,
    );
}

#[test]
fn mutation_added_ranges() {
    mutation_test(
        "added_lines",
        fuzz_checks::check_added_lines,
        3000,
        0x5eed_0003,
        60,
        60,
    );
}

#[test]
fn mutation_scan_content() {
    mutation_test(
        "scan_blob",
        fuzz_checks::check_scan_blob,
        150,
        0x5eed_0004,
        300,
        25,
    );
}

#[test]
fn mutation_index_file() {
    mutation_test("index", fuzz_checks::check_index, 3000, 0x5eed_0005, 60, 3);
}

/// One fuzz target's check function.
type Check = fn(&[u8]);

/// Every input that ever crashed a fuzz target or broke one of its invariants, by the target
/// it broke: (name, check, input). Named after the bug; the root cause is in the comment.
const FUZZ_REGRESSIONS: &[(&str, Check, &[u8])] = &[
    // Found by `mutation_scan_content` (seed 0x5eed_0004), minimised by hand:
    // a `.ipynb` that is not a notebook gets a note carrying serde_json's error, and that
    // message quotes the offending JSON string — `invalid type: string "Token: hf_…"` — so the
    // secret reaches every report in full. See `unparsable_notebook_note_does_not_echo_the_secret`.
    (
        "notebook parse error note echoes the secret",
        fuzz_checks::check_scan_blob,
        b"\x00\"Token: hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T\\n\"",
    ),
    // Hand-made probes of edge cases; none has failed.
    ("empty input", fuzz_checks::check_scan_blob, b""),
    ("mode byte only", fuzz_checks::check_scan_blob, b"\x01"),
    (
        "utf16 bom with odd length",
        fuzz_checks::check_scan_blob,
        b"\x01\xff\xfeh\0f\0_",
    ),
    (
        "lone utf16 bom",
        fuzz_checks::check_scan_blob,
        b"\x01\xfe\xff",
    ),
    (
        "split larger than input",
        fuzz_checks::check_added_lines,
        b"\xff\xffab",
    ),
    (
        "unterminated string in metadata",
        fuzz_checks::check_notebook,
        b"{\"cells\":[{\"metadata\":{\"a\":\"b}}]}",
    ),
    (
        "escape at end of string",
        fuzz_checks::check_notebook,
        b"{\"cells\":[{\"source\":\"\\\\\"}]}",
    ),
];

#[test]
fn fuzz_regressions() {
    for (name, check, input) in FUZZ_REGRESSIONS {
        if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
            panic!("fuzz regression `{name}` fails again (message above)");
        }
    }
}

#[test]
fn split_and_line_count_follow_the_documented_layout() {
    assert_eq!(
        fuzz_checks::split(b"\x02\x00abcd"),
        (&b"ab"[..], &b"cd"[..])
    );
    assert_eq!(fuzz_checks::split(b"\x02\x00ab"), (&b"ab"[..], &b""[..]));
    assert_eq!(fuzz_checks::split(b"\x09\x00ab"), (&b""[..], &b"ab"[..]));
    assert_eq!(fuzz_checks::split(b"a"), (&b""[..], &b"a"[..]));
    let lines: &[(&[u8], usize)] = &[
        (b"", 0),
        (b"a", 1),
        (b"a\n", 1),
        (b"a\nb", 2),
        (b"a\rb\r", 1),
    ];
    for (text, want) in lines {
        assert_eq!(fuzz_checks::line_count(text), *want, "{text:?}");
    }
    assert!(fuzz_checks::is_terminal_hazard('\u{9b}'));
    assert!(!fuzz_checks::is_terminal_hazard('é'));
}

// ---------------------------------------------------------------------------------------------
// Helpers for running the binary on hostile repositories.

/// Run leakgate and keep the raw bytes of both streams: a lossy conversion would turn a raw C1
/// byte into U+FFFD and hide exactly what these tests look for.
fn run_raw(r: &TestRepo, args: &[&str]) -> (Run, Vec<u8>, Vec<u8>) {
    let mut c = r.command(BIN, &r.dir);
    c.args(args);
    let out = c.output().expect("run leakgate");
    let run = Run {
        cmd: format!("leakgate {}", args.join(" ")),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, out.stdout, out.stderr)
}

/// Both streams are valid UTF-8 (so no lone C1 byte) without control or bidi characters.
#[track_caller]
fn assert_streams_terminal_safe(run: &Run, stdout: &[u8], stderr: &[u8]) {
    for (name, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        let text = std::str::from_utf8(bytes)
            .unwrap_or_else(|e| panic!("{name} is not UTF-8 ({e})\n{}", run.dump()));
        if catch_unwind(|| fuzz_checks::assert_terminal_safe(name, text)).is_err() {
            panic!("{name} carries a terminal control sequence\n{}", run.dump());
        }
    }
}

/// `check-staged` in human (stderr), JSON and SARIF (stdout) with extra flags; every stream
/// terminal-safe. Returns the three runs in that order.
fn check_all_formats(r: &TestRepo, extra: &[&str]) -> [Run; 3] {
    ["human", "json", "sarif"].map(|format| {
        let mut args = vec!["check-staged", "--format", format];
        args.extend_from_slice(extra);
        let (run, out, err) = run_raw(r, &args);
        assert_streams_terminal_safe(&run, &out, &err);
        run
    })
}

/// (rule, path, line, column) of each JSON finding, in report order.
fn locations(v: &Value) -> Vec<(String, String, u64, u64)> {
    v["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array in {v:#}"))
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["column"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn hf(path: &str, line: u64, column: u64) -> (String, String, u64, u64) {
    ("huggingface-token".into(), path.into(), line, column)
}

/// Path of the loose object file of `sha`, made writable (git writes them read-only).
fn loose_object(r: &TestRepo, sha: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = r.dir.join(".git/objects").join(&sha[..2]).join(&sha[2..]);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

// ---------------------------------------------------------------------------------------------
// Bad-input corpus through the real binary.

#[test]
fn invalid_utf8_is_scanned_and_located_by_characters() {
    let r = TestRepo::new();
    // Line 2: three invalid bytes (each counts as one character, as a lossy display shows it)
    // and a truncated 4-byte sequence (one character), then ` = '` and the token.
    let mut content = b"caf\xe9 = 1\n\xff\xfe\xfd\xf0\x9f = '".to_vec();
    content.extend_from_slice(format!("{HF_A}'\n").as_bytes());
    r.stage("latin1.txt", &content);
    let [human, json, _] = check_all_formats(&r, &[]);
    human
        .code(1)
        .stderr_has("latin1.txt:2:9  huggingface-token")
        .stderr_has("scanned 1 file, 2 lines");
    json.code(1);
    assert_eq!(locations(&json.json()), vec![hf("latin1.txt", 2, 9)]);
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        out.extend(if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

#[test]
fn utf16_files_with_a_bom_are_transcoded_and_located() {
    let r = TestRepo::new();
    let text = format!("a = 1\r\nt = '{HF_A}'\r\n");
    r.stage("le.txt", utf16(&text, true));
    r.stage("be.txt", utf16(&text, false));
    let v = r.check_json(1);
    assert_eq!(
        locations(&v),
        vec![hf("be.txt", 2, 6), hf("le.txt", 2, 6)],
        "{v:#}"
    );
    assert!(v["skipped"].as_array().unwrap().is_empty(), "{v:#}");
    assert_eq!(v["scanned"]["files"], 2);
    assert_eq!(v["scanned"]["lines"], 4);

    // A change to a committed UTF-16 file reports only its new lines (both sides transcoded).
    r.commit("utf16");
    r.stage(
        "le.txt",
        utf16(&format!("{text}b = 2\nu = '{HF_B}'\n"), true),
    );
    let v = r.check_json(1);
    assert_eq!(locations(&v), vec![hf("le.txt", 4, 6)], "{v:#}");
    assert_eq!(v["scanned"]["lines"], 2, "{v:#}");
}

#[test]
fn crlf_and_lone_cr_line_endings() {
    let r = TestRepo::new();
    r.stage("crlf.txt", format!("x = 1\r\ny = '{HF_A}'\r\n"));
    // Old Mac line endings: git, and so leakgate, count lines by '\n' only. The whole file is
    // line 1, and the column counts every character since the start of the file, CRs included.
    r.stage("lonecr.txt", format!("x = 1\ry = '{HF_B}'\rz = 2\r"));
    let v = r.check_json(1);
    assert_eq!(
        locations(&v),
        vec![hf("crlf.txt", 2, 6), hf("lonecr.txt", 1, 12)],
        "{v:#}"
    );
    assert_eq!(v["scanned"]["lines"], 3, "2 CRLF lines + 1 lone-CR 'line'");

    // Appending a lone-CR "line" changes git's only line: it is all new again, and found.
    r.commit("c1");
    r.stage(
        "lonecr.txt",
        format!("x = 1\ry = '{HF_B}'\rz = 2\rw = '{HF_C}'\r"),
    );
    let v = r.check_json(1);
    assert_eq!(
        locations(&v),
        vec![hf("lonecr.txt", 1, 12), hf("lonecr.txt", 1, 62)],
        "{v:#}"
    );
}

/// A 20 MiB single line (no newline anywhere before the token): found, column exact.
#[test]
fn twenty_megabyte_single_line_with_a_token_at_the_end() {
    let r = TestRepo::new();
    let filler = "word, ".repeat((20 << 20) / 6);
    let content = format!("{filler}t = '{HF_A}'");
    r.stage("long.txt", &content);
    let started = Instant::now();
    let v = r.check_json(1);
    let column = filler.len() as u64 + 6;
    assert_eq!(locations(&v), vec![hf("long.txt", 1, column)], "{v:#}");
    assert_eq!(v["scanned"]["lines"], 1);
    assert_eq!(v["scanned"]["bytes"], content.len() as u64);
    eprintln!("20 MiB line scanned in {:.1?}", started.elapsed());
    within(started, 200, "the 20 MiB line");
}

/// `lines` lines of ordinary text (~60 bytes each), then a token on the last line.
fn big_text(lines: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(lines * 64 + 64);
    for i in 0..lines {
        let _ = writeln!(
            out,
            "line {i:08}: the quick brown fox jumps over the lazy dog;"
        );
    }
    let _ = writeln!(out, "token = '{HF_A}'");
    out
}

fn big_blob_is_found(lines: usize) {
    let r = TestRepo::new();
    let content = big_text(lines);
    r.stage("big.txt", &content);
    let started = Instant::now();
    let v = r.check_json(1);
    assert_eq!(
        locations(&v),
        vec![hf("big.txt", lines as u64 + 1, 10)],
        "{v:#}"
    );
    assert_eq!(v["scanned"]["bytes"], content.len() as u64);
    assert_eq!(v["scanned"]["lines"], lines as u64 + 1);
    eprintln!(
        "{} MiB blob scanned in {:.1?}",
        content.len() >> 20,
        started.elapsed()
    );
    within(started, 10 * (content.len() as u64 >> 20), "the big blob");
}

/// A 200 MiB blob (under the 256 MiB default limit) is scanned whole and the token found.
///
/// Peak RSS, measured once with `/usr/bin/time -v leakgate check-staged --format json` on this
/// exact repository (one 209 715 228-byte blob, 3 495 254 lines): 220 312 KiB (215 MiB) for the
/// release build (1.4 s wall), 226 124 KiB for the debug build (21 s). The blob is held once;
/// the rest is the process itself. Ignored because it takes over 20 s in a debug build;
/// `big_blob_60mb_is_found` runs the same path every time.
#[test]
#[ignore = "takes > 20 s in a debug build (see the doc comment); run with --ignored"]
fn big_blob_200mb_is_found() {
    big_blob_is_found(200 * (1 << 20) / 60);
}

#[test]
fn big_blob_60mb_is_found() {
    big_blob_is_found(60 * (1 << 20) / 60);
}

#[test]
fn nul_in_the_first_8000_bytes_is_binary_and_listed() {
    let r = TestRepo::new();
    // git's heuristic (xdiff's buffer_is_binary): a NUL within the first 8000 bytes.
    let mut at_7999 = vec![b'a'; 7999];
    at_7999.push(0);
    at_7999.extend_from_slice(format!("\nt = '{HF_A}'\n").as_bytes());
    r.stage("mid.dat", &at_7999);
    let v = r.check_json(0);
    assert_eq!(
        v["skipped"],
        serde_json::json!([{"path": "mid.dat", "reason": "binary"}])
    );
    assert_eq!(v["scanned"]["files"], 0);
    r.leakgate(&["check-staged", "--verbose"])
        .code(0)
        .stderr_has("skipped: mid.dat (binary)")
        .stderr_has("leakgate: scanned 0 files, 0 lines, 0 B in staged changes; 0 findings; skipped 1 binary (--verbose lists them)");
}

#[test]
fn nul_after_byte_8000_is_text_and_scanned() {
    let r = TestRepo::new();
    // 100 lines of 80 bytes = 8000 bytes, so the NUL is byte 8001 (index 8000): text for git.
    let mut content = Vec::new();
    for i in 0..100 {
        content.extend_from_slice(format!("{i:079}\n").as_bytes());
    }
    content.extend_from_slice(format!("\0 t = '{HF_A}'\n").as_bytes());
    assert_eq!(content[8000], 0);
    r.stage("late.dat", &content);
    let v = r.check_json(1);
    assert_eq!(locations(&v), vec![hf("late.dat", 101, 8)], "{v:#}");
    assert!(v["skipped"].as_array().unwrap().is_empty());
}

#[test]
fn empty_repository_and_empty_file() {
    let r = TestRepo::new();
    let human = r.leakgate(&["check-staged"]);
    human.code(0);
    assert_eq!(
        human.stderr,
        "leakgate: scanned 0 files, 0 lines, 0 B in staged changes; 0 findings\n"
    );
    assert_eq!(
        r.check_json(0),
        serde_json::json!({
            "version": 1,
            "findings": [],
            "scanned": {"files": 0, "lines": 0, "bytes": 0},
            "skipped": [],
            "suppressed": {"inline": 0, "allowlist": 0, "baseline": 0, "paths": 0},
            "notes": [],
        })
    );
    r.stage("empty.txt", "");
    r.leakgate(&["check-staged"])
        .code(0)
        .stderr_has("leakgate: scanned 1 file, 0 lines, 0 B in staged changes; 0 findings");
}

#[test]
fn three_thousand_staged_files_are_all_counted() {
    let r = TestRepo::new();
    for i in 0..3000 {
        let body = if i == 1234 {
            format!("n = {i}\nt = '{HF_A}'\n")
        } else {
            format!("n = {i}\n")
        };
        r.write(&format!("d{}/f{i:04}.txt", i % 30), body);
    }
    r.git(&["add", "-A"]);
    let v = r.check_json(1);
    assert_eq!(locations(&v), vec![hf("d4/f1234.txt", 2, 6)], "{v:#}");
    assert_eq!(v["scanned"]["files"], 3000);
    assert_eq!(v["scanned"]["lines"], 3001);
}

/// Names that are hostile on a terminal. (name as bytes, how the human report shows it, how
/// JSON gives it back). The raw 0x9B byte is not UTF-8: JSON can only carry it lossily.
const HOSTILE_NAMES: &[(&[u8], &str, &str)] = &[
    (b"with space.txt", "with space.txt", "with space.txt"),
    (b"new\nline.txt", "new\\nline.txt", "new\nline.txt"),
    (
        "\u{fc}n\u{ef}c\u{f8}d\u{e9}-\u{540d}\u{524d}.txt".as_bytes(),
        "\u{fc}n\u{ef}c\u{f8}d\u{e9}-\u{540d}\u{524d}.txt",
        "\u{fc}n\u{ef}c\u{f8}d\u{e9}-\u{540d}\u{524d}.txt",
    ),
    (
        b"red\x1b[31mname.txt",
        "red\\u{1b}[31mname.txt",
        "red\x1b[31mname.txt",
    ),
    (
        "csi\u{9b}2Jname.txt".as_bytes(),
        "csi\\u{9b}2Jname.txt",
        "csi\u{9b}2Jname.txt",
    ),
    (b"raw\x9bcsi.txt", "raw\\x9bcsi.txt", "raw\u{fffd}csi.txt"),
    (
        "bidi\u{202e}txt.exe".as_bytes(),
        "bidi\\u{202e}txt.exe",
        "bidi\u{202e}txt.exe",
    ),
];

fn write_bytes_name(r: &TestRepo, name: &[u8], content: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    std::fs::write(r.dir.join(std::ffi::OsStr::from_bytes(name)), content).unwrap();
}

#[test]
fn hostile_file_names_are_escaped_in_every_format() {
    let r = TestRepo::new();
    for (name, _, _) in HOSTILE_NAMES {
        write_bytes_name(&r, name, format!("t = '{HF_A}'\n").as_bytes());
    }
    // A binary with a title-setting OSC sequence in its name: listed under --verbose.
    write_bytes_name(&r, b"osc\x1b]0;pwned\x07.bin", b"\0\x01\x02");
    r.git(&["add", "-A"]);

    let [human, json, sarif] = check_all_formats(&r, &["--verbose"]);
    human
        .code(1)
        .stderr_has("skipped: osc\\u{1b}]0;pwned\\u{7}.bin (binary)");
    for (_, shown, _) in HOSTILE_NAMES {
        human.stderr_has(&format!("{shown}:1:6  huggingface-token"));
    }
    json.code(1);
    let v = json.json();
    let mut got: Vec<String> = locations(&v).into_iter().map(|l| l.1).collect();
    let mut want: Vec<String> = HOSTILE_NAMES.iter().map(|n| n.2.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "JSON round-trips every UTF-8 name exactly");
    assert_eq!(v["skipped"][0]["path"], "osc\x1b]0;pwned\x07.bin");
    sarif.code(1);
    let uris: Vec<String> = sarif.json()["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|res| {
            res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for uri in [
        "raw%9Bcsi.txt",
        "red%1B%5B31mname.txt",
        "bidi%E2%80%AEtxt.exe",
    ] {
        assert!(uris.iter().any(|u| u == uri), "{uri} in {uris:?}");
    }

    // Names reach the notes too (a file not scanned): same escaping there.
    let [human, json, sarif] = check_all_formats(&r, &["--verbose", "--max-blob-size", "2"]);
    human
        .code(0)
        .stderr_has("note: red\\u{1b}[31mname.txt was NOT scanned")
        .stderr_has("skipped: bidi\\u{202e}txt.exe (too large: ");
    json.code(0);
    sarif.code(0);
}

/// Regression (found by `mutation_scan_content`): a `.ipynb` that does not parse is scanned as
/// text, with a note giving the reason; the reason was serde_json's message, which quotes the
/// JSON string it choked on (`invalid type: string "Token: hf_…", expected …`), so the note
/// printed the secret in full in the human and JSON reports.
#[test]
fn unparsable_notebook_note_does_not_echo_the_secret() {
    let r = TestRepo::new();
    r.stage("top.ipynb", format!("\"Token: {HF_A}\"\n"));
    r.stage("cells.ipynb", format!("{{\"cells\": \"{HF_B}\"}}\n"));
    let [human, json, sarif] = check_all_formats(&r, &[]);
    human
        .stderr_has("note: cells.ipynb is not a readable notebook")
        .stderr_has("note: top.ipynb is not a readable notebook");
    for run in [&human, &json, &sarif] {
        run.code(1).output_lacks(HF_A).output_lacks(HF_B);
    }
    assert_eq!(
        locations(&json.json()),
        vec![hf("cells.ipynb", 1, 12), hf("top.ipynb", 1, 9)]
    );
}

#[test]
fn symlinks_are_scanned_as_their_target_path_only() {
    let r = TestRepo::new();
    // A link whose target path is itself a token: the blob is that path, scanned as text.
    std::os::unix::fs::symlink(HF_A, r.dir.join("tok-link")).unwrap();
    r.git(&["add", "tok-link"]);
    let v = r.check_json(1);
    assert_eq!(locations(&v), vec![hf("tok-link", 1, 1)], "{v:#}");
    r.git(&["rm", "-q", "--cached", "tok-link"]);
    std::fs::remove_file(r.dir.join("tok-link")).unwrap();

    // A link to a file holding a token: the target's content is not what git records.
    r.write("secret.txt", format!("t = '{HF_A}'\n"));
    std::os::unix::fs::symlink("secret.txt", r.dir.join("link.txt")).unwrap();
    r.git(&["add", "link.txt"]);
    let v = r.check_json(0);
    assert_eq!(
        v["scanned"],
        serde_json::json!({"files": 1, "lines": 1, "bytes": 10})
    );
}

#[test]
fn gitlinks_are_listed_as_skipped_and_replacing_one_is_scanned() {
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    r.commit("c1");
    let sha = r.head();
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{sha},vendor/sub"),
    ]);
    let v = r.check_json(0);
    assert_eq!(
        v["skipped"],
        serde_json::json!([{"path": "vendor/sub", "reason": "submodule (gitlink): not scanned, no local repository"}])
    );
    assert_eq!(v["scanned"]["files"], 0);
    r.leakgate(&["check-staged", "--verbose"])
        .code(0)
        .stderr_has("skipped: vendor/sub (submodule (gitlink): not scanned")
        .stderr_has("skipped 1 submodule (gitlink)");

    // The gitlink committed, then replaced by a file with a token: scanned whole.
    r.commit("c2");
    r.git(&["rm", "-q", "--cached", "vendor/sub"]);
    r.stage("vendor/sub", format!("t = '{HF_A}'\n"));
    let v = r.check_json(1);
    assert_eq!(locations(&v), vec![hf("vendor/sub", 1, 6)], "{v:#}");
}

#[test]
fn corrupt_loose_object_fails_closed_naming_it() {
    let r = TestRepo::new();
    let body: String = (0..2000)
        .map(|i| format!("line {i}: {}\n", "abcdefgh ".repeat(i % 7 + 1)))
        .collect();
    r.stage("a.txt", body);
    let sha = r.git(&["rev-parse", ":a.txt"]).stdout.trim().to_string();
    let path = loose_object(&r, &sha);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8] {
        *b ^= 0xFF;
    }
    std::fs::write(&path, bytes).unwrap();
    // An identical working-tree copy would stand in for the blob (its hash proves it is the
    // staged content); once edited, the damaged blob is the only source of the staged content.
    r.write("a.txt", "edited after staging\n");
    for format in ["human", "json"] {
        let run = r.leakgate(&["check-staged", "--format", format]);
        assert_fails_closed(
            &run,
            &[&format!("cannot read blob {sha} for a.txt: "), "Zlib"],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fail closed: every failure to read what is staged blocks, with one line saying why.

#[test]
fn fail_closed_unreadable_index() {
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    std::fs::write(
        r.dir.join(".git/index"),
        b"DIRC garbage that is not an index",
    )
    .unwrap();
    assert_fails_closed(
        &r.leakgate(&["check-staged"]),
        &["cannot read the git index"],
    );
    // A truncated index (its trailing checksum cut off) is no better.
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    let index = std::fs::read(r.dir.join(".git/index")).unwrap();
    std::fs::write(r.dir.join(".git/index"), &index[..index.len() - 7]).unwrap();
    assert_fails_closed(
        &r.leakgate(&["check-staged", "--format", "json"]),
        &["cannot read the git index"],
    );
}

#[test]
fn fail_closed_config_with_an_unknown_key() {
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    r.write(".leakgate.toml", "[allow]\npathz = [\"tests/**\"]\n");
    assert_fails_closed(
        &r.leakgate(&["check-staged"]),
        &["invalid config ", ".leakgate.toml", "unknown field `pathz`"],
    );
}

/// The reason line is read by a person whose commit was just blocked: the TOML error's
/// multi-line source excerpt must not arrive as `\n  |\n1 | …` escapes.
#[test]
fn bad_config_reason_is_a_readable_single_line() {
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    r.write(".leakgate.toml", "foo = 1\n");
    let run = r.leakgate(&["check-staged"]);
    assert_fails_closed(&run, &["unknown field `foo`", "line 1"]);
    assert!(
        !run.stderr.contains("\\n"),
        "escaped newlines in the reason\n{}",
        run.dump()
    );
}

#[test]
fn fail_closed_missing_blob() {
    let r = TestRepo::new();
    r.stage("a.py", "some content that will vanish\n");
    let sha = r.git(&["rev-parse", ":a.py"]).stdout.trim().to_string();
    std::fs::remove_file(loose_object(&r, &sha)).unwrap();
    assert_fails_closed(
        &r.leakgate(&["check-staged"]),
        &[&format!("cannot read object {sha} for a.py")],
    );
    // The previous version missing (HEAD's blob) blocks the same way.
    let r = TestRepo::new();
    r.stage("b.py", "old\n");
    r.commit("c1");
    let old = r.git(&["rev-parse", ":b.py"]).stdout.trim().to_string();
    r.stage("b.py", "old\nnew\n");
    std::fs::remove_file(loose_object(&r, &old)).unwrap();
    assert_fails_closed(
        &r.leakgate(&["check-staged", "--format", "sarif"]),
        &[&format!("cannot read previous blob {old} for b.py")],
    );
}

#[test]
fn fail_closed_head_pointing_at_a_missing_commit() {
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    r.commit("c1");
    std::fs::write(
        r.dir.join(".git/refs/heads/main"),
        "0123456789abcdef0123456789abcdef01234567\n",
    )
    .unwrap();
    assert_fails_closed(
        &r.leakgate(&["check-staged"]),
        &["HEAD (refs/heads/main) points at a commit that cannot be read"],
    );
}

// ---------------------------------------------------------------------------------------------
// Redaction.

/// One example of every rule in the catalog, each on its own line of one staged file: every
/// secret is found (its fingerprint is in the report) and none appears in full in any format.
#[test]
fn no_output_format_shows_any_rule_secret() {
    let specs = leakgate::rules::builtin_specs().expect("built-in rules parse");
    let scanner = fuzz_checks::scanner();
    let detector = &scanner.detector;
    let catalog = detector.catalog;

    // The binary lists the same catalog.
    let r = TestRepo::new();
    let listed = r.leakgate(&["rules", "--format", "json"]);
    listed.code(0);
    let ids: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["id"].as_str().unwrap().to_string())
        .collect();

    let mut file = String::new();
    // (rule id, secret) the detector finds in each example on its own.
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for spec in &specs {
        assert!(ids.contains(&spec.id), "`rules` does not list {}", spec.id);
        let example = &spec.examples[0];
        let mut sup = leakgate::detect::Suppressed::default();
        let found = detector.scan(example.as_bytes(), &mut sup);
        assert!(!found.is_empty(), "{}: example finds nothing", spec.id);
        for m in found {
            secrets.push((catalog.rules[m.rule].id().to_string(), m.secret));
        }
        file.push_str(example);
        file.push('\n');
    }
    r.stage("all-rules.txt", &file);

    let [human, json, sarif] = check_all_formats(&r, &[]);
    let v = json.code(1).json();
    let fingerprints: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap())
        .collect();
    let mut missing = Vec::new();
    for (rule, secret) in &secrets {
        let written = leakgate::report::seal(
            &leakgate::report::fingerprint(rule, secret),
            leakgate::report::SHARED_SALT,
        );
        if !fingerprints.contains(&written.as_str()) {
            missing.push(rule.as_str());
        }
    }
    assert!(
        missing.is_empty(),
        "secrets not found when all examples share a file: {missing:?}"
    );
    let sarif_json = sarif.code(1).json();
    human.code(1);
    let mut strings = Vec::new();
    json_strings(&v, &mut strings);
    json_strings(&sarif_json, &mut strings);
    for (rule, secret) in &secrets {
        let secret = String::from_utf8_lossy(secret);
        for run in [&human, &json, &sarif] {
            assert!(
                !run.stdout.contains(&*secret) && !run.stderr.contains(&*secret),
                "{rule}: secret shown in full by `{}`",
                run.cmd
            );
        }
        assert!(
            !strings.iter().any(|s| s.contains(&*secret)),
            "{rule}: secret in a (decoded) JSON string"
        );
    }
}

/// Every string value of a JSON document, decoded (a secret with a quote or backslash would be
/// escaped in the raw text).
fn json_strings(v: &Value, out: &mut Vec<String>) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => {
                out.extend(o.keys().cloned());
                stack.extend(o.values());
            }
            _ => {}
        }
    }
}

#[test]
fn show_secrets_is_refused_under_ci_and_shows_them_locally() {
    let r = TestRepo::new();
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    for format in ["human", "json"] {
        let run = r.leakgate_env(
            &r.dir,
            &["check-staged", "--show-secrets", "--format", format],
            &[("CI", "true")],
        );
        assert_fails_closed(&run, &["--show-secrets is refused when CI is set"]);
        run.output_lacks(HF_A);
    }
    r.leakgate(&["check-staged", "--show-secrets"])
        .code(1)
        .stderr_has(&format!("Hugging Face user access token: {HF_A}"));
    let json = r.leakgate(&["check-staged", "--show-secrets", "--format", "json"]);
    assert_eq!(json.code(1).json()["findings"][0]["secret"], HF_A);
}

// ---------------------------------------------------------------------------------------------
// Resource bounds.

/// A blob over `--max-blob-size` is not scanned: listed as skipped, a note says so (shown without
/// --verbose), and the exit status is 0 (it does not block; see the README's Guarantees).
#[test]
fn max_blob_size_skips_with_a_note_and_exit_zero() {
    let r = TestRepo::new();
    let big = format!("t = '{HF_A}'\n{}", "x".repeat(100));
    r.stage("big.txt", &big);
    r.stage("small.txt", "ok\n");
    let size = big.len();
    let run = r.leakgate(&["check-staged", "--max-blob-size", "50", "--format", "json"]);
    let v = run.code(0).json();
    assert_eq!(
        v["skipped"],
        serde_json::json!([{
            "path": "big.txt",
            "reason": format!("too large: {size} bytes > --max-blob-size 50"),
        }])
    );
    assert_eq!(
        v["notes"],
        serde_json::json!([format!(
            "big.txt was NOT scanned: {size} bytes exceeds --max-blob-size; raise the limit to scan it"
        )])
    );
    assert_eq!(v["scanned"]["files"], 1);
    r.leakgate(&["check-staged", "--max-blob-size", "50"])
        .code(0)
        .stderr_has(&format!("note: big.txt was NOT scanned: {size} bytes"))
        .stderr_has("; 0 findings; skipped 1 too large (--verbose lists them)");
    // Suffixes are binary multiples; at the limit exactly, the blob is scanned.
    r.leakgate(&["check-staged", "--max-blob-size", "1K"])
        .code(1);
    r.leakgate(&["check-staged", "--max-blob-size", &size.to_string()])
        .code(1);
}

#[test]
fn max_findings_lists_some_counts_all_and_blocks() {
    let r = TestRepo::new();
    let tokens = [HF_A, HF_B, HF_C, HF_D, HF_E];
    let body: String = tokens.iter().map(|t| format!("t = '{t}'\n")).collect();
    r.stage("five.txt", body);
    let run = r.leakgate(&["check-staged", "--max-findings", "2"]);
    run.code(1)
        .stderr_has("leakgate: 5 secrets found in staged changes — blocked")
        .stderr_has("  … and 3 more (raise --max-findings to list them)")
        .stderr_has("; 5 findings");
    assert_eq!(
        run.stderr.matches("error: five.txt:").count(),
        2,
        "{}",
        run.dump()
    );
    assert!(run.stderr.contains("five.txt:2:6") && !run.stderr.contains("five.txt:3:6"));
    // JSON is for machines: it lists every finding whatever --max-findings says.
    let json = r.leakgate(&["check-staged", "--max-findings", "2", "--format", "json"]);
    assert_eq!(json.code(1).json()["findings"].as_array().unwrap().len(), 5);
}

/// A base64-encoded token under a key that names no secret: found only by decoding.
#[test]
fn decode_depth_zero_turns_off_decoding() {
    let r = TestRepo::new();
    // base64 of HF_A.
    r.stage(
        "blob.yaml",
        "payload: aGZfNHN4MWVaN3pHVGJCRjlkNjZGMnJTSEdOS1NwbXE2S2EwVA==\n",
    );
    let v = r.check_json(1);
    assert_eq!(locations(&v), vec![hf("blob.yaml", 1, 10)], "{v:#}");
    assert_eq!(v["findings"][0]["encoding"], "base64");
    assert_eq!(v["findings"][0]["secret_redacted"], "hf_4sx…(37 chars)");
    let off = r.leakgate(&["check-staged", "--decode-depth", "0", "--format", "json"]);
    assert!(off.code(0).json()["findings"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// `leakgate rules | head -1`: the reader is gone before leakgate writes. A closed pipe is the
/// reader's choice (the report writer already treats it so), not a panic with exit 101.
#[test]
fn rules_into_a_closed_pipe_does_not_panic() {
    let r = TestRepo::new();
    let mut c = r.command("sh", &r.dir);
    c.arg("-c")
        .arg(r#"(sleep 1; "$0" rules --format json; echo "exit $?" >&2) | true"#)
        .arg(BIN);
    let out = c.output().expect("run sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.ends_with("exit 0\n") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// No hang: work grows linearly with the input.

/// Many findings in one text: locating them (line, column, inline-allow line, overlaps) must
/// be one pass, not one pass per finding. Quadrupling the findings may cost at most ~8× (linear
/// is 4×, quadratic 16×); the slack absorbs timer noise on small runs. Measured before the fix
/// (debug): one line with 1 000 / 2 000 / 4 000 / 8 000 tokens took 0.7 / 3.0 / 17 / 61 s; a
/// 3.8 MB file of 100 000 tokens on one line takes 106 s in a release build.
#[test]
fn many_findings_are_located_in_linear_time() {
    let scanner = fuzz_checks::scanner();
    let time = |sep: &str, n: usize| {
        let text = format!("t = '{HF_A}'{sep}").repeat(n);
        (0..2)
            .map(|_| {
                let started = Instant::now();
                let out = scanner.scan_content(b"many.txt", None, text.as_bytes(), None);
                assert_eq!(out.findings.len(), n, "every token is a finding");
                started.elapsed()
            })
            .min()
            .unwrap()
    };
    for (sep, small) in [(" ", 500), ("\n", 2000)] {
        let (t_small, t_large) = (time(sep, small), time(sep, 4 * small));
        assert!(
            t_large < t_small * 8 + std::time::Duration::from_millis(200),
            "separator {sep:?}: {small} findings took {t_small:.2?}, {} took {t_large:.2?}",
            4 * small
        );
    }
}

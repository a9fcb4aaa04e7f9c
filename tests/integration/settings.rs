//! Every documented setting, pinned by a test that fails when the setting stops working: the
//! `.leakgate.toml` keys (`[limits]`, `[overrides.X] entropy`, `baseline = PATH`, the custom-rule
//! regex size cap), the global flags that override them ("the flag wins"), `--no-baseline`,
//! `NO_COLOR` on a real terminal, `"checksum": "valid"`, the decoded-span-limit note, and the
//! installer refreshing an older shim in place.
//!
//! Invariant of this module: each test shows the setting in BOTH directions (with it, without it,
//! or config vs flag), so a setting that is ignored — or applied always — fails the test.

use std::path::Path;

use crate::harness::*;

/// Base64 of a synthetic Hugging Face token, and the base64 of that again (two layers).
const HF_PLAIN: &str = "hf_DqY7yUYBqj3Pr86kKIdUgxW9zdDVU7cB4L";
const HF_B64: &str = "aGZfRHFZN3lVWUJxajNQcjg2a0tJZFVneFc5emREVlU3Y0I0TA==";
const HF_B64_B64: &str = "YUdaZlJIRlpOM2xWV1VKeGFqTlFjamcyYTB0SlpGVm5lRmM1ZW1SRVZsVTNZMEkwVEE9PQ==";

/// A synthetic GitHub classic token whose last six characters are the base62 CRC32 of the 30
/// before them (computed with zlib), and the same token with its checksum broken.
const GH_VALID: &str = "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";
const GH_BAD_SUM: &str = "ghp_B7gSLFCyVeVBUITuGCGvi7KXhmoBtz3Hw1lA";

fn config(r: &TestRepo, text: &str) {
    r.write(".leakgate.toml", text);
}

fn json(r: &TestRepo, args: &[&str], want: i32) -> serde_json::Value {
    let mut all = vec!["check-staged", "--format", "json"];
    all.extend_from_slice(args);
    let run = r.leakgate(&all);
    run.code(want);
    run.json()
}

#[test]
fn limits_max_blob_size_from_config_and_the_flag_wins() {
    let r = TestRepo::new();
    let body = format!("{}\nt = '{HF_A}'\n", "#".repeat(400));
    r.stage("big.py", &body);
    // Default (256M): scanned.
    assert_eq!(json(&r, &[], 1)["findings"][0]["rule"], "huggingface-token");
    // The config's limit: the file is listed as not scanned, and does not block.
    config(&r, "[limits]\nmax_blob_size = 100\n");
    let v = json(&r, &[], 0);
    assert_eq!(v["skipped"][0]["path"], "big.py", "{v:#}");
    assert!(
        v["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("too large"),
        "{v:#}"
    );
    // The flag beats the config file.
    let v = json(&r, &["--max-blob-size", "1K"], 1);
    assert_eq!(v["findings"][0]["rule"], "huggingface-token", "{v:#}");
    // And the other way round: a flag below the config's limit.
    config(&r, "[limits]\nmax_blob_size = 1000000\n");
    json(&r, &[], 1);
    let v = json(&r, &["--max-blob-size", "100"], 0);
    assert_eq!(v["skipped"][0]["path"], "big.py", "{v:#}");
}

#[test]
fn limits_decode_depth_from_config_and_the_flag_wins() {
    let r = TestRepo::new();
    r.stage("once.yaml", format!("payload: {HF_B64}\n"));
    // Default depth 2: the decoded token is found.
    let v = json(&r, &[], 1);
    assert_eq!(v["findings"][0]["encoding"], "base64", "{v:#}");
    // decode_depth = 0 in the config turns decoding off.
    config(&r, "[limits]\ndecode_depth = 0\n");
    let v = json(&r, &[], 0);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v:#}");
    // The flag wins over the config.
    let v = json(&r, &["--decode-depth", "1"], 1);
    assert_eq!(v["findings"][0]["encoding"], "base64", "{v:#}");
    // And a config depth of 1 is obeyed when no flag is given.
    config(&r, "[limits]\ndecode_depth = 1\n");
    json(&r, &[], 1);
    json(&r, &["--decode-depth", "0"], 0);
}

/// Depth counts layers: `--decode-depth 1` follows one encoding, not two; 2 follows both.
#[test]
fn decode_depth_one_follows_one_layer_only() {
    let r = TestRepo::new();
    r.stage("twice.yaml", format!("payload: {HF_B64_B64}\n"));
    let v = json(&r, &["--decode-depth", "1"], 0);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v:#}");
    let v = json(&r, &["--decode-depth", "2"], 1);
    assert_eq!(v["findings"][0]["encoding"], "base64>base64", "{v:#}");
    assert_eq!(v["findings"][0]["rule"], "huggingface-token", "{v:#}");
    // One layer is followed at depth 1 (depth 1 is not "off").
    r.stage("once.yaml", format!("payload: {HF_B64}\n"));
    let v = json(&r, &["--decode-depth", "1"], 1);
    assert_eq!(
        finding_field(&v, "path"),
        vec!["once.yaml".to_string()],
        "{v:#}"
    );
}

#[test]
fn limits_max_findings_lists_that_many_and_the_flag_wins() {
    let r = TestRepo::new();
    let lines: String = [HF_A, HF_B, HF_C, HF_PLAIN]
        .iter()
        .enumerate()
        .map(|(i, t)| format!("t{i} = '{t}'\n"))
        .collect();
    r.stage("many.py", lines);
    let listed = |run: &Run| {
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error: many.py:"))
            .count()
    };
    let all = r.leakgate(&["check-staged"]);
    all.code(1);
    assert_eq!(listed(&all), 4, "{}", all.dump());
    config(&r, "[limits]\nmax_findings = 2\n");
    let two = r.leakgate(&["check-staged"]);
    two.code(1).stderr_has("… and 2 more");
    assert_eq!(listed(&two), 2, "{}", two.dump());
    let three = r.leakgate(&["check-staged", "--max-findings", "3"]);
    three.code(1).stderr_has("… and 1 more");
    assert_eq!(listed(&three), 3, "{}", three.dump());
    // Everything still blocks and is counted, also with 0 listed.
    r.leakgate(&["check-staged", "--max-findings", "0"])
        .code(1)
        .stderr_has("4 secrets found");
}

#[test]
fn override_entropy_raises_and_lowers_a_rules_floor() {
    let r = TestRepo::new();
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    json(&r, &[], 1);
    // A floor no 34-character random part can reach: the finding goes.
    config(&r, "[overrides.huggingface-token]\nentropy = 6.0\n");
    let v = json(&r, &[], 0);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v:#}");
    // A floor it passes: back.
    config(&r, "[overrides.huggingface-token]\nentropy = 1.0\n");
    json(&r, &[], 1);
    // Lowering: a low-entropy token the built-in floor rejects is reported with floor 0.
    // Six letters in no pattern: a repeated unit (`abab…`) is a mock whatever the floor.
    let dull = "hf_akmmkcemeemamgegmggaeceeeemmkcckmm";
    r.write(".leakgate.toml", "");
    r.stage("a.py", format!("t = '{dull}'\n"));
    let v = json(&r, &[], 0);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v:#}");
    config(&r, "[overrides.huggingface-token]\nentropy = 0.0\n");
    let v = json(&r, &[], 1);
    assert_eq!(v["findings"][0]["rule"], "huggingface-token", "{v:#}");
}

#[test]
fn baseline_path_from_config_is_written_and_read_there() {
    let r = TestRepo::new();
    config(&r, "baseline = \"security/known.json\"\n");
    std::fs::create_dir_all(r.dir.join("security")).unwrap();
    r.stage("old.py", format!("A = '{HF_A}'\n"));
    r.commit("legacy secret");
    r.leakgate(&["baseline", "create"]).code(0);
    assert!(r.dir.join("security/known.json").is_file());
    assert!(!r.dir.join(".leakgate-baseline.json").exists());
    // The same secret staged again elsewhere is known through that file.
    r.stage("new.py", format!("A2 = '{HF_A}'\n"));
    let v = json(&r, &[], 0);
    assert_eq!(v["suppressed"]["baseline"], 1, "{v:#}");
    // Without the key, the default path is used, where there is no baseline.
    config(&r, "");
    json(&r, &[], 1);
}

/// `--no-baseline` with exactly one staged secret, the baselined one: only the flag decides.
#[test]
fn no_baseline_reports_a_baselined_secret() {
    let r = TestRepo::new();
    r.stage("old.py", format!("A = '{HF_A}'\n"));
    r.commit("legacy secret");
    r.leakgate(&["baseline", "create"]).code(0);
    r.stage("new.py", format!("A2 = '{HF_A}'\n"));
    let v = json(&r, &[], 0);
    assert_eq!(v["suppressed"]["baseline"], 1, "{v:#}");
    let v = json(&r, &["--no-baseline"], 1);
    assert_eq!(finding_field(&v, "path"), vec!["new.py".to_string()]);
    assert_eq!(v["suppressed"]["baseline"], 0, "{v:#}");
}

/// Run `leakgate ARGS` on a pseudo-terminal (util-linux `script`), with or without NO_COLOR.
fn on_terminal(r: &TestRepo, args: &str, no_color: Option<&str>) -> String {
    let mut c = r.command("script", &r.dir);
    c.args(["-qec", &format!("{BIN} {args}"), "/dev/null"]);
    c.env_remove("NO_COLOR");
    if let Some(v) = no_color {
        c.env("NO_COLOR", v);
    }
    let out = c
        .output()
        .expect("util-linux `script` provides the pseudo-terminal");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_color_is_honoured_on_a_terminal() {
    let r = TestRepo::new();
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    let colored = on_terminal(&r, "check-staged", None);
    assert!(colored.contains("huggingface-token"), "{colored}");
    assert!(
        colored.contains("\x1b["),
        "a terminal gets colour:\n{colored}"
    );
    let plain = on_terminal(&r, "check-staged", Some("1"));
    assert!(plain.contains("huggingface-token"), "{plain}");
    assert!(!plain.contains("\x1b["), "NO_COLOR=1 means none:\n{plain}");
    // The spec: an empty NO_COLOR does not count.
    let empty = on_terminal(&r, "check-staged", Some(""));
    assert!(empty.contains("\x1b["), "{empty}");
}

#[test]
fn github_token_with_a_valid_checksum_says_so_and_a_broken_one_is_not_that_token() {
    let r = TestRepo::new();
    r.stage("gh.py", format!("t = '{GH_VALID}'\n"));
    let v = json(&r, &[], 1);
    assert_eq!(v["findings"][0]["rule"], "github-classic-pat", "{v:#}");
    assert_eq!(v["findings"][0]["checksum"], "valid", "{v:#}");
    r.stage("gh.py", format!("t = '{GH_BAD_SUM}'\n"));
    let v = json(&r, &[], 0);
    assert!(
        !finding_field(&v, "rule").contains(&"github-classic-pat".to_string()),
        "{v:#}"
    );
}

#[test]
fn decoded_span_limit_is_reported_as_a_note() {
    let r = TestRepo::new();
    // Each `aGVsbG8gd29ybGQh` is base64 of "hello world!": 10,001 spans, one more than followed.
    let line = |n: usize| format!("x = \"{}\"\n", "aGVsbG8gd29ybGQh ".repeat(n));
    r.stage("spans.txt", line(10_001));
    let v = json(&r, &[], 0);
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("more encoded spans than the decoder follows"),
        "{v:#}"
    );
    r.leakgate(&["check-staged"])
        .code(0)
        .stderr_has("note: a text had more encoded spans");
    // Under the limit: no note.
    r.stage("spans.txt", line(9_000));
    let v = json(&r, &[], 0);
    assert_eq!(v["notes"].as_array().unwrap().len(), 0, "{v:#}");
}

fn custom_rule(width: usize) -> String {
    format!(
        "[[rules]]\nid = \"acme-wide\"\ntitle = \"ACME token\"\nregex = '''(acme_\\w{{1,{width}}})'''\n\
         secret_group = 1\nkeywords = [\"acme_\"]\nremediation = \"Revoke it.\"\n\
         examples = [\"acme_3f9a0c7d2b8e4f61a5c9d0e7b3a2f8c4\"]\n"
    )
}

/// Custom rules compile under a 4 MiB size cap. `\w{1,N}` (Unicode word characters) compiles
/// to roughly 45 KiB per repetition: 60 fits under 4 MiB, 110 does not (but would under the
/// regex crate's own 10 MiB default, so dropping the cap fails this test).
#[test]
fn custom_rule_regex_size_cap_is_4_mib() {
    let r = TestRepo::new();
    r.stage("a.py", "acme_3f9a0c7d2b8e4f61a5c9d0e7b3a2f8c4\n");
    config(&r, &custom_rule(60));
    assert_eq!(json(&r, &[], 1)["findings"][0]["rule"], "acme-wide");
    config(&r, &custom_rule(110));
    let run = r.leakgate(&["check-staged"]);
    assert_fails_closed(&run, &["acme-wide", "size limit of 4194304 bytes"]);
}

/// An older leakgate shim (another binary path, older text) is rewritten in place by `install`:
/// not chained as if it were a foreign hook, and the fresh shim blocks.
#[test]
fn install_refreshes_an_older_leakgate_shim_in_place() {
    let r = TestRepo::new();
    r.leakgate(&["install"]).code(0);
    let hook = r.dir.join(".git/hooks/pre-commit");
    let fresh = std::fs::read(&hook).unwrap();
    // What an older release left behind: the marker, another binary, a body that lets all pass.
    let old = "#!/bin/sh\n# leakgate-hook: pre-commit. (an older release)\n\
               LEAKGATE_INSTALLED_BIN='/opt/old/leakgate'\nexit 0\n";
    std::fs::write(&hook, old).unwrap();
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    assert_eq!(r.try_git(&["commit", "-q", "-m", "old shim"]).code, 0);
    r.stage("b.py", format!("t = '{HF_B}'\n"));
    r.leakgate(&["install"]).code(0);
    assert_eq!(std::fs::read(&hook).unwrap(), fresh, "rewritten in place");
    assert!(!Path::new(&format!("{}.leakgate-chained", hook.display())).exists());
    let blocked = r.try_git(&["commit", "-m", "fresh shim"]);
    assert_ne!(blocked.code, 0, "{}", blocked.dump());
    assert!(
        blocked.stderr.contains("huggingface-token"),
        "{}",
        blocked.dump()
    );
}

/// A config error names the exact 1-based line and column of the offending key (found by
/// cargo-mutants: a 0-based column survived the suite).
#[test]
fn config_error_names_the_exact_line_and_column() {
    let r = TestRepo::new();
    config(&r, "[limits]\n  max_findingz = 3\n");
    let run = r.leakgate(&["check-staged"]);
    assert_fails_closed(
        &run,
        &["(line 2, column 3)", "unknown field `max_findingz`"],
    );
}

/// A custom rule's negative example that its own regex matches is refused (found by
/// cargo-mutants: inverting the rule comparison survived the suite).
#[test]
fn custom_rule_whose_negative_example_matches_is_refused() {
    let r = TestRepo::new();
    let rule = "[[rules]]\nid = \"acme-t\"\ntitle = \"ACME\"\nregex = '''(acme_[0-9a-f]{8})'''\n\
                secret_group = 1\nkeywords = [\"acme_\"]\nremediation = \"Revoke it.\"\n\
                examples = [\"acme_3f9a1c7e\"]\n";
    config(
        &r,
        &format!("{rule}negative_examples = [\"acme_deadbeef\"]\n"),
    );
    let run = r.leakgate(&["check-staged"]);
    assert_fails_closed(&run, &["acme-t", "negative example"]);
    // A negative example that does not match loads.
    config(
        &r,
        &format!("{rule}negative_examples = [\"acme_nothex!!\"]\n"),
    );
    r.leakgate(&["check-staged"]).code(0);
}

/// A baseline that exists but cannot be read is an error naming it, not "no baseline" (found
/// by cargo-mutants: treating every read error as "missing" survived the suite).
#[test]
fn unreadable_baseline_fails_closed() {
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    std::fs::create_dir_all(r.dir.join(".leakgate-baseline.json")).unwrap();
    let run = r.leakgate(&["check-staged"]);
    assert_fails_closed(&run, &["cannot read baseline", ".leakgate-baseline.json"]);
    // Missing is fine: no baseline.
    std::fs::remove_dir(r.dir.join(".leakgate-baseline.json")).unwrap();
    r.leakgate(&["check-staged"]).code(0);
}

/// A hooks directory that is not a directory: install fails closed naming the hook it could not
/// inspect (cargo-mutants: treating every inspection error as "nothing there" survived; it then
/// failed later with a vaguer message).
#[test]
fn install_into_a_hooks_path_that_is_a_file_fails_closed() {
    let r = TestRepo::new();
    let hooks = r.dir.join(".git/hooks");
    std::fs::remove_dir_all(&hooks).unwrap();
    std::fs::write(&hooks, "not a directory\n").unwrap();
    let run = r.leakgate(&["install"]);
    assert_fails_closed(&run, &["cannot inspect", "hooks/pre-commit"]);
}

/// `scan` honours --max-blob-size too: the file is listed as skipped with its path and reason
/// (cargo-mutants on run.rs: dropping the path or the reason of a skipped file survived).
#[test]
fn scan_lists_a_file_over_max_blob_size_as_skipped() {
    let r = TestRepo::new();
    r.write("sc/big.txt", format!("{}\nt = '{HF_A}'\n", "#".repeat(300)));
    r.write("sc/small.txt", "x = 1\n");
    let run = r.leakgate(&["scan", "sc", "--max-blob-size", "100", "--format", "json"]);
    run.code(0);
    let v = run.json();
    assert_eq!(
        v["skipped"],
        serde_json::json!([{"path": "sc/big.txt", "reason": "too large: 345 bytes > --max-blob-size 100"}]),
        "{v:#}"
    );
    r.leakgate(&["scan", "sc", "--format", "json"]).code(1);
}

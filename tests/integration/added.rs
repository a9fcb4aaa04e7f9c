//! What counts as added: secrets spanning several lines, rule context on unchanged lines,
//! notebook outputs written in pieces, and what the report and baseline give away.

use crate::harness::*;

const BEGIN: &str = "-----BEGIN PRIVATE KEY-----\n";
const END: &str = "-----END PRIVATE KEY-----\n";

fn pem(seed: u64) -> String {
    format!("{BEGIN}{}{END}", key_body(seed, 12))
}

fn padding(n: usize) -> String {
    (0..n).map(|i| format!("setting_{i} = {i}\n")).collect()
}

#[test]
fn pem_key_rotated_between_unchanged_begin_end_lines_is_blocked() {
    let r = TestRepo::new();
    let top = padding(30);
    r.stage(
        "deploy/key.py",
        format!("{top}KEY = \"\"\"\n{}\"\"\"\n", pem(1)),
    );
    r.commit("old key");
    r.stage(
        "deploy/key.py",
        format!("{top}KEY = \"\"\"\n{}\"\"\"\n", pem(2)),
    );
    let v = r.check_json(1);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v:#}");
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "pem-private-key");
    // Reported where the key starts, on the unchanged BEGIN line.
    assert_eq!(f["line"], 32);
    assert_eq!(f["column"], 1);
}

#[test]
fn pem_key_pasted_under_an_old_begin_line_is_blocked() {
    let r = TestRepo::new();
    r.stage("id.txt", format!("# paste the key below\n{BEGIN}"));
    r.commit("template");
    r.stage(
        "id.txt",
        format!("# paste the key below\n{BEGIN}{}{END}", key_body(3, 10)),
    );
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "rule"), ["pem-private-key"]);
    assert_eq!(v["findings"][0]["line"], 2);
}

#[test]
fn pem_key_that_only_moved_is_not_new() {
    let r = TestRepo::new();
    let key = pem(4);
    r.stage("a.txt", format!("first\n{key}last\n"));
    r.commit("key");
    // The whole block moves below other lines: every line of it is "added" to git's diff.
    r.stage("a.txt", format!("first\nlast\n{}{key}", padding(5)));
    r.check_json(0);
    // A new line inside the block (a comment) does not make the old key new either…
    let mut lines: Vec<&str> = key.lines().collect();
    lines.insert(6, "");
    r.stage("a.txt", format!("first\n{}\nlast\n", lines.join("\n")));
    r.check_json(0);
    // …but one changed body line does.
    let other = pem(5);
    let changed = key.replacen(
        key.lines().nth(2).unwrap(),
        other.lines().nth(2).unwrap(),
        1,
    );
    assert_ne!(changed, key);
    r.stage("a.txt", format!("first\n{changed}last\n"));
    assert_eq!(finding_field(&r.check_json(1), "rule"), ["pem-private-key"]);
}

#[test]
fn kubernetes_secret_value_rotated_under_an_unchanged_kind_line_is_blocked() {
    let r = TestRepo::new();
    let manifest = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n{}data:\n  password: {value}\n",
            padding(40).replace("setting_", "  # note ")
        )
    };
    r.stage("k8s/db.yaml", manifest("UzNjcjN0UGFzc3cwcmQhMjAyNQ=="));
    r.commit("secret");
    r.stage("k8s/db.yaml", manifest("Um90YXRlZCFQYXNzdzByZDIwMjY="));
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "rule"), ["kubernetes-secret-data"]);
    assert_eq!(v["findings"][0]["line"], 46);
}

/// A custom rule whose context (an INI section header, a `.netrc` machine line) sits lines above
/// the value: the rule runs when only the value changes, and reports only the value. (The
/// service is made up: the built-in wandb-api-key rule covers W&B's own forms, see
/// rules_catalog.rs.)
const CONTEXT_RULES: &str = r#"
[[rules]]
id = "acme-section-key"
title = "Acme API key in an [acme] section"
regex = '''(?m)^\[acme\][^\[]*?^[ \t]*api_key[ \t]*=[ \t]*([0-9a-f]{40})[ \t]*$'''
secret_group = 1
keywords = ["[acme]"]
remediation = "Revoke it at https://acme.example/keys."
examples = ["[acme]\nentity = team\napi_key = 3f9a1c7e5b2d8046a1e9c3b7d5f2084a6c1e9b3d\n"]

[[rules]]
id = "netrc-acme-password"
title = "Acme API key in .netrc"
regex = '''machine[ \t]+api\.acme\.example\s+(?:login[ \t]+\S+\s+)?password[ \t]+([0-9a-f]{40})'''
secret_group = 1
keywords = ["api.acme.example"]
remediation = "Revoke it at https://acme.example/keys."
examples = ["machine api.acme.example\n  login user\n  password 3f9a1c7e5b2d8046a1e9c3b7d5f2084a6c1e9b3d\n"]
"#;

#[test]
fn rule_context_on_unchanged_lines_is_used_and_only_the_value_is_reported() {
    let r = TestRepo::new();
    r.stage(".leakgate.toml", CONTEXT_RULES);
    let ini = |key: &str, extra: &str| {
        format!(
            "[core]\nx = 1\n[acme]\nentity = team\nproject = p\n{extra}api_key = {key}\n\n[other]\ny = 2\n"
        )
    };
    let netrc = |key: &str| format!("machine api.acme.example\n  login user\n  password {key}\n");
    r.stage(
        "settings.ini",
        ini("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", ""),
    );
    r.stage("netrc", netrc("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"));
    r.commit("old");
    // Only the value lines change.
    r.stage(
        "settings.ini",
        ini("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", ""),
    );
    r.stage("netrc", netrc("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"));
    let v = r.check_json(1);
    let mut got: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}:{}", f["rule"], f["path"], f["line"]))
        .collect();
    got.sort();
    assert!(
        got.contains(&r#""netrc-acme-password":"netrc":3"#.to_string())
            && got.contains(&r#""acme-section-key":"settings.ini":6"#.to_string()),
        "{got:?}"
    );
    // A line added between the context and an unchanged value does not make the value new.
    r.git(&["reset", "-q", "--", "settings.ini", "netrc"]);
    r.stage(
        "settings.ini",
        ini(
            "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
            "mode = online\n",
        ),
    );
    r.check_json(0);
}

/// A custom rule's title and remediation come from the repository: a hostile `.leakgate.toml`
/// must not drive the terminal (clear the screen, rewrite the title, hide text).
#[test]
fn custom_rule_title_and_remediation_are_escaped_everywhere() {
    let r = TestRepo::new();
    // TOML basic strings turn \u001b into a real ESC byte in the parsed value.
    r.stage(
        ".leakgate.toml",
        r#"
[[rules]]
id = "acme-token"
title = "ACME \u001b[2J\u001b]0;pwned\u0007 token"
regex = '''(acme_[0-9a-f]{32})'''
secret_group = 1
keywords = ["acme_"]
remediation = "Revoke it.\n\u001b[8mhidden\u001b[0m \u202e"
references = ["https://acme.example/\u001b[31m"]
examples = ["acme_3f9a0c7d2b8e4f61a5c9d0e7b3a2f8c4"]
"#,
    );
    r.stage("app.cfg", "token = acme_0b1c2d3e4f5a69788796a5b4c3d2e1f0\n");
    let runs = [
        r.leakgate(&["check-staged"]),
        r.leakgate(&["rules"]),
        r.leakgate(&["rules", "--explain", "acme-token"]),
    ];
    for run in &runs {
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains("ACME "), "{}", run.dump());
        for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
            assert!(!all.contains(raw), "raw {raw:?} printed\n{}", run.dump());
        }
    }
    runs[0]
        .code(1)
        .stderr_has("\\u{1b}[2J")
        .stderr_has("\\u{1b}[8mhidden");
    runs[2].code(0);
    assert!(runs[2].stdout.contains("\\u{202e}"), "{}", runs[2].dump());
}

/// `[allow] paths` skips a file; the summary line says so like any other suppression.
#[test]
fn files_skipped_by_allow_paths_are_counted_in_the_summary_line() {
    let r = TestRepo::new();
    r.stage(".leakgate.toml", "[allow]\npaths = [\"fixtures/**\"]\n");
    r.stage("fixtures/token.txt", format!("HF = \"{HF_A}\"\n"));
    r.stage("fixtures/other.txt", format!("HF = \"{HF_B}\"\n"));
    r.leakgate(&["check-staged"])
        .code(0)
        .stderr_has("; 2 suppressed");
    let v = r.check_json(0);
    assert_eq!(v["suppressed"]["paths"], 2, "{v:#}");
}

fn baseline_of(r: &TestRepo) -> serde_json::Value {
    let text = std::fs::read_to_string(r.dir.join(".leakgate-baseline.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A committed baseline must not give a weak secret back: fingerprints are a salted Argon2id,
/// not a SHA-256 anyone can run a dictionary through, and the salt is the repository's own.
#[test]
fn baseline_fingerprints_are_salted_per_repository_and_stable() {
    let weak = "Summer2024!x";
    let make = || {
        let r = TestRepo::new();
        r.stage("db.env", format!("DB_PASSWORD={weak}\n"));
        r.commit("legacy");
        r.leakgate(&["baseline", "create"]).code(0);
        r
    };
    let (a, b) = (make(), make());
    let (ba, bb) = (baseline_of(&a), baseline_of(&b));
    assert_eq!(ba["version"], 2, "{ba:#}");
    let salt = ba["salt"].as_str().unwrap();
    assert!(salt.len() >= 32, "{ba:#}");
    assert_ne!(ba["salt"], bb["salt"], "each repository draws its own salt");
    let entry = &ba["findings"][0];
    let rule = entry["rule"].as_str().unwrap();
    let fp = entry["fingerprint"].as_str().unwrap();
    // Not the old unsalted construction, and not the same across repositories.
    assert_ne!(fp, sha256_hex(format!("{rule}\0{weak}").as_bytes()));
    assert_ne!(entry["fingerprint"], bb["findings"][0]["fingerprint"]);
    // Exactly the published construction with this repository's salt (what a reader can verify).
    let identity = leakgate::report::fingerprint(rule, weak.as_bytes());
    assert_eq!(fp, leakgate::report::seal(&identity, salt.as_bytes()));

    // Stable: re-created and re-run, the same salt and fingerprints; reports carry them too, so
    // the baseline suppresses the secret when it shows up again and SARIF tracking holds.
    a.leakgate(&["baseline", "create"]).code(0);
    assert_eq!(baseline_of(&a), ba);
    a.stage("copy.env", format!("DB_PASSWORD={weak}\n"));
    let v = a.check_json(0);
    assert_eq!(v["suppressed"]["baseline"], 1, "{v:#}");
    let run = a.leakgate(&["check-staged", "--format", "json", "--no-baseline"]);
    run.code(1);
    assert_eq!(run.json()["findings"][0]["fingerprint"], fp);
}

#[test]
fn version_1_baseline_is_refused_naming_the_way_out() {
    let r = TestRepo::new();
    r.stage("db.env", "DB_PASSWORD=Summer2024!x\n");
    r.commit("legacy");
    let old = format!(
        "{{\"version\": 1, \"findings\": [{{\"rule\": \"generic-secret-line\", \"fingerprint\": \"{}\"}}]}}\n",
        sha256_hex(b"generic-secret-line\0Summer2024!x")
    );
    r.write(".leakgate-baseline.json", &old);
    r.stage("a.txt", "nothing here\n");
    let run = r.leakgate(&["check-staged"]);
    assert_fails_closed(&run, &["version 1", "leakgate baseline create"]);
    // --no-baseline asks to ignore it: the run goes on.
    r.leakgate(&["check-staged", "--no-baseline"]).code(0);
    // The named way out works and writes the salted format.
    r.leakgate(&["baseline", "create"]).code(0);
    assert_eq!(baseline_of(&r)["version"], 2);
    r.leakgate(&["check-staged"]).code(0);
}

/// Jupyter saves each flushed write as its own stream output: a token printed in two flushes
/// is whole only as the notebook shows it. And an output's own metadata is scanned.
#[test]
fn token_printed_in_two_flushes_and_output_metadata_are_found() {
    let r = TestRepo::new();
    let (head, tail) = HF_A.split_at(12);
    let nb = serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{
            "cell_type": "code", "id": "a1", "metadata": {}, "execution_count": 1,
            "source": ["login()\n"],
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["starting\n", "token: ", head]},
                {"output_type": "stream", "name": "stdout", "text": [format!("{tail}\n")]},
                {"output_type": "stream", "name": "stderr", "text": ["warning\n"]},
                {"output_type": "display_data", "data": {"text/plain": ["<Figure>"]},
                 "metadata": {"hub": {"token": HF_B}}},
            ],
        }],
    });
    r.stage("train.ipynb", serde_json::to_string_pretty(&nb).unwrap());
    let v = r.check_json(1);
    let got: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} cell {} output {} {} line {} col {}",
                f["rule"], f["cell"], f["output"], f["part"], f["cell_line"], f["column"]
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            // Starts in output 1, on the second displayed line, after "token: ".
            r#""huggingface-token" cell 1 output 1 "output" line 2 col 8"#,
            r#""huggingface-token" cell 1 output 4 "metadata" line 1 col 8"#,
        ],
        "{v:#}"
    );
    // `line` is the raw .ipynb line where the secret starts (the first flush's JSON string).
    let raw = std::fs::read_to_string(r.dir.join("train.ipynb")).unwrap();
    let want = raw.lines().position(|l| l.contains(head)).unwrap() + 1;
    assert_eq!(v["findings"][0]["line"], want, "{v:#}");
}

fn fixture_notebook(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("notebooks/{name}"))).unwrap()
}

/// A real re-run (nbclient, fresh kernel) prints a new timing line next to the old token: the
/// output is new text, its token is not. Only the "secrets the previous version already had"
/// step keeps it quiet, so this fails when that step goes.
#[test]
fn rerun_with_a_changed_timing_line_does_not_report_the_old_token() {
    let (first, rerun) = (
        fixture_notebook("timed_login.ipynb"),
        fixture_notebook("timed_login_rerun.ipynb"),
    );
    // The fixtures are what the test needs: same token, different timing line.
    let timing = |nb: &[u8]| -> String {
        String::from_utf8_lossy(nb)
            .lines()
            .find(|l| l.contains("login took"))
            .unwrap()
            .to_string()
    };
    assert_ne!(timing(&first), timing(&rerun));
    let token_line = |nb: &[u8]| -> String {
        String::from_utf8_lossy(nb)
            .lines()
            .find(|l| l.contains("Login successful, token hf_"))
            .unwrap()
            .to_string()
    };
    assert_eq!(token_line(&first), token_line(&rerun));

    let r = TestRepo::new();
    r.stage("login.ipynb", &first);
    // The token is found when it is new…
    assert_eq!(
        finding_field(&r.check_json(1), "rule"),
        ["huggingface-token"]
    );
    r.commit("first run");
    // …and not again after the re-run.
    r.stage("login.ipynb", &rerun);
    r.check_json(0);
}

/// What the README promises for notebook positions: `line` is the raw .ipynb line, `cell_line`
/// the line within the cell's source or output as Jupyter shows it, and `column` counts
/// characters within that `cell_line` (the raw JSON line is escaped text).
#[test]
fn notebook_column_counts_within_the_cell_line() {
    let r = TestRepo::new();
    r.stage("nb.ipynb", fixture_notebook("login_output.ipynb"));
    let v = r.check_json(1);
    let find = |cell: u64, part: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["cell"] == cell && f["part"] == part)
            .unwrap_or_else(|| panic!("cell {cell} {part}\n{v:#}"))
            .clone()
    };
    // Source: `os.environ["HF_TOKEN"] = "hf_…` — the token is character 27 of cell line 4.
    let source = find(2, "source");
    assert_eq!(
        (&source["cell_line"], &source["column"], &source["line"]),
        (&4.into(), &27.into(), &32.into()),
        "{source:#}"
    );
    // Stream output: `Token: hf_…` — character 8 of the output's line 5; in the raw file the
    // line starts `    "Token: ` (JSON-quoted), where the token would be column 13.
    let output = find(3, "output");
    assert_eq!(
        (&output["cell_line"], &output["column"], &output["line"]),
        (&5.into(), &8.into(), &50.into()),
        "{output:#}"
    );
    let raw = String::from_utf8(fixture_notebook("login_output.ipynb")).unwrap();
    let raw_line = raw.lines().nth(49).unwrap();
    assert!(raw_line.find("hf_").unwrap() + 1 != 8, "{raw_line}");
}

/// Rules look at a few lines around the added ones; what they find there was not added, so it
/// is neither a finding nor a suppression the summary counts.
#[test]
fn allow_listed_secret_on_an_unchanged_nearby_line_is_not_counted() {
    let r = TestRepo::new();
    r.stage(".leakgate.toml", "[allow]\nregexes = [\"^hf_gZ8\"]\n");
    r.stage("a.py", format!("x = 1\nHF = \"{HF_B}\"\ny = 2\n"));
    r.commit("allowed token");
    r.stage("a.py", format!("x = 1\nHF = \"{HF_B}\"\ny = 2\nz = 3\n"));
    let v = r.check_json(0);
    assert_eq!(v["suppressed"]["allowlist"], 0, "{v:#}");
    r.stage(
        "a.py",
        format!("x = 1\nHF = \"{HF_B}\"\ny = 2\nH2 = \"{HF_B}\"\n"),
    );
    let v = r.check_json(0);
    assert_eq!(v["suppressed"]["allowlist"], 1, "{v:#}");
}

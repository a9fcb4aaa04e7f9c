//! `leakgate allow`: accepting one current finding by the fingerprint the report printed.

use crate::harness::{TestRepo, HF_A, HF_B, HF_C};

const BASELINE: &str = ".leakgate-baseline.json";

/// The short fingerprints the human report printed, in report order.
fn printed_fingerprints(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split("  fingerprint ").nth(1))
        .map(|fp| fp.trim().to_string())
        .collect()
}

fn baseline_of(r: &TestRepo) -> serde_json::Value {
    let text = std::fs::read_to_string(r.dir.join(BASELINE)).expect("a baseline was written");
    serde_json::from_str(&text).expect("the baseline is JSON")
}

#[test]
fn allow_takes_the_printed_fingerprint_and_only_that_finding_passes() {
    let r = TestRepo::new();
    r.stage("fixture.py", format!("TOKEN = \"{HF_A}\"\n"));
    let blocked = r.leakgate(&["check-staged"]);
    blocked.code(1);
    let printed = printed_fingerprints(&blocked.stderr);
    assert_eq!(printed.len(), 1, "{}", blocked.dump());
    let short = &printed[0];
    assert_eq!(short.len(), 12, "{}", blocked.dump());
    assert!(short.bytes().all(|c| c.is_ascii_hexdigit()));

    let reason = "revoked test fixture";
    r.leakgate(&["allow", short, "--reason", reason])
        .code(0)
        .stderr_has("allowed")
        .output_lacks(HF_A);
    // No baseline existed: it is created with a fresh salt, and the finding recorded under it
    // (not under the shared salt the report used).
    let b = baseline_of(&r);
    let entries = b["findings"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{b:#}");
    assert_eq!(entries[0]["reason"], reason, "{b:#}");
    assert!(!entries[0]["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with(short.as_str()));
    assert!(!serde_json::to_string(&b).unwrap().contains(HF_A));
    r.leakgate(&["check-staged"]).code(0);

    // A different token still blocks; allowed by its full fingerprint, under the same salt.
    r.stage("other.py", format!("TOKEN = \"{HF_B}\"\n"));
    let run = r.leakgate(&["check-staged", "--format", "json"]);
    run.code(1);
    let v = run.json();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["findings"][0]["path"], "other.py", "{v:#}");
    let full = v["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    r.leakgate(&["allow", &full, "--reason", "sandbox key"])
        .code(0);
    let b2 = baseline_of(&r);
    assert_eq!(b2["salt"], b["salt"], "the salt is kept once made");
    assert_eq!(b2["findings"].as_array().unwrap().len(), 2, "{b2:#}");
    r.leakgate(&["check-staged"]).code(0);

    // Reasons survive `baseline create` and `prune` while their finding is still found.
    r.commit("fixtures");
    r.leakgate(&["baseline", "create"]).code(0);
    r.leakgate(&["baseline", "prune"]).code(0);
    let b3 = baseline_of(&r);
    let reasons: Vec<&str> = b3["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(reasons.len(), 2, "{b3:#}");
    assert!(reasons.contains(&reason), "{b3:#}");
}

#[test]
fn allow_refuses_a_fingerprint_that_is_not_a_current_finding() {
    let r = TestRepo::new();
    r.stage("a.py", format!("TOKEN = \"{HF_C}\"\n"));
    // Unknown: a well-formed fingerprint no staged finding has. Nothing is written.
    let run = r.leakgate(&["allow", "0000deadbeef", "--reason", "x"]);
    run.code(2).stderr_has("no finding");
    assert!(!r.dir.join(BASELINE).exists());
    // A finding that is committed, not staged, is not a current finding of the staged scan.
    r.commit("a");
    r.stage("b.txt", "nothing here\n");
    let committed = r.leakgate(&["check-range", "HEAD"]);
    committed.code(1);
    let fp = printed_fingerprints(&committed.stderr)[0].clone();
    r.leakgate(&["allow", &fp, "--reason", "x"])
        .code(2)
        .stderr_has("no finding");
    // Not hex, and no reason: refused before anything is scanned.
    r.leakgate(&["allow", "not-a-fp", "--reason", "x"]).code(2);
    r.leakgate(&["allow", &fp, "--reason", "  "]).code(2);
    assert!(!r.dir.join(BASELINE).exists());
    // --no-baseline would let an unreadable baseline be overwritten: refused.
    std::fs::write(r.dir.join(BASELINE), "{ not json").unwrap();
    r.stage("c.py", format!("TOKEN = \"{HF_A}\"\n"));
    let staged = r.leakgate(&["check-staged", "--no-baseline"]);
    staged.code(1);
    let fp = printed_fingerprints(&staged.stderr)[0].clone();
    r.leakgate(&["allow", &fp, "--reason", "x", "--no-baseline"])
        .code(2)
        .stderr_has("--no-baseline");
    r.leakgate(&["allow", &fp, "--reason", "x"])
        .code(2)
        .stderr_has("invalid baseline");
    assert_eq!(
        std::fs::read_to_string(r.dir.join(BASELINE)).unwrap(),
        "{ not json"
    );
}

/// Seventeen different secrets have seventeen different fingerprints, so at least two share
/// their first hex digit: that digit is ambiguous and must name why, not pick one.
#[test]
fn allow_refuses_an_ambiguous_prefix() {
    let r = TestRepo::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut text = String::new();
    for i in 0..17 {
        let token: String = (0..34)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(seed >> 33) as usize % alphabet.len()] as char
            })
            .collect();
        text.push_str(&format!("T{i} = \"hf_{token}\"\n"));
    }
    r.stage("many.py", text);
    let run = r.leakgate(&["check-staged", "--format", "json"]);
    run.code(1);
    let fps: Vec<String> = run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fps.len(), 17, "{}", run.dump());
    let shared = fps
        .iter()
        .map(|f| &f[..1])
        .find(|d| fps.iter().filter(|f| f.starts_with(d)).count() > 1)
        .expect("pigeonhole");
    r.leakgate(&["allow", shared, "--reason", "x"])
        .code(2)
        .stderr_has("ambiguous");
    assert!(!r.dir.join(BASELINE).exists());
}

/// A minimal nbformat 4 notebook whose only secret is in a stream output of cell 1.
fn output_only_notebook(token: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "cells": [{
            "cell_type": "code",
            "execution_count": 1,
            "id": "c0ffee01",
            "metadata": {},
            "outputs": [{
                "name": "stdout",
                "output_type": "stream",
                "text": [format!("logged in with {token}\n")]
            }],
            "source": ["login()\n"]
        }],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5
    }))
    .unwrap()
        + "\n"
}

/// Issue 17: the advice for a secret in a notebook output suggested `leakgate:allow`, which an
/// output cannot carry. It now says to clear the output, or to accept it with `leakgate allow`.
#[test]
fn notebook_output_advice_never_suggests_an_inline_allow() {
    let r = TestRepo::new();
    r.stage("train.ipynb", output_only_notebook(HF_A));
    let run = r.leakgate(&["check-staged"]);
    run.code(1)
        .stderr_has("output 1")
        .stderr_has("Clear the outputs named above")
        .stderr_has("leakgate allow FINGERPRINT --reason")
        .output_lacks("leakgate:allow");
    // And that way out works for it.
    let fp = printed_fingerprints(&run.stderr)[0].clone();
    r.leakgate(&["allow", &fp, "--reason", "revoked demo token"])
        .code(0);
    r.leakgate(&["check-staged"]).code(0);
    // A secret on a source line still gets the inline comment offered.
    r.stage("a.py", format!("T = \"{HF_B}\"\n"));
    r.leakgate(&["check-staged"])
        .code(1)
        .stderr_has("Put `leakgate:allow` on that line");
}

/// Issue 17: findings already committed (`check-range`, or `check-staged PATH` on a file with no
/// staged change, as `pre-commit run --all-files` does) got "unstage the file" advice, which
/// does nothing for a secret in history.
#[test]
fn committed_findings_get_history_advice_not_unstage_advice() {
    let r = TestRepo::new();
    r.stage("old.py", format!("T = \"{HF_A}\"\n"));
    r.commit("old");
    r.leakgate(&["check-range", "HEAD"])
        .code(1)
        .stderr_has("rewrite those commits")
        .output_lacks("git restore --staged");
    let all_files = r.leakgate(&["check-staged", "old.py"]);
    all_files
        .code(1)
        .stderr_has("already committed as it is")
        .stderr_has("git log -S")
        .output_lacks("git restore --staged");
    // Named and staged: the staged advice comes back, beside the history advice.
    r.stage("new.py", format!("T = \"{HF_B}\"\n"));
    r.leakgate(&["check-staged", "old.py", "new.py"])
        .code(1)
        .stderr_has("git restore --staged")
        .stderr_has("already committed as it is");
    r.leakgate(&["check-staged", "new.py"])
        .code(1)
        .stderr_has("git restore --staged")
        .output_lacks("already committed");
    // `allow` with the path accepts the committed finding, as the advice says.
    let fp = printed_fingerprints(&all_files.stderr)[0].clone();
    r.leakgate(&["allow", &fp, "--reason", "fixture", "old.py"])
        .code(0);
    r.leakgate(&["check-staged", "old.py"]).code(0);
}

//! Promises of `src/run.rs` (the commands and how their results are folded into one report)
//! that cargo-mutants showed no test pinned (issue 18), driven through the built binary.
//!
//! Invariant: every count is checked exactly, with numbers chosen so that adding instead of
//! subtracting, multiplying, or dividing gives a different answer (4 found, 3 removed, 1 left).

use crate::harness::*;

/// Three more synthetic Hugging Face tokens (random, never issued), beside the harness's three.
const HF_D: &str = "hf_7z21AjwCTFozxM6qdkV1C3cuCHPZjzGuwv";
const HF_E: &str = "hf_rLSGcNnPlhegQuPZpXiotFKMLM5ox0dkik";
const HF_F: &str = "hf_5uTLFq35NLUPTHy5TBCL7QQ82NhrXEmI2m";

/// Four staged tokens, one per file: the three the suppression under test removes, and HF_A,
/// which stays.
fn four_tokens() -> TestRepo {
    let r = TestRepo::new();
    r.stage("README.md", "x\n");
    r.commit("init");
    for (path, token) in [
        ("d.py", HF_D),
        ("e.py", HF_E),
        ("f.py", HF_F),
        ("main.py", HF_A),
    ] {
        r.stage(path, format!("T = '{token}'\n"));
    }
    r
}

fn suppressed(v: &serde_json::Value, key: &str) -> u64 {
    v["suppressed"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no suppressed.{key} in {v:#}"))
}

/// Each suppression source counts what it removed, under its own name: `.gitleaks.toml`
/// allowlists as "allowlist", `.gitleaksignore` entries and baseline entries as "baseline".
#[test]
fn each_suppression_source_counts_exactly_what_it_removed() {
    let r = four_tokens();
    r.write(
        ".gitleaks.toml",
        "[allowlist]\nregexes = ['''^hf_7z21''', '''^hf_rLSG''', '''^hf_5uTL''']\n",
    );
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["main.py"], "{v:#}");
    assert_eq!(suppressed(&v, "allowlist"), 3, "{v:#}");
    assert_eq!(suppressed(&v, "baseline"), 0, "{v:#}");
    std::fs::remove_file(r.dir.join(".gitleaks.toml")).unwrap();

    r.write(
        ".gitleaksignore",
        "d.py:huggingface-token:1\ne.py:huggingface-token:1\nf.py:huggingface-token:1\n",
    );
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["main.py"], "{v:#}");
    assert_eq!(suppressed(&v, "baseline"), 3, "{v:#}");
    assert_eq!(suppressed(&v, "allowlist"), 0, "{v:#}");
    std::fs::remove_file(r.dir.join(".gitleaksignore")).unwrap();

    // The baseline: three findings accepted one by one with `leakgate allow` (the first one
    // writes the baseline with a fresh salt, so fingerprints are read anew each time).
    for _ in 0..3 {
        let v = r.check_json(1);
        let all = v["findings"].as_array().unwrap();
        let f = all.iter().find(|f| f["path"] != "main.py").unwrap();
        let fp = f["fingerprint"].as_str().unwrap();
        r.leakgate(&["allow", fp, "--reason", "test fixture"])
            .code(0);
    }
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["main.py"], "{v:#}");
    assert_eq!(suppressed(&v, "baseline"), 3, "{v:#}");
    // --no-baseline: nothing is taken out, nothing counted.
    let run = r.leakgate(&["check-staged", "--format", "json", "--no-baseline"]);
    let v = run.code(1).json();
    assert_eq!(v["findings"].as_array().unwrap().len(), 4, "{v:#}");
    assert_eq!(suppressed(&v, "baseline"), 0, "{v:#}");

    // Allowing a finding again replaces its reason: still one entry per finding.
    let all = v["findings"].as_array().unwrap();
    let f = all.iter().find(|f| f["path"] == "d.py").unwrap();
    let fp = f["fingerprint"].as_str().unwrap();
    r.leakgate(&["allow", fp, "--reason", "second look"])
        .code(0);
    let text = std::fs::read_to_string(r.dir.join(".leakgate-baseline.json")).unwrap();
    let baseline: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reasons: Vec<&str> = baseline["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    let mut sorted = reasons.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["second look", "test fixture", "test fixture"],
        "{text}"
    );
}

/// Inline allow comments, `[allow] paths` and allow patterns are counted per file and summed
/// over files; the scanned files, lines and bytes are summed too.
#[test]
fn suppressions_and_scanned_totals_are_summed_over_files() {
    let r = TestRepo::new();
    r.write(
        ".leakgate.toml",
        "[allow]\npaths = ['vendor/**']\nregexes = ['^hf_5uTL']\n",
    );
    r.stage(
        "a.py",
        format!("A = '{HF_A}'  # leakgate:allow\nD = '{HF_D}'  # leakgate:allow\n"),
    );
    r.stage("b.py", format!("E = '{HF_E}'  # leakgate:allow\nok = 1\n"));
    r.stage("c.py", format!("F = '{HF_F}'\nB = '{HF_B}'\n"));
    r.stage("vendor/x.py", format!("C = '{HF_C}'\n"));
    r.stage("vendor/y.py", "y = 2\n");
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["c.py"], "{v:#}");
    assert_eq!(suppressed(&v, "inline"), 3, "{v:#}");
    assert_eq!(suppressed(&v, "allowlist"), 1, "{v:#}");
    assert_eq!(suppressed(&v, "paths"), 2, "{v:#}");
    // .leakgate.toml is written, not staged: three files scanned, six lines.
    let scanned = &v["scanned"];
    let bytes: usize = ["a.py", "b.py", "c.py"]
        .iter()
        .map(|p| std::fs::metadata(r.dir.join(p)).unwrap().len() as usize)
        .sum();
    assert_eq!(scanned["files"], 3, "{v:#}");
    assert_eq!(scanned["lines"], 6, "{v:#}");
    assert_eq!(scanned["bytes"].as_u64().unwrap() as usize, bytes, "{v:#}");
    // No limit was hit, nothing was skipped: no note.
    assert_eq!(v["notes"], serde_json::json!([]), "{v:#}");
}

/// A JSON report that cannot be written (stdout on a full disk) is an error, exit 2 naming
/// what failed: the verdict is in the exit status, but a CI step reading that report would
/// otherwise read nothing and see no finding. A reader that closes the pipe early (`| head`)
/// chose to stop reading: the exit status stays the verdict.
#[test]
fn unwritable_json_report_is_an_error_but_a_closed_pipe_is_not() {
    let r = TestRepo::new();
    r.stage("a.py", format!("T = '{HF_A}'\n"));
    let mut c = r.command(BIN, &r.dir);
    c.args(["check-staged", "--format", "json"]).stdout(
        std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    );
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the report"), "{stderr}");

    // The read end is closed before leakgate has opened the repository, so its first write
    // meets a closed pipe (EPIPE; Rust ignores SIGPIPE).
    let mut c = r.command(BIN, &r.dir);
    c.args(["check-staged", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// `pre-push`: a remote tip this clone has hides what it reaches (a token the remote already
/// holds is not re-reported); a remote tip this clone lacks (someone else pushed) falls back
/// to the remote-tracking refs instead of failing on an unknown commit.
#[test]
fn pre_push_hides_the_known_remote_tip_and_falls_back_to_remote_refs_for_an_unknown_one() {
    let r = TestRepo::new();
    r.stage("k.py", format!("K = '{HF_A}'\n"));
    r.commit("token the remote already has");
    let pushed = r.head();
    r.stage("a.py", "a = 1\n");
    r.commit("clean");
    let local = r.head();
    let push = |remote_sha: &str| {
        let input = r.tmp().join("stdin");
        std::fs::write(
            &input,
            format!("refs/heads/main {local} refs/heads/main {remote_sha}\n"),
        )
        .unwrap();
        let mut c = r.command(BIN, &r.dir);
        c.args(["pre-push", "origin", "url", "--format", "json"])
            .stdin(std::fs::File::open(&input).unwrap());
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // No remote-tracking refs at all: only the remote's tip says what it has.
    let (code, out) = push(&pushed);
    assert_eq!(code, Some(0), "{out}");
    // A tip fetched by nobody here; origin/main says the remote has the token's commit.
    r.git(&["update-ref", "refs/remotes/origin/main", &pushed]);
    let (code, out) = push(&"7".repeat(40));
    assert_eq!(code, Some(0), "{out}");
    // Without that ref the token's commit is to be pushed too, and it is reported.
    r.git(&["update-ref", "-d", "refs/remotes/origin/main"]);
    let (code, out) = push(&"7".repeat(40));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&pushed), "{out}");
}

/// A commit to push that this repository does not have is an error naming it; the advice to
/// fetch the full history is given in a shallow clone only, not in a complete one.
#[test]
fn pre_push_of_a_missing_commit_blames_shallowness_only_in_a_shallow_clone() {
    let r = TestRepo::new();
    r.stage("a.py", "a = 1\n");
    r.commit("c0");
    let missing = "7".repeat(40);
    let input = r.tmp().join("stdin");
    std::fs::write(
        &input,
        format!("refs/heads/main {missing} refs/heads/main {}\n", r.head()),
    )
    .unwrap();
    let mut c = r.command(BIN, &r.dir);
    c.args(["pre-push", "origin", "url"])
        .stdin(std::fs::File::open(&input).unwrap());
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the commit to push, {missing}, is not in this repository"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("shallow"), "{stderr}");
}

/// On a terminal, a history of 20 commits (the smallest that gets a bar) shows frames whose
/// filled cells are the finished commits' share of the bar's 30 (rounded down), counts that
/// never go back (commits finish on several threads), and always the last frame, full; the
/// bar's line is ended before the report.
#[test]
fn progress_bar_frames_are_proportional_and_the_last_is_full() {
    let r = TestRepo::new();
    r.stage("f.txt", "0\n");
    r.commit("c0");
    let first = r.head();
    for i in 1..=20 {
        r.stage("f.txt", format!("{i}\n"));
        r.commit(&format!("c{i}"));
    }
    let cmd = format!("{BIN} check-range {first}..HEAD");
    let mut c = r.command("script", &r.dir);
    c.args(["-qec", &cmd, "/dev/null"]);
    let out = c
        .output()
        .expect("util-linux `script` provides the pseudo-terminal");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    let mut counts = Vec::new();
    for frame in shown.split("\rleakgate: [").skip(1) {
        let (bar, rest) = frame.split_once("] ").expect("a frame's bar is closed");
        let done: usize = rest.split('/').next().unwrap().parse().unwrap();
        assert!(rest.starts_with(&format!("{done}/20 commits")), "{frame:?}");
        assert_eq!(bar.len(), 30, "{frame:?}");
        assert_eq!(bar.matches('#').count(), done * 30 / 20, "{frame:?}");
        assert!(
            bar.trim_start_matches('#').chars().all(|c| c == ' '),
            "{frame:?}"
        );
        counts.push(done);
    }
    // The first finished commit is always drawn, before the last.
    assert!(counts.len() >= 2 && counts[0] < 20, "{counts:?}");
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let last_frame = format!("\rleakgate: [{}] 20/20 commits\r\n", "#".repeat(30));
    assert!(shown.contains(&last_frame), "{shown:?}");
}

/// `check-staged PATH…`: a named path that is scanned, or skipped for a reason of its own (too
/// large), is not also listed as "not in the index"; only the path git does not track is.
#[test]
fn check_staged_lists_only_untracked_named_paths_as_not_in_the_index() {
    let r = TestRepo::new();
    r.stage("a.py", format!("T = '{HF_A}'\n"));
    r.stage("big.txt", "x".repeat(200));
    let run = r.leakgate(&[
        "check-staged",
        "--format",
        "json",
        "--max-blob-size",
        "100",
        "a.py",
        "big.txt",
        "typo.py",
    ]);
    let v = run.code(1).json();
    assert_eq!(finding_field(&v, "path"), ["a.py"], "{v:#}");
    let skipped: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let reason = s["reason"].as_str().unwrap();
            let kind = if reason.contains("not in the index") {
                "untracked"
            } else if reason.contains("too large") {
                "too large"
            } else {
                reason
            };
            (s["path"].as_str().unwrap().to_string(), kind.to_string())
        })
        .collect();
    assert_eq!(
        skipped,
        [
            ("big.txt".to_string(), "too large".to_string()),
            ("typo.py".to_string(), "untracked".to_string())
        ],
        "{v:#}"
    );
}

/// A staged gitlink (a submodule moved) is listed by the submodule scan, and its removal from
/// the skipped list takes only that path: a file skipped for its own reason beside it is still
/// listed.
#[test]
fn a_file_skipped_beside_a_staged_gitlink_is_still_listed() {
    let r = TestRepo::new();
    r.stage("README.md", "x\n");
    r.commit("init");
    let head = r.head();
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},sub"),
    ]);
    r.stage("big.txt", "x".repeat(200));
    let run = r.leakgate(&["check-staged", "--format", "json", "--max-blob-size", "100"]);
    let v = run.code(0).json();
    let paths: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    // The gitlink once, as the submodule scan lists it (no local repository here).
    assert_eq!(paths, ["big.txt", "sub"], "{}", run.dump());
}

/// `scan` honours every place git (and ripgrep's `.ignore`) says a file is ignored — the
/// repository's `.git/info/exclude`, the user's global excludes file, `.ignore`, and a
/// `.gitignore` above the scanned directory — and `--no-ignore` turns each of them off.
#[test]
fn scan_honours_every_ignore_source_and_no_ignore_turns_each_off() {
    let r = TestRepo::new();
    std::fs::create_dir_all(r.dir.join(".git/info")).unwrap();
    std::fs::write(r.dir.join(".git/info/exclude"), "excluded.py\n").unwrap();
    let global = r.tmp().join("home/.config/git");
    std::fs::create_dir_all(&global).unwrap();
    std::fs::write(global.join("ignore"), "global.py\n").unwrap();
    r.write(".ignore", "dotignored.py\n");
    r.write(".gitignore", "parent.py\n");
    let tokens = [HF_A, HF_B, HF_C, HF_D];
    for (name, token) in ["excluded.py", "global.py", "dotignored.py", "parent.py"]
        .iter()
        .zip(tokens)
    {
        r.write(&format!("src/{name}"), format!("T = '{token}'\n"));
    }
    r.write("src/kept.py", format!("T = '{HF_E}'\n"));
    let paths = |args: &[&str]| {
        let run = r.leakgate(args);
        let mut p = finding_field(&run.code(1).json(), "path");
        p.sort();
        p
    };
    // From the root, and from the directory below the .gitignore that names `parent.py`.
    assert_eq!(paths(&["scan", "--format", "json"]), ["src/kept.py"]);
    assert_eq!(paths(&["scan", "src", "--format", "json"]), ["src/kept.py"]);
    let all = paths(&["scan", "src", "--no-ignore", "--format", "json"]);
    assert_eq!(
        all,
        [
            "src/dotignored.py",
            "src/excluded.py",
            "src/global.py",
            "src/kept.py",
            "src/parent.py"
        ]
    );
}

/// `allow` takes hex digits only, and at least one: an empty prefix would match every finding
/// (and, with one finding staged, allow it unseen); a word is a mistake to name, not a lookup.
#[test]
fn allow_refuses_an_empty_or_non_hex_fingerprint_before_looking() {
    let r = TestRepo::new();
    r.stage("a.py", format!("T = '{HF_A}'\n"));
    for wanted in ["", "  ", "not-hex"] {
        let run = r.leakgate(&["allow", wanted, "--reason", "looked at it"]);
        assert_fails_closed(&run, &["is not a fingerprint"]);
    }
    assert!(!r.dir.join(".leakgate-baseline.json").exists());
    r.leakgate(&["check-staged"]).code(1);
}

/// `leakgate fix` on a staged notebook whose working-tree copy was deleted: the index is still
/// cleaned, and the missing copy is named as left alone, not an error.
#[test]
fn fix_cleans_the_index_when_the_working_tree_copy_is_gone() {
    let r = TestRepo::new();
    let nb = serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{
            "cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {},
            "source": ["print(token)\n"],
            "outputs": [{"output_type": "stream", "name": "stdout", "text": [format!("{HF_A}\n")]}]
        }]
    });
    r.stage(
        "nb.ipynb",
        serde_json::to_string_pretty(&nb).unwrap() + "\n",
    );
    std::fs::remove_file(r.dir.join("nb.ipynb")).unwrap();
    let run = r.leakgate(&["fix"]);
    run.code(0)
        .stderr_has("nb.ipynb: cleared 1 output in the index")
        .stderr_has("the working-tree copy was left as it is: it does not exist");
    r.leakgate(&["check-staged"]).code(0);
}

//! `check-staged` and the pre-commit hook: exactly what git is about to commit, added lines only.

use crate::harness::*;

#[test]
fn initial_commit_with_a_token_is_blocked_and_located() {
    let r = TestRepo::new();
    r.stage("config.py", format!("import os\n\nHF = \"{HF_A}\"\n"));
    let human = r.leakgate(&["check-staged"]);
    human
        .code(1)
        .stderr_has("config.py:3:7")
        .stderr_has("huggingface-token")
        .stderr_has("hf_4sx…(37 chars)")
        .stderr_has("https://huggingface.co/settings/tokens")
        .stderr_has("git restore --staged")
        .stderr_has("--no-verify")
        .stderr_has("scanned 1 file, 3 lines")
        .output_lacks(HF_A);
    assert!(
        human.stdout.is_empty(),
        "human report goes to stderr\n{}",
        human.dump()
    );

    let v = r.check_json(1);
    assert_eq!(v["version"], 1);
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "huggingface-token");
    assert_eq!(f["path"], "config.py");
    assert_eq!(f["line"], 3);
    assert_eq!(f["column"], 7);
    assert_eq!(f["secret_redacted"], "hf_4sx…(37 chars)");
    assert_eq!(f["fingerprint"].as_str().unwrap().len(), 64);
    assert!(f["title"].as_str().unwrap().contains("Hugging Face"));
    assert!(f["remediation"]
        .as_str()
        .unwrap()
        .contains("huggingface.co/settings/tokens"));
    assert_eq!(v["scanned"]["files"], 1);
    assert_eq!(v["scanned"]["lines"], 3);
    assert!(v["scanned"]["bytes"].as_u64().unwrap() > 40);
    assert!(v["skipped"].as_array().unwrap().is_empty());
}

#[test]
fn clean_staged_change_exits_zero_with_a_coverage_summary() {
    let r = TestRepo::new();
    r.stage("a.py", "print('hello')\n");
    r.leakgate(&["check-staged"])
        .code(0)
        .stderr_has("scanned 1 file, 1 line");
}

#[test]
fn modified_file_reports_only_added_lines() {
    let r = TestRepo::new();
    r.stage("settings.py", format!("A = \"{HF_A}\"\nB = 1\n"));
    r.commit("old secret already in history");
    r.stage(
        "settings.py",
        format!("A = \"{HF_A}\"\nB = 2\nC = \"{HF_B}\"\n"),
    );
    let v = r.check_json(1);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v:#}");
    assert_eq!(findings[0]["line"], 3);
    assert_eq!(
        v["scanned"]["lines"], 2,
        "only the two added lines are scanned"
    );
}

#[test]
fn old_secret_on_an_untouched_line_is_not_reported() {
    let r = TestRepo::new();
    r.stage("settings.py", format!("A = \"{HF_A}\"\nB = 1\n"));
    r.commit("c1");
    r.stage("settings.py", format!("A = \"{HF_A}\"\nB = 2\n"));
    r.check_json(0);
}

#[test]
fn a_line_moved_within_a_file_is_not_new() {
    let r = TestRepo::new();
    r.stage("m.py", format!("A = \"{HF_A}\"\nx = 1\ny = 2\nz = 3\n"));
    r.commit("c1");
    r.stage("m.py", format!("x = 1\ny = 2\nz = 3\n    A = \"{HF_A}\"\n"));
    r.check_json(0);
}

#[test]
fn git_commit_a_with_its_temporary_index_is_blocked() {
    let r = TestRepo::new();
    r.stage("app.py", "x = 1\n");
    r.commit("c1");
    r.install_hook();
    let before = r.head();
    // Only in the working tree: `git commit -a` stages it into a temporary index (GIT_INDEX_FILE).
    r.write("app.py", format!("x = 1\nTOKEN = '{HF_A}'\n"));
    let commit = r.try_git(&["commit", "-a", "-m", "leak"]);
    assert_ne!(
        commit.code,
        0,
        "commit -a must be refused\n{}",
        commit.dump()
    );
    assert!(
        commit.stderr.contains("huggingface-token"),
        "{}",
        commit.dump()
    );
    assert!(!commit.stderr.contains(HF_A), "{}", commit.dump());
    assert_eq!(r.head(), before, "HEAD must not move");
}

#[test]
fn git_commit_dash_dash_path_is_blocked() {
    let r = TestRepo::new();
    r.stage("app.py", "x = 1\n");
    r.stage("other.py", "y = 1\n");
    r.commit("c1");
    r.install_hook();
    let before = r.head();
    r.write("app.py", format!("x = 1\nTOKEN = '{HF_A}'\n"));
    let commit = r.try_git(&["commit", "-m", "leak", "--", "app.py"]);
    assert_ne!(commit.code, 0, "{}", commit.dump());
    assert!(commit.stderr.contains("app.py:2"), "{}", commit.dump());
    assert_eq!(r.head(), before);
}

#[test]
fn hook_blocks_a_token_and_accepts_a_clean_commit() {
    let r = TestRepo::new();
    r.install_hook();
    r.stage("leak.py", format!("t = '{HF_A}'\n"));
    let blocked = r.try_git(&["commit", "-m", "leak"]);
    assert_ne!(blocked.code, 0, "{}", blocked.dump());
    assert!(blocked.stderr.contains("leak.py:1"), "{}", blocked.dump());
    assert!(
        r.try_git(&["rev-parse", "--verify", "HEAD"]).code != 0,
        "no commit was made"
    );

    r.git(&["rm", "-q", "--cached", "leak.py"]);
    r.stage("ok.py", "print('fine')\n");
    let ok = r.try_git(&["commit", "-m", "clean"]);
    assert_eq!(ok.code, 0, "{}", ok.dump());
    assert!(ok.stderr.contains("0 findings"), "{}", ok.dump());
    assert_eq!(r.try_git(&["rev-parse", "--verify", "HEAD"]).code, 0);
}

#[test]
fn partial_staging_scans_the_index_not_the_working_tree() {
    let r = TestRepo::new();
    let base: String = (1..=20).map(|i| format!("line{i}\n")).collect();
    r.stage("p.py", &base);
    r.commit("c1");
    // Two separate changes; stage only the first (what `git add -p` does) via a cached patch.
    let staged_version = base.replacen("line2\n", &format!("line2\nA = '{HF_A}'\n"), 1);
    let full = staged_version.replacen("line19\n", &format!("line19\nB = '{HF_B}'\n"), 1);
    r.write("p.py", &staged_version);
    let patch = r.git(&["diff", "--", "p.py"]).stdout;
    r.write("p.patch", patch);
    r.git(&["apply", "--cached", "p.patch"]);
    std::fs::remove_file(r.dir.join("p.patch")).unwrap();
    r.write("p.py", &full);
    let v = r.check_json(1);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v:#}");
    assert_eq!(findings[0]["line"], 3);
    assert_eq!(findings[0]["secret_redacted"], "hf_4sx…(37 chars)");
}

#[test]
fn secret_only_in_the_working_tree_is_not_reported() {
    let r = TestRepo::new();
    r.stage("w.py", "x = 1\n");
    r.commit("c1");
    r.write("w.py", format!("x = 1\nT = '{HF_A}'\n"));
    r.check_json(0);
}

#[test]
fn secret_staged_then_deleted_from_the_working_tree_is_reported() {
    let r = TestRepo::new();
    r.stage("gone.py", format!("T = '{HF_A}'\n"));
    std::fs::remove_file(r.dir.join("gone.py")).unwrap();
    assert_eq!(r.check_json(1)["findings"][0]["path"], "gone.py");
}

#[test]
fn rename_reports_only_new_lines() {
    let r = TestRepo::new();
    let body: String = (1..=10).map(|i| format!("v{i} = {i}\n")).collect();
    r.stage("old_name.py", format!("K = '{HF_A}'\n{body}"));
    r.commit("c1");
    r.git(&["mv", "old_name.py", "new_name.py"]);
    r.check_json(0);
    r.stage("new_name.py", format!("K = '{HF_A}'\n{body}N = '{HF_B}'\n"));
    let v = r.check_json(1);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v:#}");
    assert_eq!(findings[0]["path"], "new_name.py");
    assert_eq!(findings[0]["line"], 12);
}

#[test]
fn deleted_files_and_deleted_lines_report_nothing() {
    let r = TestRepo::new();
    r.stage("a.py", format!("K = '{HF_A}'\nx = 1\n"));
    r.stage("b.py", format!("K = '{HF_B}'\n"));
    r.commit("c1");
    r.stage("a.py", "x = 1\n");
    r.git(&["rm", "-q", "b.py"]);
    r.check_json(0);
}

#[test]
fn binary_blobs_are_skipped_and_listed_with_verbose() {
    let r = TestRepo::new();
    let mut blob = b"\x89PNG\r\n\x1a\n\0\0\0".to_vec();
    blob.extend_from_slice(HF_A.as_bytes());
    r.stage("img.png", &blob);
    let v = r.check_json(0);
    assert_eq!(v["skipped"][0]["path"], "img.png");
    assert_eq!(v["skipped"][0]["reason"], "binary");
    r.leakgate(&["check-staged", "--verbose"])
        .code(0)
        .stderr_has("skipped: img.png (binary)")
        .stderr_has("skipped 1 binary");
}

#[test]
fn invalid_utf8_is_scanned_as_bytes() {
    let r = TestRepo::new();
    let mut content = b"caf\xe9 = 1\n\xff\xfe garbage ".to_vec();
    content.extend_from_slice(format!("tok={HF_A}\n").as_bytes());
    r.stage("latin1.txt", &content);
    let v = r.check_json(1);
    assert_eq!(v["findings"][0]["line"], 2);
}

#[test]
fn works_from_a_subdirectory() {
    let r = TestRepo::new();
    r.stage("deep/er/x.py", format!("T = '{HF_A}'\n"));
    let sub = r.dir.join("deep/er");
    let run = r.leakgate_in(&sub, &["check-staged", "--format", "json"]);
    run.code(1);
    assert_eq!(run.json()["findings"][0]["path"], "deep/er/x.py");
}

#[test]
fn works_in_a_linked_worktree() {
    let r = TestRepo::new();
    r.stage("a.py", "x = 1\n");
    r.commit("c1");
    let wt = r.tmp().join("wt");
    r.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature",
        wt.to_str().unwrap(),
    ]);
    r.write("../wt/b.py", format!("T = '{HF_A}'\n"));
    r.git_in(&wt, &["add", "b.py"]);
    let run = r.leakgate_in(&wt, &["check-staged", "--format", "json"]);
    run.code(1);
    assert_eq!(run.json()["findings"][0]["path"], "b.py");
    // The main worktree's index is separate and clean.
    r.check_json(0);
    // And the hook, installed once in the common hooks directory, guards the worktree too.
    r.install_hook();
    let c = r.try_git_in(&wt, &["commit", "-m", "leak"]);
    assert_ne!(c.code, 0, "{}", c.dump());
}

#[test]
fn outside_a_repository_is_an_error_that_blocks() {
    let r = TestRepo::new();
    let outside = r.tmp().join("home");
    r.leakgate_env(
        &outside,
        &["check-staged"],
        &[("GIT_CEILING_DIRECTORIES", r.tmp().to_str().unwrap())],
    )
    .code(2)
    .stderr_has("cannot open a git repository");
}

#[test]
fn empty_repository_is_clean_and_says_it_scanned_nothing() {
    let r = TestRepo::new();
    r.leakgate(&["check-staged"])
        .code(0)
        .stderr_has("scanned 0 files");
}

#[test]
fn concluding_a_merge_reports_only_what_the_merge_itself_adds() {
    let r = TestRepo::new();
    r.stage("shared.py", "a = 1\n");
    r.commit("base");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.stage("feature.py", format!("K = '{HF_A}'\n"));
    r.stage("shared.py", "a = 2\n");
    r.commit("feature brings a secret of its own");
    r.git(&["checkout", "-q", "main"]);
    r.stage("shared.py", "a = 3\n");
    r.commit("conflicting change");
    assert_ne!(
        r.try_git(&["merge", "-q", "feature"]).code,
        0,
        "the merge must conflict"
    );
    // Resolving the conflict adds a new secret; the feature branch's own secret is history.
    r.stage("shared.py", format!("a = 4\nT = '{HF_B}'\n"));
    let v = r.check_json(1);
    let paths = finding_field(&v, "path");
    assert_eq!(paths, vec!["shared.py"], "{v:#}");
}

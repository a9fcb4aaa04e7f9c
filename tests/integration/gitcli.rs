//! Repositories libgit2 cannot open (SHA-256 object ids, the reftable ref store), read through
//! git's plumbing, and shallow clones, whose history ends at a boundary leakgate must not
//! mistake for a root commit.
//!
//! Every repository is made by the real git: `git init --object-format=sha256` /
//! `--ref-format=reftable`, and real shallow clones with `git clone --depth 1 file://…`. A git
//! too old for a format skips that format's test with a printed reason (CI's git has both).

use std::path::PathBuf;

use crate::harness::*;

/// The repository formats libgit2 refuses, as `git init` options.
const FORMATS: &[(&str, &str)] = &[
    ("sha256", "--object-format=sha256"),
    ("reftable", "--ref-format=reftable"),
];

/// A TestRepo re-initialised with `init_opt`, or None (with the reason printed) when this git
/// cannot make such a repository.
fn repo_in_format(name: &str, init_opt: &str) -> Option<TestRepo> {
    let r = TestRepo::new();
    std::fs::remove_dir_all(r.dir.join(".git")).unwrap();
    let made = r.try_git(&["init", "-q", init_opt]);
    if made.code != 0 {
        eprintln!(
            "SKIPPED for {name}: this git cannot `git init {init_opt}`: {}",
            made.stderr.trim()
        );
        return None;
    }
    // The format is really in force (not silently ignored by git).
    let config = std::fs::read_to_string(r.dir.join(".git/config")).unwrap();
    let key = if name == "sha256" {
        "objectformat = sha256"
    } else {
        "refstorage = reftable"
    };
    assert!(config.contains(key), "{name}: {config}");
    Some(r)
}

fn each_format(test: impl Fn(&str, &TestRepo)) {
    for (name, opt) in FORMATS {
        if let Some(r) = repo_in_format(name, opt) {
            test(name, &r);
        }
    }
}

fn lines_of(report: &serde_json::Value) -> Vec<(String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn sha256_and_reftable_first_commit_with_a_token_is_blocked_and_clean_commits_pass() {
    each_format(|name, r| {
        // Unborn HEAD: everything staged is new.
        r.stage("clean.py", "x = 1\n");
        let report = r.check_json(0);
        assert_eq!(report["scanned"]["files"], 1, "{name}: {report:#}");
        r.stage("src/leak.py", format!("TOKEN = '{HF_A}'\n"));
        let report = r.check_json(1);
        assert_eq!(
            lines_of(&report),
            vec![("src/leak.py".to_string(), 1)],
            "{name}"
        );
        assert_eq!(report["scanned"]["files"], 2, "{name}: {report:#}");
        r.git(&["rm", "-q", "--cached", "src/leak.py"]);
        r.commit("first");
        // A later commit is diffed against HEAD: the unchanged file is not scanned again.
        r.stage("more.py", "y = 2\n");
        let report = r.check_json(0);
        assert_eq!(report["scanned"]["files"], 1, "{name}: {report:#}");
    });
}

#[test]
fn sha256_and_reftable_installed_hook_blocks_git_commit_and_commit_a() {
    each_format(|name, r| {
        r.install_hook();
        r.stage("app.py", "x = 1\n");
        let ok = r.try_git(&["commit", "-q", "-m", "clean"]);
        assert_eq!(ok.code, 0, "{name}\n{}", ok.dump());
        let head = r.head();
        // `git commit -a` hands the hook a temporary index (GIT_INDEX_FILE): the token is only
        // there, not in .git/index.
        r.write("app.py", format!("x = 1\nTOKEN = '{HF_B}'\n"));
        let blocked = r.try_git(&["commit", "-q", "-a", "-m", "leak"]);
        assert_ne!(blocked.code, 0, "{name}\n{}", blocked.dump());
        assert!(
            blocked.stderr.contains("app.py:2:"),
            "{name}\n{}",
            blocked.dump()
        );
        assert_eq!(r.head(), head, "{name}: nothing committed");
        // `git commit -- path` also uses a temporary index.
        let blocked = r.try_git(&["commit", "-q", "-m", "leak", "--", "app.py"]);
        assert_ne!(blocked.code, 0, "{name}\n{}", blocked.dump());
        assert_eq!(r.head(), head, "{name}: nothing committed");
        r.write("app.py", "x = 1\ny = 2\n");
        let ok = r.try_git(&["commit", "-q", "-a", "-m", "clean again"]);
        assert_eq!(ok.code, 0, "{name}\n{}", ok.dump());
    });
}

#[test]
fn sha256_and_reftable_rename_reports_only_the_new_lines() {
    each_format(|name, r| {
        let body: String = (0..20).map(|i| format!("line_{i} = {i}\n")).collect();
        r.stage("old.py", format!("{body}OLD = '{HF_A}'\n"));
        r.commit("with an old token");
        r.git(&["mv", "old.py", "new.py"]);
        r.stage("new.py", format!("{body}OLD = '{HF_A}'\nNEW = '{HF_C}'\n"));
        let report = r.check_json(1);
        assert_eq!(
            lines_of(&report),
            vec![("new.py".to_string(), 22)],
            "{name}: {report:#}"
        );
        // The same rename, committed, read back as history.
        r.commit("renamed");
        let run = r.leakgate(&["check-range", "HEAD~1..HEAD", "--format", "json"]);
        run.code(1);
        assert_eq!(
            lines_of(&run.json()),
            vec![("new.py".to_string(), 22)],
            "{name}"
        );
    });
}

#[test]
fn sha256_and_reftable_partially_staged_large_file_is_scanned_as_staged() {
    each_format(|name, r| {
        // Large enough (>= 32 KiB) that the working-tree copy is tried, hashed with this
        // repository's hash function, and must be refused when it differs from the blob.
        let filler: String = (0..2000).map(|i| format!("value_{i} = {i}\n")).collect();
        // Same length as the token, so only the hash tells the two versions apart.
        let other = "x".repeat(HF_A.len());
        r.stage("big.py", format!("{filler}TOKEN = '{HF_A}'\n"));
        r.write("big.py", format!("{filler}TOKEN = '{other}'\n"));
        let report = r.check_json(1);
        assert_eq!(
            lines_of(&report),
            vec![("big.py".to_string(), 2001)],
            "{name}"
        );
        r.stage("big.py", format!("{filler}TOKEN = '{other}'\n"));
        r.write("big.py", format!("{filler}TOKEN = '{HF_A}'\n"));
        r.check_json(0);
        // The same bytes in the working tree as staged: read from there, same verdict.
        r.stage("big.py", format!("{filler}TOKEN = '{HF_B}'\n"));
        let report = r.check_json(1);
        assert_eq!(
            lines_of(&report),
            vec![("big.py".to_string(), 2001)],
            "{name}"
        );
    });
}

#[test]
fn sha256_and_reftable_notebook_output_token_is_found_in_its_cell() {
    each_format(|name, r| {
        let nb = serde_json::json!({
            "nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": 1,
                "source": ["print(token)\n"],
                "outputs": [{"output_type": "stream", "name": "stdout",
                    "text": [format!("{HF_A}\n")]}]}]
        });
        r.stage("nb.ipynb", serde_json::to_vec_pretty(&nb).unwrap());
        let report = r.check_json(1);
        let f = &report["findings"][0];
        assert_eq!(f["path"], "nb.ipynb", "{name}: {report:#}");
        assert_eq!(f["cell"], 1, "{name}: {report:#}");
    });
}

#[test]
fn sha256_and_reftable_check_range_names_the_commit_of_the_token() {
    each_format(|name, r| {
        r.stage("a.py", "a = 1\n");
        r.commit("c1");
        let c1 = r.head();
        r.stage("b.py", format!("K = '{HF_A}'\n"));
        r.commit("c2 leak");
        let c2 = r.head();
        r.stage("b.py", "K = os.environ['K']\n");
        r.commit("c3 fixed");
        let expect_len = if name == "sha256" { 64 } else { 40 };
        assert_eq!(c2.len(), expect_len, "{name}");
        for range in [format!("{c1}..HEAD"), "HEAD~2..HEAD".to_string()] {
            let run = r.leakgate(&["check-range", &range, "--format", "json"]);
            run.code(1);
            let report = run.json();
            assert_eq!(report["findings"].as_array().unwrap().len(), 1, "{name}");
            assert_eq!(report["findings"][0]["commit"], c2.as_str(), "{name}");
        }
        // A merge brings the token in again: it is reported once, at the commit that added it.
        r.git(&["checkout", "-q", "-b", "side", &c1]);
        r.stage("s.py", format!("S = '{HF_B}'\n"));
        r.commit("side leak");
        let side = r.head();
        r.git(&["checkout", "-q", "main"]);
        r.git(&[
            "merge",
            "-q",
            "--no-ff",
            "--no-verify",
            "-m",
            "merge",
            "side",
        ]);
        let run = r.leakgate(&["check-range", &format!("{c1}..HEAD"), "--format", "json"]);
        run.code(1);
        let commits = finding_field(&run.json(), "commit");
        let mut want = vec![c2.clone(), side];
        want.sort();
        let mut got = commits.clone();
        got.sort();
        assert_eq!(got, want, "{name}");
        // The root commit alone, as a single revision.
        r.leakgate(&["check-range", &c1]).code(0);
        // A range git cannot resolve is an error, not "0 commits".
        let run = r.leakgate(&["check-range", "nosuch..HEAD"]);
        assert_fails_closed(&run, &["nosuch"]);
    });
}

#[test]
fn sha256_and_reftable_pre_push_through_git_push_blocks_the_token_commit() {
    each_format(|name, r| {
        let opt = FORMATS.iter().find(|(n, _)| *n == name).unwrap().1;
        let bare = r.tmp().join("remote.git");
        r.git_in(
            r.tmp(),
            &["init", "-q", "--bare", opt, bare.to_str().unwrap()],
        );
        r.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
        r.leakgate(&["install", "--hook", "pre-push"]).code(0);
        r.stage("a.py", "a = 1\n");
        r.commit("c0");
        let push = r.try_git(&["push", "-q", "origin", "main"]);
        assert_eq!(push.code, 0, "{name}\n{}", push.dump());
        r.stage("k.py", format!("K = '{HF_A}'\n"));
        r.commit("leak");
        let bad = r.head();
        r.stage("c.py", "c = 1\n");
        r.commit("clean");
        let push = r.try_git(&["push", "origin", "main"]);
        assert_ne!(push.code, 0, "{name}\n{}", push.dump());
        assert!(push.stderr.contains(&bad[..12]), "{name}\n{}", push.dump());
        // A new branch is scanned from what the remote-tracking refs hold.
        r.git(&["checkout", "-q", "-b", "topic", "origin/main"]);
        r.stage("t.py", "t = 1\n");
        r.commit("topic");
        let push = r.try_git(&["push", "origin", "topic"]);
        assert_eq!(push.code, 0, "{name}\n{}", push.dump());
        assert!(
            push.stderr.contains("1 commit to push"),
            "{name}\n{}",
            push.dump()
        );
    });
}

#[test]
fn sha256_and_reftable_install_honours_core_hooks_path_from_a_subdirectory() {
    each_format(|name, r| {
        r.git(&["config", "core.hooksPath", "team-hooks"]);
        std::fs::create_dir_all(r.dir.join("sub")).unwrap();
        r.leakgate_in(&r.dir.join("sub"), &["install"]).code(0);
        assert!(r.dir.join("team-hooks/pre-commit").is_file(), "{name}");
        r.stage("k.py", format!("K = '{HF_A}'\n"));
        let blocked = r.try_git(&["commit", "-q", "-m", "leak"]);
        assert_ne!(blocked.code, 0, "{name}\n{}", blocked.dump());
        assert!(
            blocked.stderr.contains("huggingface"),
            "{name}\n{}",
            blocked.dump()
        );
    });
}

#[test]
fn sha256_pre_push_mode_reads_64_digit_protocol_lines_and_framework_refs() {
    let Some(r) = repo_in_format("sha256", "--object-format=sha256") else {
        return;
    };
    r.stage("a.py", "a = 1\n");
    r.commit("c0");
    let c0 = r.head();
    r.stage("k.py", format!("K = '{HF_A}'\n"));
    r.commit("leak");
    let bad = r.head();
    let zeros = "0".repeat(64);
    let input = r.tmp().join("stdin");
    for (stdin, want) in [
        (format!("refs/heads/main {bad} refs/heads/main {c0}\n"), 1),
        (format!("refs/heads/main {bad} refs/heads/main {bad}\n"), 0),
        (
            format!("refs/heads/main {bad} refs/heads/main {zeros}\n"),
            1,
        ),
        (format!("(delete) {zeros} refs/heads/old {bad}\n"), 0),
    ] {
        std::fs::write(&input, &stdin).unwrap();
        let mut c = r.command(BIN, &r.dir);
        c.args(["pre-push", "origin", "url", "--format", "json"])
            .stdin(std::fs::File::open(&input).unwrap());
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(want),
            "{stdin}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if want == 1 {
            let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(v["findings"][0]["commit"], bad.as_str(), "{stdin}");
        }
    }
    // The pre-commit framework's refs instead of git's lines.
    for (from, want) in [(Some("HEAD~1"), 1), (Some("HEAD"), 0), (None, 1)] {
        let mut env = vec![("PRE_COMMIT", "1"), ("PRE_COMMIT_TO_REF", "HEAD")];
        if let Some(from) = from {
            env.push(("PRE_COMMIT_FROM_REF", from));
        }
        r.leakgate_env(&r.dir, &["pre-push", "origin", "url"], &env)
            .code(want);
    }
}

#[test]
fn sha256_and_reftable_bare_mirror_check_range_finds_the_token() {
    each_format(|name, r| {
        r.stage("a.py", "a = 1\n");
        r.commit("c1");
        r.stage("k.py", format!("K = '{HF_A}'\n"));
        r.commit("leak");
        let bad = r.head();
        let mirror = r.tmp().join("mirror.git");
        r.git_in(
            r.tmp(),
            &[
                "clone",
                "-q",
                "--bare",
                r.dir.to_str().unwrap(),
                mirror.to_str().unwrap(),
            ],
        );
        let run = r.leakgate_in(
            &mirror,
            &["check-range", "HEAD~1..HEAD", "--format", "json"],
        );
        run.code(1);
        assert_eq!(run.json()["findings"][0]["commit"], bad.as_str(), "{name}");
    });
}

#[test]
fn sha256_and_reftable_concluding_a_merge_does_not_report_what_the_merged_branch_had() {
    each_format(|name, r| {
        r.install_hook();
        r.stage("a.py", "a = 1\n");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "side"]);
        r.stage("s.py", format!("S = '{HF_A}'\n"));
        r.commit("side leak, pushed past the hook");
        r.git(&["checkout", "-q", "main"]);
        r.stage("m.py", "m = 1\n");
        r.commit("main work");
        r.git(&["merge", "-q", "--no-ff", "--no-commit", "side"]);
        // The merged token was checked (or let through) on its own branch.
        r.check_json(0);
        // A token the merge itself adds is still new.
        r.stage("m.py", format!("m = 1\nM = '{HF_B}'\n"));
        let report = r.check_json(1);
        assert_eq!(lines_of(&report), vec![("m.py".to_string(), 2)], "{name}");
        r.stage("m.py", "m = 1\n");
        let done = r.try_git(&["commit", "-q", "--no-edit"]);
        assert_eq!(done.code, 0, "{name}\n{}", done.dump());
    });
}

#[test]
fn sha256_index_file_named_but_missing_is_an_error_not_nothing_staged() {
    let Some(r) = repo_in_format("sha256", "--object-format=sha256") else {
        return;
    };
    r.stage("k.py", format!("K = '{HF_A}'\n"));
    let run = r.leakgate_env(
        &r.dir,
        &["check-staged"],
        &[("GIT_INDEX_FILE", ".git/no-such-index")],
    );
    assert_fails_closed(&run, &["GIT_INDEX_FILE", "no-such-index"]);
}

#[test]
fn sha256_baseline_create_and_check_staged_paths_read_through_the_plumbing() {
    let Some(r) = repo_in_format("sha256", "--object-format=sha256") else {
        return;
    };
    r.stage("old.py", format!("K = '{HF_A}'\n"));
    r.stage("dir/other.py", "x = 1\n");
    r.commit("old token");
    // A named path with no staged change is scanned whole from the index.
    let run = r.leakgate(&["check-staged", "--format", "json", "old.py"]);
    run.code(1);
    assert_eq!(lines_of(&run.json()), vec![("old.py".to_string(), 1)]);
    r.leakgate(&["check-staged", "dir"]).code(0);
    r.leakgate(&["baseline", "create"]).code(0);
    let baseline = std::fs::read_to_string(r.dir.join(".leakgate-baseline.json")).unwrap();
    assert!(baseline.contains("huggingface"), "{baseline}");
}

#[test]
fn sha256_and_reftable_without_git_on_path_fail_closed_naming_git() {
    each_format(|name, r| {
        r.stage("k.py", format!("K = '{HF_A}'\n"));
        let empty = r.tmp().join("empty-bin");
        std::fs::create_dir_all(&empty).unwrap();
        let run = r.leakgate_env(
            &r.dir,
            &["check-staged"],
            &[("PATH", empty.to_str().unwrap())],
        );
        assert_fails_closed(&run, &["needs git itself", "is git installed"]);
        let _ = name;
    });
}

#[test]
fn sha256_plumbing_that_dies_or_talks_nonsense_fails_closed() {
    let Some(r) = repo_in_format("sha256", "--object-format=sha256") else {
        return;
    };
    r.stage("k.py", format!("K = '{HF_A}'\n"));
    let real_git = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    let real_git = String::from_utf8(real_git.stdout)
        .unwrap()
        .trim()
        .to_string();
    let bin = r.tmp().join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cases = [
        ("cat-file dies", "cat-file", "exit 3", "git cat-file"),
        (
            "cat-file answers nonsense",
            "cat-file",
            "cat >/dev/null & echo hello",
            "git cat-file",
        ),
        ("diff-index dies", "diff-index", "exit 1", "diff-index"),
        (
            "diff-index prints nonsense",
            "diff-index",
            "printf 'not raw output'",
            "diff-index",
        ),
    ];
    for (name, sub, body, want) in cases {
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = {sub} ]; then {body}; exit 0; fi\nexec '{real_git}' \"$@\"\n"
        );
        let git = bin.join("git");
        std::fs::write(&git, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let run = r.leakgate_env(&r.dir, &["check-staged"], &[("PATH", &path)]);
        run.code(2);
        assert!(
            run.stderr.contains(want) && !run.stderr.contains("0 findings"),
            "{name}\n{}",
            run.dump()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// shallow clones

/// A source repository (main: two commits; feature: a token commit, then a clean one) and a
/// `--depth 1` clone of every branch, made through `file://` so git really cuts the history.
struct Shallow {
    r: TestRepo,
    clone: PathBuf,
    leak: String,
}

fn shallow() -> Shallow {
    let r = TestRepo::new();
    r.stage("a.py", "a = 1\n");
    r.commit("A");
    r.stage("a.py", "a = 2\n");
    r.commit("B");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.stage("t.py", format!("K = '{HF_A}'\n"));
    r.commit("C leak");
    let leak = r.head();
    r.stage("d.py", "d = 1\n");
    r.commit("D");
    r.git(&["checkout", "-q", "main"]);
    let clone = r.tmp().join("clone");
    let url = format!("file://{}", r.dir.display());
    r.git_in(
        r.tmp(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            &url,
            clone.to_str().unwrap(),
        ],
    );
    assert!(clone.join(".git/shallow").is_file(), "a real shallow clone");
    Shallow { r, clone, leak }
}

fn fails_closed_naming_the_fix(run: &Run) {
    assert_fails_closed(run, &["shallow", "fetch-depth: 0", "git fetch --unshallow"]);
}

#[test]
fn shallow_clone_check_range_across_the_boundary_fails_closed_naming_the_fix() {
    let s = shallow();
    let r = &s.r;
    // origin/feature's tip is a boundary commit: its diff against the cut parent is unknown
    // (diffing it against nothing would claim its whole tree is new, or miss what C added).
    let run = r.leakgate_in(&s.clone, &["check-range", "origin/main..origin/feature"]);
    fails_closed_naming_the_fix(&run);
    // A base git cannot reach in this clone.
    let run = r.leakgate_in(&s.clone, &["check-range", "HEAD~1..HEAD"]);
    fails_closed_naming_the_fix(&run);
    // The single boundary commit on its own is no better.
    let run = r.leakgate_in(&s.clone, &["check-range", "origin/feature"]);
    fails_closed_naming_the_fix(&run);
    // Commits made on top of the clone have their parents: that range is exact.
    r.git_in(&s.clone, &["checkout", "-q", "feature"]);
    std::fs::write(s.clone.join("n.py"), format!("N = '{HF_B}'\n")).unwrap();
    r.git_in(&s.clone, &["add", "n.py"]);
    r.git_in(&s.clone, &["commit", "-q", "--no-verify", "-m", "new"]);
    let run = r.leakgate_in(
        &s.clone,
        &["check-range", "origin/feature..HEAD", "--format", "json"],
    );
    run.code(1);
    assert_eq!(lines_of(&run.json()), vec![("n.py".to_string(), 1)]);
    // After fetching the full history the boundary range is scanned and finds the old token.
    r.git_in(&s.clone, &["fetch", "-q", "--unshallow"]);
    let run = r.leakgate_in(
        &s.clone,
        &[
            "check-range",
            "origin/main..origin/feature",
            "--format",
            "json",
        ],
    );
    run.code(1);
    assert_eq!(run.json()["findings"][0]["commit"], s.leak.as_str());
}

#[test]
fn shallow_clone_pre_push_through_git_push_fails_closed_when_the_range_is_cut() {
    let s = shallow();
    let r = &s.r;
    r.leakgate_in(&s.clone, &["install", "--hook", "pre-push"])
        .code(0);
    r.git_in(&s.clone, &["checkout", "-q", "feature"]);
    // A remote this clone knows nothing about: everything reachable would be pushed, down to
    // the boundary commit, whose content cannot be attributed.
    let mirror = r.tmp().join("mirror.git");
    r.git_in(r.tmp(), &["init", "-q", "--bare", mirror.to_str().unwrap()]);
    r.git_in(
        &s.clone,
        &["remote", "add", "mirror", mirror.to_str().unwrap()],
    );
    let push = r.try_git_in(&s.clone, &["push", "mirror", "feature"]);
    assert_ne!(push.code, 0, "{}", push.dump());
    assert!(
        push.stderr.contains("fetch-depth: 0") && push.stderr.contains("--unshallow"),
        "{}",
        push.dump()
    );
    // Pushing a new branch to origin: the clone's remote-tracking refs hold the boundary, so
    // only the new commit is pushed, and its token is found.
    r.git_in(&s.clone, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(s.clone.join("n.py"), format!("N = '{HF_B}'\n")).unwrap();
    r.git_in(&s.clone, &["add", "n.py"]);
    r.git_in(&s.clone, &["commit", "-q", "--no-verify", "-m", "new"]);
    let new = r.try_git_in(&s.clone, &["rev-parse", "HEAD"]).stdout;
    let push = r.try_git_in(&s.clone, &["push", "origin", "topic"]);
    assert_ne!(push.code, 0, "{}", push.dump());
    assert!(push.stderr.contains(&new[..12]), "{}", push.dump());
    assert!(push.stderr.contains("1 commit to push"), "{}", push.dump());
}

#[test]
fn shallow_clone_pre_push_mode_and_framework_refs_fail_closed_when_the_range_is_cut() {
    let s = shallow();
    let r = &s.r;
    let tip = |rev: &str| {
        r.git_in(&s.clone, &["rev-parse", rev])
            .stdout
            .trim()
            .to_string()
    };
    let feature = tip("origin/feature");
    let main = tip("origin/main");
    let zeros = "0".repeat(40);
    let missing = "1234567890".repeat(4);
    let cases = [
        // git's lines: the remote has main, feature is pushed there (through the boundary).
        (
            "remote tip present",
            format!("refs/heads/x {feature} refs/heads/main {main}\n"),
            "nosuch",
        ),
        // A new branch to a remote with no tracking refs here: the walk reaches the boundary.
        (
            "new branch",
            format!("refs/heads/x {feature} refs/heads/x {zeros}\n"),
            "nosuch",
        ),
        // The remote's tip is not in this clone, nor are refs for that remote.
        (
            "remote tip missing",
            format!("refs/heads/x {feature} refs/heads/x {missing}\n"),
            "nosuch",
        ),
    ];
    for (name, stdin, remote) in cases {
        let input = r.tmp().join("stdin");
        std::fs::write(&input, &stdin).unwrap();
        let mut c = r.command(BIN, &s.clone);
        c.args(["pre-push", remote, "url"])
            .stdin(std::fs::File::open(&input).unwrap());
        let out = c.output().unwrap();
        let run = Run {
            cmd: format!("leakgate pre-push ({name})"),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        fails_closed_naming_the_fix(&run);
    }
    // The pre-commit framework's variables, with the same cut range.
    let run = r.leakgate_env(
        &s.clone,
        &["pre-push", "origin", "url"],
        &[
            ("PRE_COMMIT", "1"),
            ("PRE_COMMIT_FROM_REF", "origin/main"),
            ("PRE_COMMIT_TO_REF", "origin/feature"),
        ],
    );
    fails_closed_naming_the_fix(&run);
    // A from-ref this clone does not have.
    let run = r.leakgate_env(
        &s.clone,
        &["pre-push", "origin", "url"],
        &[
            ("PRE_COMMIT", "1"),
            ("PRE_COMMIT_FROM_REF", "origin/main~3"),
            ("PRE_COMMIT_TO_REF", "origin/feature"),
        ],
    );
    fails_closed_naming_the_fix(&run);
    // A pushed commit that is not in the repository at all.
    let input = r.tmp().join("stdin");
    std::fs::write(
        &input,
        format!("refs/heads/x {missing} refs/heads/x {zeros}\n"),
    )
    .unwrap();
    let mut c = r.command(BIN, &s.clone);
    c.args(["pre-push", "origin", "url"])
        .stdin(std::fs::File::open(&input).unwrap());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in this repository"));
}

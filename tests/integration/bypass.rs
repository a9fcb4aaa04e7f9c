//! Content git records without leakgate's usual path seeing it: commits `git am` makes (only
//! `pre-applypatch` runs), rebase stops (no commit hook at all: the pre-push hook catches them),
//! symlinks through the pre-commit framework, Git LFS objects, submodule commits, and files
//! renamed past git's similarity threshold.
//!
//! The LFS tests drive the real `git lfs` (installed by .ci/run); the framework test the real
//! `pre-commit` (tests/run.sh).

use crate::harness::*;
use crate::workflows::{
    add_bare_remote, commit_file, has, hook_repo_snapshot, lacks, refused, remote_sha, succeeded,
    write_config, Framework,
};

// ---------------------------------------------------------------------------------------------
// commits made without a pre-commit hook

/// `git am` runs `pre-applypatch`, never `pre-commit`: a plain `leakgate install` guards both.
#[test]
fn git_am_of_a_patch_adding_a_token_is_refused() {
    let r = TestRepo::new();
    commit_file(&r, "README.md", "hello\n", "base");
    r.install_hook();
    r.git(&["checkout", "-q", "-b", "topic"]);
    commit_file(&r, "cfg.py", &format!("HF = \"{HF_A}\"\n"), "leak");
    let patches = r.tmp().join("patches");
    r.git(&["format-patch", "-q", "-1", "-o", patches.to_str().unwrap()]);
    r.git(&["checkout", "-q", "main"]);
    let base = r.head();
    let patch = std::fs::read_dir(&patches)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let am = r.try_git(&["am", patch.to_str().unwrap()]);
    refused(&am);
    has(&am, "huggingface-token");
    has(&am, "cfg.py");
    assert_eq!(r.head(), base, "no commit was made");
    r.git(&["am", "--abort"]);
    assert!(r.dir.join(".git/hooks/pre-applypatch").is_file());

    // A clean patch still applies through the same hook.
    r.git(&["checkout", "-q", "-b", "clean-topic", "main"]);
    commit_file(&r, "ok.py", "x = 1\n", "clean");
    let ok = r.tmp().join("ok");
    r.git(&["format-patch", "-q", "-1", "-o", ok.to_str().unwrap()]);
    r.git(&["checkout", "-q", "main"]);
    let p = std::fs::read_dir(&ok)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    succeeded(&r.try_git(&["am", p.to_str().unwrap()]));
    assert!(r.dir.join("ok.py").is_file());

    // Uninstall removes the pre-applypatch shim too.
    r.leakgate(&["uninstall"]).code(0);
    assert!(!r.dir.join(".git/hooks/pre-applypatch").exists());
}

/// A rebase that stops on a conflict concludes with `git rebase --continue`, which runs no
/// commit hook: the resolution's token is committed. The pre-push hook is what refuses it (the
/// README's "What leakgate cannot see" says so); this test pins both facts.
#[test]
fn rebase_continue_after_a_conflict_runs_no_commit_hook_and_pre_push_catches_it() {
    let r = TestRepo::new();
    commit_file(&r, "settings.py", "TOKEN = None\n", "base");
    add_bare_remote(&r);
    r.git(&["push", "-q", "origin", "main"]);
    r.leakgate(&["install", "--hook", "both"]).code(0);
    r.git(&["checkout", "-q", "-b", "topic"]);
    commit_file(&r, "settings.py", "TOKEN = 'from-topic'\n", "topic change");
    r.git(&["checkout", "-q", "main"]);
    commit_file(&r, "settings.py", "TOKEN = 'from-main'\n", "main change");
    r.git(&["push", "-q", "origin", "main"]);
    r.git(&["checkout", "-q", "topic"]);
    let stop = r.try_git(&["rebase", "main"]);
    assert_ne!(
        stop.code,
        0,
        "the rebase must stop on the conflict\n{}",
        stop.dump()
    );
    r.write("settings.py", format!("TOKEN = \"{HF_B}\"\n"));
    r.git(&["add", "settings.py"]);
    let mut c = r.command("git", &r.dir);
    c.args(["rebase", "--continue"]).env("GIT_EDITOR", "true");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "git ran no commit hook, so the commit went through: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let leaked = r.head();
    let push = r.try_git(&["push", "origin", "topic"]);
    refused(&push);
    has(&push, "huggingface-token");
    has(&push, &leaked[..12]);
    assert_eq!(remote_sha(&r, "topic"), None, "nothing reached the remote");
}

// ---------------------------------------------------------------------------------------------
// the pre-commit framework and symlinks

/// The framework tags a symlink `symlink`, not `file`: with `types: [file]` the hook never saw
/// the token a symlink's target path carries, while the installed hook blocks the same commit.
#[test]
fn pre_commit_framework_passes_symlinks_to_leakgate() {
    let r = TestRepo::new();
    let fw = Framework::new(&r, true);
    let (hook_repo, sha) = hook_repo_snapshot(&r);
    write_config(&r, &hook_repo, &sha, &["leakgate-system"]);
    let install = fw.run(&r, &["install"]);
    assert_eq!(install.code, 0, "{}", install.dump());
    std::os::unix::fs::symlink(format!("cache/{HF_C}"), r.dir.join("latest")).unwrap();
    r.git(&["add", "latest"]);
    let commit = fw.git(&r, &["commit", "-m", "link"]);
    refused(&commit);
    has(&commit, "huggingface-token");
    has(&commit, "latest");
    lacks(&commit, "(no files to check)");
}

// ---------------------------------------------------------------------------------------------
// Git LFS

/// A repository with git-lfs enabled (its filters in the local config) tracking `patterns`.
fn lfs_repo(patterns: &[&str]) -> TestRepo {
    let r = TestRepo::new();
    let lfs = r.try_git(&["lfs", "install", "--local"]);
    assert_eq!(
        lfs.code,
        0,
        "these tests drive the real git-lfs (.ci/run installs it: apt-get install git-lfs)\n{}",
        lfs.dump()
    );
    for p in patterns {
        r.git(&["lfs", "track", p]);
    }
    r.git(&["add", ".gitattributes"]);
    r.commit("lfs tracking");
    r
}

/// The staged blob really is a pointer: otherwise the test proves nothing about LFS.
#[track_caller]
fn assert_staged_as_pointer(r: &TestRepo, rel: &str) {
    let blob = r.git(&["cat-file", "-p", &format!(":{rel}")]).stdout;
    assert!(
        blob.starts_with("version https://git-lfs.github.com/spec/v1\n"),
        "{rel} is not staged as an LFS pointer:\n{blob}"
    );
}

/// The object file of the staged pointer of `rel` in the default store.
fn lfs_object(r: &TestRepo, rel: &str) -> std::path::PathBuf {
    let blob = r.git(&["cat-file", "-p", &format!(":{rel}")]).stdout;
    let oid = blob
        .lines()
        .find_map(|l| l.strip_prefix("oid sha256:"))
        .expect("an oid line")
        .to_string();
    r.dir
        .join(".git/lfs/objects")
        .join(&oid[..2])
        .join(&oid[2..4])
        .join(oid)
}

#[test]
fn lfs_tracked_jsonl_with_a_token_is_blocked_at_its_path() {
    let r = lfs_repo(&["*.jsonl"]);
    r.stage(
        "data/train.jsonl",
        format!("{{\"text\": \"hello\"}}\n{{\"text\": \"HF_TOKEN={HF_A}\"}}\n"),
    );
    assert_staged_as_pointer(&r, "data/train.jsonl");
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "rule"), ["huggingface-token"], "{v:#}");
    assert_eq!(finding_field(&v, "path"), ["data/train.jsonl"], "{v:#}");
    assert_eq!(v["findings"][0]["line"], 2, "{v:#}");
}

/// git-lfs keeps objects below `lfs.storage` (relative to the git dir) when it is set.
#[test]
fn lfs_storage_setting_is_honoured() {
    let r = lfs_repo(&["*.jsonl"]);
    r.git(&["config", "lfs.storage", "elsewhere"]);
    r.stage("t.jsonl", format!("{{\"k\": \"{HF_B}\"}}\n"));
    assert_staged_as_pointer(&r, "t.jsonl");
    assert!(r.dir.join(".git/elsewhere/objects").is_dir());
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["t.jsonl"], "{v:#}");
}

#[test]
fn lfs_tracked_notebook_with_a_token_in_an_output_is_blocked() {
    let r = lfs_repo(&["*.ipynb"]);
    let nb = serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{
            "cell_type": "code", "id": "c1", "metadata": {}, "execution_count": 1,
            "source": ["import os\n", "print(os.environ['HF_TOKEN'])\n"],
            "outputs": [{"output_type": "stream", "name": "stdout", "text": [format!("{HF_C}\n")]}]
        }]
    });
    r.stage("explore.ipynb", serde_json::to_vec_pretty(&nb).unwrap());
    assert_staged_as_pointer(&r, "explore.ipynb");
    let v = r.check_json(1);
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "huggingface-token", "{v:#}");
    assert_eq!(f["path"], "explore.ipynb", "{v:#}");
    assert_eq!(f["part"], "output", "the notebook path read it: {v:#}");
}

/// pickle bytes whose loading calls os.system, made by python3's own pickle module.
fn malicious_pickle(r: &TestRepo) -> Vec<u8> {
    let script = "import os, pickle, sys\n\
                  class Run:\n    def __reduce__(self):\n        return (os.system, ('true',))\n\
                  sys.stdout.buffer.write(pickle.dumps({'weights': [1.0, 2.0], 'hook': Run()}, protocol=2))\n";
    let mut c = r.command("python3", &r.dir);
    c.args(["-c", script]);
    let out = c.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn lfs_tracked_pickle_that_runs_os_system_is_blocked_by_the_model_check() {
    let r = lfs_repo(&["*.pkl", "*.bin"]);
    r.stage("model/classifier.pkl", malicious_pickle(&r));
    assert_staged_as_pointer(&r, "model/classifier.pkl");
    let v = r.check_json(1);
    assert_eq!(
        finding_field(&v, "rule"),
        ["pickle-dangerous-import"],
        "{v:#}"
    );
    assert_eq!(finding_field(&v, "path"), ["model/classifier.pkl"], "{v:#}");
}

/// A large model file in LFS is where it belongs: the "not in LFS" warning must not fire for
/// its object, and still fires for the same file staged as a plain blob.
#[test]
fn large_model_file_in_lfs_gets_no_not_in_lfs_warning() {
    let r = lfs_repo(&["*.bin"]);
    r.write(".leakgate.toml", "[models]\nlfs_warn_size = 1000\n");
    let weights: Vec<u8> = (0..4096u32).flat_map(|i| i.to_le_bytes()).collect();
    r.stage("weights.bin", &weights);
    assert_staged_as_pointer(&r, "weights.bin");
    let v = r.check_json(0);
    assert!(
        !finding_field(&v, "rule").contains(&"model-not-in-lfs".to_string()),
        "{v:#}"
    );
    // The object was read: the pointer is text, the object binary.
    assert_eq!(v["skipped"][0]["path"], "weights.bin", "{v:#}");
    assert_eq!(v["skipped"][0]["reason"], "binary", "{v:#}");
    r.stage("plain/weights.pt", &weights);
    let v = r.check_json(0);
    assert_eq!(finding_field(&v, "rule"), ["model-not-in-lfs"], "{v:#}");
    assert_eq!(finding_field(&v, "path"), ["plain/weights.pt"], "{v:#}");
}

/// Added-lines semantics hold through LFS: the previous version is HEAD's object, so an old
/// token in an edited file is not reported again, and a new one is.
#[test]
fn lfs_file_edited_elsewhere_does_not_re_report_its_old_token() {
    let r = lfs_repo(&["*.jsonl"]);
    r.stage("log.jsonl", format!("{{\"old\": \"{HF_A}\"}}\n"));
    r.commit("with an old token");
    r.stage(
        "log.jsonl",
        format!("{{\"old\": \"{HF_A}\"}}\n{{\"more\": \"data\"}}\n"),
    );
    assert_staged_as_pointer(&r, "log.jsonl");
    r.check_json(0);
    r.stage(
        "log.jsonl",
        format!("{{\"old\": \"{HF_A}\"}}\n{{\"more\": \"data\"}}\n{{\"new\": \"{HF_B}\"}}\n"),
    );
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["log.jsonl"], "{v:#}");
    assert_eq!(v["findings"][0]["line"], 3, "only the new token: {v:#}");
}

/// No local object (a clone with `GIT_LFS_SKIP_SMUDGE`, a pruned store): nothing can be read,
/// so the file is listed as not scanned, visibly, without --verbose. Exit 0: `git lfs push`
/// cannot upload an object that is not here either, and the listing says how to scan it.
#[test]
fn lfs_pointer_whose_object_is_missing_is_listed_as_not_scanned() {
    let r = lfs_repo(&["*.jsonl"]);
    r.stage("gone.jsonl", format!("{{\"k\": \"{HF_C}\"}}\n"));
    std::fs::remove_file(lfs_object(&r, "gone.jsonl")).unwrap();
    let run = r.leakgate(&["check-staged"]);
    run.code(0);
    run.stderr_has("gone.jsonl was NOT scanned")
        .stderr_has("git lfs fetch")
        .stderr_has("skipped 1 Git LFS object");
    let v = r.check_json(0);
    assert_eq!(v["skipped"][0]["path"], "gone.jsonl", "{v:#}");
}

/// An object that does not hash to its pointer's oid: what would be pushed is unknown, so the
/// commit is blocked (exit 2) with the way out.
#[test]
fn lfs_object_that_fails_verification_blocks() {
    let r = lfs_repo(&["*.jsonl"]);
    r.stage("bad.jsonl", "{\"k\": 1}\n");
    let obj = lfs_object(&r, "bad.jsonl");
    let mut perms = std::fs::metadata(&obj).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&obj, perms).unwrap();
    std::fs::write(&obj, "{\"k\": 2}\n").unwrap();
    let run = r.leakgate(&["check-staged"]);
    assert_fails_closed(
        &run,
        &["bad.jsonl", "does not match its pointer", "git lfs fsck"],
    );
}

#[test]
fn check_range_scans_lfs_objects_of_each_commit() {
    let r = lfs_repo(&["*.jsonl"]);
    let base = r.head();
    r.stage("a.jsonl", "{\"ok\": 1}\n");
    r.commit("clean");
    r.stage("a.jsonl", format!("{{\"ok\": 1}}\n{{\"k\": \"{HF_A}\"}}\n"));
    r.commit("leak");
    let leak = r.head();
    let run = r.leakgate(&["check-range", &format!("{base}..HEAD"), "--format", "json"]);
    run.code(1);
    let v = run.json();
    assert_eq!(finding_field(&v, "path"), ["a.jsonl"], "{v:#}");
    assert_eq!(finding_field(&v, "commit"), [leak], "{v:#}");
    assert_eq!(v["findings"][0]["line"], 2, "{v:#}");
}

// ---------------------------------------------------------------------------------------------
// renames below git's similarity threshold

/// A file moved and grown past git's 50 % similarity is diffed as deleted + added: its
/// untouched old token used to be reported again. The removed file with the most lines in
/// common now stands as its previous version; a new token in it is still reported.
#[test]
fn file_renamed_and_grown_past_the_similarity_threshold_does_not_re_report_its_old_token() {
    let r = TestRepo::new();
    let old = format!("import os\nTOKEN = \"{HF_A}\"\ndef main():\n    return TOKEN\n");
    commit_file(&r, "old_name.py", &old, "with an old token");
    std::fs::remove_file(r.dir.join("old_name.py")).unwrap();
    let grown: String = (0..40)
        .map(|i| format!("def helper_{i}():\n    return {i}\n"))
        .collect();
    r.stage("pkg/new_name.py", format!("{old}{grown}"));
    r.git(&["add", "-A"]);
    let status = r.git(&["diff", "--cached", "-M", "--name-status"]).stdout;
    assert!(
        status.contains("A\tpkg/new_name.py") && status.contains("D\told_name.py"),
        "git must not pair them itself, or this test proves nothing:\n{status}"
    );
    let v = r.check_json(0);
    assert!(finding_field(&v, "rule").is_empty(), "{v:#}");

    r.stage("pkg/new_name.py", format!("{old}{grown}NEW = \"{HF_B}\"\n"));
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["pkg/new_name.py"], "{v:#}");
    assert_eq!(
        v["findings"].as_array().unwrap().len(),
        1,
        "only the new token: {v:#}"
    );

    // The same through check-range once committed.
    r.commit("moved and grown");
    let run = r.leakgate(&["check-range", "HEAD~1..HEAD", "--format", "json"]);
    run.code(1);
    assert_eq!(
        run.json()["findings"].as_array().unwrap().len(),
        1,
        "{}",
        run.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// submodules

/// A superproject with a submodule `lib` cloned from tmp/lib-src (one clean commit), committed.
fn with_submodule() -> TestRepo {
    let r = TestRepo::new();
    let src = r.tmp().join("lib-src");
    r.git_in(r.tmp(), &["init", "-q", src.to_str().unwrap()]);
    std::fs::write(src.join("lib.py"), "def f():\n    return 1\n").unwrap();
    r.git_in(&src, &["add", "lib.py"]);
    r.git_in(&src, &["commit", "-q", "-m", "lib"]);
    commit_file(&r, "README.md", "app\n", "base");
    r.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        src.to_str().unwrap(),
        "lib",
    ]);
    r.commit("add lib");
    r
}

/// A commit inside the checked-out submodule (without its hook), returning its id.
fn commit_in_submodule(r: &TestRepo, rel: &str, content: &str) -> String {
    let sub = r.dir.join("lib");
    std::fs::write(sub.join(rel), content).unwrap();
    r.git_in(&sub, &["add", rel]);
    r.git_in(&sub, &["commit", "-q", "--no-verify", "-m", "sub change"]);
    r.git_in(&sub, &["rev-parse", "HEAD"])
        .stdout
        .trim()
        .to_string()
}

#[test]
fn superproject_staging_a_moved_gitlink_scans_the_submodule_commits_it_brings_in() {
    let r = with_submodule();
    commit_in_submodule(&r, "a.py", "x = 1\n");
    let leak = commit_in_submodule(&r, "settings.py", &format!("HF = \"{HF_A}\"\n"));
    r.git(&["add", "lib"]);
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["lib/settings.py"], "{v:#}");
    assert_eq!(finding_field(&v, "commit"), [leak.as_str()], "{v:#}");
    let notes = v["notes"].to_string();
    assert!(notes.contains("submodule lib: scanned 2 commits"), "{v:#}");

    // Through the real hook: `git commit` in the superproject is refused.
    r.install_hook();
    let before = r.head();
    let commit = r.try_git(&["commit", "-m", "bump lib"]);
    refused(&commit);
    has(&commit, "lib/settings.py");
    has(&commit, &leak[..12]);
    assert_eq!(r.head(), before);
}

/// Only what the superproject did not record before: an old token in the submodule's history
/// is not reported again when the gitlink moves on.
#[test]
fn moving_a_gitlink_on_scans_only_old_to_new_and_lists_it() {
    let r = with_submodule();
    commit_in_submodule(&r, "old.py", &format!("HF = \"{HF_B}\"\n"));
    r.git(&["add", "lib"]);
    r.commit("bump with a token, committed without the hook");
    commit_in_submodule(&r, "b.py", "y = 2\n");
    r.git(&["add", "lib"]);
    let run = r.leakgate(&["check-staged"]);
    run.code(0);
    run.stderr_has("submodule lib: scanned 1 commit (");
    lacks(
        &run,
        "scanned 0 files, 0 lines, 0 B in staged changes; 0 findings\n",
    );
}

/// A new submodule: every commit reachable from the recorded one is new to the superproject.
#[test]
fn adding_a_submodule_whose_history_holds_a_token_is_blocked() {
    let r = TestRepo::new();
    let src = r.tmp().join("vendored");
    r.git_in(r.tmp(), &["init", "-q", src.to_str().unwrap()]);
    std::fs::write(src.join("cfg.py"), format!("HF = \"{HF_C}\"\n")).unwrap();
    r.git_in(&src, &["add", "cfg.py"]);
    r.git_in(&src, &["commit", "-q", "-m", "leak"]);
    std::fs::write(src.join("cfg.py"), "HF = None\n").unwrap();
    r.git_in(&src, &["commit", "-q", "-am", "removed again"]);
    commit_file(&r, "README.md", "app\n", "base");
    r.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        src.to_str().unwrap(),
        "third_party/vendored",
    ]);
    let v = r.check_json(1);
    assert_eq!(
        finding_field(&v, "path"),
        ["third_party/vendored/cfg.py"],
        "{v:#}"
    );
}

/// A gitlink naming a commit the submodule's repository does not have: listed as not scanned,
/// visibly, never a silent "scanned 0 files".
#[test]
fn gitlink_to_a_commit_not_available_locally_is_listed_as_not_scanned() {
    let r = with_submodule();
    let absent = "1234567890abcdef1234567890abcdef12345678";
    r.git(&[
        "update-index",
        "--cacheinfo",
        &format!("160000,{absent},lib"),
    ]);
    let run = r.leakgate(&["check-staged"]);
    run.code(0);
    run.stderr_has("submodule lib was NOT scanned")
        .stderr_has("commit 1234567890ab is not in its local repository")
        .stderr_has("skipped 1 submodule (gitlink)");
}

/// git runs a submodule's hooks from `.git/modules/<name>/hooks`: `leakgate install` puts them
/// there too, so a commit inside the submodule is refused at once.
#[test]
fn install_covers_the_submodules_present() {
    let r = with_submodule();
    r.install_hook();
    let hooks = r.git_in(&r.dir.join("lib"), &["rev-parse", "--git-path", "hooks"]);
    let hooks = r.dir.join("lib").join(hooks.stdout.trim());
    assert!(hooks.join("pre-commit").is_file(), "{}", hooks.display());
    assert!(hooks.join("pre-applypatch").is_file());
    let sub = r.dir.join("lib");
    std::fs::write(sub.join("k.py"), format!("K = \"{HF_A}\"\n")).unwrap();
    r.git_in(&sub, &["add", "k.py"]);
    let commit = r.try_git_in(&sub, &["commit", "-m", "leak"]);
    refused(&commit);
    has(&commit, "huggingface-token");
    r.leakgate(&["uninstall"]).code(0);
    assert!(!hooks.join("pre-commit").exists());
}

/// The framework tags a submodule path `directory`; with `types: [file]` a bumped gitlink never
/// reached leakgate through the framework while the installed hook scanned it.
#[test]
fn pre_commit_framework_passes_a_moved_submodule_to_leakgate() {
    let r = with_submodule();
    let fw = Framework::new(&r, true);
    let (hook_repo, sha) = hook_repo_snapshot(&r);
    write_config(&r, &hook_repo, &sha, &["leakgate-system"]);
    let install = fw.run(&r, &["install"]);
    assert_eq!(install.code, 0, "{}", install.dump());
    let leak = commit_in_submodule(&r, "cfg.py", &format!("HF = \"{HF_B}\"\n"));
    r.git(&["add", "lib"]);
    let commit = fw.git(&r, &["commit", "-m", "bump lib"]);
    refused(&commit);
    has(&commit, "lib/cfg.py");
    has(&commit, &leak[..12]);
}

/// A merge inside the submodule range brings in what its merged branch added; that branch's
/// commit is scanned on its own, so the token is reported once, on the commit that added it.
#[test]
fn submodule_merge_commit_does_not_report_a_merged_token_twice() {
    let r = with_submodule();
    let sub = r.dir.join("lib");
    r.git_in(&sub, &["checkout", "-q", "-b", "topic"]);
    let leak = commit_in_submodule(&r, "t.py", &format!("T = \"{HF_C}\"\n"));
    r.git_in(&sub, &["checkout", "-q", "-"]);
    commit_in_submodule(&r, "u.py", "u = 1\n");
    r.git_in(&sub, &["merge", "-q", "--no-ff", "--no-edit", "topic"]);
    r.git(&["add", "lib"]);
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "path"), ["lib/t.py"], "{v:#}");
    assert_eq!(finding_field(&v, "commit"), [leak.as_str()], "{v:#}");
}

/// `check-range` does not walk submodule history, but a commit that moves a gitlink is listed,
/// never a silent "scanned 0 files" (libgit2 dropped moved gitlinks from the diff before).
#[test]
fn check_range_lists_a_commit_that_moves_a_gitlink() {
    let r = with_submodule();
    commit_in_submodule(&r, "b.py", "y = 2\n");
    r.git(&["add", "lib"]);
    r.commit("bump lib");
    let run = r.leakgate(&["check-range", "HEAD~1..HEAD", "--verbose"]);
    run.code(0);
    run.stderr_has("skipped: lib (submodule (gitlink))")
        .stderr_has("skipped 1 submodule (gitlink)");
}

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

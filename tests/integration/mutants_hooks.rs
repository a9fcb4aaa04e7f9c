//! The pre-applypatch shim (`git am`), where hand-made one-line breaks of the shim survived the
//! suite (issue 18): turning its "binary not found" exit into 0, or ignoring a failing chained
//! hook. Both would let `git am` commit a patch leakgate never saw.
//!
//! Invariant: each test applies a patch through the real `git am` and checks both the exit
//! status and that HEAD did not move.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::*;
use crate::workflows::{commit_file, run_env};

fn write_hook(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A repository on `main` with a one-commit patch adding `ok.py` made on a side branch.
fn repo_with_patch(content: &str) -> (TestRepo, PathBuf) {
    let r = TestRepo::new();
    commit_file(&r, "README.md", "hello\n", "base");
    r.git(&["checkout", "-q", "-b", "topic"]);
    commit_file(&r, "ok.py", content, "patch");
    let dir = r.tmp().join("patches");
    r.git(&["format-patch", "-q", "-1", "-o", dir.to_str().unwrap()]);
    r.git(&["checkout", "-q", "main"]);
    let patch = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
    (r, patch.path())
}

/// PATH with git but without any leakgate.
fn path_without_leakgate() -> OsString {
    let git = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    let git = PathBuf::from(String::from_utf8_lossy(&git.stdout).trim());
    format!("{}:/usr/bin:/bin", git.parent().unwrap().display()).into()
}

/// The shim as shipped (no remembered binary path) in the repository's hooks directory.
fn shipped_shim(r: &TestRepo) {
    let shim =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/pre-applypatch"))
            .unwrap();
    write_hook(&r.dir.join(".git/hooks/pre-applypatch"), &shim);
}

#[test]
fn pre_applypatch_shim_runs_the_binary_named_by_leakgate() {
    let (r, patch) = repo_with_patch(&format!("HF = \"{HF_A}\"\n"));
    shipped_shim(&r);
    let base = r.head();
    let am = run_env(
        &r,
        "git",
        &r.dir,
        &["am", patch.to_str().unwrap()],
        &[("PATH", path_without_leakgate()), ("LEAKGATE", BIN.into())],
    );
    assert_ne!(am.code, 0, "git am stops on the hook\n{}", am.dump());
    assert!(am.stderr.contains("huggingface-token"), "{}", am.dump());
    assert_eq!(r.head(), base, "no commit was made");
}

#[test]
fn pre_applypatch_shim_without_a_binary_blocks_git_am() {
    let (r, patch) = repo_with_patch("x = 1\n");
    shipped_shim(&r);
    let base = r.head();
    let am = run_env(
        &r,
        "git",
        &r.dir,
        &["am", patch.to_str().unwrap()],
        &[("PATH", path_without_leakgate())],
    );
    assert_ne!(am.code, 0, "git am must be blocked\n{}", am.dump());
    assert!(
        am.stderr.contains("leakgate binary was not found"),
        "{}",
        am.dump()
    );
    assert_eq!(r.head(), base, "no commit was made");
}

#[test]
fn failing_chained_pre_applypatch_hook_blocks_a_clean_patch() {
    let (r, patch) = repo_with_patch("x = 1\n");
    let hooks = r.dir.join(".git/hooks");
    write_hook(&hooks.join("pre-applypatch"), "#!/bin/sh\nexit 3\n");
    r.leakgate(&["install"]).code(0);
    assert!(hooks.join("pre-applypatch.leakgate-chained").is_file());
    let base = r.head();
    let am = r.try_git(&["am", patch.to_str().unwrap()]);
    assert_ne!(
        am.code,
        0,
        "the chained hook's failure blocks\n{}",
        am.dump()
    );
    assert_eq!(r.head(), base, "no commit was made");
    // With the chained hook passing, the same patch applies through leakgate.
    write_hook(
        &hooks.join("pre-applypatch.leakgate-chained"),
        "#!/bin/sh\nexit 0\n",
    );
    r.git(&["am", "--abort"]);
    r.git(&["am", patch.to_str().unwrap()]);
    assert!(r.dir.join("ok.py").is_file());
}

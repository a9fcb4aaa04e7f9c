//! The environment git hands a hook, as hook managers pass it on: a relative `GIT_INDEX_FILE`
//! seen from a subdirectory, an index file that is named but missing, and a stderr that cannot
//! be written. Each case once let a commit through or ended outside the documented exit codes.

use std::process::Stdio;

use crate::harness::*;

/// A pre-commit hook the way lefthook (`root:`), husky scripts and monorepo wrappers run
/// leakgate: from a subdirectory, with git's environment passed on unchanged.
fn install_subdirectory_wrapper(r: &TestRepo) {
    let hook = r.dir.join(".git/hooks/pre-commit");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\ncd packages/app || exit 2\nexec '{BIN}' check-staged\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn repo_with_subdirectory() -> TestRepo {
    let r = TestRepo::new();
    r.stage("packages/app/main.py", "print('hi')\n");
    r.stage("lib/util.py", "x = 1\n");
    r.commit("c1");
    install_subdirectory_wrapper(&r);
    r
}

/// git exports `GIT_INDEX_FILE=.git/index` (plain commit), `.git/index.lock` (`commit -a`) or
/// `.git/next-index-*.lock` (`commit -- path`), relative to the top of the work tree. Read from
/// `packages/app`, that once named a file that does not exist, taken for an empty index: the
/// token was committed. Every form must block, and a clean commit must still go through.
#[test]
fn relative_index_file_from_a_hook_run_in_a_subdirectory_blocks_every_commit_form() {
    let r = repo_with_subdirectory();
    let head = r.head();

    r.stage("lib/keys.py", format!("T = '{HF_A}'\n"));
    let plain = r.try_git(&["commit", "-m", "plain"]);
    assert_ne!(plain.code, 0, "plain commit let through\n{}", plain.dump());
    assert!(
        plain.stderr.contains("huggingface-token"),
        "{}",
        plain.dump()
    );
    r.git(&["reset", "-q", "lib/keys.py"]);
    std::fs::remove_file(r.dir.join("lib/keys.py")).unwrap();

    r.write("lib/util.py", format!("x = 1\nT = '{HF_B}'\n"));
    let all = r.try_git(&["commit", "-a", "-m", "all"]);
    assert_ne!(all.code, 0, "commit -a let through\n{}", all.dump());
    assert!(all.stderr.contains("lib/util.py:2"), "{}", all.dump());

    let only = r.try_git(&["commit", "-m", "only", "--", "lib/util.py"]);
    assert_ne!(only.code, 0, "commit -- path let through\n{}", only.dump());
    assert!(only.stderr.contains("lib/util.py:2"), "{}", only.dump());
    assert_eq!(r.head(), head, "nothing was committed");

    r.write("lib/util.py", "x = 2\n");
    let clean = r.try_git(&["commit", "-a", "-m", "clean"]);
    assert_eq!(clean.code, 0, "a clean commit is blocked\n{}", clean.dump());
    assert!(clean.stderr.contains("scanned 1 file"), "{}", clean.dump());
}

/// An index file that is named explicitly and missing is an error, never "nothing staged".
#[test]
fn explicitly_named_missing_index_file_fails_closed() {
    let r = repo_with_subdirectory();
    let missing = r.tmp().join("no-such-index");
    let run = r.leakgate_env(
        &r.dir,
        &["check-staged"],
        &[("GIT_INDEX_FILE", missing.to_str().unwrap())],
    );
    assert_fails_closed(&run, &["cannot read the git index", "no-such-index"]);
    let run = r.leakgate_env(
        &r.dir.join("packages/app"),
        &["check-staged"],
        &[("GIT_INDEX_FILE", ".git/index-gone")],
    );
    assert_fails_closed(&run, &["cannot read the git index", ".git/index-gone"]);
}

/// stderr on a full disk (`/dev/full`): the exit status still says what happened — 1 for a
/// finding, 0 for a clean scan, 2 for an error — instead of a panic's 101.
#[test]
fn unwritable_stderr_keeps_the_documented_exit_codes() {
    let r = repo_with_subdirectory();
    let status = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = r.command(BIN, &r.dir);
        c.args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::options()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            );
        c.status().unwrap().code()
    };
    assert_eq!(status(&["check-staged"], &[]), Some(0), "clean");
    r.stage("lib/keys.py", format!("T = '{HF_A}'\n"));
    assert_eq!(status(&["check-staged"], &[]), Some(1), "finding");
    assert_eq!(
        status(
            &["check-staged"],
            &[("GIT_INDEX_FILE", "/nonexistent/index")]
        ),
        Some(2),
        "error"
    );
    assert_eq!(status(&["no-such-command"], &[]), Some(2), "usage error");
}

/// `core.hooksPath = ""` makes git run no hook at all (checked against git itself here): an
/// install that wrote `.git/hooks/pre-commit` and said "installed" would guard nothing.
#[test]
fn install_with_an_empty_core_hooks_path_fails_closed_instead_of_guarding_nothing() {
    let r = TestRepo::new();
    r.git(&["config", "core.hooksPath", ""]);
    assert_fails_closed(
        &r.leakgate(&["install"]),
        &[
            "core.hooksPath is set to an empty value",
            "git config --unset core.hooksPath",
        ],
    );
    assert!(
        !r.dir.join(".git/hooks/pre-commit").exists(),
        "no hook written"
    );
    // The precondition: git really runs no hook with that setting.
    let hook = r.dir.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    r.stage("a.txt", "a\n");
    assert_eq!(
        r.try_git(&["commit", "-q", "-m", "x"]).code,
        0,
        "git ran a hook"
    );
}

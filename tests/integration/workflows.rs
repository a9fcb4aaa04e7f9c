//! leakgate inside existing git workflows: the real pre-commit framework (`language: rust` and
//! `language: system`), the hook installer (chaining, `core.hooksPath`, worktrees, uninstall),
//! git's pre-push protocol against a real bare remote, `check-range`, and `check-staged PATH…`.
//!
//! The framework tests need the `pre-commit` executable: `bash tests/run.sh` installs it into
//! target/test-venv and puts it on PATH. Without it they fail (never skip) and say so.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::harness::*;

const ZEROS: &str = "0000000000000000000000000000000000000000";

// ---------------------------------------------------------------------------------------------
// helpers

/// Run PROGRAM with the harness's isolated environment plus `env` (an empty value removes it).
pub(crate) fn run_env(
    r: &TestRepo,
    program: &str,
    cwd: &Path,
    args: &[&str],
    env: &[(&str, OsString)],
) -> Run {
    let mut c = r.command(program, cwd);
    c.args(args);
    for (k, _) in std::env::vars_os() {
        // A test run from inside a pre-commit hook must not hand the framework its own state.
        if k.to_string_lossy().starts_with("PRE_COMMIT") {
            c.env_remove(&k);
        }
    }
    for (k, v) in env {
        if v.is_empty() {
            c.env_remove(k);
        } else {
            c.env(k, v);
        }
    }
    let shown = format!("{program} {}", args.join(" "));
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    Run {
        cmd: shown,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
pub(crate) fn has(run: &Run, needle: &str) {
    assert!(
        run.stdout.contains(needle) || run.stderr.contains(needle),
        "output lacks {needle:?}\n{}",
        run.dump()
    );
}

#[track_caller]
pub(crate) fn lacks(run: &Run, needle: &str) {
    assert!(
        !run.stdout.contains(needle) && !run.stderr.contains(needle),
        "output contains {needle:?}\n{}",
        run.dump()
    );
}

#[track_caller]
pub(crate) fn refused(run: &Run) {
    assert_ne!(run.code, 0, "git must refuse\n{}", run.dump());
}

#[track_caller]
pub(crate) fn succeeded(run: &Run) {
    assert_eq!(run.code, 0, "git must succeed\n{}", run.dump());
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn write_hook(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    set_mode(path, 0o755);
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every file below `dir` with its bytes, sorted: "nothing changed" means this is equal.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

fn git_path_hooks(r: &TestRepo, cwd: &Path) -> PathBuf {
    let out = r.git_in(cwd, &["rev-parse", "--git-path", "hooks"]).stdout;
    let p = PathBuf::from(out.trim());
    let p = if p.is_relative() { cwd.join(p) } else { p };
    p.canonicalize().unwrap_or(p)
}

fn rev(r: &TestRepo, what: &str) -> String {
    r.git(&["rev-parse", what]).stdout.trim().to_string()
}

pub(crate) fn commit_file(r: &TestRepo, path: &str, content: &str, msg: &str) -> String {
    r.stage(path, content);
    r.commit(msg);
    r.head()
}

/// A bare repository at tmp/remote.git, added as `origin`.
pub(crate) fn add_bare_remote(r: &TestRepo) -> PathBuf {
    let bare = r.tmp().join("remote.git");
    r.git_in(r.tmp(), &["init", "-q", "--bare", bare.to_str().unwrap()]);
    r.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    bare
}

pub(crate) fn remote_sha(r: &TestRepo, branch: &str) -> Option<String> {
    let out = r
        .git(&["ls-remote", "origin", &format!("refs/heads/{branch}")])
        .stdout;
    out.split_whitespace().next().map(str::to_string)
}

/// The directory of the binary under test, first on PATH (what `language: system` runs).
fn path_with_bin() -> OsString {
    let bin_dir = Path::new(BIN).parent().unwrap().to_path_buf();
    let mut dirs = vec![bin_dir];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

// ---------------------------------------------------------------------------------------------
// the pre-commit framework

/// The real `pre-commit` executable: on PATH (tests/run.sh puts it there), else in the venv
/// tests/run.sh creates. Missing is a failure, not a skip: these tests are the proof that the
/// framework integration works.
pub(crate) fn pre_commit_exe() -> PathBuf {
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("pre-commit"))
        .find(|p| p.is_file());
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/pre-commit");
    on_path
        .or_else(|| venv.is_file().then_some(venv))
        .unwrap_or_else(|| {
            panic!(
                "the `pre-commit` executable is missing: run the tests with `bash tests/run.sh` \
                 (it installs pre-commit into target/test-venv and puts it on PATH)"
            )
        })
}

pub(crate) struct Framework {
    pub(crate) exe: PathBuf,
    pub(crate) env: Vec<(&'static str, OsString)>,
}

impl Framework {
    /// `system_bin`: put the binary under test first on PATH (for `language: system`). The
    /// `language: rust` test leaves it off, so only the framework's own build can answer.
    ///
    /// On top of the harness's cleared environment, exactly what the framework's `language:
    /// rust` build needs: `harness::toolchain_env` (toolchain homes, network settings) and a
    /// cache for its compiled dependencies. Nothing of `cargo test`'s own environment
    /// (`OUT_DIR`, `CARGO_PKG_*`, `RUSTUP_TOOLCHAIN`, …) is passed: the build must stand on the
    /// hook repository's files alone.
    pub(crate) fn new(r: &TestRepo, system_bin: bool) -> Framework {
        let exe = pre_commit_exe();
        let path = if system_bin {
            path_with_bin()
        } else {
            std::env::var_os("PATH").unwrap_or_default()
        };
        let mut env = vec![
            (
                "PRE_COMMIT_HOME",
                r.tmp().join("pre-commit-home").into_os_string(),
            ),
            // The build the framework runs (`cargo install --path` on the hook repository) keeps
            // its compiled dependencies here between test runs; the first run is a cold build.
            (
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/pre-commit-rust-hook")
                    .into_os_string(),
            ),
            ("PATH", path),
        ];
        env.extend(toolchain_env());
        Framework { exe, env }
    }

    pub(crate) fn run(&self, r: &TestRepo, args: &[&str]) -> Run {
        run_env(r, self.exe.to_str().unwrap(), &r.dir, args, &self.env)
    }

    pub(crate) fn git(&self, r: &TestRepo, args: &[&str]) -> Run {
        run_env(r, "git", &r.dir, args, &self.env)
    }
}

/// `leakgate` binaries the framework built (`<PRE_COMMIT_HOME>/repo*/rustenv-*/bin/leakgate`).
fn built_hook_binaries(home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for repo in std::fs::read_dir(home).into_iter().flatten().flatten() {
        for env in std::fs::read_dir(repo.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let bin = env.path().join("bin/leakgate");
            if env.file_name().to_string_lossy().starts_with("rustenv") && bin.is_file() {
                out.push(bin);
            }
        }
    }
    out
}

/// The files this checkout ships: what `git ls-files` lists, as they are in the working tree
/// (a file listed but deleted is missing, as it would be from a commit of this tree).
fn shipped_files() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(src)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("git runs");
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "the language: rust test builds what `git ls-files` lists, so it needs the checkout's \
         .git: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter(|p| src.join(p).is_file())
        .collect()
}

/// A throwaway git repository holding exactly this checkout's tracked files (`git ls-files`), as
/// they are in the working tree, committed: what `repo:` + `rev:` point at. Built from the file
/// list, not a directory copy, so a file the repository forgets to track (build.rs, a rule
/// file) breaks the framework's build here as it would for a user.
pub(crate) fn hook_repo_snapshot(r: &TestRepo) -> (PathBuf, String) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dst = r.tmp().join("leakgate-hook-repo");
    for rel in shipped_files() {
        let to = dst.join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(&rel), &to)
            .unwrap_or_else(|e| panic!("copy {}: {e}", rel.display()));
    }
    r.git_in(r.tmp(), &["init", "-q", dst.to_str().unwrap()]);
    r.git_in(&dst, &["add", "-A"]);
    r.git_in(&dst, &["commit", "-q", "--no-verify", "-m", "snapshot"]);
    let sha = r
        .git_in(&dst, &["rev-parse", "HEAD"])
        .stdout
        .trim()
        .to_string();
    (dst, sha)
}

pub(crate) fn write_config(r: &TestRepo, repo: &Path, rev: &str, hooks: &[&str]) {
    let mut cfg = format!(
        "default_install_hook_types: [pre-commit, pre-push]\nrepos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n",
        repo.display()
    );
    for h in hooks {
        cfg.push_str(&format!("      - id: {h}\n"));
    }
    r.stage(".pre-commit-config.yaml", cfg);
    r.commit("pre-commit config");
}

/// The checks every framework flavour must pass once installed: a token commit is refused with
/// leakgate's report, a clean one goes through, `run --all-files` and `run --files` scan
/// committed content, and the pre-push hook blocks a pushed token naming its commit.
pub(crate) fn framework_scenario(r: &TestRepo, fw: &Framework, commit_hook: &str) {
    // A commit carrying a token is refused with leakgate's report; HEAD does not move.
    let before = r.head();
    r.stage("app/config.py", format!("import os\nHF = \"{HF_A}\"\n"));
    let blocked = fw.git(r, &["commit", "-m", "leak"]);
    refused(&blocked);
    has(&blocked, "huggingface-token");
    has(&blocked, "app/config.py:2");
    has(&blocked, commit_hook);
    lacks(&blocked, HF_A);
    assert_eq!(r.head(), before, "HEAD must not move\n{}", blocked.dump());

    // A clean commit goes through (the hook ran: its summary is in the output).
    r.stage(
        "app/config.py",
        "import os\nHF = os.environ[\"HF_TOKEN\"]\n",
    );
    let ok = fw.git(r, &["commit", "-m", "clean"]);
    succeeded(&ok);
    assert_ne!(r.head(), before);

    // A token committed past the hook: `run --all-files` and `run --files` still find it, since
    // named files without staged changes are scanned whole.
    r.stage("old/legacy.py", format!("T = '{HF_B}'\n"));
    r.commit("old secret (committed with --no-verify)");
    let all = fw.run(r, &["run", "--all-files"]);
    assert_eq!(all.code, 1, "run --all-files must fail\n{}", all.dump());
    has(&all, "huggingface-token");
    has(&all, "old/legacy.py:1");
    let one = fw.run(r, &["run", "--files", "old/legacy.py"]);
    assert_eq!(one.code, 1, "{}", one.dump());
    has(&one, "old/legacy.py:1");
    let other = fw.run(r, &["run", "--files", "app/config.py"]);
    assert_eq!(other.code, 0, "{}", other.dump());
    lacks(&other, "old/legacy.py");
}

/// pre-push through the framework: the range comes from PRE_COMMIT_FROM_REF/TO_REF (a push onto
/// an existing branch, or a new branch off known history) or PRE_COMMIT_LOCAL_BRANCH alone (the
/// whole history is new to the remote).
pub(crate) fn framework_pre_push_scenario(r: &TestRepo, fw: &Framework) {
    r.git(&["checkout", "-q", "-b", "pp-base", "HEAD~1"]);
    add_bare_remote(r);
    // Whole history new to the remote, clean: goes through (PRE_COMMIT_LOCAL_BRANCH path).
    succeeded(&fw.git(r, &["push", "-q", "origin", "pp-base"]));

    // Onto an existing branch: the second of two commits adds a token.
    commit_file(r, "pp/a.py", "a = 1\n", "pp clean");
    let bad = commit_file(r, "pp/b.py", &format!("K = '{HF_C}'\n"), "pp leak");
    let push = fw.git(r, &["push", "origin", "pp-base"]);
    refused(&push);
    has(&push, "huggingface-token");
    has(&push, &bad[..12]);
    assert_ne!(remote_sha(r, "pp-base").as_deref(), Some(bad.as_str()));

    // A new branch off pushed history with clean commits: FROM_REF is the fork point.
    r.git(&["checkout", "-q", "-b", "pp-new", "origin/pp-base"]);
    commit_file(r, "pp/c.py", "c = 3\n", "pp new clean");
    succeeded(&fw.git(r, &["push", "-q", "origin", "pp-new"]));

    // Whole history new to the remote and it holds a token: the all-files case of the framework.
    let fresh = r.tmp().join("fresh.git");
    r.git_in(r.tmp(), &["init", "-q", "--bare", fresh.to_str().unwrap()]);
    r.git(&["remote", "add", "fresh", fresh.to_str().unwrap()]);
    let push = fw.git(r, &["push", "fresh", "pp-base"]);
    refused(&push);
    has(&push, &bad[..12]);
}

/// `language: rust`: the framework clones the hook repository at `rev` and builds it with
/// `cargo install --path` — a real release build. One test does everything with that build, so
/// it happens once.
#[test]
fn pre_commit_framework_rust_hook_builds_blocks_and_scans() {
    let r = TestRepo::new();
    let fw = Framework::new(&r, false);
    let (hook_repo, sha) = hook_repo_snapshot(&r);
    write_config(&r, &hook_repo, &sha, &["leakgate", "leakgate-pre-push"]);
    let started = Instant::now();
    let install = fw.run(&r, &["install", "--install-hooks"]);
    assert_eq!(install.code, 0, "{}", install.dump());
    eprintln!(
        "pre-commit install --install-hooks (language: rust build) took {:.0?}",
        started.elapsed()
    );
    // The hook binary is the framework's build, in its own environment.
    let built = built_hook_binaries(&r.tmp().join("pre-commit-home"));
    assert_eq!(
        built.len(),
        1,
        "one leakgate built by the framework: {built:?}"
    );

    // The framework put its own hooks in place; leakgate's installer recognises them.
    let hook = r.dir.join(".git/hooks/pre-commit");
    let framework_hook = read(&hook);
    let refuse = r.leakgate(&["install"]);
    refuse.code(2).stderr_has(".pre-commit-config.yaml");
    assert_eq!(
        read(&hook),
        framework_hook,
        "the framework's hook is untouched"
    );

    framework_scenario(&r, &fw, "leakgate (credentials in staged changes)");
    framework_pre_push_scenario(&r, &fw);
    eprintln!(
        "whole language: rust framework test took {:.0?}",
        started.elapsed()
    );
}

/// `language: system`: the leakgate on PATH (the binary under test), nothing built.
#[test]
fn pre_commit_framework_system_hook_blocks_and_scans() {
    let r = TestRepo::new();
    let fw = Framework::new(&r, true);
    let (hook_repo, sha) = hook_repo_snapshot(&r);
    write_config(
        &r,
        &hook_repo,
        &sha,
        &["leakgate-system", "leakgate-pre-push-system"],
    );
    let install = fw.run(&r, &["install", "--install-hooks"]);
    assert_eq!(install.code, 0, "{}", install.dump());
    framework_scenario(&r, &fw, "leakgate (credentials in staged changes)");
    framework_pre_push_scenario(&r, &fw);
}

/// `pre-commit run --hook-stage pre-push` without refs has nothing to check: that is an error,
/// not a silent pass.
#[test]
fn pre_commit_framework_pre_push_without_refs_fails_closed() {
    let r = TestRepo::new();
    let fw = Framework::new(&r, true);
    let (hook_repo, sha) = hook_repo_snapshot(&r);
    write_config(&r, &hook_repo, &sha, &["leakgate-pre-push-system"]);
    let run = fw.run(&r, &["run", "--hook-stage", "pre-push"]);
    assert_ne!(run.code, 0, "{}", run.dump());
    has(&run, "no refs to check");
    // With explicit refs it scans that range.
    let base = r.head();
    let bad = commit_file(&r, "x.py", &format!("K = '{HF_A}'\n"), "leak");
    let run = fw.run(
        &r,
        &[
            "run",
            "--hook-stage",
            "pre-push",
            "--from-ref",
            &base,
            "--to-ref",
            "HEAD",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    has(&run, &bad[..12]);
}

// ---------------------------------------------------------------------------------------------
// the installer

#[test]
fn install_in_a_fresh_repository_writes_executable_shims_that_block() {
    let r = TestRepo::new();
    r.leakgate(&["install", "--hook", "both"])
        .code(0)
        .stderr_has("installed");
    let hooks = git_path_hooks(&r, &r.dir);
    for name in ["pre-commit", "pre-push"] {
        let p = hooks.join(name);
        let text = String::from_utf8(read(&p)).unwrap();
        assert!(text.contains("# leakgate-hook"), "{name}");
        assert!(
            text.contains(&format!("LEAKGATE_INSTALLED_BIN='{BIN}'")),
            "{name}"
        );
        assert_eq!(mode(&p) & 0o111, 0o111, "{name} is executable");
    }
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    let c = r.try_git(&["commit", "-m", "leak"]);
    refused(&c);
    has(&c, "huggingface-token");
}

#[test]
fn existing_hook_is_chained_runs_first_and_still_blocks() {
    let r = TestRepo::new();
    let hooks = git_path_hooks(&r, &r.dir);
    let marker = r.tmp().join("order.log");
    let custom = format!(
        "#!/bin/sh\necho custom >> '{}'\n[ ! -e \"$(git rev-parse --show-toplevel)/FAIL\" ]\n",
        marker.display()
    );
    write_hook(&hooks.join("pre-commit"), &custom);
    r.leakgate(&["install"])
        .code(0)
        .stderr_has("kept your existing pre-commit hook");
    assert_eq!(
        read(&hooks.join("pre-commit.leakgate-chained")),
        custom.as_bytes()
    );

    // Order: LEAKGATE (honoured by the shim) is a wrapper that logs before running leakgate.
    let wrapper = r.tmp().join("leakgate-wrapper");
    write_hook(
        &wrapper,
        &format!(
            "#!/bin/sh\necho leakgate >> '{}'\nexec '{BIN}' \"$@\"\n",
            marker.display()
        ),
    );
    let env = [("LEAKGATE", wrapper.clone().into_os_string())];
    r.stage("ok.py", "x = 1\n");
    succeeded(&run_env(
        &r,
        "git",
        &r.dir,
        &["commit", "-q", "-m", "clean"],
        &env,
    ));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "custom\nleakgate\n"
    );

    // leakgate still blocks after a passing custom hook.
    std::fs::remove_file(&marker).unwrap();
    r.stage("leak.py", format!("t = '{HF_A}'\n"));
    let c = run_env(&r, "git", &r.dir, &["commit", "-m", "leak"], &env);
    refused(&c);
    has(&c, "huggingface-token");
    r.git(&["rm", "-q", "--cached", "leak.py"]);

    // A failing custom hook blocks a clean commit, and leakgate does not even run.
    std::fs::remove_file(&marker).unwrap();
    r.write("FAIL", "");
    r.stage("ok2.py", "y = 2\n");
    let before = r.head();
    let c = run_env(
        &r,
        "git",
        &r.dir,
        &["commit", "-m", "clean but custom fails"],
        &env,
    );
    refused(&c);
    assert_eq!(r.head(), before);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "custom\n");
}

#[test]
fn chained_pre_push_hook_gets_gits_stdin_unchanged() {
    let r = TestRepo::new();
    let c1 = commit_file(&r, "a.py", "a = 1\n", "c1");
    add_bare_remote(&r);
    let hooks = git_path_hooks(&r, &r.dir);
    let seen = r.tmp().join("stdin.log");
    write_hook(
        &hooks.join("pre-push"),
        &format!(
            "#!/bin/sh\necho \"$1 $2\" > '{0}'\ncat >> '{0}'\n",
            seen.display()
        ),
    );
    r.leakgate(&["install", "--hook", "pre-push"]).code(0);
    succeeded(&r.try_git(&["push", "-q", "origin", "main"]));
    let bare = r.tmp().join("remote.git");
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!(
            "origin {}\nrefs/heads/main {c1} refs/heads/main {ZEROS}\n",
            bare.display()
        )
    );
}

/// The chained pre-push hook reads git's stdin first; leakgate must still get the same lines. A
/// shim that handed leakgate an empty stdin ("nothing to push") would let this token through.
#[test]
fn chained_pre_push_hook_and_leakgate_both_see_a_pushed_token() {
    let r = TestRepo::new();
    let c1 = commit_file(&r, "a.py", "a = 1\n", "c1");
    add_bare_remote(&r);
    let hooks = git_path_hooks(&r, &r.dir);
    let seen = r.tmp().join("stdin.log");
    write_hook(
        &hooks.join("pre-push"),
        &format!("#!/bin/sh\ncat > '{}'\n", seen.display()),
    );
    r.leakgate(&["install", "--hook", "pre-push"]).code(0);
    succeeded(&r.try_git(&["push", "-q", "origin", "main"]));
    let bad = commit_file(&r, "b.py", &format!("K = '{HF_A}'\n"), "leak");
    let push = r.try_git(&["push", "origin", "main"]);
    refused(&push);
    has(&push, "huggingface-token");
    has(&push, &bad[..12]);
    assert_eq!(remote_sha(&r, "main").as_deref(), Some(c1.as_str()));
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!("refs/heads/main {bad} refs/heads/main {c1}\n"),
        "the chained hook got git's line too"
    );
}

/// A failing chained pre-push hook blocks a clean push, and leakgate does not run after it.
#[test]
fn failing_chained_pre_push_hook_blocks_a_clean_push() {
    let r = TestRepo::new();
    commit_file(&r, "a.py", "a = 1\n", "c1");
    add_bare_remote(&r);
    let hooks = git_path_hooks(&r, &r.dir);
    write_hook(
        &hooks.join("pre-push"),
        "#!/bin/sh\necho 'their check failed' >&2\nexit 3\n",
    );
    r.leakgate(&["install", "--hook", "pre-push"]).code(0);
    let push = r.try_git(&["push", "origin", "main"]);
    refused(&push);
    has(&push, "their check failed");
    lacks(&push, "commit to push");
    assert_eq!(remote_sha(&r, "main"), None);
}

/// The pre-push shim as shipped, with no leakgate to be found: the push is blocked, not waved
/// through.
#[test]
fn pre_push_hook_without_a_binary_blocks() {
    let r = TestRepo::new();
    commit_file(&r, "a.py", "a = 1\n", "c1");
    add_bare_remote(&r);
    let shim =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/pre-push"))
            .unwrap();
    write_hook(&r.dir.join(".git/hooks/pre-push"), &shim);
    let git = run_env(&r, "sh", &r.dir, &["-c", "command -v git"], &[]);
    let git_dir = Path::new(git.stdout.trim()).parent().unwrap().to_path_buf();
    let push = run_env(
        &r,
        "git",
        &r.dir,
        &["push", "origin", "main"],
        &[(
            "PATH",
            OsString::from(format!("{}:/usr/bin:/bin", git_dir.display())),
        )],
    );
    refused(&push);
    has(&push, "leakgate binary was not found");
    has(&push, "git push --no-verify");
    assert_eq!(remote_sha(&r, "main"), None);
}

/// "History already on the remote" is the remote being pushed to: a branch new to a second
/// remote is scanned whole even though `origin` has its commits (found by a hand mutation of
/// the pre-push shim: dropping the remote name made leakgate fall back to `origin`).
#[test]
fn new_branch_on_a_second_remote_is_checked_against_that_remote() {
    let (r, _) = pre_push_repo();
    let old = commit_file(&r, "old.py", &format!("K = '{HF_A}'\n"), "old leak");
    succeeded(&r.try_git(&["push", "-q", "--no-verify", "origin", "main"]));
    let mirror = r.tmp().join("mirror.git");
    r.git_in(r.tmp(), &["init", "-q", "--bare", mirror.to_str().unwrap()]);
    r.git(&["remote", "add", "mirror", mirror.to_str().unwrap()]);
    let push = r.try_git(&["push", "mirror", "main"]);
    refused(&push);
    has(&push, &old[..12]);
}

/// The framework's pre-push range: PRE_COMMIT_FROM_REF decides where scanning starts, so moving
/// it past the commit that adds a token changes the verdict (and naming the token's parent
/// brings it back).
#[test]
fn pre_commit_from_ref_sets_the_start_of_the_scanned_range() {
    let r = TestRepo::new();
    let base = commit_file(&r, "a.py", "a = 1\n", "base");
    let bad = commit_file(&r, "b.py", &format!("K = '{HF_A}'\n"), "leak");
    commit_file(&r, "c.py", "c = 3\n", "after");
    let pre_push = |from: Option<&str>| {
        let mut env = vec![
            ("PRE_COMMIT", "1"),
            ("PRE_COMMIT_TO_REF", "HEAD"),
            ("PRE_COMMIT_LOCAL_BRANCH", "refs/heads/main"),
        ];
        if let Some(f) = from {
            env.push(("PRE_COMMIT_FROM_REF", f));
        }
        r.leakgate_env(&r.dir, &["pre-push", "origin", "/nowhere.git"], &env)
    };
    let from_base = pre_push(Some(&base));
    from_base.code(1);
    has(&from_base, &bad[..12]);
    pre_push(Some(&bad)).code(0);
    // No FROM_REF: everything up to TO_REF is new to the remote.
    let whole = pre_push(None);
    whole.code(1);
    has(&whole, &bad[..12]);
}

#[test]
fn install_honours_a_relative_core_hooks_path() {
    let r = TestRepo::new();
    r.git(&["config", "core.hooksPath", ".githooks"]);
    r.leakgate(&["install"]).code(0);
    assert!(r.dir.join(".githooks/pre-commit").is_file());
    assert!(!r.dir.join(".git/hooks/pre-commit").exists());
    assert_eq!(
        git_path_hooks(&r, &r.dir),
        r.dir.join(".githooks").canonicalize().unwrap()
    );
    // Run from a subdirectory: still the top-level .githooks, as git resolves it.
    std::fs::create_dir_all(r.dir.join("sub")).unwrap();
    r.leakgate_in(&r.dir.join("sub"), &["install"])
        .code(0)
        .stderr_has("already installed");
    assert!(!r.dir.join("sub/.githooks").exists());
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    refused(&r.try_git(&["commit", "-m", "leak"]));
}

#[test]
fn install_honours_an_absolute_core_hooks_path() {
    let r = TestRepo::new();
    let dir = r.tmp().join("shared-hooks");
    r.git(&["config", "core.hooksPath", dir.to_str().unwrap()]);
    r.leakgate(&["install"]).code(0);
    assert!(dir.join("pre-commit").is_file());
    assert!(!r.dir.join(".git/hooks/pre-commit").exists());
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    let c = r.try_git(&["commit", "-m", "leak"]);
    refused(&c);
    has(&c, "huggingface-token");
    r.leakgate(&["uninstall"]).code(0);
    assert!(!dir.join("pre-commit").exists());
}

#[test]
fn install_from_a_linked_worktree_uses_the_common_hooks_dir() {
    let r = TestRepo::new();
    commit_file(&r, "a.py", "x = 1\n", "c1");
    let wt = r.tmp().join("wt");
    r.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature",
        wt.to_str().unwrap(),
    ]);
    r.leakgate_in(&wt, &["install"]).code(0);
    let common = r.dir.join(".git/hooks/pre-commit");
    assert!(common.is_file(), "hook goes to the common hooks dir");
    assert!(!r.dir.join(".git/worktrees/wt/hooks").exists());
    assert_eq!(
        git_path_hooks(&r, &wt),
        r.dir.join(".git/hooks").canonicalize().unwrap()
    );
    // It guards both worktrees.
    std::fs::write(wt.join("b.py"), format!("t = '{HF_A}'\n")).unwrap();
    r.git_in(&wt, &["add", "b.py"]);
    refused(&r.try_git_in(&wt, &["commit", "-m", "leak in worktree"]));
    r.stage("c.py", format!("t = '{HF_B}'\n"));
    refused(&r.try_git(&["commit", "-m", "leak in main"]));
}

#[test]
fn installing_twice_changes_nothing() {
    let r = TestRepo::new();
    let hooks = git_path_hooks(&r, &r.dir);
    write_hook(&hooks.join("pre-commit"), "#!/bin/sh\nexit 0\n");
    r.leakgate(&["install", "--hook", "both"]).code(0);
    let first = snapshot(&hooks);
    r.leakgate(&["install", "--hook", "both"])
        .code(0)
        .stderr_has("already installed");
    assert_eq!(snapshot(&hooks), first);
    // Our own shim was not chained to itself.
    assert_eq!(
        read(&hooks.join("pre-commit.leakgate-chained")),
        b"#!/bin/sh\nexit 0\n"
    );
}

#[test]
fn uninstall_restores_the_original_hook_byte_for_byte() {
    let r = TestRepo::new();
    let hooks = git_path_hooks(&r, &r.dir);
    let before = snapshot(&hooks);
    // Odd bytes on purpose: CRLF, no final newline, non-UTF-8, an unusual mode.
    let original: &[u8] = b"#!/bin/sh\r\n# caf\xe9\r\nexit 0";
    std::fs::write(hooks.join("pre-commit"), original).unwrap();
    set_mode(&hooks.join("pre-commit"), 0o750);
    let with_original = snapshot(&hooks);
    r.leakgate(&["install", "--hook", "both"]).code(0);
    r.leakgate(&["uninstall"]).code(0);
    assert_eq!(read(&hooks.join("pre-commit")), original);
    assert_eq!(mode(&hooks.join("pre-commit")), 0o750);
    assert_eq!(snapshot(&hooks), with_original, "no leftovers");
    // Uninstalling again is a no-op that says so.
    r.leakgate(&["uninstall"])
        .code(0)
        .stderr_has("no leakgate pre-commit hook");
    std::fs::remove_file(hooks.join("pre-commit")).unwrap();
    // Fresh install + uninstall leaves the directory as it was.
    r.leakgate(&["install"]).code(0);
    r.leakgate(&["uninstall"]).code(0);
    assert_eq!(snapshot(&hooks), before);
}

#[test]
fn force_replaces_a_foreign_hook_and_uninstall_restores_it() {
    let r = TestRepo::new();
    let hooks = git_path_hooks(&r, &r.dir);
    let marker = r.tmp().join("ran");
    let custom = format!("#!/bin/sh\ntouch '{}'\n", marker.display());
    write_hook(&hooks.join("pre-commit"), &custom);
    r.leakgate(&["install", "--force"])
        .code(0)
        .stderr_has("replaced");
    assert!(!hooks.join("pre-commit.leakgate-chained").exists());
    r.stage("a.py", "x = 1\n");
    succeeded(&r.try_git(&["commit", "-q", "-m", "clean"]));
    assert!(!marker.exists(), "a replaced hook does not run");
    r.leakgate(&["uninstall"]).code(0);
    assert_eq!(read(&hooks.join("pre-commit")), custom.as_bytes());
    assert!(!hooks.join("pre-commit.leakgate-orig").exists());
}

#[test]
fn pre_commit_framework_hook_is_recognised_and_left_alone() {
    let r = TestRepo::new();
    let fw = Framework::new(&r, true);
    r.stage(".pre-commit-config.yaml", "repos: []\n");
    r.commit("cfg");
    let out = fw.run(&r, &["install", "--hook-type", "pre-commit"]);
    assert_eq!(out.code, 0, "{}", out.dump());
    let hooks = git_path_hooks(&r, &r.dir);
    let theirs = read(&hooks.join("pre-commit"));
    let refuse = r.leakgate(&["install", "--hook", "both"]);
    refuse
        .code(2)
        .stderr_has("pre-commit framework")
        .stderr_has(".pre-commit-config.yaml");
    assert_eq!(read(&hooks.join("pre-commit")), theirs, "untouched");
    assert!(
        !hooks.join("pre-push").exists(),
        "--hook both fails as a whole"
    );

    // --force replaces it; uninstall puts the framework's hook back byte for byte.
    r.leakgate(&["install", "--force"]).code(0);
    assert_ne!(read(&hooks.join("pre-commit")), theirs);
    r.leakgate(&["uninstall"]).code(0);
    assert_eq!(read(&hooks.join("pre-commit")), theirs);
}

#[test]
fn framework_installed_after_leakgate_keeps_running_it_and_uninstall_finds_it() {
    let r = TestRepo::new();
    let fw = Framework::new(&r, true);
    r.stage(".pre-commit-config.yaml", "repos: []\n");
    r.commit("cfg");
    r.leakgate(&["install"]).code(0);
    let hooks = git_path_hooks(&r, &r.dir);
    let ours = read(&hooks.join("pre-commit"));
    // `pre-commit install` moves our shim to pre-commit.legacy and runs it ("migration mode").
    let out = fw.run(&r, &["install", "--hook-type", "pre-commit"]);
    assert_eq!(out.code, 0, "{}", out.dump());
    assert_eq!(read(&hooks.join("pre-commit.legacy")), ours);
    r.leakgate(&["install"])
        .code(0)
        .stderr_has("already installed");
    r.stage("a.py", format!("t = '{HF_A}'\n"));
    let c = fw.git(&r, &["commit", "-m", "leak"]);
    refused(&c);
    has(&c, "huggingface-token");
    r.leakgate(&["uninstall"]).code(0);
    assert!(!hooks.join("pre-commit.legacy").exists());
    assert!(
        hooks.join("pre-commit").is_file(),
        "the framework's hook stays"
    );
}

// ---------------------------------------------------------------------------------------------
// pre-push with git's own protocol

fn pre_push_repo() -> (TestRepo, PathBuf) {
    let r = TestRepo::new();
    let bare = add_bare_remote(&r);
    r.leakgate(&["install", "--hook", "pre-push"]).code(0);
    (r, bare)
}

#[test]
fn push_whose_second_commit_adds_a_token_is_refused_naming_that_commit() {
    let (r, _) = pre_push_repo();
    commit_file(&r, "a.py", "a = 1\n", "c0");
    // A new branch on an empty remote with a clean history goes through.
    succeeded(&r.try_git(&["push", "-q", "origin", "main"]));
    let pushed = r.head();
    let first = commit_file(&r, "b.py", "b = 2\n", "c1 clean");
    let bad = commit_file(&r, "c.py", &format!("K = '{HF_A}'\n"), "c2 leak");
    commit_file(&r, "d.py", "d = 4\n", "c3 clean");
    let push = r.try_git(&["push", "origin", "main"]);
    refused(&push);
    has(&push, "huggingface-token");
    has(&push, &format!("c.py:1:6 in commit {}", &bad[..12]));
    // The advice fits pushed history, not a commit in progress.
    has(&push, "git rebase -i");
    has(&push, "git push --no-verify");
    lacks(&push, "git restore --staged");
    lacks(&push, &first[..12]);
    lacks(&push, HF_A);
    assert_eq!(remote_sha(&r, "main").as_deref(), Some(pushed.as_str()));

    // Once history is rewritten without the token, the push goes through.
    r.git(&["reset", "-q", "--hard", &first]);
    commit_file(&r, "c.py", "K = os.environ['K']\n", "c2 fixed");
    succeeded(&r.try_git(&["push", "-q", "origin", "main"]));
    assert_eq!(remote_sha(&r, "main"), Some(r.head()));
}

#[test]
fn new_branch_push_scans_only_commits_the_remote_lacks() {
    let (r, _) = pre_push_repo();
    // An old token already on the remote (pushed past the hook) is not the new branch's doing.
    commit_file(&r, "old.py", &format!("K = '{HF_A}'\n"), "old leak");
    succeeded(&r.try_git(&["push", "-q", "--no-verify", "origin", "main"]));
    r.git(&["checkout", "-q", "-b", "feature"]);
    commit_file(&r, "f.py", "f = 1\n", "feature work");
    let push = r.try_git(&["push", "origin", "feature"]);
    succeeded(&push);
    has(&push, "1 commit to push");
    // A second new branch that adds a token is refused.
    r.git(&["checkout", "-q", "-b", "feature2"]);
    let bad = commit_file(&r, "g.py", &format!("K = '{HF_B}'\n"), "leak");
    let push = r.try_git(&["push", "origin", "feature2"]);
    refused(&push);
    has(&push, &bad[..12]);
    assert_eq!(remote_sha(&r, "feature2"), None);
}

#[test]
fn deleting_a_remote_branch_is_allowed() {
    let (r, _) = pre_push_repo();
    commit_file(&r, "a.py", "a = 1\n", "c0");
    r.git(&["checkout", "-q", "-b", "leaky"]);
    commit_file(&r, "k.py", &format!("K = '{HF_A}'\n"), "leak");
    succeeded(&r.try_git(&["push", "-q", "--no-verify", "origin", "main", "leaky"]));
    r.git(&["checkout", "-q", "main"]);
    let del = r.try_git(&["push", "origin", "--delete", "leaky"]);
    succeeded(&del);
    assert_eq!(remote_sha(&r, "leaky"), None);
}

#[test]
fn pushing_several_refs_checks_all_of_them() {
    let (r, _) = pre_push_repo();
    commit_file(&r, "a.py", "a = 1\n", "c0");
    succeeded(&r.try_git(&["push", "-q", "origin", "main"]));
    r.git(&["checkout", "-q", "-b", "clean-one"]);
    commit_file(&r, "b.py", "b = 1\n", "clean");
    r.git(&["checkout", "-q", "-b", "leaky-one", "main"]);
    let bad = commit_file(&r, "c.py", &format!("K = '{HF_A}'\n"), "leak");
    let push = r.try_git(&["push", "origin", "clean-one", "leaky-one"]);
    refused(&push);
    has(&push, &bad[..12]);
    // git pushes all or nothing when the hook refuses.
    assert_eq!(remote_sha(&r, "clean-one"), None);
}

#[test]
fn pre_push_mode_reads_the_protocol_lines() {
    let r = TestRepo::new();
    let c0 = commit_file(&r, "a.py", "a = 1\n", "c0");
    let bad = commit_file(&r, "k.py", &format!("K = '{HF_A}'\n"), "leak");
    let cases: Vec<(&str, String, i32)> = vec![
        (
            "existing branch",
            format!("refs/heads/main {bad} refs/heads/main {c0}\n"),
            1,
        ),
        (
            "remote already has it",
            format!("refs/heads/main {bad} refs/heads/main {bad}\n"),
            0,
        ),
        (
            "new branch, nothing known remotely",
            format!("refs/heads/main {bad} refs/heads/main {ZEROS}\n"),
            1,
        ),
        (
            "deletion",
            format!("(delete) {ZEROS} refs/heads/old {bad}\n"),
            0,
        ),
        ("nothing", String::new(), 0),
    ];
    for (name, stdin, want) in cases {
        let input = r.tmp().join("stdin");
        std::fs::write(&input, &stdin).unwrap();
        let mut c = r.command(BIN, &r.dir);
        c.args(["pre-push", "origin", "url", "--format", "json"])
            .stdin(std::fs::File::open(&input).unwrap());
        let out = c.output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            code,
            want,
            "{name}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if want == 1 {
            let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(v["findings"][0]["commit"], bad.as_str(), "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// check-range

#[test]
fn check_range_findings_carry_the_commit() {
    let r = TestRepo::new();
    let c0 = commit_file(&r, "a.py", "a = 1\n", "c0");
    let bad = commit_file(&r, "k.py", &format!("x = 1\nK = '{HF_A}'\n"), "leak");
    commit_file(&r, "b.py", "b = 2\n", "clean");
    let run = r.leakgate(&["check-range", &format!("{c0}..HEAD"), "--format", "json"]);
    run.code(1);
    assert_eq!(run.rules(), ["huggingface-token"]);
    let v = run.json();
    let f = &v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["commit"], bad.as_str());
    assert_eq!(f[0]["path"], "k.py");
    assert_eq!(f[0]["line"], 2);
    // Human output names the commit (first 12 hex digits).
    r.leakgate(&["check-range", &format!("{c0}..HEAD")])
        .code(1)
        .stderr_has(&format!("k.py:2:6 in commit {}", &bad[..12]))
        .stderr_has("2 commits");
    // The range before the leak is clean; a single revision scans that commit only.
    r.leakgate(&["check-range", &format!("{c0}..{}", rev(&r, "HEAD~2"))])
        .code(0);
    r.leakgate(&["check-range", "HEAD"]).code(0);
    r.leakgate(&["check-range", &bad]).code(1);
    r.leakgate(&["check-range", "nope..HEAD"])
        .code(2)
        .stderr_has("nope");
}

#[test]
fn check_range_reports_a_token_that_a_later_commit_removed() {
    let r = TestRepo::new();
    let c0 = commit_file(&r, "a.py", "a = 1\n", "c0");
    let bad = commit_file(&r, "a.py", &format!("a = 1\nK = '{HF_A}'\n"), "leak");
    commit_file(&r, "a.py", "a = 1\n", "remove it again");
    let run = r.leakgate(&["check-range", &format!("{c0}..HEAD"), "--format", "json"]);
    run.code(1);
    let v = run.json();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["findings"][0]["commit"], bad.as_str());
}

#[test]
fn check_range_merge_commits_do_not_double_report() {
    let r = TestRepo::new();
    let c0 = commit_file(&r, "a.py", "a = 1\n", "c0");
    r.git(&["checkout", "-q", "-b", "feat"]);
    let leak = commit_file(&r, "f.py", &format!("K = '{HF_A}'\n"), "feature leak");
    r.git(&["checkout", "-q", "main"]);
    commit_file(&r, "m.py", "m = 1\n", "main work");
    r.git(&[
        "merge",
        "-q",
        "--no-ff",
        "--no-verify",
        "-m",
        "merge feat",
        "feat",
    ]);
    let run = r.leakgate(&["check-range", &format!("{c0}..HEAD"), "--format", "json"]);
    run.code(1);
    let v = run.json();
    let f = v["findings"].as_array().unwrap();
    assert_eq!(
        f.len(),
        1,
        "reported once, by the commit that added it\n{v:#}"
    );
    assert_eq!(f[0]["commit"], leak.as_str());

    // An evil merge — a token introduced by the merge commit itself — is the merge's finding.
    r.git(&["checkout", "-q", "-b", "feat2", &c0]);
    commit_file(&r, "g.py", "g = 1\n", "feat2 work");
    r.git(&["checkout", "-q", "main"]);
    r.git(&["merge", "-q", "--no-ff", "--no-commit", "feat2"]);
    r.stage("g.py", format!("g = 1\nK = '{HF_B}'\n"));
    r.git(&["commit", "-q", "--no-verify", "-m", "evil merge"]);
    let merge = r.head();
    let run = r.leakgate(&["check-range", &format!("{c0}..HEAD"), "--format", "json"]);
    run.code(1);
    let v = run.json();
    let mut commits: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["commit"].as_str().unwrap().to_string())
        .collect();
    commits.sort();
    let mut want = vec![leak.clone(), merge.clone()];
    want.sort();
    assert_eq!(commits, want, "{v:#}");
}

// ---------------------------------------------------------------------------------------------
// check-staged PATH…

#[test]
fn check_staged_path_with_staged_changes_scans_only_added_lines() {
    let r = TestRepo::new();
    commit_file(&r, "s.py", &format!("K = '{HF_A}'\n"), "old");
    r.stage("s.py", format!("K = '{HF_A}'\nx = 1\n"));
    // A token staged in another file is outside the named paths.
    r.stage("other.py", format!("K = '{HF_B}'\n"));
    let run = r.leakgate(&["check-staged", "s.py", "--format", "json"]);
    run.code(0);
    let v = run.json();
    assert_eq!(v["scanned"]["files"], 1, "{v:#}");
    assert_eq!(v["scanned"]["lines"], 1, "only the added line\n{v:#}");
    // Without paths, everything staged.
    r.leakgate(&["check-staged"]).code(1);
}

#[test]
fn check_staged_named_path_without_staged_changes_scans_its_whole_content() {
    let r = TestRepo::new();
    commit_file(&r, "old.py", &format!("x = 1\nK = '{HF_A}'\n"), "old");
    r.leakgate(&["check-staged"]).code(0);
    let run = r.leakgate(&["check-staged", "old.py", "--format", "json"]);
    run.code(1);
    let v = run.json();
    assert_eq!(v["findings"][0]["path"], "old.py");
    assert_eq!(v["findings"][0]["line"], 2);
    assert_eq!(v["scanned"]["lines"], 2);
    // The staged content, not the working tree's.
    r.write("old.py", "x = 1\n");
    r.leakgate(&["check-staged", "old.py"]).code(1);
    // An absolute path inside the repository is the same path.
    let abs = r.dir.join("old.py");
    r.leakgate(&["check-staged", abs.to_str().unwrap()]).code(1);
}

#[test]
fn check_staged_directory_path_covers_what_is_below_it() {
    let r = TestRepo::new();
    commit_file(&r, "lib/deep/a.py", &format!("K = '{HF_A}'\n"), "in lib");
    commit_file(&r, "libx/b.py", &format!("K = '{HF_B}'\n"), "in libx");
    let run = r.leakgate(&["check-staged", "lib", "--format", "json"]);
    run.code(1);
    let v = run.json();
    let paths = finding_field(&v, "path");
    assert_eq!(paths, ["lib/deep/a.py"], "libx/ is not below lib/\n{v:#}");
    r.leakgate(&["check-staged", "lib/"]).code(1);
}

#[test]
fn check_staged_path_from_a_subdirectory() {
    let r = TestRepo::new();
    commit_file(&r, "sub/dir/x.py", &format!("K = '{HF_A}'\n"), "c1");
    commit_file(&r, "top.py", &format!("K = '{HF_B}'\n"), "c2");
    let sub = r.dir.join("sub/dir");
    let run = r.leakgate_in(&sub, &["check-staged", "x.py", "--format", "json"]);
    run.code(1);
    let v = run.json();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["findings"][0]["path"], "sub/dir/x.py");
    let run = r.leakgate_in(&sub, &["check-staged", "../../top.py", "--format", "json"]);
    run.code(1);
    assert_eq!(run.json()["findings"][0]["path"], "top.py");
}

#[test]
fn check_staged_path_outside_the_repository_is_an_error() {
    let r = TestRepo::new();
    commit_file(&r, "a.py", "a = 1\n", "c1");
    let outside = r.tmp().join("elsewhere.py");
    std::fs::write(&outside, format!("K = '{HF_A}'\n")).unwrap();
    r.leakgate(&["check-staged", outside.to_str().unwrap()])
        .code(2)
        .stderr_has("outside the repository");
    r.leakgate(&["check-staged", "../elsewhere.py"])
        .code(2)
        .stderr_has("outside the repository");
}

#[test]
fn check_staged_named_path_git_does_not_track_is_listed_not_silently_clean() {
    let r = TestRepo::new();
    r.stage("tracked.py", "x = 1\n");
    r.write("untracked.py", format!("K = '{HF_A}'\n"));
    let run = r.leakgate(&[
        "check-staged",
        "--format",
        "json",
        "untracked.py",
        "typo.py",
    ]);
    run.code(0);
    let v = run.json();
    let skipped: Vec<(&str, &str)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("typo.py", "not in the index (untracked?)"),
            ("untracked.py", "not in the index (untracked?)")
        ],
        "{}",
        run.dump()
    );
}

#[test]
fn hook_without_a_binary_blocks_and_says_how_to_install() {
    let r = TestRepo::new();
    // The shim as shipped (no remembered binary path), with no leakgate on PATH.
    let shim =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/pre-commit"))
            .unwrap();
    let hook = r.dir.join(".git/hooks/pre-commit");
    write_hook(&hook, &shim);
    r.stage("a.py", "x = 1\n");
    let git_dir = Path::new(
        &String::from_utf8_lossy(
            &std::process::Command::new("sh")
                .args(["-c", "command -v git"])
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_string(),
    )
    .parent()
    .unwrap()
    .to_path_buf();
    let mut c = r.command("git", &r.dir);
    c.args(["commit", "-m", "x"])
        .env("PATH", format!("{}:/usr/bin:/bin", git_dir.display()));
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "commit must be blocked:\n{stderr}");
    assert!(stderr.contains("leakgate binary was not found"), "{stderr}");
    assert!(
        stderr.contains("install.sh") && stderr.contains("--no-verify"),
        "{stderr}"
    );
    assert_ne!(
        r.try_git(&["rev-parse", "--verify", "HEAD"]).code,
        0,
        "no commit was made"
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    let r = TestRepo::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = r.leakgate(&["completions", shell]);
        run.code(0);
        assert!(
            run.stdout.contains("check-staged"),
            "{shell}\n{}",
            run.dump()
        );
    }
    r.leakgate(&["completions", "tcsh"]).code(2);
}

#[test]
fn check_range_over_many_commits_shows_progress_on_a_terminal_only() {
    let r = TestRepo::new();
    let first = commit_file(&r, "f.txt", "0\n", "c0");
    for i in 1..=25 {
        commit_file(&r, "f.txt", &format!("{i}\n"), &format!("c{i}"));
    }
    let range = format!("{first}..HEAD");
    // Not a terminal: no progress bar in the output a CI log keeps.
    let plain = r.leakgate(&["check-range", &range]);
    plain.code(0);
    lacks(&plain, "25/25 commits");
    // A terminal (a pty from util-linux `script`): the bar is drawn on stderr.
    let cmd = format!("{} check-range {range}", crate::harness::BIN);
    let mut c = r.command("script", &r.dir);
    c.args(["-qec", &cmd, "/dev/null"]);
    let out = c
        .output()
        .expect("util-linux `script` provides the pseudo-terminal");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("25/25 commits"), "{shown}");
}

//! Adoption without Rust: the pip wheel `leakgate-bin` (maturin, `bindings = "bin"`) installed
//! into a fresh virtualenv with no Rust on PATH and no network, and the pre-commit framework's
//! `language: python` hook installing that wheel from a local wheel directory.
//!
//! The wheel is a release build: it is built ONCE per test run, lazily, by the first test that
//! needs it, into target/wheel-dist (maturin from target/test-venv, which tests/run.sh installs).
//! Missing maturin is a failure, not a skip.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use crate::harness::*;
use crate::workflows::{
    framework_pre_push_scenario, framework_scenario, hook_repo_snapshot, lacks, pre_commit_exe,
    run_env, write_config, Framework,
};

const DIST: &str = "leakgate-bin";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A program from the test virtualenv (tests/run.sh puts its bin/ first on PATH).
fn venv_tool(name: &str) -> PathBuf {
    let p = manifest_dir().join("target/test-venv/bin").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run the tests with `bash tests/run.sh` (it installs tests/requirements.txt \
         into target/test-venv)",
        p.display()
    );
    p
}

/// The directory holding the freshly built `leakgate-bin` wheel, built once per test process.
/// maturin runs in a clean environment: nothing of `cargo test`'s own (OUT_DIR, CARGO_*, RUST*)
/// may leak into the build it starts.
fn wheel_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = manifest_dir().join("target/wheel-dist");
        let _ = std::fs::remove_dir_all(&out);
        let mut c = Command::new(venv_tool("maturin"));
        c.current_dir(manifest_dir().join("python/leakgate-bin"))
            .args(["build", "--release", "--locked", "--out"])
            .arg(&out)
            .env_clear();
        for k in [
            "PATH",
            "HOME",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "TMPDIR",
            "LANG",
        ] {
            if let Some(v) = std::env::var_os(k) {
                c.env(k, v);
            }
        }
        let started = Instant::now();
        let o = c.output().expect("run maturin");
        assert!(
            o.status.success(),
            "maturin build failed\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        eprintln!("maturin build of the wheel took {:.0?}", started.elapsed());
        out
    })
}

/// PATH without Rust: every directory holding `cargo` or `rustc` is dropped, and so is the
/// directory of the binary under test, so only what the wheel installed can answer `leakgate`.
fn path_without_rust(first: &[PathBuf]) -> OsString {
    let bin_dir = Path::new(BIN).parent().unwrap().to_path_buf();
    let mut dirs: Vec<PathBuf> = first.to_vec();
    dirs.extend(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).filter(|d| {
            *d != bin_dir
                && !d.join("cargo").exists()
                && !d.join("rustc").exists()
                && !d.join("leakgate").exists()
        }),
    );
    std::env::join_paths(dirs).unwrap()
}

fn test_python() -> OsString {
    std::env::var_os("LEAKGATE_TEST_PYTHON").unwrap_or_else(|| "python3".into())
}

/// The documented pip route: a fresh virtualenv, `pip install --no-index --find-links DIR
/// leakgate-bin`, then the installed `leakgate` (native, in the venv's bin/) scans a real commit.
#[test]
fn pip_wheel_installs_into_a_fresh_venv_without_rust_and_blocks() {
    let wheels = wheel_dir();
    let r = TestRepo::new();
    let venv = r.tmp().join("venv");
    let made = Command::new(test_python())
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python -m venv");
    assert!(made.status.success(), "{made:?}");
    let bin = venv.join("bin");
    let path = path_without_rust(std::slice::from_ref(&bin));
    let env = [("PATH", path)];
    let run =
        |program: &Path, args: &[&str]| run_env(&r, program.to_str().unwrap(), &r.dir, args, &env);
    let pip = bin.join("pip");
    let started = Instant::now();
    let install = run(
        &pip,
        &[
            "install",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            wheels.to_str().unwrap(),
            DIST,
        ],
    );
    install.code(0);
    eprintln!("pip install of the wheel took {:.1?}", started.elapsed());

    let leakgate = bin.join("leakgate");
    // A native executable, not a Python console script.
    let head = std::fs::read(&leakgate).expect("the wheel installs bin/leakgate");
    assert!(
        !head.starts_with(b"#!"),
        "bin/leakgate is the native binary, not a script"
    );
    let version = run(&leakgate, &["--version"]);
    version.code(0);
    assert!(
        version
            .stdout
            .contains(concat!("leakgate ", env!("CARGO_PKG_VERSION"))),
        "{}",
        version.dump()
    );

    r.stage("app.py", format!("TOKEN = \"{HF_A}\"\n"));
    let blocked = run(&leakgate, &["check-staged"]);
    blocked.code(1).stderr_has("huggingface-token");
    blocked.output_lacks(HF_A);
    r.stage("app.py", "import os\nTOKEN = os.environ[\"HF_TOKEN\"]\n");
    run(&leakgate, &["check-staged"]).code(0);
}

/// `language: python`: the framework pip-installs the hook repository's root package, which only
/// depends on `leakgate-bin`; with PIP_NO_INDEX and PIP_FIND_LINKS pointing at the built wheel,
/// first use is a wheel install (nothing compiled, no network), and the hooks block and scan.
#[test]
fn pre_commit_framework_python_hook_installs_the_wheel_blocks_and_scans() {
    let wheels = wheel_dir();
    let r = TestRepo::new();
    let home = r.tmp().join("pre-commit-home");
    let fw = Framework {
        exe: pre_commit_exe(),
        env: vec![
            ("PRE_COMMIT_HOME", home.clone().into_os_string()),
            ("PATH", path_without_rust(&[])),
            ("PIP_NO_INDEX", "1".into()),
            ("PIP_FIND_LINKS", wheels.as_os_str().to_owned()),
            ("PIP_DISABLE_PIP_VERSION_CHECK", "1".into()),
        ],
    };
    // Nothing could be compiled: no cargo on the framework's PATH, no index to fetch from.
    let path = &fw.env.iter().find(|(k, _)| *k == "PATH").unwrap().1;
    assert!(
        !std::env::split_paths(path).any(|d| d.join("cargo").exists()),
        "cargo must not be reachable"
    );
    let (hook_repo, sha) = hook_repo_snapshot(&r);
    write_config(
        &r,
        &hook_repo,
        &sha,
        &["leakgate-pip", "leakgate-pre-push-pip"],
    );
    let started = Instant::now();
    let install = fw.run(&r, &["install", "--install-hooks"]);
    assert_eq!(install.code, 0, "{}", install.dump());
    let took = started.elapsed();
    eprintln!("pre-commit install --install-hooks (language: python, wheel) took {took:.1?}");
    lacks(&install, "Compiling");

    // The hook's leakgate is the wheel's native binary inside the framework's environment.
    let installed: Vec<PathBuf> = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .flat_map(|repo| {
            std::fs::read_dir(repo.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|env| env.file_name().to_string_lossy().starts_with("py_env"))
        .map(|env| env.path().join("bin/leakgate"))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(
        installed.len(),
        1,
        "one wheel-installed leakgate: {installed:?}"
    );
    assert!(!std::fs::read(&installed[0]).unwrap().starts_with(b"#!"));

    framework_scenario(&r, &fw, "leakgate (credentials in staged changes)");
    framework_pre_push_scenario(&r, &fw);
}

/// The three version numbers a release must bump together: the crate, the wheel, and the
/// hook package's pin on the wheel (a mismatch makes the framework's install fail).
#[test]
fn wheel_and_hook_package_versions_match_the_crate() {
    let read = |rel: &str| std::fs::read_to_string(manifest_dir().join(rel)).unwrap();
    let crate_version = env!("CARGO_PKG_VERSION");
    let wheel = read("python/leakgate-bin/pyproject.toml");
    assert!(
        wheel.contains(&format!("\nversion = \"{crate_version}\"\n")),
        "python/leakgate-bin/pyproject.toml must carry version {crate_version}"
    );
    assert!(wheel.contains("\nname = \"leakgate-bin\"\n"));
    let backend = read("python/pre_commit_backend.py");
    assert!(
        backend.contains(&format!("\nVERSION = \"{crate_version}\"\n")),
        "python/pre_commit_backend.py must carry VERSION {crate_version}"
    );
    assert!(backend.contains("REQUIRES = [\"leakgate-bin==\" + VERSION]"));
}

// ---------------------------------------------------------------------------------------------
// CI output

/// Regression (issue 17): with `--format sarif --output FILE` a CI job printed nothing and exited
/// 1. The human report, redacted, now goes to stderr whatever the report format and destination.
#[test]
fn ci_sarif_output_file_still_prints_the_summary_on_stderr() {
    let r = TestRepo::new();
    r.stage("deploy/settings.py", format!("HF = \"{HF_A}\"\n"));
    let out = r.tmp().join("leakgate.sarif");
    let run = r.leakgate(&[
        "check-staged",
        "--format",
        "sarif",
        "--output",
        out.to_str().unwrap(),
    ]);
    run.code(1)
        .stderr_has("blocked")
        .stderr_has("deploy/settings.py:1")
        .stderr_has("huggingface-token")
        .output_lacks(HF_A);
    assert!(run.stdout.is_empty(), "{}", run.dump());
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"2.1.0\""));

    // JSON on stdout: stdout stays pure JSON, the summary is on stderr.
    let json = r.leakgate(&["check-staged", "--format", "json"]);
    json.code(1)
        .stderr_has("deploy/settings.py:1")
        .output_lacks(HF_A);
    assert_eq!(json.rules(), ["huggingface-token"]);
}

/// `--exit-code N` is the findings status (gitleaks' flag); an error still exits 2, and 2 itself
/// is refused so it keeps meaning "error".
#[test]
fn exit_code_sets_the_findings_status_and_errors_stay_2() {
    let r = TestRepo::new();
    r.stage("a.py", format!("T = '{HF_B}'\n"));
    r.leakgate(&["check-staged", "--exit-code", "7"]).code(7);
    r.leakgate(&["check-staged", "--exit-code", "0"])
        .code(0)
        .stderr_has("huggingface-token");
    r.leakgate(&["check-staged"]).code(1);
    r.leakgate(&["check-staged", "--exit-code", "2"])
        .code(2)
        .stderr_has("error status");
    r.leakgate(&["check-range", "no-such-rev", "--exit-code", "0"])
        .code(2);
    r.stage("a.py", "T = None\n");
    r.leakgate(&["check-staged", "--exit-code", "7"]).code(0);
}

/// SARIF describes the rules that fired, each with one remediation text and no made-up address;
/// `--sarif-all-rules` restores the whole catalog.
#[test]
fn sarif_describes_only_the_rules_that_fired() {
    let r = TestRepo::new();
    r.stage("a.py", format!("T = '{HF_C}'\n"));
    let v = r
        .leakgate(&["check-staged", "--format", "sarif"])
        .code(1)
        .json();
    let driver = &v["runs"][0]["tool"]["driver"];
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["huggingface-token"]);
    assert_eq!(v["runs"][0]["results"][0]["ruleIndex"], 0);
    let help = &rules[0]["help"];
    assert!(help["text"].as_str().unwrap().contains("huggingface.co"));
    assert!(
        help.get("markdown").is_none(),
        "one remediation text: {help}"
    );
    assert!(driver.get("informationUri").is_none());

    let all = r
        .leakgate(&["check-staged", "--format", "sarif", "--sarif-all-rules"])
        .code(1)
        .json();
    let all_rules = all["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(all_rules.len() >= 80, "{}", all_rules.len());
    let i = all["runs"][0]["results"][0]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(all_rules[i]["id"], "huggingface-token");
}

// ---------------------------------------------------------------------------------------------
// coming from gitleaks

/// gitleaks' report flags are accepted: `--report-path`, `--report-format`, and `--redact`
/// (a no-op: leakgate never prints a secret unless asked with --show-secrets).
#[test]
fn gitleaks_report_flags_are_accepted() {
    let r = TestRepo::new();
    r.stage("a.py", format!("T = '{HF_A}'\n"));
    let out = r.tmp().join("report.json");
    let run = r.leakgate(&[
        "check-staged",
        "--redact",
        "--report-format",
        "json",
        "--report-path",
        out.to_str().unwrap(),
    ]);
    run.code(1)
        .output_lacks(HF_A)
        .stderr_has("huggingface-token");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(finding_field(&v, "rule"), ["huggingface-token"]);
}

/// A real `.gitleaksignore`: `file:rule-id:line` entries (gitleaks' staged/no-git form, with
/// gitleaks' rule id) apply to staged changes; `commit:file:rule-id:line` entries apply to that
/// commit only, with a full or an abbreviated sha.
#[test]
fn gitleaksignore_entries_are_honoured_soundly() {
    let r = TestRepo::new();
    r.stage("README.md", "x\n");
    r.commit("init");
    r.stage("conf/a.py", format!("A = '{HF_A}'\nB = '{HF_B}'\n"));
    r.write(
        ".gitleaksignore",
        "# reviewed 2026-11: test fixture\nconf/a.py:huggingface-access-token:1\n",
    );
    let run = r.leakgate(&["check-staged", "--format", "json"]);
    run.code(1);
    let v = run.json();
    assert_eq!(finding_field(&v, "rule"), ["huggingface-token"]);
    assert!(run.stdout.contains("\"line\": 2"), "{}", run.dump());
    r.write(
        ".gitleaksignore",
        "conf/a.py:huggingface-access-token:1\nconf/a.py:huggingface-token:2\n",
    );
    r.leakgate(&["check-staged"]).code(0);
    r.commit("two tokens");
    let sha = r.head();

    // History: an entry naming the commit (abbreviated) covers it; a wrong commit does not;
    // an entry with a commit never covers staged changes (they are not that commit).
    r.write(
        ".gitleaksignore",
        format!(
            "{}:conf/a.py:huggingface-access-token:1\n{}:conf/a.py:huggingface-access-token:2\n",
            &sha[..7],
            "f".repeat(40)
        ),
    );
    let range = r.leakgate(&["check-range", "HEAD", "--format", "json"]);
    range.code(1);
    assert_eq!(range.rules(), ["huggingface-token"]);
    assert!(range.stdout.contains("\"line\": 2"), "{}", range.dump());
    r.write(
        ".gitleaksignore",
        format!("{sha}:conf/a.py:huggingface-access-token:1\n{sha}:conf/a.py:huggingface-access-token:2\n"),
    );
    r.leakgate(&["check-range", "HEAD"]).code(0);
    r.stage("conf/b.py", format!("C = '{HF_C}'\n"));
    r.write(
        ".gitleaksignore",
        format!("{sha}:conf/b.py:huggingface-access-token:1\n"),
    );
    r.leakgate(&["check-staged"]).code(1);

    r.write(
        ".gitleaksignore",
        "conf/b.py:huggingface-access-token:one\n",
    );
    assert_fails_closed(
        &r.leakgate(&["check-staged"]),
        &[".gitleaksignore", "line 1"],
    );
}

/// A real `.gitleaks.toml`: the global `[allowlist]` (paths, stopwords), an `[[allowlists]]`
/// with `targetRules` and `condition = "AND"`, and a bad regex failing closed naming the file.
#[test]
fn gitleaks_toml_allowlists_are_honoured() {
    let r = TestRepo::new();
    r.stage("fixtures/keys.py", format!("K = '{HF_A}'\n"));
    r.stage("docs/guide.md", format!("token: {HF_B}\n"));
    r.stage("app/main.py", format!("T = '{HF_C}'\n"));
    r.write(
        ".gitleaks.toml",
        "title = \"team config\"\n[extend]\nuseDefault = true\n\
         [allowlist]\ndescription = \"fixtures\"\npaths = ['''^fixtures/''']\n\
         [[allowlists]]\ncondition = \"AND\"\ntargetRules = [\"huggingface-access-token\"]\n\
         paths = ['''\\.md$''']\nregexes = ['''^hf_gZ8''']\n",
    );
    let run = r.leakgate(&["check-staged", "--format", "json"]);
    run.code(1);
    let v = run.json();
    let paths = finding_field(&v, "path");
    assert_eq!(paths, ["app/main.py"], "{}", run.dump());

    // AND: the regex alone (in another file) is not enough.
    r.stage("app/other.py", format!("U = '{HF_B}'\n"));
    let v = r.check_json(1);
    let mut paths = finding_field(&v, "path");
    paths.sort();
    assert_eq!(paths, ["app/main.py", "app/other.py"]);

    r.write(
        ".gitleaks.toml",
        "[allowlist]\nregexes = ['''(unclosed''']\n",
    );
    assert_fails_closed(&r.leakgate(&["check-staged"]), &[".gitleaks.toml", "regex"]);
}

/// gitleaks rule ids work where leakgate takes a rule id, and a near miss gets a suggestion.
#[test]
fn gitleaks_rule_ids_are_accepted_with_did_you_mean() {
    let r = TestRepo::new();
    r.stage("a.py", format!("T = '{HF_A}'\n"));
    r.write(
        ".leakgate.toml",
        "disable = [\"huggingface-access-token\"]\n",
    );
    r.leakgate(&["check-staged"]).code(0);
    r.write(".leakgate.toml", "disable = [\"hugingface-token\"]\n");
    r.leakgate(&["check-staged"])
        .code(2)
        .stderr_has("did you mean `huggingface-token`?");
    r.write(
        ".leakgate.toml",
        "[overrides.huggingface-access-token]\nallow = ['^hf_4sx1']\n",
    );
    r.leakgate(&["check-staged"]).code(0);
    r.write(
        ".leakgate.toml",
        "[overrides.huggingface-acces-token]\nallow = ['^hf_4sx1']\n",
    );
    r.leakgate(&["check-staged"])
        .code(2)
        .stderr_has("did you mean `huggingface-access-token`?");
    std::fs::remove_file(r.dir.join(".leakgate.toml")).unwrap();

    let explain = r.leakgate(&["rules", "--explain", "huggingface-access-token"]);
    explain
        .code(0)
        .stderr_has("is leakgate's `huggingface-token`");
    assert!(
        explain.stdout.starts_with("huggingface-token"),
        "{}",
        explain.dump()
    );
    r.leakgate(&["rules", "--explain", "huggingface-acess-token"])
        .code(2)
        .stderr_has("did you mean `huggingface-access-token`?");
}

// ---------------------------------------------------------------------------------------------
// whole history

/// Regression (issue 17): onboarding a whole history with `<root>..HEAD` leaves the root commit
/// out. `check-range --all` scans every commit reachable from HEAD, the root included.
#[test]
fn check_range_all_includes_the_root_commit() {
    let r = TestRepo::new();
    r.stage("first.py", format!("A = '{HF_A}'\n"));
    r.commit("root commit with a token");
    let root = r.head();
    r.stage("clean.py", "x = 1\n");
    r.commit("clean");
    r.stage("later.py", format!("B = '{HF_B}'\n"));
    r.commit("later token");

    let partial = r.leakgate(&["check-range", &format!("{root}..HEAD"), "--format", "json"]);
    assert_eq!(finding_field(&partial.json(), "path"), ["later.py"]);
    let all = r.leakgate(&["check-range", "--all", "--format", "json"]);
    all.code(1).stderr_has("3 commits reachable from HEAD");
    let v = all.json();
    assert_eq!(finding_field(&v, "path"), ["first.py", "later.py"]);
    assert_eq!(finding_field(&v, "commit")[0], root);

    r.leakgate(&["check-range", "--all", "HEAD"]).code(2);
    let empty = TestRepo::new();
    empty
        .leakgate(&["check-range", "--all"])
        .code(2)
        .stderr_has("HEAD has no commit yet");
}

/// `baseline create --history` records what any commit added, so a secret removed since (still
/// in the history) does not block a later `check-range --all`.
#[test]
fn baseline_create_history_records_secrets_removed_since() {
    let r = TestRepo::new();
    r.stage("old.py", format!("A = '{HF_A}'\n"));
    r.commit("token");
    r.stage("old.py", "A = None\n");
    r.commit("token removed");
    r.leakgate(&["baseline", "create"])
        .code(0)
        .stderr_has("with 0 findings");
    r.leakgate(&["check-range", "--all"]).code(1);
    r.leakgate(&["baseline", "create", "--history"])
        .code(0)
        .stderr_has("with 1 finding");
    let baseline = std::fs::read_to_string(r.dir.join(".leakgate-baseline.json")).unwrap();
    assert!(!baseline.contains(HF_A));
    r.leakgate(&["check-range", "--all"]).code(0);
}

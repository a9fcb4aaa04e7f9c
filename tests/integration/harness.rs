//! Throwaway git repositories and an isolated way to run the built binary in them.
//!
//! Every command starts from a CLEARED environment plus an allowlist (`CHILD_ENV_PASSED`, then
//! its own HOME, a private global git config, no system config, NO_COLOR and a fixed locale), so
//! nothing of the outer environment reaches git, the binary or the pre-commit framework: not
//! `cargo test`'s own `OUT_DIR`, `CARGO_*`, `RUSTUP_TOOLCHAIN`, `RUST_BACKTRACE`, nor the `GIT_*`
//! of a hook `cargo test` may run in. A test that needs more (the framework's `language: rust`
//! build needs the real toolchain homes) adds it explicitly and says why.
//! `guarantees::children_see_no_cargo_environment` fails when anything leaks again.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_leakgate");

/// The only variables of the outer environment a child sees: where programs are (git, the
/// test venv's `pre-commit`, util-linux `script`) and where temporary files go.
pub const CHILD_ENV_PASSED: &[&str] = &["PATH", "TMPDIR"];

/// Synthetic tokens in real formats (made up; they authorise nothing).
pub const HF_A: &str = "hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T";
pub const HF_B: &str = "hf_gZ8HQ0NlNIcpAIFmB6NwEkyxBt5ZhFIYhI";
pub const HF_C: &str = "hf_t8txyqi2AryGIN03W1CkdkeQ4hF5z7mLYg";

/// What a child that runs the Rust toolchain (the framework's `language: rust` build, a wheel
/// build) needs on top of the cleared environment: rustup's `cargo` proxy finds the installed
/// toolchain through RUSTUP_HOME and the registry cache through CARGO_HOME (the harness HOME is
/// a temp dir), and a build that resolves dependencies reaches crates.io through the machine's
/// proxy and CA settings, when set. Add it to a command with `.envs(toolchain_env())`.
pub fn toolchain_env() -> Vec<(&'static str, OsString)> {
    let real_home = |var: &str, dir: &str| {
        std::env::var_os(var).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(dir).into_os_string()
        })
    };
    let mut env = vec![
        ("CARGO_HOME", real_home("CARGO_HOME", ".cargo")),
        ("RUSTUP_HOME", real_home("RUSTUP_HOME", ".rustup")),
    ];
    for k in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "CARGO_HTTP_CAINFO",
    ] {
        if let Some(v) = std::env::var_os(k) {
            env.push((k, v));
        }
    }
    env
}

pub struct TestRepo {
    root: tempfile::TempDir,
    pub dir: PathBuf,
    home: PathBuf,
}

/// The result of one command, with everything needed to explain a failure.
pub struct Run {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(cmd: String, out: Output) -> Run {
        Run {
            cmd,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn dump(&self) -> String {
        format!(
            "command: {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn code(&self, want: i32) -> &Run {
        assert_eq!(self.code, want, "unexpected exit status\n{}", self.dump());
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.dump()))
    }

    /// Rule ids of the JSON findings, in report order.
    #[track_caller]
    pub fn rules(&self) -> Vec<String> {
        finding_field(&self.json(), "rule")
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn output_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stderr.contains(needle) && !self.stdout.contains(needle),
            "output contains {needle:?}\n{}",
            self.dump()
        );
        self
    }
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("repo");
        let home = root.path().join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Test\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n[core]\n\tautocrlf = false\n",
        )
        .unwrap();
        let repo = TestRepo { root, dir, home };
        repo.git(&["init", "-q"]);
        repo
    }

    pub fn tmp(&self) -> &Path {
        self.root.path()
    }

    /// A command with the isolated environment, run in `cwd`.
    pub fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(cwd).env_clear();
        for k in CHILD_ENV_PASSED {
            if let Some(v) = std::env::var_os(k) {
                c.env(k, v);
            }
        }
        c.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("NO_COLOR", "1")
            // English messages from git (tests match them), UTF-8 for Python (the framework).
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, mut c: Command, shown: String) -> Run {
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        Run::from(shown, out)
    }

    /// `git ARGS` in the repository; panics with the output when git fails.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> Run {
        self.git_in(&self.dir, args)
    }

    #[track_caller]
    pub fn git_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let r = self.try_git_in(cwd, args);
        assert_eq!(r.code, 0, "git failed\n{}", r.dump());
        r
    }

    pub fn try_git(&self, args: &[&str]) -> Run {
        self.try_git_in(&self.dir, args)
    }

    pub fn try_git_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let mut c = self.command("git", cwd);
        c.args(args);
        self.run(c, format!("git {}", args.join(" ")))
    }

    /// The leakgate binary with ARGS, in the repository root.
    pub fn leakgate(&self, args: &[&str]) -> Run {
        self.leakgate_in(&self.dir, args)
    }

    pub fn leakgate_in(&self, cwd: &Path, args: &[&str]) -> Run {
        self.leakgate_env(cwd, args, &[])
    }

    pub fn leakgate_env(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(BIN, cwd);
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        self.run(c, format!("leakgate {}", args.join(" ")))
    }

    /// `check-staged --format json`, asserting the exit status.
    #[track_caller]
    pub fn check_json(&self, want: i32) -> serde_json::Value {
        let r = self.leakgate(&["check-staged", "--format", "json"]);
        r.code(want);
        r.json()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    pub fn stage(&self, rel: &str, content: impl AsRef<[u8]>) {
        self.write(rel, content);
        self.git(&["add", "--", rel]);
    }

    pub fn commit(&self, msg: &str) {
        self.git(&["commit", "-q", "--no-verify", "-m", msg]);
    }

    pub fn head(&self) -> String {
        self.try_git(&["rev-parse", "HEAD"])
            .stdout
            .trim()
            .to_string()
    }

    /// Install the pre-commit hook the way a user would.
    #[track_caller]
    pub fn install_hook(&self) {
        self.leakgate(&["install"]).code(0);
    }
}

/// The start of the second line of every error report: the commit is blocked; the rest of the
/// line names the way out (`--no-verify`).
pub const HINT: &str = "leakgate: nothing was let through: fix the cause above and retry";

/// An error run: exit 2, nothing on stdout, stderr exactly the one-line reason and the hint.
#[track_caller]
pub fn assert_fails_closed(run: &Run, reason_has: &[&str]) {
    run.code(2);
    assert!(
        run.stdout.is_empty(),
        "stdout must stay empty\n{}",
        run.dump()
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one reason line and the hint\n{}",
        run.dump()
    );
    assert!(
        lines[0].starts_with("leakgate: error: "),
        "reason line\n{}",
        run.dump()
    );
    for needle in reason_has {
        assert!(
            lines[0].contains(needle),
            "reason lacks {needle:?}\n{}",
            run.dump()
        );
    }
    assert!(
        lines[1].starts_with(HINT) && lines[1].contains("--no-verify"),
        "hint line\n{}",
        run.dump()
    );
}

/// One string field (`rule`, `path`, …) of every finding of a JSON report, in report order.
#[track_caller]
pub fn finding_field(report: &serde_json::Value, key: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array in {report:#}"))
        .iter()
        .map(|f| f[key].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Path of a committed fixture.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A synthetic key body: `lines` lines of 64 base64 characters from a seeded generator (it has
/// the shape of a PEM body and authorises nothing). It opens with `MIIA`: a DER SEQUENCE whose
/// declared length (at most 259 bytes) fits in the body, as the `pem-der` structural check
/// requires of a real key.
pub fn key_body(seed: u64, lines: usize) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert!(
        lines * 48 >= 260,
        "the body must hold what its header declares"
    );
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::from("MIIA");
    for line in 0..lines {
        for _ in 0..if line == 0 { 60 } else { 64 } {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(B64[(x % 64) as usize] as char);
        }
        out.push('\n');
    }
    out
}

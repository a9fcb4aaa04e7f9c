//! leakgate: a git pre-commit hook that blocks staged credentials.
//!
//! `main` is the only place that exits: `run` returns a status or an error, and this maps it to
//! the documented exit codes (0 clean, 1 findings, 2 error). Errors block too: a hook that cannot
//! read what is staged must not wave the commit through.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use leakgate::{cli, report, run};

/// The documented exit statuses (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Clean,
    /// 1 unless `--exit-code N` says otherwise (never 2: the flag refuses it).
    Findings(u8),
    Error,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Clean => 0,
            Exit::Findings(n) => n,
            Exit::Error => 2,
        })
    }
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Error
            } else {
                Exit::Clean
            }
            .into();
        }
    };
    let findings_status = cli.global.exit_code;
    // A bug must block like any other error: a panic would exit 101, which git treats as a
    // failed hook too, but without saying why or what to do.
    // The default hook would print the raw (unescaped) message and a backtrace first.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| run::run(cli)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(anyhow::anyhow!(
            "internal error (a bug in leakgate, please report it): {what}"
        ))
    });
    match result {
        Ok(run::Status::Clean) => Exit::Clean.into(),
        Ok(run::Status::Findings) => Exit::Findings(findings_status).into(),
        Err(e) => {
            // `eprintln!` panics when stderr cannot be written (a full disk behind a hook log):
            // the exit status is the message that must get through, so a failed write is let go.
            let _ = writeln!(
                std::io::stderr(),
                "leakgate: error: {}\n\
                 leakgate: nothing was let through: fix the cause above and retry \
                 (`--no-verify` on git commit or git push skips the check if you are sure).",
                report::sanitize(&format!("{e:#}"))
            );
            Exit::Error.into()
        }
    }
}

//! Command-line interface (clap derive). Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The rule-catalog version, kept as a literal so `--version` can name it at compile time.
/// Bump it whenever a rule is added, removed or changes meaning.
#[macro_export]
macro_rules! catalog_version {
    () => {
        "2026.11.1"
    };
}

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (rule catalog ",
    catalog_version!(),
    ")"
);

/// Block commits that carry credentials: staged added lines, Jupyter notebook cells and
/// outputs, encoded secrets and dangerous model files.
///
/// Exit status: 0 nothing found, 1 findings (the commit is blocked), 2 error (also blocks:
/// leakgate fails closed when it cannot read what is staged).
#[derive(Debug, Parser)]
#[command(name = "leakgate", version = VERSION, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Report format. JSON and SARIF go to stdout (or --output); the human report always goes
    /// to stderr as well, so a CI log shows what was found whatever the report format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human,
          visible_alias = "report-format")]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(
        long,
        short = 'o',
        global = true,
        value_name = "FILE",
        visible_alias = "report-path"
    )]
    pub output: Option<PathBuf>,
    /// Exit status when findings block (default 1; errors always exit 2, so 2 is refused).
    #[arg(long, global = true, value_name = "N", default_value_t = 1,
          value_parser = parse_exit_code)]
    pub exit_code: u8,
    /// SARIF: describe every rule of the catalog, not only the rules that fired.
    #[arg(long, global = true)]
    pub sarif_all_rules: bool,
    /// Accepted for gitleaks compatibility and ignored: leakgate always redacts secrets
    /// (see --show-secrets).
    #[arg(long, global = true)]
    pub redact: bool,
    /// Colour in the human report: auto = only on a terminal and when NO_COLOR is unset.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Config file to use instead of `.leakgate.toml` at the repository root.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// List skipped files and suppressed findings too.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Print secrets in full, for local triage only. Refused when CI is set.
    #[arg(long, global = true)]
    pub show_secrets: bool,
    /// Largest blob scanned, in bytes (K, M, G suffixes allowed); larger ones are reported as
    /// not scanned. Default 256M.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub max_blob_size: Option<u64>,
    /// How many nested encodings (base64 inside base64 …) to decode. Default 2; 0 turns off.
    #[arg(long, global = true, value_name = "N")]
    pub decode_depth: Option<usize>,
    /// List at most N findings (all are still counted and still block). Default 200.
    #[arg(long, global = true, value_name = "N")]
    pub max_findings: Option<usize>,
    /// Ignore the baseline file.
    #[arg(long, global = true)]
    pub no_baseline: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan what `git commit` is about to record (the default hook job).
    ///
    /// With PATHs, only those paths: staged added lines where they have staged changes, and
    /// their whole staged content where they have none (so `pre-commit run --all-files` scans).
    CheckStaged {
        /// Limit the scan to these files or directories.
        paths: Vec<PathBuf>,
    },
    /// Scan the lines added by every commit in a range, e.g. `origin/main..HEAD`.
    CheckRange {
        /// A revision range (`A..B`) or a single revision (that commit only).
        #[arg(required_unless_present = "all")]
        range: Option<String>,
        /// Every commit reachable from HEAD, the root commit included (onboarding a whole
        /// history; a progress bar shows on a terminal).
        #[arg(long, conflicts_with = "range")]
        all: bool,
    },
    /// Pre-push hook mode: read git's pre-push lines from stdin and scan the commits being pushed.
    PrePush {
        /// Remote name (git passes it).
        remote: Option<String>,
        /// Remote URL (git passes it).
        url: Option<String>,
    },
    /// Scan files and directories on disk as a whole, honouring .gitignore.
    Scan {
        /// Files or directories (default: the current directory).
        paths: Vec<PathBuf>,
        /// Also scan files that .gitignore excludes.
        #[arg(long)]
        no_ignore: bool,
    },
    /// List the detector catalog, or explain one rule.
    Rules {
        /// Print one rule with its remediation.
        #[arg(long, value_name = "ID")]
        explain: Option<String>,
    },
    /// Record existing findings so only new ones block (adopting leakgate in an old repository).
    Baseline {
        #[command(subcommand)]
        action: BaselineAction,
    },
    /// Accept one current finding: record it in the baseline with the reason (who and when is
    /// left to git: commit the baseline).
    ///
    /// FINGERPRINT is the short (or full) fingerprint the report printed. It must belong to a
    /// finding of the staged changes (of PATHs' staged content when given, as check-staged).
    Allow {
        /// The fingerprint, or a unique prefix of it (the report prints 12 hex digits).
        fingerprint: String,
        /// Why this finding is safe to commit (a test fixture, a revoked key …).
        #[arg(long, required = true)]
        reason: String,
        /// Look for the finding in these paths' staged content, as `check-staged PATH…` does.
        paths: Vec<PathBuf>,
    },
    /// Clear the notebook outputs that carry findings, in the index and the working tree.
    ///
    /// Only the outputs named by a finding of the staged changes are removed (other outputs
    /// and every other byte of the notebook are kept); the working-tree copy loses the same
    /// outputs where it still has them, and keeps unstaged edits. Findings in cell sources
    /// and other files are listed, not changed. Exit 0 when nothing blocks any more, 1 when
    /// something remains.
    Fix {
        /// Fix only these paths (as `check-staged PATH…` scans them).
        paths: Vec<PathBuf>,
    },
    /// Install leakgate as a git hook in the current repository.
    Install {
        /// Which hook to install.
        #[arg(long, value_enum, default_value_t = HookChoice::PreCommit)]
        hook: HookChoice,
        /// Replace a hook leakgate does not recognise instead of chaining it.
        #[arg(long)]
        force: bool,
    },
    /// Remove leakgate's hook and restore what was there before.
    Uninstall {
        #[arg(long, value_enum, default_value_t = HookChoice::Both)]
        hook: HookChoice,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum BaselineAction {
    /// Write the baseline with every finding in the HEAD tree.
    Create {
        /// Also record what every commit reachable from HEAD added (secrets removed since are
        /// still in the history; a progress bar shows on a terminal).
        #[arg(long)]
        history: bool,
    },
    /// Drop baseline entries that are no longer found in the HEAD tree.
    Prune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookChoice {
    PreCommit,
    PrePush,
    Both,
}

/// Findings' exit status: any byte but 2, which means "error" and must keep meaning only that.
fn parse_exit_code(s: &str) -> Result<u8, String> {
    match s.trim().parse::<u8>() {
        Ok(2) => Err("2 is the error status; pick another (0 reports without blocking)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not an exit status (0-255)")),
    }
}

/// `1048576`, `512K`, `256M`, `1G` (binary multiples).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("`{s}` is not a size (e.g. 1048576, 512K, 256M, 1G)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exit_code_refuses_the_error_status() {
        assert_eq!(parse_exit_code("0"), Ok(0));
        assert_eq!(parse_exit_code("77"), Ok(77));
        assert!(parse_exit_code("2").is_err());
        assert!(parse_exit_code("256").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("10"), Ok(10));
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}

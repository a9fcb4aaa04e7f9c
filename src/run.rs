//! The commands: each builds a source of changes, runs the shared pipeline, and returns whether
//! anything blocking was found. Nothing here exits the process; `main` maps the result.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use crate::cli::{BaselineAction, Cli, ColorChoice, Command, Format, Global};
use crate::config::{Baseline, BaselineEntry, Config, BASELINE_VERSION};
use crate::detect::{Detector, Policy};
use crate::git::{self, ObjectId};
use crate::repo::{self, Hide, Repo};
use crate::report::{self, Report, Style, Subject};
use crate::rules::Catalog;
use crate::source::{Outcome, Scanner, Settings};

mod fix;
mod history;

use history::commit_outcomes;

/// What a successful run found; errors travel as `Err` and become exit status 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Clean,
    Findings,
}

const DEFAULT_DECODE_DEPTH: usize = 2;
const DEFAULT_MAX_FINDINGS: usize = 200;

pub fn run(cli: Cli) -> Result<Status> {
    // Test seam, debug builds only (never in a release): a bug on demand, so a test can prove
    // main's panic guard still turns any panic into exit 2 with one line (guarantees.rs).
    #[cfg(debug_assertions)]
    if let Some(what) = std::env::var_os("LEAKGATE_TEST_PANIC") {
        panic!("{}", what.to_string_lossy());
    }
    let g = &cli.global;
    if g.show_secrets && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        bail!("--show-secrets is refused when CI is set: CI logs are shared and kept");
    }
    match &cli.command {
        Command::CheckStaged { paths } => check_staged(g, paths),
        Command::CheckRange { all: true, .. } => check_all(g),
        Command::CheckRange {
            range: Some(range), ..
        } => check_range(g, range),
        Command::CheckRange { range: None, .. } => bail!("check-range needs a range or --all"),
        Command::PrePush { remote, .. } => pre_push(g, remote.as_deref()),
        Command::Scan { paths, no_ignore } => scan_paths(g, paths, *no_ignore),
        Command::Rules { explain } => rules(g, explain.as_deref()),
        Command::Baseline { action } => baseline(g, action),
        Command::Allow {
            fingerprint,
            reason,
            paths,
        } => allow(g, fingerprint, reason, paths),
        Command::Fix { paths } => fix::fix(g, paths),
        Command::Install { hook, force } => crate::install::install(*hook, *force),
        Command::Uninstall { hook } => crate::install::uninstall(*hook),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "leakgate", &mut script);
            write_stream(&mut std::io::stdout(), &String::from_utf8_lossy(&script))?;
            Ok(Status::Clean)
        }
    }
}

/// Everything a scan needs, loaded once: config, catalog, scanner settings, baseline.
struct Setup {
    config: Config,
    catalog: Catalog,
    settings: Settings,
    policy: Policy,
    baseline: Option<Baseline>,
    /// `.gitleaksignore` and `.gitleaks.toml` at the repository root, for teams coming from
    /// gitleaks (README, "Coming from gitleaks / detect-secrets").
    gitleaks_ignore: Option<crate::gitleaks::Ignore>,
    gitleaks_allow: Option<crate::gitleaks::Allowlists>,
}

impl Setup {
    fn load(g: &Global, root: Option<&Path>) -> Result<Setup> {
        // Read even under --no-baseline: its salt keeps the fingerprints the same.
        Setup::load_with(g, root, true)
    }

    fn load_with(g: &Global, root: Option<&Path>, use_baseline: bool) -> Result<Setup> {
        let (config, origin) = Config::load(g.config.as_deref(), root)?;
        let named = |e: anyhow::Error| match &origin {
            Some(p) => e.context(format!("in {}", p.display())),
            None => e,
        };
        let catalog = config.catalog().map_err(named)?;
        let mut settings = config.settings(Settings::default()).map_err(named)?;
        if let Some(m) = g.max_blob_size {
            settings.max_blob_size = m; // the flag beats the config file
        }
        let decode_depth = g
            .decode_depth
            .or(config.limits.decode_depth)
            .unwrap_or(DEFAULT_DECODE_DEPTH);
        let baseline = match (use_baseline, root) {
            (true, Some(root)) => {
                match Baseline::load(&config.baseline_path(root)) {
                    // Asked to ignore the baseline: an unreadable one only costs its salt.
                    Err(_) if g.no_baseline => None,
                    loaded => loaded?,
                }
            }
            _ => None,
        };
        // Policy and custom-rule examples are checked here, once, so every error names the file.
        let policy = config.policy(&catalog, decode_depth).map_err(named)?;
        config
            .check_custom_examples(&Detector::new(&catalog, policy.clone()))
            .map_err(named)?;
        let (gitleaks_ignore, gitleaks_allow) = match root {
            Some(root) => (
                crate::gitleaks::Ignore::load(root)?,
                crate::gitleaks::Allowlists::load(root)?,
            ),
            None => (None, None),
        };
        Ok(Setup {
            config,
            catalog,
            settings,
            policy,
            baseline,
            gitleaks_ignore,
            gitleaks_allow,
        })
    }

    fn scanner(&self) -> Scanner<'_> {
        Scanner::new(
            Detector::new(&self.catalog, self.policy.clone()),
            self.settings.clone(),
        )
    }

    /// What every written fingerprint is salted with: the baseline's salt, or the shared one.
    fn salt(&self) -> &[u8] {
        self.baseline
            .as_ref()
            .map_or(report::SHARED_SALT, |b| b.salt.as_bytes())
    }

    fn max_findings(&self, g: &Global) -> usize {
        g.max_findings
            .or(self.config.limits.max_findings)
            .unwrap_or(DEFAULT_MAX_FINDINGS)
    }
}

/// Fold per-file outcomes into a report, apply the baseline, render, and decide the status.
fn finish(
    g: &Global,
    setup: &Setup,
    scope: String,
    subject: Subject,
    outcomes: Vec<Outcome>,
) -> Result<Status> {
    finish_with(g, setup, scope, subject, outcomes, Vec::new())
}

/// `finish`, naming the paths whose scanned content is already committed (advice differs).
fn finish_with(
    g: &Global,
    setup: &Setup,
    scope: String,
    subject: Subject,
    outcomes: Vec<Outcome>,
    committed: Vec<Vec<u8>>,
) -> Result<Status> {
    let report = build_report(g, setup, scope, subject, outcomes, committed);
    emit(g, &report, &setup.catalog)?;
    Ok(if report.blocking() > 0 {
        Status::Findings
    } else {
        Status::Clean
    })
}

/// The report of what blocks: outcomes folded, fingerprints sealed, every suppression applied
/// (gitleaks allowlists and ignore file, the baseline), sorted. Nothing is printed.
fn build_report(
    g: &Global,
    setup: &Setup,
    scope: String,
    subject: Subject,
    outcomes: Vec<Outcome>,
    committed: Vec<Vec<u8>>,
) -> Report {
    let mut report = Report {
        scope,
        subject,
        committed,
        ..Report::default()
    };
    collect(&mut report, outcomes);
    report::seal_all(&mut report.findings, setup.salt());
    if let Some(a) = &setup.gitleaks_allow {
        let before = report.findings.len();
        report.findings.retain(|f| !a.allows(f));
        report.suppressed.allowlist += before - report.findings.len();
    }
    if let Some(ig) = &setup.gitleaks_ignore {
        let before = report.findings.len();
        report.findings.retain(|f| !ig.ignores(f));
        report.suppressed.baseline += before - report.findings.len();
    }
    if let Some(b) = setup.baseline.as_ref().filter(|_| !g.no_baseline) {
        let known = b.fingerprints();
        let before = report.findings.len();
        report
            .findings
            .retain(|f| !known.contains(f.fingerprint.as_str()));
        report.suppressed.baseline += before - report.findings.len();
    }
    report.sort();
    report.max_listed = Some(setup.max_findings(g));
    report
}

fn collect(report: &mut Report, outcomes: Vec<Outcome>) {
    for o in outcomes {
        if o.path_allowed {
            report.suppressed.paths += 1;
            continue;
        }
        if o.scanned {
            report.scanned.files += 1;
        }
        report.scanned.lines += o.lines;
        report.scanned.bytes += o.bytes;
        if let Some(reason) = o.skipped {
            let path = String::from_utf8_lossy(&o.path).into_owned();
            report.skipped.push(report::Skipped { path, reason });
        }
        report.notes.extend(o.notes);
        report.suppressed.inline += o.suppressed.inline;
        report.suppressed.allowlist += o.suppressed.allowlist;
        if o.suppressed.decode_limit > 0 {
            report.notes.push(
                "a text had more encoded spans than the decoder follows; some were not decoded"
                    .into(),
            );
        }
        report.findings.extend(o.findings);
    }
}

/// Write the report where `--format`/`--output` say, and the human report to stderr whenever
/// that is not already where the report went: a CI job writing SARIF or JSON to a file (or
/// stdout) still shows in its log what blocked it, redacted like every human report.
fn emit(g: &Global, report: &Report, catalog: &Catalog) -> Result<()> {
    let human = |to_stderr: bool| {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match g.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => to_stderr && std::io::stderr().is_terminal() && !no_color,
        };
        let style = Style {
            color,
            verbose: g.verbose,
            show_secrets: g.show_secrets,
        };
        report::render_human(report, catalog, &style)
    };
    let text = match g.format {
        Format::Json => report::render_json(report, catalog, g.show_secrets),
        Format::Sarif => report::render_sarif(report, catalog, g.sarif_all_rules),
        Format::Human => human(g.output.is_none()),
    };
    // The human report is for a person; the verdict is the exit status. A stderr that
    // cannot be written (a full disk behind a hook log) must not turn findings into an
    // "error" or a clean scan into a blocked commit.
    let written = match (&g.output, g.format) {
        (None, Format::Human) => {
            let _ = write_stream(&mut std::io::stderr(), &text);
            return Ok(());
        }
        (Some(path), _) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display())),
        (None, _) => write_stream(&mut std::io::stdout(), &text),
    };
    let _ = write_stream(&mut std::io::stderr(), &human(true));
    written
}

fn write_stream(w: &mut dyn Write, text: &str) -> Result<()> {
    match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not an error worth exit 2.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the report"),
    }
}

fn check_staged(g: &Global, paths: &[PathBuf]) -> Result<Status> {
    let repo = repo::open()?;
    let setup = Setup::load(g, repo.workdir())?;
    let (scope, outcomes, committed) = staged_outcomes(&repo, &setup, paths)?;
    finish_with(g, &setup, scope, Subject::Commit, outcomes, committed)
}

/// What `check-staged` scans (PATHs narrow it), scanned: the scope line, per-file outcomes, and
/// the named paths scanned whole because they have no staged change (already committed as is).
fn staged_outcomes(
    repo: &Repo,
    setup: &Setup,
    paths: &[PathBuf],
) -> Result<(String, Vec<Outcome>, Vec<Vec<u8>>)> {
    let scanner = setup.scanner();
    let index = repo.staged_index()?;
    let mut changes = index.staged(repo)?;
    let mut scope = "staged changes".to_string();
    let mut committed = Vec::new();
    if !paths.is_empty() {
        let wanted = git::repo_relative(repo.workdir(), paths)?;
        changes
            .files
            .retain(|c| wanted.iter().any(|w| git::path_is_under(&c.path, w)));
        changes
            .skipped
            .retain(|(p, _)| wanted.iter().any(|w| git::path_is_under(p, w)));
        changes
            .gitlinks
            .retain(|l| wanted.iter().any(|w| git::path_is_under(&l.path, w)));
        let staged: HashSet<Vec<u8>> = changes.files.iter().map(|c| c.path.clone()).collect();
        // Named paths without a staged change are scanned whole, as staged in the index.
        let whole: Vec<_> = index
            .entries_under(repo, &wanted)?
            .into_iter()
            .filter(|c| !staged.contains(&c.path))
            .collect();
        committed = whole.iter().map(|c| c.path.clone()).collect();
        changes.files.extend(whole);
        // A named path git does not track (a typo, an untracked file) must not look scanned.
        for w in &wanted {
            let named = |p: &[u8]| git::path_is_under(p, w);
            if !changes.files.iter().any(|c| named(&c.path))
                && !changes.skipped.iter().any(|(p, _)| named(p))
            {
                changes
                    .skipped
                    .push((w.clone(), "not in the index (untracked?)".to_string()));
            }
        }
        scope = format!(
            "staged content of {} path{}",
            paths.len(),
            if paths.len() == 1 { "" } else { "s" }
        );
    }
    let mut outcomes = scanner.scan_changes(repo, &changes.files, None)?;
    drop_merged_secrets(repo, &repo.merge_heads()?, &mut outcomes);
    // Moved submodules: the commits they bring in are scanned (or listed as not scanned).
    let links = std::mem::take(&mut changes.gitlinks);
    changes
        .skipped
        .retain(|(p, _)| !links.iter().any(|l| &l.path == p));
    outcomes.extend(crate::submodule::scan_gitlinks(repo, &scanner, &links)?);
    for (path, reason) in changes.skipped {
        outcomes.push(skipped_outcome(&path, reason));
    }
    Ok((scope, outcomes, committed))
}

fn skipped_outcome(path: &[u8], reason: String) -> Outcome {
    Outcome {
        path: path.to_vec(),
        skipped: Some(reason),
        ..Outcome::default()
    }
}

/// What to do when history leakgate must read is not in this clone.
const SHALLOW_FIX: &str = "fetch the full history (`git fetch --unshallow`, or `fetch-depth: 0` \
                           in actions/checkout) and retry";

/// Commits of a range, oldest first.
fn range_commits(repo: &Repo, range: &str) -> Result<Vec<ObjectId>> {
    let shallow = !repo.shallow()?.is_empty();
    let hint = |e: anyhow::Error, what: String| {
        if shallow {
            e.context(format!("{what} in this shallow clone: {SHALLOW_FIX}"))
        } else {
            e.context(what)
        }
    };
    if range.contains("..") {
        repo.range(range)
            .map_err(|e| hint(e, format!("cannot resolve range `{range}`")))
    } else {
        repo.resolve_commit(range)
            .map(|id| vec![id])
            .map_err(|e| hint(e, format!("cannot resolve revision `{range}`")))
    }
}

fn check_range(g: &Global, range: &str) -> Result<Status> {
    let repo = repo::open()?;
    let commits = range_commits(&repo, range)?;
    scan_commits(
        g,
        &repo,
        &commits,
        format!(
            "{} commit{} of {range}",
            commits.len(),
            if commits.len() == 1 { "" } else { "s" }
        ),
    )
}

/// `check-range --all`: every commit reachable from HEAD, oldest first, the root included
/// (`<root>..HEAD` would leave the root out).
fn check_all(g: &Global) -> Result<Status> {
    let repo = repo::open()?;
    let commits = all_commits(&repo)?;
    let scope = format!(
        "{} commit{} reachable from HEAD",
        commits.len(),
        if commits.len() == 1 { "" } else { "s" }
    );
    scan_commits(g, &repo, &commits, scope)
}

/// Every commit reachable from HEAD, oldest first.
fn all_commits(repo: &Repo) -> Result<Vec<ObjectId>> {
    let head = repo
        .resolve_commit("HEAD")
        .context("HEAD has no commit yet: there is no history to scan")?;
    repo.ancestry(&head)
        .context("cannot list the commits reachable from HEAD")
}

fn scan_commits(g: &Global, repo: &Repo, commits: &[ObjectId], scope: String) -> Result<Status> {
    // A commit at a shallow clone's boundary has parents this clone never fetched: what it
    // changed is unknowable, and diffing it against nothing (as a root commit) would report
    // its whole tree as new while claiming to know. Refuse before scanning anything.
    let shallow = repo.shallow()?;
    if let Some(cut) = commits.iter().find(|c| shallow.contains(c)) {
        bail!(
            "commit {} is at the boundary of this shallow clone (its parents were not fetched), \
             so what it changed cannot be known: {SHALLOW_FIX}",
            &cut.to_string()[..12]
        );
    }
    let setup = Setup::load(g, repo.workdir())?;
    let outcomes = commit_outcomes(repo, &setup.scanner(), commits)?;
    finish(g, &setup, scope, Subject::History, outcomes)
}

/// A merge shows, against its first parent, everything the merged branch added; those commits
/// are scanned on their own. Keep only secrets that no other parent (`others`, commits) had at
/// that path (an evil merge, or a conflict resolution that adds one).
fn drop_merged_secrets(repo: &Repo, others: &[ObjectId], outcomes: &mut [Outcome]) {
    for o in outcomes.iter_mut() {
        o.findings.retain(|f| {
            !others.iter().any(|c| {
                repo.blob_at(c, &f.location.path)
                    .ok()
                    .flatten()
                    .is_some_and(|b| memchr::memmem::find(&b, &f.secret.0).is_some())
            })
        });
    }
}

/// git's pre-push protocol: lines of `<local ref> <local sha> <remote ref> <remote sha>` on
/// stdin. A zero local sha is a deletion (nothing to scan); a zero remote sha is a new branch,
/// scanned from where it leaves what the remote already has.
fn pre_push(g: &Global, remote: Option<&str>) -> Result<Status> {
    let repo = repo::open()?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the pre-push lines from stdin")?;
    if input.trim().is_empty() {
        input = framework_pre_push_line(&repo)?;
    }
    let shallow = !repo.shallow()?.is_empty();
    let mut commits: Vec<ObjectId> = Vec::new();
    let mut seen = HashSet::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local_sha, _, remote_sha] = fields[..] else {
            bail!("unexpected pre-push line `{}`", report::sanitize(line));
        };
        let local = ObjectId::from_hex(local_sha)?;
        if local.is_zero() {
            continue; // deleting a remote branch adds nothing
        }
        let remote_id = ObjectId::from_hex(remote_sha)?;
        if !repo.has_commit(&local) {
            bail!(
                "the commit to push, {local_sha}, is not in this repository{}",
                if shallow {
                    format!(" (a shallow clone): {SHALLOW_FIX}")
                } else {
                    String::new()
                }
            );
        }
        // The remote's tip when this clone has it; otherwise (a new branch, or a tip someone
        // else pushed) what the remote is known to have: its remote-tracking refs. Commits the
        // walk cannot reach past a shallow boundary are refused in `scan_commits`.
        let hide = if !remote_id.is_zero() && repo.has_commit(&remote_id) {
            Hide::Commit(remote_id)
        } else {
            Hide::RemoteRefs(remote.unwrap_or("origin"))
        };
        for id in repo
            .walk(&local, &hide)
            .with_context(|| format!("cannot list the commits to push from {local_sha}"))?
        {
            if seen.insert(id) {
                commits.push(id);
            }
        }
    }
    let scope = format!(
        "{} commit{} to push",
        commits.len(),
        if commits.len() == 1 { "" } else { "s" }
    );
    scan_commits(g, &repo, &commits, scope)
}

/// The pre-commit framework does not pass git's pre-push lines to hooks; it exports the range
/// (`PRE_COMMIT_FROM_REF`/`PRE_COMMIT_TO_REF`, or only `PRE_COMMIT_LOCAL_BRANCH` when the whole
/// branch is new to the remote). Rebuild git's line from them. Empty stdin outside the framework
/// is git saying there is nothing to push.
fn framework_pre_push_line(repo: &Repo) -> Result<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(to) = var("PRE_COMMIT_TO_REF").or_else(|| var("PRE_COMMIT_LOCAL_BRANCH")) else {
        if var("PRE_COMMIT").is_some() {
            bail!(
                "no refs to check: run from `git push`, or `pre-commit run --hook-stage pre-push \
                 --from-ref A --to-ref B`"
            );
        }
        return Ok(String::new());
    };
    let shallow = !repo.shallow()?.is_empty();
    let commit = |rev: &str| -> Result<ObjectId> {
        repo.resolve_commit(rev).map_err(|e| {
            if shallow {
                e.context(format!("in this shallow clone: {SHALLOW_FIX}"))
            } else {
                e
            }
        })
    };
    let local = commit(&to)?;
    let remote = match var("PRE_COMMIT_FROM_REF") {
        Some(from) => commit(&from)?.to_string(),
        None => "0".repeat(local.to_string().len()),
    };
    Ok(format!("{to} {local} {to} {remote}\n"))
}

fn scan_paths(g: &Global, paths: &[PathBuf], no_ignore: bool) -> Result<Status> {
    let repo = repo::open().ok();
    let root = repo
        .as_ref()
        .and_then(|r| r.workdir())
        .map(Path::to_path_buf);
    let setup = Setup::load(g, root.as_deref().or(Some(Path::new("."))))?;
    let scanner = setup.scanner();
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for r in &roots {
        if !r.exists() {
            bail!("{} does not exist", r.display());
        }
        let mut walk = ignore::WalkBuilder::new(r);
        // Secrets love dotfiles (.env, .npmrc): hidden files are scanned, the .git directory not.
        walk.hidden(false)
            .git_ignore(!no_ignore)
            .git_exclude(!no_ignore)
            .git_global(!no_ignore)
            .ignore(!no_ignore)
            .parents(!no_ignore)
            .filter_entry(|e| e.file_name() != ".git");
        for entry in walk.build() {
            let entry = entry.with_context(|| format!("walking {}", r.display()))?;
            if entry.file_type().is_some_and(|t| t.is_file()) {
                files.push(entry.into_path());
            }
        }
    }
    files.sort();
    let max = setup.settings.max_blob_size;
    let outcomes: Vec<Outcome> = files
        .par_iter()
        .map(|p| -> Result<Outcome> {
            let shown = display_path(p);
            if scanner.path_allowed(&shown) {
                return Ok(Outcome {
                    path: shown,
                    path_allowed: true,
                    ..Outcome::default()
                });
            }
            let size = std::fs::metadata(p)
                .with_context(|| format!("cannot stat {}", p.display()))?
                .len();
            if size > max {
                if let Some(out) = scanner.scan_large_file(&shown, p, size) {
                    return Ok(out);
                }
                return Ok(skipped_outcome(
                    &shown,
                    format!("too large: {size} bytes > --max-blob-size {max}"),
                ));
            }
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok(scanner.scan_content(&shown, None, &bytes, None))
        })
        .collect::<Result<_>>()?;
    let scope = format!(
        "{} file{} on disk",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    finish(g, &setup, scope, Subject::Files, outcomes)
}

fn display_path(p: &Path) -> Vec<u8> {
    let s = p.strip_prefix("./").unwrap_or(p);
    s.to_string_lossy().into_owned().into_bytes()
}

fn rules(g: &Global, explain: Option<&str>) -> Result<Status> {
    let repo = repo::open().ok();
    let setup = Setup::load(g, repo.as_ref().and_then(|r| r.workdir()))?;
    let catalog = &setup.catalog;
    let mut out = String::new();
    use std::fmt::Write as _;
    if let Some(id) = explain {
        let Some(rule) = catalog.get(id) else {
            if let Some(text) = crate::model::remediation(id) {
                let _ = writeln!(out, "{id}\n\n{text}");
                write_stream(&mut std::io::stdout(), &out)?;
                return Ok(Status::Clean);
            }
            if let Some(ids) = crate::gitleaks::leakgate_ids(id) {
                // A gitleaks id: explain the leakgate rules that find the same credential.
                let names: Vec<String> = ids.iter().map(|i| format!("`{i}`")).collect();
                let _ = writeln!(
                    std::io::stderr(),
                    "leakgate: gitleaks rule `{id}` is leakgate's {}",
                    names.join(", ")
                );
                for i in ids {
                    rules(g, Some(i))?;
                }
                return Ok(Status::Clean);
            }
            let specs = crate::rules::builtin_specs()?;
            bail!(
                "no rule `{id}`{} (see `leakgate rules`)",
                crate::config::suggestion(id, &specs)
            );
        };
        let s = &rule.spec;
        if g.format == Format::Json {
            let v = serde_json::json!({
                "id": s.id, "title": s.title, "keywords": s.keywords, "entropy": s.entropy,
                "checksum": s.checksum.map(|c| c.name()), "remediation": s.remediation.trim(),
                "references": s.references, "regex": s.regex,
            });
            write_stream(
                &mut std::io::stdout(),
                &(serde_json::to_string_pretty(&v)? + "\n"),
            )?;
            return Ok(Status::Clean);
        }
        // Custom rules come from the repository's .leakgate.toml: every field is escaped.
        let esc = report::sanitize;
        let _ = writeln!(out, "{} — {}\n", esc(&s.id), esc(&s.title));
        let _ = writeln!(out, "What to do:\n");
        for line in s.remediation.trim().lines() {
            let _ = writeln!(out, "  {}", esc(line.trim()));
        }
        let _ = writeln!(out, "\nKeywords: {}", esc(&s.keywords.join(", ")));
        if let Some(e) = s.entropy {
            let _ = writeln!(out, "Entropy floor: {e} bits/char");
        }
        if let Some(c) = s.checksum {
            let _ = writeln!(
                out,
                "Offline check: {} (lookalikes that fail it are not reported)",
                c.name()
            );
        }
        let pattern: Vec<String> = s.regex.trim().lines().map(esc).collect();
        let _ = writeln!(out, "Pattern: {}", pattern.join("\n"));
        for r in &s.references {
            let _ = writeln!(out, "See: {}", esc(r));
        }
        write_stream(&mut std::io::stdout(), &out)?;
        return Ok(Status::Clean);
    }
    if g.format == Format::Json {
        let list: Vec<_> = catalog
            .rules
            .iter()
            .map(|r| {
                serde_json::json!({"id": r.spec.id, "title": r.spec.title, "keywords": r.spec.keywords,
                    "checksum": r.spec.checksum.map(|c| c.name())})
            })
            .chain(crate::model::RULES.iter().map(|(id, title, _)| {
                serde_json::json!({"id": id, "title": title, "keywords": [], "checksum": null})
            }))
            .collect();
        write_stream(
            &mut std::io::stdout(),
            &(serde_json::to_string_pretty(&list)? + "\n"),
        )?;
        return Ok(Status::Clean);
    }
    let width = catalog
        .rules
        .iter()
        .map(|r| r.spec.id.len())
        .max()
        .unwrap_or(10);
    for r in &catalog.rules {
        // The structural check by name: it is what rejects a look-alike in the rule's format.
        let check = r
            .spec
            .checksum
            .map(|c| format!(" [check: {}]", c.name()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:width$}  {}{check}  (keywords: {})",
            report::sanitize(&r.spec.id),
            report::sanitize(&r.spec.title),
            report::sanitize(&r.spec.keywords.join(", "))
        );
    }
    for (id, title, _) in crate::model::RULES.iter() {
        let _ = writeln!(out, "{id:width$}  {title}  (model files)");
    }
    let _ = writeln!(
        out,
        "\n{} rules, catalog {}",
        catalog.rules.len() + crate::model::RULES.len(),
        crate::catalog_version!()
    );
    write_stream(&mut std::io::stdout(), &out)?;
    Ok(Status::Clean)
}

fn baseline(g: &Global, action: &BaselineAction) -> Result<Status> {
    let repo = repo::open()?;
    let root = repo
        .workdir()
        .context("the baseline lives in the working tree; this repository has none")?
        .to_path_buf();
    // The existing baseline is read here, not by `Setup`: `create` must work where it cannot be
    // read (a version 1 file is replaced, and its message names this command).
    let setup = Setup::load_with(g, Some(&root), false)?;
    let path = setup.config.baseline_path(&root);
    let existing = match action {
        BaselineAction::Create { .. } => Baseline::load(&path).ok().flatten(),
        BaselineAction::Prune => Baseline::load(&path)?,
    };
    let scanner = setup.scanner();
    let changes = repo
        .head_files()?
        .context("HEAD has no commit yet: nothing to baseline")?;
    let mut outcomes = scanner.scan_changes(&repo, &changes, None)?;
    if let BaselineAction::Create { history: true } = action {
        outcomes.extend(commit_outcomes(&repo, &scanner, &all_commits(&repo)?)?);
    }
    // The salt is the repository's for good: kept from an existing baseline (so fingerprints in
    // reports and code-scanning dashboards stay the same), made once otherwise.
    let salt = match &existing {
        Some(b) => b.salt.clone(),
        None => Baseline::fresh_salt()?,
    };
    let mut findings: Vec<_> = outcomes.into_iter().flat_map(|o| o.findings).collect();
    report::seal_all(&mut findings, salt.as_bytes());
    // A reason a person gave (`leakgate allow`) stays with its finding while it is found.
    let reasons: std::collections::HashMap<(String, String), Option<String>> = existing
        .iter()
        .flat_map(|b| &b.findings)
        .map(|e| ((e.rule.clone(), e.fingerprint.clone()), e.reason.clone()))
        .collect();
    let found: std::collections::BTreeSet<BaselineEntry> = findings
        .iter()
        .map(|f| {
            let key = (f.rule.clone(), f.fingerprint.clone());
            BaselineEntry {
                reason: reasons.get(&key).cloned().flatten(),
                rule: key.0,
                fingerprint: key.1,
            }
        })
        .collect();
    let (entries, verb) = match action {
        BaselineAction::Create { .. } => (found, "wrote"),
        BaselineAction::Prune => {
            let old =
                existing.with_context(|| format!("no baseline at {} to prune", path.display()))?;
            let still: HashSet<(&str, &str)> = found
                .iter()
                .map(|e| (e.rule.as_str(), e.fingerprint.as_str()))
                .collect();
            let kept = old
                .findings
                .iter()
                .filter(|e| still.contains(&(e.rule.as_str(), e.fingerprint.as_str())))
                .cloned()
                .collect();
            (kept, "pruned")
        }
    };
    let n = entries.len();
    Baseline {
        version: BASELINE_VERSION,
        salt,
        findings: entries,
    }
    .write(&path)?;
    eprintln!(
        "leakgate: {verb} {} with {n} finding{}",
        path.display(),
        if n == 1 { "" } else { "s" }
    );
    Ok(Status::Clean)
}

/// `leakgate allow FP --reason TEXT`: record one finding of what is staged now in the baseline.
///
/// The fingerprint is looked up among the findings of a fresh scan of the staged changes, never
/// taken on trust: a typo or a stale fingerprint must not land in the baseline as a silent no-op
/// (or suppress something nobody looked at). Without a baseline, reports were salted with the
/// shared salt; the new baseline gets a fresh salt and the finding is sealed anew with it.
fn allow(g: &Global, wanted: &str, reason: &str, paths: &[PathBuf]) -> Result<Status> {
    let wanted = wanted.trim().to_ascii_lowercase();
    if wanted.is_empty() || !wanted.bytes().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "`{}` is not a fingerprint: give the hex digits the report printed after `fingerprint`",
            report::sanitize(&wanted)
        );
    }
    if reason.trim().is_empty() {
        bail!("--reason is empty: say why this finding is safe to commit");
    }
    // Under --no-baseline an unreadable baseline loads as none, and writing a new one would
    // silently replace it with its entries lost.
    if g.no_baseline {
        bail!("allow writes the baseline; drop --no-baseline");
    }
    let repo = repo::open()?;
    let root = repo
        .workdir()
        .context("the baseline lives in the working tree; this repository has none")?
        .to_path_buf();
    let setup = Setup::load(g, Some(&root))?;
    let path = setup.config.baseline_path(&root);
    let (scope, outcomes, _) = staged_outcomes(&repo, &setup, paths)?;
    let mut findings: Vec<report::Finding> =
        outcomes.into_iter().flat_map(|o| o.findings).collect();
    // Before sealing, a finding's fingerprint is its in-memory identity (report::fingerprint).
    let identities: Vec<(String, String)> = findings
        .iter()
        .map(|f| (f.rule.clone(), f.fingerprint.clone()))
        .collect();
    report::seal_all(&mut findings, setup.salt());
    let matches: Vec<usize> = (0..findings.len())
        .filter(|&i| findings[i].fingerprint.starts_with(&wanted))
        .collect();
    let mut distinct: Vec<&str> = matches
        .iter()
        .map(|&i| findings[i].fingerprint.as_str())
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let &[fp] = distinct.as_slice() else {
        if distinct.is_empty() {
            bail!(
                "no finding of the {scope} has fingerprint {wanted}: run `leakgate check-staged` \
                 and copy the fingerprint it prints (a finding already in the baseline is not \
                 listed)"
            );
        }
        bail!(
            "fingerprint {wanted} is ambiguous: {} findings of the {scope} start with it; give \
             more of its digits",
            distinct.len()
        );
    };
    let i = matches[0];
    let (rule, identity) = &identities[i];
    let (mut baseline, sealed) = match setup.baseline {
        Some(b) => (b, fp.to_string()),
        None => {
            let salt = Baseline::fresh_salt()?;
            let sealed = report::seal(identity, salt.as_bytes());
            let b = Baseline {
                version: BASELINE_VERSION,
                salt,
                findings: Default::default(),
            };
            (b, sealed)
        }
    };
    baseline
        .findings
        .retain(|e| !(e.rule == *rule && e.fingerprint == sealed));
    baseline.findings.insert(BaselineEntry {
        rule: rule.clone(),
        fingerprint: sealed.clone(),
        reason: Some(reason.trim().to_string()),
    });
    baseline.write(&path)?;
    eprintln!(
        "leakgate: allowed {} at {} ({}) in {}; commit that file to share it",
        report::sanitize(rule),
        report::human_location(&findings[i].location),
        &sealed[..12],
        path.display()
    );
    Ok(Status::Clean)
}

//! The commands: each builds a source of changes, runs the shared pipeline, and returns whether
//! anything blocking was found. Nothing here exits the process; `main` maps the result.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::Repository;
use rayon::prelude::*;

use crate::cli::{BaselineAction, Cli, ColorChoice, Command, Format, Global};
use crate::config::{Baseline, BaselineEntry, Config, BASELINE_FILE};
use crate::detect::{Detector, Policy};
use crate::git::{self, Change};
use crate::report::{self, Report, Style, Subject};
use crate::rules::Catalog;
use crate::source::{Outcome, Scanner, Settings};

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
        Command::CheckRange { range } => check_range(g, range),
        Command::PrePush { remote, .. } => pre_push(g, remote.as_deref()),
        Command::Scan { paths, no_ignore } => scan_paths(g, paths, *no_ignore),
        Command::Rules { explain } => rules(g, explain.as_deref()),
        Command::Baseline { action } => baseline(g, action),
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
}

impl Setup {
    fn load(g: &Global, root: Option<&Path>) -> Result<Setup> {
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
        let baseline = match (g.no_baseline, root) {
            (false, Some(root)) => {
                let path = root.join(
                    config
                        .baseline
                        .as_deref()
                        .unwrap_or(Path::new(BASELINE_FILE)),
                );
                Baseline::load(&path)?
            }
            _ => None,
        };
        // Policy and custom-rule examples are checked here, once, so every error names the file.
        let policy = config.policy(&catalog, decode_depth).map_err(named)?;
        config
            .check_custom_examples(&Detector::new(&catalog, policy.clone()))
            .map_err(named)?;
        Ok(Setup {
            config,
            catalog,
            settings,
            policy,
            baseline,
        })
    }

    fn scanner(&self) -> Scanner<'_> {
        Scanner::new(
            Detector::new(&self.catalog, self.policy.clone()),
            self.settings.clone(),
        )
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
    let mut report = Report {
        scope,
        subject,
        ..Report::default()
    };
    collect(&mut report, outcomes);
    if let Some(b) = &setup.baseline {
        let known = b.fingerprints();
        let before = report.findings.len();
        report
            .findings
            .retain(|f| !known.contains(f.fingerprint.as_str()));
        report.suppressed.baseline += before - report.findings.len();
    }
    report.sort();
    report.max_listed = Some(setup.max_findings(g));
    emit(g, &report, &setup.catalog)?;
    Ok(if report.blocking() > 0 {
        Status::Findings
    } else {
        Status::Clean
    })
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

fn emit(g: &Global, report: &Report, catalog: &Catalog) -> Result<()> {
    let text = match g.format {
        Format::Json => report::render_json(report, catalog, g.show_secrets),
        Format::Sarif => report::render_sarif(report, catalog),
        Format::Human => {
            let to_terminal = g.output.is_none() && std::io::stderr().is_terminal();
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let color = match g.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => to_terminal && !no_color,
            };
            let style = Style {
                color,
                verbose: g.verbose,
                show_secrets: g.show_secrets,
            };
            report::render_human(report, catalog, &style)
        }
    };
    match (&g.output, g.format) {
        (Some(path), _) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display())),
        (None, Format::Human) => write_stream(&mut std::io::stderr(), &text),
        (None, _) => write_stream(&mut std::io::stdout(), &text),
    }
}

fn write_stream(w: &mut dyn Write, text: &str) -> Result<()> {
    match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not an error worth exit 2.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the report"),
    }
}

fn check_staged(g: &Global, paths: &[PathBuf]) -> Result<Status> {
    let repo = git::open()?;
    let setup = Setup::load(g, repo.workdir())?;
    let scanner = setup.scanner();
    let index = git::StagedIndex::load(&repo)?;
    let mut changes = index.staged(&repo)?;
    let mut scope = "staged changes".to_string();
    if !paths.is_empty() {
        let wanted = git::repo_relative(&repo, paths)?;
        changes
            .files
            .retain(|c| wanted.iter().any(|w| git::path_is_under(&c.path, w)));
        changes
            .skipped
            .retain(|(p, _)| wanted.iter().any(|w| git::path_is_under(p, w)));
        let staged: HashSet<Vec<u8>> = changes.files.iter().map(|c| c.path.clone()).collect();
        // Named paths without a staged change are scanned whole, as staged in the index.
        changes.files.extend(
            index
                .entries_under(&wanted)
                .into_iter()
                .filter(|c| !staged.contains(&c.path)),
        );
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
    let mut outcomes = scanner.scan_changes(&repo, &changes.files, None)?;
    drop_merged_secrets(&repo, &merge_head_trees(&repo)?, &mut outcomes);
    for (path, reason) in changes.skipped {
        outcomes.push(skipped_outcome(&path, reason));
    }
    finish(g, &setup, scope, Subject::Commit, outcomes)
}

fn skipped_outcome(path: &[u8], reason: String) -> Outcome {
    Outcome {
        path: path.to_vec(),
        skipped: Some(reason),
        ..Outcome::default()
    }
}

/// Commits of a range, oldest first.
fn range_commits(repo: &Repository, range: &str) -> Result<Vec<git2::Oid>> {
    let mut walk = repo.revwalk().context("cannot walk history")?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    if range.contains("..") {
        walk.push_range(range)
            .with_context(|| format!("cannot resolve range `{range}`"))?;
    } else {
        let obj = repo
            .revparse_single(range)
            .with_context(|| format!("cannot resolve revision `{range}`"))?;
        return Ok(vec![obj.peel_to_commit()?.id()]);
    }
    walk.collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot list the commits of `{range}`"))
}

fn check_range(g: &Global, range: &str) -> Result<Status> {
    let repo = git::open()?;
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

fn scan_commits(
    g: &Global,
    repo: &Repository,
    commits: &[git2::Oid],
    scope: String,
) -> Result<Status> {
    let setup = Setup::load(g, repo.workdir())?;
    let scanner = setup.scanner();
    let progress = commits.len() >= 20 && std::io::stderr().is_terminal();
    let mut outcomes = Vec::new();
    for (i, id) in commits.iter().enumerate() {
        if progress {
            let done = (i + 1) * 30 / commits.len();
            eprint!(
                "\rleakgate: [{}{}] {}/{} commits",
                "#".repeat(done),
                " ".repeat(30 - done),
                i + 1,
                commits.len()
            );
        }
        let commit = repo
            .find_commit(*id)
            .with_context(|| format!("cannot read commit {id}"))?;
        let changes = git::commit_changes(repo, &commit)?;
        let hex = id.to_string();
        let mut found = scanner.scan_changes(repo, &changes.files, Some(&hex))?;
        if commit.parent_count() > 1 {
            let others: Vec<git2::Tree<'_>> = commit
                .parents()
                .skip(1)
                .map(|p| p.tree())
                .collect::<Result<_, _>>()
                .with_context(|| format!("cannot read the parents of merge {id}"))?;
            drop_merged_secrets(repo, &others, &mut found);
        }
        for (path, reason) in changes.skipped {
            found.push(skipped_outcome(&path, reason));
        }
        outcomes.extend(found);
    }
    if progress {
        eprintln!();
    }
    finish(g, &setup, scope, Subject::History, outcomes)
}

/// A merge shows, against its first parent, everything the merged branch added; those commits
/// are scanned on their own. Keep only secrets that no other parent had at that path (an evil
/// merge, or a conflict resolution that adds one).
fn drop_merged_secrets(repo: &Repository, others: &[git2::Tree<'_>], outcomes: &mut [Outcome]) {
    for o in outcomes.iter_mut() {
        o.findings.retain(|f| {
            let path = Path::new(std::str::from_utf8(&f.location.path).unwrap_or(""));
            !others.iter().any(|t| {
                t.get_path(path)
                    .ok()
                    .and_then(|e| repo.find_blob(e.id()).ok())
                    .is_some_and(|b| memchr::memmem::find(b.content(), &f.secret.0).is_some())
            })
        });
    }
}

/// Trees of the commits being merged in (`MERGE_HEAD`) while a merge is being concluded.
fn merge_head_trees(repo: &Repository) -> Result<Vec<git2::Tree<'_>>> {
    if repo.state() != git2::RepositoryState::Merge {
        return Ok(Vec::new());
    }
    // libgit2's mergehead iterator needs a mutable handle; the file is one sha per line.
    let path = repo.path().join("MERGE_HEAD");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let ids: Vec<git2::Oid> = text
        .split_whitespace()
        .map(git2::Oid::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is malformed", path.display()))?;
    ids.iter()
        .map(|id| {
            repo.find_commit(*id)
                .and_then(|c| c.tree())
                .with_context(|| format!("cannot read merged commit {id}"))
        })
        .collect()
}

/// git's pre-push protocol: lines of `<local ref> <local sha> <remote ref> <remote sha>` on
/// stdin. A zero local sha is a deletion (nothing to scan); a zero remote sha is a new branch,
/// scanned from where it leaves what the remote already has.
fn pre_push(g: &Global, remote: Option<&str>) -> Result<Status> {
    let repo = git::open()?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the pre-push lines from stdin")?;
    if input.trim().is_empty() {
        input = framework_pre_push_line(&repo)?;
    }
    let mut commits: Vec<git2::Oid> = Vec::new();
    let mut seen = HashSet::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local_sha, _, remote_sha] = fields[..] else {
            bail!("unexpected pre-push line `{}`", report::sanitize(line));
        };
        let local =
            git2::Oid::from_str(local_sha).with_context(|| format!("bad sha `{local_sha}`"))?;
        if local.is_zero() {
            continue; // deleting a remote branch adds nothing
        }
        let remote_oid =
            git2::Oid::from_str(remote_sha).with_context(|| format!("bad sha `{remote_sha}`"))?;
        let mut walk = repo.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        walk.push(local)
            .with_context(|| format!("cannot walk from {local}"))?;
        if !remote_oid.is_zero() && repo.find_commit(remote_oid).is_ok() {
            walk.hide(remote_oid)?;
        } else {
            // New branch (or a remote tip we do not have): hide what the remote is known to have.
            let glob = format!("refs/remotes/{}/*", remote.unwrap_or("origin"));
            walk.hide_glob(&glob).ok();
        }
        for id in walk {
            let id = id.context("walking the commits to push")?;
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
fn framework_pre_push_line(repo: &Repository) -> Result<String> {
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
    let commit = |rev: &str| -> Result<git2::Oid> {
        Ok(repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("cannot resolve `{rev}`"))?
            .id())
    };
    let local = commit(&to)?;
    let remote = match var("PRE_COMMIT_FROM_REF") {
        Some(from) => commit(&from)?,
        None => git2::Oid::zero(),
    };
    Ok(format!("{to} {local} {to} {remote}\n"))
}

fn scan_paths(g: &Global, paths: &[PathBuf], no_ignore: bool) -> Result<Status> {
    let repo = Repository::open_from_env().ok();
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
    let repo = Repository::open_from_env().ok();
    let setup = Setup::load(g, repo.as_ref().and_then(|r| r.workdir()))?;
    let catalog = &setup.catalog;
    let mut out = String::new();
    use std::fmt::Write as _;
    if let Some(id) = explain {
        let Some(rule) = catalog.get(id) else {
            if let Some(text) = crate::artifact::remediation(id) {
                let _ = writeln!(out, "{id}\n\n{text}");
                write_stream(&mut std::io::stdout(), &out)?;
                return Ok(Status::Clean);
            }
            bail!("no rule `{id}` (see `leakgate rules`)");
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
        let _ = writeln!(out, "{} — {}\n", s.id, s.title);
        let _ = writeln!(out, "What to do:\n");
        for line in s.remediation.trim().lines() {
            let _ = writeln!(out, "  {}", line.trim());
        }
        let _ = writeln!(out, "\nKeywords: {}", s.keywords.join(", "));
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
        let _ = writeln!(out, "Pattern: {}", s.regex.trim());
        for r in &s.references {
            let _ = writeln!(out, "See: {r}");
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
            .chain(crate::artifact::RULES.iter().map(|(id, title, _)| {
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
        let check = if r.spec.checksum.is_some() {
            " [checksum]"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:width$}  {}{check}  (keywords: {})",
            r.spec.id,
            r.spec.title,
            r.spec.keywords.join(", ")
        );
    }
    for (id, title, _) in crate::artifact::RULES {
        let _ = writeln!(out, "{id:width$}  {title}  (model files)");
    }
    let _ = writeln!(
        out,
        "\n{} rules, catalog {}",
        catalog.rules.len() + crate::artifact::RULES.len(),
        crate::catalog_version!()
    );
    write_stream(&mut std::io::stdout(), &out)?;
    Ok(Status::Clean)
}

fn baseline(g: &Global, action: &BaselineAction) -> Result<Status> {
    let repo = git::open()?;
    let root = repo
        .workdir()
        .context("the baseline lives in the working tree; this repository has none")?
        .to_path_buf();
    let mut setup = Setup::load(g, Some(&root))?;
    let path = root.join(
        setup
            .config
            .baseline
            .as_deref()
            .unwrap_or(Path::new(BASELINE_FILE)),
    );
    let existing = setup.baseline.take();
    let scanner = setup.scanner();
    let tree = git::head_tree(&repo)?.context("HEAD has no commit yet: nothing to baseline")?;
    let mut changes = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            let mut path = dir.as_bytes().to_vec();
            path.extend_from_slice(entry.name_bytes());
            changes.push(Change {
                path,
                old: None,
                new: entry.id(),
                worktree: false,
            });
        }
        git2::TreeWalkResult::Ok
    })
    .context("walking the HEAD tree")?;
    let outcomes = scanner.scan_changes(&repo, &changes, None)?;
    let found: std::collections::BTreeSet<BaselineEntry> = outcomes
        .iter()
        .flat_map(|o| &o.findings)
        .map(|f| BaselineEntry {
            rule: f.rule.clone(),
            fingerprint: f.fingerprint.clone(),
        })
        .collect();
    let (entries, verb) = match action {
        BaselineAction::Create => (found, "wrote"),
        BaselineAction::Prune => {
            let old =
                existing.with_context(|| format!("no baseline at {} to prune", path.display()))?;
            let kept = old.findings.intersection(&found).cloned().collect();
            (kept, "pruned")
        }
    };
    let n = entries.len();
    Baseline {
        version: 1,
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

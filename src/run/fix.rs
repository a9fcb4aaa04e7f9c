//! `leakgate fix`: clear exactly the notebook outputs that carry findings of the staged changes,
//! in the index and in the working tree, so the next `git commit` goes through.
//!
//! Where nbstripout clears every output, this removes only the output objects a blocking finding
//! names (all of them when a secret runs over joined stream outputs); the rest of the notebook
//! keeps its bytes (`notebook::edit`).
//!
//! Invariants:
//! - what is cleared is decided by the same scan and the same suppressions as `check-staged`
//!   (baseline, allowlists, `.gitleaksignore`), and what remains afterwards is reported by
//!   running that scan again, so the exit status is what the hook would now say: 0 nothing
//!   blocks, 1 findings remain (cell sources and other files are never edited), 2 an error;
//! - the index and the working tree are fixed independently: the staged blob is edited and
//!   written back under the same mode, and the working-tree copy loses an output only where it
//!   holds the same output (equal as JSON) as the staged one. A working tree that matched the
//!   index gets the same edit, so the two match again afterwards; unstaged edits are never lost;
//! - git's own plumbing writes the blob and the index entry (`hash-object -w --stdin`, no filter;
//!   `update-index -z --index-info`): git takes the index lock and keeps the index's extensions
//!   (split, sparse, untracked cache), which an index written by libgit2 could drop;
//! - a working-tree file is replaced by a rename of a complete new file with the old file's
//!   permissions, never truncated in place; symlinks and anything that is not a regular file
//!   inside the working tree are left alone;
//! - nothing printed holds a secret: outputs are named by cell and output number and rule id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{build_report, finish_with, staged_outcomes, Setup, Status};
use crate::cli::Global;
use crate::gitcli::run_git;
use crate::notebook::edit::{output_spans, remove_outputs, OutputSpan};
use crate::repo;
use crate::report::{sanitize_bytes, Severity, Subject};

/// (cell, output) → the rules whose findings it carries.
type Outputs = BTreeMap<(u32, u32), BTreeSet<String>>;

pub(super) fn fix(g: &Global, paths: &[PathBuf]) -> Result<Status> {
    let repo = repo::open()?;
    let workdir = repo
        .workdir()
        .context("`leakgate fix` edits the working tree; this repository has none")?
        .to_path_buf();
    let setup = Setup::load(g, Some(&workdir))?;
    let (scope, outcomes, committed) = staged_outcomes(&repo, &setup, paths)?;
    let report = build_report(g, &setup, scope, Subject::Commit, outcomes, committed);
    let mut targets: BTreeMap<Vec<u8>, Outputs> = BTreeMap::new();
    for f in &report.findings {
        let loc = &f.location;
        // A submodule's commit (`commit` set) is not in this index.
        let (Some(cell), Some(first), None) = (loc.cell, loc.output, &loc.commit) else {
            continue;
        };
        if f.severity != Severity::Error {
            continue;
        }
        let last = loc.output_end.unwrap_or(first).max(first);
        let outputs = targets.entry(loc.path.clone()).or_default();
        for output in first..=last {
            outputs
                .entry((cell, output))
                .or_default()
                .insert(f.rule.clone());
        }
    }
    drop(report);
    drop(repo);

    if targets.is_empty() {
        say("no notebook output carries a finding of the staged changes");
    }
    let mut reload = false;
    for (path, outputs) in &targets {
        // Said as each notebook is done: if a later one fails, what was changed is known.
        let mut lines = Vec::new();
        reload |= fix_notebook(&workdir, path, outputs, &mut lines)?;
        for line in &lines {
            say(line);
        }
    }

    // What blocks now, exactly as the hook will see it (a fresh handle: the index changed).
    let repo = repo::open()?;
    let (scope, outcomes, committed) = staged_outcomes(&repo, &setup, paths)?;
    let status = finish_with(g, &setup, scope, Subject::Commit, outcomes, committed)?;
    if status == Status::Findings {
        say(
            "what is listed above remains: fix clears notebook outputs only; cell sources and \
             other files are yours to edit",
        );
    } else if !targets.is_empty() {
        say("nothing blocks any more; run `git commit` again");
    }
    if reload {
        // Jupyter keeps the notebook in memory: its next save would write the outputs back.
        say("a notebook open in Jupyter must be reloaded (File > Reload) before it is saved again");
    }
    Ok(status)
}

/// One line to the person, on stderr. A stderr that cannot be written must not turn a done
/// fix into a panic (`eprintln!` would): the exit status still tells.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "leakgate fix: {line}");
}

/// Clear `outputs` of one notebook in the index and, where it holds the same outputs, in the
/// working tree; true when the working-tree file was rewritten. What could not be done is said
/// in `lines`, not raised: the re-scan that follows reports whatever still blocks.
fn fix_notebook(
    workdir: &Path,
    path: &[u8],
    outputs: &Outputs,
    lines: &mut Vec<String>,
) -> Result<bool> {
    let shown = sanitize_bytes(path);
    let Some((mode, id)) = index_entry(path)? else {
        lines.push(format!(
            "{shown}: not a single regular file in the index (a conflict, a symlink, a \
             submodule's file?); left as it is"
        ));
        return Ok(false);
    };
    let staged = run_git(None, &["cat-file", "blob", &id])
        .with_context(|| format!("cannot read the staged {shown} ({id})"))?;
    let spans = match output_spans(&staged) {
        Ok(s) => s,
        Err(e) => {
            lines.push(format!(
                "{shown}: the staged notebook cannot be edited ({e:#}); left as it is"
            ));
            return Ok(false);
        }
    };
    let chosen: Vec<&OutputSpan> = spans
        .iter()
        .filter(|s| outputs.contains_key(&(s.cell, s.output)))
        .collect();
    if chosen.len() != outputs.len() {
        // The finding came from another reading of the file (an LFS object, a transcoded
        // UTF-16 notebook): its numbers do not name outputs of these bytes.
        lines.push(format!(
            "{shown}: the staged bytes do not hold the outputs the findings name (an LFS \
             object, a UTF-16 file?); left as it is"
        ));
        return Ok(false);
    }
    let removed: Vec<serde_json::Value> = chosen
        .iter()
        .map(|s| serde_json::from_slice(&staged[s.range.clone()]))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading an output of the staged {shown}"))?;
    let (fixed, n) = remove_outputs(&staged, |s| outputs.contains_key(&(s.cell, s.output)))
        .with_context(|| format!("editing the staged {shown}"))?;
    debug_assert_eq!(n, outputs.len());
    let new_id = String::from_utf8_lossy(
        &run_git(Some(&fixed), &["hash-object", "-w", "--stdin"])
            .with_context(|| format!("cannot write the fixed {shown} to the object database"))?,
    )
    .trim()
    .to_string();
    let mut record = format!("{mode} {new_id}\t").into_bytes();
    record.extend_from_slice(path);
    record.push(0);
    run_git(Some(&record), &["update-index", "-z", "--index-info"])
        .with_context(|| format!("cannot stage the fixed {shown}"))?;

    let worktree = fix_worktree_copy(workdir, path, &staged, &fixed, &removed)
        .with_context(|| format!("fixing the working-tree copy of {shown}"))?;
    let named: Vec<String> = outputs
        .iter()
        .map(|((cell, output), rules)| {
            let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
            format!(
                "cell {cell} output {output} [{}]",
                crate::report::sanitize(&rules.join(", "))
            )
        })
        .collect();
    let s = if outputs.len() == 1 { "" } else { "s" };
    let where_ = match &worktree {
        Worktree::Same | Worktree::All => "in the index and the working tree",
        _ => "in the index",
    };
    lines.push(format!(
        "{shown}: cleared {} output{s} {where_}: {}",
        outputs.len(),
        named.join(", ")
    ));
    let worktree_changed = matches!(
        worktree,
        Worktree::Same | Worktree::All | Worktree::Some { .. }
    );
    match worktree {
        Worktree::Same | Worktree::All => {}
        Worktree::Some { missing } => lines.push(format!(
            "{shown}: the working-tree copy differs from the staged one; {missing} of the \
             cleared outputs are not in it as staged (edited since `git add`?), the others were \
             cleared there too"
        )),
        Worktree::None => lines.push(format!(
            "{shown}: the working-tree copy differs from the staged one and holds none of the \
             cleared outputs as staged; it was left as it is"
        )),
        Worktree::Skipped(why) => lines.push(format!(
            "{shown}: the working-tree copy was left as it is: {why}"
        )),
    }
    Ok(worktree_changed)
}

/// The stage-0 entry of `path` in the index git commits from: (mode, object id), or None when
/// it is not one regular file (conflicted, a symlink, a gitlink, absent).
fn index_entry(path: &[u8]) -> Result<Option<(String, String)>> {
    let spec = format!(":(top,literal){}", String::from_utf8_lossy(path));
    // --full-name: from a subdirectory git would print the path relative to it.
    let out = run_git(
        None,
        &["ls-files", "--stage", "-z", "--full-name", "--", &spec],
    )
    .context("cannot list the index")?;
    let records: Vec<&[u8]> = out.split(|&b| b == 0).filter(|r| !r.is_empty()).collect();
    let [record] = records[..] else {
        return Ok(None);
    };
    // <mode> <id> <stage>\t<path>
    let tab = memchr::memchr(b'\t', record).context("unexpected output from git ls-files")?;
    if &record[tab + 1..] != path {
        return Ok(None);
    }
    let head =
        std::str::from_utf8(&record[..tab]).context("unexpected output from git ls-files")?;
    let [mode, id, stage] = head.split(' ').collect::<Vec<_>>()[..] else {
        bail!(
            "unexpected output from git ls-files: {}",
            sanitize_bytes(record)
        );
    };
    let regular = mode == "100644" || mode == "100755";
    Ok((regular && stage == "0").then(|| (mode.to_string(), id.to_string())))
}

/// What happened to the working-tree copy.
enum Worktree {
    /// It was the staged notebook: it got the same edit and matches the index again.
    Same,
    /// It differs, and every cleared output was found in it and removed.
    All,
    /// It differs; `missing` cleared outputs were not in it (the others were removed).
    Some { missing: usize },
    /// It differs and holds none of the cleared outputs.
    None,
    /// Not touched, and why.
    Skipped(String),
}

fn fix_worktree_copy(
    workdir: &Path,
    path: &[u8],
    staged: &[u8],
    fixed: &[u8],
    removed: &[serde_json::Value],
) -> Result<Worktree> {
    let Some(file) = crate::git::worktree_path(workdir, path) else {
        return Ok(Worktree::Skipped(
            "its path cannot be a working-tree file".into(),
        ));
    };
    let meta = match std::fs::symlink_metadata(&file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Worktree::Skipped("it does not exist".into()))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot stat {}", file.display())),
    };
    if !meta.file_type().is_file() {
        return Ok(Worktree::Skipped("it is not a regular file".into()));
    }
    // A directory on the way that is a symlink would take the write out of the working tree.
    let parent = file.parent().unwrap_or(workdir);
    let inside = parent
        .canonicalize()
        .ok()
        .zip(workdir.canonicalize().ok())
        .is_some_and(|(p, w)| p.starts_with(w));
    if !inside {
        return Ok(Worktree::Skipped(
            "a directory on its path leads out of the working tree".into(),
        ));
    }
    let current =
        std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    if current == staged {
        replace_file(&file, &meta, fixed)?;
        return Ok(Worktree::Same);
    }
    let spans = match output_spans(&current) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Worktree::Skipped(format!(
                "it is not a notebook now ({e:#})"
            )))
        }
    };
    // Same output = equal as JSON (so indentation or line endings a filter changed do not
    // count): the outputs this copy shares with the cleared ones, and which of those it has.
    let mut found = vec![false; removed.len()];
    let mut doomed = BTreeSet::new();
    for s in &spans {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&current[s.range.clone()])
        else {
            continue;
        };
        for (i, r) in removed.iter().enumerate() {
            if *r == value {
                found[i] = true;
                doomed.insert((s.cell, s.output));
            }
        }
    }
    let missing = found.iter().filter(|&&f| !f).count();
    if doomed.is_empty() {
        return Ok(Worktree::None);
    }
    let (text, _) = remove_outputs(&current, |s| doomed.contains(&(s.cell, s.output)))?;
    replace_file(&file, &meta, &text)?;
    Ok(if missing == 0 {
        Worktree::All
    } else {
        Worktree::Some { missing }
    })
}

/// Replace `file` by a complete new file with the same permissions, renamed over it, so a crash
/// or a full disk leaves the old notebook or the new one, never half of one.
fn replace_file(file: &Path, meta: &std::fs::Metadata, bytes: &[u8]) -> Result<()> {
    let name = file
        .file_name()
        .map_or_else(Default::default, |n| n.to_os_string());
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(&name);
    tmp_name.push(format!(".leakgate-fix-{}", std::process::id()));
    let tmp = file.with_file_name(tmp_name);
    let written = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::set_permissions(&tmp, meta.permissions()))
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", file.display()))
}

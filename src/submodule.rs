//! Submodules: a superproject commit that moves a gitlink records the submodule commits it
//! brings in, so those commits are scanned, read from the submodule's own local repository,
//! with the same per-commit diffs `check-range` uses.
//!
//! Invariants:
//! - the commits scanned for a moved gitlink are `old..new` (what the superproject did not
//!   record before); for a new submodule, or when `old` is not in the submodule's repository,
//!   every commit reachable from `new` (nothing is known to be recorded already);
//! - every gitlink change is listed: as "scanned N commits" in a note, or as not scanned with the
//!   reason (no local repository, the commit is not there) — never silently "scanned 0 files";
//! - findings carry the submodule path as a prefix of their path, and the submodule commit; a
//!   merge reports only what none of its other parents had at that path (as `check-range`);
//! - the submodule's repository is opened by path, never from git's environment (`GIT_DIR` and
//!   `GIT_INDEX_FILE` belong to the superproject's hook run).

use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::{Oid, Repository};

use crate::git::{self, Gitlink, ObjectId};
use crate::repo::Repo;
use crate::source::{Outcome, Scanner};

/// Scan the commits each gitlink change brings in; one or more outcomes per gitlink.
pub fn scan_gitlinks(
    repo: &Repo,
    scanner: &Scanner<'_>,
    links: &[Gitlink],
) -> Result<Vec<Outcome>> {
    let mut out = Vec::new();
    for link in links {
        let shown = String::from_utf8_lossy(&link.path).into_owned();
        let Some(sub) = open(repo, &link.path) else {
            out.push(not_scanned(
                link,
                "submodule (gitlink): not scanned, no local repository",
                format!(
                    "submodule {shown} was NOT scanned: its repository is not here; run `git \
                     submodule update --init {shown}` and check again"
                ),
            ));
            continue;
        };
        if sub.find_commit(link.new).is_err() {
            out.push(not_scanned(
                link,
                "submodule (gitlink): not scanned, commit not available locally",
                format!(
                    "submodule {shown} was NOT scanned: commit {} is not in its local repository; \
                     fetch it there (`git -C {shown} fetch`) and check again",
                    short(link.new)
                ),
            ));
            continue;
        }
        let old = link.old.filter(|o| sub.find_commit(*o).is_ok());
        let commits = range(&sub, old, link.new)
            .with_context(|| format!("cannot list the commits of submodule {shown}"))?;
        let sub_repo = Repo::Libgit2(sub);
        let sub = sub_repo.libgit2().expect("opened through libgit2");
        for id in &commits {
            out.extend(
                scan_commit(&sub_repo, sub, scanner, *id, &link.path)
                    .with_context(|| format!("in submodule {shown}"))?,
            );
        }
        let span = match (link.old, old) {
            (Some(o), Some(_)) => format!("{}..{}", short(o), short(link.new)),
            (Some(o), None) => format!(
                "everything reachable from {} ({} is not in its repository)",
                short(link.new),
                short(o)
            ),
            (None, _) => format!("everything reachable from {} (new)", short(link.new)),
        };
        out.push(Outcome {
            path: link.path.clone(),
            notes: vec![format!(
                "submodule {shown}: scanned {} commit{} ({span})",
                commits.len(),
                if commits.len() == 1 { "" } else { "s" }
            )],
            ..Outcome::default()
        });
    }
    Ok(out)
}

fn short(id: Oid) -> String {
    id.to_string()[..12].to_string()
}

fn not_scanned(link: &Gitlink, reason: &str, note: String) -> Outcome {
    Outcome {
        path: link.path.clone(),
        skipped: Some(reason.to_string()),
        notes: vec![note],
        ..Outcome::default()
    }
}

/// The submodule's repository: its checked-out working tree, else its git dir below the
/// superproject's `modules/` (named as in .gitmodules, which defaults to the path).
fn open(repo: &Repo, path: &[u8]) -> Option<Repository> {
    let rel = std::str::from_utf8(path).ok()?;
    if let Some(r) = repo
        .workdir()
        .and_then(|w| Repository::open(w.join(rel)).ok())
    {
        // A plain directory inside the superproject opens the superproject itself.
        if r.path() != repo.path() {
            return Some(r);
        }
    }
    let name = repo
        .libgit2()
        .and_then(|r| r.find_submodule(rel).ok())
        .and_then(|s| s.name().map(str::to_string))
        .unwrap_or_else(|| rel.to_string());
    let dir: PathBuf = repo.commondir().join("modules").join(name);
    Repository::open(dir).ok()
}

/// Commits reachable from `new` and not from `old`, oldest first.
fn range(sub: &Repository, old: Option<Oid>, new: Oid) -> Result<Vec<Oid>> {
    let mut walk = sub.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    walk.push(new)?;
    if let Some(old) = old {
        walk.hide(old)?;
    }
    Ok(walk.collect::<Result<Vec<_>, _>>()?)
}

/// One submodule commit's added content, paths prefixed with the submodule's path.
fn scan_commit(
    sub_repo: &Repo,
    sub: &Repository,
    scanner: &Scanner<'_>,
    id: Oid,
    prefix: &[u8],
) -> Result<Vec<Outcome>> {
    let commit = sub
        .find_commit(id)
        .with_context(|| format!("cannot read commit {id}"))?;
    let changes = git::commit_changes(sub, &commit)?;
    let hex = id.to_string();
    let under = |p: &[u8]| [prefix, b"/", p].concat();
    let mut out = Vec::new();
    // One at a time: scan_changes' workers reopen the repository from git's environment, which
    // in a hook is the superproject's.
    // A merge shows, against its first parent, what the merged branch added; those commits are
    // scanned on their own, so only secrets no other parent had at that path are the merge's.
    let others: Vec<git2::Tree<'_>> = commit
        .parents()
        .skip(1)
        .map(|p| p.tree())
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read the parents of merge {id}"))?;
    for c in &changes.files {
        let mut o = scanner.scan_change(sub_repo, c, Some(&hex))?;
        if !others.is_empty() {
            let path = std::str::from_utf8(&c.path).map(std::path::Path::new);
            let theirs: Vec<Oid> = others
                .iter()
                .filter_map(|t| path.ok().and_then(|p| t.get_path(p).ok()).map(|e| e.id()))
                .collect();
            o.findings.retain(|f| {
                !theirs.iter().any(|&id| {
                    // Model findings carry no secret: only an identical file was seen before.
                    ObjectId::from(id) == c.new
                        || (!f.secret.0.is_empty()
                            && sub.find_blob(id).is_ok_and(|b| {
                                memchr::memmem::find(b.content(), &f.secret.0).is_some()
                            }))
                })
            });
        }
        o.path = under(&c.path);
        for f in &mut o.findings {
            f.location.path = under(&f.location.path);
        }
        out.push(o);
    }
    for (p, reason) in changes.skipped {
        out.push(Outcome {
            path: under(&p),
            skipped: Some(reason),
            ..Outcome::default()
        });
    }
    Ok(out)
}

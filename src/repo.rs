//! The repository as the commands see it, whichever backend reads it: libgit2 (SHA-1 object
//! ids and the files ref store: nearly every repository, and the fast path with leakgate's own
//! index reader) or git's plumbing (`gitcli`: SHA-256 and reftable repositories, which libgit2
//! refuses). The scanner and the commands ask for changes, commits and blobs here and never
//! learn which backend answered.
//!
//! Invariants:
//! - libgit2 is tried first; the plumbing is used only when git itself reports a SHA-256 or
//!   reftable repository, so any other reason libgit2 refuses a repository stays an error;
//! - both backends give the same `Changes` for the same repository state (deletions dropped,
//!   gitlinks skipped, renames paired), and every failure is an error, never an empty answer;
//! - a commit cut by a shallow clone's boundary is known here (`shallow`), so a range that
//!   reaches one is refused instead of being diffed against nothing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::Repository;

use crate::git::{self, Change, Changes, ObjectId, StagedIndex};
use crate::gitcli::{GitCli, Layout};

pub enum Repo {
    Libgit2(Repository),
    Cli(Box<GitCli>),
}

/// Open the repository the way git itself would for a hook run in this environment.
pub fn open() -> Result<Repo> {
    let refused = match git::open() {
        Ok(repo) => return Ok(Repo::Libgit2(repo)),
        Err(e) => e,
    };
    // libgit2's words when a repository's format, not its absence, is the problem.
    let format = format!("{refused:#}");
    let format = format.contains("object format") || format.contains("extension");
    match Layout::discover() {
        Ok(layout) if layout.needs_plumbing() => Ok(Repo::Cli(Box::new(layout.open()))),
        Err(e) if format => Err(refused.context(format!(
            "this repository needs git itself to be read (SHA-256 or reftable), and git could \
             not be asked: {e:#}"
        ))),
        _ => Err(refused),
    }
}

/// How a worker thread opens its own handle (neither backend's handle is shared by threads).
#[derive(Clone)]
pub enum Opener {
    Libgit2(PathBuf),
    Cli(Layout),
}

impl Opener {
    pub fn open(&self) -> Result<Repo> {
        match self {
            Opener::Libgit2(path) => Repository::open_from_env()
                .or_else(|_| Repository::open(path))
                .map(Repo::Libgit2)
                .context("cannot reopen the repository"),
            Opener::Cli(layout) => Ok(Repo::Cli(Box::new(layout.open()))),
        }
    }
}

/// A blob's bytes, borrowed from libgit2's object or owned when git's plumbing sent them.
pub enum Blob<'r> {
    Libgit2(git2::Blob<'r>),
    Bytes(Vec<u8>),
}

impl std::ops::Deref for Blob<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Blob::Libgit2(b) => b.content(),
            Blob::Bytes(v) => v,
        }
    }
}

/// The index git will commit from, as each backend reads it.
pub enum Staged {
    Index(StagedIndex),
    /// git's plumbing reads the index itself (honouring `GIT_INDEX_FILE`).
    Cli,
}

/// What a push or a range will add, where the walk starts and what it leaves out.
pub enum Hide<'a> {
    Commit(ObjectId),
    /// Everything the remote is known to have: its remote-tracking refs.
    RemoteRefs(&'a str),
    /// Nothing: the whole history behind the starting commit.
    Nothing,
}

impl Repo {
    /// The git directory (`.git`, or a worktree's own).
    pub fn path(&self) -> &Path {
        match self {
            Repo::Libgit2(r) => r.path(),
            Repo::Cli(c) => c.path(),
        }
    }

    /// Shared by all worktrees: objects, refs, hooks, `shallow`.
    pub fn commondir(&self) -> &Path {
        match self {
            Repo::Libgit2(r) => r.commondir(),
            Repo::Cli(c) => c.commondir(),
        }
    }

    pub fn workdir(&self) -> Option<&Path> {
        match self {
            Repo::Libgit2(r) => r.workdir(),
            Repo::Cli(c) => c.workdir(),
        }
    }

    pub fn libgit2(&self) -> Option<&Repository> {
        match self {
            Repo::Libgit2(r) => Some(r),
            Repo::Cli(_) => None,
        }
    }

    pub fn opener(&self) -> Opener {
        match self {
            Repo::Libgit2(r) => Opener::Libgit2(r.path().to_path_buf()),
            Repo::Cli(c) => Opener::Cli(c.layout().clone()),
        }
    }

    pub fn staged_index(&self) -> Result<Staged> {
        match self {
            Repo::Libgit2(r) => Ok(Staged::Index(StagedIndex::load(r)?)),
            Repo::Cli(_) => Ok(Staged::Cli),
        }
    }

    /// The size of a blob, read from its header only.
    pub fn blob_size(&self, id: &ObjectId) -> Result<usize> {
        match self {
            Repo::Libgit2(r) => {
                let odb = r.odb().context("cannot open the object database")?;
                Ok(odb.read_header(id.to_oid()?)?.0)
            }
            Repo::Cli(c) => Ok(c.object_size(id)?.0),
        }
    }

    pub fn blob(&self, id: &ObjectId) -> Result<Blob<'_>> {
        match self {
            Repo::Libgit2(r) => Ok(Blob::Libgit2(r.find_blob(id.to_oid()?)?)),
            Repo::Cli(c) => Ok(Blob::Bytes(c.blob(id)?)),
        }
    }

    /// The blob at `path` in a commit's tree, if there is one.
    pub fn blob_at(&self, commit: &ObjectId, path: &[u8]) -> Result<Option<Blob<'_>>> {
        match self {
            Repo::Libgit2(r) => {
                let tree = r
                    .find_commit(commit.to_oid()?)
                    .and_then(|c| c.tree())
                    .with_context(|| format!("cannot read the tree of commit {commit}"))?;
                let Ok(path) = std::str::from_utf8(path) else {
                    return Ok(None);
                };
                let Ok(entry) = tree.get_path(Path::new(path)) else {
                    return Ok(None);
                };
                Ok(r.find_blob(entry.id()).ok().map(Blob::Libgit2))
            }
            Repo::Cli(c) => Ok(c.blob_at(commit, path)?.map(Blob::Bytes)),
        }
    }

    /// The commit a revision names.
    pub fn resolve_commit(&self, rev: &str) -> Result<ObjectId> {
        match self {
            Repo::Libgit2(r) => Ok(r
                .revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .with_context(|| format!("cannot resolve `{rev}`"))?
                .id()
                .into()),
            Repo::Cli(c) => c.resolve_commit(rev),
        }
    }

    /// Whether `id` names a commit (or a tag of one) present in this repository.
    pub fn has_commit(&self, id: &ObjectId) -> bool {
        match self {
            // An annotated tag (`git push --tags`) stands for the commit it tags.
            Repo::Libgit2(r) => id.to_oid().is_ok_and(|o| {
                r.find_object(o, None)
                    .and_then(|o| o.peel_to_commit())
                    .is_ok()
            }),
            Repo::Cli(c) => c.has_commit(id),
        }
    }

    /// The commits of `A..B` (or `A...B`), oldest first.
    pub fn range(&self, range: &str) -> Result<Vec<ObjectId>> {
        match self {
            Repo::Libgit2(r) => {
                let mut walk = r.revwalk()?;
                walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
                walk.push_range(range)?;
                Ok(walk
                    .map(|id| id.map(ObjectId::from))
                    .collect::<Result<_, _>>()?)
            }
            Repo::Cli(c) => Ok(c
                .rev_list(&["--end-of-options", range])?
                .into_iter()
                .map(|(id, _)| id)
                .collect()),
        }
    }

    /// Every commit reachable from `from`, oldest first (the root included).
    pub fn ancestry(&self, from: &ObjectId) -> Result<Vec<ObjectId>> {
        self.walk(from, &Hide::Nothing)
    }

    /// The commits reachable from `from` and not from what `hide` names, oldest first.
    pub fn walk(&self, from: &ObjectId, hide: &Hide<'_>) -> Result<Vec<ObjectId>> {
        match self {
            Repo::Libgit2(r) => {
                let mut walk = r.revwalk()?;
                walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
                walk.push(from.to_oid()?)
                    .with_context(|| format!("cannot walk from {from}"))?;
                match hide {
                    Hide::Nothing => {}
                    Hide::Commit(id) => walk.hide(id.to_oid()?)?,
                    Hide::RemoteRefs(remote) => {
                        // No remote-tracking refs at all is fine (nothing is known to be
                        // there); a glob libgit2 cannot apply is not.
                        walk.hide_glob(&format!("refs/remotes/{remote}/*"))
                            .with_context(|| format!("cannot read the refs of remote {remote}"))?
                    }
                }
                Ok(walk
                    .map(|id| id.map(ObjectId::from))
                    .collect::<Result<_, _>>()?)
            }
            Repo::Cli(c) => {
                let from = from.to_string();
                let hidden = match hide {
                    Hide::Nothing => None,
                    Hide::Commit(id) => Some(format!("^{id}")),
                    Hide::RemoteRefs(remote) => Some(format!("--remotes={remote}/*")),
                };
                let mut args = vec![from.as_str()];
                if matches!(hide, Hide::RemoteRefs(_)) {
                    args.push("--not");
                }
                args.extend(hidden.as_deref());
                Ok(c.rev_list(&args)?.into_iter().map(|(id, _)| id).collect())
            }
        }
    }

    /// A commit's parents, first parent first.
    pub fn parents(&self, commit: &ObjectId) -> Result<Vec<ObjectId>> {
        match self {
            Repo::Libgit2(r) => {
                let c = r
                    .find_commit(commit.to_oid()?)
                    .with_context(|| format!("cannot read commit {commit}"))?;
                Ok(c.parent_ids().map(ObjectId::from).collect())
            }
            Repo::Cli(c) => c.parents(commit),
        }
    }

    /// What a commit added against its first parent (the empty tree for a root commit).
    pub fn commit_changes(
        &self,
        commit: &ObjectId,
        first_parent: Option<&ObjectId>,
    ) -> Result<Changes> {
        match self {
            Repo::Libgit2(r) => {
                let c = r
                    .find_commit(commit.to_oid()?)
                    .with_context(|| format!("cannot read commit {commit}"))?;
                git::commit_changes(r, &c)
            }
            Repo::Cli(c) => c.commit_changes(commit, first_parent),
        }
    }

    /// Every blob of HEAD's tree; None when HEAD is unborn.
    pub fn head_files(&self) -> Result<Option<Vec<Change>>> {
        match self {
            Repo::Libgit2(r) => {
                let Some(tree) = git::head_tree(r)? else {
                    return Ok(None);
                };
                let mut changes = Vec::new();
                tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                    if entry.kind() == Some(git2::ObjectType::Blob) {
                        let mut path = dir.as_bytes().to_vec();
                        path.extend_from_slice(entry.name_bytes());
                        changes.push(Change {
                            path,
                            old: None,
                            new: entry.id().into(),
                            worktree: false,
                        });
                    }
                    git2::TreeWalkResult::Ok
                })
                .context("walking the HEAD tree")?;
                Ok(Some(changes))
            }
            Repo::Cli(c) => c.head_files(),
        }
    }

    /// The commits being merged in (`MERGE_HEAD`) while a merge is being concluded.
    pub fn merge_heads(&self) -> Result<Vec<ObjectId>> {
        // git keeps MERGE_HEAD as a file in the git directory with either ref store.
        read_ids(&self.path().join("MERGE_HEAD"))
    }

    /// The commits whose parents a shallow clone did not fetch (`shallow` in the common git
    /// directory). Empty for a complete repository.
    pub fn shallow(&self) -> Result<HashSet<ObjectId>> {
        Ok(read_ids(&self.commondir().join("shallow"))?
            .into_iter()
            .collect())
    }

    /// Read one change's new content: the working-tree copy when it hashes to the staged id,
    /// else the blob.
    pub fn read_worktree_copy(&self, change: &Change, size: usize) -> Option<Vec<u8>> {
        git::read_worktree_copy(self.workdir(), change, size)
    }

    /// The working-tree copy of a large staged file, for streaming (see `git::open_worktree_copy`).
    pub fn open_worktree_copy(&self, change: &Change, size: u64) -> Option<std::fs::File> {
        git::open_worktree_copy(self.workdir(), change, size)
    }
}

const MIXED: &str = "internal error: an index read by one backend used with the other";

impl Staged {
    /// Staged changes: HEAD (or the empty tree) against the index.
    pub fn staged(&self, repo: &Repo) -> Result<Changes> {
        match (self, repo) {
            (Staged::Index(ix), Repo::Libgit2(r)) => ix.staged(r),
            (_, Repo::Cli(c)) => c.staged(),
            (Staged::Cli, Repo::Libgit2(_)) => bail!(MIXED),
        }
    }

    /// Index entries at or below `paths`, scanned whole.
    pub fn entries_under(&self, repo: &Repo, paths: &[Vec<u8>]) -> Result<Vec<Change>> {
        match (self, repo) {
            (Staged::Index(ix), Repo::Libgit2(r)) => ix.entries_under(r, paths),
            (Staged::Cli, Repo::Cli(c)) => {
                let mut files = c.entries_under(paths)?;
                files.sort_by(|a, b| a.path.cmp(&b.path));
                files.dedup_by(|a, b| a.path == b.path);
                Ok(files)
            }
            (Staged::Cli, Repo::Libgit2(_)) | (Staged::Index(_), Repo::Cli(_)) => bail!(MIXED),
        }
    }
}

/// The object ids listed in one of git's state files (whitespace-separated hex); none when the
/// file does not exist.
fn read_ids(path: &Path) -> Result<Vec<ObjectId>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.split_whitespace()
        .map(ObjectId::from_hex)
        .collect::<Result<_>>()
        .with_context(|| format!("{} is malformed", path.display()))
}

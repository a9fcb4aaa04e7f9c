//! What git is about to record, read through libgit2: the staged diff (index against HEAD) and
//! the diffs of commits in a range.
//!
//! Invariants:
//! - the repository is opened with git's environment (`GIT_DIR`, `GIT_INDEX_FILE`, …), because
//!   `git commit -a` and `git commit -- path` hand the hook a temporary index, and a hook that
//!   reads `.git/index` instead scans the wrong content;
//! - the index blob is scanned, never the working tree (partial staging stays honest);
//! - unborn HEAD (first commit) diffs against the empty tree; any other failure to read HEAD, the
//!   index or an object is an error that blocks (fail closed), never an empty diff;
//! - deletions and gitlinks are dropped here; everything else becomes a `Change`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{
    Delta, DiffFindOptions, DiffOptions, ErrorCode, FileMode, Index, Oid, Patch, Repository, Tree,
};

/// One file whose new content is to be scanned.
#[derive(Debug, Clone)]
pub struct Change {
    /// Repository-relative path as git stores it (bytes: names need not be UTF-8).
    pub path: Vec<u8>,
    /// The previous version: HEAD's blob (or the rename source). None when the file is new or
    /// when the whole content is to be scanned.
    pub old: Option<Oid>,
    pub new: Oid,
}

/// The result of listing a diff: what to scan and what was skipped on purpose.
#[derive(Debug, Default)]
pub struct Changes {
    pub files: Vec<Change>,
    /// (path, reason) for entries deliberately not scanned (submodules).
    pub skipped: Vec<(Vec<u8>, String)>,
}

/// Open the repository the way git itself would for a hook run in this environment.
pub fn open() -> Result<Repository> {
    // libgit2 re-hashes every object it reads (SHA-1 with collision detection, the slowest part
    // of a diff); git itself only does that in fsck. A damaged object still fails to inflate or
    // parse, which is an error that blocks.
    git2::opts::strict_hash_verification(false);
    Repository::open_from_env()
        .context("cannot open a git repository here (run inside a repository, or set GIT_DIR)")
}

/// The tree HEAD points at; None when HEAD is unborn (the first commit of a branch).
pub fn head_tree(repo: &Repository) -> Result<Option<Tree<'_>>> {
    let head = match repo.head() {
        Ok(h) => h,
        Err(e) if e.code() == ErrorCode::UnbornBranch || e.code() == ErrorCode::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(e).context("cannot resolve HEAD"),
    };
    let name = head.name().unwrap_or("HEAD").to_string();
    let commit = head
        .peel_to_commit()
        .with_context(|| format!("HEAD ({name}) points at a commit that cannot be read"))?;
    let tree = commit
        .tree()
        .with_context(|| format!("cannot read the tree of HEAD commit {}", commit.id()))?;
    Ok(Some(tree))
}

/// The index git will commit from (honours `GIT_INDEX_FILE`).
pub fn index(repo: &Repository) -> Result<Index> {
    let index = repo.index().context("cannot read the git index")?;
    if index.has_conflicts() {
        bail!("the index has unresolved merge conflicts; resolve them before committing");
    }
    Ok(index)
}

/// Staged changes: HEAD (or the empty tree) against the index, renames detected so a moved
/// file reports only its new lines.
pub fn staged(repo: &Repository, index: &Index) -> Result<Changes> {
    let head = head_tree(repo)?;
    let mut opts = diff_options();
    let mut diff = repo
        .diff_tree_to_index(head.as_ref(), Some(index), Some(&mut opts))
        .context("cannot compute the staged diff (HEAD against the index)")?;
    collect(repo, &mut diff)
}

/// What a commit added against its first parent (or the empty tree for a root commit).
pub fn commit_changes(repo: &Repository, commit: &git2::Commit<'_>) -> Result<Changes> {
    let tree = commit
        .tree()
        .with_context(|| format!("cannot read the tree of commit {}", commit.id()))?;
    let parent_tree =
        match commit.parent_count() {
            0 => None,
            _ => Some(commit.parent(0).and_then(|p| p.tree()).with_context(|| {
                format!("cannot read the first parent of commit {}", commit.id())
            })?),
        };
    let mut opts = diff_options();
    let mut diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))
        .with_context(|| format!("cannot diff commit {}", commit.id()))?;
    collect(repo, &mut diff)
}

fn diff_options() -> DiffOptions {
    let mut opts = DiffOptions::new();
    // Typechanges (file <-> symlink) are reported as such rather than as delete+add, and
    // submodule contents are never walked.
    opts.include_typechange(true)
        .ignore_submodules(true)
        .context_lines(0);
    opts
}

fn collect(_repo: &Repository, diff: &mut git2::Diff<'_>) -> Result<Changes> {
    let mut find = DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))
        .context("rename detection failed")?;
    let mut out = Changes::default();
    for delta in diff.deltas() {
        let new = delta.new_file();
        let path = new
            .path_bytes()
            .or_else(|| delta.old_file().path_bytes())
            .unwrap_or_default()
            .to_vec();
        match delta.status() {
            Delta::Deleted | Delta::Unmodified | Delta::Ignored | Delta::Untracked => continue,
            Delta::Unreadable => bail!(
                "git reports {} as unreadable; cannot verify what is staged",
                String::from_utf8_lossy(&path)
            ),
            Delta::Conflicted => bail!(
                "{} is in conflict; resolve it before committing",
                String::from_utf8_lossy(&path)
            ),
            _ => {}
        }
        if new.mode() == FileMode::Commit {
            out.skipped.push((path, "submodule (gitlink)".to_string()));
            continue;
        }
        let old = match delta.status() {
            Delta::Added | Delta::Typechange => None,
            _ => Some(delta.old_file().id()).filter(|o| !o.is_zero()),
        };
        let old = old.filter(|_| delta.old_file().mode() != FileMode::Commit);
        out.files.push(Change {
            path,
            old,
            new: new.id(),
        });
    }
    Ok(out)
}

/// Index entries at or below `paths` (repository-relative), scanned whole: `pre-commit run
/// --all-files` names files that have no staged change and still expects them checked.
pub fn index_entries_under(index: &Index, paths: &[Vec<u8>]) -> Vec<Change> {
    let mut out = Vec::new();
    for entry in index.iter() {
        if !paths.iter().any(|p| path_is_under(&entry.path, p)) {
            continue;
        }
        let mode = entry.mode;
        if mode == u32::from(FileMode::Commit) {
            continue;
        }
        out.push(Change {
            path: entry.path.clone(),
            old: None,
            new: entry.id,
        });
    }
    out
}

/// `path` equals `prefix` or lies in the directory `prefix`. An empty prefix is the root.
pub fn path_is_under(path: &[u8], prefix: &[u8]) -> bool {
    let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
    prefix.is_empty()
        || path == prefix
        || (path.len() > prefix.len() && path.starts_with(prefix) && path[prefix.len()] == b'/')
}

/// Turn command-line paths (relative to the current directory) into repository-relative ones.
pub fn repo_relative(repo: &Repository, paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    let Some(workdir) = repo.workdir() else {
        bail!("paths were given but the repository has no working tree");
    };
    let workdir = canonical(workdir)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut out = Vec::new();
    for p in paths {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            cwd.join(p)
        };
        match normalize(&abs).strip_prefix(&workdir) {
            Ok(rel) => out.push(path_bytes(rel)),
            Err(_) => bail!(
                "{} is outside the repository at {}",
                p.display(),
                workdir.display()
            ),
        }
    }
    Ok(out)
}

fn canonical(p: &Path) -> Result<PathBuf> {
    p.canonicalize()
        .with_context(|| format!("cannot resolve {}", p.display()))
}

/// Lexically resolve `.` and `..` and follow symlinks of the longest existing prefix.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    // Canonicalise the existing part so /tmp vs /private/tmp style links agree with the workdir.
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => break,
        }
        if !existing.pop() {
            break;
        }
    }
    let mut base = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        base.push(name);
    }
    base
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().replace('\\', "/").into_bytes()
}

/// 1-based (start, count) ranges of the new blob's lines that are added relative to `old`.
pub fn added_ranges(old: &[u8], new: &[u8]) -> Result<Vec<(u32, u32)>> {
    let mut opts = DiffOptions::new();
    opts.context_lines(0).force_text(true).interhunk_lines(0);
    let patch = Patch::from_buffers(old, None, new, None, Some(&mut opts))
        .context("diffing the staged blob against its previous version")?;
    let mut ranges = Vec::with_capacity(patch.num_hunks());
    for i in 0..patch.num_hunks() {
        let (hunk, _) = patch.hunk(i).context("reading a diff hunk")?;
        if hunk.new_lines() > 0 {
            ranges.push((hunk.new_start(), hunk.new_lines()));
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, old, new, expected added ranges)
    type RangeCase<'a> = (&'a str, &'a str, &'a str, &'a [(u32, u32)]);

    #[test]
    fn added_ranges_table() {
        let cases: &[RangeCase] = &[
            ("new file", "", "a\nb\n", &[(1, 2)]),
            ("append", "a\n", "a\nb\n", &[(2, 1)]),
            ("modify middle", "a\nb\nc\n", "a\nB\nc\n", &[(2, 1)]),
            ("delete only", "a\nb\n", "a\n", &[]),
            (
                "two hunks",
                "a\nb\nc\nd\n",
                "A\nb\nc\nD\n",
                &[(1, 1), (4, 1)],
            ),
            ("no newline at end", "a", "a\nb", &[(1, 2)]),
        ];
        for (name, old, new, want) in cases {
            let got = added_ranges(old.as_bytes(), new.as_bytes()).unwrap();
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn added_ranges_handles_invalid_utf8_and_nul() {
        let got = added_ranges(b"x\n", b"x\n\xff\xfe\x00tok\n").unwrap();
        assert_eq!(got, vec![(2, 1)]);
    }

    #[test]
    fn path_is_under_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("a/b.py", "a", true),
            ("a/b.py", "a/", true),
            ("a/b.py", "a/b.py", true),
            ("ab/c.py", "a", false),
            ("a", "a/b", false),
            ("x.py", "", true),
        ];
        for (path, prefix, want) in cases {
            assert_eq!(
                path_is_under(path.as_bytes(), prefix.as_bytes()),
                *want,
                "{path} {prefix}"
            );
        }
    }
}

//! What a commit added against its first parent, read through libgit2 like the staged diff.
//!
//! Invariants: the two trees are compared directory by directory first, skipping every subtree
//! whose id is unchanged, and only the paths that differ are handed to libgit2's diff (exact
//! paths, each also covering the directory of that name), so rename detection sees every
//! addition and deletion of the commit while the thousands of unchanged files of a large
//! repository are never walked; a tree that cannot be read is an error, never "no change".

use anyhow::{Context, Result};
use git2::{Oid, Repository, Tree};

use super::{collect, diff_options, Changes};

/// What `commit` added against its first parent (or the empty tree for a root commit).
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
    if let Some(parent) = &parent_tree {
        let mut specs = Vec::new();
        changed_paths(repo, parent.id(), tree.id(), &mut Vec::new(), &mut specs)
            .with_context(|| format!("cannot compare commit {} with its parent", commit.id()))?;
        if specs.is_empty() {
            return Ok(Changes::default());
        }
        opts.disable_pathspec_match(true);
        for spec in &specs {
            opts.pathspec(spec.as_slice());
        }
    }
    let mut diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))
        .with_context(|| format!("cannot diff commit {}", commit.id()))?;
    collect(repo, &mut diff)
}

/// Git's mode of a tree entry that is a directory.
const TREE_MODE: i32 = 0o040000;

/// Appends to `out` the paths below `prefix` whose entries differ between trees `old` and `new`
/// (added, removed, changed id or mode); a directory present on both sides is descended into
/// only when its id changed.
fn changed_paths(
    repo: &Repository,
    old: Oid,
    new: Oid,
    prefix: &mut Vec<u8>,
    out: &mut Vec<Vec<u8>>,
) -> Result<()> {
    let read = |id: Oid, prefix: &[u8]| -> Result<Tree<'_>> {
        repo.find_tree(id).with_context(|| {
            format!(
                "cannot read tree {id} of {:?}",
                String::from_utf8_lossy(prefix)
            )
        })
    };
    let (old, new) = (read(old, prefix)?, read(new, prefix)?);
    // Both entry lists are in git's tree order; names are compared as that order does (a
    // directory as if followed by `/`), so one merge pass pairs them.
    let key = |e: &git2::TreeEntry<'_>| {
        let mut k = e.name_bytes().to_vec();
        if e.filemode() == TREE_MODE {
            k.push(b'/');
        }
        k
    };
    let (mut a, mut b) = (old.iter().peekable(), new.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => key(x).cmp(&key(y)),
        };
        let (x, y) = match order {
            std::cmp::Ordering::Less => (a.next(), None),
            std::cmp::Ordering::Greater => (None, b.next()),
            std::cmp::Ordering::Equal => (a.next(), b.next()),
        };
        let name = x.as_ref().or(y.as_ref()).map(|e| e.name_bytes().to_vec());
        let name = name.unwrap_or_default();
        match (&x, &y) {
            (Some(x), Some(y)) if x.id() == y.id() && x.filemode() == y.filemode() => continue,
            (Some(x), Some(y)) if x.filemode() == TREE_MODE && y.filemode() == TREE_MODE => {
                let len = prefix.len();
                prefix.extend_from_slice(&name);
                prefix.push(b'/');
                changed_paths(repo, x.id(), y.id(), prefix, out)?;
                prefix.truncate(len);
            }
            _ => out.push([prefix.as_slice(), &name].concat()),
        }
    }
    Ok(())
}

//! What git is about to record, read through libgit2: the staged diff (index against HEAD) and
//! the diffs of commits in a range.
//!
//! Invariants:
//! - the repository is opened with git's environment (`GIT_DIR`, `GIT_INDEX_FILE`, …), because
//!   `git commit -a` and `git commit -- path` hand the hook a temporary index, and a hook that
//!   reads `.git/index` instead scans the wrong content;
//! - the staged blob is what is scanned: a working-tree file stands in for it only when its
//!   content hashes to the staged object id (partial staging stays honest);
//! - the index is read by `index` (the cache-tree prunes unchanged directories) and only
//!   changed paths are handed to libgit2's diff, so renames are detected exactly as before;
//!   index forms that reader leaves alone are loaded through libgit2 instead;
//! - unborn HEAD (first commit) diffs against the empty tree; any other failure to read HEAD, the
//!   index or an object is an error that blocks (fail closed), never an empty diff;
//! - an added file git paired with no rename source (moved and grown past 50 % similarity) takes
//!   the removed file it shares the most lines with as its previous version, so lines that were
//!   committed before are not new again;
//! - deletions are dropped here; gitlinks are listed; everything else becomes a `Change`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{
    Delta, DiffFindOptions, DiffOptions, ErrorCode, FileMode, Index, IndexEntry, IndexTime, Oid,
    Patch, Repository, Tree,
};

use crate::index::{self, CacheTree, IndexFile};

pub use commit::commit_changes;

/// A git object id of either hash function: 20 bytes (SHA-1, what libgit2 reads) or 32 bytes
/// (SHA-256, read through git's plumbing by `gitcli`). The scanner only compares, prints and
/// hands ids back to the backend that produced them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    len: u8,
    bytes: [u8; 32],
}

impl ObjectId {
    /// From the raw hash bytes (20 or 32 of them).
    pub fn from_bytes(raw: &[u8]) -> Option<ObjectId> {
        if raw.len() != 20 && raw.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 32];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(ObjectId {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// From 40 (SHA-1) or 64 (SHA-256) hex digits.
    pub fn from_hex(hex: &str) -> Result<ObjectId> {
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let raw = hex.as_bytes();
        if raw.len() != 40 && raw.len() != 64 {
            bail!("`{}` is not an object id", crate::report::sanitize(hex));
        }
        let mut bytes = Vec::with_capacity(raw.len() / 2);
        for pair in raw.chunks_exact(2) {
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => bytes.push(h << 4 | l),
                _ => bail!("`{}` is not an object id", crate::report::sanitize(hex)),
            }
        }
        Ok(ObjectId::from_bytes(&bytes).expect("20 or 32 bytes"))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub fn is_zero(&self) -> bool {
        self.as_bytes().iter().all(|&b| b == 0)
    }

    /// The libgit2 id, for a SHA-1 id (libgit2 as bound by git2 reads no other).
    pub fn to_oid(self) -> Result<Oid> {
        Oid::from_bytes(self.as_bytes())
            .with_context(|| format!("object id {self} is not a SHA-1 id"))
    }
}

impl From<Oid> for ObjectId {
    fn from(id: Oid) -> ObjectId {
        ObjectId::from_bytes(id.as_bytes()).expect("a libgit2 id has 20 bytes")
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// One file whose new content is to be scanned.
#[derive(Debug, Clone)]
pub struct Change {
    /// Repository-relative path as git stores it (bytes: names need not be UTF-8).
    pub path: Vec<u8>,
    /// The previous version: HEAD's blob (or the rename source). None when the file is new or
    /// when the whole content is to be scanned.
    pub old: Option<ObjectId>,
    pub new: ObjectId,
    /// The staged entry is a regular file present in the working tree, so the working-tree
    /// copy may stand in for the blob when it hashes to `new` (see `read_worktree_copy`).
    pub worktree: bool,
}

/// A submodule entry (gitlink) whose recorded commit changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gitlink {
    pub path: Vec<u8>,
    /// The commit recorded before; None for a new submodule.
    pub old: Option<Oid>,
    pub new: Oid,
}

/// The result of listing a diff: what to scan and what was skipped on purpose.
#[derive(Debug, Default)]
pub struct Changes {
    pub files: Vec<Change>,
    /// (path, reason) for entries deliberately not scanned (submodules).
    pub skipped: Vec<(Vec<u8>, String)>,
    /// The submodule moves among `skipped`: a caller that can scan the commits they bring in
    /// (see `submodule`) takes them out of `skipped`.
    pub gitlinks: Vec<Gitlink>,
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

/// The index file git commits from, and whether it was named explicitly. `GIT_INDEX_FILE`
/// (which `git commit -a` and `git commit -- path` point at a temporary index) wins; git
/// resolves a relative value against the top of the work tree (it moves there before reading
/// it; the git directory in a bare repository), not against the current directory: a hook
/// manager that starts leakgate in a subdirectory still gets the index git meant.
fn index_file(repo: &Repository, env: Option<std::ffi::OsString>) -> (PathBuf, bool) {
    match env.filter(|v| !v.is_empty()).map(PathBuf::from) {
        Some(f) if f.is_absolute() => (f, true),
        Some(f) => (repo.workdir().unwrap_or_else(|| repo.path()).join(f), true),
        None => (repo.path().join("index"), false),
    }
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

/// The index git will commit from (honours `GIT_INDEX_FILE`), read once per run.
pub enum StagedIndex {
    /// Read by leakgate's own reader (the common case).
    Direct(IndexFile),
    /// A form that reader leaves to libgit2 (split or sparse index, …).
    Libgit2(Index),
}

impl StagedIndex {
    pub fn load(repo: &Repository) -> Result<StagedIndex> {
        let (file, named) = index_file(repo, std::env::var_os("GIT_INDEX_FILE"));
        Self::read(repo, &file, named)
    }

    fn read(repo: &Repository, file: &Path, named: bool) -> Result<StagedIndex> {
        let (staged, conflicts) = match index::read(file, repo.path(), !named)? {
            index::Read::Parsed(ix) => {
                let conflicts = ix.has_conflicts();
                (StagedIndex::Direct(ix), conflicts)
            }
            index::Read::Split(_) => unreachable!("index::read merges split indexes"),
            index::Read::Unsupported(form) => {
                // The file itself, not `repo.index()`: libgit2 resolves a relative
                // GIT_INDEX_FILE against the current directory, which is not git's rule.
                let ix = Index::open(file).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the git index {} ({}): {}",
                        file.display(),
                        form.what,
                        e.message()
                    )
                })?;
                let conflicts = ix.has_conflicts();
                (StagedIndex::Libgit2(ix), conflicts)
            }
        };
        if conflicts {
            bail!("the index has unresolved merge conflicts; resolve them before committing");
        }
        Ok(staged)
    }

    /// Staged changes: HEAD (or the empty tree) against the index, renames detected so a moved
    /// file reports only its new lines.
    pub fn staged(&self, repo: &Repository) -> Result<Changes> {
        let head = head_tree(repo)?;
        let ix = match self {
            StagedIndex::Libgit2(ix) => {
                let mut opts = diff_options();
                let mut diff = repo
                    .diff_tree_to_index(head.as_ref(), Some(ix), Some(&mut opts))
                    .context("cannot compute the staged diff (HEAD against the index)")?;
                return collect(repo, &mut diff);
            }
            StagedIndex::Direct(ix) => ix,
        };
        let expanded;
        let ix = if ix.sparse {
            expanded = expand_changed_sparse_dirs(repo, ix, head.as_ref())?;
            &expanded
        } else {
            ix
        };
        let workdir = repo.workdir().is_some();
        let worktree = |e: &index::Entry| workdir && e.is_regular_file() && !e.skip_worktree;
        let Some(head) = head else {
            // A first commit: everything is an addition and nothing can be a rename source.
            let mut out = Changes::default();
            for e in ix.entries.iter().filter(|e| !e.intent_to_add) {
                push_entry(&mut out, ix.path(e), e, worktree(e));
            }
            return Ok(out);
        };
        let specs = changed_paths(repo, &head, ix)?;
        if specs.is_empty() {
            return Ok(Changes::default());
        }
        // libgit2 diffs HEAD against an in-memory index holding only the changed entries, its
        // tree walk limited to the changed paths (exact paths, not globs: each also covers the
        // directory of that name), so rename detection sees every addition and deletion.
        let mut small = Index::new().context("cannot create an in-memory index")?;
        let mut opts = diff_options();
        opts.disable_pathspec_match(true);
        for spec in &specs {
            opts.pathspec(spec.as_slice());
            for e in ix.entries_under(spec) {
                if !e.intent_to_add {
                    small.add(&index_entry(ix, e)).with_context(|| {
                        format!(
                            "cannot stage {:?} in memory",
                            String::from_utf8_lossy(ix.path(e))
                        )
                    })?;
                }
            }
        }
        let mut diff = repo
            .diff_tree_to_index(Some(&head), Some(&small), Some(&mut opts))
            .context("cannot compute the staged diff (HEAD against the index)")?;
        let mut out = collect(repo, &mut diff)?;
        for c in &mut out.files {
            c.worktree = ix.find(&c.path).is_some_and(worktree);
        }
        Ok(out)
    }

    /// Index entries at or below `paths` (repository-relative), scanned whole: `pre-commit run
    /// --all-files` names files that have no staged change and still expects them checked.
    pub fn entries_under(&self, repo: &Repository, paths: &[Vec<u8>]) -> Result<Vec<Change>> {
        let mut out = Changes::default();
        match self {
            StagedIndex::Direct(ix) => {
                let expanded;
                let ix = if ix.sparse {
                    // A sparse directory stands for every file below it: list them.
                    expanded = ix.expand_sparse(|dir, e| {
                        let wanted = paths
                            .iter()
                            .any(|p| path_is_under(dir, p) || path_is_under(p, dir));
                        wanted.then(|| tree_files(repo, dir, e.id)).transpose()
                    })?;
                    &expanded
                } else {
                    ix
                };
                for p in paths {
                    for e in ix.entries_under(p) {
                        push_entry(&mut out, ix.path(e), e, false);
                    }
                }
            }
            StagedIndex::Libgit2(ix) => {
                for e in ix.iter() {
                    if paths.iter().any(|p| path_is_under(&e.path, p))
                        && e.mode != index::MODE_GITLINK
                    {
                        out.files.push(change(e.path.clone(), e.id, false));
                    }
                }
            }
        }
        out.files.sort_by(|a, b| a.path.cmp(&b.path));
        out.files.dedup_by(|a, b| a.path == b.path);
        Ok(out.files)
    }
}

/// A sparse index keeps whole directories outside the sparse-checkout cone as single entries.
/// Those whose tree is HEAD's are unchanged and stay folded (the common case: nothing outside
/// the cone was touched); the others are expanded into the files of their tree, so the diff
/// sees what will really be committed there.
fn expand_changed_sparse_dirs(
    repo: &Repository,
    ix: &IndexFile,
    head: Option<&Tree<'_>>,
) -> Result<IndexFile> {
    ix.expand_sparse(|dir, e| {
        let in_head = head.and_then(|h| h.get_path(Path::new(&*String::from_utf8_lossy(dir))).ok());
        let unchanged =
            in_head.is_some_and(|t| t.id() == e.id && t.kind() == Some(git2::ObjectType::Tree));
        (!unchanged)
            .then(|| tree_files(repo, dir, e.id))
            .transpose()
    })
}

/// Every non-tree entry below the tree `id` at `dir`, as (path, mode, id) in index order (git's
/// tree order is index order once directory names are read with their trailing '/').
fn tree_files(repo: &Repository, dir: &[u8], id: Oid) -> Result<Vec<(Vec<u8>, u32, Oid)>> {
    let shown = || String::from_utf8_lossy(dir).into_owned();
    let tree = repo.find_tree(id).with_context(|| {
        format!(
            "cannot read tree {id} of the sparse directory {:?}",
            shown()
        )
    })?;
    let mut out = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
        if entry.kind() != Some(git2::ObjectType::Tree) {
            let path = [dir, b"/", parent.as_bytes(), entry.name_bytes()].concat();
            out.push((path, entry.filemode() as u32, entry.id()));
        }
        git2::TreeWalkResult::Ok
    })
    .with_context(|| format!("cannot walk the sparse directory {:?}", shown()))?;
    Ok(out)
}

fn change(path: Vec<u8>, new: Oid, worktree: bool) -> Change {
    Change {
        path,
        old: None,
        new: new.into(),
        worktree,
    }
}

/// An added entry: scanned whole, or listed as skipped when it is a submodule.
fn push_entry(out: &mut Changes, path: &[u8], e: &index::Entry, worktree: bool) {
    if e.mode == index::MODE_GITLINK {
        out.skipped
            .push((path.to_vec(), "submodule (gitlink)".to_string()));
        out.gitlinks.push(Gitlink {
            path: path.to_vec(),
            old: None,
            new: e.id,
        });
    } else {
        out.files.push(change(path.to_vec(), e.id, worktree));
    }
}

fn index_entry(ix: &IndexFile, e: &index::Entry) -> IndexEntry {
    let zero = IndexTime::new(0, 0);
    IndexEntry {
        ctime: zero,
        mtime: zero,
        dev: 0,
        ino: 0,
        mode: e.mode,
        uid: 0,
        gid: 0,
        file_size: e.size,
        id: e.id,
        flags: 0,
        flags_extended: 0,
        path: ix.path(e).to_vec(),
    }
}

/// The paths whose staged entry differs from HEAD, as exact paths (a directory stands for
/// everything below it). Walks HEAD's tree and the index together, one directory at a time,
/// and skips a directory outright when the cache-tree records the same tree id as HEAD (what
/// git commits for it is then HEAD's tree), so an everyday commit reads only the trees on the
/// paths that changed.
fn changed_paths(repo: &Repository, head: &Tree<'_>, ix: &IndexFile) -> Result<Vec<Vec<u8>>> {
    struct Dir {
        prefix: Vec<u8>,
        tree: Oid,
        /// The index entries below `prefix`: `lo..hi`.
        lo: usize,
        hi: usize,
        node: Option<usize>,
    }
    let cache = ix.cache_tree.as_ref();
    let mut specs = Vec::new();
    let mut todo = vec![Dir {
        prefix: Vec::new(),
        tree: head.id(),
        lo: 0,
        hi: ix.entries.len(),
        node: cache.map(|_| CacheTree::ROOT),
    }];
    while let Some(dir) = todo.pop() {
        let known = cache.zip(dir.node).and_then(|(c, n)| c.nodes[n].id);
        if known == Some(dir.tree) {
            continue;
        }
        let tree = repo.find_tree(dir.tree).with_context(|| {
            format!(
                "cannot read HEAD's tree {} for {:?}",
                dir.tree,
                String::from_utf8_lossy(&dir.prefix)
            )
        })?;
        let mut head_entries: HashMap<Vec<u8>, (Oid, u32)> = tree
            .iter()
            .map(|t| (t.name_bytes().to_vec(), (t.id(), t.filemode() as u32)))
            .collect();
        let under = |name: &[u8]| [dir.prefix.as_slice(), name].concat();
        let mut i = dir.lo;
        while i < dir.hi {
            let e = &ix.entries[i];
            let rest = &ix.path(e)[dir.prefix.len()..];
            let Some(slash) = memchr::memchr(b'/', rest) else {
                i += 1;
                if e.intent_to_add {
                    continue; // git add -N: not committed
                }
                if head_entries.remove(rest) != Some((e.id, e.mode)) {
                    specs.push(ix.path(e).to_vec());
                }
                continue;
            };
            let name = &rest[..slash];
            let end = ix.end_below(i..dir.hi, &under(name));
            if e.is_sparse_dir() && slash + 1 == rest.len() {
                // A folded directory of a sparse index: changed when its tree is not HEAD's.
                if head_entries.remove(name) != Some((e.id, index::MODE_TREE)) {
                    specs.push(under(name));
                }
                i = end;
                continue;
            }
            match head_entries.remove(name) {
                Some((id, mode)) if mode == index::MODE_TREE => {
                    let mut prefix = under(name);
                    prefix.push(b'/');
                    todo.push(Dir {
                        prefix,
                        tree: id,
                        lo: i,
                        hi: end,
                        node: cache.zip(dir.node).and_then(|(c, n)| c.child(n, name)),
                    });
                }
                _ => specs.push(under(name)),
            }
            i = end;
        }
        // In HEAD, gone from the index: deletions (rename sources for libgit2).
        specs.extend(head_entries.into_keys().map(|name| under(&name)));
    }
    specs.sort();
    Ok(specs)
}

fn diff_options() -> DiffOptions {
    let mut opts = DiffOptions::new();
    // Typechanges (file <-> symlink) are reported as such rather than as delete+add. Submodules
    // are not ignored: with that flag libgit2 drops a moved gitlink from the diff altogether, and
    // a commit that moves one looked like it changed nothing. Tree and index diffs compare
    // gitlink ids only; no submodule working tree is walked.
    opts.include_typechange(true)
        .ignore_submodules(false)
        .context_lines(0);
    opts
}

fn collect(repo: &Repository, diff: &mut git2::Diff<'_>) -> Result<Changes> {
    let mut find = DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))
        .context("rename detection failed")?;
    let mut out = Changes::default();
    // Removed regular files: sources for added files git paired with nothing.
    let removed: Vec<Oid> = diff
        .deltas()
        .filter(|d| d.status() == Delta::Deleted && d.old_file().mode() != FileMode::Commit)
        .map(|d| d.old_file().id())
        .collect();
    let mut unpaired = Vec::new();
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
            let before = delta.old_file();
            out.gitlinks.push(Gitlink {
                path: path.clone(),
                old: (before.mode() == FileMode::Commit && !before.id().is_zero())
                    .then(|| before.id()),
                new: new.id(),
            });
            out.skipped.push((path, "submodule (gitlink)".to_string()));
            continue;
        }
        let old = match delta.status() {
            Delta::Added | Delta::Typechange => None,
            _ => Some(delta.old_file().id()).filter(|o| !o.is_zero()),
        };
        let old = old.filter(|_| delta.old_file().mode() != FileMode::Commit);
        if delta.status() == Delta::Added {
            unpaired.push(out.files.len());
        }
        out.files.push(Change {
            old: old.map(ObjectId::from),
            ..change(path, new.id(), false)
        });
    }
    if !removed.is_empty() && !unpaired.is_empty() {
        let candidates = removed_lines(repo, &removed)?;
        for i in unpaired {
            let c = &mut out.files[i];
            c.old = closest_removed(repo, c.new.to_oid()?, &candidates)
                .with_context(|| format!("pairing {} with a removed file", show(&c.path)))?
                .map(ObjectId::from);
        }
    }
    Ok(out)
}

fn show(path: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(path)
}

/// Pairing bounds: a file past this size is compared with nothing, and removed files are read
/// only up to a total budget and count, so a commit that moves a tree of large files costs no
/// more than reading each once. Past a bound lines stay new: the safe direction.
const PAIR_MAX_SIZE: usize = 4 << 20;
const PAIR_BUDGET: usize = 64 << 20;
const PAIR_MAX_CANDIDATES: usize = 200;

/// The removed files' distinct non-blank lines, hashed, as line -> files holding it (a hash
/// collision only lets an unrelated line count for pairing; the added-line diff itself compares
/// real lines). Lines that many removed files share (boilerplate) say nothing about which file
/// moved and are left out, which also keeps pairing linear in the lines read.
struct Removed {
    ids: Vec<Oid>,
    files_of: HashMap<u64, Vec<u32>>,
}

const PAIR_COMMON_LINE: usize = 8;

fn removed_lines(repo: &Repository, removed: &[Oid]) -> Result<Removed> {
    let mut out = Removed {
        ids: Vec::new(),
        files_of: HashMap::new(),
    };
    let mut budget = PAIR_BUDGET;
    for &id in removed.iter().take(PAIR_MAX_CANDIDATES) {
        let blob = repo
            .find_blob(id)
            .with_context(|| format!("cannot read removed blob {id}"))?;
        let Some(lines) = line_hashes(blob.content()) else {
            continue;
        };
        budget = match budget.checked_sub(blob.size()) {
            Some(b) => b,
            None => break,
        };
        let n = out.ids.len() as u32;
        out.ids.push(id);
        for h in lines {
            out.files_of.entry(h).or_default().push(n);
        }
    }
    out.files_of
        .retain(|_, files| files.len() <= PAIR_COMMON_LINE);
    Ok(out)
}

/// The removed file sharing the most distinct non-blank lines with the added blob `new`. Git
/// pairs a rename only above 50 % similarity, so a file moved and grown past that shows as
/// deleted + added and its untouched old lines would count as new; they are not: they were
/// committed before, in the removed file.
fn closest_removed(repo: &Repository, new: Oid, removed: &Removed) -> Result<Option<Oid>> {
    if removed.ids.is_empty() {
        return Ok(None);
    }
    let blob = repo
        .find_blob(new)
        .with_context(|| format!("cannot read blob {new}"))?;
    let Some(lines) = line_hashes(blob.content()) else {
        return Ok(None);
    };
    let mut common = vec![0usize; removed.ids.len()];
    for h in &lines {
        for &f in removed.files_of.get(h).map_or(&[][..], Vec::as_slice) {
            common[f as usize] += 1;
        }
    }
    // The first of equals: removed files come in path order, so the choice is stable.
    let best = common
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .max_by_key(|(i, &n)| (n, std::cmp::Reverse(*i)));
    Ok(best.map(|(i, _)| removed.ids[i]))
}

/// Hashes of the distinct trimmed non-blank lines of a text blob; None for binary or oversized
/// content.
fn line_hashes(data: &[u8]) -> Option<HashSet<u64>> {
    use std::hash::{BuildHasher, BuildHasherDefault};
    if data.len() > PAIR_MAX_SIZE || memchr::memchr(0, &data[..data.len().min(8000)]).is_some() {
        return None;
    }
    let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    Some(
        data.split(|&b| b == b'\n')
            .map(|l| l.trim_ascii())
            .filter(|l| !l.is_empty())
            .map(|l| hasher.hash_one(l))
            .collect(),
    )
}

/// Below this size inflating a blob costs about what opening, reading and hashing the
/// working-tree file costs, so the working tree is not worth a try.
const WORKTREE_MIN_SIZE: usize = 32 << 10;

/// The working-tree copy of a staged file when its content is exactly the staged blob: git's
/// own diff reads the working tree the same way, since reading and hashing a file is several
/// times faster than inflating it. Git trusts the index's stat data; here the content must
/// hash to the staged object id (SHA-1 with the CPU's instructions where it has them, or
/// SHA-256 in a SHA-256 repository), so a file edited after staging, converted by a filter or
/// line-ending rule, replaced by a directory, FIFO or symlink, or cut short is never used.
/// None means: read the blob.
pub fn read_worktree_copy(workdir: Option<&Path>, change: &Change, size: usize) -> Option<Vec<u8>> {
    if !change.worktree || size < WORKTREE_MIN_SIZE {
        return None;
    }
    let file = worktree_path(workdir?, &change.path)?;
    let data = read_regular_file(&file, size)?;
    fn digest<D: sha1::Digest>(size: usize, data: &[u8]) -> Vec<u8> {
        let mut hasher = D::new();
        hasher.update(format!("blob {size}\0").as_bytes());
        hasher.update(data);
        hasher.finalize().to_vec()
    }
    let want = change.new.as_bytes();
    let got = match want.len() {
        20 => digest::<sha1::Sha1>(size, &data),
        _ => digest::<sha2::Sha256>(size, &data),
    };
    (got == want).then_some(data)
}

/// The working-tree copy of a staged file too large to read whole, opened for streaming; None
/// when there is none. Nothing read from it may be trusted until a [`BlobHasher`] fed every
/// byte of it, in one pass, matches the staged id.
pub fn open_worktree_copy(
    workdir: Option<&Path>,
    change: &Change,
    size: u64,
) -> Option<std::fs::File> {
    if !change.worktree {
        return None;
    }
    let file = worktree_path(workdir?, &change.path)?;
    open_regular_file(&file, size)
}

/// Git's object id of a blob, computed over a stream of its bytes.
pub struct BlobHasher {
    want: Vec<u8>,
    state: BlobDigest,
}

enum BlobDigest {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl BlobHasher {
    pub fn new(want: &ObjectId, size: u64) -> Self {
        use sha1::Digest;
        let want = want.as_bytes().to_vec();
        let header = format!("blob {size}\0");
        let state = if want.len() == 20 {
            let mut h = sha1::Sha1::new();
            h.update(header.as_bytes());
            BlobDigest::Sha1(h)
        } else {
            let mut h = sha2::Sha256::new();
            h.update(header.as_bytes());
            BlobDigest::Sha256(h)
        };
        BlobHasher { want, state }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        use sha1::Digest;
        match &mut self.state {
            BlobDigest::Sha1(h) => h.update(chunk),
            BlobDigest::Sha256(h) => h.update(chunk),
        }
    }

    /// The bytes fed in are the staged blob.
    pub fn matches(self) -> bool {
        use sha1::Digest;
        let got = match self.state {
            BlobDigest::Sha1(h) => h.finalize().to_vec(),
            BlobDigest::Sha256(h) => h.finalize().to_vec(),
        };
        got == self.want
    }
}

/// `workdir/path` when every component of the index path is an ordinary name (git refuses
/// `.`, `..` and `.git` components too; the check keeps a damaged index from reaching out).
#[cfg(unix)]
pub fn worktree_path(workdir: &Path, path: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let ordinary =
        |c: &[u8]| !c.is_empty() && c != b"." && c != b".." && !c.eq_ignore_ascii_case(b".git");
    path.split(|&b| b == b'/')
        .all(ordinary)
        .then(|| workdir.join(std::ffi::OsStr::from_bytes(path)))
}

#[cfg(not(unix))]
pub fn worktree_path(_workdir: &Path, _path: &[u8]) -> Option<PathBuf> {
    None // Index paths are bytes; mapping them to Windows names is left to libgit2.
}

/// The whole of a regular file of exactly `size` bytes. The last component is not followed
/// when it is a symlink, and the open does not block on a FIFO; whatever changes under the
/// read is caught by the caller's hash.
#[cfg(unix)]
fn read_regular_file(file: &Path, size: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut f = open_regular_file(file, size as u64)?;
    let mut data = Vec::with_capacity(size);
    // One byte more than expected is read if the file grew: the length check then fails.
    (&mut f).take(size as u64 + 1).read_to_end(&mut data).ok()?;
    (data.len() == size).then_some(data)
}

/// `file` opened for reading when it is a regular file of `size` bytes (see `read_regular_file`).
#[cfg(unix)]
fn open_regular_file(file: &Path, size: u64) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(file)
        .ok()?;
    let meta = f.metadata().ok()?;
    (meta.is_file() && meta.len() == size).then_some(f)
}

#[cfg(not(unix))]
fn open_regular_file(_file: &Path, _size: u64) -> Option<std::fs::File> {
    None
}

#[cfg(not(unix))]
fn read_regular_file(_file: &Path, _size: usize) -> Option<Vec<u8>> {
    None
}

/// `path` equals `prefix` or lies in the directory `prefix`. An empty prefix is the root.
pub fn path_is_under(path: &[u8], prefix: &[u8]) -> bool {
    let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
    prefix.is_empty()
        || path == prefix
        || (path.len() > prefix.len() && path.starts_with(prefix) && path[prefix.len()] == b'/')
}

/// Turn command-line paths (relative to the current directory) into repository-relative ones.
pub fn repo_relative(workdir: Option<&Path>, paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    let Some(workdir) = workdir else {
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
///
/// Lines the two versions share at their start and end are set aside before libgit2 diffs the
/// rest, as xdiff itself does first: an everyday edit then hands libgit2 the few changed lines
/// instead of two whole files (which it would also hash, with collision-detecting SHA-1).
pub fn added_ranges(old: &[u8], new: &[u8]) -> Result<Vec<(u32, u32)>> {
    let (old_lines, new_lines) = (line_ends(old), line_ends(new));
    let shared = |a: &[usize], b: &[usize], i: usize, j: usize| {
        let (a0, b0) = (
            if i == 0 { 0 } else { a[i - 1] },
            if j == 0 { 0 } else { b[j - 1] },
        );
        old[a0..a[i]] == new[b0..b[j]]
    };
    let mut head = 0;
    while head < old_lines.len()
        && head < new_lines.len()
        && shared(&old_lines, &new_lines, head, head)
    {
        head += 1;
    }
    let mut tail = 0;
    while tail < old_lines.len() - head
        && tail < new_lines.len() - head
        && shared(
            &old_lines,
            &new_lines,
            old_lines.len() - 1 - tail,
            new_lines.len() - 1 - tail,
        )
    {
        tail += 1;
    }
    let start = |ends: &[usize], i: usize| if i == 0 { 0 } else { ends[i - 1] };
    let old_mid = &old[start(&old_lines, head)..start(&old_lines, old_lines.len() - tail)];
    let new_mid = &new[start(&new_lines, head)..start(&new_lines, new_lines.len() - tail)];
    let offset = u32::try_from(head).context("a file of over 4 billion lines")?;
    if new_mid.is_empty() {
        return Ok(Vec::new());
    }
    if old_mid.is_empty() {
        let count = new_lines.len() - head - tail;
        return Ok(vec![(offset + 1, count as u32)]);
    }
    let mut opts = DiffOptions::new();
    opts.context_lines(0).force_text(true).interhunk_lines(0);
    let patch = Patch::from_buffers(old_mid, None, new_mid, None, Some(&mut opts))
        .context("diffing the staged blob against its previous version")?;
    let mut ranges = Vec::with_capacity(patch.num_hunks());
    for i in 0..patch.num_hunks() {
        let (hunk, _) = patch.hunk(i).context("reading a diff hunk")?;
        if hunk.new_lines() > 0 {
            ranges.push((hunk.new_start() + offset, hunk.new_lines()));
        }
    }
    Ok(ranges)
}

/// The end offset (exclusive, after its `\n`) of each line; a last line without a newline ends
/// at the end of the text.
fn line_ends(text: &[u8]) -> Vec<usize> {
    let mut ends: Vec<usize> = memchr::memchr_iter(b'\n', text).map(|i| i + 1).collect();
    if ends.last().copied().unwrap_or(0) < text.len() {
        ends.push(text.len());
    }
    ends
}

mod commit;
#[cfg(test)]
mod tests;

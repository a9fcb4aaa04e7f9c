//! The index file git is about to commit from, read directly rather than through libgit2.
//!
//! Why: on an everyday commit, loading the index through libgit2 cost more than the whole scan
//! (it re-hashes the file with collision-detecting SHA-1, validates and copies every path, and
//! builds a hash map), and libgit2 ignores the cache-tree, the index extension that lets git skip
//! every directory whose staged tree is already known. This reader keeps the entries in one
//! allocation and parses the cache-tree, so the staged diff touches only changed directories.
//!
//! Invariants:
//! - what is read is what git reads: index versions 2, 3 and 4 (path compression), extended
//!   flags, entries in git's order (an unordered index is an error, as it is for git);
//! - the trailing checksum is verified (SHA-1; git's `index.skipHash` writes zeros, accepted);
//! - a split index (`core.splitIndex`: the "link" extension) is merged with its shared index
//!   (`sharedindex.<hash>` beside it, verified against that hash) exactly as git's
//!   `merge_base_index` does: replacements by the replace bitmap, then deletions, then the
//!   split file's own named entries; a missing or damaged shared index is an error;
//! - a sparse index (`index.sparse`: the "sdir" extension) is read as it is: its sparse
//!   directory entries (mode 040000, path ending in '/') stand for a whole tree, and
//!   `IndexFile::sparse` tells the caller to expand the ones that differ from HEAD;
//! - formats this reader does not implement (unknown required extensions, other versions) are
//!   reported as `Unsupported`, never guessed at: the caller falls back to libgit2, which reads
//!   or rejects them itself;
//! - a cache-tree that does not parse is dropped (git does the same), so the caller compares
//!   every entry instead of skipping any;
//! - every length and offset comes from the file and is bounds-checked; no input panics.

use std::path::Path;

use anyhow::{bail, Context, Result};
use git2::Oid;
use sha1::{Digest, Sha1};

const HASH_LEN: usize = 20;
const HEADER_LEN: usize = 12;
/// Fixed part of an on-disk entry before the flags: ten 32-bit stat fields and the object id.
const ENTRY_FIXED: usize = 40 + HASH_LEN;

const FLAG_EXTENDED: u16 = 0x4000;
const FLAG_NAME_MASK: u16 = 0x0fff;
/// Extended flags git defines: skip-worktree and intent-to-add (`git add -N`).
const EXT_SKIP_WORKTREE: u16 = 0x4000;
const EXT_INTENT_TO_ADD: u16 = 0x2000;

pub const MODE_GITLINK: u32 = 0o160000;
pub const MODE_TREE: u32 = 0o040000;

/// One index entry. The path lives in `IndexFile::paths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    path: (usize, usize),
    pub mode: u32,
    pub id: Oid,
    /// Size as git recorded it at staging time (truncated to 32 bits, as git stores it).
    pub size: u32,
    pub stage: u8,
    pub skip_worktree: bool,
    pub intent_to_add: bool,
}

impl Entry {
    /// A regular file (not a symlink, gitlink or sparse directory).
    pub fn is_regular_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }

    /// A sparse directory entry of a sparse index: `id` is the tree of everything below it.
    pub fn is_sparse_dir(&self) -> bool {
        self.mode == MODE_TREE
    }
}

/// A cache-tree node: one directory whose tree id git already knows (when `id` is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub name: Vec<u8>,
    /// None when git invalidated the node (something below it changed since it was computed).
    pub id: Option<Oid>,
    /// Indices into `CacheTree::nodes`, sorted by name.
    pub children: Vec<usize>,
}

/// The cache-tree extension ("TREE"), root at index 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTree {
    pub nodes: Vec<TreeNode>,
}

impl CacheTree {
    pub const ROOT: usize = 0;

    /// The child of `node` named `name`, if git recorded one.
    pub fn child(&self, node: usize, name: &[u8]) -> Option<usize> {
        let children = &self.nodes.get(node)?.children;
        children
            .binary_search_by(|&c| self.nodes[c].name.as_slice().cmp(name))
            .ok()
            .map(|i| children[i])
    }
}

#[derive(Debug)]
pub struct IndexFile {
    pub entries: Vec<Entry>,
    paths: Vec<u8>,
    pub cache_tree: Option<CacheTree>,
    /// The index is sparse ("sdir"): some entries are whole directories (`Entry::is_sparse_dir`).
    pub sparse: bool,
}

/// What parsing one index file produced.
#[derive(Debug)]
pub enum Read {
    Parsed(IndexFile),
    /// The split half of a split index: to be merged with its shared index (`read` does).
    Split(SplitIndex),
    /// A valid index in a form this reader leaves to libgit2.
    Unsupported(Form),
}

/// A split index file before merging: its entries as stored (the first `replace.len()` have
/// empty names and replace base entries; the rest are additions) and its "link" extension.
#[derive(Debug)]
pub struct SplitIndex {
    /// The entries, with paths; `cache_tree` and `sparse` describe the merged index.
    pub own: IndexFile,
    /// The shared index's checksum: the file is `sharedindex.<hex>` in the git directory.
    pub base: [u8; HASH_LEN],
    /// Positions in the shared index of entries deleted by this one, ascending.
    pub delete: Vec<usize>,
    /// Positions in the shared index of entries replaced by this one's nameless entries.
    pub replace: Vec<usize>,
}

/// An index form this reader does not implement: what it is, and how to leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub what: String,
    /// The git command that turns the form off (git rewrites the index in a plain form).
    pub remedy: Option<&'static str>,
}

fn form(what: String, remedy: Option<&'static str>) -> Read {
    Read::Unsupported(Form { what, remedy })
}

impl IndexFile {
    pub fn empty() -> IndexFile {
        IndexFile {
            entries: Vec::new(),
            paths: Vec::new(),
            cache_tree: None,
            sparse: false,
        }
    }

    /// Append an entry (the caller keeps git's order), copying its path in.
    pub fn push(&mut self, path: &[u8], e: &Entry) {
        let start = self.paths.len();
        self.paths.extend_from_slice(path);
        self.entries.push(Entry {
            path: (start, path.len()),
            ..*e
        });
    }

    /// A copy with each sparse directory entry for which `expand` gives entries replaced by
    /// those (`expand` gets the directory's path without the trailing '/', and returns
    /// (path, mode, id) below it in git's order); the others stay sparse.
    pub fn expand_sparse(
        &self,
        mut expand: impl FnMut(&[u8], &Entry) -> Result<Option<Vec<(Vec<u8>, u32, Oid)>>>,
    ) -> Result<IndexFile> {
        let mut out = IndexFile::empty();
        out.cache_tree = self.cache_tree.clone();
        out.sparse = self.sparse;
        for e in &self.entries {
            let path = self.path(e);
            if !e.is_sparse_dir() {
                out.push(path, e);
                continue;
            }
            let dir = path.strip_suffix(b"/").unwrap_or(path);
            match expand(dir, e)? {
                None => out.push(path, e),
                Some(below) => {
                    for (p, mode, id) in below {
                        out.push(
                            &p,
                            &Entry {
                                mode,
                                id,
                                size: 0,
                                ..*e
                            },
                        );
                    }
                }
            }
        }
        // Expanded files sort exactly where their directory did ("d/" < "d/x" < "d0").
        Ok(out)
    }

    pub fn path(&self, e: &Entry) -> &[u8] {
        &self.paths[e.path.0..e.path.0 + e.path.1]
    }

    /// Entries whose path equals `prefix` or lies below the directory `prefix` (a few binary
    /// searches: entries are sorted).
    pub fn entries_under(&self, prefix: &[u8]) -> Vec<&Entry> {
        let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
        if prefix.is_empty() {
            return self.entries.iter().collect();
        }
        let exact = self.lower_bound(prefix);
        let mut out: Vec<&Entry> = self.entries[exact..]
            .iter()
            .take_while(|e| self.path(e) == prefix)
            .collect();
        let lo = self.lower_bound(&[prefix, b"/"].concat());
        out.extend(self.entries[lo..self.end_below(lo..self.entries.len(), prefix)].iter());
        out
    }

    /// Where the entries below the directory `dir` end, searching `from` (which must start at
    /// or before the first of them): everything below `dir/` sorts before `dir0`, as '0'
    /// follows '/'.
    pub fn end_below(&self, from: std::ops::Range<usize>, dir: &[u8]) -> usize {
        let end_key = [dir, &[b'/' + 1]].concat();
        let slice = &self.entries[from.clone()];
        from.start + slice.partition_point(|e| self.path(e) < end_key.as_slice())
    }

    /// The first entry whose path is not less than `path`.
    pub fn lower_bound(&self, path: &[u8]) -> usize {
        self.entries.partition_point(|e| self.path(e) < path)
    }

    /// The stage-0 entry at exactly `path`.
    pub fn find(&self, path: &[u8]) -> Option<&Entry> {
        let i = self.lower_bound(path);
        self.entries
            .get(i)
            .filter(|e| self.path(e) == path && e.stage == 0)
    }

    pub fn has_conflicts(&self) -> bool {
        self.entries.iter().any(|e| e.stage != 0)
    }
}

/// Read the index at `file`, merging a split index with its shared index in `git_dir`.
/// `missing_ok`: a missing file is an empty index (a repository where nothing was ever staged);
/// otherwise (an index file named explicitly, as `GIT_INDEX_FILE` does) it is an error.
/// Never returns `Read::Split`.
pub fn read(file: &Path, git_dir: &Path, missing_ok: bool) -> Result<Read> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => {
            return Ok(Read::Parsed(IndexFile::empty()))
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the git index {}", file.display()))
        }
    };
    let split = match parse(&bytes) {
        Ok(Read::Split(split)) => split,
        other => {
            return other.with_context(|| format!("cannot read the git index {}", file.display()))
        }
    };
    let hex: String = split.base.iter().map(|b| format!("{b:02x}")).collect();
    let shared = git_dir.join(format!("sharedindex.{hex}"));
    let base = std::fs::read(&shared)
        .with_context(|| {
            format!(
                "cannot read the shared index {} of the split index {}",
                shared.display(),
                file.display()
            )
        })
        .and_then(|bytes| {
            if bytes.len() < HASH_LEN || bytes[bytes.len() - HASH_LEN..] != split.base {
                bail!("its checksum is not the {hex} the split index names");
            }
            match parse(&bytes)? {
                Read::Parsed(base) => Ok(base),
                Read::Split(_) => bail!("a shared index that is itself split"),
                Read::Unsupported(form) => bail!("{} in a shared index", form.what),
            }
        })
        .with_context(|| format!("cannot read the shared index {}", shared.display()))?;
    merge_split(base, split)
        .map(Read::Parsed)
        .with_context(|| format!("cannot read the split git index {}", file.display()))
}

/// git's `merge_base_index`: nameless entries replace the base entries the replace bitmap
/// marks (keeping the base's name), the delete bitmap removes entries, then the split file's
/// named entries are added in order, each replacing an entry of the same name and stage (a
/// stage-0 entry also replaces that path's conflict stages).
pub fn merge_split(base: IndexFile, split: SplitIndex) -> Result<IndexFile> {
    let own = &split.own;
    let k = split.replace.len();
    if own.entries.len() < k || own.entries[..k].iter().any(|e| e.path.1 != 0) {
        bail!("the link extension names {k} replacements but the entries disagree");
    }
    let mut deleted = vec![false; base.entries.len()];
    for &d in &split.delete {
        *deleted
            .get_mut(d)
            .with_context(|| format!("deletion of entry {d} beyond the shared index"))? = true;
    }
    let mut replacement: Vec<Option<&Entry>> = vec![None; base.entries.len()];
    for (&r, e) in split.replace.iter().zip(&own.entries) {
        let slot = replacement
            .get_mut(r)
            .with_context(|| format!("replacement of entry {r} beyond the shared index"))?;
        if deleted[r] {
            bail!("entry {r} is marked as both replaced and deleted");
        }
        *slot = Some(e);
    }
    let mut merged = IndexFile::empty();
    merged.cache_tree = own.cache_tree.clone();
    merged.sparse = own.sparse || base.sparse;
    let kept = base
        .entries
        .iter()
        .enumerate()
        .filter(|&(i, _)| !deleted[i])
        .map(|(i, e)| (base.path(e), replacement[i].unwrap_or(e)));
    let added: Vec<(&[u8], &Entry)> = own.entries[k..].iter().map(|e| (own.path(e), e)).collect();
    if added.iter().any(|(p, _)| p.is_empty())
        || added
            .windows(2)
            .any(|w| (w[0].0, w[0].1.stage) >= (w[1].0, w[1].1.stage))
    {
        bail!("the split index's own entries are not named and ordered");
    }
    // Both sides are sorted by (path, stage): merge them, the split side winning ties.
    let mut added = added.into_iter().peekable();
    for (path, e) in kept {
        while let Some(&(p, a)) = added.peek() {
            if (p, a.stage) < (path, e.stage) {
                merged.push(p, a);
                added.next();
            } else {
                break;
            }
        }
        let replaced = added
            .peek()
            .is_some_and(|&(p, a)| p == path && a.stage == e.stage);
        if !replaced {
            merged.push(path, e);
        }
    }
    for (p, a) in added {
        merged.push(p, a);
    }
    // A stage-0 addition sorts just before the conflict stages of its path, which it replaces.
    let mut last: Option<(usize, usize)> = None;
    let paths = &merged.paths;
    merged.entries.retain(|e| {
        let path = &paths[e.path.0..e.path.0 + e.path.1];
        let shadowed = e.stage != 0 && last.is_some_and(|(o, l)| &paths[o..o + l] == path);
        if e.stage == 0 {
            last = Some(e.path);
        }
        !shadowed
    });
    if merged
        .entries
        .windows(2)
        .any(|w| (merged.path(&w[0]), w[0].stage) >= (merged.path(&w[1]), w[1].stage))
    {
        bail!("the merged split index is out of order");
    }
    Ok(merged)
}

/// Parse a whole index file.
pub fn parse(bytes: &[u8]) -> Result<Read> {
    if bytes.len() < HEADER_LEN + HASH_LEN || &bytes[..4] != b"DIRC" {
        bail!("not an index file (bad signature or truncated)");
    }
    let (body, trailer) = bytes.split_at(bytes.len() - HASH_LEN);
    if trailer.iter().any(|&b| b != 0) && Sha1::digest(body).as_slice() != trailer {
        bail!("checksum mismatch: the index file is damaged");
    }
    let version = be32(body, 4)?;
    if !(2..=4).contains(&version) {
        return Ok(form(format!("index version {version}"), None));
    }
    let count = be32(body, 8)? as usize;
    let mut entries: Vec<Entry> = Vec::with_capacity(count.min(body.len() / ENTRY_FIXED));
    let mut paths = Vec::with_capacity(body.len() / 2);
    let mut pos = HEADER_LEN;
    let mut prev: (usize, usize) = (0, 0);
    // A split index stores entries with empty names, in no particular order; whether it is one
    // shows only in its extensions, after the entries. So these defects are held until then.
    let mut defect: Option<String> = None;
    for n in 0..count {
        let e = parse_entry(body, &mut pos, version, &mut paths, prev)
            .with_context(|| format!("entry {n} of {count}"))?;
        let path = &paths[e.path.0..][..e.path.1];
        if path.is_empty() {
            defect.get_or_insert_with(|| format!("entry {n} of {count} has an empty path"));
        }
        if let Some(last) = entries.last() {
            if (&paths[prev.0..prev.0 + prev.1], last.stage) >= (path, e.stage) {
                let shown = String::from_utf8_lossy(&path[..path.len().min(200)]);
                defect.get_or_insert_with(|| {
                    format!("entries out of order at {shown:?}; git refuses this index too")
                });
            }
        }
        prev = e.path;
        entries.push(e);
    }
    let mut cache_tree = None;
    let mut link = None;
    let mut sparse = false;
    while pos < body.len() {
        let sig = body
            .get(pos..pos + 4)
            .context("truncated extension header")?;
        let len = be32(body, pos + 4)? as usize;
        let data = body
            .get(pos + 8..)
            .and_then(|d| d.get(..len))
            .context("truncated extension")?;
        match sig {
            b"TREE" => cache_tree = parse_cache_tree(data),
            // Required extensions (lower-case first letter) change what the entries mean.
            s if s[0].is_ascii_uppercase() => {}
            b"link" => link = Some(parse_link(data).context("malformed link extension")?),
            b"sdir" => sparse = true,
            s => {
                let what = format!("the required extension {:?}", String::from_utf8_lossy(s));
                return Ok(form(what, None));
            }
        }
        pos += 8 + len;
    }
    if !sparse {
        if let Some(e) = entries.iter().find(|e| e.is_sparse_dir()) {
            let shown = String::from_utf8_lossy(&paths[e.path.0..e.path.0 + e.path.1]);
            bail!("directory entry {shown:?} in an index that is not sparse");
        }
    }
    let own = IndexFile {
        entries,
        paths,
        cache_tree,
        sparse,
    };
    match link {
        // An all-zero base: the index is not split after all (git writes this too).
        Some((base, delete, replace)) if base.iter().any(|&b| b != 0) => {
            // Its entries are checked when merged: nameless replacements first, then additions.
            Ok(Read::Split(SplitIndex {
                own,
                base,
                delete,
                replace,
            }))
        }
        _ => match defect {
            Some(defect) => bail!(defect),
            None => Ok(Read::Parsed(own)),
        },
    }
}

/// The "link" extension: the shared index's hash, then the delete and replace bitmaps.
fn parse_link(data: &[u8]) -> Result<([u8; HASH_LEN], Vec<usize>, Vec<usize>)> {
    let base: [u8; HASH_LEN] = data
        .get(..HASH_LEN)
        .context("truncated shared index id")?
        .try_into()
        .expect("HASH_LEN bytes");
    let mut pos = HASH_LEN;
    if pos == data.len() {
        // git writes no bitmaps when the index is not split.
        return Ok((base, Vec::new(), Vec::new()));
    }
    let delete = ewah_bits(data, &mut pos).context("delete bitmap")?;
    let replace = ewah_bits(data, &mut pos).context("replace bitmap")?;
    if pos != data.len() {
        bail!("trailing bytes");
    }
    Ok((base, delete, replace))
}

/// The set bits of a serialised EWAH bitmap (git's ewah_io.c: bit count, word count, the
/// 64-bit words, the position of the last run-length word), ascending. A run-length word holds
/// the run bit (bit 0), the run length in words (bits 1-32) and the number of literal words
/// that follow it (bits 33-63). Bits past the declared bit count are an error, so a hostile
/// run of ones cannot make the list larger than the bitmap claims to be.
fn ewah_bits(data: &[u8], pos: &mut usize) -> Result<Vec<usize>> {
    let bit_size = be32(data, *pos)? as usize;
    let words = be32(data, *pos + 4)? as usize;
    let body = data
        .get(*pos + 8..)
        .and_then(|d| d.get(..words.checked_mul(8)?))
        .context("truncated bitmap words")?;
    be32(data, *pos + 8 + body.len()).context("truncated bitmap")?;
    *pos += 8 + body.len() + 4;
    let word = |i: usize| u64::from_be_bytes(body[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let mut bits = Vec::new();
    let mut at: usize = 0; // bit position of the next word
    let mut i = 0;
    while i < words {
        let rlw = word(i);
        i += 1;
        let run = ((rlw >> 1) & 0xffff_ffff) as usize;
        let literals = (rlw >> 33) as usize;
        if rlw & 1 == 1 {
            for b in at..at.saturating_add(run.saturating_mul(64)) {
                if b >= bit_size {
                    bail!("set bit {b} past the bitmap's {bit_size} bits");
                }
                bits.push(b);
            }
        }
        at = at.saturating_add(run.saturating_mul(64));
        if literals > words - i {
            bail!("{literals} literal words past the end");
        }
        for _ in 0..literals {
            let mut w = word(i);
            i += 1;
            while w != 0 {
                let b = at + w.trailing_zeros() as usize;
                if b >= bit_size {
                    bail!("set bit {b} past the bitmap's {bit_size} bits");
                }
                bits.push(b);
                w &= w - 1;
            }
            at = at.saturating_add(64);
        }
    }
    Ok(bits)
}

fn parse_entry(
    body: &[u8],
    pos: &mut usize,
    version: u32,
    paths: &mut Vec<u8>,
    prev: (usize, usize),
) -> Result<Entry> {
    let start = *pos;
    let fixed = body
        .get(start..start + ENTRY_FIXED + 2)
        .context("truncated entry")?;
    let mode = be32(fixed, 24)?;
    let size = be32(fixed, 36)?;
    let id = Oid::from_bytes(&fixed[40..40 + HASH_LEN]).context("bad object id")?;
    let flags = u16::from_be_bytes([fixed[ENTRY_FIXED], fixed[ENTRY_FIXED + 1]]);
    let mut at = start + ENTRY_FIXED + 2;
    let mut ext = 0u16;
    if flags & FLAG_EXTENDED != 0 {
        if version < 3 {
            bail!("extended flags in a version 2 index");
        }
        let b = body.get(at..at + 2).context("truncated extended flags")?;
        ext = u16::from_be_bytes([b[0], b[1]]);
        if ext & !(EXT_SKIP_WORKTREE | EXT_INTENT_TO_ADD) != 0 {
            bail!("unknown extended flags {ext:#06x}");
        }
        at += 2;
    }
    let path_start = paths.len();
    if version == 4 {
        let strip = varint(body, &mut at)?;
        let keep = prev
            .1
            .checked_sub(strip)
            .context("path prefix longer than the previous path")?;
        paths.extend_from_within(prev.0..prev.0 + keep);
    }
    let rest = body.get(at..).context("truncated path")?;
    let nul = memchr::memchr(0, rest).context("unterminated path")?;
    paths.extend_from_slice(&rest[..nul]);
    at += nul + 1;
    let len = paths.len() - path_start;
    let recorded = usize::from(flags & FLAG_NAME_MASK);
    if recorded < usize::from(FLAG_NAME_MASK) && recorded != len {
        bail!("path length {len} disagrees with the recorded {recorded}");
    }
    if version != 4 {
        // Entries are NUL-padded to a multiple of 8 bytes (at least one NUL, already consumed).
        let padded = start + ((at - 1 - start + 8) & !7);
        if padded > body.len() {
            bail!("truncated entry padding");
        }
        at = padded;
    }
    *pos = at;
    Ok(Entry {
        path: (path_start, len),
        mode,
        id,
        size,
        stage: ((flags >> 12) & 3) as u8,
        skip_worktree: ext & EXT_SKIP_WORKTREE != 0,
        intent_to_add: ext & EXT_INTENT_TO_ADD != 0,
    })
}

/// The cache-tree, or None when it does not parse (git drops a bad one and recomputes it).
/// Nodes come in pre-order: name NUL, entry count (-1: invalid), space, number of subtrees,
/// newline, then the tree id when the node is valid. Parsed with an explicit stack.
fn parse_cache_tree(data: &[u8]) -> Option<CacheTree> {
    let mut nodes: Vec<TreeNode> = Vec::new();
    // (node, children still to read)
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    loop {
        let rest = data.get(pos..)?;
        let nul = memchr::memchr(0, rest)?;
        let name = rest[..nul].to_vec();
        let rest = &rest[nul + 1..];
        let nl = memchr::memchr(b'\n', rest)?;
        let header = std::str::from_utf8(&rest[..nl]).ok()?;
        let (count, subtrees) = header.split_once(' ')?;
        let count: i64 = count.parse().ok()?;
        let subtrees: usize = subtrees.parse().ok()?;
        pos += nul + 1 + nl + 1;
        let id = if count >= 0 {
            let raw = data.get(pos..pos + HASH_LEN)?;
            pos += HASH_LEN;
            Some(Oid::from_bytes(raw).ok()?)
        } else {
            None
        };
        let me = nodes.len();
        nodes.push(TreeNode {
            name,
            id,
            children: Vec::new(),
        });
        if let Some((parent, left)) = open.last_mut() {
            nodes[*parent].children.push(me);
            *left -= 1;
        } else if me != CacheTree::ROOT {
            return None; // a second root
        }
        if subtrees > 0 {
            open.push((me, subtrees));
        }
        while open.last().is_some_and(|&(_, left)| left == 0) {
            open.pop();
        }
        if open.is_empty() {
            break;
        }
    }
    if pos != data.len() {
        return None;
    }
    for i in 0..nodes.len() {
        let mut children = std::mem::take(&mut nodes[i].children);
        children.sort_by(|&a, &b| nodes[a].name.cmp(&nodes[b].name));
        nodes[i].children = children;
    }
    Some(CacheTree { nodes })
}

fn be32(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 4).context("truncated")?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Git's offset varint (index v4 path prefix lengths): big-endian 7-bit groups, each
/// continuation adding one so that every value has exactly one encoding.
fn varint(b: &[u8], at: &mut usize) -> Result<usize> {
    let mut byte = *b.get(*at).context("truncated path prefix")?;
    *at += 1;
    let mut val = usize::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        byte = *b.get(*at).context("truncated path prefix")?;
        *at += 1;
        val = val
            .checked_add(1)
            .and_then(|v| v.checked_mul(128))
            .and_then(|v| v.checked_add(usize::from(byte & 0x7f)))
            .context("path prefix length overflows")?;
    }
    Ok(val)
}

#[cfg(test)]
mod tests;

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
mod tests {
    use super::*;

    /// (path, mode, id byte, extended flags)
    type E<'a> = (&'a str, u32, u8, u16);

    /// An index file as git lays it out; `checksum: false` writes git's `index.skipHash` zeros.
    fn file(
        version: u32,
        entries: &[E],
        extensions: &[(&[u8; 4], &[u8])],
        checksum: bool,
    ) -> Vec<u8> {
        let mut b = b"DIRC".to_vec();
        b.extend(version.to_be_bytes());
        b.extend((entries.len() as u32).to_be_bytes());
        let mut prev: &str = "";
        for &(path, mode, id, ext) in entries {
            let start = b.len();
            b.extend([0u8; 24]);
            b.extend(mode.to_be_bytes());
            b.extend([0u8; 8]);
            b.extend((path.len() as u32 * 10).to_be_bytes());
            b.extend([id; HASH_LEN]);
            let mut flags = path.len().min(0xfff) as u16;
            if ext != 0 {
                flags |= FLAG_EXTENDED;
            }
            b.extend(flags.to_be_bytes());
            if ext != 0 {
                b.extend(ext.to_be_bytes());
            }
            if version == 4 {
                let common = prev
                    .bytes()
                    .zip(path.bytes())
                    .take_while(|(a, c)| a == c)
                    .count();
                b.extend(varint_bytes(prev.len() - common));
                b.extend(&path.as_bytes()[common..]);
                b.push(0);
            } else {
                b.extend(path.as_bytes());
                let len = b.len() - start;
                b.resize(start + ((len + 8) & !7), 0);
            }
            prev = path;
        }
        for (sig, data) in extensions {
            b.extend(*sig);
            b.extend((data.len() as u32).to_be_bytes());
            b.extend(*data);
        }
        let sum: [u8; HASH_LEN] = if checksum {
            Sha1::digest(&b).into()
        } else {
            [0; HASH_LEN]
        };
        b.extend(sum);
        b
    }

    /// git's encode_varint.
    fn varint_bytes(mut v: usize) -> Vec<u8> {
        let mut out = vec![(v & 0x7f) as u8];
        while v >> 7 != 0 {
            v = (v >> 7) - 1;
            out.push(0x80 | (v & 0x7f) as u8);
        }
        out.reverse();
        out
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 129, 16511, 16512, 1 << 20, usize::MAX >> 8] {
            let b = varint_bytes(v);
            let mut at = 0;
            assert_eq!((varint(&b, &mut at).unwrap(), at), (v, b.len()), "{v}");
        }
        assert!(varint(&[0xff; 12], &mut 0).is_err(), "overlong is an error");
    }

    fn parsed(bytes: &[u8]) -> IndexFile {
        match parse(bytes).expect("parses") {
            Read::Parsed(ix) => ix,
            other => panic!("not a plain index: {other:?}"),
        }
    }

    fn paths(ix: &IndexFile) -> Vec<String> {
        ix.entries
            .iter()
            .map(|e| String::from_utf8_lossy(ix.path(e)).into_owned())
            .collect()
    }

    const F: u32 = 0o100644;

    #[test]
    fn entries_read_alike_in_every_version() {
        let long = "e/".repeat(2100) + "f"; // longer than the 12-bit length field
        let entries: &[E] = &[
            ("a.py", F, 1, 0),
            ("dir/a", 0o100755, 2, 0),
            ("dir/sub/c", 0o120000, 3, 0),
            (&long, F, 4, 0),
            ("sub", MODE_GITLINK, 5, 0),
        ];
        for version in [2, 3, 4] {
            let ix = parsed(&file(version, entries, &[], true));
            let want: Vec<String> = entries.iter().map(|e| e.0.to_string()).collect();
            assert_eq!(paths(&ix), want, "version {version}");
            let modes: Vec<u32> = ix.entries.iter().map(|e| e.mode).collect();
            assert_eq!(
                modes,
                [F, 0o100755, 0o120000, F, MODE_GITLINK],
                "version {version}"
            );
            assert_eq!(ix.entries[1].id, Oid::from_bytes(&[2; HASH_LEN]).unwrap());
            assert_eq!(ix.entries[1].size, 50);
            assert!(ix.entries[0].is_regular_file() && !ix.entries[2].is_regular_file());
            assert!(ix.cache_tree.is_none());
        }
    }

    #[test]
    fn extended_flags_are_read_and_unknown_ones_refused() {
        let ix = parsed(&file(
            3,
            &[
                ("a", F, 1, EXT_INTENT_TO_ADD),
                ("b", F, 2, EXT_SKIP_WORKTREE),
                ("c", F, 3, 0),
            ],
            &[],
            true,
        ));
        let flags: Vec<(bool, bool)> = ix
            .entries
            .iter()
            .map(|e| (e.intent_to_add, e.skip_worktree))
            .collect();
        assert_eq!(flags, [(true, false), (false, true), (false, false)]);
        let err = parse(&file(3, &[("a", F, 1, 0x1000)], &[], true)).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown extended flags"),
            "{err:#}"
        );
        let err = parse(&file(2, &[("a", F, 1, EXT_SKIP_WORKTREE)], &[], true)).unwrap_err();
        assert!(format!("{err:#}").contains("version 2"), "{err:#}");
    }

    #[test]
    fn damaged_or_unordered_indexes_are_errors() {
        let good = file(2, &[("a", F, 1, 0), ("b", F, 2, 0)], &[], true);
        let mut flipped = good.clone();
        flipped[HEADER_LEN + 3] ^= 1;
        let cases: &[(&str, Vec<u8>, &str)] = &[
            ("checksum", flipped, "checksum mismatch"),
            (
                "signature",
                b"DIRX".iter().chain(&good[4..]).copied().collect(),
                "not an index",
            ),
            ("too short", good[..20].to_vec(), "not an index"),
            (
                "unordered",
                file(2, &[("b", F, 1, 0), ("a", F, 2, 0)], &[], true),
                "out of order",
            ),
            (
                "duplicate",
                file(2, &[("a", F, 1, 0), ("a", F, 2, 0)], &[], true),
                "out of order",
            ),
            (
                "empty name outside a split index",
                file(2, &[("", F, 1, 0)], &[], true),
                "empty path",
            ),
            (
                "count beyond the entries",
                {
                    let mut b = file(2, &[("a", F, 1, 0)], &[], false);
                    b[11] = 9;
                    b
                },
                "truncated",
            ),
        ];
        for (name, bytes, want) in cases {
            let err = format!("{:#}", parse(bytes).expect_err(name));
            assert!(err.contains(want), "{name}: {err}");
        }
        // git's index.skipHash leaves the trailer zero: nothing to verify.
        assert_eq!(
            paths(&parsed(&file(2, &[("a", F, 1, 0)], &[], false))),
            ["a"]
        );
    }

    #[test]
    fn forms_left_to_libgit2_are_named() {
        let e: &[E] = &[("a", F, 1, 0)];
        let cases: &[(&str, Vec<u8>, &str)] = &[
            (
                "version 5",
                {
                    let mut b = file(2, e, &[], false);
                    b[7] = 5;
                    b
                },
                "index version 5",
            ),
            (
                "unknown required",
                file(2, e, &[(b"zzzz", b"")], true),
                "\"zzzz\"",
            ),
        ];
        for (name, bytes, want) in cases {
            match parse(bytes).unwrap() {
                Read::Unsupported(why) => assert!(why.what.contains(want), "{name}: {why:?}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // Optional extensions (upper-case) are skipped.
        assert_eq!(
            paths(&parsed(&file(2, e, &[(b"UNTR", b"abc")], true))),
            ["a"]
        );
    }

    /// git's ewah serialisation of `words` (already run-length encoded by the caller).
    fn ewah(bit_size: u32, words: &[u64]) -> Vec<u8> {
        let mut b = bit_size.to_be_bytes().to_vec();
        b.extend((words.len() as u32).to_be_bytes());
        for w in words {
            b.extend(w.to_be_bytes());
        }
        b.extend(0u32.to_be_bytes());
        b
    }

    #[test]
    fn ewah_bitmaps_decode_runs_and_literals_and_refuse_bits_past_their_size() {
        let bits = |data: &[u8]| {
            let mut pos = 0;
            let out = ewah_bits(data, &mut pos);
            out.map(|b| (b, pos == data.len()))
        };
        // No run, three literal words: bits 0 and 3, 64, 130.
        let literals = ewah(200, &[3 << 33, 0b1001, 1, 4]);
        assert_eq!(bits(&literals).unwrap(), (vec![0, 3, 64, 130], true));
        // A run of one word of ones, then one literal word (bit 64 + 1).
        let run = ewah(128, &[(1 << 33) | (1 << 1) | 1, 2]);
        let want: Vec<usize> = (0..64).chain([65]).collect();
        assert_eq!(bits(&run).unwrap(), (want, true));
        // A run of zeros skips whole words.
        assert_eq!(
            bits(&ewah(300, &[(1 << 33) | (4 << 1), 1])).unwrap().0,
            [256]
        );
        for (name, data) in [
            ("bit past the size", ewah(3, &[1 << 33, 0b1000])),
            ("run past the size", ewah(10, &[(1 << 1) | 1])),
            ("literal count past the words", ewah(64, &[2 << 33, 1])),
            ("truncated", ewah(64, &[1 << 33, 1])[..14].to_vec()),
        ] {
            assert!(bits(&data).is_err(), "{name}");
        }
    }

    #[test]
    fn split_index_merges_replacements_deletions_and_additions_like_git() {
        let base = parsed(&file(
            2,
            &[
                ("a", F, 1, 0),
                ("b", F, 2, 0),
                ("c", F, 3, 0),
                ("d", F, 4, 0),
            ],
            &[],
            true,
        ));
        let mut link = vec![7u8; HASH_LEN];
        link.extend(ewah(4, &[1 << 33, 1 << 2])); // delete c
        link.extend(ewah(4, &[1 << 33, 1 << 1])); // replace b
        let split_file = file(
            2,
            &[("", F, 9, 0), ("bb", F, 5, 0), ("e", F, 6, 0)],
            &[(b"link", &link)],
            true,
        );
        let Read::Split(split) = parse(&split_file).unwrap() else {
            panic!("not read as a split index");
        };
        assert_eq!(
            (split.base, &split.delete, &split.replace),
            ([7; HASH_LEN], &vec![2], &vec![1])
        );
        let merged = merge_split(base, split).unwrap();
        let got: Vec<(String, u8)> = merged
            .entries
            .iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(merged.path(e)).into_owned(),
                    e.id.as_bytes()[0],
                )
            })
            .collect();
        let want = [("a", 1), ("b", 9), ("bb", 5), ("d", 4), ("e", 6)];
        assert_eq!(got, want.map(|(p, i)| (p.to_string(), i)));

        // An addition with the name of a kept entry replaces it; a replacement count that the
        // entries do not carry, or a position past the shared index, is an error.
        let base = || parsed(&file(2, &[("a", F, 1, 0), ("b", F, 2, 0)], &[], true));
        let split = |entries: &[E], delete: &[u64], replace: &[u64]| {
            let mut link = vec![7u8; HASH_LEN];
            link.extend(ewah(64, delete));
            link.extend(ewah(64, replace));
            match parse(&file(2, entries, &[(b"link", &link)], true)).unwrap() {
                Read::Split(s) => s,
                other => panic!("{other:?}"),
            }
        };
        let m = merge_split(base(), split(&[("b", F, 8, 0)], &[], &[])).unwrap();
        assert_eq!(
            m.entries
                .iter()
                .map(|e| e.id.as_bytes()[0])
                .collect::<Vec<_>>(),
            [1, 8]
        );
        for (name, s) in [
            (
                "replacement without a nameless entry",
                split(&[("b", F, 8, 0)], &[], &[1 << 33, 1]),
            ),
            (
                "deletion past the base",
                split(&[], &[1 << 33, 1 << 5], &[]),
            ),
            (
                "replaced and deleted",
                split(&[("", F, 8, 0)], &[1 << 33, 1], &[1 << 33, 1]),
            ),
            (
                "unordered additions",
                split(&[("b", F, 8, 0), ("a", F, 8, 0)], &[], &[]),
            ),
        ] {
            assert!(merge_split(base(), s).is_err(), "{name}");
        }
    }

    #[test]
    fn sparse_directory_entries_are_read_only_in_a_sparse_index() {
        let e: &[E] = &[("d/a", F, 1, 0), ("e/", MODE_TREE, 2, EXT_SKIP_WORKTREE)];
        let ix = parsed(&file(3, e, &[(b"sdir", b"")], true));
        assert!(ix.sparse && ix.entries[1].is_sparse_dir() && !ix.entries[0].is_sparse_dir());
        let err = parse(&file(3, e, &[], true)).unwrap_err();
        assert!(format!("{err:#}").contains("not sparse"), "{err:#}");
        let expanded = ix
            .expand_sparse(|dir, _| {
                assert_eq!(dir, b"e");
                Ok(Some(vec![(
                    b"e/x".to_vec(),
                    F,
                    Oid::from_bytes(&[3; HASH_LEN]).unwrap(),
                )]))
            })
            .unwrap();
        assert_eq!(paths(&expanded), ["d/a", "e/x"]);
        assert!(expanded.entries[1].skip_worktree && !expanded.entries[1].is_sparse_dir());
    }

    fn tree_node(name: &str, count: i64, subtrees: usize, id: u8) -> Vec<u8> {
        let mut b = format!("{name}\0{count} {subtrees}\n").into_bytes();
        if count >= 0 {
            b.extend([id; HASH_LEN]);
        }
        b
    }

    #[test]
    fn cache_tree_nodes_nest_and_bad_ones_are_dropped() {
        let e: &[E] = &[("a/x", F, 1, 0), ("b/c/y", F, 2, 0), ("z", F, 3, 0)];
        // Pre-order: root (3 entries, 2 subtrees) > b (invalid, 1 subtree) > c ; a last.
        let tree: Vec<u8> = [
            tree_node("", 3, 2, 9),
            tree_node("b", -1, 1, 0),
            tree_node("c", 1, 0, 7),
            tree_node("a", 1, 0, 8),
        ]
        .concat();
        let ix = parsed(&file(2, e, &[(b"TREE", &tree)], true));
        let ct = ix.cache_tree.as_ref().expect("cache-tree");
        let id = |b: u8| Some(Oid::from_bytes(&[b; HASH_LEN]).unwrap());
        assert_eq!(ct.nodes[CacheTree::ROOT].id, id(9));
        let a = ct.child(CacheTree::ROOT, b"a").expect("a");
        let b = ct.child(CacheTree::ROOT, b"b").expect("b");
        assert_eq!((ct.nodes[a].id, ct.nodes[b].id), (id(8), None));
        assert_eq!(ct.child(b, b"c").map(|c| ct.nodes[c].id), Some(id(7)));
        assert_eq!(ct.child(CacheTree::ROOT, b"c"), None);

        let bad: &[(&str, Vec<u8>)] = &[
            ("truncated id", tree[..tree.len() - 1].to_vec()),
            ("trailing bytes", [tree.clone(), b"x".to_vec()].concat()),
            ("too few subtrees", tree_node("", 1, 2, 9)),
            ("not a number", b"\0x 0\n".to_vec()),
        ];
        for (name, data) in bad {
            let ix = parsed(&file(2, e, &[(b"TREE", data)], true));
            assert!(ix.cache_tree.is_none(), "{name}");
        }
    }

    #[test]
    fn entries_under_a_prefix_skip_look_alike_names() {
        let ix = parsed(&file(
            2,
            &[
                ("dir", F, 1, 0),
                ("dir-x", F, 2, 0),
                ("dir.y", F, 3, 0),
                ("dir/a", F, 4, 0),
                ("dir/sub/b", F, 5, 0),
                ("dir0", F, 6, 0),
                ("dirz", F, 7, 0),
            ],
            &[],
            true,
        ));
        let under = |p: &str| -> Vec<String> {
            ix.entries_under(p.as_bytes())
                .into_iter()
                .map(|e| String::from_utf8_lossy(ix.path(e)).into_owned())
                .collect()
        };
        assert_eq!(under("dir"), ["dir", "dir/a", "dir/sub/b"]);
        assert_eq!(under("dir/"), ["dir", "dir/a", "dir/sub/b"]);
        assert_eq!(under("dir/sub"), ["dir/sub/b"]);
        assert_eq!(under("di"), Vec::<String>::new());
        assert_eq!(under("").len(), 7);
        assert_eq!(ix.find(b"dir/a").map(|e| e.size), Some(50));
        assert!(ix.find(b"dir/").is_none());
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_answer_not_a_panic() {
        let tree: Vec<u8> = [tree_node("", 2, 1, 9), tree_node("d", 1, 0, 8)].concat();
        for version in [2, 3, 4] {
            let good = file(
                version,
                &[
                    ("a", F, 1, 0),
                    ("d/b", F, 2, if version > 2 { EXT_SKIP_WORKTREE } else { 0 }),
                ],
                &[(b"TREE", &tree)],
                false,
            );
            for cut in 0..good.len() {
                let _ = parse(&[&good[..cut], &[0; HASH_LEN]].concat());
            }
            for i in 0..good.len() - HASH_LEN {
                for bit in 0..8 {
                    let mut b = good.clone();
                    b[i] ^= 1 << bit;
                    let _ = parse(&b);
                }
            }
        }
    }
}

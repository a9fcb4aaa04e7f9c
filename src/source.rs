//! From files to findings: size and binary guards, routing (notebook, model artifact, text),
//! added-line extraction, and the mapping of matches back to file positions.
//!
//! Invariants:
//! - only what is new is reported: added line ranges of text files; for notebooks, units whose
//!   text is new *and* whose secret was not already in the previous version of the notebook;
//!   a line that only moved within a file is not new;
//! - nothing is skipped silently: binary, oversized, unparsable and allowed files are all listed
//!   (`Outcome::skipped`, `Outcome::notes`);
//! - blobs are borrowed, never copied whole (a 200 MB text file is held once), and only a bounded
//!   number of files are in memory at once (one per worker thread).

use std::borrow::Cow;
use std::collections::HashSet;

use anyhow::{Context, Result};
use globset::GlobSet;
use rayon::prelude::*;

use crate::detect::{Detector, Match, Suppressed};
use crate::git::{self, Change};
use crate::notebook;
use crate::reach;
use crate::repo::Repo;
use crate::report::{fingerprint, Finding, Location, Part, Secret, Severity};

/// Git's own binary heuristic: a NUL byte in the first 8000 bytes.
const BINARY_SNIFF: usize = 8000;

/// Resource bounds and path rules, from flags and the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Blobs larger than this are not scanned (reported as skipped, never silently).
    pub max_blob_size: u64,
    /// Model files staged as real blobs above this size get an LFS warning.
    pub lfs_warn_size: u64,
    pub allow_paths: Option<GlobSet>,
    /// Whether an unknown (non-allow-listed, non-dangerous) pickle import blocks.
    pub block_unknown_imports: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_blob_size: 256 << 20,
            lfs_warn_size: 10 << 20,
            allow_paths: None,
            block_unknown_imports: false,
        }
    }
}

/// What scanning one file produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Repository-relative path of the file this is about.
    pub path: Vec<u8>,
    pub findings: Vec<Finding>,
    pub lines: u64,
    pub bytes: u64,
    pub scanned: bool,
    pub skipped: Option<String>,
    pub notes: Vec<String>,
    pub suppressed: Suppressed,
    pub path_allowed: bool,
}

pub struct Scanner<'c> {
    pub detector: Detector<'c>,
    pub settings: Settings,
}

impl<'c> Scanner<'c> {
    pub fn new(detector: Detector<'c>, settings: Settings) -> Self {
        Scanner { detector, settings }
    }

    /// Whether `[allow] paths` exempts this repository-relative path.
    pub fn path_allowed(&self, path: &[u8]) -> bool {
        self.settings
            .allow_paths
            .as_ref()
            .is_some_and(|g| g.is_match(String::from_utf8_lossy(path).as_ref()))
    }

    /// Scan git changes, spreading large batches over the cores. Each worker opens its own
    /// repository handle (neither backend's handles are shareable across threads).
    pub fn scan_changes(
        &self,
        repo: &Repo,
        changes: &[Change],
        commit: Option<&str>,
    ) -> Result<Vec<Outcome>> {
        if changes.len() <= 4 {
            return changes
                .iter()
                .map(|c| self.scan_change(repo, c, commit))
                .collect();
        }
        let opener = repo.opener();
        changes
            .par_iter()
            .map_init(
                || opener.open(),
                |r, c| match r {
                    Ok(r) => self.scan_change(r, c, commit),
                    Err(e) => Err(anyhow::anyhow!("{e:#}")),
                },
            )
            .collect()
    }

    /// Read one change's blobs (guarded by size) and scan them.
    pub fn scan_change(
        &self,
        repo: &Repo,
        change: &Change,
        commit: Option<&str>,
    ) -> Result<Outcome> {
        let shown = String::from_utf8_lossy(&change.path).into_owned();
        if self.path_allowed(&change.path) {
            return Ok(Outcome {
                path: change.path.clone(),
                path_allowed: true,
                ..Outcome::default()
            });
        }
        let size = repo
            .blob_size(&change.new)
            .with_context(|| format!("cannot read object {} for {shown}", change.new))?;
        if size as u64 > self.settings.max_blob_size {
            if let Some(out) = self.scan_large_model(repo, change, size as u64, commit) {
                return Ok(out);
            }
            if let Some(out) = self.large_pickle(repo, change, size as u64, commit) {
                return Ok(out);
            }
            return Ok(Outcome {
                path: change.path.clone(),
                skipped: Some(format!(
                    "too large: {size} bytes > --max-blob-size {}",
                    self.settings.max_blob_size
                )),
                notes: vec![format!(
                    "{shown} was NOT scanned: {size} bytes exceeds --max-blob-size; raise the limit to scan it"
                )],
                ..Outcome::default()
            });
        }
        let worktree = repo.read_worktree_copy(change, size);
        let blob;
        let new = match &worktree {
            Some(copy) => copy.as_slice(),
            None => {
                blob = repo
                    .blob(&change.new)
                    .with_context(|| format!("cannot read blob {} for {shown}", change.new))?;
                &*blob
            }
        };
        let old = match &change.old {
            Some(id) => Some(
                repo.blob(id)
                    .with_context(|| format!("cannot read previous blob {id} for {shown}"))?,
            ),
            None => None,
        };
        let old_bytes = old.as_deref();
        let max = self.settings.max_blob_size;
        if let Some(lfs) = crate::lfs::resolve(repo, &change.path, new, old_bytes, max)? {
            return Ok(self.scan_lfs(&change.path, lfs, commit));
        }
        // A symlink's blob is its target path: scanned like any other text.
        Ok(self.scan_content(&change.path, old_bytes, new, commit))
    }

    /// A zip model file over `--max-blob-size` (a checkpoint with large tensor members): its
    /// pickles are inspected from one bounded pass over the working-tree copy, which must hash
    /// to the staged id; without one that does (history scans, a file edited after `git add`),
    /// over the blob streamed from git to a temporary file. None when neither is possible;
    /// the caller then reports it unscanned.
    fn scan_large_model(
        &self,
        repo: &Repo,
        change: &Change,
        size: u64,
        commit: Option<&str>,
    ) -> Option<Outcome> {
        let from_worktree = repo
            .open_worktree_copy(change, size)
            .and_then(|mut file| self.capture_model(&mut file, change, size));
        let image = match from_worktree {
            Some(image) => image,
            None => {
                let head = crate::blobspool::head(repo.path(), &change.new, 4)?;
                if !head.starts_with(b"PK\x03\x04") {
                    return None;
                }
                let mut spool = crate::blobspool::spool(repo.path(), &change.new, size)?;
                self.capture_model(spool.file(), change, size)?
            }
        };
        self.large_model_outcome(&change.path, &image, size, commit)
    }

    /// A file on disk over `--max-blob-size` (`leakgate scan`) that is a model: a zip model is
    /// inspected from its small members, a pickle blocks as not inspected. None for other files.
    pub fn scan_large_file(
        &self,
        shown: &[u8],
        path: &std::path::Path,
        size: u64,
    ) -> Option<Outcome> {
        let mut file = std::fs::File::open(path).ok()?;
        let mut head = Vec::with_capacity(4);
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, 4), &mut head).ok()?;
        if head.starts_with(b"PK\x03\x04") {
            let image = crate::model::capture_zip(
                &mut file,
                size,
                self.settings.max_blob_size,
                &mut |_| {},
            )?;
            return self.large_model_outcome(shown, &image, size, None);
        }
        crate::model::is_pickle_header(&head).then(|| self.pickle_too_large(shown, size, None))
    }

    fn large_model_outcome(
        &self,
        path: &[u8],
        image: &crate::model::Image,
        size: u64,
        commit: Option<&str>,
    ) -> Option<Outcome> {
        let subject = crate::artifact::Subject {
            path,
            commit,
            block_unknown_imports: self.settings.block_unknown_imports,
            lfs_warn_size: self.settings.lfs_warn_size,
        };
        let scan = crate::artifact::scan_image(&subject, image)?;
        let mut out = Outcome {
            path: path.to_vec(),
            scanned: true,
            bytes: size,
            findings: scan.findings,
            ..Outcome::default()
        };
        for (loc, text) in &scan.texts {
            self.scan_snippet(text.as_bytes(), loc, &mut out);
        }
        out.findings
            .extend(crate::artifact::large_binary_warning(&subject, size));
        Some(out)
    }

    /// The parts of a zip model that the pickle walk needs, from one pass over `file`, which
    /// must hash to the blob's id (else None: those bytes are not what is committed).
    fn capture_model(
        &self,
        file: &mut std::fs::File,
        change: &Change,
        size: u64,
    ) -> Option<crate::model::Image> {
        let mut hasher = crate::git::BlobHasher::new(&change.new, size);
        let image =
            crate::model::capture_zip(file, size, self.settings.max_blob_size, &mut |chunk| {
                hasher.update(chunk)
            })?;
        hasher.matches().then_some(image)
    }

    /// A pickle over `--max-blob-size`: it is walked whole or not at all, and what it would
    /// run is unknown, so it blocks as not fully inspected (fail closed) instead of being
    /// listed as unscanned. Told by its first bytes, read from the blob itself.
    fn large_pickle(
        &self,
        repo: &Repo,
        change: &Change,
        size: u64,
        commit: Option<&str>,
    ) -> Option<Outcome> {
        let head = crate::blobspool::head(repo.path(), &change.new, 3)?;
        crate::model::is_pickle_header(&head)
            .then(|| self.pickle_too_large(&change.path, size, commit))
    }

    fn pickle_too_large(&self, path: &[u8], size: u64, commit: Option<&str>) -> Outcome {
        let subject = crate::artifact::Subject {
            path,
            commit,
            block_unknown_imports: self.settings.block_unknown_imports,
            lfs_warn_size: self.settings.lfs_warn_size,
        };
        let detail = format!(
            "a pickle of {size} bytes, over --max-blob-size {}: not inspected (a pickle is \
             walked whole); raise --max-blob-size to inspect it",
            self.settings.max_blob_size
        );
        Outcome {
            path: path.to_vec(),
            bytes: size,
            findings: vec![crate::artifact::unreadable(&subject, detail)],
            ..Outcome::default()
        }
    }

    /// A file stored in Git LFS: its object is scanned like any staged content of that path.
    fn scan_lfs(
        &self,
        path: &[u8],
        lfs: crate::lfs::Resolved<'_>,
        commit: Option<&str>,
    ) -> Outcome {
        match lfs {
            crate::lfs::Resolved::Content {
                new,
                old,
                new_in_lfs,
            } => {
                let mut out = self.scan_content(path, old.as_deref(), &new, commit);
                if new_in_lfs {
                    // The content is in LFS, so "large model file staged without LFS" is false.
                    out.findings
                        .retain(|f| f.rule != crate::model::rules::NOT_LFS);
                }
                out
            }
            crate::lfs::Resolved::NotScanned { reason, note } => Outcome {
                path: path.to_vec(),
                skipped: Some(reason),
                notes: vec![note],
                ..Outcome::default()
            },
        }
    }

    /// Scan a file's new content; `old` is the previous version when only the difference counts.
    pub fn scan_content(
        &self,
        path: &[u8],
        old: Option<&[u8]>,
        new: &[u8],
        commit: Option<&str>,
    ) -> Outcome {
        let mut out = self.route(&Ctx { path, commit }, old, new);
        out.path = path.to_vec();
        out
    }

    fn route(&self, ctx: &Ctx<'_>, old: Option<&[u8]>, new: &[u8]) -> Outcome {
        let path = ctx.path;
        let new = normalize_text(new);
        let old = old.map(normalize_text);

        let subject = crate::artifact::Subject {
            path: ctx.path,
            commit: ctx.commit,
            block_unknown_imports: self.settings.block_unknown_imports,
            lfs_warn_size: self.settings.lfs_warn_size,
        };
        if let Some(scan) = crate::artifact::scan(&subject, &new) {
            let mut out = Outcome {
                scanned: true,
                bytes: new.len() as u64,
                findings: scan.findings,
                ..Outcome::default()
            };
            for (loc, text) in &scan.texts {
                self.scan_snippet(text.as_bytes(), loc, &mut out);
            }
            out.findings.extend(crate::artifact::large_binary_warning(
                &subject,
                new.len() as u64,
            ));
            return out;
        }
        if is_binary(&new) {
            let mut out = Outcome {
                skipped: Some("binary".to_string()),
                ..Outcome::default()
            };
            out.findings.extend(crate::artifact::large_binary_warning(
                &subject,
                new.len() as u64,
            ));
            return out;
        }
        if path.ends_with(b".ipynb") {
            match self.scan_notebook(ctx, old.as_deref(), &new) {
                Ok(out) => return out,
                Err(reason) => {
                    let mut out = self.scan_text(ctx, old.as_deref(), &new);
                    out.notes.push(format!(
                        "{} is not a readable notebook ({reason:#}); scanned its added lines as text",
                        String::from_utf8_lossy(path)
                    ));
                    return out;
                }
            }
        }
        self.scan_text(ctx, old.as_deref(), &new)
    }

    fn scan_text(&self, ctx: &Ctx<'_>, old: Option<&[u8]>, new: &[u8]) -> Outcome {
        let mut out = Outcome {
            scanned: true,
            ..Outcome::default()
        };
        let ranges = match old {
            None => vec![(1, u32::MAX)],
            Some(old) => match git::added_ranges(old, new) {
                Ok(r) => r,
                Err(e) => {
                    // libgit2 could not diff: scanning everything is the safe direction.
                    out.notes.push(format!(
                        "{}: {e:#}; scanned the whole file",
                        String::from_utf8_lossy(ctx.path)
                    ));
                    vec![(1, u32::MAX)]
                }
            },
        };
        let added = reach::line_ranges(new, &ranges);
        for r in &added {
            out.bytes += r.len() as u64;
            out.lines += count_lines(&new[r.clone()]);
        }
        let matches = if ranges == [(1, u32::MAX)] {
            self.detector.scan(new, &mut out.suppressed)
        } else {
            self.detector.scan_added(new, &added, &mut out.suppressed)
        };
        let mut locator = Locator::new(new);
        let mut old_lines: Option<HashSet<&[u8]>> = None;
        // (line start, line end, moved) of the last one-line secret judged: matches come sorted,
        // so a line holding many secrets is searched and looked up once.
        let mut moved_cache: Option<(usize, usize, bool)> = None;
        for m in matches {
            let (line, column) = locator.locate(m.start);
            if let Some(old) = old {
                let start = locator.line_start();
                let moved = match moved_cache {
                    Some((s, e, moved)) if s == start && m.end <= e => moved,
                    _ => {
                        let lines = old_lines
                            .get_or_insert_with(|| old.split(|&b| b == b'\n').map(trim).collect());
                        let moved = only_moved(new, &added, start, m.end, lines);
                        let end =
                            memchr::memchr(b'\n', &new[start..]).map_or(new.len(), |i| start + i);
                        if m.end <= end {
                            moved_cache = Some((start, end, moved));
                        }
                        moved
                    }
                };
                if moved {
                    continue;
                }
            }
            let loc = Location {
                path: ctx.path.to_vec(),
                line: line + 1,
                column,
                commit: ctx.commit.map(str::to_string),
                ..Location::default()
            };
            out.findings.push(self.finding(&m, loc));
        }
        out
    }

    /// Notebook units that are new in the staged version; secrets already in the previous
    /// version are not reported again (re-saved, re-executed and reordered notebooks are quiet).
    ///
    /// Memory: units are scanned one at a time as the notebook is read, the previous version is
    /// kept as one hash per unit text, and it is read a second time only when something new was
    /// found; so a notebook costs its parsed outline plus one unit, not all its text twice.
    fn scan_notebook(&self, ctx: &Ctx<'_>, old: Option<&[u8]>, new: &[u8]) -> Result<Outcome> {
        // Keyed per process (SipHash with random keys): a unit cannot be crafted to collide with
        // an old one and so be skipped.
        use std::hash::BuildHasher as _;
        let hasher = std::collections::hash_map::RandomState::new();
        let mut known: HashSet<u64> = HashSet::new();
        if let Some(old) = old {
            let read = notebook::for_each_unit(old, |u| {
                known.insert(hasher.hash_one(u.text.as_str()));
            });
            if read.is_err() {
                // An unreadable previous version: everything counts as new.
                known.clear();
            }
        }
        let mut out = Outcome {
            scanned: true,
            ..Outcome::default()
        };
        let mut pending: Vec<(Match, Location)> = Vec::new();
        notebook::for_each_unit(new, |unit| {
            if known.contains(&hasher.hash_one(unit.text.as_str())) {
                return;
            }
            let text = unit.text.as_bytes();
            out.bytes += text.len() as u64;
            out.lines += count_lines(text);
            let matches = self.detector.scan(text, &mut out.suppressed);
            // Matches come sorted within the unit: one pass of the locator.
            let mut locator = Locator::new(text);
            for m in matches {
                let (cell_line, raw_line) = unit.locate(m.start);
                let (_, column) = locator.locate(m.start);
                let output = unit.output_at(m.start);
                let last = unit.output_at(m.end.saturating_sub(1).max(m.start));
                let loc = Location {
                    path: ctx.path.to_vec(),
                    line: raw_line,
                    column,
                    cell: unit.cell,
                    output,
                    output_end: last.filter(|_| last != output),
                    cell_line: Some(cell_line),
                    part: Some(match unit.part {
                        notebook::Part::Source => Part::Source,
                        notebook::Part::Output => Part::Output,
                        notebook::Part::Metadata => Part::Metadata,
                        notebook::Part::Attachment => Part::Attachment,
                    }),
                    commit: ctx.commit.map(str::to_string),
                    member: None,
                };
                pending.push((m, loc));
            }
        })?;
        if let (false, Some(old)) = (pending.is_empty(), old) {
            let mut ignored = Suppressed::default();
            let mut before: HashSet<(usize, Vec<u8>)> = HashSet::new();
            let read = notebook::for_each_unit(old, |u| {
                for m in self.detector.scan(u.text.as_bytes(), &mut ignored) {
                    before.insert((m.rule, m.secret));
                }
            });
            if read.is_ok() {
                pending.retain(|(m, _)| !before.contains(&(m.rule, m.secret.clone())));
            }
        }
        for (m, loc) in pending {
            out.findings.push(self.finding(&m, loc));
        }
        Ok(out)
    }

    /// Scan a free-standing text (model metadata, pickle strings) as a whole. Its bytes are part
    /// of a blob the caller already counted.
    pub fn scan_snippet(&self, text: &[u8], loc: &Location, out: &mut Outcome) {
        out.lines += count_lines(text);
        for m in self.detector.scan(text, &mut out.suppressed) {
            out.findings.push(self.finding(&m, loc.clone()));
        }
    }

    pub fn finding(&self, m: &Match, location: Location) -> Finding {
        let rule = &self.detector.catalog.rules[m.rule];
        Finding {
            rule: rule.spec.id.clone(),
            title: rule.spec.title.clone(),
            severity: Severity::Error,
            location,
            secret: Secret(m.secret.clone()),
            encodings: m.encodings.iter().map(|e| e.name()).collect(),
            checksum: m.checksum.map(|_| "valid"),
            detail: None,
            fingerprint: fingerprint(&rule.spec.id, &m.secret),
        }
    }
}

/// Where the content came from; findings carry it.
pub struct Ctx<'a> {
    pub path: &'a [u8],
    pub commit: Option<&'a str>,
}

/// UTF-16 text (with a BOM) is transcoded so it is scanned as text rather than skipped as binary;
/// a UTF-8 BOM is dropped. Everything else is borrowed as it is.
pub fn normalize_text(bytes: &[u8]) -> Cow<'_, [u8]> {
    let utf16 = |le: bool| {
        let units = bytes[2..].chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        let s: String = char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        Cow::Owned(s.into_bytes())
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => Cow::Borrowed(rest),
        _ => Cow::Borrowed(bytes),
    }
}

pub fn is_binary(bytes: &[u8]) -> bool {
    memchr::memchr(0, &bytes[..bytes.len().min(BINARY_SNIFF)]).is_some()
}

/// Whether every added line the secret span touches was already in the old version (same
/// content, maybe re-indented): a secret that only moved is not new. A secret over several
/// lines is new as soon as one of its added lines is.
/// `start` is the start of the line holding the secret's first byte, `span_end` its end.
fn only_moved(
    text: &[u8],
    added: &[std::ops::Range<usize>],
    mut start: usize,
    span_end: usize,
    old_lines: &HashSet<&[u8]>,
) -> bool {
    loop {
        let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
        let line = start..end + 1;
        if reach::overlaps(added, &line) && !old_lines.contains(trim(&text[start..end])) {
            return false;
        }
        if end + 1 >= span_end || end >= text.len() {
            return true;
        }
        start = end + 1;
    }
}

fn count_lines(text: &[u8]) -> u64 {
    let n = memchr::memchr_iter(b'\n', text).count() as u64;
    if text.last().is_some_and(|&b| b != b'\n') {
        n + 1
    } else {
        n
    }
}

/// `line_and_column` for a sequence of offsets in one pass: each call counts only the bytes
/// between the previous offset and this one, so locating n sorted matches costs O(text), not
/// O(n * text) (100 000 tokens on one 3.8 MB line took 106 s the naive way). An offset before
/// the previous one restarts from the beginning (correct, just slower).
struct Locator<'t> {
    text: &'t [u8],
    pos: usize,
    lines: u32,
    line_start: usize,
    /// Characters between `line_start` and `pos`.
    chars: u32,
}

impl<'t> Locator<'t> {
    fn new(text: &'t [u8]) -> Self {
        Locator {
            text,
            pos: 0,
            lines: 0,
            line_start: 0,
            chars: 0,
        }
    }

    /// Same answer as `line_and_column(text, offset)`.
    fn locate(&mut self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        if offset < self.pos {
            *self = Locator::new(self.text);
        }
        let seg = &self.text[self.pos..offset];
        let newlines = memchr::memchr_iter(b'\n', seg).count() as u32;
        if newlines > 0 {
            self.lines += newlines;
            self.line_start = memchr::memrchr(b'\n', seg).map_or(0, |i| self.pos + i + 1);
            self.chars = 0;
        }
        let from = self.line_start.max(self.pos);
        self.chars += count_chars(&self.text[from..offset]);
        self.pos = offset;
        (self.lines, self.chars + 1)
    }

    /// Start of the line holding the last located offset.
    fn line_start(&self) -> usize {
        self.line_start
    }
}

fn count_chars(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u32
}
/// (lines before `offset`, 1-based column in characters) within `text`.
#[cfg(test)]
fn line_and_column(text: &[u8], offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let lines = memchr::memchr_iter(b'\n', before).count() as u32;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    // Count characters, not bytes: UTF-8 continuation bytes do not start a character.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count() as u32
        + 1;
    (lines, column)
}

fn trim(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locator_agrees_with_line_and_column() {
        let text = "ab\ncé\n\nxyz é\nq".as_bytes();
        let mut loc = Locator::new(text);
        for offset in (0..=text.len() + 2).chain([3, 0, 9]) {
            assert_eq!(
                loc.locate(offset),
                line_and_column(text, offset),
                "{offset}"
            );
        }
    }
    #[test]
    fn line_and_column_counts_characters() {
        assert_eq!(line_and_column(b"ab\ncd", 4), (1, 2));
        assert_eq!(line_and_column("é=x".as_bytes(), 3), (0, 3));
        assert_eq!(line_and_column(b"x", 99), (0, 2));
    }

    #[test]
    fn utf16_is_transcoded() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "tok=1".encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        assert_eq!(normalize_text(&bytes).as_ref(), b"tok=1");
        assert!(!is_binary(&normalize_text(&bytes)));
        assert!(is_binary(b"a\0b"));
    }

    // Mutation-tested (issue 18): a big-endian BOM and a UTF-8 BOM each have their own arm.
    #[test]
    fn utf16_big_endian_and_a_utf8_bom_are_normalized() {
        let mut be = vec![0xFE, 0xFF];
        for u in "k=é".encode_utf16() {
            be.extend(u.to_be_bytes());
        }
        assert_eq!(normalize_text(&be).as_ref(), "k=é".as_bytes());
        assert_eq!(normalize_text(b"\xEF\xBB\xBFk=1").as_ref(), b"k=1");
        assert_eq!(normalize_text(b"k=1").as_ref(), b"k=1");
        assert!(!is_binary(b"plain text"));
    }

    #[test]
    fn count_lines_counts_an_unterminated_last_line() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a\n"), 1);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b"a\nb\n\n"), 3);
    }

    /// `only_moved` on "keep\n  tok=AAA\nnew=BBB\n" with lines 2 and 3 added; `old` holds the
    /// trimmed lines of the previous version.
    fn moved(span: std::ops::Range<usize>, old: &[&str]) -> bool {
        let text = b"keep\n  tok=AAA\nnew=BBB\n";
        let old: HashSet<&[u8]> = old.iter().map(|l| l.as_bytes()).collect();
        let start = text[..span.start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let added = vec![std::ops::Range { start: 5, end: 23 }];
        only_moved(text, &added, start, span.end, &old)
    }

    #[test]
    fn a_reindented_line_only_moved_and_a_new_line_did_not() {
        // Line 2 was in the old version (re-indented): moved.
        assert!(moved(11..14, &["keep", "tok=AAA"]));
        // Line 3 is new.
        assert!(!moved(19..22, &["keep", "tok=AAA"]));
        // A span ending just after line 2's newline touches line 2 only.
        assert!(moved(11..15, &["tok=AAA"]));
    }

    #[test]
    fn a_secret_over_two_lines_is_new_when_either_line_is() {
        assert!(!moved(11..22, &["tok=AAA"]));
        assert!(!moved(11..22, &["new=BBB"]));
        assert!(moved(11..22, &["tok=AAA", "new=BBB"]));
    }
}

//! Invariant checks behind leakgate's fuzz targets, one `check_*` function per entry point.
//!
//! The same file is compiled twice: by cargo-fuzz (the targets in `fuzz_targets/` call these
//! functions on libFuzzer's inputs) and by the stable `cargo test` (tests/integration/hostile.rs
//! includes it by path and feeds it a seeded mutation stream), so the properties checked under
//! libFuzzer are checked on every test run too.
//!
//! Invariants checked, besides "does not panic" (the harness treats any panic as a crash):
//! - `notebook::units`: no unit has empty text; `Unit::locate` answers, for every byte offset of a
//!   unit, the 1-based text line holding it (`1 + newlines before it`) and a raw line inside the
//!   file, never decreasing along the text;
//! - `decode::decode_spans`: at most `MAX_SPANS` spans, each a non-empty range inside the input
//!   whose decoded bytes are no longer than the encoded text (decoding never amplifies), at most
//!   `text.len() + OUTPUT_SLACK` decoded bytes in all, also one nesting level down;
//! - `git::added_ranges`: ranges are 1-based, non-empty, sorted, disjoint and inside the new
//!   blob's line count; identical buffers add nothing; an empty old buffer adds every line;
//! - `Scanner::scan_content`: findings sit on a line that exists in the (normalised) staged text
//!   and on the scanned path (column 0 only for model-file findings, which have none); in a text
//!   file the column is exact: the secret starts at that character of that line (for a decoded
//!   secret the column lies within the line); identical old and new content reports nothing; the
//!   human, JSON and SARIF renderings of the outcome contain no terminal control or bidi
//!   character and no long secret in full.
//! - `index::parse`: a parsed index has non-empty paths strictly ordered by (path, stage);
//!   `find` answers every stage-0 entry; `entries_under` equals a linear filter for every
//!   entry's path and each of its parent directories; cache-tree children are sorted and each
//!   is found by name. Inputs are tried as given and with a zeroed trailer (`index.skipHash`),
//!   so mutants get past the checksum.
//!
//! Each check counts the inputs that got past parsing ([`deep_checks`]); the stable mutation
//! test asserts a floor on that share, so a stream of inputs the parsers reject fails there.
//!
//! Only `std` and `leakgate` are used: this file must build unchanged in both crates.

use std::cell::Cell;
use std::sync::LazyLock;

use leakgate::detect::{Detector, Policy};
use leakgate::report::{self, Report, Style};
use leakgate::rules::Catalog;
use leakgate::source::{self, Scanner, Settings};

static CATALOG: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::builtin().expect("the built-in catalog loads"));

thread_local! {
    /// Inputs of this thread that got past parsing to the deep invariants (see [`deep_checks`]).
    static DEEP: Cell<usize> = const { Cell::new(0) };
}

/// How many inputs, on this thread, reached the deep invariants of a check (units parsed, spans
/// decoded, ranges added, findings made, an index parsed) rather than stopping at "not valid":
/// the stable mutation test asserts a floor, so a mutator that only feeds parse errors fails.
pub fn deep_checks() -> usize {
    DEEP.with(Cell::get)
}

fn reached() {
    DEEP.with(|d| d.set(d.get() + 1));
}

/// Lines as git counts them: one per `\n`, plus an unterminated last line.
pub fn line_count(text: &[u8]) -> usize {
    let newlines = text.iter().filter(|&&b| b == b'\n').count();
    match text.last() {
        Some(&b) if b != b'\n' => newlines + 1,
        _ => newlines,
    }
}

/// Split one fuzz input into two buffers: the first two bytes choose the split point, so the
/// fuzzer controls both halves and their lengths.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data {
        [a, b, rest @ ..] => {
            let at = usize::from(u16::from_le_bytes([*a, *b])) % (rest.len() + 1);
            rest.split_at(at)
        }
        _ => (&[], data),
    }
}

/// `notebook::units` on arbitrary bytes.
pub fn check_notebook(data: &[u8]) {
    let Ok(units) = leakgate::notebook::units(data) else {
        return;
    };
    if !units.is_empty() {
        reached();
    }
    let raw_lines = u32::try_from(line_count(data).max(1)).unwrap_or(u32::MAX);
    for (i, unit) in units.iter().enumerate() {
        assert!(!unit.text.is_empty(), "unit {i} has empty text");
        assert!(unit.cell != Some(0), "unit {i}: cells are 1-based");
        assert!(unit.output != Some(0), "unit {i}: outputs are 1-based");
        let mut line = 1u32;
        let mut last_raw = 0u32;
        for (offset, &byte) in unit.text.as_bytes().iter().enumerate() {
            let (cell_line, raw) = unit.locate(offset);
            assert_eq!(cell_line, line, "unit {i}: cell line of offset {offset}");
            assert!(
                (1..=raw_lines).contains(&raw),
                "unit {i}: raw line {raw} of offset {offset} outside 1..={raw_lines}"
            );
            assert!(
                raw >= last_raw,
                "unit {i}: raw line goes back from {last_raw} to {raw} at offset {offset}"
            );
            last_raw = raw;
            if byte == b'\n' {
                line += 1;
            }
        }
        // Past the end answers something in range too (a match can end there).
        let (_, raw) = unit.locate(unit.text.len().saturating_add(7));
        assert!(
            (1..=raw_lines).contains(&raw),
            "unit {i}: raw line past end"
        );
    }
}

/// `decode::decode_spans` on arbitrary bytes, and once more on each decoded span (the detector
/// nests decoding up to its depth bound).
pub fn check_decode(data: &[u8]) {
    if !leakgate::decode::decode_spans(data).is_empty() {
        reached();
    }
    check_spans(data, 1);
}

fn check_spans(text: &[u8], more_levels: u32) {
    let spans = leakgate::decode::decode_spans(text);
    assert!(
        spans.len() <= leakgate::decode::MAX_SPANS,
        "{} spans exceed MAX_SPANS",
        spans.len()
    );
    for s in &spans {
        assert!(
            s.start < s.end && s.end <= text.len(),
            "span {}..{} outside 0..{} or empty",
            s.start,
            s.end,
            text.len()
        );
        assert!(
            s.bytes.len() <= s.end - s.start,
            "{} span {}..{} decodes to {} bytes: decoding must not amplify",
            s.encoding.name(),
            s.start,
            s.end,
            s.bytes.len()
        );
    }
    let total: usize = spans.iter().map(|s| s.bytes.len()).sum();
    assert!(
        total <= text.len() + leakgate::decode::OUTPUT_SLACK,
        "{total} decoded bytes from a {}-byte text",
        text.len()
    );
    if more_levels > 0 {
        for s in spans.iter().take(64) {
            check_spans(&s.bytes, more_levels - 1);
        }
    }
}

/// `git::added_ranges` on two arbitrary buffers.
pub fn check_added_lines(data: &[u8]) {
    let (old, new) = split(data);
    // An Err is handled by the caller (it scans the whole file), so only Ok answers are checked.
    let Ok(ranges) = leakgate::git::added_ranges(old, new) else {
        return;
    };
    if !ranges.is_empty() {
        reached();
    }
    let lines = line_count(new) as u64;
    let mut next_free = 1u64;
    for &(start, count) in &ranges {
        let (start, count) = (u64::from(start), u64::from(count));
        assert!(count >= 1, "empty range at {start} in {ranges:?}");
        assert!(
            start >= next_free,
            "ranges unsorted or overlapping: {ranges:?}"
        );
        assert!(
            start + count - 1 <= lines,
            "range {start}+{count} past the {lines} lines of new: {ranges:?}"
        );
        next_free = start + count;
    }
    if old == new {
        assert!(ranges.is_empty(), "identical buffers added {ranges:?}");
    }
    if old.is_empty() && !new.is_empty() {
        assert_eq!(
            ranges,
            vec![(1, u32::try_from(lines).unwrap_or(u32::MAX))],
            "a new file adds every line"
        );
    }
}

/// A scanner as `check-staged` builds it with no config: built-in catalog, default limits,
/// decode depth 2.
pub fn scanner() -> Scanner<'static> {
    let policy = Policy {
        decode_depth: 2,
        ..Policy::default()
    };
    Scanner::new(Detector::new(&CATALOG, policy), Settings::default())
}

/// `Scanner::scan_content`. The first byte picks the path (bit 0: `f.ipynb` or `f.txt`) and the
/// previous version (bits 1-2: none, a prefix split off the rest, the same content, empty).
pub fn check_scan_blob(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let path: &[u8] = if mode & 1 == 0 { b"f.ipynb" } else { b"f.txt" };
    let same = (mode >> 1) & 3 == 2;
    let (old, new): (Option<&[u8]>, &[u8]) = match (mode >> 1) & 3 {
        0 => (None, rest),
        1 => {
            let (o, n) = split(rest);
            (Some(o), n)
        }
        2 => (Some(rest), rest),
        _ => (Some(&[]), rest),
    };
    let scanner = scanner();
    let out = scanner.scan_content(path, old, new, None);
    assert_eq!(out.path, path);
    let text = source::normalize_text(new);
    let lines = u32::try_from(line_count(&text).max(1)).unwrap_or(u32::MAX);
    if !out.findings.is_empty() {
        reached();
    }
    for f in &out.findings {
        let loc = &f.location;
        assert_eq!(loc.path, path, "finding on another path");
        assert!(
            (1..=lines).contains(&loc.line),
            "{} at line {} outside 1..={lines}",
            f.rule,
            loc.line
        );
        // Column 0 means "no column": model-file findings (evidence, or a metadata entry).
        assert!(
            loc.column >= 1 || f.detail.is_some() || loc.member.is_some(),
            "{} at column 0",
            f.rule
        );
        if path == b"f.txt" && f.detail.is_none() && loc.member.is_none() {
            check_column(&text, f);
        }
        assert_eq!(f.fingerprint.len(), 64);
        if f.detail.is_none() {
            assert!(!f.secret.0.is_empty(), "{}: empty secret", f.rule);
        }
    }
    if same && leakgate::model::sniff(new).is_none() {
        assert!(
            out.findings.is_empty(),
            "unchanged content reported {} findings",
            out.findings.len()
        );
    }
    check_rendering(&scanner, out);
}

/// A text finding's column is exact: it counts characters (UTF-8 lead bytes) from the start of
/// its line, and the secret starts there — or, for a secret found in decoded content, the
/// column is still inside that line (it points at the encoded text).
fn check_column(text: &[u8], f: &report::Finding) {
    let loc = &f.location;
    let line_start = if loc.line == 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(loc.line as usize - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    let line_end = text[line_start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let chars = line.iter().filter(|&&b| (b & 0xC0) != 0x80).count();
    assert!(
        (loc.column as usize) <= chars + 1,
        "{} at column {} of a {chars}-character line {}",
        f.rule,
        loc.column,
        loc.line
    );
    if !f.encodings.is_empty() {
        return;
    }
    // The byte offset of the column-th character.
    let mut seen = 0usize;
    let at = line
        .iter()
        .position(|&b| {
            if (b & 0xC0) != 0x80 {
                seen += 1;
            }
            seen == loc.column as usize
        })
        .map_or(line_end, |i| line_start + i);
    assert!(
        text[at..].starts_with(&f.secret.0),
        "{} at {}:{}: the text there is {:?}, not the secret",
        f.rule,
        loc.line,
        loc.column,
        String::from_utf8_lossy(&text[at..(at + 24).min(text.len())])
    );
}

/// Render an outcome in every format and check what reaches the terminal.
fn check_rendering(scanner: &Scanner<'_>, out: source::Outcome) {
    let secrets: Vec<(String, Vec<u8>)> = out
        .findings
        .iter()
        .filter(|f| f.secret.0.len() >= 16)
        .map(|f| (f.rule.clone(), f.secret.0.clone()))
        .collect();
    let mut report = Report {
        scope: "fuzz input".into(),
        max_listed: Some(3),
        ..Report::default()
    };
    if let Some(reason) = out.skipped {
        report.skipped.push(report::Skipped {
            path: String::from_utf8_lossy(&out.path).into_owned(),
            reason,
        });
    }
    report.notes = out.notes;
    report.findings = out.findings;
    report.sort();
    let catalog = scanner.detector.catalog;
    let style = Style {
        color: false,
        verbose: true,
        show_secrets: false,
    };
    let rendered = [
        ("human", report::render_human(&report, catalog, &style)),
        ("json", report::render_json(&report, catalog, false)),
        ("sarif", report::render_sarif(&report, catalog, true)),
    ];
    for (format, text) in &rendered {
        assert_terminal_safe(format, text);
        for (rule, secret) in &secrets {
            let secret = String::from_utf8_lossy(secret);
            if let Some(at) = text.find(&*secret) {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                panic!(
                    "{format} output shows the {rule} secret in full, on the line {:?}",
                    &text[line_start..line_end]
                );
            }
        }
    }
}

pub fn check_index(data: &[u8]) {
    use leakgate::index::{parse, Read};
    let mut unverified = data.to_vec();
    let n = unverified.len();
    if n >= 20 {
        unverified[n - 20..].fill(0);
    }
    for input in [data, unverified.as_slice()] {
        let Ok(Read::Parsed(ix)) = parse(input) else {
            continue;
        };
        reached();
        for pair in ix.entries.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                (ix.path(a), a.stage) < (ix.path(b), b.stage),
                "entries out of order: {:?} then {:?}",
                ix.path(a).escape_ascii().to_string(),
                ix.path(b).escape_ascii().to_string()
            );
        }
        for e in &ix.entries {
            let path = ix.path(e);
            assert!(!path.is_empty(), "an entry with an empty path was accepted");
            if e.stage == 0 {
                assert_eq!(ix.find(path), Some(e), "find misses a stage-0 entry");
            }
        }
        for e in ix.entries.iter().take(32) {
            let path = ix.path(e);
            let parents = path
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'/')
                .map(|(i, _)| &path[..i]);
            for prefix in parents.chain([path]) {
                let got: Vec<&[u8]> = ix
                    .entries_under(prefix)
                    .iter()
                    .map(|x| ix.path(x))
                    .collect();
                let want: Vec<&[u8]> = ix
                    .entries
                    .iter()
                    .map(|x| ix.path(x))
                    .filter(|p| leakgate::git::path_is_under(p, prefix))
                    .collect();
                assert_eq!(
                    got,
                    want,
                    "entries_under({:?})",
                    prefix.escape_ascii().to_string()
                );
            }
        }
        if let Some(ct) = &ix.cache_tree {
            for (i, node) in ct.nodes.iter().enumerate() {
                for pair in node.children.windows(2) {
                    assert!(
                        ct.nodes[pair[0]].name <= ct.nodes[pair[1]].name,
                        "children unsorted"
                    );
                }
                for &c in &node.children {
                    let name = &ct.nodes[c].name;
                    let found = ct.child(i, name).map(|f| &ct.nodes[f].name);
                    assert_eq!(found, Some(name), "a child is not found by its name");
                }
            }
        }
    }
}

/// Characters a terminal acts on or that reorder what the reader sees (the set `report`
/// escapes); a line feed is the renderers' own.
pub fn is_terminal_hazard(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Panics naming the first hazardous character of `text` and where it is.
pub fn assert_terminal_safe(what: &str, text: &str) {
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| is_terminal_hazard(c)) {
        let mut from = at.saturating_sub(40);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        panic!(
            "{what}: raw U+{:04X} at byte {at}, after {:?}",
            c as u32,
            &text[from..at]
        );
    }
}

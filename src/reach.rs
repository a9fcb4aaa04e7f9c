//! How far a rule's match can reach across lines, and which windows of a changed file must be
//! matched so that every secret touching an added line is seen whole.
//!
//! Invariants:
//! - a reach is an upper bound: a rule whose pattern cannot be analysed, or whose match can span
//!   any number of lines (a PEM block), reaches the whole file;
//! - windows are line-aligned, sorted, disjoint, and each covers its added range plus `lines`
//!   whole lines on both sides, so a match of a rule reaching at most `lines` newlines that
//!   overlaps an added line lies inside one window.

use std::ops::Range;

use regex_syntax::hir::{Class, Hir, HirKind};

/// Lines counted for an unbounded run of whitespace (`\s*` between a key and its value): a value
/// set apart from its key by more blank lines than this is not read as that key's value.
pub const WHITESPACE_LINES: u32 = 2;

/// Longest bounded reach that still counts as "a few lines"; beyond it the rule runs on the file.
pub const MAX_WINDOW_LINES: u32 = 16;

/// How many newlines a rule's match can contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Lines(u32),
    File,
}

/// The reach of a regex pattern (as the `regex` crate's byte regexes read it).
pub fn reach(pattern: &str) -> Reach {
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
    else {
        return Reach::File;
    };
    match newlines(&hir) {
        Some(n) if n <= MAX_WINDOW_LINES => Reach::Lines(n),
        _ => Reach::File,
    }
}

/// Whether every match of `pattern` contains one of `keywords` (ASCII case-insensitively): then
/// a keyword near the added lines is a necessary condition for the rule to match there.
///
/// Some part of the top-level concatenation, from one element to the end, must have a finite
/// set of prefix literals (every match of that part starts with one of them) each holding a
/// keyword; the part lies inside every match. False whenever this cannot be shown.
pub fn holds_keyword(pattern: &str, keywords: &[&str]) -> bool {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
    else {
        return false;
    };
    let keywords: Vec<Vec<u8>> = keywords
        .iter()
        .map(|k| k.as_bytes().to_ascii_lowercase())
        .collect();
    let parts = flatten(&hir);
    let extractor = {
        let mut e = Extractor::new();
        e.kind(ExtractKind::Prefix);
        e
    };
    (0..parts.len()).any(|from| {
        let seq = extractor.extract(&Hir::concat(parts[from..].to_vec()));
        seq.literals().is_some_and(|lits| {
            !lits.is_empty()
                && lits.iter().all(|lit| {
                    let lit = lit.as_bytes().to_ascii_lowercase();
                    keywords
                        .iter()
                        .any(|k| !k.is_empty() && lit.windows(k.len()).any(|w| w == &k[..]))
                })
        })
    })
}

/// The top-level concatenation with capture groups opened up (their contents are part of it).
fn flatten(hir: &Hir) -> Vec<Hir> {
    match hir.kind() {
        HirKind::Concat(parts) => parts.iter().flat_map(flatten).collect(),
        HirKind::Capture(c) => flatten(&c.sub),
        _ => vec![hir.clone()],
    }
}

/// Most newlines a match of `hir` can hold; None when unbounded.
fn newlines(hir: &Hir) -> Option<u32> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(0),
        HirKind::Literal(lit) => Some(lit.0.iter().filter(|&&b| b == b'\n').count() as u32),
        HirKind::Class(class) => Some(u32::from(class_has_newline(class))),
        HirKind::Capture(cap) => newlines(&cap.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .try_fold(0u32, |acc, h| Some(acc.saturating_add(newlines(h)?))),
        HirKind::Alternation(alts) => alts
            .iter()
            .try_fold(0u32, |acc, h| Some(acc.max(newlines(h)?))),
        HirKind::Repetition(rep) => {
            let inner = newlines(&rep.sub)?;
            if inner == 0 {
                return Some(0);
            }
            match rep.max {
                Some(max) => Some(inner.saturating_mul(max)),
                None if is_whitespace_class(&rep.sub) => Some(WHITESPACE_LINES),
                None => None,
            }
        }
    }
}

fn class_has_newline(class: &Class) -> bool {
    match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
    }
}

/// A class of whitespace only (`\s`, `[ \t\r\n]`): what separates a key from its value.
fn is_whitespace_class(hir: &Hir) -> bool {
    let HirKind::Class(class) = hir.kind() else {
        return false;
    };
    match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .all(|r| (r.start()..=r.end()).all(char::is_whitespace)),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .all(|r| (r.start()..=r.end()).all(|b| b.is_ascii_whitespace() || b == 0x0B)),
    }
}

/// Byte ranges of the 1-based line ranges `(first, count)` (sorted, disjoint diff hunks), each
/// ending after its last newline. One pass over the text up to the last range.
pub fn line_ranges(text: &[u8], ranges: &[(u32, u32)]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut line = 1u32;
    let mut pos = 0usize;
    let mut newlines = memchr::memchr_iter(b'\n', text);
    for &(start, count) in ranges {
        while line < start {
            match newlines.next() {
                Some(i) => {
                    pos = i + 1;
                    line += 1;
                }
                None => return out,
            }
        }
        let begin = pos;
        let mut taken = 0u32;
        while taken < count {
            match newlines.next() {
                Some(i) => {
                    pos = i + 1;
                    line += 1;
                    taken += 1;
                }
                None => {
                    pos = text.len();
                    break;
                }
            }
        }
        if begin < pos {
            out.push(begin..pos);
        }
        if pos >= text.len() {
            break;
        }
    }
    out
}

/// The added ranges widened by `lines` whole lines on each side, merged where they meet.
pub fn windows(text: &[u8], added: &[Range<usize>], lines: u32) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(added.len());
    for r in added {
        let mut start = r.start.min(text.len());
        for _ in 0..lines {
            if start == 0 {
                break;
            }
            // `start` is a line start: step over the newline ending the previous line.
            start = memchr::memrchr(b'\n', &text[..start - 1]).map_or(0, |i| i + 1);
        }
        let mut end = r.end.clamp(start, text.len());
        for _ in 0..lines {
            if end >= text.len() {
                break;
            }
            end = memchr::memchr(b'\n', &text[end..]).map_or(text.len(), |i| end + i + 1);
        }
        match out.last_mut() {
            Some(last) if start <= last.end => last.end = last.end.max(end),
            _ => out.push(start..end),
        }
    }
    out
}

/// The windows of one rule around its keyword occurrences, built as the occurrences are found.
#[derive(Debug, Clone, Default)]
pub struct Occurrences {
    windows: Vec<Range<usize>>,
    /// The latest occurrence in ascending order and the end of its line: another occurrence
    /// between the two adds nothing.
    latest: usize,
    line_end: usize,
}

impl Occurrences {
    /// Adds the line of the keyword occurrence starting at `at`, widened by `lines` whole lines
    /// on both sides, merged with the last window when they touch. Occurrences come in
    /// ascending order: one on the latest occurrence's line costs nothing, and the search back
    /// for a line start stops at the last window's end, itself a line start, so a long line
    /// with many occurrences (minified JSON) is walked once, not once per occurrence. An
    /// occurrence out of order is still added; `into_windows` restores the order.
    pub fn add(&mut self, text: &[u8], at: usize, lines: u32) {
        let at = at.min(text.len());
        let in_order = self.windows.is_empty() || at >= self.latest;
        if in_order && !self.windows.is_empty() && at < self.line_end {
            return;
        }
        // In order, this occurrence's window starts no earlier than the last one's.
        let floor = match self.windows.last() {
            Some(w) if in_order => w.start.max(if at >= w.end { w.end } else { 0 }),
            _ => 0,
        };
        let line_start =
            |end: usize| memchr::memrchr(b'\n', &text[floor..end]).map_or(floor, |i| floor + i + 1);
        let mut start = line_start(at);
        for _ in 0..lines {
            if start <= floor {
                break;
            }
            start = line_start(start - 1);
        }
        let mut end = at;
        for i in 0..=lines {
            if end >= text.len() {
                break;
            }
            end = memchr::memchr(b'\n', &text[end..]).map_or(text.len(), |k| end + k + 1);
            if i == 0 && in_order {
                (self.latest, self.line_end) = (at, end);
            }
        }
        match self.windows.last_mut() {
            Some(last) if start <= last.end && last.start <= start => last.end = last.end.max(end),
            _ => self.windows.push(start..end),
        }
    }

    /// The windows: sorted, disjoint, line-aligned.
    pub fn into_windows(mut self) -> Vec<Range<usize>> {
        normalize(&mut self.windows);
        self.windows
    }
}

/// Sorts `windows` and merges those that overlap or touch.
fn normalize(windows: &mut Vec<Range<usize>>) {
    if windows.windows(2).all(|p| p[0].end < p[1].start) {
        return;
    }
    windows.sort_unstable_by_key(|w| w.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(windows.len());
    for w in windows.drain(..) {
        match merged.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => merged.push(w),
        }
    }
    *windows = merged;
}

/// Whether `span` shares a byte with any of the sorted, disjoint `ranges`.
pub fn overlaps(ranges: &[Range<usize>], span: &Range<usize>) -> bool {
    let i = ranges.partition_point(|r| r.end <= span.start);
    // An empty span (never a secret, but be total) counts where it sits.
    ranges
        .get(i)
        .is_some_and(|r| r.start < span.end.max(span.start + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_table() {
        let cases: &[(&str, Reach)] = &[
            ("ghp_[A-Za-z0-9]{36}", Reach::Lines(0)),
            (
                r"[^\n]{0,60}password\s+(\w+)",
                Reach::Lines(WHITESPACE_LINES),
            ),
            (r"key\s{0,4}=\s{0,4}(\w+)", Reach::Lines(8)),
            (r"(?m)^[ \t]+\w+:[ \t]+(\w+)\r?$", Reach::Lines(0)),
            (r"BEGIN(?s:.)*?END", Reach::File),
            (r"\[wandb\](?:\n[^\[\n]*){0,20}", Reach::File),
            (r"\[wandb\](?:\n[^\[\n]*){0,3}", Reach::Lines(3)),
            (r"a\nb|c", Reach::Lines(1)),
            ("(?-u:\\xff)x", Reach::Lines(0)),
            ("(unclosed", Reach::File),
        ];
        for (pattern, want) in cases {
            assert_eq!(reach(pattern), *want, "{pattern}");
        }
    }

    #[test]
    fn line_ranges_table() {
        type Case<'a> = (&'a str, &'a [(u32, u32)], &'a [&'a str]);
        let text = "l1\nl2\nl3\nl4\nl5";
        let cases: &[Case] = &[
            ("whole", &[(1, u32::MAX)], &["l1\nl2\nl3\nl4\nl5"]),
            ("middle", &[(2, 2)], &["l2\nl3\n"]),
            ("two", &[(1, 1), (5, 1)], &["l1\n", "l5"]),
            ("past end", &[(9, 1)], &[]),
        ];
        for (name, ranges, want) in cases {
            let got: Vec<&str> = line_ranges(text.as_bytes(), ranges)
                .into_iter()
                .map(|r| &text[r])
                .collect();
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn windows_widen_by_whole_lines_and_merge() {
        let text = "l1\nl2\nl3\nl4\nl5\nl6\nl7";
        let at = |ranges: &[(u32, u32)], lines| -> Vec<&str> {
            windows(
                text.as_bytes(),
                &line_ranges(text.as_bytes(), ranges),
                lines,
            )
            .into_iter()
            .map(|r| &text[r])
            .collect()
        };
        assert_eq!(at(&[(4, 1)], 0), ["l4\n"]);
        assert_eq!(at(&[(4, 1)], 1), ["l3\nl4\nl5\n"]);
        assert_eq!(at(&[(1, 1)], 2), ["l1\nl2\nl3\n"]);
        assert_eq!(at(&[(7, 1)], 2), ["l5\nl6\nl7"]);
        assert_eq!(at(&[(2, 1), (5, 1)], 1), ["l1\nl2\nl3\nl4\nl5\nl6\n"]);
        assert_eq!(at(&[(1, 1), (7, 1)], 1), ["l1\nl2\n", "l6\nl7"]);
    }

    /// `widen_occurrence` + `normalize` against the definition: the union of each occurrence's
    /// line widened by `lines` whole lines, occurrences in any order, on texts with empty lines,
    /// long lines, no final newline.
    #[test]
    fn occurrence_windows_are_their_lines_widened_and_merged() {
        let mut rng = crate::test_rng::Rng(0x005e_ed0f_1135);
        for case in 0..2000 {
            let len = 1 + rng.below(200);
            let text: Vec<u8> = (0..len)
                .map(|_| if rng.below(6) == 0 { b'\n' } else { b'x' })
                .collect();
            let lines = rng.below(4) as u32;
            let mut hits: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(len)).collect();
            if case % 2 == 0 {
                hits.sort_unstable();
            }
            let mut occurrences = Occurrences::default();
            for &at in &hits {
                occurrences.add(&text, at, lines);
            }
            let got = occurrences.into_windows();
            // The definition, byte by byte: a byte is covered when its line is within `lines`
            // lines of an occurrence's line.
            let line_of = |i: usize| text[..i].iter().filter(|&&b| b == b'\n').count();
            let covered: Vec<bool> = (0..len)
                .map(|i| {
                    hits.iter()
                        .any(|&h| line_of(i).abs_diff(line_of(h)) <= lines as usize)
                })
                .collect();
            let mut want: Vec<Range<usize>> = Vec::new();
            for (i, &c) in covered.iter().enumerate() {
                match want.last_mut() {
                    Some(w) if c && w.end == i => w.end = i + 1,
                    _ if c => want.push(i..i + 1),
                    _ => {}
                }
            }
            assert_eq!(
                got,
                want,
                "case {case}: lines {lines}, hits {hits:?}, {:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    /// A single line holding an occurrence every few bytes (minified JSON) is one window: the
    /// occurrences after the first fall inside it.
    #[test]
    fn occurrences_on_one_long_line_make_one_window() {
        let text = vec![b'x'; 4 << 20];
        let mut occurrences = Occurrences::default();
        for at in (0..text.len()).step_by(7) {
            occurrences.add(&text, at, 2);
        }
        assert_eq!(occurrences.into_windows(), vec![0..text.len()]);
    }

    #[test]
    fn overlap_is_any_shared_byte() {
        let ranges = [3..6, 10..12];
        assert!(overlaps(&ranges, &(5..8)));
        assert!(overlaps(&ranges, &(0..20)));
        assert!(!overlaps(&ranges, &(6..10)));
        assert!(!overlaps(&ranges, &(0..3)));
        assert!(overlaps(&ranges, &(11..11)));
    }
}

#[cfg(test)]
mod catalog_tests {
    use super::*;

    /// Rules that reach the whole file run over every staged file holding their keyword, so
    /// they must be the few whose match really spans any number of lines (key blocks), not a
    /// key/value rule made unbounded by accident (`.*` with a newline-matching class).
    #[test]
    fn only_block_rules_reach_the_whole_file() {
        let catalog = crate::rules::Catalog::builtin().unwrap();
        let mut whole = Vec::new();
        let mut widest = 0;
        for rule in &catalog.rules {
            match reach(&rule.spec.regex) {
                Reach::File => whole.push((rule.id().to_string(), rule.spec.kind)),
                Reach::Lines(n) => widest = widest.max(n),
            }
        }
        eprintln!("whole-file rules: {whole:?}; widest bounded reach: {widest} lines");
        assert!(
            whole.len() <= 10
                && whole
                    .iter()
                    .all(|(_, k)| *k == crate::rules::Kind::Specific),
            "key/value rules must reach a bounded number of lines: {whole:?}"
        );
        assert!(whole.iter().any(|(id, _)| id == "pem-private-key"));
    }
}

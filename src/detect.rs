//! The matcher: keyword prefilter, regex, secret group, entropy floor, placeholder and allow
//! checks, offline checksums, then the same over decoded spans (base64, percent, escapes).
//!
//! Invariants:
//! - input is bytes: no UTF-8 validation pass, invalid UTF-8 is scanned like any other byte;
//! - matching is linear (the `regex` crate) and decoding depth is a fixed bound, not input-driven;
//! - a `Match` points at the original text: for a decoded secret, at the encoded span holding it;
//! - overlapping findings are resolved so one secret yields one finding (specific rules beat
//!   generic ones, then the longer secret, then the earlier rule).

use std::collections::HashSet;
use std::ops::Range;

use rayon::prelude::*;
use regex::bytes::Regex;

use crate::decode::{self, Encoding};
use crate::reach::{self, Reach};
use crate::rules::{Catalog, Checksum, Kind, Rule};

mod plausible;
mod structure;

pub use structure::checksum_valid;
use structure::is_documentation_value;

/// Markers that suppress the findings of the line they are on. `gitleaks:allow` and
/// `pragma: allowlist secret` (detect-secrets) are honoured so teams can migrate.
pub const INLINE_ALLOW: &[&str] = &[
    "leakgate:allow",
    "gitleaks:allow",
    "pragma: allowlist secret",
];

/// Substrings that mark a value as a stand-in rather than a credential.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "xxxx",
    "your",
    "placeholder",
    "dummy",
    "sample",
    "redacted",
    "changeme",
    "change_me",
    "replace",
    "insert",
    "fake",
    "<",
    ">",
    "${",
    "{{",
    "****",
    "....",
];

/// Words that make a value next to a secret-sounding key a sample, a default or code rather than
/// a credential. Only for generic rules: a recognisable token format is reported regardless.
const GENERIC_STOPWORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "test",
    "demo",
    "default",
    "admin",
    "qwerty",
    "letmein",
    "changeit",
    "hello",
    "world",
    "lorem",
    "ipsum",
    "foobar",
    "null",
    "none",
    "true",
    "false",
    "undefined",
    "string",
    "value",
    "my_",
    "my-",
    "todo",
    "fixme",
    "mock",
    "stub",
    "localhost",
    "http",
    "sha256",
    "sha512",
    "md5",
    "utf-8",
    "utf8",
    "bearer",
];

/// Per-scan policy: everything a config file can tune.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    /// Regexes matched against the secret: a match means "not a finding".
    pub allow_secrets: Vec<Regex>,
    /// Lower-case words: a secret containing one is not a finding.
    pub stopwords: Vec<String>,
    /// Per-rule overrides, indexed like the catalog.
    pub overrides: Vec<RuleOverride>,
    /// How many nested decodings to follow (base64 in base64 …). 0 disables decoding.
    pub decode_depth: usize,
}

#[derive(Debug, Default, Clone)]
pub struct RuleOverride {
    pub entropy: Option<f64>,
    pub allow_secrets: Vec<Regex>,
}

/// A detected secret inside one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub rule: usize,
    /// Byte span in the scanned text: the secret itself, or the encoded span that decodes to it.
    pub start: usize,
    pub end: usize,
    pub secret: Vec<u8>,
    /// Decodings applied, outermost first (empty for a secret found as written).
    pub encodings: Vec<Encoding>,
    /// Set when the rule has an offline checksum and it verified.
    pub checksum: Option<Checksum>,
}

/// What was dropped on purpose, so `--verbose` can show it and nothing disappears silently.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub inline: usize,
    pub allowlist: usize,
    /// Decoded-span limit reached in a text: some encoded spans were not followed.
    pub decode_limit: usize,
}

pub struct Detector<'c> {
    pub catalog: &'c Catalog,
    pub policy: Policy,
    /// Every rule on the whole text, as if no rule were anchored to its keywords: the
    /// reference the windowed scan is tested against.
    #[cfg(test)]
    whole_text: bool,
}

impl<'c> Detector<'c> {
    pub fn new(catalog: &'c Catalog, policy: Policy) -> Self {
        Detector {
            catalog,
            policy,
            #[cfg(test)]
            whole_text: false,
        }
    }

    /// Findings of `text` whose secret shares a byte with one of the `added` ranges (sorted,
    /// disjoint, line-aligned), sorted by position, inline-allowed lines removed.
    ///
    /// Rules are selected by their keywords anywhere in `text`: a rule's context may sit on an
    /// unchanged line (`kind: Secret` at the top of a manifest whose values were rotated).
    /// Rules whose match spans a few lines at most run on the added ranges widened by that many
    /// lines (and inside those, around their keywords: `scan_level`); rules whose match can span
    /// any number of lines (a PEM block) run on the whole text, so a key whose body changed
    /// between unchanged BEGIN/END lines is seen whole. An everyday change to a large file thus
    /// costs one keyword pass over it, not a run of every rule.
    pub fn scan_added(
        &self,
        text: &[u8],
        added: &[Range<usize>],
        suppressed: &mut Suppressed,
    ) -> Vec<Match> {
        if added.is_empty() {
            return Vec::new();
        }
        // Contextual and whole-file rules are selected by their keywords anywhere in the file;
        // every other rule's match holds its keyword, within the catalog's widest reach of the
        // added lines, so each window's own keyword pass selects the rest.
        let (mut contextual, mut far) = (Vec::new(), Vec::new());
        for idx in self.catalog.select_wide(text) {
            match self.catalog.rules[idx].reach {
                Reach::Lines(_) => contextual.push(idx),
                Reach::File => far.push(idx),
            }
        }
        let windows = reach::windows(text, added, self.catalog.window_lines);
        let mut found = Vec::new();
        // Decoding runs in the windows even when no rule was selected: a decoded value selects
        // its own rules.
        for window in windows {
            let part = &text[window.clone()];
            // An allow-listed secret on a context line was not added: not a suppression either.
            let counts = |start: usize, end: usize| {
                reach::overlaps(added, &(start + window.start..end + window.start))
            };
            let scope = Scope::Window { wide: &contextual };
            let mut matches = self.scan_level(part, scope, 0, suppressed, &counts);
            // Only what touches an added line counts (also as a suppression).
            matches.retain(|m| {
                reach::overlaps(added, &(m.start + window.start..m.end + window.start))
            });
            drop_allowed(part, &mut matches, suppressed);
            found.extend(matches.into_iter().map(|m| Match {
                start: m.start + window.start,
                end: m.end + window.start,
                ..m
            }));
        }
        if !far.is_empty() {
            let (mut whole, mut malformed) = (Vec::new(), Vec::new());
            for &idx in &far {
                let counts = |start: usize, end: usize| reach::overlaps(added, &(start..end));
                let all = 0..text.len();
                self.match_rule(
                    idx,
                    text,
                    all,
                    &mut whole,
                    suppressed,
                    &mut malformed,
                    &counts,
                );
            }
            whole.retain(|m| reach::overlaps(added, &(m.start..m.end)));
            drop_malformed(&mut whole, &malformed);
            resolve_overlaps(&mut whole, self.catalog);
            drop_allowed(text, &mut whole, suppressed);
            merge_spanning(&mut found, whole, self.catalog);
            // A value a whole-file rule's structural check rejected is reported by no rule.
            drop_malformed(&mut found, &malformed);
        }
        found.retain(|m| reach::overlaps(added, &(m.start..m.end)));
        found.sort_by_key(|m| (m.start, m.rule));
        found
    }

    #[cfg(test)]
    fn whole_text(&self) -> bool {
        self.whole_text
    }

    #[cfg(not(test))]
    fn whole_text(&self) -> bool {
        false
    }

    /// All findings in `text`, sorted by position, inline-allowed lines removed.
    pub fn scan(&self, text: &[u8], suppressed: &mut Suppressed) -> Vec<Match> {
        let mut found = self.scan_level(text, Scope::All, 0, suppressed, &|_, _| true);
        drop_allowed(text, &mut found, suppressed);
        found
    }

    /// Matches in `text` of the rules `scope` names: one keyword pass over `text` selects them
    /// and, for a rule whose match holds its keyword, the windows around its keywords where its
    /// regex runs (`Catalog::locate`); the other rules run on the whole text. An allow-listed
    /// secret is counted as suppressed when `counts` says its span is one that matters.
    fn scan_level(
        &self,
        text: &[u8],
        scope: Scope<'_>,
        depth: usize,
        suppressed: &mut Suppressed,
        counts: &Counts<'_>,
    ) -> Vec<Match> {
        let decoding = depth < self.policy.decode_depth;
        let mut malformed = Vec::new();
        let large = text.len() >= PARALLEL_TEXT;
        // On a large text the decoder runs alongside the keyword pass and then the rules.
        let (located, decoded_spans) = if large {
            rayon::join(
                || self.catalog.locate(text),
                || decoding.then(|| decode::decode_spans_bounded(text)),
            )
        } else {
            (self.catalog.locate(text), None)
        };
        let all = 0..text.len();
        let whole = std::slice::from_ref(&all);
        let mut jobs: Vec<(usize, &[Range<usize>])> = Vec::new();
        for idx in 0..self.catalog.rules.len() {
            let run = match scope {
                Scope::All => located.is_selected(idx),
                Scope::Window { wide } => {
                    (located.is_selected(idx) && !self.catalog.is_wide(idx))
                        || wide.binary_search(&idx).is_ok()
                }
            };
            if run {
                let anchored = self.catalog.is_anchored(idx) && !self.whole_text();
                jobs.push((
                    idx,
                    if anchored {
                        located.windows(idx)
                    } else {
                        whole
                    },
                ));
            }
        }
        let run_job = |&(idx, ranges): &(usize, &[Range<usize>]),
                       found: &mut Vec<Match>,
                       sup: &mut Suppressed,
                       bad: &mut Vec<(usize, usize)>| {
            for range in ranges {
                self.match_rule(idx, text, range.clone(), found, sup, bad, counts);
            }
        };
        let mut found = Vec::new();
        if large {
            // One large text (a generated file, a dump) would keep a single core busy: its
            // rules run side by side. Rules are independent and collected in catalog order,
            // so the result is exactly the sequential one.
            let per_rule: Vec<_> = jobs
                .par_iter()
                .map(|job| {
                    let (mut found, mut sup) = (Vec::new(), Suppressed::default());
                    let mut bad = Vec::new();
                    run_job(job, &mut found, &mut sup, &mut bad);
                    (found, sup, bad)
                })
                .collect();
            for (matches, sup, bad) in per_rule {
                found.extend(matches);
                suppressed.allowlist += sup.allowlist;
                malformed.extend(bad);
            }
        } else {
            for job in &jobs {
                run_job(job, &mut found, suppressed, &mut malformed);
            }
        }
        drop_malformed(&mut found, &malformed);
        resolve_overlaps(&mut found, self.catalog);

        if decoding {
            let decoded_spans = decoded_spans.unwrap_or_else(|| decode::decode_spans_bounded(text));
            if decoded_spans.truncated {
                suppressed.decode_limit += 1;
            }
            let spans = decoded_spans.spans;
            let direct: HashSet<(usize, Vec<u8>)> =
                found.iter().map(|m| (m.rule, m.secret.clone())).collect();
            let mut decoded = Vec::new();
            for span in spans {
                // Scan the decoded value inside its own line, so a key next to it still counts
                // (`password: <base64>` in a Kubernetes Secret is judged as `password: <value>`).
                let (context, range) = in_context(text, &span);
                // Decoded text has its own offsets: it counts where its encoded span does.
                let inner_counts = |_: usize, _: usize| counts(span.start, span.end);
                for inner in
                    self.scan_level(&context, Scope::All, depth + 1, suppressed, &inner_counts)
                {
                    let inside = inner.start < range.end && range.start < inner.end;
                    // Matches in the surrounding line were found directly; the same secret
                    // visible as written (a URL that is also percent-decodable) is one finding.
                    if !inside || direct.contains(&(inner.rule, inner.secret.clone())) {
                        continue;
                    }
                    let mut encodings = vec![span.encoding];
                    encodings.extend(inner.encodings);
                    decoded.push(Match {
                        start: span.start,
                        end: span.end,
                        encodings,
                        ..inner
                    });
                }
            }
            merge_decoded(&mut found, decoded, self.catalog);
        }
        found
    }

    /// `malformed` collects the spans of values in this rule's format that fail its structural
    /// check: they are claimed by the format, so no other rule may report them either.
    #[allow(clippy::too_many_arguments)]
    fn match_rule(
        &self,
        idx: usize,
        text: &[u8],
        range: Range<usize>,
        out: &mut Vec<Match>,
        sup: &mut Suppressed,
        malformed: &mut Vec<(usize, usize)>,
        counts: &Counts<'_>,
    ) {
        let rule = &self.catalog.rules[idx];
        // Compiling a regex can cost more than the whole scan of an everyday commit: the rule's
        // prescreen decides first whether it is worth compiling (see `Rule::may_match`).
        if !rule.may_match(&text[range.clone()]) {
            return;
        }
        let re = rule.regex();
        let group = rule.spec.secret_group;
        let mut locs = re.capture_locations();
        // The haystack ends with the range, but what precedes it stays visible to anchors and
        // to the checks of the line a secret is on: a window matches as the whole text would.
        let haystack = &text[..range.end];
        let mut at = range.start;
        while at <= haystack.len() {
            let Some(whole) = re.captures_read_at(&mut locs, haystack, at) else {
                break;
            };
            let Some((start, end)) = locs.get(group) else {
                at = next_start(haystack, whole.end(), whole.start());
                continue;
            };
            // Resume at the end of the secret, not of the match: a right-hand boundary character
            // can be the left-hand boundary of the next token (`tok_A,tok_B`).
            at = next_start(haystack, end, whole.start());
            // A key word glued inside an encoded blob is not the value's context.
            if whole.start() < start && plausible::context_inside_encoded_run(text, whole.start()) {
                continue;
            }
            let secret = &text[start..end];
            match self.judge(idx, rule, text, start, end) {
                Verdict::Finding(checksum) => out.push(Match {
                    rule: idx,
                    start,
                    end,
                    secret: secret.to_vec(),
                    encodings: Vec::new(),
                    checksum,
                }),
                Verdict::Allowlisted if counts(start, end) => sup.allowlist += 1,
                Verdict::Allowlisted => {}
                Verdict::Malformed => malformed.push((start, end)),
                Verdict::NotASecret => {}
            }
        }
    }

    fn judge(&self, idx: usize, rule: &Rule, text: &[u8], start: usize, end: usize) -> Verdict {
        let secret = &text[start..end];
        if secret.is_empty() || is_documentation_value(secret) {
            return Verdict::NotASecret;
        }
        let over = self.policy.overrides.get(idx);
        let floor = over.and_then(|o| o.entropy).or(rule.spec.entropy);
        if floor.is_some_and(|f| shannon_entropy(secret) < f) {
            return Verdict::NotASecret;
        }
        if is_placeholder(secret) {
            return Verdict::NotASecret;
        }
        if plausible::stand_in(
            rule,
            text,
            start,
            end,
            &is_placeholder,
            &has_generic_stopword,
        )
        .is_some()
        {
            // A stand-in written in a provider's format is claimed by that format: no generic
            // rule may report it either (a claimless JWT after `token:`).
            return match rule.spec.kind {
                Kind::Specific => Verdict::Malformed,
                _ => Verdict::NotASecret,
            };
        }
        match rule.spec.kind {
            Kind::Generic if !generic_value_is_secret(secret) => return Verdict::NotASecret,
            Kind::Encoded if !decodes_to_text(secret) => return Verdict::NotASecret,
            _ => {}
        }
        let checksum = match rule.spec.checksum {
            Some(c) if !checksum_valid(c, secret) => return Verdict::Malformed,
            other => other,
        };
        let allow = self.policy.allow_secrets.iter();
        let rule_allow = over.map(|o| o.allow_secrets.iter()).into_iter().flatten();
        if allow.chain(rule_allow).any(|re| re.is_match(secret)) {
            return Verdict::Allowlisted;
        }
        if !self.policy.stopwords.is_empty() {
            let lower = secret.to_ascii_lowercase();
            if self
                .policy
                .stopwords
                .iter()
                .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
            {
                return Verdict::Allowlisted;
            }
        }
        Verdict::Finding(checksum)
    }
}

/// Which rules `Detector::scan_level` runs on a text.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// Every rule its keywords select (a whole file, a decoded value).
    All,
    /// A window around added lines: the rules its keywords select, except the wide ones
    /// (`Catalog::is_wide`), which were selected on the whole file and are given here (sorted).
    Window { wide: &'a [usize] },
}

/// Whether a secret at this span of the scanned text counts (as a suppression).
type Counts<'a> = dyn Fn(usize, usize) -> bool + Sync + 'a;

enum Verdict {
    Finding(Option<Checksum>),
    Allowlisted,
    NotASecret,
    /// In the rule's format but failing its structural check (checksum, JSON, macaroon).
    Malformed,
}

/// Texts from this size on are scanned on several threads: below it, handing work to the
/// thread pool costs more than it saves.
const PARALLEL_TEXT: usize = 1 << 20;

/// Bytes of context kept on each side of a decoded span: enough for a key and its operator.
const CONTEXT: usize = 160;

/// The decoded span inside (a bounded part of) its line, and where the decoded bytes sit there.
fn in_context(text: &[u8], span: &decode::Decoded) -> (Vec<u8>, std::ops::Range<usize>) {
    let start = span.start.min(text.len());
    let end = span.end.clamp(start, text.len());
    let line_start = memchr::memrchr(b'\n', &text[..start]).map_or(0, |i| i + 1);
    let line_end = memchr::memchr(b'\n', &text[end..]).map_or(text.len(), |i| end + i);
    let before = &text[line_start.max(start.saturating_sub(CONTEXT))..start];
    let after = &text[end..line_end.min(end + CONTEXT)];
    let mut out = Vec::with_capacity(before.len() + span.bytes.len() + after.len());
    out.extend_from_slice(before);
    out.extend_from_slice(&span.bytes);
    out.extend_from_slice(after);
    (out, before.len()..before.len() + span.bytes.len())
}

/// A base64 value that decodes to mostly printable text (what an encoded credential is).
fn decodes_to_text(value: &[u8]) -> bool {
    use base64::Engine as _;
    let trimmed: Vec<u8> = value.iter().copied().filter(|b| *b != b'=').collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&trimmed) else {
        return false;
    };
    bytes.len() >= 6
        && bytes
            .iter()
            .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\n' || b == b'\t' || b >= 0x80)
        && std::str::from_utf8(&bytes).is_ok()
}

/// Where the next search starts; always moves forward so an empty secret cannot loop forever.
fn next_start(text: &[u8], preferred: usize, match_start: usize) -> usize {
    if preferred > match_start {
        preferred
    } else {
        // Step one UTF-8 scalar (or one byte of invalid UTF-8) past the match start.
        let mut next = match_start + 1;
        while next < text.len() && (text[next] & 0xC0) == 0x80 {
            next += 1;
        }
        next
    }
}

/// How much a finding of this kind proves: a token format beats an encoded-value heuristic,
/// which beats a key-name heuristic.
fn kind_rank(catalog: &Catalog, m: &Match) -> u8 {
    match catalog.rules[m.rule].spec.kind {
        Kind::Specific => 0,
        Kind::Encoded => 1,
        Kind::Generic => 2,
    }
}

/// Add decoded findings to the direct ones. Where one overlaps a direct finding, the stronger
/// kind wins (a Hugging Face token inside a Secret's base64 value beats "encoded Secret value";
/// a JWT written as such beats whatever its segments decode to); on a tie the direct one stays.
/// Decoded findings of one span never displace each other: one blob can hold several secrets.
fn merge_decoded(found: &mut Vec<Match>, decoded: Vec<Match>, catalog: &Catalog) {
    let mut keep = Vec::with_capacity(decoded.len());
    for d in decoded {
        let rank = kind_rank(catalog, &d);
        let overlaps = |m: &Match| m.start < d.end && d.start < m.end;
        if found
            .iter()
            .any(|m| overlaps(m) && kind_rank(catalog, m) <= rank)
        {
            continue;
        }
        found.retain(|m| !overlaps(m));
        keep.push(d);
    }
    keep.sort_by(|a, b| (a.start, a.rule, &a.secret).cmp(&(b.start, b.rule, &b.secret)));
    keep.dedup_by(|a, b| a.rule == b.rule && a.secret == b.secret && a.start == b.start);
    found.extend(keep);
    found.sort_by_key(|m| (m.start, m.rule));
}

/// Remove matches on lines that carry an inline allow marker, counting them.
fn drop_allowed(text: &[u8], found: &mut Vec<Match>, suppressed: &mut Suppressed) {
    if found.is_empty() {
        return;
    }
    let allowed = AllowedLines::new(text);
    found.retain(|m| {
        let allowed = allowed.contains(m.start);
        if allowed {
            suppressed.inline += 1;
        }
        !allowed
    });
}

/// Add the matches of file-wide rules (disjoint among themselves) to those found in the windows:
/// where they overlap, one secret is one finding, by the same order as `resolve_overlaps`.
fn merge_spanning(found: &mut Vec<Match>, spanning: Vec<Match>, catalog: &Catalog) {
    let rank = |m: &Match| {
        (
            kind_rank(catalog, m),
            std::cmp::Reverse(m.end - m.start),
            m.rule,
        )
    };
    for s in spanning {
        let overlaps = |m: &Match| m.start < s.end && s.start < m.end;
        if found.iter().any(|m| overlaps(m) && rank(m) <= rank(&s)) {
            continue;
        }
        found.retain(|m| !overlaps(m));
        found.push(s);
    }
}

/// Keep one finding per secret: specific beats generic, then longer, then the earlier rule.
/// O(n log n): kept spans are disjoint, so the only kept span that can overlap a candidate is
/// the one starting last before the candidate's end.
fn resolve_overlaps(found: &mut Vec<Match>, catalog: &Catalog) {
    if found.len() < 2 {
        return;
    }
    let rank = |m: &Match| {
        (
            kind_rank(catalog, m),
            std::cmp::Reverse(m.end - m.start),
            m.rule,
        )
    };
    found.sort_by_key(rank);
    // (start, end) of the kept spans: non-empty (secrets are) and pairwise disjoint.
    let mut spans = std::collections::BTreeSet::new();
    let mut kept: Vec<Match> = Vec::with_capacity(found.len());
    for m in found.drain(..) {
        let overlaps = spans
            .range(..(m.end, 0))
            .next_back()
            .is_some_and(|&(_, end)| end > m.start);
        if !overlaps {
            spans.insert((m.start, m.end));
            kept.push(m);
        }
    }
    kept.sort_by_key(|m| (m.start, m.rule));
    *found = kept;
}

/// The lines of a text that carry an inline allow marker, found once per text, so checking n
/// matches costs O(text + n log n) instead of a line search per match.
struct AllowedLines {
    /// (start, end) byte ranges of marked lines, sorted and disjoint.
    lines: Vec<(usize, usize)>,
}

impl AllowedLines {
    fn new(text: &[u8]) -> Self {
        let mut lines = Vec::new();
        for marker in INLINE_ALLOW {
            let finder = memchr::memmem::Finder::new(marker.as_bytes());
            let mut pos = 0;
            // After a hit, resume on the next line: a line full of markers is searched once.
            while let Some(i) = text.get(pos..).and_then(|rest| finder.find(rest)) {
                let at = pos + i;
                let start = memchr::memrchr(b'\n', &text[pos..at]).map_or(pos, |i| pos + i + 1);
                let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i);
                lines.push((start, end));
                pos = end + 1;
            }
        }
        lines.sort_unstable();
        lines.dedup();
        AllowedLines { lines }
    }

    /// Whether the line holding `offset` is marked (same answer as `line_has_allow_marker`).
    fn contains(&self, offset: usize) -> bool {
        let i = self.lines.partition_point(|&(start, _)| start <= offset);
        i > 0 && offset <= self.lines[i - 1].1
    }
}

#[cfg(test)]
fn line_has_allow_marker(text: &[u8], offset: usize) -> bool {
    let offset = offset.min(text.len());
    let start = memchr::memrchr(b'\n', &text[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &text[offset..]).map_or(text.len(), |i| offset + i);
    let line = &text[start..end];
    INLINE_ALLOW
        .iter()
        .any(|marker| memchr::memmem::find(line, marker.as_bytes()).is_some())
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

/// Above this length a secret is a key block or a long token, where a short placeholder word
/// turns up by chance: `your` sits somewhere in about 1 in 200 random 2048-bit RSA key bodies.
const LONG_SECRET: usize = 128;

/// Whether a value holds one of the generic stop words (`password`, `default`).
fn has_generic_stopword(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    GENERIC_STOPWORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
}

/// Obvious stand-ins: documentation placeholders, masked values, keyboard runs.
pub fn is_placeholder(secret: &[u8]) -> bool {
    let lower = secret.to_ascii_lowercase();
    let long = secret.len() > LONG_SECRET;
    if PLACEHOLDER_WORDS
        .iter()
        // In long secrets only words too long to occur by chance (7+ letters) or markup count.
        .filter(|w| !long || w.len() >= 7 || !w.bytes().all(|b| b.is_ascii_alphabetic()))
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    {
        return true;
    }
    let mut same = 1;
    let mut ascending = 1;
    for pair in lower.windows(2) {
        same = if pair[0] == pair[1] { same + 1 } else { 1 };
        let step = pair[0].is_ascii_alphanumeric() && pair[1] == pair[0].wrapping_add(1);
        ascending = if step { ascending + 1 } else { 1 };
        if same >= 6 || ascending >= 8 {
            return true;
        }
    }
    false
}

/// Checks for a value found next to a secret-sounding key, where the regex alone proves little:
/// it must look like a literal credential, not code, a reference, a path or a word.
pub fn generic_value_is_secret(value: &[u8]) -> bool {
    let Ok(v) = std::str::from_utf8(value) else {
        return false;
    };
    if v.len() < 8 || v.len() > 200 {
        return false;
    }
    // References and templating: ${VAR}, $VAR, %(name)s, {name}, os.environ[...], process.env.X
    const REFERENCES: &[&str] = &[
        "$",
        "%(",
        "{",
        "}",
        "os.environ",
        "getenv",
        "process.env",
        "env(",
        "env.",
        "secrets.",
        "vault:",
        "(",
        ")",
        "[",
        "]",
    ];
    if REFERENCES.iter().any(|r| v.contains(r)) {
        return false;
    }
    // Paths and URLs without credentials (a URL with one is another rule's business).
    if v.starts_with('/')
        || v.starts_with("./")
        || v.starts_with("../")
        || v.starts_with("~/")
        || v.contains("://")
        || v.contains('\\')
    {
        return false;
    }
    let (mut lower, mut upper, mut digit, mut other) = (0, 0, 0, 0);
    for b in v.bytes() {
        match b {
            b'a'..=b'z' => lower += 1,
            b'A'..=b'Z' => upper += 1,
            b'0'..=b'9' => digit += 1,
            _ => other += 1,
        }
    }
    // Words, identifiers and constants: `password`, `my_secret_value`, `SOME_CONSTANT_NAME`.
    let classes = [lower, upper, digit].iter().filter(|&&c| c > 0).count();
    if digit == 0 && (lower == 0 || upper == 0) {
        return false;
    }
    // Letters only: a CamelCase name (`NextMarker`, `ContinuationToken`) has few capitals; a
    // random letters-only credential is long and about half upper case.
    if digit == 0 && other == 0 {
        let ratio = upper as f64 / (upper + lower) as f64;
        if v.len() < 16 || !(0.3..=0.7).contains(&ratio) {
            return false;
        }
    }
    // Dotted names and dashed words are code, not keys: `settings.SECRET_KEY`, `api-key-header`.
    if other > 0
        && v.split(['.', '-', '_', ' '])
            .all(|w| w.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return false;
    }
    if v.contains(' ') {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    if GENERIC_STOPWORDS.iter().any(|w| lower.contains(w)) {
        return false;
    }
    let entropy = shannon_entropy(value);
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
    // Thresholds: a random string of length n over alphabet k has entropy near min(log2 n, log2 k);
    // require most of that so English-like and repetitive values fall out.
    let needed = if hex {
        (v.len() as f64).log2().min(4.0) * 0.8
    } else {
        (v.len() as f64).log2().min(6.0) * 0.8
    };
    classes >= 2 && entropy >= needed.max(2.8)
}

/// Drop findings that overlap a value its own format's structural check rejected.
fn drop_malformed(found: &mut Vec<Match>, malformed: &[(usize, usize)]) {
    if !malformed.is_empty() {
        found.retain(|m| !malformed.iter().any(|&(s, e)| m.start < e && s < m.end));
    }
}

#[cfg(test)]
mod tests;

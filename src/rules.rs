//! The rule catalog: detectors stored as data (`src/rules/*.toml`, embedded at build time).
//!
//! Invariants:
//! - every rule has a unique kebab-case id, a regex with its secret group, lower-case keywords
//!   (empty only for rules that must always run), a remediation and at least one example;
//! - regexes are compiled lazily, on the first text whose keywords select the rule *and* whose
//!   prescreen (a DFA built by build.rs, loaded without compiling) says the regex may match: an
//!   everyday commit compiles no regex at all (the test suite compiles and checks all of them,
//!   and proves each prescreen matches wherever its regex does);
//! - custom rules from a config file go through the same validation, eagerly, because a broken
//!   custom rule must block at load time rather than pass silently later.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use anyhow::{bail, Context, Result};
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::reach::{self, Reach};

/// The built-in catalog: src/rules/*.toml, converted to JSON by build.rs (file order is catalog
/// order; earlier rules win overlap ties).
const BUILTIN_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

/// The built-in rules' prescreen DFAs (see build.rs), 8-byte aligned for zero-copy loading.
#[repr(C)]
struct Aligned<B: ?Sized> {
    _align: [u64; 0],
    bytes: B,
}
static PRESCREEN_BIN: &Aligned<[u8]> = &Aligned {
    _align: [],
    bytes: *include_bytes!(concat!(env!("OUT_DIR"), "/prescreen.bin")),
};
/// Per built-in rule, worked out by build.rs: (rule id, the pattern it was built from, start and
/// end of its prescreen in `PRESCREEN_BIN`, its reach in lines or `u32::MAX`, contextual).
type BuiltFacts = (&'static str, &'static str, usize, usize, u32, bool);
const BUILT_FACTS: &[BuiltFacts] = include!(concat!(env!("OUT_DIR"), "/prescreen.rs"));

type Prescreen = regex_automata::dfa::sparse::DFA<&'static [u8]>;

/// Bytes per rule and run that its prescreen is asked about before the rule is compiled anyway
/// (see `Rule::may_match`). An everyday commit's windows stay far below it.
const PRESCREEN_BUDGET: u64 = 64 << 10;

/// Size limit of a compiled rule regex: generous for legitimate rules, small enough that a
/// pathological custom rule is rejected instead of eating memory on every commit.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checksum {
    /// GitHub's token format: 30 base62 chars followed by their CRC32 in 6 base62 chars.
    GithubCrc32,
    /// npm's token format uses the same construction as GitHub's.
    NpmCrc32,
    /// A JWT's header and payload are base64url JSON objects, the header naming its `alg`.
    JwtStructure,
    /// A PyPI token's body is a version-2 macaroon ending in its 32-byte signature field.
    PypiMacaroon,
    /// A PEM private key's body is base64 DER whose outer SEQUENCE fits in it.
    PemDer,
}

impl Checksum {
    pub fn name(self) -> &'static str {
        match self {
            Checksum::GithubCrc32 => "github-crc32",
            Checksum::NpmCrc32 => "npm-crc32",
            Checksum::JwtStructure => "jwt-structure",
            Checksum::PypiMacaroon => "pypi-macaroon",
            Checksum::PemDer => "pem-der",
        }
    }
}

/// How a rule's secret is judged beyond its regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A recognisable token format: the regex is the evidence.
    #[default]
    Specific,
    /// A key name that suggests a secret next to an arbitrary value: the value must also pass the
    /// generic-value checks (literal, not a reference or a path, enough entropy for its alphabet).
    Generic,
    /// A value that is stored encoded (a Kubernetes `Secret.data` entry, a docker `auth`): it
    /// counts only when it decodes (base64) to text.
    Encoded,
}

/// Which near-misses of its examples a rule's format accepts. The catalog self-test derives, from
/// every example, the secret with a letter or digit glued before and after it, one character
/// shorter and one longer; a rule says here which of those are still its secret, so no
/// exemption is silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Fixed length between token boundaries: none of the near-misses is a token.
    #[default]
    Fixed,
    /// A length range after a prefix: a character glued before still breaks the token; one
    /// glued after, or one character fewer or more, may still be a token, and is then extracted
    /// whole (so the trailing boundary is pinned wherever the alphabet ends).
    Variable,
    /// Bounded by its context (quotes, `=`, the end of the line), not by a format of its own:
    /// every near-miss is still a value, and is then extracted whole. Generic and encoded rules
    /// have this shape by nature.
    Delimited,
    /// Framed by markers of its own (a PEM header and footer): a character glued outside the
    /// frame leaves the secret as it was, a change inside is extracted whole.
    Framed,
}

/// One `[[rule]]` table as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub title: String,
    pub regex: String,
    #[serde(default)]
    pub secret_group: usize,
    pub keywords: Vec<String>,
    #[serde(default)]
    pub entropy: Option<f64>,
    #[serde(default)]
    pub checksum: Option<Checksum>,
    #[serde(default)]
    pub kind: Kind,
    /// `None`: fixed for specific rules, delimited for generic and encoded ones.
    #[serde(default)]
    pub shape: Option<Shape>,
    pub remediation: String,
    #[serde(default)]
    pub references: Vec<String>,
    pub examples: Vec<String>,
    #[serde(default)]
    pub negative_examples: Vec<String>,
}

impl RuleSpec {
    /// The declared shape, or the one the kind implies.
    pub fn shape(&self) -> Shape {
        self.shape.unwrap_or(match self.kind {
            Kind::Specific => Shape::Fixed,
            Kind::Generic | Kind::Encoded => Shape::Delimited,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// A validated rule with its lazily compiled regex.
#[derive(Debug)]
pub struct Rule {
    pub spec: RuleSpec,
    regex: OnceLock<Regex>,
    /// The bytes of the built-in prescreen for exactly this rule's pattern (none for custom
    /// rules), and the DFA read from them on first use.
    prescreen_bytes: Option<&'static [u8]>,
    prescreen: OnceLock<Option<Prescreen>>,
    /// Bytes this rule's prescreen has been asked about in this run (see `may_match`).
    prescreened: AtomicU64,
    /// How many lines a match can span, and whether a keyword is context outside the match.
    pub reach: Reach,
    pub contextual: bool,
    /// A built-in rule (its pattern is the one build.rs analysed): compiled with ASCII classes.
    builtin: bool,
}

impl Rule {
    /// `next_fact`: where to start looking in `BUILT_FACTS`, which is in catalog order like the
    /// specs, so building the catalog looks each rule up once, not in the whole table.
    fn new(spec: RuleSpec, next_fact: &mut usize) -> Rule {
        let found = BUILT_FACTS[*next_fact..]
            .iter()
            .position(|(id, pattern, ..)| *id == spec.id && *pattern == spec.regex)
            .map(|k| *next_fact + k);
        if let Some(k) = found {
            *next_fact = k + 1;
        }
        let built = found.map(|k| &BUILT_FACTS[k]);
        let (prescreen_bytes, (reach, contextual)) = match built {
            Some(&(_, _, start, end, lines, contextual)) => (
                (start < end).then(|| &PRESCREEN_BIN.bytes[start..end]),
                (
                    if lines == u32::MAX {
                        Reach::File
                    } else {
                        Reach::Lines(lines)
                    },
                    contextual,
                ),
            ),
            None => (None, traits_of(&spec)),
        };
        Rule {
            spec,
            regex: OnceLock::new(),
            prescreen_bytes,
            prescreen: OnceLock::new(),
            prescreened: AtomicU64::new(0),
            reach,
            contextual,
            builtin: found.is_some(),
        }
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// What the prescreen says of `text`: `Some(false)` only when the rule's regex cannot match
    /// anywhere in it; `None` when there is no prescreen to ask (a custom rule, DFA bytes this
    /// build cannot read) or the DFA gave up on the text.
    pub fn prescreen_matches(&self, text: &[u8]) -> Option<bool> {
        let dfa = self.prescreen.get_or_init(|| {
            // Checked deserialisation: it validates the DFA (cost proportional to its size,
            // paid once per run and rule) instead of trusting bytes with `unsafe`.
            Prescreen::from_bytes(self.prescreen_bytes?)
                .ok()
                .map(|(dfa, _)| dfa)
        });
        let input = regex_automata::Input::new(text).earliest(true);
        regex_automata::dfa::Automaton::try_search_fwd(dfa.as_ref()?, &input)
            .ok()
            .map(|m| m.is_some())
    }

    /// Whether running the rule's regex on `text` can find anything: false only when the
    /// prescreen rules it out. What the prescreen saves is compiling the regex, worth about as
    /// much as a DFA pass over `PRESCREEN_BUDGET` bytes: past that volume in a run (a first
    /// commit of thousands of files, one large text) the rule is compiled, and its regex, with
    /// its literal prefilter, answers faster than the DFA; once compiled it just runs.
    pub fn may_match(&self, text: &[u8]) -> bool {
        if self.regex.get().is_some() {
            return true;
        }
        let before = self
            .prescreened
            .fetch_add(text.len() as u64, Ordering::Relaxed);
        before + text.len() as u64 > PRESCREEN_BUDGET || self.prescreen_matches(text) != Some(false)
    }

    /// Whether the regex has been compiled in this run (for tests of the prescreen's effect).
    pub fn is_compiled(&self) -> bool {
        self.regex.get().is_some()
    }

    /// Whether the rule has a usable prescreen (for tests and `leakgate rules`).
    pub fn has_prescreen(&self) -> bool {
        self.prescreen_bytes.is_some()
    }

    /// The compiled regex. Validation compiled it once already, so failure here is a bug.
    pub fn regex(&self) -> &Regex {
        self.regex.get_or_init(|| {
            compile(&self.spec.regex, !self.builtin)
                .expect("rule regexes are validated when the catalog loads")
        })
    }
}

/// Built-in rules are compiled with ASCII classes (`unicode` false): their formats are ASCII,
/// and a Unicode `[^\n]{0,60}` or `\s` compiles to many times the states (on a 50 MB file the
/// compiled regexes were a quarter of the peak memory). build.rs builds their prescreens with
/// the same syntax. Custom rules keep the `regex` crate's default, Unicode classes, so a
/// team's `\p{L}` still compiles.
fn compile(pattern: &str, unicode: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .unicode(unicode)
        .build()
}

/// (reach, contextual) of a rule, as build.rs also works them out for the built-in ones.
///
/// A rule is contextual when its match need not hold one of its keywords (`kind: secret` for a
/// rule matching `  key: value` lines): the keyword is context that may sit anywhere in the
/// file. Otherwise a rule whose keyword is not in the text around the added lines cannot match
/// there. A match holds a keyword when every keyword is written in the pattern, or when the
/// pattern's literals show it (`pdl_(?:live|sdbx)_` holds `pdl_live_` or `pdl_sdbx_`: see
/// `reach::holds_keyword`). Generic rules match their key name by definition. Whatever cannot
/// be shown counts as contextual: that rule then just runs more often.
pub fn traits_of(spec: &RuleSpec) -> (Reach, bool) {
    let pattern = spec.regex.to_lowercase().replace('\\', "");
    let keywords: Vec<&str> = spec.keywords.iter().map(String::as_str).collect();
    let contextual = spec.kind != Kind::Generic
        && !keywords.iter().all(|k| pattern.contains(k))
        && !reach::holds_keyword(&spec.regex, &keywords);
    (reach::reach(&spec.regex), contextual)
}

/// All rules plus the keyword prefilter that selects which of them run on a text.
#[derive(Debug)]
pub struct Catalog {
    pub rules: Vec<Rule>,
    /// Keyword automata; pattern i belongs to rule `keyword_rule[i]`.
    keywords: Keywords,
    keyword_rule: Vec<usize>,
    /// Rules without keywords: they run on every text.
    always: Vec<usize>,
    /// The widest reach of a rule whose match holds its keyword (see `select_wide`).
    pub window_lines: u32,
    /// Per rule: `Some(lines)` when every match holds one of its keywords and spans at most
    /// `lines` newlines, so the rule need only run around its keywords (see `locate`).
    anchor: Vec<Option<u32>>,
    /// Substring finders for the contextual and whole-file rules' keywords, built on first use.
    wide: OnceLock<Vec<(memchr::memmem::Finder<'static>, usize)>>,
}

impl Catalog {
    /// The embedded catalog. Its validity is a build-time property checked by the test suite,
    /// but it is still validated here so a bad edit fails loudly rather than mis-scanning.
    pub fn builtin() -> Result<Catalog> {
        Catalog::build(builtin_specs()?, &[])
    }

    /// The built-in rules minus `disabled`, plus `custom` rules (validated eagerly).
    pub fn build(mut specs: Vec<RuleSpec>, custom: &[RuleSpec]) -> Result<Catalog> {
        for spec in custom {
            if specs.iter().any(|s| s.id == spec.id) {
                bail!(
                    "custom rule `{}` has the id of a built-in rule; pick another id",
                    spec.id
                );
            }
            specs.push(spec.clone());
        }
        let mut seen = std::collections::HashSet::new();
        let builtin = specs.len() - custom.len();
        for (i, spec) in specs.iter().enumerate() {
            validate_fields(spec)?;
            // Built-in regexes are proven by the test suite (every one compiled and run on its
            // examples); compiling 160+ of them on every commit would cost more than the scan.
            if i >= builtin {
                validate_regex(spec)?;
            }
            if !seen.insert(spec.id.as_str()) {
                bail!("rule id `{}` is defined twice", spec.id);
            }
        }
        let mut patterns = Vec::new();
        let mut keyword_rule = Vec::new();
        let mut always = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            if spec.keywords.is_empty() {
                always.push(i);
            }
            for k in &spec.keywords {
                patterns.push(k.as_bytes().to_vec());
                keyword_rule.push(i);
            }
        }
        let keywords = Keywords {
            table: KeywordTable::new(&patterns),
            small: OnceLock::new(),
            large: OnceLock::new(),
            patterns,
            scanned: AtomicU64::new(0),
        };
        let mut next_fact = 0;
        let rules: Vec<Rule> = specs
            .into_iter()
            .map(|spec| Rule::new(spec, &mut next_fact))
            .collect();
        let window_lines = rules
            .iter()
            .filter_map(|r| match r.reach {
                Reach::Lines(n) => Some(n),
                Reach::File => None,
            })
            .max()
            .unwrap_or(0);
        let anchor = rules
            .iter()
            .map(|r| match r.reach {
                Reach::Lines(n) if !r.contextual && !r.spec.keywords.is_empty() => Some(n),
                _ => None,
            })
            .collect();
        Ok(Catalog {
            rules,
            keywords,
            keyword_rule,
            always,
            window_lines,
            anchor,
            wide: OnceLock::new(),
        })
    }

    /// Whether a rule's keywords must be looked for in the whole of a changed file rather than
    /// only around its added lines: its keyword is context outside its match, or its match can
    /// span the whole file.
    pub fn is_wide(&self, idx: usize) -> bool {
        let rule = &self.rules[idx];
        rule.contextual || rule.reach == Reach::File
    }

    /// `select`, restricted to the wide rules (`is_wide`). Every other rule's match holds its
    /// keyword within `window_lines` lines of an added line it touches, so those are selected
    /// in the windows around the added lines: the pass over the whole file needs only the few
    /// wide rules' keywords, each looked for with a vectorised substring search in a
    /// lower-cased copy of the text, made a chunk at a time so a large file is not held twice.
    pub fn select_wide(&self, text: &[u8]) -> Vec<usize> {
        let finders = self.wide.get_or_init(|| {
            let mut finders = Vec::new();
            for (i, rule) in self.rules.iter().enumerate() {
                if self.is_wide(i) {
                    for k in &rule.spec.keywords {
                        finders.push((memchr::memmem::Finder::new(k.as_bytes()).into_owned(), i));
                    }
                }
            }
            finders
        });
        let mut hit = vec![false; self.rules.len()];
        for &i in &self.always {
            hit[i] = self.is_wide(i);
        }
        // Chunks overlap by the longest keyword less one byte: an occurrence across a border
        // lies whole in one of them.
        let overlap = finders
            .iter()
            .map(|(f, _)| f.needle().len())
            .max()
            .unwrap_or(1)
            - 1;
        let mut lower = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + WIDE_CHUNK).min(text.len());
            lower.clear();
            lower.extend(text[start..end].iter().map(u8::to_ascii_lowercase));
            for (finder, rule) in finders {
                if !hit[*rule] && finder.find(&lower).is_some() {
                    hit[*rule] = true;
                }
            }
            if end == text.len() {
                break;
            }
            start = end - overlap.min(end - start - 1);
        }
        hit.iter()
            .enumerate()
            .filter_map(|(i, &h)| h.then_some(i))
            .collect()
    }

    /// Indices of the rules whose keywords occur in `text` (plus keyword-less rules), ascending.
    pub fn select(&self, text: &[u8]) -> Vec<usize> {
        self.locate(text).selected().collect()
    }

    /// Whether `idx` runs only around its keywords (see `locate`).
    pub fn is_anchored(&self, idx: usize) -> bool {
        self.anchor[idx].is_some()
    }

    /// One pass of the keyword search over `text`: which rules it selects (their keywords occur,
    /// or they have none) and, for each anchored rule, where it must run. An anchored rule's
    /// match holds one of its keywords and spans at most its reach in newlines, so it lies
    /// inside the line of that keyword occurrence widened by the reach: the rule's regex runs
    /// on those windows only. On a large text with few occurrences that is a small part of it,
    /// so the regex cost follows what the keywords found, not the number of rules selected.
    /// Overlapping keyword occurrences are all seen.
    pub fn locate(&self, text: &[u8]) -> Located {
        let mut selected = vec![false; self.rules.len()];
        for &i in &self.always {
            selected[i] = true;
        }
        let mut found = vec![reach::Occurrences::default(); self.rules.len()];
        let mut hit = |k: usize, at: usize| {
            let r = self.keyword_rule[k];
            selected[r] = true;
            if let Some(lines) = self.anchor[r] {
                found[r].add(text, at, lines);
            }
        };
        match self.keywords.for_text(text) {
            Some(ac) => {
                for m in ac.find_overlapping_iter(text) {
                    hit(m.pattern().as_usize(), m.start());
                }
            }
            None => self.keywords.table.find(&self.keywords.patterns, text, hit),
        }
        let windows = found.into_iter().map(|o| o.into_windows()).collect();
        Located { selected, windows }
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.spec.id == id)
    }
}

/// What `Catalog::locate` found in one text.
#[derive(Debug)]
pub struct Located {
    selected: Vec<bool>,
    /// Per rule, empty unless it is anchored and selected: sorted, disjoint, line-aligned.
    windows: Vec<Vec<Range<usize>>>,
}

impl Located {
    /// The selected rules, ascending.
    pub fn selected(&self) -> impl Iterator<Item = usize> + '_ {
        self.selected
            .iter()
            .enumerate()
            .filter_map(|(i, &h)| h.then_some(i))
    }

    pub fn is_selected(&self, idx: usize) -> bool {
        self.selected[idx]
    }

    /// Where anchored rule `idx` must run (empty for a rule not anchored or not selected).
    pub fn windows(&self, idx: usize) -> &[Range<usize>] {
        &self.windows[idx]
    }
}

/// The keyword prefilter in three forms, each for the volume it is cheapest at. Building an
/// Aho-Corasick automaton of the catalog's keywords costs more than an everyday commit's whole
/// scan, so the first `TABLE_VOLUME` bytes of a run are searched with a table that needs no
/// building; then the automaton's NFA serves, built on first need, and after `LARGE_VOLUME` its
/// DFA, which runs markedly faster on a large first commit. All three find the same keywords.
#[derive(Debug)]
struct Keywords {
    patterns: Vec<Vec<u8>>,
    table: KeywordTable,
    /// None when the automaton cannot be built (the table then serves throughout).
    small: OnceLock<Option<AhoCorasick>>,
    /// None when the DFA cannot be built (the NFA then serves).
    large: OnceLock<Option<AhoCorasick>>,
    /// Bytes run through the prefilter so far, across threads.
    scanned: AtomicU64,
}

const TABLE_VOLUME: u64 = 64 << 10;

/// Bytes lower-cased at a time for `Catalog::select_wide`.
const WIDE_CHUNK: usize = 1 << 20;
const LARGE_VOLUME: u64 = 1 << 20;

impl Keywords {
    /// The automaton for `text`, or None for the table.
    fn for_text(&self, text: &[u8]) -> Option<&AhoCorasick> {
        let before = self.scanned.fetch_add(text.len() as u64, Ordering::Relaxed);
        let after = before + text.len() as u64;
        if after <= TABLE_VOLUME {
            return None;
        }
        let small = || {
            self.small
                .get_or_init(|| {
                    keyword_automaton(&self.patterns, AhoCorasickKind::ContiguousNFA).ok()
                })
                .as_ref()
        };
        if after <= LARGE_VOLUME {
            return small();
        }
        self.large
            .get_or_init(|| keyword_automaton(&self.patterns, AhoCorasickKind::DFA).ok())
            .as_ref()
            .or_else(small)
    }
}

/// Keywords by their first byte, with the second bytes that can follow it as a bitmap: a text
/// position is compared only with the keywords its two bytes can begin (ASCII case-insensitively,
/// as the automaton matches). Built in one pass over the keywords, nothing to compile.
#[derive(Debug)]
struct KeywordTable {
    /// Keyword indices by lower-cased first byte.
    by_first: Vec<Vec<u32>>,
    /// Per first byte, the lower-cased second bytes of its keywords (all set for a
    /// one-byte keyword, which needs none).
    second: Vec<[u64; 4]>,
}

impl KeywordTable {
    fn new(patterns: &[Vec<u8>]) -> KeywordTable {
        let mut by_first = vec![Vec::new(); 256];
        let mut second = vec![[0u64; 4]; 256];
        for (i, k) in patterns.iter().enumerate() {
            let Some(&first) = k.first() else { continue };
            let first = usize::from(first.to_ascii_lowercase());
            by_first[first].push(i as u32);
            match k.get(1) {
                Some(&b) => {
                    let b = b.to_ascii_lowercase();
                    second[first][usize::from(b / 64)] |= 1 << (b % 64);
                }
                None => second[first] = [u64::MAX; 4],
            }
        }
        KeywordTable { by_first, second }
    }

    /// Calls `found` with the index and start of every keyword occurrence in `text`.
    fn find(&self, patterns: &[Vec<u8>], text: &[u8], mut found: impl FnMut(usize, usize)) {
        for (at, &b) in text.iter().enumerate() {
            let first = usize::from(b.to_ascii_lowercase());
            let candidates = &self.by_first[first];
            if candidates.is_empty() {
                continue;
            }
            let next = text.get(at + 1).map_or(0, |b| b.to_ascii_lowercase());
            let bits = self.second[first];
            if bits[usize::from(next / 64)] & (1 << (next % 64)) == 0 {
                continue;
            }
            for &k in candidates {
                let k = k as usize;
                let kw = &patterns[k];
                if text.len() - at >= kw.len() && text[at..at + kw.len()].eq_ignore_ascii_case(kw) {
                    found(k, at);
                }
            }
        }
    }
}

fn keyword_automaton(
    patterns: &[Vec<u8>],
    kind: AhoCorasickKind,
) -> Result<AhoCorasick, aho_corasick::BuildError> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(kind))
        .build(patterns)
}

/// The built-in rule specs, parsed but not yet validated.
pub fn builtin_specs() -> Result<Vec<RuleSpec>> {
    #[derive(Deserialize)]
    struct File {
        rule: Vec<RuleSpec>,
    }
    let files: Vec<File> =
        serde_json::from_str(BUILTIN_JSON).context("parsing the built-in rule catalog")?;
    Ok(files.into_iter().flat_map(|f| f.rule).collect())
}

/// Parse a TOML text of `[[rule]]` tables.
pub fn parse_rules(text: &str) -> Result<Vec<RuleSpec>> {
    let file: RuleFile = toml::from_str(text)?;
    Ok(file.rule)
}

/// All checks of one rule short of running its examples (the detector does that).
pub fn validate(spec: &RuleSpec) -> Result<()> {
    validate_fields(spec)?;
    validate_regex(spec)
}

/// Checks that need no regex compilation.
fn validate_fields(spec: &RuleSpec) -> Result<()> {
    let id = &spec.id;
    let kebab = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--");
    if !kebab {
        bail!("rule id `{id}` is not kebab-case (lower-case letters, digits, single dashes)");
    }
    if spec.title.trim().is_empty() {
        bail!("rule `{id}` has an empty title");
    }
    if spec.remediation.trim().is_empty() {
        bail!("rule `{id}` has no remediation: the blocked person needs to know what to do");
    }
    if spec.examples.is_empty() {
        bail!("rule `{id}` has no examples: every rule must prove it matches something");
    }
    for k in &spec.keywords {
        if k.is_empty() || k.to_lowercase() != *k {
            bail!("rule `{id}`: keyword `{k}` must be a non-empty lower-case literal");
        }
    }
    if let Some(e) = spec.entropy {
        if !(0.0..=8.0).contains(&e) {
            bail!("rule `{id}`: entropy {e} is outside 0..=8 bits per byte");
        }
    }
    Ok(())
}

/// The regex compiles within the size limit, has the secret group and cannot match nothing.
fn validate_regex(spec: &RuleSpec) -> Result<()> {
    let id = &spec.id;
    let re = compile(&spec.regex, true).with_context(|| format!("rule `{id}`: invalid regex"))?;
    if spec.secret_group >= re.captures_len() {
        bail!(
            "rule `{id}`: secret_group {} does not exist (the regex has {} groups)",
            spec.secret_group,
            re.captures_len() - 1
        );
    }
    if re.is_match(b"") {
        bail!("rule `{id}`: the regex matches the empty string");
    }
    Ok(())
}

#[cfg(test)]
mod tests;

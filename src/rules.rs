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
    /// How many lines a match can span, and whether a keyword is context outside the match.
    pub reach: Reach,
    pub contextual: bool,
}

impl Rule {
    fn new(spec: RuleSpec) -> Rule {
        let built = BUILT_FACTS
            .iter()
            .find(|(id, pattern, ..)| *id == spec.id && *pattern == spec.regex);
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
            reach,
            contextual,
        }
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// False only when the rule's regex cannot match anywhere in `text`: its prescreen DFA
    /// found nothing. True when it may, or when there is no prescreen to ask (a custom rule,
    /// DFA bytes this build cannot read, a search the DFA gave up on): the regex then decides.
    pub fn may_match(&self, text: &[u8]) -> bool {
        let dfa = self.prescreen.get_or_init(|| {
            let bytes = self.prescreen_bytes?;
            // Checked deserialisation: it validates the DFA (cost proportional to its size,
            // paid once per run and rule) instead of trusting bytes with `unsafe`.
            Prescreen::from_bytes(bytes).ok().map(|(dfa, _)| dfa)
        });
        let Some(dfa) = dfa else {
            return true;
        };
        let input = regex_automata::Input::new(text).earliest(true);
        !matches!(
            regex_automata::dfa::Automaton::try_search_fwd(dfa, &input),
            Ok(None)
        )
    }

    /// Whether the rule has a usable prescreen (for tests and `leakgate rules`).
    pub fn has_prescreen(&self) -> bool {
        self.prescreen_bytes.is_some()
    }

    /// The compiled regex. Validation compiled it once already, so failure here is a bug.
    pub fn regex(&self) -> &Regex {
        self.regex.get_or_init(|| {
            compile(&self.spec.regex).expect("rule regexes are validated when the catalog loads")
        })
    }
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
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
    /// The keyword prefilter of the contextual and whole-file rules only, built on first use.
    wide: OnceLock<Option<(AhoCorasick, Vec<usize>)>>,
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
            small: keyword_automaton(&patterns, AhoCorasickKind::ContiguousNFA)
                .context("building the keyword prefilter")?,
            large: OnceLock::new(),
            patterns,
            scanned: AtomicU64::new(0),
        };
        let rules: Vec<Rule> = specs.into_iter().map(Rule::new).collect();
        let window_lines = rules
            .iter()
            .filter_map(|r| match r.reach {
                Reach::Lines(n) => Some(n),
                Reach::File => None,
            })
            .max()
            .unwrap_or(0);
        Ok(Catalog {
            rules,
            keywords,
            keyword_rule,
            always,
            window_lines,
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
    /// wide rules' keywords, an automaton small enough for a vectorised literal search.
    pub fn select_wide(&self, text: &[u8]) -> Vec<usize> {
        let wide = self.wide.get_or_init(|| {
            let (mut patterns, mut owner) = (Vec::new(), Vec::new());
            for (i, rule) in self.rules.iter().enumerate() {
                if self.is_wide(i) {
                    for k in &rule.spec.keywords {
                        patterns.push(k.as_bytes().to_vec());
                        owner.push(i);
                    }
                }
            }
            keyword_automaton(&patterns, AhoCorasickKind::ContiguousNFA)
                .ok()
                .map(|ac| (ac, owner))
        });
        let mut hit = vec![false; self.rules.len()];
        for &i in &self.always {
            hit[i] = self.is_wide(i);
        }
        match wide {
            Some((ac, owner)) => {
                for m in ac.find_overlapping_iter(text) {
                    hit[owner[m.pattern().as_usize()]] = true;
                }
            }
            // Could not build the small automaton: the whole catalog's, filtered.
            None => {
                for i in self.select(text) {
                    hit[i] = self.is_wide(i);
                }
            }
        }
        hit.iter()
            .enumerate()
            .filter_map(|(i, &h)| h.then_some(i))
            .collect()
    }

    /// Indices of the rules whose keywords occur in `text` (plus keyword-less rules), ascending.
    /// One pass over the text; overlapping keyword occurrences are all seen.
    pub fn select(&self, text: &[u8]) -> Vec<usize> {
        let mut hit = vec![false; self.rules.len()];
        for &i in &self.always {
            hit[i] = true;
        }
        let mut remaining = self.rules.len() - self.always.len();
        for m in self.keywords.for_text(text).find_overlapping_iter(text) {
            let r = self.keyword_rule[m.pattern().as_usize()];
            if !hit[r] {
                hit[r] = true;
                remaining -= 1;
                if remaining == 0 {
                    break;
                }
            }
        }
        hit.iter()
            .enumerate()
            .filter_map(|(i, &h)| h.then_some(i))
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.spec.id == id)
    }
}

/// The keyword prefilter in two forms. Building the DFA costs more than scanning an everyday
/// commit (about two thirds of the catalog's start-up), while on a large first commit it runs
/// markedly faster than the NFA; so the NFA serves the first `LARGE_VOLUME` bytes of a run and
/// the DFA, built on first need, everything after.
#[derive(Debug)]
struct Keywords {
    patterns: Vec<Vec<u8>>,
    small: AhoCorasick,
    /// None when the DFA cannot be built (the NFA then serves throughout).
    large: OnceLock<Option<AhoCorasick>>,
    /// Bytes run through the prefilter so far, across threads.
    scanned: AtomicU64,
}

const LARGE_VOLUME: u64 = 1 << 20;

impl Keywords {
    fn for_text(&self, text: &[u8]) -> &AhoCorasick {
        let before = self.scanned.fetch_add(text.len() as u64, Ordering::Relaxed);
        if before + text.len() as u64 <= LARGE_VOLUME {
            return &self.small;
        }
        self.large
            .get_or_init(|| keyword_automaton(&self.patterns, AhoCorasickKind::DFA).ok())
            .as_ref()
            .unwrap_or(&self.small)
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
    let re = compile(&spec.regex).with_context(|| format!("rule `{id}`: invalid regex"))?;
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
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_and_is_large_enough() {
        let catalog = Catalog::builtin().expect("built-in catalog is valid");
        assert!(
            catalog.rules.len() >= 80,
            "the catalog must cover at least 80 detectors, it has {}",
            catalog.rules.len()
        );
        for rule in &catalog.rules {
            // Every built-in regex must compile: at scan time they are compiled lazily and
            // unchecked (see `Catalog::build`).
            validate(&rule.spec).unwrap_or_else(|e| panic!("{e:#}"));
            let _ = rule.regex();
            if rule.spec.keywords.is_empty() {
                assert_eq!(
                    rule.spec.kind,
                    Kind::Specific,
                    "keyword-less rules are costly; `{}` needs a reason",
                    rule.id()
                );
            }
        }
    }

    /// A near-miss derived from an example: the changed text, where its changed token sits, and
    /// whether the change is one of length (as opposed to a character glued on).
    struct NearMiss {
        what: &'static str,
        text: Vec<u8>,
        token: std::ops::Range<usize>,
        /// Where the unchanged secret sits in `text` (for a glued character; else `token`).
        original: std::ops::Range<usize>,
        /// What the change is: a character glued before, after, or a length change inside.
        side: Side,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Side {
        Before,
        After,
        Inside,
    }

    fn splice(text: &[u8], at: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
        [&text[..at.start], with, &text[at.end..]].concat()
    }

    /// The near-misses of the secret at `a..b` in `text`. Length changes happen two thirds into
    /// the secret, inside the random body rather than in a fixed prefix.
    fn near_misses(text: &[u8], a: usize, b: usize) -> Vec<NearMiss> {
        let mut out = Vec::new();
        for (what, c) in [("letter glued before", b'k'), ("digit glued before", b'7')] {
            out.push(NearMiss {
                what,
                text: splice(text, a..a, &[c]),
                token: a..b + 1,
                original: a + 1..b + 1,
                side: Side::Before,
            });
        }
        for (what, c) in [("letter glued after", b'k'), ("digit glued after", b'7')] {
            out.push(NearMiss {
                what,
                text: splice(text, b..b, &[c]),
                token: a..b + 1,
                original: a..b,
                side: Side::After,
            });
        }
        let mid = a + (b - a) * 2 / 3;
        if b - a >= 3 && text[mid].is_ascii() {
            out.push(NearMiss {
                what: "one character short",
                text: splice(text, mid..mid + 1, b""),
                token: a..b - 1,
                original: a..b - 1,
                side: Side::Inside,
            });
            out.push(NearMiss {
                what: "one character long",
                text: splice(text, mid..mid, &[text[mid]]),
                token: a..b + 1,
                original: a..b + 1,
                side: Side::Inside,
            });
        }
        out
    }

    /// Whether `text[..at]` ends in an escape that legitimately abuts a token: `\n`, `\t`, `\r`
    /// (JSON-escaped text) or an ANSI colour sequence ending in `m`.
    fn ends_in_escape(text: &[u8], at: usize) -> bool {
        let before = &text[..at];
        if let [.., b'\\', b'n' | b'r' | b't'] = before {
            return true;
        }
        let Some(rest) = before.strip_suffix(b"m") else {
            return false;
        };
        let params = rest
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit() || **b == b';')
            .count();
        rest[..rest.len() - params].ends_with(b"[")
    }

    /// Checks that each example's secret is extracted whole, and that the near-misses derived
    /// from it are rejected unless the rule's declared shape accepts them (then they must be
    /// extracted whole too). Returns failure lines.
    fn near_miss_failures(spec: &RuleSpec, re: &Regex) -> (Vec<String>, usize) {
        let (id, group, shape) = (&spec.id, spec.secret_group, spec.shape());
        let mut failures = Vec::new();
        let mut derived = 0;
        // A declared shape must be needed: some near-miss it accepts must actually match.
        let mut accepted_hits = 0;
        let secret_spans = |text: &[u8]| -> Vec<std::ops::Range<usize>> {
            re.captures_iter(text)
                .filter_map(|c| c.get(group))
                .map(|m| m.range())
                .collect()
        };
        for ex in &spec.examples {
            let text = ex.as_bytes();
            for span in secret_spans(text) {
                let (a, b) = (span.start, span.end);
                let secret = &text[a..b];
                let shown = String::from_utf8_lossy(secret);
                // Base64 padding may end a secret; nothing of its context may start or end it.
                let edge = |c: u8| c.is_ascii_whitespace() || b"\"'`,;".contains(&c);
                if secret.is_empty()
                    || edge(secret[0])
                    || secret[0] == b'='
                    || edge(secret[secret.len() - 1])
                {
                    failures.push(format!(
                        "{id}: secret {shown:?} in {ex:?} has a delimiter at an end"
                    ));
                    continue;
                }
                if matches!(shape, Shape::Fixed | Shape::Variable) {
                    // A secret next to a letter or digit was cut out of a longer token, unless
                    // an escape ends there (`\\n`, an ANSI colour) or the rule's own left
                    // boundary does (Telegram's `/bot<token>`), which the secret standing alone
                    // between spaces tells: it is then still extracted whole.
                    let cut_after = text.get(b).is_some_and(|c| c.is_ascii_alphanumeric());
                    let alone = [b" ", secret, b" "].concat();
                    let stands_alone = secret_spans(&alone)
                        == vec![std::ops::Range {
                            start: 1,
                            end: 1 + secret.len(),
                        }];
                    let cut_before = a > 0
                        && text[a - 1].is_ascii_alphanumeric()
                        && !ends_in_escape(text, a)
                        && !stands_alone;
                    if cut_after || cut_before {
                        failures.push(format!(
                            "{id}: secret {shown:?} in {ex:?} is cut out of a longer token"
                        ));
                        continue;
                    }
                }
                for miss in near_misses(text, a, b) {
                    derived += 1;
                    let token = miss.token.clone();
                    let hits: Vec<_> = secret_spans(&miss.text)
                        .into_iter()
                        .filter(|r| r.start < token.end && token.start < r.end)
                        .collect();
                    let accepted = match shape {
                        Shape::Fixed => false,
                        Shape::Variable => miss.side != Side::Before,
                        Shape::Delimited | Shape::Framed => true,
                    };
                    let whole = |r: &std::ops::Range<usize>| {
                        *r == token || (shape == Shape::Framed && *r == miss.original)
                    };
                    let shown = String::from_utf8_lossy(&miss.text);
                    if !accepted && !hits.is_empty() {
                        failures.push(format!(
                            "{id}: {} still matches ({shape:?} shape): {shown:?}",
                            miss.what
                        ));
                    } else if accepted && !hits.is_empty() {
                        accepted_hits += 1;
                    }
                    if let Some(r) = hits.iter().find(|r| !whole(r)) {
                        failures.push(format!(
                            "{id}: {} extracted {:?} instead of the whole {:?}",
                            miss.what,
                            String::from_utf8_lossy(&miss.text[r.clone()]),
                            String::from_utf8_lossy(&miss.text[token]),
                        ));
                    }
                }
            }
        }
        if spec.shape.is_some() && derived > 0 && accepted_hits == 0 {
            failures.push(format!(
                "{id}: declares shape {shape:?} but rejects every near-miss; drop the declaration"
            ));
        }
        (failures, derived)
    }

    /// Issue 18: examples alone pin a regex only where they sit; the near-misses derived from
    /// them pin its boundaries, its length and its secret group.
    #[test]
    fn every_rule_rejects_the_near_misses_of_its_examples() {
        let catalog = Catalog::builtin().unwrap();
        let mut failures = Vec::new();
        for rule in &catalog.rules {
            let (mut f, derived) = near_miss_failures(&rule.spec, rule.regex());
            if derived == 0 {
                f.push(format!(
                    "{}: no example matches its regex as written, so no near-miss is derived",
                    rule.id()
                ));
            }
            failures.extend(f);
        }
        assert!(
            failures.is_empty(),
            "{} near-miss failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// Issue 15: the build-time prescreens and the run-time regexes agree. Every built-in rule
    /// has a prescreen, and wherever its regex finds a secret (each example, each negative
    /// example, each near-miss derived from an example, and each of those inside a larger text)
    /// the prescreen says it may match, so skipping a regex the prescreen rules out never loses
    /// a finding. Also, the prescreen must rule something out: one that says "may match" on
    /// plain prose is no prescreen.
    #[test]
    fn prescreens_match_wherever_their_regex_does() {
        let catalog = Catalog::builtin().unwrap();
        let prose = b"The quick brown fox jumps over the lazy dog.\n".repeat(3);
        let mut failures = Vec::new();
        let mut checked = 0;
        for rule in &catalog.rules {
            let (id, re, group) = (rule.id(), rule.regex(), rule.spec.secret_group);
            if !rule.has_prescreen() {
                failures.push(format!("{id}: no prescreen was built"));
                continue;
            }
            if rule.may_match(&prose) {
                failures.push(format!("{id}: its prescreen lets plain prose through"));
            }
            let mut texts: Vec<Vec<u8>> = Vec::new();
            for ex in rule
                .spec
                .examples
                .iter()
                .chain(&rule.spec.negative_examples)
            {
                let text = ex.as_bytes().to_vec();
                for c in re.captures_iter(&text) {
                    if let Some(m) = c.get(group) {
                        texts.extend(
                            near_misses(&text, m.start(), m.end())
                                .into_iter()
                                .map(|n| n.text),
                        );
                    }
                }
                texts.push([&prose[..], &text, b"\n", &prose[..]].concat());
                texts.push(text);
            }
            for text in texts {
                let found = re.captures_iter(&text).any(|c| c.get(group).is_some());
                checked += usize::from(found);
                if found && !rule.may_match(&text) {
                    failures.push(format!(
                        "{id}: regex finds a secret its prescreen misses in {:?}",
                        String::from_utf8_lossy(&text)
                    ));
                }
            }
        }
        assert!(
            checked > 1000,
            "only {checked} texts with a match were checked"
        );
        assert!(
            failures.is_empty(),
            "{} prescreen failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// build.rs works out each built-in rule's reach and contextuality as `traits_of` does at
    /// run time for custom rules: the two must agree, or a rule would run on too narrow a
    /// window (or not at all) in a changed file.
    #[test]
    fn built_facts_agree_with_the_run_time_analysis() {
        let catalog = Catalog::builtin().unwrap();
        for rule in &catalog.rules {
            assert_eq!(
                (rule.reach, rule.contextual),
                traits_of(&rule.spec),
                "{}",
                rule.id()
            );
        }
        assert!(catalog.rules.iter().any(|r| r.contextual));
        assert!(catalog.rules.iter().any(|r| r.reach == Reach::File));
        let widest = catalog.rules.iter().filter_map(|r| match r.reach {
            Reach::Lines(n) => Some(n),
            Reach::File => None,
        });
        assert_eq!(Some(catalog.window_lines), widest.max());
    }

    /// The whole-file pass selects exactly the wide rules whose keywords occur.
    #[test]
    fn select_wide_is_select_restricted_to_wide_rules() {
        let catalog = Catalog::builtin().unwrap();
        let wide = (0..catalog.rules.len())
            .filter(|&i| catalog.is_wide(i))
            .count();
        assert!(
            wide > 0 && wide < catalog.rules.len() / 2,
            "{wide} wide rules"
        );
        let mut text = Vec::new();
        for rule in &catalog.rules {
            text.extend_from_slice(rule.spec.keywords.join(" ").as_bytes());
            text.push(b'\n');
            let want: Vec<usize> = catalog
                .select(&text)
                .into_iter()
                .filter(|&i| catalog.is_wide(i))
                .collect();
            assert_eq!(catalog.select_wide(&text), want, "after {}", rule.id());
        }
    }

    /// A custom rule, or a built-in id whose pattern was changed, has no prescreen: a prescreen
    /// serves only the exact pattern it was built from.
    #[test]
    fn a_prescreen_serves_only_its_own_pattern() {
        let mut specs = builtin_specs().unwrap();
        let first = specs[0].id.clone();
        specs[0].regex = format!("{}|(zz_[0-9]{{8}})", specs[0].regex);
        let catalog = Catalog::build(specs, &[]).unwrap();
        let rule = catalog.get(&first).unwrap();
        assert!(!rule.has_prescreen());
        assert!(rule.may_match(b"nothing here"));
    }

    /// One issuer family of the coverage table (src/rules/coverage.toml).
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Family {
        name: String,
        #[serde(default)]
        rules: Vec<String>,
        uncovered: Option<String>,
        why: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Coverage {
        family: Vec<Family>,
    }

    const COVERAGE_TOML: &str = include_str!("rules/coverage.toml");
    const COVERAGE_MD: &str = "docs/coverage.md";

    /// docs/coverage.md as the coverage table and the catalog make it.
    fn render_coverage(families: &[Family], catalog: &Catalog) -> String {
        let covered = families.iter().filter(|f| !f.rules.is_empty()).count();
        let mut md = format!(
            "# Catalog coverage\n\n\
             Generated from `src/rules/coverage.toml` and the catalog by\n\
             `LEAKGATE_BLESS=1 cargo test --lib rules::tests::coverage_table_names_every_rule`;\n\
             the test fails when this file, the table or the catalog drift apart.\n\n\
             The built-in catalog has **{} rules**. Of the {} issuer families listed (the families of\n\
             gitleaks' public rule list and those issue 14 names; TruffleHog's 800+ detectors are not\n\
             enumerated), {} are covered by a dedicated rule; the others say why not.\n\n\
             | Issuer family | leakgate rules |\n|---|---|\n",
            catalog.rules.len(),
            families.len(),
            covered
        );
        for f in families.iter().filter(|f| !f.rules.is_empty()) {
            let ids: Vec<String> = f.rules.iter().map(|r| format!("`{r}`")).collect();
            md += &format!("| {} | {} |\n", f.name, ids.join(", "));
        }
        md += "\n## Not covered by a dedicated rule\n\n\
               `no-format`: no distinguishable format (the generic rules still catch assignments);\n\
               `identifier`: not a secret; `retired`: the service is gone; `missing`: a rule is still\n\
               to be written.\n\n| Issuer family | Reason | Why |\n|---|---|---|\n";
        for f in families.iter().filter(|f| f.rules.is_empty()) {
            md += &format!(
                "| {} | {} | {} |\n",
                f.name,
                f.uncovered.as_deref().unwrap_or(""),
                f.why.as_deref().unwrap_or("")
            );
        }
        md
    }

    /// Issue 14: the coverage table names only rules that exist, names every rule, gives a
    /// reason for every family without one, and docs/coverage.md is its current rendering.
    #[test]
    fn coverage_table_names_every_rule() {
        let catalog = Catalog::builtin().unwrap();
        let coverage: Coverage = toml::from_str(COVERAGE_TOML).expect("coverage.toml parses");
        let mut problems = Vec::new();
        let mut named = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for f in &coverage.family {
            if !names.insert(f.name.to_lowercase()) {
                problems.push(format!("family {:?} is listed twice", f.name));
            }
            match (&f.rules[..], f.uncovered.as_deref(), &f.why) {
                ([], Some("no-format" | "identifier" | "retired" | "missing"), Some(_)) => {}
                ([_, ..], None, None) => {}
                _ => problems.push(format!(
                    "family {:?} needs either rules or an `uncovered` reason \
                     (no-format, identifier, retired, missing) with a `why`",
                    f.name
                )),
            }
            for id in &f.rules {
                if catalog.get(id).is_none() {
                    problems.push(format!("family {:?} names unknown rule `{id}`", f.name));
                }
                named.insert(id.as_str());
            }
        }
        for rule in &catalog.rules {
            if !named.contains(rule.id()) {
                problems.push(format!("rule `{}` belongs to no family", rule.id()));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));

        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COVERAGE_MD);
        let rendered = render_coverage(&coverage.family, &catalog);
        if std::env::var_os("LEAKGATE_BLESS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"),
        )
        .unwrap();
        let size = format!("**{} detector rules**", catalog.rules.len());
        assert!(
            readme.contains(&size),
            "README.md must state the catalog size as {size}"
        );
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == rendered,
            "{COVERAGE_MD} is stale: run `LEAKGATE_BLESS=1 cargo test --lib \
             rules::tests::coverage_table_names_every_rule` and commit it"
        );
    }

    #[test]
    fn required_families_are_present() {
        let catalog = Catalog::builtin().unwrap();
        for id in [
            "huggingface-token",
            "huggingface-org-token",
            "aws-access-key-id",
            "github-classic-pat",
        ] {
            assert!(catalog.get(id).is_some(), "missing rule {id}");
        }
    }

    #[test]
    fn validation_rejects_bad_rules() {
        let base = RuleSpec {
            id: "ok-rule".into(),
            title: "t".into(),
            regex: "(tok_[a-z]{8})".into(),
            secret_group: 1,
            keywords: vec!["tok_".into()],
            entropy: None,
            checksum: None,
            kind: Kind::Specific,
            shape: None,
            remediation: "revoke".into(),
            references: vec![],
            examples: vec!["tok_abcdefgh".into()],
            negative_examples: vec![],
        };
        validate(&base).unwrap();
        type Mutation = Box<dyn Fn(&mut RuleSpec)>;
        let cases: Vec<(&str, Mutation, &str)> = vec![
            ("upper id", Box::new(|s| s.id = "Bad".into()), "kebab-case"),
            ("group", Box::new(|s| s.secret_group = 2), "secret_group 2"),
            ("regex", Box::new(|s| s.regex = "(".into()), "invalid regex"),
            (
                "keyword",
                Box::new(|s| s.keywords = vec!["Tok".into()]),
                "lower-case",
            ),
            ("examples", Box::new(|s| s.examples.clear()), "no examples"),
            (
                "empty match",
                Box::new(|s| s.regex = "(a*)".into()),
                "empty string",
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut spec = base.clone();
            mutate(&mut spec);
            let err = format!("{:#}", validate(&spec).unwrap_err());
            assert!(err.contains(expected), "{name}: `{err}` lacks `{expected}`");
        }
    }

    #[test]
    fn prefilter_selects_by_keyword_case_insensitively() {
        let catalog = Catalog::builtin().unwrap();
        let hf = catalog
            .rules
            .iter()
            .position(|r| r.id() == "huggingface-token")
            .unwrap();
        assert!(catalog.select(b"token = HF_abc").contains(&hf));
        assert!(!catalog.select(b"nothing to see").contains(&hf));
    }
}

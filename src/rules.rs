//! The rule catalog: detectors stored as data (`src/rules/*.toml`, embedded at build time).
//!
//! Invariants:
//! - every rule has a unique kebab-case id, a regex with its secret group, lower-case keywords
//!   (empty only for rules that must always run), a remediation and at least one example;
//! - regexes are compiled lazily, on the first text whose keywords select the rule, so a small commit
//!   does not pay for compiling the whole catalog (the test suite compiles and checks all of them);
//! - custom rules from a config file go through the same validation, eagerly, because a broken
//!   custom rule must block at load time rather than pass silently later.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use anyhow::{bail, Context, Result};
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

/// The built-in catalog: src/rules/*.toml, converted to JSON by build.rs (file order is catalog
/// order; earlier rules win overlap ties).
const BUILTIN_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

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
}

impl Checksum {
    pub fn name(self) -> &'static str {
        match self {
            Checksum::GithubCrc32 => "github-crc32",
            Checksum::NpmCrc32 => "npm-crc32",
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
    pub remediation: String,
    #[serde(default)]
    pub references: Vec<String>,
    pub examples: Vec<String>,
    #[serde(default)]
    pub negative_examples: Vec<String>,
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
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.spec.id
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

/// All rules plus the keyword prefilter that selects which of them run on a text.
#[derive(Debug)]
pub struct Catalog {
    pub rules: Vec<Rule>,
    /// Keyword automata; pattern i belongs to rule `keyword_rule[i]`.
    keywords: Keywords,
    keyword_rule: Vec<usize>,
    /// Rules without keywords: they run on every text.
    always: Vec<usize>,
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
        let rules = specs
            .into_iter()
            .map(|spec| Rule {
                spec,
                regex: OnceLock::new(),
            })
            .collect();
        Ok(Catalog {
            rules,
            keywords,
            keyword_rule,
            always,
        })
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

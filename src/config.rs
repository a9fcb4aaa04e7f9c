//! The repository config file, `.leakgate.toml`, and the baseline file.
//!
//! Invariants:
//! - unknown keys are errors naming the key and line (a typo must not silently turn a setting
//!   off), and an invalid config blocks the commit (fail closed);
//! - custom rules pass the same validation as built-in ones, and their own examples must match
//!   at load time;
//! - the baseline holds fingerprints only (rule id + salted Argon2id) and its salt, sorted,
//!   without timestamps, so it never conflicts needlessly and never contains a secret.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use globset::{Glob, GlobSetBuilder};
use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

use crate::detect::{Detector, Policy, RuleOverride, Suppressed};
use crate::rules::{Catalog, RuleSpec};
use crate::source::Settings;

pub const CONFIG_FILE: &str = ".leakgate.toml";
pub const BASELINE_FILE: &str = ".leakgate-baseline.json";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub allow: Allow,
    /// Built-in rule ids to turn off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Per-rule tuning: `[overrides.jwt] entropy = 4.5`.
    #[serde(default)]
    pub overrides: BTreeMap<String, Override>,
    /// Custom rules, same schema as the built-in catalog.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub models: Models,
    /// Baseline file, relative to the repository root.
    #[serde(default)]
    pub baseline: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// Path globs (gitignore-like `**` supported), matched against repository-relative paths.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Regexes matched against the secret value.
    #[serde(default)]
    pub regexes: Vec<String>,
    /// Words: a secret containing one (case-insensitive) is not reported.
    #[serde(default)]
    pub stopwords: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub entropy: Option<f64>,
    #[serde(default)]
    pub allow: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_blob_size: Option<u64>,
    pub decode_depth: Option<usize>,
    pub max_findings: Option<usize>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct Models {
    pub block_unknown_imports: Option<bool>,
    pub lfs_warn_size: Option<u64>,
}

/// Catalog positions of a rule id: a leakgate id, or a gitleaks id standing for the leakgate
/// rules that find the same credential (those still in the catalog).
fn rule_positions(catalog: &Catalog, id: &str) -> Vec<usize> {
    let ids: &[&str] = match catalog.rules.iter().any(|r| r.id() == id) {
        true => &[id],
        false => crate::gitleaks::leakgate_ids(id).unwrap_or(&[]),
    };
    (0..catalog.rules.len())
        .filter(|&i| ids.contains(&catalog.rules[i].id()))
        .collect()
}

/// `; did you mean `x`?` for a near miss among leakgate's and gitleaks' rule ids, else nothing.
pub fn suggestion(id: &str, specs: &[RuleSpec]) -> String {
    let mut ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    for g in crate::gitleaks::known_gitleaks_ids() {
        ids.push(g);
    }
    crate::gitleaks::did_you_mean(id, ids.into_iter())
        .map(|m| format!("; did you mean `{m}`?"))
        .unwrap_or_default()
}

impl Config {
    /// Where the baseline lives: `baseline = PATH` from the config, relative to the repository
    /// root, or the default file there.
    pub fn baseline_path(&self, root: &Path) -> PathBuf {
        root.join(self.baseline.as_deref().unwrap_or(Path::new(BASELINE_FILE)))
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        toml::from_str(text).map_err(|e| {
            // toml's Display draws a multi-line excerpt of the file; the error a blocked person
            // reads is one line (main escapes newlines), so give the position and the message.
            let at = e.span().map_or_else(String::new, |span| {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!(" (line {line}, column {column})")
            });
            anyhow::anyhow!(
                "invalid config {}{at}: {}",
                origin.display(),
                e.message().trim_end()
            )
        })
    }

    /// `explicit` (from `--config`) must exist; otherwise `.leakgate.toml` in `root` if present.
    pub fn load(explicit: Option<&Path>, root: Option<&Path>) -> Result<(Config, Option<PathBuf>)> {
        let path = match (explicit, root) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(root)) => {
                let p = root.join(CONFIG_FILE);
                if !p.exists() {
                    return Ok((Config::default(), None));
                }
                p
            }
            (None, None) => return Ok((Config::default(), None)),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Ok((Config::parse(&text, &path)?, Some(path)))
    }

    /// The catalog this config asks for: built-ins minus `disable`, plus custom rules.
    pub fn catalog(&self) -> Result<Catalog> {
        let mut specs = crate::rules::builtin_specs()?;
        // gitleaks rule ids are accepted too (a config carried over from gitleaks): each stands
        // for the leakgate rules that find the same credential.
        let mut disabled: Vec<&str> = Vec::new();
        for id in &self.disable {
            if specs.iter().any(|s| &s.id == id) {
                disabled.push(id);
            } else if let Some(ids) = crate::gitleaks::leakgate_ids(id) {
                disabled.extend(ids.iter().copied());
            } else {
                bail!(
                    "config: `disable` names unknown rule `{id}`{} (see `leakgate rules`)",
                    suggestion(id, &specs)
                );
            }
        }
        specs.retain(|s| !disabled.contains(&s.id.as_str()));
        let catalog = Catalog::build(specs, &self.rules).context("config: invalid custom rule")?;
        for id in self.overrides.keys() {
            if rule_positions(&catalog, id).is_empty() {
                bail!(
                    "config: [overrides.{id}] names an unknown or disabled rule{}",
                    suggestion(id, &crate::rules::builtin_specs()?)
                );
            }
        }
        Ok(catalog)
    }

    /// The detector policy; `decode_depth` is the effective depth (flag, else config, else default).
    pub fn policy(&self, catalog: &Catalog, decode_depth: usize) -> Result<Policy> {
        let allow_secrets = compile_all(&self.allow.regexes, "allow.regexes")?;
        let mut overrides = vec![RuleOverride::default(); catalog.rules.len()];
        for (id, o) in &self.overrides {
            let at = rule_positions(catalog, id);
            if at.is_empty() {
                bail!("config: [overrides.{id}] names an unknown or disabled rule");
            }
            let allow_secrets = compile_all(&o.allow, &format!("overrides.{id}.allow"))?;
            for i in at {
                overrides[i] = RuleOverride {
                    entropy: o.entropy,
                    allow_secrets: allow_secrets.clone(),
                };
            }
        }
        Ok(Policy {
            allow_secrets,
            stopwords: self
                .allow
                .stopwords
                .iter()
                .map(|w| w.to_lowercase())
                .collect(),
            overrides,
            decode_depth,
        })
    }

    pub fn settings(&self, base: Settings) -> Result<Settings> {
        let allow_paths = if self.allow.paths.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for p in &self.allow.paths {
                let glob = Glob::new(p).with_context(|| format!("config: allow.paths `{p}`"))?;
                b.add(glob);
            }
            Some(b.build().context("config: allow.paths")?)
        };
        Ok(Settings {
            max_blob_size: self.limits.max_blob_size.unwrap_or(base.max_blob_size),
            lfs_warn_size: self.models.lfs_warn_size.unwrap_or(base.lfs_warn_size),
            block_unknown_imports: self
                .models
                .block_unknown_imports
                .unwrap_or(base.block_unknown_imports),
            allow_paths,
        })
    }

    /// Custom rules must prove themselves like built-in ones: each positive example yields a
    /// finding of that rule, each negative example none.
    pub fn check_custom_examples(&self, detector: &Detector<'_>) -> Result<()> {
        for spec in &self.rules {
            let idx = detector
                .catalog
                .rules
                .iter()
                .position(|r| r.id() == spec.id)
                .context("custom rule missing from the catalog")?;
            let rule = &detector.catalog.rules[idx];
            for ex in &spec.examples {
                let found = detector.scan(ex.as_bytes(), &mut Suppressed::default());
                // A built-in rule that reports the same secret (it wins the overlap) still
                // proves the example is caught: a catalog that learns a team's token format
                // must not turn their config into an error on every commit.
                let secrets: Vec<_> = rule
                    .regex()
                    .captures_iter(ex.as_bytes())
                    .filter_map(|c| c.get(rule.spec.secret_group))
                    .collect();
                let covers = |m: &crate::detect::Match| {
                    secrets
                        .iter()
                        .any(|s| m.start <= s.start() && s.end() <= m.end)
                };
                if !found.iter().any(|m| m.rule == idx || covers(m)) {
                    // Say which step dropped it: a regex that matches an example the value
                    // checks then reject (a sequence, a placeholder, too little randomness)
                    // needs a random-looking example, not a different regex.
                    let why = if secrets.is_empty() {
                        "does not match the rule's regex"
                    } else {
                        "matches the regex but is judged a stand-in (placeholder, sequence, \
                         too little randomness or an allow-list); use a random-looking example"
                    };
                    bail!(
                        "config: custom rule `{}`: its example {:?} {why}",
                        spec.id,
                        crate::report::redact(ex.as_bytes())
                    );
                }
            }
            for ex in &spec.negative_examples {
                let found = detector.scan(ex.as_bytes(), &mut Suppressed::default());
                if found.iter().any(|m| m.rule == idx) {
                    bail!(
                        "config: custom rule `{}`: its negative example {:?} matches",
                        spec.id,
                        crate::report::redact(ex.as_bytes())
                    );
                }
            }
        }
        Ok(())
    }
}

fn compile_all(patterns: &[String], key: &str) -> Result<Vec<Regex>> {
    patterns
        .iter()
        .map(|p| Regex::new(p).with_context(|| format!("config: {key}: invalid regex `{p}`")))
        .collect()
}

/// `.leakgate-baseline.json`: known findings by fingerprint, and the repository's fingerprint salt.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    /// Random hex, made once by `baseline create` and kept from then on: every fingerprint this
    /// repository's reports and baseline carry is salted with it, so fingerprints stay stable
    /// while no table built for another repository applies here.
    pub salt: String,
    pub findings: BTreeSet<BaselineEntry>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Clone)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    pub rule: String,
    pub fingerprint: String,
    /// Why a person accepted it (`leakgate allow --reason`); who and when is left to git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The baseline format this version writes and reads.
pub const BASELINE_VERSION: u32 = 2;

impl Baseline {
    pub fn load(path: &Path) -> Result<Option<Baseline>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read baseline {}", path.display()))
            }
        };
        let raw: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("invalid baseline {}", path.display()))?;
        // Version 1 held unsalted SHA-256 fingerprints, which give a weak secret back at once;
        // they cannot be converted without the secrets, so the file is written anew.
        if raw.get("version") == Some(&serde_json::Value::from(1)) {
            bail!(
                "baseline {} is version 1 (unsalted fingerprints that give weak secrets back); rewrite it with `leakgate baseline create` and commit the new file",
                path.display()
            );
        }
        let b: Baseline = serde_json::from_value(raw)
            .with_context(|| format!("invalid baseline {}", path.display()))?;
        if b.version != BASELINE_VERSION {
            bail!(
                "baseline {} has unsupported version {}",
                path.display(),
                b.version
            );
        }
        if b.salt.len() < 32 || !b.salt.bytes().all(|c| c.is_ascii_hexdigit()) {
            bail!(
                "baseline {}: `salt` must be at least 32 hex digits; rewrite it with `leakgate baseline create`",
                path.display()
            );
        }
        Ok(Some(b))
    }

    /// A new random salt: 16 bytes from the system's generator, as hex.
    pub fn fresh_salt() -> Result<String> {
        use std::io::Read as _;
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("cannot read /dev/urandom for the baseline's salt")?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn fingerprints(&self) -> HashSet<&str> {
        self.findings
            .iter()
            .map(|e| e.fingerprint.as_str())
            .collect()
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising the baseline")? + "\n";
        std::fs::write(path, text)
            .with_context(|| format!("cannot write baseline {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Catalog> {
        let c = Config::parse(text, Path::new(".leakgate.toml"))?;
        let cat = c.catalog()?;
        c.policy(&cat, 2)?;
        c.settings(Settings::default())?;
        Ok(cat)
    }

    #[test]
    fn config_errors_name_the_problem() {
        let cases: &[(&str, &str, &str)] = &[
            ("unknown key", "colour = 1\n", "unknown field `colour`"),
            ("unknown nested key", "[allow]\npath = []\n", "unknown field `path`"),
            ("line number", "\n\n[allow]\npaths = 3\n", "line 4"),
            ("bad regex", "[allow]\nregexes = ['(']\n", "allow.regexes"),
            ("bad glob", "[allow]\npaths = ['a[']\n", "allow.paths"),
            ("unknown disable", "disable = ['nope']\n", "unknown rule `nope`"),
            ("unknown override", "[overrides.nope]\nentropy = 1.0\n", "overrides.nope"),
            (
                "custom rule bad regex",
                "[[rules]]\nid='x'\ntitle='t'\nregex='('\nkeywords=[]\nremediation='r'\nexamples=['a']\n",
                "invalid regex",
            ),
        ];
        for (name, text, want) in cases {
            let err = format!("{:#}", load(text).unwrap_err());
            assert!(err.contains(want), "{name}: `{err}` lacks `{want}`");
        }
    }

    #[test]
    fn valid_config_with_every_key_loads() {
        let text = r#"
disable = ["jwt"]
baseline = "security/baseline.json"
[allow]
paths = ["tests/fixtures/**", "*.lock"]
regexes = ["^AKIA[0-9A-Z]{12}TEST$"]
stopwords = ["notreal"]
[overrides.huggingface-token]
entropy = 3.5
allow = ["^hf_Fixture"]
[limits]
max_blob_size = 1000000
decode_depth = 1
max_findings = 10
[models]
block_unknown_imports = true
lfs_warn_size = 5000000
[[rules]]
id = "acme-internal-token"
title = "ACME internal token"
regex = '''(acme_[0-9a-f]{32})'''
secret_group = 1
keywords = ["acme_"]
remediation = "Revoke it at https://acme.invalid/tokens."
examples = ["ACME=acme_3f9a0c7d2b8e4f61a5c9d0e7b3a2f8c4"]
negative_examples = ["acme_notatoken"]
"#;
        let c = Config::parse(text, Path::new("x")).unwrap();
        let cat = c.catalog().unwrap();
        assert!(cat.get("jwt").is_none());
        assert!(cat.get("acme-internal-token").is_some());
        assert_eq!(c.limits.decode_depth, Some(1));
        let policy = c.policy(&cat, 1).unwrap();
        let det = Detector::new(&cat, policy);
        c.check_custom_examples(&det).unwrap();
        let s = c.settings(Settings::default()).unwrap();
        assert!(s.allow_paths.unwrap().is_match("tests/fixtures/a/b.txt"));
        assert!(s.block_unknown_imports);
    }

    /// The README documents every key in one example; it must stay a valid config.
    #[test]
    fn readme_config_example_is_valid() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("## Configuration")
            .nth(1)
            .expect("README has a Configuration section");
        let block = section
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("the Configuration section has a toml block");
        let c = Config::parse(block, Path::new("README.md")).unwrap();
        let cat = c.catalog().unwrap();
        let det = Detector::new(&cat, c.policy(&cat, 2).unwrap());
        c.check_custom_examples(&det).unwrap();
        c.settings(Settings::default()).unwrap();
    }

    /// A config of one custom rule (keyword `hf_` or `acme_`, as its regex says) with one
    /// example, and what checking its examples says.
    fn one_custom_rule(regex: &str, example: &str) -> (Config, Result<()>) {
        let keyword = if regex.contains("hf_") {
            "hf_"
        } else {
            "acme_"
        };
        let text = format!(
            "[[rules]]\nid = 'team-token'\ntitle = 'Ours'\nregex = \"\"\"{regex}\"\"\"\n\
             secret_group = 1\nkeywords = ['{keyword}']\nremediation = 'Revoke.'\n\
             examples = ['{example}']\n"
        );
        let c = Config::parse(&text, Path::new("x")).unwrap();
        let cat = c.catalog().unwrap();
        let checked = c.check_custom_examples(&Detector::new(&cat, c.policy(&cat, 2).unwrap()));
        (c, checked)
    }

    /// Upgrading must not break a config: a custom rule for a format the built-in catalog has
    /// since learnt (its example is now reported by the built-in rule) still loads.
    #[test]
    fn custom_rule_whose_example_a_builtin_rule_reports_is_accepted() {
        let ex = "HF=hf_Qm7xT2vLp9RkZ4sNw8YcJd3BfGh6UaE5oX";
        let (c, checked) = one_custom_rule("(hf_[A-Za-z0-9]{34})", ex);
        let cat = c.catalog().unwrap();
        let det = Detector::new(&cat, c.policy(&cat, 2).unwrap());
        let found = det.scan(ex.as_bytes(), &mut Default::default());
        let builtin = cat.rules.iter().position(|r| r.id() == "huggingface-token");
        assert!(found.iter().any(|m| Some(m.rule) == builtin), "{found:?}");
        checked.unwrap();
    }

    /// An example the regex matches but the value checks drop is named as such, with the fix:
    /// "does not match" would send the user to the regex.
    #[test]
    fn custom_rule_whose_example_is_a_stand_in_says_so() {
        let (_, checked) = one_custom_rule("(acme_[0-9a-f]{8})", "acme_01234567");
        let err = format!("{:#}", checked.unwrap_err());
        assert!(err.contains("judged a stand-in"), "{err}");
        assert!(!err.contains("does not match"), "{err}");
    }

    #[test]
    fn custom_rule_whose_example_fails_is_rejected() {
        let (_, checked) = one_custom_rule("(acme_[0-9a-f]{32})", "acme_tooshort");
        let err = format!("{:#}", checked.unwrap_err());
        assert!(err.contains("does not match"), "{err}");
    }
}

//! A path off gitleaks: its rule ids, its `.gitleaksignore` and the allowlists of its
//! `.gitleaks.toml`, honoured by leakgate so a team can switch without rewriting them.
//!
//! Invariants:
//! - everything here can only suppress a finding that the gitleaks entry would also have
//!   suppressed, never more: an entry leakgate cannot map soundly is ignored (the finding
//!   still blocks) and the README lists what is honoured;
//! - files that exist but cannot be read or parsed are errors naming the file (fail closed);
//! - gitleaks rule ids are names (facts); the mapping only points at leakgate's own rules, a
//!   test checks every target exists in the catalog.

use std::path::Path;

use anyhow::{bail, Context, Result};
use regex::bytes::Regex;

use crate::report::Finding;

pub const IGNORE_FILE: &str = ".gitleaksignore";
pub const CONFIG_FILE: &str = ".gitleaks.toml";

/// gitleaks rule id → the leakgate rules that find the same credential. Ids equal in both
/// catalogs need no entry. One gitleaks rule may cover several leakgate rules (gitleaks'
/// `stripe-access-token` finds live, test and restricted keys, leakgate tells them apart).
const RULE_IDS: &[(&str, &[&str])] = &[
    ("huggingface-access-token", &["huggingface-token"]),
    (
        "huggingface-organization-api-token",
        &["huggingface-org-token"],
    ),
    ("anthropic-admin-api-key", &["anthropic-admin-key"]),
    ("gcp-api-key", &["google-api-key"]),
    ("aws-access-token", &["aws-access-key-id"]),
    ("github-pat", &["github-classic-pat"]),
    ("github-oauth", &["github-oauth-token"]),
    (
        "github-app-token",
        &[
            "github-user-to-server-token",
            "github-server-to-server-token",
        ],
    ),
    ("gitlab-ptt", &["gitlab-pipeline-trigger-token"]),
    ("gitlab-rrt", &["gitlab-runner-registration-token"]),
    (
        "gitlab-runner-authentication-token",
        &["gitlab-runner-auth-token"],
    ),
    ("gitlab-kubernetes-agent-token", &["gitlab-agent-token"]),
    ("slack-legacy-workspace-token", &["slack-workspace-token"]),
    ("slack-config-access-token", &["slack-config-token"]),
    (
        "stripe-access-token",
        &[
            "stripe-live-secret-key",
            "stripe-test-secret-key",
            "stripe-restricted-key",
        ],
    ),
    ("sendgrid-api-token", &["sendgrid-api-key"]),
    ("databricks-api-token", &["databricks-token"]),
    ("digitalocean-access-token", &["digitalocean-oauth-token"]),
    ("doppler-api-token", &["doppler-token"]),
    ("heroku-api-key", &["heroku-api-key-legacy"]),
    ("heroku-api-key-v2", &["heroku-api-key"]),
    ("cloudflare-api-key", &["cloudflare-api-token"]),
    ("hashicorp-tf-api-token", &["terraform-cloud-token"]),
    ("pulumi-api-token", &["pulumi-access-token"]),
    ("postman-api-token", &["postman-api-key"]),
    ("grafana-cloud-api-token", &["grafana-cloud-token"]),
    (
        "1password-service-account-token",
        &["onepassword-service-account-token"],
    ),
    ("sonar-api-token", &["sonar-token"]),
    ("rubygems-api-token", &["rubygems-api-key"]),
    ("clojars-api-token", &["clojars-deploy-token"]),
    ("prefect-api-token", &["prefect-api-key"]),
    ("readme-api-token", &["readme-api-key"]),
    ("infracost-api-token", &["infracost-api-key"]),
    ("flyio-access-token", &["fly-io-token"]),
    ("planetscale-api-token", &["planetscale-token"]),
    ("cohere-api-token", &["cohere-api-key"]),
    (
        "private-key",
        &[
            "pem-private-key",
            "openssh-private-key",
            "pgp-private-key-block",
        ],
    ),
    (
        "generic-api-key",
        &["generic-secret-assignment", "generic-secret-line"],
    ),
    ("mailgun-private-api-token", &["mailgun-api-key"]),
    ("telegram-bot-api-token", &["telegram-bot-token"]),
    ("okta-access-token", &["okta-api-token"]),
    ("plaid-api-token", &["plaid-access-token"]),
];

/// The leakgate rules a gitleaks rule id stands for, if it is one leakgate knows.
pub fn leakgate_ids(gitleaks_id: &str) -> Option<&'static [&'static str]> {
    RULE_IDS
        .iter()
        .find(|(g, _)| *g == gitleaks_id)
        .map(|(_, ids)| *ids)
}

/// Every gitleaks id of the mapping (for "did you mean" and the mapping test).
pub fn known_gitleaks_ids() -> impl Iterator<Item = &'static str> {
    RULE_IDS.iter().map(|(g, _)| *g)
}

/// The closest of `candidates` to `id` when it is a near miss (a typo, a different separator):
/// at most a third of the id's length in edits, and never more than 4.
pub fn did_you_mean<'a>(id: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (id.chars().count() / 3).clamp(1, 4);
    candidates
        .map(|c| (edit_distance(id, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Does a rule id written for gitleaks (or for leakgate) name the rule of this finding?
fn rule_matches(written: &str, rule: &str) -> bool {
    written == rule || leakgate_ids(written).is_some_and(|ids| ids.contains(&rule))
}

/// One `.gitleaksignore` line: `commit:file:rule-id:line` (history scans) or
/// `file:rule-id:line` (any scan, every commit).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IgnoreEntry {
    commit: Option<String>,
    path: String,
    rule: String,
    line: u32,
}

/// The entries of a `.gitleaksignore`. A finding is ignored when an entry names its rule, its
/// path and its line, and — for an entry with a commit — the commit the finding was added in
/// (full or abbreviated sha). Staged changes have no commit yet, so only entries without one
/// apply to them.
#[derive(Debug, Default)]
pub struct Ignore {
    entries: Vec<IgnoreEntry>,
}

impl Ignore {
    pub fn load(root: &Path) -> Result<Option<Ignore>> {
        let path = root.join(IGNORE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ignore::parse(&text)
            .map(Some)
            .with_context(|| format!("in {}", path.display()))
    }

    fn parse(text: &str) -> Result<Ignore> {
        let mut entries = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Paths may hold ':' — the rule and line are always the last two fields, and a
            // leading commit is 7 to 64 hex digits.
            let mut tail = line.rsplitn(3, ':');
            let (Some(num), Some(rule), Some(head)) = (tail.next(), tail.next(), tail.next())
            else {
                bail!("line {}: expected `[commit:]file:rule-id:line`", n + 1);
            };
            let line_no: u32 = num
                .parse()
                .with_context(|| format!("line {}: `{num}` is not a line number", n + 1))?;
            let (commit, path) = match head.split_once(':') {
                Some((c, p))
                    if (7..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    (Some(c.to_ascii_lowercase()), p)
                }
                _ => (None, head),
            };
            entries.push(IgnoreEntry {
                commit,
                path: path.to_string(),
                rule: rule.to_string(),
                line: line_no,
            });
        }
        Ok(Ignore { entries })
    }

    pub fn ignores(&self, f: &Finding) -> bool {
        let loc = &f.location;
        self.entries.iter().any(|e| {
            e.line == loc.line
                && e.path.as_bytes() == loc.path.as_slice()
                && rule_matches(&e.rule, &f.rule)
                && match (&e.commit, &loc.commit) {
                    (None, _) => true,
                    (Some(want), Some(have)) => have.starts_with(want.as_str()),
                    (Some(_), None) => false,
                }
        })
    }
}

/// One gitleaks allowlist: its criteria and how they combine.
#[derive(Debug)]
struct Allowlist {
    /// `condition = "AND"`: every criterion given must match (default OR: any one).
    all: bool,
    /// `targetRules` or the rule a `[[rules.allowlists]]` belongs to; empty means every rule.
    rules: Vec<String>,
    paths: Vec<Regex>,
    regexes: Vec<Regex>,
    /// `regexTarget = "match"|"line"`: the regexes are about text leakgate does not keep with a
    /// finding. They are not evaluated against the secret instead (an anchored pattern could
    /// then allow what gitleaks would not): such a criterion never matches.
    regexes_unevaluable: bool,
    stopwords: Vec<String>,
    commits: Vec<String>,
}

impl Allowlist {
    fn allows(&self, f: &Finding) -> bool {
        if !self.rules.is_empty() && !self.rules.iter().any(|r| rule_matches(r, &f.rule)) {
            return false;
        }
        let secret = &f.secret.0;
        let lower = String::from_utf8_lossy(secret).to_lowercase();
        let checks = [
            (!self.paths.is_empty())
                .then(|| self.paths.iter().any(|r| r.is_match(&f.location.path))),
            (!self.regexes.is_empty()).then(|| {
                !self.regexes_unevaluable && self.regexes.iter().any(|r| r.is_match(secret))
            }),
            (!self.stopwords.is_empty()).then(|| {
                self.stopwords
                    .iter()
                    .any(|w| lower.contains(&w.to_lowercase()))
            }),
            (!self.commits.is_empty()).then(|| {
                f.location
                    .commit
                    .as_deref()
                    .is_some_and(|c| self.commits.iter().any(|w| c.starts_with(w.as_str())))
            }),
        ];
        let given: Vec<bool> = checks.into_iter().flatten().collect();
        if given.is_empty() {
            return false;
        }
        if self.all {
            given.iter().all(|m| *m)
        } else {
            given.iter().any(|m| *m)
        }
    }
}

/// The allowlists of a `.gitleaks.toml`: the global `[allowlist]`, the `[[allowlists]]` array
/// (with `targetRules`), and `[[rules]]` entries' own `allowlist`/`allowlists` for rules
/// leakgate maps. gitleaks' rules themselves are not imported (leakgate's catalog is its own).
#[derive(Debug, Default)]
pub struct Allowlists {
    lists: Vec<Allowlist>,
}

impl Allowlists {
    pub fn load(root: &Path) -> Result<Option<Allowlists>> {
        let path = root.join(CONFIG_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Allowlists::parse(&text)
            .map(Some)
            .with_context(|| format!("in {}", path.display()))
    }

    fn parse(text: &str) -> Result<Allowlists> {
        let doc: toml::Table = text.parse().context("not valid TOML")?;
        let mut lists = Vec::new();
        if let Some(t) = doc.get("allowlist") {
            lists.push(allowlist(t, Vec::new(), "[allowlist]")?);
        }
        for (i, t) in array(doc.get("allowlists"), "allowlists")?
            .iter()
            .enumerate()
        {
            let rules = strings(t.get("targetRules"), "targetRules")?;
            lists.push(allowlist(t, rules, &format!("[[allowlists]] #{}", i + 1))?);
        }
        for rule in array(doc.get("rules"), "rules")? {
            let Some(id) = rule.get("id").and_then(|v| v.as_str()) else {
                continue;
            };
            if let Some(t) = rule.get("allowlist") {
                lists.push(allowlist(t, vec![id.to_string()], &format!("rule {id}"))?);
            }
            for t in array(rule.get("allowlists"), "allowlists")? {
                lists.push(allowlist(t, vec![id.to_string()], &format!("rule {id}"))?);
            }
        }
        Ok(Allowlists { lists })
    }

    pub fn allows(&self, f: &Finding) -> bool {
        self.lists.iter().any(|l| l.allows(f))
    }
}

fn array<'a>(v: Option<&'a toml::Value>, key: &str) -> Result<&'a [toml::Value]> {
    match v {
        None => Ok(&[]),
        Some(toml::Value::Array(a)) => Ok(a),
        Some(_) => bail!("`{key}` must be an array of tables"),
    }
}

fn strings(v: Option<&toml::Value>, key: &str) -> Result<Vec<String>> {
    array(v, key)?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_string)
                .with_context(|| format!("`{key}` must hold strings"))
        })
        .collect()
}

fn allowlist(t: &toml::Value, rules: Vec<String>, what: &str) -> Result<Allowlist> {
    let regexes = |key: &str| -> Result<Vec<Regex>> {
        strings(t.get(key), key)?
            .iter()
            .map(|r| Regex::new(r).with_context(|| format!("{what}: invalid {key} regex `{r}`")))
            .collect()
    };
    let all = match t.get("condition").and_then(|c| c.as_str()) {
        None => false,
        Some(c) if c.eq_ignore_ascii_case("or") => false,
        Some(c) if c.eq_ignore_ascii_case("and") => true,
        Some(c) => bail!("{what}: condition `{c}` is neither OR nor AND"),
    };
    let regexes_unevaluable = match t.get("regexTarget").and_then(|c| c.as_str()) {
        None | Some("secret") => false,
        Some("match" | "line") => true,
        Some(other) => bail!("{what}: regexTarget `{other}` is not secret, match or line"),
    };
    Ok(Allowlist {
        all,
        regexes_unevaluable,
        rules,
        paths: regexes("paths").with_context(|| what.to_string())?,
        regexes: regexes("regexes").with_context(|| what.to_string())?,
        stopwords: strings(t.get("stopwords"), "stopwords")?,
        commits: strings(t.get("commits"), "commits")?
            .into_iter()
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Location, Secret, Severity};

    fn finding(rule: &str, path: &str, line: u32, commit: Option<&str>, secret: &str) -> Finding {
        Finding {
            rule: rule.into(),
            title: String::new(),
            severity: Severity::Error,
            location: Location {
                path: path.as_bytes().to_vec(),
                line,
                commit: commit.map(str::to_string),
                ..Location::default()
            },
            secret: Secret(secret.as_bytes().to_vec()),
            encodings: Vec::new(),
            checksum: None,
            detail: None,
            fingerprint: String::new(),
        }
    }

    #[test]
    fn every_mapped_rule_exists_in_the_catalog() {
        let specs = crate::rules::builtin_specs().unwrap();
        for (g, ids) in RULE_IDS {
            for id in *ids {
                assert!(specs.iter().any(|s| s.id == *id), "{g} → unknown {id}");
            }
        }
    }

    #[test]
    fn ignore_entries_match_rule_path_line_and_commit() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let ig = Ignore::parse(&format!(
            "# reviewed\n{}:conf/a.py:huggingface-access-token:3\nweird:name.txt:generic-api-key:9\n",
            &sha[..7]
        ))
        .unwrap();
        let cases: &[(Finding, bool)] = &[
            (
                finding("huggingface-token", "conf/a.py", 3, Some(sha), "x"),
                true,
            ),
            (
                finding("huggingface-token", "conf/a.py", 4, Some(sha), "x"),
                false,
            ),
            (
                finding("huggingface-token", "conf/a.py", 3, None, "x"),
                false,
            ),
            (
                finding(
                    "huggingface-token",
                    "conf/a.py",
                    3,
                    Some(&"f".repeat(40)),
                    "x",
                ),
                false,
            ),
            (
                finding("openai-api-key", "conf/a.py", 3, Some(sha), "x"),
                false,
            ),
            (
                finding("generic-secret-line", "weird:name.txt", 9, None, "x"),
                true,
            ),
        ];
        for (f, want) in cases {
            assert_eq!(ig.ignores(f), *want, "{f:?}");
        }
        assert!(Ignore::parse("a.py:rule:notanumber\n").is_err());
    }

    #[test]
    fn allowlist_conditions_and_targets() {
        let al = Allowlists::parse(
            r#"
            [allowlist]
            paths = ['''^fixtures/''']
            [[allowlists]]
            condition = "AND"
            targetRules = ["huggingface-access-token"]
            stopwords = ["sample"]
            paths = ['''\.md$''']
            [[rules]]
            id = "generic-api-key"
            regex = '''ignored'''
            [rules.allowlist]
            regexes = ['''^dummy''']
            "#,
        )
        .unwrap();
        let cases: &[(Finding, bool)] = &[
            (
                finding("openai-api-key", "fixtures/k.py", 1, None, "s"),
                true,
            ),
            (
                finding("huggingface-token", "doc.md", 1, None, "hf_sample1"),
                true,
            ),
            (
                finding("huggingface-token", "doc.py", 1, None, "hf_sample1"),
                false,
            ),
            (
                finding("openai-api-key", "doc.md", 1, None, "sk_sample1"),
                false,
            ),
            (
                finding("generic-secret-line", "a.py", 1, None, "dummyvalue"),
                true,
            ),
            (
                finding("openai-api-key", "a.py", 1, None, "dummyvalue"),
                false,
            ),
        ];
        for (f, want) in cases {
            assert_eq!(al.allows(f), *want, "{f:?}");
        }
        assert!(Allowlists::parse("[allowlist]\nregexes = ['''(''']\n").is_err());
        assert!(Allowlists::parse("[allowlist]\ncondition = 'XOR'\n").is_err());
        let line = Allowlists::parse("[allowlist]\nregexTarget = 'line'\nregexes = ['^dummy']\n");
        assert!(!line
            .unwrap()
            .allows(&finding("jwt", "a.py", 1, None, "dummyvalue")));
    }

    #[test]
    fn near_misses_are_suggested() {
        let ids = ["huggingface-token", "openai-api-key"];
        assert_eq!(
            did_you_mean("hugingface-token", ids.iter().copied()),
            Some("huggingface-token")
        );
        assert_eq!(did_you_mean("stripe", ids.iter().copied()), None);
    }
}

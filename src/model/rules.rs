//! The rules model-file findings are reported under, with their titles and remediation: data in
//! the catalog (`src/rules/model.toml`, embedded at build time) next to the credential rules
//! (`leakgate rules`, SARIF, `--explain`).
//!
//! Invariants:
//! - this is a leaf (it imports nothing of the crate), so `report` and `run` can list these
//!   rules without depending on `artifact`, which turns inspection reports into findings;
//! - the ids below are the ones the inspector reports under; each is defined in model.toml
//!   exactly once, with a title and a remediation (checked by the tests, and when the catalog
//!   loads: a broken edit fails loudly instead of showing empty advice).

use std::sync::LazyLock;

use serde::Deserialize;

pub const DANGEROUS: &str = "pickle-dangerous-import";
pub const UNKNOWN: &str = "pickle-unknown-import";
pub const UNREADABLE: &str = "model-unreadable";
pub const NOT_LFS: &str = "model-not-in-lfs";

/// Every id the inspector and the scan report model findings under.
const IDS: &[&str] = &[DANGEROUS, UNKNOWN, UNREADABLE, NOT_LFS];

const MODEL_TOML: &str = include_str!("../rules/model.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelRule {
    id: String,
    title: String,
    remediation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelRuleFile {
    model_rule: Vec<ModelRule>,
}

/// The catalog's model rules, checked against [`IDS`].
fn load(text: &str) -> Result<Vec<ModelRule>, String> {
    let file: ModelRuleFile =
        toml::from_str(text).map_err(|e| format!("src/rules/model.toml is not valid: {e}"))?;
    let mut rules = file.model_rule;
    for r in &mut rules {
        r.remediation = r.remediation.trim().to_string();
        if r.title.trim().is_empty() || r.remediation.is_empty() {
            return Err(format!("model rule {}: empty title or remediation", r.id));
        }
    }
    for id in IDS {
        let n = rules.iter().filter(|r| r.id == *id).count();
        if n != 1 {
            return Err(format!(
                "model rule {id} is defined {n} times in model.toml"
            ));
        }
    }
    if let Some(r) = rules.iter().find(|r| !IDS.contains(&r.id.as_str())) {
        return Err(format!(
            "model rule {} in model.toml is not reported by leakgate",
            r.id
        ));
    }
    Ok(rules)
}

static CATALOG: LazyLock<Vec<ModelRule>> =
    LazyLock::new(|| load(MODEL_TOML).unwrap_or_else(|e| panic!("{e}")));

/// (id, title, remediation) of every model-file rule, in catalog order.
pub static RULES: LazyLock<Vec<(&'static str, &'static str, &'static str)>> = LazyLock::new(|| {
    CATALOG
        .iter()
        .map(|r| (r.id.as_str(), r.title.as_str(), r.remediation.as_str()))
        .collect()
});

/// The remediation text of a model-file rule; None for any other id.
pub fn remediation(id: &str) -> Option<&'static str> {
    RULES.iter().find(|(i, _, _)| *i == id).map(|(_, _, r)| *r)
}

/// The title of a model-file rule; empty for any other id.
pub fn title(id: &str) -> &'static str {
    RULES
        .iter()
        .find(|(i, _, _)| *i == id)
        .map_or("", |(_, t, _)| *t)
}

/// Whether `id` is a model-file rule (its findings are imports and file states, not secrets).
pub fn is_model_rule(id: &str) -> bool {
    IDS.contains(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reported_id_has_its_catalog_entry() {
        let rules = load(MODEL_TOML).unwrap();
        assert_eq!(rules.len(), IDS.len());
        for id in IDS {
            assert!(!title(id).is_empty(), "{id}");
            assert!(remediation(id).is_some_and(|r| r.len() > 40), "{id}");
        }
        assert_eq!(remediation("aws-access-key"), None);
    }

    #[test]
    fn a_broken_model_catalog_is_refused() {
        let missing = MODEL_TOML.replace("\"model-not-in-lfs\"", "\"model-something-else\"");
        assert!(load(&missing).is_err());
        let doubled = format!(
            "{MODEL_TOML}\n{}",
            &MODEL_TOML[MODEL_TOML.find("[[").unwrap()..]
        );
        assert!(load(&doubled).is_err());
        let empty = MODEL_TOML.replacen(
            "title = \"Dangerous import in a model file: loading it runs code\"",
            "title = \" \"",
            1,
        );
        assert!(load(&empty).is_err());
        assert!(load("[[model_rule]]\nid = 1\n").is_err());
    }
}

//! Converts the rule catalog (src/rules/*.toml, the source of truth) to one JSON document at
//! build time. A hook parses the catalog on every commit, and serde_json reads it several times
//! faster than a TOML parser; schema checks (unknown fields, types) still happen at load and in
//! the catalog's unit tests.

use std::path::Path;

/// In catalog order: earlier files win overlap ties. `ml` and `services` come first because
/// several of their rules name the provider of a key whose shape another issuer shares (Moonshot's
/// `sk-` keys look like OpenAI's, Clerk's `sk_live_` like Stripe's): the named provider must win.
const FILES: &[&str] = &[
    "ml", "services", "ai", "cloud", "devtools", "saas", "keys", "generic", "model",
];

fn main() {
    let mut files = Vec::new();
    for name in FILES {
        let path = format!("src/rules/{name}.toml");
        println!("cargo:rerun-if-changed={path}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let value: toml::Value =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid TOML: {e}"));
        let rules = value
            .get("rule")
            .cloned()
            .unwrap_or(toml::Value::Array(Vec::new()));
        files.push(serde_json::json!({ "rule": rules }));
    }
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("catalog.json");
    std::fs::write(
        &out,
        serde_json::to_string(&files).expect("TOML values serialise as JSON"),
    )
    .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

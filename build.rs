//! Converts the rule catalog (src/rules/*.toml, the source of truth) to one JSON document at
//! build time. A hook parses the catalog on every commit, and serde_json reads it several times
//! faster than a TOML parser; schema checks (unknown fields, types) still happen at load and in
//! the catalog's unit tests.
//!
//! It also builds each rule's *prescreen*: a small DFA, serialised here and deserialised without
//! compiling anything at run time, that matches somewhere in every text where the rule's regex
//! matches (a necessary condition, never a sufficient one). Compiling a rule's regex costs more
//! than scanning an everyday commit (one rule with a `{40,300}` repetition is ~10 M
//! instructions); with the prescreen a regex is compiled only for a text it may match in.
//!
//! The prescreen of a pattern is a slice of its top-level concatenation with look-arounds and
//! groups dropped and the slice's last repetition cut to its minimum: any match of the pattern
//! contains a match of such a slice. Of the slices whose DFA stays under `PRESCREEN_LIMIT` the
//! one with the longest minimum match is kept: longer is more selective. A full unanchored DFA of
//! most rules does not fit (a token class that contains its own prefix's characters makes the
//! states a power set), which is why the slice, not the rule, is determinised.

use std::fmt::Write as _;
use std::path::Path;

use regex_automata::dfa::dense;
use regex_automata::nfa::thompson;
use regex_automata::MatchKind;
use regex_syntax::hir::{Hir, HirKind, Repetition};

// The same analysis the matcher runs on custom rules, run here once for the built-in ones.
#[allow(dead_code)]
#[path = "src/reach.rs"]
mod reach;

/// Determinisation budget per rule (dense form, before it is made sparse). With it the catalog's
/// prescreens take ~4 MB in the binary; a page is read only when its rule runs.
const PRESCREEN_LIMIT: usize = 64 << 10;

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
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out_dir).join("catalog.json");
    std::fs::write(
        &out,
        serde_json::to_string(&files).expect("TOML values serialise as JSON"),
    )
    .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    prescreens(&files, Path::new(&out_dir));
}

/// Writes `prescreen.bin` (the DFAs, each at an 8-byte aligned offset, little-endian) and
/// `prescreen.rs`: a table of rule id, pattern, start and end into the DFAs (equal when no
/// prescreen fits), the rule's reach in lines (`u32::MAX`: the whole file) and whether it is
/// contextual (see `rules::traits_of`, which a unit test holds this to).
fn prescreens(files: &[serde_json::Value], out_dir: &Path) {
    let mut blob: Vec<u8> = Vec::new();
    let mut table = String::from("&[\n");
    for rule in files
        .iter()
        .flat_map(|f| f["rule"].as_array().into_iter().flatten())
    {
        let (Some(id), Some(pattern)) = (rule["id"].as_str(), rule["regex"].as_str()) else {
            continue; // the loader reports the malformed rule
        };
        while blob.len() % 8 != 0 {
            blob.push(0);
        }
        let start = blob.len();
        // No slice fitting leaves start == end: the rule then runs without a prescreen.
        blob.extend_from_slice(&prescreen(pattern).unwrap_or_default());
        let lines = match reach::reach(pattern) {
            reach::Reach::Lines(n) => n,
            reach::Reach::File => u32::MAX,
        };
        let keywords: Vec<&str> = rule["keywords"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str())
            .collect();
        let written = pattern.to_lowercase().replace('\\', "");
        let contextual = rule["kind"].as_str() != Some("generic")
            && !keywords.iter().all(|k| written.contains(k))
            && !reach::holds_keyword(pattern, &keywords);
        // The pattern goes along: these facts serve only the exact regex they came from.
        writeln!(
            table,
            "    ({id:?}, {pattern:?}, {start}, {}, {lines}, {contextual}),",
            blob.len()
        )
        .expect("writing to a String");
    }
    table.push(']');
    for (name, data) in [
        ("prescreen.bin", blob),
        ("prescreen.rs", table.into_bytes()),
    ] {
        let path = out_dir.join(name);
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

fn prescreen(pattern: &str) -> Option<Vec<u8>> {
    // The syntax built-in rules are compiled with (rules.rs `compile`): byte regexes with ASCII
    // classes, no UTF-8 requirement.
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .unicode(false)
        .build()
        .parse(pattern)
        .ok()?;
    let mut candidates = slices(&hir);
    candidates.sort_by(|a, b| selectivity(b).total_cmp(&selectivity(a)));
    candidates
        .iter()
        .filter(|h| selectivity(h) > 0.0)
        .find_map(|h| {
            let nfa = thompson::Compiler::new()
                .configure(
                    thompson::Config::new()
                        .utf8(false)
                        .shrink(true)
                        .which_captures(thompson::WhichCaptures::None),
                )
                .build_from_hir(h)
                .ok()?;
            let dfa = dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .match_kind(MatchKind::All)
                        .dfa_size_limit(Some(PRESCREEN_LIMIT))
                        .determinize_size_limit(Some(4 * PRESCREEN_LIMIT)),
                )
                .build_from_nfa(&nfa)
                .ok()?;
            Some(dfa.to_sparse().ok()?.to_bytes_little_endian())
        })
}

/// Every contiguous slice of the pattern's top-level concatenation, in full and with its end
/// cut short (see `cut`) to a few lengths.
fn slices(hir: &Hir) -> Vec<Hir> {
    let stripped = strip(hir);
    let parts = match stripped.kind() {
        HirKind::Concat(parts) => parts.clone(),
        _ => vec![stripped],
    };
    let mut out = Vec::new();
    for len in (1..=parts.len()).rev() {
        for window in parts.windows(len) {
            let slice = Hir::concat(window.to_vec());
            for keep in [u32::MAX, 32, 16, 8, 4, 0] {
                out.push(cut(&slice, keep));
            }
            out.push(slice);
        }
    }
    out
}

/// `hir` with its last repetition (in every branch) cut to at most `keep` iterations and no
/// more than its minimum, trailing optional parts dropped: every match of `hir` starts with a
/// match of the result.
fn cut(hir: &Hir, keep: u32) -> Hir {
    match hir.kind() {
        HirKind::Concat(v) => {
            // A trailing optional part selects nothing: drop it and cut what precedes it.
            let mut v = v.clone();
            while v.len() > 1 && v.last().and_then(|h| h.properties().minimum_len()) == Some(0) {
                v.pop();
            }
            if let Some(last) = v.pop() {
                v.push(cut(&last, keep));
            }
            Hir::concat(v)
        }
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(|b| cut(b, keep)).collect()),
        HirKind::Repetition(r) => {
            let n = r.min.min(keep);
            Hir::repetition(Repetition {
                min: n,
                max: Some(n),
                ..r.clone()
            })
        }
        _ => hir.clone(),
    }
}

/// How much of a match is pinned down: a literal byte (or a class of a few, such as a letter in
/// either case) counts 1, a wide class a tenth; a branch counts as its weakest alternative.
fn selectivity(hir: &Hir) -> f64 {
    use regex_syntax::hir::Class;
    match hir.kind() {
        HirKind::Literal(l) => l.0.len() as f64,
        HirKind::Class(Class::Unicode(c)) => {
            narrow(c.iter().map(|r| r.end() as u64 - r.start() as u64 + 1))
        }
        HirKind::Class(Class::Bytes(c)) => {
            narrow(c.iter().map(|r| r.end() as u64 - r.start() as u64 + 1))
        }
        HirKind::Repetition(r) => f64::from(r.min) * selectivity(&r.sub),
        HirKind::Capture(c) => selectivity(&c.sub),
        HirKind::Concat(v) => v.iter().map(selectivity).sum(),
        HirKind::Alternation(v) => v.iter().map(selectivity).fold(f64::INFINITY, f64::min),
        HirKind::Empty | HirKind::Look(_) => 0.0,
    }
}

fn narrow(sizes: impl Iterator<Item = u64>) -> f64 {
    if sizes.sum::<u64>() <= 4 {
        1.0
    } else {
        0.1
    }
}

/// The pattern without look-arounds (each becomes "always true": more texts match, never fewer)
/// and without groups (the prescreen reports no captures).
fn strip(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Look(_) => Hir::empty(),
        HirKind::Capture(c) => strip(&c.sub),
        HirKind::Concat(v) => Hir::concat(v.iter().map(strip).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(strip).collect()),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(strip(&r.sub)),
            ..r.clone()
        }),
        _ => hir.clone(),
    }
}

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
        if rule.prescreen_matches(&prose) != Some(false) {
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
            if found && rule.prescreen_matches(&text) == Some(false) {
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

/// Issue 15: an anchored rule runs only around its keywords, which is sound only if every match
/// holds one of them. Checked on every example's match, so a rule the analysis wrongly calls
/// non-contextual (a keyword only in an optional branch) fails here by name.
#[test]
fn anchored_rules_matches_hold_a_keyword() {
    let catalog = Catalog::builtin().unwrap();
    let mut failures = Vec::new();
    for (idx, rule) in catalog.rules.iter().enumerate() {
        if !catalog.is_anchored(idx) {
            continue;
        }
        for ex in &rule.spec.examples {
            for m in rule.regex().find_iter(ex.as_bytes()) {
                let lower = m.as_bytes().to_ascii_lowercase();
                if !rule
                    .spec
                    .keywords
                    .iter()
                    .any(|k| memchr::memmem::find(&lower, k.as_bytes()).is_some())
                {
                    failures.push(format!("{}: {:?}", rule.id(), m.as_bytes()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        (0..catalog.rules.len())
            .filter(|&i| catalog.is_anchored(i))
            .count()
            > 200
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

/// The whole-file pass selects exactly the wide rules whose keywords occur, also where a
/// keyword straddles the border of two lower-cased chunks.
#[test]
fn select_wide_sees_keywords_across_chunk_borders() {
    let catalog = Catalog::builtin().unwrap();
    let kind = catalog.get("kubernetes-secret-data").unwrap();
    let idx = catalog
        .rules
        .iter()
        .position(|r| r.id() == kind.id())
        .unwrap();
    let keyword = b"Kind: SECRET";
    for shift in 0..keyword.len() + 2 {
        let mut text = vec![b'x'; WIDE_CHUNK + 3 * keyword.len()];
        let at = WIDE_CHUNK - keyword.len() + shift;
        text[at..at + keyword.len()].copy_from_slice(keyword);
        assert!(catalog.select_wide(&text).contains(&idx), "shift {shift}");
    }
    assert!(!catalog
        .select_wide(&vec![b'x'; WIDE_CHUNK + 5])
        .contains(&idx));
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

const COVERAGE_TOML: &str = include_str!("coverage.toml");
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
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
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

/// The keyword table (an everyday commit's keyword search) finds exactly the keywords the
/// automaton finds: seeded texts of keywords in random case, glued to each other and to random
/// bytes, cut short at the end, over the whole catalog's keywords.
#[test]
fn keyword_table_agrees_with_the_automaton() {
    let catalog = Catalog::builtin().unwrap();
    let patterns = &catalog.keywords.patterns;
    let ac = keyword_automaton(patterns, AhoCorasickKind::ContiguousNFA).unwrap();
    let mut rng = crate::test_rng::Rng(0x6b65_7977);
    let noise = b"abcxyz_-.:= \n\"'/0123456789ABC\xff\x00";
    for case in 0..300 {
        let mut text = Vec::new();
        for _ in 0..rng.below(12) {
            let kw = &patterns[rng.below(patterns.len())];
            let keep = if rng.below(6) == 0 {
                rng.below(kw.len())
            } else {
                kw.len()
            };
            for &b in &kw[..keep] {
                text.push(if rng.below(2) == 0 {
                    b.to_ascii_uppercase()
                } else {
                    b
                });
            }
            for _ in 0..rng.below(3) {
                text.push(rng.pick(noise));
            }
        }
        let mut by_table = std::collections::BTreeSet::new();
        catalog.keywords.table.find(patterns, &text, |k, at| {
            by_table.insert((k, at));
        });
        let by_ac: std::collections::BTreeSet<(usize, usize)> = ac
            .find_overlapping_iter(&text)
            .map(|m| (m.pattern().as_usize(), m.start()))
            .collect();
        assert_eq!(
            by_table,
            by_ac,
            "case {case}: {:?}",
            String::from_utf8_lossy(&text)
        );
    }
}

/// Custom rules keep Unicode classes: a team's `\p{L}` still loads, while built-in rules are
/// compiled with ASCII classes (where `\p{L}` is refused).
#[test]
fn custom_rules_keep_unicode_classes() {
    assert!(compile(r"name:\s*(\p{L}+)", true).is_ok());
    assert!(compile(r"name:\s*(\p{L}+)", false).is_err());
    let spec = parse_rules(
        r#"
[[rule]]
id = "team-word"
title = "A team word"
regex = '''secret-word:\s*(\p{L}{6,})'''
secret_group = 1
keywords = ["secret-word"]
remediation = "Rotate it."
examples = ["secret-word: Größenwahn"]
"#,
    )
    .unwrap();
    let catalog = Catalog::build(builtin_specs().unwrap(), &spec).unwrap();
    let rule = catalog.get("team-word").unwrap();
    assert!(rule.regex().is_match("secret-word: Größenwahn".as_bytes()));
}

//! Living with a scanner: config file, inline suppressions, baseline, `scan`, colour, SARIF,
//! the rule catalog commands.

use std::process::Command;

use crate::harness::*;

fn rules_of(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}", f["path"].as_str().unwrap(), f["line"]))
        .collect()
}

#[test]
fn allow_paths_regexes_and_stopwords() {
    let r = TestRepo::new();
    r.write(
        ".leakgate.toml",
        "[allow]\npaths = [\"tests/fixtures/**\"]\nregexes = [\"^hf_gZ8\"]\nstopwords = [\"t8txyqi2\"]\n",
    );
    r.stage("tests/fixtures/tok.txt", format!("{HF_A}\n"));
    r.stage("a.py", format!("A = '{HF_B}'\n"));
    r.stage("b.py", format!("B = '{HF_C}'\n"));
    r.stage("c.py", format!("C = '{HF_A}'\n"));
    let v = r.check_json(1);
    assert_eq!(rules_of(&v), vec!["c.py:1"], "{v:#}");
    assert_eq!(v["suppressed"]["paths"], 1);
    assert_eq!(v["suppressed"]["allowlist"], 2);
    r.leakgate(&["check-staged", "--verbose"])
        .code(1)
        .stderr_has("suppressed: 0 by inline allow comments, 2 by allow patterns, 0 by the baseline, 1 files by allowed paths");
}

#[test]
fn disable_overrides_and_custom_rules() {
    let r = TestRepo::new();
    r.write(
        ".leakgate.toml",
        r#"disable = ["huggingface-org-token"]
[overrides.huggingface-token]
allow = ["^hf_4sx"]
[[rules]]
id = "acme-internal-token"
title = "ACME internal token"
regex = '''(acme_[0-9a-f]{32})'''
secret_group = 1
keywords = ["acme_"]
remediation = "Revoke it at https://acme.invalid/tokens."
examples = ["ACME=acme_3f9a0c7d2b8e4f61a5c9d0e7b3a2f8c4"]
"#,
    );
    r.stage(
        "x.py",
        format!("A = '{HF_A}'\nO = 'api_org_tcxibg2Wz5ip8zIb1lyBG3WcyGblQX1fzx'\nK = 'acme_9e1b7c3a5d2f4e6081a9c7b5d3e1f0a2'\n"),
    );
    let v = r.check_json(1);
    let found: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(found, vec!["acme-internal-token"], "{v:#}");
    assert!(v["findings"][0]["remediation"]
        .as_str()
        .unwrap()
        .contains("acme.invalid"));
}

#[test]
fn invalid_config_blocks_with_the_key_and_line() {
    let cases: &[(&str, &[&str])] = &[
        ("[allow]\npaths = [\"a\"]\n\ncolour = true\n", &["unknown field `colour`", "line 4"]),
        ("[allow]\nregexes = [\"(\"]\n", &["allow.regexes", "invalid regex"]),
        ("disable = [\"no-such-rule\"]\n", &["unknown rule `no-such-rule`"]),
        (
            "[[rules]]\nid = \"x-tok\"\ntitle = \"t\"\nregex = '(xt_[a-z]{8})'\nsecret_group = 1\nkeywords = [\"xt_\"]\nremediation = \"r\"\nexamples = [\"xt_short\"]\n",
            &["custom rule `x-tok`", "does not match"],
        ),
    ];
    for (text, wants) in cases {
        let r = TestRepo::new();
        r.write(".leakgate.toml", text);
        r.stage("a.py", "x = 1\n");
        let run = r.leakgate(&["check-staged"]);
        run.code(2)
            .stderr_has("leakgate: error:")
            .stderr_has(".leakgate.toml");
        for w in *wants {
            run.stderr_has(w);
        }
    }
}

#[test]
fn config_flag_overrides_the_repository_file() {
    let r = TestRepo::new();
    r.write(".leakgate.toml", "colour = 1\n");
    let other = r.tmp().join("ok.toml");
    std::fs::write(&other, "[allow]\nstopwords = [\"4sx1\"]\n").unwrap();
    r.stage("a.py", format!("A = '{HF_A}'\n"));
    r.leakgate(&["check-staged", "--config", other.to_str().unwrap()])
        .code(0);
    r.leakgate(&["check-staged", "--config", "/nonexistent/leakgate.toml"])
        .code(2)
        .stderr_has("cannot read config");
}

#[test]
fn inline_suppressions_are_honoured_and_counted() {
    let r = TestRepo::new();
    r.stage(
        "s.py",
        format!(
            "A = '{HF_A}'  # leakgate:allow\nB = '{HF_B}'  # gitleaks:allow\nC = '{HF_C}'  # pragma: allowlist secret\nD = '{HF_A}x'\n"
        ),
    );
    let v = r.check_json(0);
    assert_eq!(v["suppressed"]["inline"], 3, "{v:#}");
    r.stage(
        "s.py",
        format!("A = '{HF_A}'  # leakgate:allow\nE = '{HF_B}'\n"),
    );
    let v = r.check_json(1);
    assert_eq!(rules_of(&v), vec!["s.py:2"], "{v:#}");
    r.leakgate(&["check-staged", "--verbose"])
        .code(1)
        .stderr_has("suppressed: 1 by inline allow comments");
}

#[test]
fn baseline_create_use_and_prune_across_a_file_move() {
    let r = TestRepo::new();
    r.stage("fixtures/old.py", format!("A = '{HF_A}'\n"));
    r.stage("keep.py", format!("B = '{HF_B}'\n"));
    r.commit("legacy secrets");
    r.leakgate(&["baseline", "create"]).code(0);
    let path = r.dir.join(".leakgate-baseline.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(HF_A) && !text.contains(HF_B), "{text}");
    let b: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(b["version"], 2);
    assert_eq!(b["findings"].as_array().unwrap().len(), 2, "{text}");
    // Deterministic: creating again writes the same bytes (no timestamps, sorted).
    r.leakgate(&["baseline", "create"]).code(0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // The known secret moves to another file: still known by its fingerprint.
    std::fs::create_dir_all(r.dir.join("moved")).unwrap();
    r.git(&["mv", "fixtures/old.py", "moved/elsewhere.py"]);
    r.stage(
        "moved/elsewhere.py",
        format!("# moved\nX = 1\nA = '{HF_A}'\n"),
    );
    r.stage("new.py", format!("A2 = '{HF_A}'\n"));
    let v = r.check_json(0);
    assert_eq!(v["suppressed"]["baseline"], 1, "{v:#}");
    // --no-baseline while the only staged secret is the baselined one: only the flag decides.
    let all = r.leakgate(&["check-staged", "--format", "json", "--no-baseline"]);
    all.code(1);
    assert_eq!(rules_of(&all.json()), vec!["new.py:1"]);
    // A new secret is still found.
    r.stage("fresh.py", format!("C = '{HF_C}'\n"));
    assert_eq!(rules_of(&r.check_json(1)), vec!["fresh.py:1"]);

    // Prune drops what HEAD no longer has.
    r.git(&["rm", "-q", "--cached", "fresh.py"]);
    r.git(&["rm", "-q", "keep.py"]);
    r.commit("drop keep.py");
    r.leakgate(&["baseline", "prune"]).code(0);
    let pruned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        pruned["findings"].as_array().unwrap().len(),
        1,
        "{pruned:#}"
    );
}

#[test]
fn scan_honours_gitignore_and_reads_dotfiles() {
    let r = TestRepo::new();
    r.write(".gitignore", "build/\n");
    r.write("build/out.txt", format!("{HF_A}\n"));
    r.write(".env", format!("HF_TOKEN={HF_B}\n"));
    r.write("src/app.py", format!("T = '{HF_C}'\n"));
    let run = r.leakgate(&["scan", "--format", "json"]);
    run.code(1);
    let mut got = rules_of(&run.json());
    got.sort();
    assert_eq!(got, vec![".env:1", "src/app.py:1"], "{}", run.dump());
    let all = r.leakgate(&["scan", "--no-ignore", "--format", "json"]);
    all.code(1);
    assert_eq!(
        all.json()["findings"].as_array().unwrap().len(),
        3,
        "{}",
        all.dump()
    );
    r.leakgate(&["scan", "src", "--format", "json"]).code(1);
    // [allow] paths applies to scan as it does to staged changes.
    r.write(
        ".leakgate.toml",
        "[allow]\npaths = [\"src/**\", \".env\"]\n",
    );
    let allowed = r.leakgate(&["scan", "--format", "json"]);
    allowed.code(0);
    assert_eq!(
        allowed.json()["suppressed"]["paths"],
        2,
        "{}",
        allowed.dump()
    );
    r.leakgate(&["scan", "missing-dir"])
        .code(2)
        .stderr_has("does not exist");
}

#[test]
fn colour_follows_the_flag_terminal_and_no_color() {
    let r = TestRepo::new();
    r.stage("a.py", format!("A = '{HF_A}'\n"));
    let always = r.leakgate(&["check-staged", "--color", "always"]);
    always.code(1).stderr_has("\x1b[");
    let never = r.leakgate(&["check-staged", "--color", "never"]);
    never.code(1).output_lacks("\x1b[");
    // Not a terminal: auto means no colour, with or without NO_COLOR.
    r.leakgate(&["check-staged"]).code(1).output_lacks("\x1b[");
    r.leakgate_env(&r.dir, &["check-staged"], &[("NO_COLOR", "")])
        .code(1)
        .output_lacks("\x1b[");
}

fn python() -> String {
    std::env::var("LEAKGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let r = TestRepo::new();
    r.stage("a.py", format!("A = '{HF_A}'\n"));
    r.stage(
        "nb.ipynb",
        std::fs::read(fixture("notebooks/login_output.ipynb")).unwrap(),
    );
    r.stage("dir with space/b.txt", format!("{HF_B}\n"));
    let out = r.tmp().join("report.sarif");
    let run = r.leakgate(&[
        "check-staged",
        "--format",
        "sarif",
        "--output",
        out.to_str().unwrap(),
    ]);
    run.code(1);
    assert!(
        run.stdout.is_empty(),
        "--output writes the file, not stdout\n{}",
        run.dump()
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains(HF_A), "SARIF must not carry secrets");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    let a = results
        .iter()
        .find(|x| x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "a.py")
        .expect("a.py result");
    assert_eq!(a["ruleId"], "huggingface-token");
    assert_eq!(
        a["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    assert_eq!(
        a["partialFingerprints"]["leakgateSecret/v2"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert!(results.iter().any(
        |x| x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            == "dir%20with%20space/b.txt"
    ));
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&"huggingface-token") && ids.len() < 10,
        "one reportingDescriptor per rule that fired: {ids:?}"
    );
    let idx = a["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[idx]["id"], "huggingface-token");
    assert!(rules[idx]["help"]["text"]
        .as_str()
        .unwrap()
        .contains("huggingface.co/settings/tokens"));

    let check = Command::new(python())
        .args([
            "-c",
            "import json,sys,jsonschema\nschema=json.load(open(sys.argv[1]))\njsonschema.validate(json.load(open(sys.argv[2])), schema)\nprint('valid')",
            fixture("sarif/sarif-schema-2.1.0.json").to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .output()
        .expect("python3 must be installed (tests/run.sh provides one with jsonschema)");
    assert!(
        check.status.success(),
        "SARIF does not validate (run the suite through tests/run.sh so jsonschema is installed):\n{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn rules_lists_and_explains_the_catalog() {
    let r = TestRepo::new();
    let list = r.leakgate(&["rules", "--format", "json"]);
    list.code(0);
    let v = list.json();
    let rules = v.as_array().unwrap();
    assert!(rules.len() >= 80, "{}", rules.len());
    let gh = rules
        .iter()
        .find(|x| x["id"] == "github-classic-pat")
        .unwrap();
    assert_eq!(gh["checksum"], "github-crc32");
    let table = r.leakgate(&["rules"]);
    table.code(0);
    // Each rule's line names its structural check.
    let line_of = |id: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("{id} not listed\n{}", table.dump()))
            .to_string()
    };
    for (id, check) in [
        ("github-classic-pat", "[check: github-crc32]"),
        ("npm-access-token", "[check: npm-crc32]"),
        ("jwt", "[check: jwt-structure]"),
        ("pypi-upload-token", "[check: pypi-macaroon]"),
        ("pem-private-key", "[check: pem-der]"),
    ] {
        assert!(line_of(id).contains(check), "{id}: {}", line_of(id));
    }
    assert!(!line_of("huggingface-token").contains("[check:"));
    let explain = r.leakgate(&["rules", "--explain", "huggingface-token"]);
    explain.code(0);
    assert!(
        explain
            .stdout
            .contains("https://huggingface.co/settings/tokens"),
        "{}",
        explain.dump()
    );
    r.leakgate(&["rules", "--explain", "pickle-dangerous-import"])
        .code(0);
    r.leakgate(&["rules", "--explain", "nope"])
        .code(2)
        .stderr_has("no rule `nope`");
}

#[test]
fn version_names_the_rule_catalog() {
    let r = TestRepo::new();
    let v = r.leakgate(&["--version"]);
    v.code(0);
    assert!(v.stdout.contains("rule catalog 20"), "{}", v.dump());
}

//! Model artifacts (tests/fixtures/models, made by generate.py with real pickle, joblib, numpy,
//! safetensors and gguf): dangerous pickle imports block, unknown ones warn, metadata strings are
//! scanned for credentials, large model blobs outside Git LFS get a warning.

use serde_json::Value;

use crate::harness::*;

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("models/expected.json")).unwrap())
        .unwrap()
}

fn model(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("models/{name}"))).unwrap()
}

fn by_rule<'a>(v: &'a Value, rule: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

#[test]
fn every_model_fixture_gets_its_expected_verdict() {
    let exp = expected();
    let files = exp.as_object().unwrap();
    assert!(files.len() >= 20, "fixture set shrank: {}", files.len());
    for (name, want) in files {
        let r = TestRepo::new();
        r.stage(&format!("models/{name}"), model(name));
        let run = r.leakgate(&["check-staged", "--format", "json"]);
        let v = run.json();
        let imports = want["imports"].as_array().unwrap();
        let dangerous: Vec<String> = imports
            .iter()
            .filter(|i| i["verdict"] == "Dangerous")
            .map(|i| {
                format!(
                    "{}.{}",
                    i["module"].as_str().unwrap(),
                    i["name"].as_str().unwrap()
                )
            })
            .collect();
        let unknown = imports.iter().filter(|i| i["verdict"] == "Unknown").count();
        // Where the synthetic token sits: a metadata key named for it, or a named member.
        let token_in = want["token_in"].as_str().unwrap_or("hf_token");
        let has_token = want["metadata_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k.as_str().unwrap().contains(token_in));

        let problems_expected = want["problems"].as_bool().unwrap();
        // Fail closed: a model file that could not be fully inspected blocks too.
        let blocking = !dangerous.is_empty() || has_token || problems_expected;
        run.code(if blocking { 1 } else { 0 });
        let got: Vec<&Value> = by_rule(&v, "pickle-dangerous-import");
        assert_eq!(got.len(), dangerous.len(), "{name}\n{}", run.dump());
        for (f, d) in got.iter().zip(&dangerous) {
            assert_eq!(f["severity"], "error", "{name}");
            assert!(
                f["detail"].as_str().unwrap().starts_with(d.as_str()),
                "{name}: {f:#} vs {d}"
            );
        }
        let warned = by_rule(&v, "pickle-unknown-import");
        assert_eq!(warned.len(), unknown, "{name}\n{}", run.dump());
        assert!(warned.iter().all(|f| f["severity"] == "warning"), "{name}");
        let unreadable = by_rule(&v, "model-unreadable");
        assert_eq!(
            !unreadable.is_empty(),
            problems_expected,
            "{name}\n{}",
            run.dump()
        );
        assert!(
            unreadable.iter().all(|f| f["severity"] == "error"),
            "{name}"
        );
        if has_token {
            let t = by_rule(&v, "huggingface-token");
            assert_eq!(t.len(), 1, "{name}\n{}", run.dump());
            assert_eq!(t[0]["part"], "metadata", "{name}");
            assert!(
                t[0]["member"].as_str().unwrap().contains(token_in),
                "{name}: {:#}",
                t[0]
            );
        }
    }
}

#[test]
fn malicious_pickle_is_detected_by_content_not_extension() {
    let r = TestRepo::new();
    r.stage("notes/weights.txt", model("os_system.pkl"));
    r.leakgate(&["check-staged"])
        .code(1)
        .stderr_has("pickle-dangerous-import")
        .stderr_has("posix.system")
        .stderr_has("safetensors");
}

#[test]
fn torch_archive_names_the_member_holding_the_import() {
    let r = TestRepo::new();
    r.stage("model.pt", model("torch_like_malicious.pt"));
    let v = r.check_json(1);
    let f = by_rule(&v, "pickle-dangerous-import");
    assert_eq!(f[0]["member"], "archive/data.pkl", "{v:#}");
}

#[test]
fn hidden_exec_behind_stack_global_and_memo_is_blocked() {
    for name in ["stack_global_exec.pkl", "stack_global_memo.pkl"] {
        let r = TestRepo::new();
        r.stage(name, model(name));
        let v = r.check_json(1);
        assert!(
            by_rule(&v, "pickle-dangerous-import")[0]["detail"]
                .as_str()
                .unwrap()
                .starts_with("builtins.exec"),
            "{v:#}"
        );
    }
}

#[test]
fn unknown_imports_block_when_configured() {
    let exp = expected();
    let (name, _) = exp
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, w)| {
            let i = w["imports"].as_array().unwrap();
            i.iter().any(|x| x["verdict"] == "Unknown")
                && !i.iter().any(|x| x["verdict"] == "Dangerous")
        })
        .expect("a fixture with an unknown but not dangerous import");
    let r = TestRepo::new();
    r.stage(&format!("m/{name}"), model(name));
    r.check_json(0);
    r.write(".leakgate.toml", "[models]\nblock_unknown_imports = true\n");
    r.check_json(1);
}

#[test]
fn large_model_blob_outside_lfs_gets_a_warning() {
    let r = TestRepo::new();
    r.write(".leakgate.toml", "[models]\nlfs_warn_size = 1000\n");
    r.stage("weights/model.pt", model("torch_like.pt"));
    let v = r.check_json(0);
    let w = by_rule(&v, "model-not-in-lfs");
    assert_eq!(w.len(), 1, "{v:#}");
    assert_eq!(w[0]["severity"], "warning");
    // An LFS pointer is small text: no warning.
    let r2 = TestRepo::new();
    r2.write(".leakgate.toml", "[models]\nlfs_warn_size = 10\n");
    r2.stage(
        "weights/model.pt",
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    );
    assert!(by_rule(&r2.check_json(0), "model-not-in-lfs").is_empty());
}

#[test]
fn credential_inside_a_pickled_dict_is_found() {
    // Protocol 2: {"hf_token": HF_A}, built opcode by opcode (nothing here is ever unpickled).
    let mut p = vec![0x80, 0x02, b'}', b'q', 0x00];
    for s in ["hf_token", HF_A] {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }
    p.extend(b"s.");
    let r = TestRepo::new();
    r.stage("cache/config.pkl", &p);
    let v = r.check_json(1);
    let t = by_rule(&v, "huggingface-token");
    assert_eq!(t.len(), 1, "{v:#}");
    assert!(by_rule(&v, "pickle-dangerous-import").is_empty(), "{v:#}");
}

/// `n` distinct harmless imports (each popped), then `posix.system("pwned")`: protocol 2.
fn many_imports_then_system(n: usize) -> Vec<u8> {
    let mut v = vec![0x80, 0x02];
    for i in 0..n {
        v.extend_from_slice(format!("cmodels_fixture\nLayer{i}\n0").as_bytes());
    }
    v.extend_from_slice(b"cposix\nsystem\n\x8c\x05pwned\x85R.");
    v
}

#[test]
fn import_cap_4096_harmless_then_posix_system_blocks() {
    // Regression (issue 18): the walk stopped at the import cap with a warning and exit 0.
    let r = TestRepo::new();
    r.stage("model/layers.pkl", many_imports_then_system(4100));
    let v = r.check_json(1);
    let d = by_rule(&v, "pickle-dangerous-import");
    assert_eq!(d.len(), 1, "{v:#}");
    assert!(d[0]["detail"].as_str().unwrap().starts_with("posix.system"));
    let cap = by_rule(&v, "model-unreadable");
    assert_eq!(cap.len(), 1, "{v:#}");
    assert_eq!(cap[0]["severity"], "error");
    assert!(cap[0]["detail"]
        .as_str()
        .unwrap()
        .contains("distinct imports"));
}

#[test]
fn model_file_that_cannot_be_fully_read_blocks() {
    // A cut pickle: what follows the cut is unknown, so the commit is blocked with the reason.
    let r = TestRepo::new();
    r.stage("model/cut.pkl", model("truncated.pkl"));
    let run = r.leakgate(&["check-staged"]);
    run.code(1).stderr_has("model-unreadable");
}

#[test]
fn accepting_one_model_in_the_baseline_does_not_accept_a_new_file_with_the_same_import() {
    // Regression (issue 16): the fingerprint was rule + import only, so a baselined model let
    // any new file importing posix.system through.
    let r = TestRepo::new();
    r.stage("legacy/model.pkl", model("os_system.pkl"));
    r.commit("an old model, reviewed");
    r.leakgate(&["baseline", "create"]).code(0);
    r.stage("legacy/model.pkl", model("os_system_p4.pkl"));
    let v = r.check_json(0);
    assert_eq!(v["suppressed"]["baseline"], 1, "{v:#}");
    r.stage("new/evil.pkl", model("os_system.pkl"));
    let v = r.check_json(1);
    let d = by_rule(&v, "pickle-dangerous-import");
    assert_eq!(d.len(), 1, "{v:#}");
    assert_eq!(d[0]["path"], "new/evil.pkl");
}

#[test]
fn model_findings_say_what_they_are_and_never_suggest_an_inline_allow() {
    let r = TestRepo::new();
    r.stage("weights.pkl", model("os_system.pkl"));
    let run = r.leakgate(&["check-staged"]);
    run.code(1)
        .stderr_has("1 model-file problem found")
        .stderr_has("Dangerous import in a model file")
        .stderr_has("the POSIX implementation of os")
        .stderr_has("[allow] paths")
        .output_lacks("leakgate:allow")
        .output_lacks("secret found");
    let v = r.check_json(1);
    let f = &by_rule(&v, "pickle-dangerous-import")[0];
    assert!(f["title"].as_str().unwrap().contains("model file"), "{f:#}");
    assert!(f["detail"].as_str().unwrap().contains("POSIX"), "{f:#}");
}

/// Protocol 2 pickle of a one-entry dict, built opcode by opcode (never unpickled).
fn pickled_pair(key: &str, value: &[u8], value_op: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0x02, b'}', b'q', 0x00, b'X'];
    p.extend((key.len() as u32).to_le_bytes());
    p.extend(key.as_bytes());
    p.push(value_op);
    p.extend((value.len() as u32).to_le_bytes());
    p.extend(value);
    p.extend(b"s.");
    p
}

#[test]
fn pickled_config_password_is_found_with_its_key() {
    // The value alone is a random string no specific rule knows: only `key: "value"` is a
    // hard-coded secret (issue 16).
    let r = TestRepo::new();
    r.stage(
        "cache/settings.pkl",
        pickled_pair("db_password", b"Wq7vLz2pXk9rTb4m", b'X'),
    );
    let v = r.check_json(1);
    let f = by_rule(&v, "generic-secret-assignment");
    assert_eq!(f.len(), 1, "{v:#}");
    assert!(
        f[0]["member"].as_str().unwrap().contains("pickle string"),
        "{v:#}"
    );
}

#[test]
fn token_pickled_as_bytes_is_found() {
    let r = TestRepo::new();
    r.stage(
        "cache/client.pkl",
        pickled_pair("blob", HF_A.as_bytes(), b'B'),
    );
    let v = r.check_json(1);
    assert_eq!(by_rule(&v, "huggingface-token").len(), 1, "{v:#}");
}

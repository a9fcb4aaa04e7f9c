//! Torch files embedded in pickles through `torch.storage._load_from_bytes` (a tensor pickled
//! with plain pickle or joblib): the embedded file is inspected, not the loader blocked
//! (fixtures from tests/fixtures/models/generate.py).

use crate::harness::*;

fn model(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("models/{name}"))).unwrap()
}

fn by_rule<'a>(v: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

#[test]
fn plain_pickled_and_joblib_tensors_commit_clean() {
    for name in ["plain_pickled_tensor.pkl", "joblib_tensor.joblib"] {
        let r = TestRepo::new();
        r.stage(&format!("checkpoints/{name}"), model(name));
        let v = r.check_json(0);
        assert!(
            v["findings"].as_array().unwrap().is_empty(),
            "{name}: {v:#}"
        );
    }
}

#[test]
fn payload_in_embedded_torch_file_blocks_naming_it() {
    let r = TestRepo::new();
    r.stage("state.pkl", model("embedded_torch_malicious.pkl"));
    let v = r.check_json(1);
    let f = by_rule(&v, "pickle-dangerous-import");
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["path"], "state.pkl", "{v:#}");
    assert_eq!(f[0]["member"], "embedded torch file", "{v:#}");
    assert!(
        f[0]["detail"].as_str().unwrap().starts_with("posix.system"),
        "{v:#}"
    );
    r.leakgate(&["check-staged"])
        .code(1)
        .stderr_has("embedded torch file")
        .stderr_has("posix.system");
}

#[test]
fn load_from_bytes_without_literal_bytes_blocks() {
    let r = TestRepo::new();
    r.stage("state.pkl", model("load_from_bytes_misuse.pkl"));
    let v = r.check_json(1);
    let f = by_rule(&v, "pickle-dangerous-import");
    assert!(
        f[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("torch.storage._load_from_bytes"),
        "{v:#}"
    );
}

#[test]
fn embedded_bytes_that_are_no_torch_file_fail_closed() {
    let r = TestRepo::new();
    r.stage("state.pkl", model("embedded_not_torch.pkl"));
    let v = r.check_json(1);
    let f = by_rule(&v, "model-unreadable");
    assert!(
        f.iter().any(|f| f["detail"]
            .as_str()
            .unwrap()
            .contains("embedded torch file")),
        "{v:#}"
    );
}

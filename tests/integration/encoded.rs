//! Secrets in disguise: base64 in Kubernetes Secrets, Helm values and docker configs,
//! percent-encoding in URLs, and generic `key = literal` assignments.

use serde_json::Value;

use crate::harness::*;

/// `hf_DqY7…` base64-encoded, and a docker config whose auth is `robot:hf_DqY7…`, encoded twice.
const HF_PLAIN: &str = "hf_DqY7yUYBqj3Pr86kKIdUgxW9zdDVU7cB4L";
const HF_B64: &str = "aGZfRHFZN3lVWUJxajNQcjg2a0tJZFVneFc5emREVlU3Y0I0TA==";
const PW_B64: &str = "OExyT0F1cnZEdTA2WTk=";
const DOCKERCONFIG_B64: &str = "eyJhdXRocyI6IHsicmVnaXN0cnkuaW52YWxpZCI6IHsiYXV0aCI6ICJjbTlpYjNRNmFHWmZSSEZaTjNsVldVSnhhak5RY2pnMmEwdEpaRlZuZUZjNWVtUkVWbFUzWTBJMFRBPT0ifX19";

fn findings(v: &Value) -> Vec<(String, u64, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["encoding"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn kubernetes_secret_with_several_data_keys() {
    let r = TestRepo::new();
    r.stage(
        "k8s/secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: default\ntype: Opaque\ndata:\n  username: YXBw\n  hf-token: {HF_B64}\n  db-password: {PW_B64}\n"
        ),
    );
    let run = r.leakgate(&["check-staged", "--format", "json"]);
    run.code(1);
    let v = run.json();
    assert_eq!(
        findings(&v),
        vec![
            ("huggingface-token".into(), 9, "base64".into()),
            ("kubernetes-secret-data".into(), 10, "".into()),
        ],
        "{v:#}"
    );
    // The human report names the decoding and still points at the staged line.
    r.leakgate(&["check-staged"])
        .code(1)
        .stderr_has("k8s/secret.yaml:9:13  huggingface-token")
        .stderr_has("(decoded from base64)")
        .stderr_has("sealed-secrets")
        .output_lacks(HF_PLAIN);
}

#[test]
fn dockerconfigjson_inside_a_secret_is_decoded_twice() {
    let r = TestRepo::new();
    r.stage(
        "pull-secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {DOCKERCONFIG_B64}\n"
        ),
    );
    let v = r.check_json(1);
    assert_eq!(
        findings(&v),
        vec![("huggingface-token".into(), 5, "base64>base64".into())],
        "{v:#}"
    );
}

#[test]
fn plain_docker_config_auth_is_reported() {
    let r = TestRepo::new();
    r.stage(
        ".docker/config.json",
        "{\n  \"auths\": {\n    \"registry.invalid\": {\n      \"auth\": \"cm9ib3Q6OTZ4R05EQjdHY2F2QlJiQ0FJTXZwYg==\"\n    }\n  }\n}\n",
    );
    let v = r.check_json(1);
    assert_eq!(
        findings(&v),
        vec![("docker-config-auth".into(), 4, "".into())],
        "{v:#}"
    );
}

#[test]
fn helm_values_with_a_base64_token() {
    let r = TestRepo::new();
    r.stage(
        "chart/values.yaml",
        format!("replicaCount: 2\nimage:\n  repository: app\nsecrets:\n  hfToken: \"{HF_B64}\"\n"),
    );
    let v = r.check_json(1);
    assert_eq!(
        findings(&v),
        vec![("huggingface-token".into(), 5, "base64".into())],
        "{v:#}"
    );
}

#[test]
fn percent_encoded_token_in_a_url() {
    let r = TestRepo::new();
    let encoded = HF_PLAIN.replace('_', "%5F");
    r.stage(
        "client.py",
        format!("URL = 'https://hub.invalid/api?x=1&token={encoded}&y=2'\n"),
    );
    let v = r.check_json(1);
    assert_eq!(
        findings(&v),
        vec![("huggingface-token".into(), 1, "percent".into())],
        "{v:#}"
    );
}

#[test]
fn decode_depth_zero_turns_decoding_off() {
    let r = TestRepo::new();
    r.stage("values.yaml", format!("payload: {HF_B64}\n"));
    r.check_json(1);
    let run = r.leakgate(&["check-staged", "--format", "json", "--decode-depth", "0"]);
    run.code(0);
}

#[test]
fn generic_assignments_in_code_env_and_dockerfiles() {
    let r = TestRepo::new();
    r.stage(
        "app/settings.py",
        "DEBUG = False\nDB_PASSWORD = \"WhkxbGGzv3elnuEy\"\n",
    );
    r.stage(".env", "PORT=8080\nSTRIPE_SECRET=ttEqNNVbmBUBrgWlFpt1\n");
    r.stage(
        "Dockerfile",
        "FROM python:3.12\nENV SERVICE_TOKEN=gtlIL7Vw0XZKI9yzqdtz\n",
    );
    r.stage(
        "quiet.py",
        "password = os.environ['DB_PASSWORD']\ntoken = '<your-token>'\ntokenizer_name = 'bert-base-uncased'\nsecret = '${SECRET}'\n",
    );
    let v = r.check_json(1);
    let mut got: Vec<(String, String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (".env".into(), "generic-secret-line".into(), 2),
            ("Dockerfile".into(), "generic-secret-line".into(), 2),
            (
                "app/settings.py".into(),
                "generic-secret-assignment".into(),
                2
            ),
        ],
        "{v:#}"
    );
}

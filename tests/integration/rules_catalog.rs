//! Issue 14's credential forms through the whole hook: forms without a provider prefix (short
//! unquoted passwords in .env and docker-compose files, JSON-escaped URLs in any .json file) and
//! formats that need more than a prefix (a Twitter bearer token's runs of `A`, a W&B key whose
//! context sits on the lines above it). Every secret here is synthetic.

use crate::harness::*;

/// (rule, line) of each finding, in report order.
fn rule_lines(v: &serde_json::Value) -> Vec<(String, u64)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// An unquoted password of 9 to 11 characters is a literal in a .env file and in a compose
/// `environment:` list or map; the references and file pointers around it are not secrets.
#[test]
fn short_unquoted_passwords_in_env_and_compose_files_block_the_commit() {
    let r = TestRepo::new();
    r.stage(
        ".env",
        "APP_ENV=production\nDB_PASSWORD=Lbaq3MJlc\nDB_PASSWORD_FILE=/run/secrets/db\n",
    );
    r.stage(
        "docker-compose.yml",
        "services:\n  db:\n    image: postgres:16\n    environment:\n      - POSTGRES_USER=app\n      - POSTGRES_PASSWORD=NjIlu6T49s\n      - PGDATA=/var/lib/postgresql/data\n  cache:\n    image: redis:7\n    environment:\n      REDIS_PASSWORD: a8psc2XIfMV\n      REDIS_TOKEN: ${REDIS_TOKEN}\n",
    );
    let v = r.check_json(1);
    assert_eq!(
        rule_lines(&v),
        vec![
            ("env-variable-secret".into(), 2),
            ("env-variable-secret".into(), 6),
            ("env-variable-secret".into(), 11),
        ],
        "{v:#}"
    );
    r.leakgate(&["check-staged"])
        .code(1)
        .stderr_has(".env:2:13  env-variable-secret")
        .stderr_has("docker-compose.yml:6:27  env-variable-secret")
        .output_lacks("Lbaq3MJlc")
        .output_lacks("NjIlu6T49s");
}

/// A JSON encoder that escapes `/` (PHP's json_encode, several Java serialisers) breaks every
/// URL in the file: the credentials in one are still found, in any .json file.
#[test]
fn json_escaped_slashes_hide_no_url_credentials() {
    let r = TestRepo::new();
    r.stage(
        "config/repositories.json",
        "{\n  \"name\": \"mirror\",\n  \"url\": \"https:\\/\\/ci-bot:Zr8qLmN2vXw4Tb@nexus.corp.example\\/repository\\/pypi\\/\"\n}\n",
    );
    let v = r.check_json(1);
    assert_eq!(
        rule_lines(&v),
        vec![("url-userinfo-password".into(), 3)],
        "{v:#}"
    );
    assert_eq!(finding_field(&v, "encoding"), vec!["escape".to_string()]);
}

/// Regression (issue 14): a Twitter app bearer token starts with runs of `A` that the
/// placeholder check takes for filler, so no rule reported it.
#[test]
fn twitter_bearer_token_is_reported_despite_its_runs_of_a() {
    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAEcAz4AAAAAAAgBRTW5EnCkGs67xOUs2P5GRnAdeU%3DgJ4WAeZrg3guZHJPOPLSo8TfrmmzRkGoW7CqIP9ua8gqh4KTVE";
    let r = TestRepo::new();
    r.stage(
        "scripts/fetch.sh",
        format!("curl -s -H \"Authorization: Bearer {TOKEN}\" https://api.x.com/2/tweets/search/recent\n"),
    );
    let v = r.check_json(1);
    assert_eq!(
        rule_lines(&v),
        vec![("twitter-app-bearer-token".into(), 1)],
        "{v:#}"
    );
    r.leakgate(&["check-staged"])
        .code(1)
        .output_lacks("gBRTW5EnCkGs67xOUs2P5GRnAdeU");
}

/// A .netrc entry written over several lines (as `wandb login` writes it) names the W&B key,
/// so the W&B remediation is shown rather than the generic .netrc one.
#[test]
fn wandb_key_in_a_multi_line_netrc_entry() {
    let r = TestRepo::new();
    r.stage(
        "ci/netrc",
        "machine api.wandb.ai\n  login user\n  password 1cefce654a3e111cd8d33a8f2ff9093ed0fa816b\n",
    );
    let v = r.check_json(1);
    assert_eq!(rule_lines(&v), vec![("wandb-api-key".into(), 3)], "{v:#}");
}

/// The environment of a container as JSON (`docker inspect`, an ECS task definition) lists
/// `NAME=value` strings, and a JSON-escaped script joins its lines with `\n`: an assignment in
/// either is the same literal as in a .env file, in any .json file.
#[test]
fn env_assignments_inside_json_strings() {
    let r = TestRepo::new();
    r.stage(
        "deploy/container.json",
        concat!(
            "{\n",
            "  \"Env\": [\n",
            "    \"PATH=/usr/local/bin:/usr/bin\",\n",
            "    \"POSTGRES_PASSWORD=Vq8ZkN3rTw\",\n",
            "    \"POSTGRES_PASSWORD_FILE=/run/secrets/pg\"\n",
            "  ],\n",
            "  \"user_data\": \"#!/bin/sh\\nexport SMTP_PASSWORD=Hd5wLp9sXe\\nexec /srv/app\"\n",
            "}\n"
        ),
    );
    let v = r.check_json(1);
    assert_eq!(
        rule_lines(&v),
        vec![
            ("env-variable-secret".into(), 4),
            ("env-variable-secret".into(), 7),
        ],
        "{v:#}"
    );
}

/// A token next to JSON escapes (`\"` around it, `\n` before it) in a plain .json file is found
/// as it is in a notebook, whose JSON leakgate parses: the token's boundaries allow the escapes.
#[test]
fn tokens_next_to_json_escapes_in_a_plain_json_file() {
    let r = TestRepo::new();
    r.stage(
        "fixtures/recorded_request.json",
        concat!(
            "{\n",
            "  \"body\": \"{\\\"token\\\": \\\"hf_jWCWjNWojYads02jObo1Xgh9oyl19M4I9o\\\"}\",\n",
            "  \"stdout\": \"login ok\\nhf_4IADRZHvXzMHd35kR0NqStl3S8rGXJWkQi\\n\"\n",
            "}\n"
        ),
    );
    let v = r.check_json(1);
    assert_eq!(
        rule_lines(&v),
        vec![
            ("huggingface-token".into(), 2),
            ("huggingface-token".into(), 3),
        ],
        "{v:#}"
    );
}

/// The `[wandb]` header that names a W&B key may sit on unchanged lines above it: when only the
/// key's line changes, the built-in rule still reads the section and reports the key (and only
/// the key's line).
#[test]
fn wandb_section_header_on_unchanged_lines_names_a_changed_key() {
    let r = TestRepo::new();
    let ini = |key: &str| {
        format!("[core]\nx = 1\n[wandb]\nentity = team\nproject = p\napi_key = {key}\n\n[other]\ny = 2\n")
    };
    r.stage(
        "settings.ini",
        ini("5e0c2a9b7d1f4e3a8c6b0d2f9e7a1c3b5d8f0e2a"),
    );
    r.commit("old");
    r.stage(
        "settings.ini",
        ini("c4a7e1f0b9d3c6a2e8f5b1d7c0a9e3f6b2d8c5a1"),
    );
    let v = r.check_json(1);
    assert_eq!(rule_lines(&v), vec![("wandb-api-key".into(), 6)], "{v:#}");
}

/// A configuration file embedded in a JSON string (a Helm release record, a CI variable dump)
/// joins its lines with `\n`: a secret-named key's literal on one of those lines is a config
/// line like any other, in any .json file.
#[test]
fn config_lines_inside_a_json_string() {
    let r = TestRepo::new();
    r.stage(
        "release/values.json",
        "{\n  \"name\": \"api\",\n  \"config\": \"db:\\n  host: pg.internal\\n  password: Wd3kZq8vLp2xTm7r\\n  pool: 5\\n\"\n}\n",
    );
    let v = r.check_json(1);
    assert_eq!(
        rule_lines(&v),
        vec![("generic-secret-line".into(), 3)],
        "{v:#}"
    );
}

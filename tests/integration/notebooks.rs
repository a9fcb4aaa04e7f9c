//! Notebooks from real Jupyter (tests/fixtures/notebooks, made by generate.py with nbclient):
//! every new cell source and output is scanned, located by cell, and old tokens stay quiet.

use serde_json::Value;

use crate::harness::*;

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("notebooks/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn notebook(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("notebooks/{name}"))).unwrap()
}

/// The redacted form a report shows for `token` (first quarter, at most 6 chars).
fn redacted(token: &str) -> String {
    let keep = (token.chars().count() / 4).min(6);
    format!("{}…({} chars)", &token[..keep], token.chars().count())
}

/// (rule, redacted secret, cell, output, cell_line, raw line), sorted, from a report or expected.json.
type Key = (String, String, Option<u64>, Option<u64>, Option<u64>, u64);

fn report_keys(v: &Value) -> Vec<Key> {
    let mut keys: Vec<Key> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["secret_redacted"].as_str().unwrap().to_string(),
                f["cell"].as_u64(),
                f["output"].as_u64(),
                f["cell_line"].as_u64(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn expected_keys(list: &Value) -> Vec<Key> {
    let mut keys: Vec<Key> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                redacted(f["token"].as_str().unwrap()),
                f["cell"].as_u64(),
                f["output"].as_u64(),
                f["cell_line"].as_u64(),
                f["raw_line"].as_u64().unwrap(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn every_fixture_reports_exactly_its_expected_findings() {
    let exp = expected();
    for name in [
        "login_output.ipynb",
        "login_output_reexecuted.ipynb",
        "login_output_newcell.ipynb",
        "split_and_escaped.ipynb",
        "clean.ipynb",
        "nbformat3.ipynb",
        "broken.ipynb",
        "timed_login.ipynb",
        "timed_login_rerun.ipynb",
    ] {
        let r = TestRepo::new();
        r.stage(&format!("nb/{name}"), notebook(name));
        let want = expected_keys(&exp[name]);
        let run = r.leakgate(&["check-staged", "--format", "json"]);
        run.code(if want.is_empty() { 0 } else { 1 });
        assert_eq!(report_keys(&run.json()), want, "{name}\n{}", run.dump());
        if let Some(hidden) = exp["not_reported"][name].as_array() {
            for h in hidden {
                run.output_lacks(&redacted(h["token"].as_str().unwrap()));
            }
        }
    }
}

#[test]
fn token_only_in_an_output_is_located_by_cell_and_output() {
    let r = TestRepo::new();
    r.stage("analysis.ipynb", notebook("login_output.ipynb"));
    r.leakgate(&["check-staged"])
        .code(1)
        .stderr_has("analysis.ipynb:50 (cell 3, output 1, line 5)")
        .stderr_has("analysis.ipynb:32 (cell 2, source, line 4)")
        .stderr_has("jupyter nbconvert --clear-output --inplace")
        .output_lacks("hf_Ksq971SLWlsEG48fnZjhyElQtCHvsWgTSE");
}

#[test]
fn reexecuted_notebook_with_the_same_tokens_is_clean() {
    let exp = expected();
    let r = TestRepo::new();
    r.stage("nb.ipynb", notebook("login_output.ipynb"));
    r.commit("notebook with outputs already in history");
    r.stage("nb.ipynb", notebook("login_output_reexecuted.ipynb"));
    assert_eq!(
        exp["staged_over"]["login_output_reexecuted.ipynb"]["findings"],
        Value::Array(vec![])
    );
    r.check_json(0);
}

#[test]
fn new_cell_with_a_new_token_is_found_and_old_ones_are_not() {
    let exp = expected();
    let case = &exp["staged_over"]["login_output_newcell.ipynb"];
    assert_eq!(case["base"], "login_output.ipynb");
    let r = TestRepo::new();
    r.stage("nb.ipynb", notebook("login_output.ipynb"));
    r.commit("base");
    r.stage("nb.ipynb", notebook("login_output_newcell.ipynb"));
    let v = r.check_json(1);
    assert_eq!(report_keys(&v), expected_keys(&case["findings"]), "{v:#}");
}

#[test]
fn broken_notebook_falls_back_to_text_with_a_note() {
    let r = TestRepo::new();
    r.stage("broken.ipynb", notebook("broken.ipynb"));
    let v = r.check_json(1);
    let note = v["notes"][0].as_str().unwrap_or_default();
    assert!(
        note.contains("broken.ipynb is not a readable notebook"),
        "{v:#}"
    );
    assert!(v["findings"][0].get("cell").is_none(), "{v:#}");
}

#[test]
fn notebook_nested_deeper_than_any_parser_allows_is_scanned_as_text() {
    let r = TestRepo::new();
    let depth = 100_000;
    let mut text = String::from("{\"cells\": ");
    text.push_str(&"[".repeat(depth));
    text.push_str(&"]".repeat(depth));
    text.push_str(&format!(",\n\"x\": \"{HF_C}\"}}\n"));
    r.stage("deep.ipynb", text);
    let v = r.check_json(1);
    assert_eq!(v["findings"][0]["line"], 2, "{v:#}");
}

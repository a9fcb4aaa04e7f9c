//! `leakgate fix`: the notebook outputs that carry findings are cleared in the index and the
//! working tree, and nothing else changes. Real notebooks (tests/fixtures/notebooks, executed by
//! nbclient), the real `nbformat` validator on every notebook fix writes, real commits through
//! the installed hook.

use std::ffi::OsString;

use serde_json::Value;

use crate::harness::*;

fn notebook(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("notebooks/{name}"))).unwrap()
}

/// Every token a fixture holds (expected.json), so a test can check none is printed.
fn fixture_tokens(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture("notebooks/expected.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["token"].as_str().unwrap().to_string())
        .collect()
}

fn test_python() -> OsString {
    std::env::var_os("LEAKGATE_TEST_PYTHON").unwrap_or_else(|| "python3".into())
}

/// `nbformat.validate` (the reference validator, from tests/requirements.txt) on `text`.
#[track_caller]
fn assert_valid_nbformat(r: &TestRepo, text: &str, what: &str) {
    let file = r.tmp().join("validate.ipynb");
    std::fs::write(&file, text).unwrap();
    let script = "import sys, nbformat\n\
                  nb = nbformat.read(sys.argv[1], as_version=nbformat.NO_CONVERT)\n\
                  nbformat.validate(nb)\n\
                  print('valid')\n";
    let mut c = r.command(test_python().to_str().unwrap(), &r.dir);
    c.arg("-c").arg(script).arg(&file);
    let out = c.output().expect("python runs");
    assert!(
        out.status.success() && out.stdout.starts_with(b"valid"),
        "{what} is not valid nbformat (needs nbformat from tests/requirements.txt: run through \
         tests/run.sh)\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn staged(r: &TestRepo, path: &str) -> String {
    r.git(&["show", &format!(":{path}")]).stdout
}

fn worktree(r: &TestRepo, path: &str) -> String {
    std::fs::read_to_string(r.dir.join(path)).unwrap()
}

fn outputs(nb: &str, cell: usize) -> Vec<Value> {
    let v: Value = serde_json::from_str(nb).unwrap();
    v["cells"][cell - 1]["outputs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `fixed` is `original` with whole lines deleted and nothing else, apart from an `outputs`
/// array that lost every element and is written `[]`: so no kept byte changed.
#[track_caller]
fn assert_only_deleted_lines(original: &str, fixed: &str) {
    let mut lines = original.lines();
    for line in fixed.lines() {
        if line.trim() == "\"outputs\": []," {
            continue;
        }
        assert!(
            lines.any(|o| o == line),
            "line {line:?} is not an original line, in order\n{fixed}"
        );
    }
    assert_eq!(original.ends_with('\n'), fixed.ends_with('\n'));
}

/// The outputs of login_output.ipynb that carry findings (expected.json), and the ones that do
/// not: (cell, output), 1-based.
const CARRYING: &[(usize, usize)] = &[(3, 1), (4, 1), (5, 1), (6, 1), (7, 2), (8, 1), (9, 2)];
const CLEAN: &[(usize, usize)] = &[(2, 1), (7, 1), (9, 1), (10, 1)];

#[test]
fn fix_clears_only_the_outputs_that_carry_findings_then_the_commit_goes_through() {
    let original = notebook("login_output.ipynb");
    let tokens = fixture_tokens("login_output.ipynb");
    let r = TestRepo::new();
    r.install_hook();
    r.stage("nb.ipynb", &original);
    // The blocked commit's advice names the command.
    r.leakgate(&["check-staged"])
        .code(1)
        .stderr_has("`leakgate fix` removes exactly those");

    let run = r.leakgate(&["fix"]);
    // The cell 2 source finding is not fixed: it stays listed, and fix says it edits outputs only.
    run.code(1)
        .stderr_has("nb.ipynb: cleared 7 outputs in the index and the working tree")
        .stderr_has("cell 5 output 1 [openai-api-key]")
        .stderr_has("cell 7 output 2 [huggingface-token]")
        .stderr_has("nb.ipynb:32 (cell 2, source, line 4)")
        .stderr_has("fix clears notebook outputs only")
        .stderr_has("must be reloaded (File > Reload)");
    assert_eq!(
        run.stderr.matches("error: nb.ipynb").count(),
        1,
        "{}",
        run.dump()
    );
    for t in &tokens {
        run.output_lacks(t);
    }

    let index = staged(&r, "nb.ipynb");
    // The working tree matched the index before, and gets the same edit: nothing unstaged.
    assert_eq!(worktree(&r, "nb.ipynb"), index);
    r.git(&["diff", "--quiet", "--", "nb.ipynb"]);
    assert_valid_nbformat(&r, &index, "the staged notebook");
    assert_only_deleted_lines(&original, &index);
    for &(cell, out) in CARRYING {
        let before = outputs(&original, cell);
        assert!(
            !outputs(&index, cell).contains(&before[out - 1]),
            "cell {cell} output {out} was kept"
        );
    }
    for &(cell, out) in CLEAN {
        let before = outputs(&original, cell);
        assert!(
            outputs(&index, cell).contains(&before[out - 1]),
            "cell {cell} output {out} was cleared"
        );
    }
    // Everything but outputs is the same, execution counts included.
    let (a, b): (Value, Value) = (
        serde_json::from_str(&original).unwrap(),
        serde_json::from_str(&index).unwrap(),
    );
    for (x, y) in a["cells"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["cells"].as_array().unwrap())
    {
        let strip = |c: &Value| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("outputs");
            c
        };
        assert_eq!(strip(x), strip(y));
    }
    assert_eq!(a["metadata"], b["metadata"]);

    // The person removes the source secret as the report says; the hook lets the commit through.
    let source_token = &tokens[0];
    let edited = worktree(&r, "nb.ipynb").replace(source_token.as_str(), "<set HF_TOKEN>");
    r.stage("nb.ipynb", &edited);
    let commit = r.try_git(&["commit", "-q", "-m", "notebook without secrets"]);
    commit.code(0);
    let committed = r.git(&["show", "HEAD:nb.ipynb"]).stdout;
    for t in &tokens {
        assert!(!committed.contains(t.as_str()), "{t} was committed");
    }
    // Nothing left: fix now has nothing to do.
    r.leakgate(&["fix"])
        .code(0)
        .stderr_has("no notebook output carries a finding");
}

#[test]
fn partially_staged_notebook_keeps_its_unstaged_edits() {
    let original = notebook("split_and_escaped.ipynb");
    let r = TestRepo::new();
    r.install_hook();
    r.stage("nb.ipynb", &original);
    r.git(&["update-index", "--chmod=+x", "nb.ipynb"]);
    // After `git add`, the person edits the markdown cell and re-runs cell 4, which now prints
    // something else: neither is staged.
    let cell4_before = outputs(&original, 4)[0].clone();
    let mut v: Value = serde_json::from_str(&original).unwrap();
    v["cells"][0]["source"] = serde_json::json!(["Outputs as other tools write them, edited."]);
    v["cells"][3]["outputs"][0]["text"] = serde_json::json!(["cached credential: <none>\n"]);
    let unstaged = serde_json::to_string_pretty(&v).unwrap() + "\n";
    r.write("nb.ipynb", &unstaged);

    let run = r.leakgate(&["fix"]);
    run.code(0)
        .stderr_has("nb.ipynb: cleared 2 outputs in the index")
        .stderr_has("1 of the cleared outputs are not in it as staged")
        .stderr_has("nothing blocks any more");
    for t in fixture_tokens("split_and_escaped.ipynb") {
        run.output_lacks(&t);
    }

    let index = staged(&r, "nb.ipynb");
    assert_valid_nbformat(&r, &index, "the staged notebook");
    assert_only_deleted_lines(&original, &index);
    assert!(outputs(&index, 3).is_empty() && outputs(&index, 4).is_empty());
    // The staged entry keeps its mode.
    assert!(
        r.git(&["ls-files", "-s", "nb.ipynb"])
            .stdout
            .starts_with("100755 "),
        "mode lost"
    );

    let wt = worktree(&r, "nb.ipynb");
    assert_valid_nbformat(&r, &wt, "the working-tree notebook");
    assert_only_deleted_lines(&unstaged, &wt);
    assert!(
        wt.contains("edited."),
        "the unstaged markdown edit was lost"
    );
    assert!(
        outputs(&wt, 3).is_empty(),
        "the same output is cleared there too"
    );
    let cell4 = outputs(&wt, 4);
    assert_eq!(
        cell4.len(),
        1,
        "the re-run output is not the staged one: kept"
    );
    assert_ne!(cell4[0], cell4_before);

    r.try_git(&["commit", "-q", "-m", "fixed"]).code(0);
    // The unstaged edits are still unstaged.
    assert!(r.try_git(&["diff", "--quiet"]).code == 1);
}

/// A token printed in two flushes is stored as two stream outputs and only found once they are
/// joined: both outputs carry it, so both are cleared (one half is still half a secret).
#[test]
fn a_secret_split_over_two_stream_outputs_clears_both() {
    let (head, tail) = HF_A.split_at(10);
    let nb = serde_json::to_string_pretty(&serde_json::json!({
        "cells": [{
            "cell_type": "code", "execution_count": 1, "id": "a1b2c3d4", "metadata": {},
            "outputs": [
                {"name": "stdout", "output_type": "stream", "text": ["starting\n"]},
                {"name": "stdout", "output_type": "stream", "text": [format!("token={head}")]},
                {"name": "stdout", "output_type": "stream", "text": [format!("{tail}\n")]},
                {"name": "stdout", "output_type": "stream", "text": ["done\n"]}
            ],
            "source": ["login()"]
        }],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    }))
    .unwrap()
        + "\n";
    let r = TestRepo::new();
    r.stage("nb/split.ipynb", &nb);
    // From a subdirectory, with a path relative to it, as a person in a notebook folder types it.
    r.leakgate_in(&r.dir.join("nb"), &["fix", "split.ipynb"])
        .code(0)
        .stderr_has("cleared 2 outputs in the index and the working tree: cell 1 output 2")
        .stderr_has("cell 1 output 3")
        .output_lacks(HF_A);
    let index = staged(&r, "nb/split.ipynb");
    assert_eq!(worktree(&r, "nb/split.ipynb"), index);
    assert_valid_nbformat(&r, &index, "the staged notebook");
    // The two outputs kept on either side of the cleared ones keep their separator.
    assert_only_deleted_lines(&nb, &index);
    let texts: Vec<Value> = outputs(&index, 1)
        .iter()
        .map(|o| o["text"].clone())
        .collect();
    assert_eq!(
        texts,
        [
            serde_json::json!(["starting\n"]),
            serde_json::json!(["done\n"])
        ]
    );
    r.leakgate(&["check-staged"]).code(0);
}

#[test]
fn a_secret_in_a_cell_source_is_listed_not_changed_and_exits_1() {
    let nb = serde_json::to_string_pretty(&serde_json::json!({
        "cells": [{
            "cell_type": "code", "execution_count": 1, "id": "5eed0001", "metadata": {},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["ok\n"]}],
            "source": [format!("TOKEN = \"{HF_B}\"\n"), "print('ok')"]
        }],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    }))
    .unwrap()
        + "\n";
    let r = TestRepo::new();
    r.stage("src.ipynb", &nb);
    let before = r.git(&["ls-files", "-s"]).stdout;
    r.leakgate(&["fix"])
        .code(1)
        .stderr_has("no notebook output carries a finding")
        .stderr_has("src.ipynb:")
        .stderr_has("(cell 1, source, line 1)")
        .stderr_has("fix clears notebook outputs only")
        .output_lacks(HF_B);
    assert_eq!(
        r.git(&["ls-files", "-s"]).stdout,
        before,
        "the index changed"
    );
    assert_eq!(worktree(&r, "src.ipynb"), nb, "the working tree changed");
}

/// An output accepted with `leakgate allow` does not block, so fix leaves it alone.
#[test]
fn an_allowed_output_is_not_cleared() {
    let nb = notebook("timed_login.ipynb");
    let r = TestRepo::new();
    r.stage("t.ipynb", &nb);
    let run = r.leakgate(&["check-staged"]);
    run.code(1);
    let fp = run
        .stderr
        .lines()
        .find_map(|l| l.split("  fingerprint ").nth(1))
        .unwrap()
        .trim()
        .to_string();
    r.leakgate(&["allow", &fp, "--reason", "revoked"]).code(0);
    r.leakgate(&["fix"])
        .code(0)
        .stderr_has("no notebook output carries a finding");
    assert_eq!(staged(&r, "t.ipynb"), nb);
}

/// nbformat 3 (cells under `worksheets`, `pyout` outputs) is fixed in its own format: the
/// cell numbers of the report name the same outputs, and the result validates as nbformat 3.
#[test]
fn nbformat3_notebook_is_fixed_in_its_own_format() {
    let nb = notebook("nbformat3.ipynb");
    let r = TestRepo::new();
    r.stage("legacy.ipynb", &nb);
    r.leakgate(&["fix"])
        .code(0)
        .stderr_has("cleared 1 output in the index and the working tree: cell 3 output 1");
    let index = staged(&r, "legacy.ipynb");
    assert_valid_nbformat(&r, &index, "the staged nbformat 3 notebook");
    assert_eq!(worktree(&r, "legacy.ipynb"), index);
    assert_only_deleted_lines(&nb, &index);
    let v: Value = serde_json::from_str(&index).unwrap();
    let cells = &v["worksheets"][0]["cells"];
    assert_eq!(
        cells[1]["outputs"].as_array().unwrap().len(),
        1,
        "cell 2 keeps its output"
    );
    assert_eq!(cells[2]["outputs"], serde_json::json!([]));
    assert_eq!(cells[2]["prompt_number"], 2, "the prompt number stays");
}

/// A working-tree copy saved with other line endings (an editor on Windows) holds the same
/// outputs: equal as JSON, so they are cleared there too, and its line endings stay.
#[test]
fn working_tree_copy_with_crlf_line_endings_is_fixed_too() {
    let nb = notebook("timed_login.ipynb");
    let r = TestRepo::new();
    r.stage("t.ipynb", &nb);
    let crlf = nb.replace('\n', "\r\n");
    r.write("t.ipynb", &crlf);
    r.leakgate(&["fix"])
        .code(0)
        .stderr_has("t.ipynb: cleared 1 output in the index and the working tree");
    let wt = worktree(&r, "t.ipynb");
    assert_valid_nbformat(&r, &wt, "the working-tree notebook");
    assert!(outputs(&wt, 2).is_empty());
    assert_eq!(
        wt.matches("\r\n").count(),
        wt.matches('\n').count(),
        "CRLF kept"
    );
    let index = staged(&r, "t.ipynb");
    assert_valid_nbformat(&r, &index, "the staged notebook");
    assert!(outputs(&index, 2).is_empty());
    assert_only_deleted_lines(&nb, &index);
}

/// git cannot write the index (another git holds its lock): exit 2 with one line naming the
/// notebook and git's reason, and neither the index nor the working tree changed.
#[test]
fn a_locked_index_fails_closed_and_changes_nothing() {
    let nb = notebook("timed_login.ipynb");
    let r = TestRepo::new();
    r.stage("t.ipynb", &nb);
    let before = r.git(&["ls-files", "-s"]).stdout;
    let lock = r.dir.join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let run = r.leakgate(&["fix"]);
    assert_fails_closed(&run, &["cannot stage the fixed t.ipynb", "index.lock"]);
    run.output_lacks("hf_");
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(r.git(&["ls-files", "-s"]).stdout, before);
    assert_eq!(worktree(&r, "t.ipynb"), nb);
}

/// A notebook fix cannot edit as bytes (UTF-16, which the scanner transcodes to find the
/// token) is left as it is and still blocks: exit 1, with the reason.
#[test]
fn a_notebook_that_cannot_be_edited_is_left_alone_and_still_blocks() {
    let nb = notebook("timed_login.ipynb");
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in nb.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let r = TestRepo::new();
    r.stage("w.ipynb", &utf16);
    let before = r.git(&["ls-files", "-s"]).stdout;
    r.leakgate(&["fix"])
        .code(1)
        .stderr_has("w.ipynb: the staged notebook cannot be edited")
        .output_lacks("File > Reload")
        .stderr_has("(cell 2, output 1, line 1)")
        .output_lacks("hf_aK7Imi3owZw");
    assert_eq!(r.git(&["ls-files", "-s"]).stdout, before);
    assert_eq!(std::fs::read(r.dir.join("w.ipynb")).unwrap(), utf16);
}

// ---------------------------------------------------------------------------------------------
// Onboarding a whole history (issue 17): a progress bar on a terminal, none in a log.

/// `ARGS` under a pseudo-terminal (util-linux `script`), so stderr is a terminal: what it drew.
fn on_a_terminal(r: &TestRepo, args: &str) -> String {
    let cmd = format!("{BIN} {args}");
    let mut c = r.command("script", &r.dir);
    c.args(["-qec", &cmd, "/dev/null"]);
    let out = c
        .output()
        .expect("util-linux `script` provides the pseudo-terminal");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn whole_history_commands_show_progress_on_a_terminal_only() {
    let r = TestRepo::new();
    for i in 0..24 {
        r.stage("f.txt", format!("{i}\n"));
        r.commit(&format!("c{i}"));
    }
    for args in ["check-range --all", "baseline create --history"] {
        let plain = r.leakgate(&args.split(' ').collect::<Vec<_>>());
        plain.code(0);
        assert!(!plain.stderr.contains("/24 commits"), "{}", plain.dump());
        let shown = on_a_terminal(&r, args);
        // Every commit, the root included; the last count is always drawn.
        assert!(shown.contains("24/24 commits"), "{args}: {shown}");
        assert!(shown.contains("leakgate: ["), "{args}: {shown}");
    }
}

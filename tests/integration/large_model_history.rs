//! Model files over `--max-blob-size` without a working-tree copy that is the blob (history
//! scans with `check-range`, a file edited after `git add`): a zip model is inspected from the
//! blob streamed out of git; a pickle too large to walk blocks as not fully inspected.

use std::io::Write;

use crate::harness::*;

/// The test's `--max-blob-size`; every file below is over it.
const CAP: &str = "1048576";
const DATA_MEMBER: usize = 3 << 20;

/// `posix.system("pwned")`, protocol 2.
const MALICIOUS: &[u8] = b"\x80\x02cposix\nsystem\nX\x05\x00\x00\x00pwned\x85R.";
/// An empty dict, protocol 2.
const BENIGN: &[u8] = b"\x80\x02}q\x00.";

/// A torch.save-like zip: a tiny `archive/data.pkl` and a large stored data member.
fn checkpoint(pickle: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("archive/data.pkl", stored).unwrap();
    w.write_all(pickle).unwrap();
    w.start_file("archive/data/0", stored).unwrap();
    let data: Vec<u8> = (0..DATA_MEMBER).map(|i| (i * 13 + i / 509) as u8).collect();
    w.write_all(&data).unwrap();
    w.finish().unwrap().into_inner()
}

/// A protocol 2 pickle of one long string: harmless, but too large to walk under CAP.
fn large_pickle() -> Vec<u8> {
    let mut p = b"\x80\x02X".to_vec();
    p.extend_from_slice(&(DATA_MEMBER as u32).to_le_bytes());
    p.extend(vec![b'w'; DATA_MEMBER]);
    p.push(b'.');
    p
}

/// A repository with one base commit, then `path` committed with `content`.
fn committed(path: &str, content: &[u8]) -> TestRepo {
    let r = TestRepo::new();
    r.stage("README", "base\n");
    r.commit("base");
    r.stage(path, content);
    r.commit("add the model");
    r
}

fn rules(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn check_range_inspects_a_zip_model_over_max_blob_size_from_the_blob() {
    let r = committed("model.pt", &checkpoint(MALICIOUS));
    // No working-tree copy: the history scan must read the blob itself.
    std::fs::remove_file(r.dir.join("model.pt")).unwrap();
    let run = r.leakgate(&[
        "check-range",
        "HEAD~1..HEAD",
        "--max-blob-size",
        CAP,
        "--format",
        "json",
    ]);
    let v = run.code(1).json();
    assert_eq!(v["skipped"], serde_json::json!([]), "{v:#}");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "pickle-dangerous-import"
                && f["detail"].as_str().unwrap().starts_with("posix.system")),
        "{v:#}"
    );
}

#[test]
fn check_range_passes_a_benign_zip_model_over_max_blob_size() {
    let r = committed("model.pt", &checkpoint(BENIGN));
    let run = r.leakgate(&[
        "check-range",
        "HEAD~1..HEAD",
        "--max-blob-size",
        CAP,
        "--format",
        "json",
    ]);
    let v = run.code(0).json();
    assert_eq!(v["skipped"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["notes"], serde_json::json!([]), "{v:#}");
}

/// The working-tree copy stands in for the blob only when it hashes to the staged id: edited
/// after `git add`, the staged blob is read from git instead, never the wrong bytes.
#[test]
fn zip_model_edited_after_staging_is_inspected_from_the_staged_blob() {
    let r = TestRepo::new();
    r.stage("model.pt", checkpoint(MALICIOUS));
    // Same length, so only the hash can tell: a 21-character string, protocol 2.
    let same_size = b"\x80\x02X\x15\x00\x00\x00aaaaaaaaaaaaaaaaaaaaa.";
    assert_eq!(same_size.len(), MALICIOUS.len());
    std::fs::write(r.dir.join("model.pt"), checkpoint(same_size)).unwrap();
    let run = r.leakgate(&["check-staged", "--max-blob-size", CAP, "--format", "json"]);
    let v = run.code(1).json();
    assert!(
        rules(&v).contains(&"pickle-dangerous-import".to_string()),
        "{v:#}"
    );
}

#[test]
fn pickle_over_max_blob_size_blocks_as_not_inspected() {
    // Staged.
    let r = TestRepo::new();
    r.stage("weights.pkl", large_pickle());
    let v = r
        .leakgate(&["check-staged", "--max-blob-size", CAP, "--format", "json"])
        .code(1)
        .json();
    assert_eq!(rules(&v), ["model-unreadable"], "{v:#}");
    assert!(
        v["findings"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("over --max-blob-size"),
        "{v:#}"
    );
    // And in history.
    let r = committed("weights.pkl", &large_pickle());
    let v = r
        .leakgate(&[
            "check-range",
            "HEAD~1..HEAD",
            "--max-blob-size",
            CAP,
            "--format",
            "json",
        ])
        .code(1)
        .json();
    assert_eq!(rules(&v), ["model-unreadable"], "{v:#}");
}

#[test]
fn other_data_over_max_blob_size_is_still_listed_as_not_scanned() {
    let data: Vec<u8> = (0..DATA_MEMBER).map(|i| b'a' + (i % 26) as u8).collect();
    let r = committed("data.txt", &data);
    let v = r
        .leakgate(&[
            "check-range",
            "HEAD~1..HEAD",
            "--max-blob-size",
            CAP,
            "--format",
            "json",
        ])
        .code(0)
        .json();
    assert_eq!(v["skipped"][0]["path"], "data.txt", "{v:#}");
}

#[test]
fn scan_on_disk_inspects_zip_models_and_blocks_pickles_over_max_blob_size() {
    let r = TestRepo::new();
    r.write("models/model.pt", checkpoint(MALICIOUS));
    let v = r
        .leakgate(&["scan", "models", "--max-blob-size", CAP, "--format", "json"])
        .code(1)
        .json();
    assert_eq!(rules(&v), ["pickle-dangerous-import"], "{v:#}");
    let r = TestRepo::new();
    r.write("models/model.pt", checkpoint(BENIGN));
    r.write("models/weights.pkl", large_pickle());
    let v = r
        .leakgate(&["scan", "models", "--max-blob-size", CAP, "--format", "json"])
        .code(1)
        .json();
    assert_eq!(rules(&v), ["model-unreadable"], "{v:#}");
    assert_eq!(v["skipped"], serde_json::json!([]), "{v:#}");
}

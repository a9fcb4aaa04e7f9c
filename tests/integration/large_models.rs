//! Zip model files over `--max-blob-size`: the small pickle members are still inspected (from
//! one bounded pass over the working-tree copy), the large data members are not loaded.

use std::io::Write;

use crate::harness::*;

/// Over the test's `--max-blob-size` on its own: the tensor data member.
const DATA_MEMBER: usize = 3 << 20;
const CAP: &str = "1048576";

/// A torch.save-like zip: `archive/data.pkl` (stored, tiny) and a large stored data member.
fn checkpoint(pickle: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("archive/data.pkl", stored).unwrap();
    w.write_all(pickle).unwrap();
    w.start_file("archive/data/0", stored).unwrap();
    let data: Vec<u8> = (0..DATA_MEMBER).map(|i| (i * 7 + i / 251) as u8).collect();
    w.write_all(&data).unwrap();
    w.finish().unwrap().into_inner()
}

/// `posix.system("pwned")`, protocol 2.
const MALICIOUS: &[u8] = b"\x80\x02cposix\nsystem\nX\x05\x00\x00\x00pwned\x85R.";
/// An empty dict, protocol 2.
const BENIGN: &[u8] = b"\x80\x02}q\x00.";

#[test]
fn model_zip_over_max_blob_size_with_malicious_pickle_blocks() {
    let r = TestRepo::new();
    let zip = checkpoint(MALICIOUS);
    assert!(zip.len() > 2 << 20);
    r.stage("model.pt", &zip);
    let run = r.leakgate(&["check-staged", "--max-blob-size", CAP, "--format", "json"]);
    let v = run.code(1).json();
    assert_eq!(v["skipped"], serde_json::json!([]), "{v}");
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "pickle-dangerous-import"
                && f["detail"].as_str().unwrap().starts_with("posix.system")),
        "{v}"
    );
    r.leakgate(&["check-staged", "--max-blob-size", CAP])
        .code(1)
        .stderr_has("posix.system");
}

#[test]
fn model_zip_over_max_blob_size_with_benign_pickle_passes() {
    let r = TestRepo::new();
    r.stage("model.pt", checkpoint(BENIGN));
    let run = r.leakgate(&["check-staged", "--max-blob-size", CAP, "--format", "json"]);
    let v = run.code(0).json();
    assert_eq!(v["skipped"], serde_json::json!([]), "{v}");
    assert_eq!(v["notes"], serde_json::json!([]), "{v}");
}

/// Fail closed: a pickle too large to keep (named like a data member, found by its first bytes)
/// cannot be walked from the kept bytes, so the file blocks as not fully inspected.
#[test]
fn model_zip_over_max_blob_size_with_a_large_pickle_member_blocks_as_unreadable() {
    let r = TestRepo::new();
    let mut big = b"\x80\x02X".to_vec();
    big.extend_from_slice(&(DATA_MEMBER as u32).to_le_bytes());
    big.extend(std::iter::repeat_n(b'a', DATA_MEMBER));
    big.push(b'.');
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("archive/weights.bin", stored).unwrap();
    w.write_all(&big).unwrap();
    r.stage("model.pt", w.finish().unwrap().into_inner());
    let run = r.leakgate(&["check-staged", "--max-blob-size", CAP, "--format", "json"]);
    let v = run.code(1).json();
    assert_eq!(v["skipped"], serde_json::json!([]), "{v}");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "model-unreadable"
                && f["detail"].as_str().unwrap().contains("which is not read")),
        "{v}"
    );
}

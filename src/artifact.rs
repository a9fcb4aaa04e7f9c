//! Model artifacts in the scan: turns `model::inspect` reports into findings (dangerous pickle
//! imports block, unknown ones warn), hands back the metadata and pickle strings for the
//! credential catalog to scan, and warns about large model files staged as real blobs instead
//! of Git LFS pointers.
//!
//! Invariants:
//! - Detection is by content (`model::inspect` sniffs), so renaming `evil.pkl` to `weights.txt`
//!   does not get it past the hook; extensions only decide the LFS size warning.
//! - This module depends on `model` and `report` only; `source` calls it and does the credential
//!   scanning of the texts it returns (no import circle).

use crate::model::rules::{self, DANGEROUS, NOT_LFS, UNKNOWN, UNREADABLE};
use crate::model::{self, Verdict};
use crate::report::{fingerprint, Finding, Location, Part, Secret, Severity};

/// The file being checked and the settings that decide how model findings weigh.
pub struct Subject<'a> {
    pub path: &'a [u8],
    pub commit: Option<&'a str>,
    /// `[models] block_unknown_imports`.
    pub block_unknown_imports: bool,
    /// `[models] lfs_warn_size`.
    pub lfs_warn_size: u64,
}

/// What checking one model file produced.
#[derive(Default)]
pub struct ModelScan {
    /// Import and unreadable-file findings.
    pub findings: Vec<Finding>,
    /// Text pulled out of the file (metadata values, pickle strings), each with where it sits,
    /// for the caller to scan with the credential catalog.
    pub texts: Vec<(Location, String)>,
}

/// File name endings of model artifacts, for the LFS size warning.
const MODEL_EXTENSIONS: &[&str] = &[
    ".pt",
    ".pth",
    ".bin",
    ".ckpt",
    ".pkl",
    ".pickle",
    ".joblib",
    ".safetensors",
    ".gguf",
    ".ggml",
    ".onnx",
    ".h5",
    ".hdf5",
    ".keras",
    ".pb",
    ".tflite",
    ".mlmodel",
    ".npy",
    ".npz",
    ".msgpack",
    ".model",
    ".params",
];

fn is_model_name(path: &[u8]) -> bool {
    let lower = path.to_ascii_lowercase();
    MODEL_EXTENSIONS
        .iter()
        .any(|e| lower.ends_with(e.as_bytes()))
}

fn note_finding(id: &str, severity: Severity, loc: Location, detail: String) -> Finding {
    Finding {
        rule: id.to_string(),
        title: rules::title(id).to_string(),
        severity,
        fingerprint: fingerprint(id, detail.as_bytes()),
        location: loc,
        secret: Secret::default(),
        encodings: Vec::new(),
        checksum: None,
        detail: Some(detail),
    }
}

fn location(subject: &Subject<'_>) -> Location {
    Location {
        path: subject.path.to_vec(),
        line: 1,
        column: 0,
        commit: subject.commit.map(str::to_string),
        ..Location::default()
    }
}

/// A warning for a large model-named blob that is not an LFS pointer (an LFS pointer is a small
/// text file, so anything large here is the real content); None when it is not one.
pub fn large_binary_warning(subject: &Subject<'_>, size: u64) -> Option<Finding> {
    if size <= subject.lfs_warn_size || !is_model_name(subject.path) {
        return None;
    }
    let detail = format!(
        "{:.1} MiB staged without Git LFS (threshold {} MiB)",
        size as f64 / (1 << 20) as f64,
        subject.lfs_warn_size >> 20
    );
    Some(note_finding(
        NOT_LFS,
        Severity::Warning,
        location(subject),
        detail,
    ))
}

/// A model file that could not be inspected at all (see `source`: a pickle over
/// `--max-blob-size`): it blocks like one whose inspection hit a problem.
pub fn unreadable(subject: &Subject<'_>, detail: String) -> Finding {
    let mut f = note_finding(UNREADABLE, Severity::Error, location(subject), detail);
    let mut key = subject.path.to_vec();
    key.push(0);
    key.extend_from_slice(b"not inspected");
    f.fingerprint = fingerprint(UNREADABLE, &key);
    f
}

/// A model finding's fingerprint: rule, file, archive member and import, never the offset
/// (which moves whenever the file changes). The path is part of it so that accepting one
/// model (baseline, allow) cannot let a new file with the same import through.
fn scoped_fingerprint(id: &str, path: &[u8], member: Option<&str>, imp: &model::Import) -> String {
    let mut key = path.to_vec();
    key.push(0);
    key.extend_from_slice(member.unwrap_or("").as_bytes());
    key.push(0);
    key.extend_from_slice(format!("{}.{}", imp.module, imp.name).as_bytes());
    fingerprint(id, &key)
}

/// Inspect `bytes` as a model artifact; None when it is not one (the caller goes on as usual).
pub fn scan(subject: &Subject<'_>, bytes: &[u8]) -> Option<ModelScan> {
    Some(findings(subject, model::inspect(bytes)?))
}

/// [`scan`] for a zip over `--max-blob-size`, from the parts of it that were kept.
pub fn scan_image(subject: &Subject<'_>, image: &model::Image) -> Option<ModelScan> {
    Some(findings(subject, model::inspect_image(image)?))
}

fn findings(subject: &Subject<'_>, report: model::ModelReport) -> ModelScan {
    let mut out = ModelScan::default();
    let base = location(subject);
    for imp in &report.imports {
        let (id, severity) = match imp.verdict {
            Verdict::Safe => continue,
            Verdict::Dangerous => (DANGEROUS, Severity::Error),
            Verdict::Unknown if subject.block_unknown_imports => (UNKNOWN, Severity::Error),
            Verdict::Unknown => (UNKNOWN, Severity::Warning),
        };
        let loc = Location {
            member: imp.member.clone(),
            ..base.clone()
        };
        let why = match imp.verdict {
            Verdict::Dangerous => match model::reason(&imp.module, &imp.name) {
                Some(r) => r.to_string(),
                None if imp.module == "?" => "an import whose module and name are computed at \
                     load time, so what it runs cannot be known without running it"
                    .to_string(),
                None => {
                    "used in a way only an attack uses (state set on an imported class)".to_string()
                }
            },
            _ => "not on the known-safe list of ML data types".to_string(),
        };
        let detail = format!(
            "{}.{} (pickle offset {}): {why}",
            imp.module, imp.name, imp.offset
        );
        let mut f = note_finding(id, severity, loc, detail);
        f.fingerprint = scoped_fingerprint(id, subject.path, imp.member.as_deref(), imp);
        out.findings.push(f);
    }
    // Fail closed: a model file whose imports could not all be checked may hide one that runs
    // code, so it blocks like a dangerous import (the reason says what stopped the check).
    for problem in &report.problems {
        let mut f = note_finding(UNREADABLE, Severity::Error, base.clone(), problem.clone());
        let mut key = subject.path.to_vec();
        key.push(0);
        key.extend_from_slice(problem.as_bytes());
        f.fingerprint = fingerprint(UNREADABLE, &key);
        out.findings.push(f);
    }
    for (key, value) in report.metadata {
        let loc = Location {
            part: Some(Part::Metadata),
            member: Some(format!("metadata {key}")),
            ..base.clone()
        };
        out.texts.push((loc, value));
    }
    for s in report.strings {
        let where_ = format!("pickle string at offset {}", s.offset);
        let loc = Location {
            member: Some(match &s.member {
                Some(m) => format!("{m}: {where_}"),
                None => where_,
            }),
            ..base.clone()
        };
        out.texts.push((loc, s.text));
    }
    out
}

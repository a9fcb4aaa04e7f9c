//! Model artifacts in the scan: turns `model::inspect` reports into findings (dangerous pickle
//! imports block, unknown ones warn), scans model metadata strings with the credential catalog,
//! and warns about large model files staged as real blobs instead of Git LFS pointers.
//!
//! Invariant: detection is by content (`model::inspect` sniffs), so renaming `evil.pkl` to `weights.txt`
//! does not get it past the hook; extensions only decide the LFS size warning.

use crate::model::{self, Verdict};
use crate::report::{fingerprint, Finding, Location, Part, Secret, Severity};
use crate::source::{Ctx, Outcome, Scanner};

const DANGEROUS: &str = "pickle-dangerous-import";
const UNKNOWN: &str = "pickle-unknown-import";
const MALFORMED: &str = "model-unreadable";
const NOT_LFS: &str = "model-not-in-lfs";

/// (id, title, remediation) of the rules this module reports; listed with the catalog.
pub const RULES: &[(&str, &str, &str)] = &[
    (
        DANGEROUS,
        "Pickle imports a callable that can run code on load",
        "Loading this file executes the imported callable (pickle's GLOBAL/STACK_GLOBAL + REDUCE):\n\
         do not commit it and do not load it. Do not commit pickles from untrusted sources; convert\n\
         weights to safetensors (`safetensors.torch.save_file`) and load with `weights_only=True`.\n\
         If the file came from a model hub, check who pushed it, and rotate every write token that\n\
         could have pushed it (https://huggingface.co/settings/tokens).",
    ),
    (
        UNKNOWN,
        "Pickle imports a callable outside the known-safe ML types",
        "The pickle imports something that is neither a known tensor/array type nor a known\n\
         dangerous callable. Review the import; prefer safetensors, which cannot carry code.\n\
         Set `[models] block_unknown_imports = true` in .leakgate.toml to make this blocking.",
    ),
    (
        MALFORMED,
        "Model file could not be fully inspected",
        "The file looks like a model artifact but is malformed, truncated or compressed, so its\n\
         imports could not all be checked. Regenerate it, or store it outside git (Git LFS, a model\n\
         registry) if it is meant to be opaque.",
    ),
    (
        NOT_LFS,
        "Large model file staged as a regular git blob",
        "Large model files bloat every clone forever and escape review. Track them with Git LFS\n\
         (`git lfs track '*.safetensors'`) or publish them to a model registry instead.",
    ),
];

pub fn remediation(id: &str) -> Option<&'static str> {
    RULES.iter().find(|(i, _, _)| *i == id).map(|(_, _, r)| *r)
}

fn title(id: &str) -> String {
    RULES
        .iter()
        .find(|(i, _, _)| *i == id)
        .map_or_else(String::new, |(_, t, _)| (*t).to_string())
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
        title: title(id),
        severity,
        fingerprint: fingerprint(id, detail.as_bytes()),
        location: loc,
        secret: Secret::default(),
        encodings: Vec::new(),
        checksum: None,
        detail: Some(detail),
    }
}

/// Warn about a large model-named or model-shaped blob that is not an LFS pointer (an LFS pointer
/// is a small text file, so anything large here is the real content).
pub fn large_binary_warning(scanner: &Scanner<'_>, ctx: &Ctx<'_>, size: u64, out: &mut Outcome) {
    if size > scanner.settings.lfs_warn_size && is_model_name(ctx.path) {
        let loc = Location {
            path: ctx.path.to_vec(),
            line: 1,
            commit: ctx.commit.map(str::to_string),
            ..Location::default()
        };
        let detail = format!(
            "{:.1} MiB staged without Git LFS (threshold {} MiB)",
            size as f64 / (1 << 20) as f64,
            scanner.settings.lfs_warn_size >> 20
        );
        out.findings
            .push(note_finding(NOT_LFS, Severity::Warning, loc, detail));
    }
}

/// Inspect `bytes` as a model artifact; None when it is not one (the caller goes on as usual).
pub fn scan(scanner: &Scanner<'_>, ctx: &Ctx<'_>, bytes: &[u8]) -> Option<Outcome> {
    let report = model::inspect(bytes)?;
    let mut out = Outcome {
        scanned: true,
        bytes: bytes.len() as u64,
        ..Outcome::default()
    };
    let base = Location {
        path: ctx.path.to_vec(),
        line: 1,
        column: 0,
        commit: ctx.commit.map(str::to_string),
        ..Location::default()
    };
    for imp in &report.imports {
        let (id, severity) = match imp.verdict {
            Verdict::Safe => continue,
            Verdict::Dangerous => (DANGEROUS, Severity::Error),
            Verdict::Unknown if scanner.settings.block_unknown_imports => {
                (UNKNOWN, Severity::Error)
            }
            Verdict::Unknown => (UNKNOWN, Severity::Warning),
        };
        let loc = Location {
            member: imp.member.clone(),
            ..base.clone()
        };
        let detail = format!("{}.{} (pickle offset {})", imp.module, imp.name, imp.offset);
        let mut f = note_finding(id, severity, loc, detail);
        // One fingerprint per imported callable: the offset changes whenever the file does.
        f.fingerprint = fingerprint(id, format!("{}.{}", imp.module, imp.name).as_bytes());
        out.findings.push(f);
    }
    for problem in &report.problems {
        out.findings.push(note_finding(
            MALFORMED,
            Severity::Warning,
            base.clone(),
            problem.clone(),
        ));
    }
    for (key, value) in &report.metadata {
        let loc = Location {
            part: Some(Part::Metadata),
            member: Some(format!("metadata {key}")),
            ..base.clone()
        };
        scanner.scan_snippet(value.as_bytes(), &loc, &mut out);
    }
    for s in &report.strings {
        let where_ = format!("pickle string at offset {}", s.offset);
        let loc = Location {
            member: Some(match &s.member {
                Some(m) => format!("{m}: {where_}"),
                None => where_,
            }),
            ..base.clone()
        };
        scanner.scan_snippet(s.text.as_bytes(), &loc, &mut out);
    }
    large_binary_warning(scanner, ctx, bytes.len() as u64, &mut out);
    Some(out)
}

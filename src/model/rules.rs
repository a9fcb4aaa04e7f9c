//! The rules model-file findings are reported under, with their titles and remediation: data
//! listed next to the credential catalog (`leakgate rules`, SARIF, `--explain`).
//!
//! Invariant: this is a leaf (it imports nothing), so `report` and `run` can list these rules
//! without depending on `artifact`, which turns inspection reports into findings.

pub const DANGEROUS: &str = "pickle-dangerous-import";
pub const UNKNOWN: &str = "pickle-unknown-import";
pub const UNREADABLE: &str = "model-unreadable";
pub const NOT_LFS: &str = "model-not-in-lfs";

/// (id, title, remediation) of every model-file rule.
pub const RULES: &[(&str, &str, &str)] = &[
    (
        DANGEROUS,
        "Dangerous import in a model file: loading it runs code",
        "Loading this file executes the imported callable (pickle's GLOBAL/STACK_GLOBAL + REDUCE):\n\
         do not commit it and do not load it. Do not commit pickles from untrusted sources; convert\n\
         weights to safetensors (`safetensors.torch.save_file`) and load with `weights_only=True`.\n\
         If the file came from a model hub, check who pushed it, and rotate every write token that\n\
         could have pushed it (https://huggingface.co/settings/tokens).",
    ),
    (
        UNKNOWN,
        "Unknown import in a model file (outside the known-safe ML types)",
        "The pickle imports something that is neither a known tensor/array type nor a known\n\
         dangerous callable. Review the import; prefer safetensors, which cannot carry code.\n\
         Set `[models] block_unknown_imports = true` in .leakgate.toml to make this blocking.",
    ),
    (
        UNREADABLE,
        "Model file could not be fully inspected: blocked until it can be",
        "The file looks like a model artifact, but part of it could not be read (malformed,\n\
         truncated, encrypted, an unsupported compression, or a size/work limit was hit), so what\n\
         loading it would run is not known: it is blocked like a dangerous import. Regenerate or\n\
         re-save it (prefer safetensors), or store it outside git (Git LFS, a model registry). If\n\
         you have checked the file yourself, list its path under `[allow] paths` in .leakgate.toml.",
    ),
    (
        NOT_LFS,
        "Large model file staged as a regular git blob",
        "Large model files bloat every clone forever and escape review. Track them with Git LFS\n\
         (`git lfs track '*.safetensors'`) or publish them to a model registry instead.",
    ),
];

/// The remediation text of a model-file rule; None for any other id.
pub fn remediation(id: &str) -> Option<&'static str> {
    RULES.iter().find(|(i, _, _)| *i == id).map(|(_, _, r)| *r)
}

/// The title of a model-file rule; empty for any other id.
pub fn title(id: &str) -> &'static str {
    RULES
        .iter()
        .find(|(i, _, _)| *i == id)
        .map_or("", |(_, t, _)| *t)
}

/// Whether `id` is a model-file rule (its findings are imports and file states, not secrets).
pub fn is_model_rule(id: &str) -> bool {
    RULES.iter().any(|(i, _, _)| *i == id)
}

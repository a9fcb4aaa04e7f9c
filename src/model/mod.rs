//! Model-artifact inspection: what a committed model file would import or carry, found without
//! executing it.
//!
//! A pickle-based model (`.pkl`, joblib, PyTorch `.pt`/`.pth`/`.bin`/`.ckpt` zip archives) runs
//! arbitrary callables when it is loaded: GLOBAL / STACK_GLOBAL / INST name a `module.name` to
//! import, and REDUCE / INST / OBJ / NEWOBJ / BUILD call what was imported. This module walks the
//! opcode stream, collects every import with a [`Verdict`], and pulls the text metadata out of
//! safetensors and GGUF headers so the credential catalog can scan it. Kinds are recognised by
//! content (magic bytes and structure), never by file name.
//!
//! Invariants:
//! - Nothing is executed or imported; the walker only simulates the unpickler's stack, memo and
//!   frames, enough to resolve STACK_GLOBAL operands and joblib's inline arrays.
//! - Any input is handled without a panic: no `unwrap` on data, every slice is checked, lengths
//!   are compared with what is left, and what cannot be read becomes a `problems` entry.
//! - No recursion in the walker: it is one loop over opcodes; simulated values nest a fixed few
//!   levels (tuples hold no containers, dicts no dicts, objects at most a dtype), so dropping
//!   them cannot recurse deeply. The one nesting is a torch file embedded through
//!   `_load_from_bytes` (see `embed`), inspected as a file of its own at most 3 levels deep.
//! - Linear work and bounded memory: opcode count, stack, memo, imports, zip members and
//!   decompressed sizes are capped; a cap that is hit is reported as a problem.
//! - Fail closed: where the walker and CPython could disagree about what a pickle does, the
//!   walker reports more (an unresolvable STACK_GLOBAL is a Dangerous import, a joblib stream it
//!   cannot follow stops with a problem), never less.

mod archive;
mod compress;
mod embed;
mod gguf;
mod limits;
mod numpy;
mod op;
mod policy;
pub mod rules;
mod safetensors;
mod sparse;
mod stream;
mod tar;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_embed;
#[cfg(test)]
mod tests_frame;
mod value;
mod walk;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::rc::Rc;

use archive::*;
use compress::*;
use embed::*;
use gguf::*;
use limits::*;
use numpy::*;
use policy::*;
pub use policy::{classify, reason};
pub use rules::{remediation, RULES};
use safetensors::*;
pub use sparse::{capture_zip, inspect_image, Image};
use stream::*;
use tar::*;
use value::*;
use walk::*;

/// The kinds of model artifact leakgate recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// A pickle stream (plain pickle, joblib, legacy `torch.save`), possibly zlib/gzip-compressed.
    Pickle,
    /// A zip archive holding pickles (`torch.save` since 1.6, TorchScript): `*/data.pkl`, `*.pkl`.
    TorchZip,
    /// A safetensors file: a JSON header, then raw tensor bytes.
    Safetensors,
    /// A GGUF file (llama.cpp): typed key/value metadata, then tensors.
    Gguf,
    /// The legacy `torch.save` tar layout: members that start with pickles.
    TorchTar,
    /// A numpy `.npy` array; object arrays hold a pickle. (`.npz` files are zips: TorchZip.)
    Numpy,
}

/// How worrying one import is. Ordered so that `max` gives the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// A known data type or tensor rebuilder: loading it runs no user-chosen code.
    Safe,
    /// Not known either way (most third-party classes): worth a warning, not a block.
    Unknown,
    /// Runs commands, code, imports, file or network access, or hides a nested payload.
    Dangerous,
}

/// One `module.name` that loading the artifact would import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    /// The zip entry holding the pickle, for [`ModelKind::TorchZip`].
    pub member: Option<String>,
    /// Byte offset of the importing opcode in the (decompressed) pickle stream.
    pub offset: u64,
    pub verdict: Verdict,
}

/// What [`inspect`] found.
#[derive(Clone, Debug, Default)]
pub struct ModelReport {
    pub kind: Option<ModelKind>,
    /// Distinct imports per pickle stream, in order of first appearance.
    pub imports: Vec<Import>,
    /// Malformed, truncated or unsupported input, and limits that were hit: reported to the
    /// user, never a panic. A pickle with problems may do more than `imports` shows.
    pub problems: Vec<String>,
    /// (key, value) text strings to scan with the credential catalog.
    pub metadata: Vec<(String, String)>,
    /// String operands of pickles (long enough to hold a credential), with where they sit:
    /// a pickled config or API client stores its keys as plain strings.
    pub strings: Vec<PickleString>,
    /// What inspecting the rest of this file may still cost.
    budget: Budget,
    /// How many embedded torch files deep this report is (0: the staged file itself).
    depth: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleString {
    pub member: Option<String>,
    /// Byte offset of the string operand in the pickle stream.
    pub offset: u64,
    pub text: String,
}

/// Strings shorter than this cannot hold a credential worth a finding.
const MIN_KEPT_STRING: usize = 8;
/// Bounds on kept strings per file, so a pickle of a huge vocabulary costs bounded memory.
const MAX_KEPT_STRINGS: usize = 100_000;
const MAX_KEPT_STRING_BYTES: usize = 16 << 20;

/// Whether `head` starts a pickle with a protocol 2+ header (the first bytes of a blob too
/// large to read whole).
pub fn is_pickle_header(head: &[u8]) -> bool {
    matches!(head, [op::PROTO, 2..=5, next, ..] if op::is_known(*next))
}

/// What kind of model artifact `bytes` is, by content (magic bytes / structure), or None.
pub fn sniff(bytes: &[u8]) -> Option<ModelKind> {
    if is_gguf(bytes) {
        return Some(ModelKind::Gguf);
    }
    if bytes.starts_with(ZIP_MAGIC) {
        return sniff_zip(bytes);
    }
    if bytes.starts_with(NPY_MAGIC) {
        return Some(ModelKind::Numpy);
    }
    if is_tar(bytes) && sniff_tar(bytes) {
        return Some(ModelKind::TorchTar);
    }
    if is_safetensors(bytes) {
        return Some(ModelKind::Safetensors);
    }
    if compression(bytes).is_some() || sniff_pickle(bytes) {
        return Some(ModelKind::Pickle);
    }
    None
}

/// Inspect a model artifact; None when it is not one.
pub fn inspect(bytes: &[u8]) -> Option<ModelReport> {
    let kind = sniff(bytes)?;
    let mut report = ModelReport {
        kind: Some(kind),
        budget: Budget::for_staged(bytes.len()),
        ..ModelReport::default()
    };
    inspect_as(bytes, kind, &mut report);
    Some(report)
}

/// Inspect `bytes` as `kind` into `report` (whose budget and depth it shares).
fn inspect_as(bytes: &[u8], kind: ModelKind, report: &mut ModelReport) {
    match kind {
        ModelKind::Pickle => inspect_pickle_file(bytes, report),
        ModelKind::TorchZip => inspect_zip(bytes, report),
        // A file can read as both: the magic decides what leakgate calls it, but pickle.load
        // on it would still run what its bytes say (a GGUF header is a valid BINFLOAT).
        ModelKind::Safetensors | ModelKind::Gguf => {
            if kind == ModelKind::Gguf {
                inspect_gguf(bytes, report);
            } else {
                inspect_safetensors(bytes, report);
            }
            if sniff_text_pickle(bytes) {
                inspect_pickles(bytes, report);
            }
        }
        ModelKind::Numpy => inspect_npy(bytes, None, report),
        ModelKind::TorchTar => inspect_tar(bytes, report),
    }
}

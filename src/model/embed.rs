//! Torch files embedded in a pickle: a tensor pickled with plain `pickle` or joblib (not
//! `torch.save`) stores its storage as `torch.storage._load_from_bytes(b"...")`, whose bytes
//! are a whole `torch.save` file that `torch.load` reads with `weights_only=False`. Those bytes
//! are inspected as a model file of their own, nested in the outer one.
//!
//! Invariants:
//! - `_load_from_bytes` is Safe only when every use of it in a walk is a REDUCE whose argument
//!   is the literal tuple `(bytes,)` (whose bytes are then inspected); any other use (INST,
//!   an argument to another call, a list item, BUILD, the load's result) keeps it Dangerous,
//!   since a copy could reach a call whose argument is not known.
//! - Embedded files nest at most [`MAX_EMBED_DEPTH`] deep (no unbounded recursion) and share
//!   the outer file's work budget; an embedded file that cannot be inspected is a problem.
//! - Only what `torch.load` opens is accepted: a `torch.save` zip, the legacy tar, or the
//!   legacy uncompressed pickle sequence; anything else is a problem (fail closed).

use super::*;

/// The normalised path of the loader torch's storages pickle themselves with.
pub(super) const LOAD_FROM_BYTES: &str = "torch.storage._load_from_bytes";
/// How the nested file is named in findings (after the outer member, if any).
pub(super) const EMBEDDED: &str = "embedded torch file";
/// Nesting depth of embedded files (torch writes one level: a storage's legacy file holds
/// persistent ids, not further embedded files).
pub(super) const MAX_EMBED_DEPTH: u8 = 3;
/// Distinct embedded files per pickle stream (one per pickled storage).
pub(super) const MAX_EMBEDDED: usize = 65_536;
/// Problems kept from one embedded file.
const MAX_EMBED_PROBLEMS: usize = 8;

/// A REDUCE of `_load_from_bytes` with a literal bytes argument.
#[derive(Clone, Debug)]
pub(super) struct Embedded {
    /// The collector's index of the `_load_from_bytes` import.
    pub(super) import: usize,
    /// Offset of the REDUCE.
    pub(super) at: usize,
    /// Where the bytes operand lies in the stream.
    pub(super) start: usize,
    pub(super) len: usize,
}

/// The `(start, len)` of the bytes in a one-element argument tuple `(b"...",)`.
pub(super) fn literal_bytes_arg(args: &Val) -> Option<(usize, usize)> {
    match args {
        Val::Tuple(t) => match t.as_slice() {
            [Val::Bytes { start, len }] => Some((*start, *len)),
            _ => None,
        },
        _ => None,
    }
}

/// What one walk saw of `_load_from_bytes`, restricted to offsets before `cut` (past it the
/// walk read bytes CPython never runs).
pub(super) struct EmbedUses<'w> {
    pub(super) embedded: &'w [Embedded],
    pub(super) misuse: &'w HashMap<usize, usize>,
    pub(super) cut: usize,
}

/// Settle the verdict of each `_load_from_bytes` import of one walk's collector: Safe when it
/// was only ever REDUCEd with literal bytes (at least once), Dangerous otherwise.
pub(super) fn settle(imports: &mut [Import], uses: &EmbedUses<'_>) {
    for (i, imp) in imports.iter_mut().enumerate() {
        let path = format!("{}.{}", normalize_module(&imp.module), imp.name);
        if path != LOAD_FROM_BYTES || imp.verdict != Verdict::Dangerous {
            continue;
        }
        let misused = uses.misuse.get(&i).is_some_and(|&at| at < uses.cut);
        let called = uses
            .embedded
            .iter()
            .any(|e| e.import == i && e.at < uses.cut);
        if called && !misused {
            imp.verdict = Verdict::Safe;
        }
    }
}

/// Inspect the embedded files of one stream (`data`), merging what they hold into `report`
/// under "`member`: embedded torch file".
pub(super) fn inspect_embedded(
    data: &[u8],
    member: Option<&str>,
    embedded: &[Embedded],
    report: &mut ModelReport,
) {
    let label = match member {
        Some(m) => format!("{m}: {EMBEDDED}"),
        None => EMBEDDED.to_string(),
    };
    for e in embedded {
        let whose = format!("{label} at offset {}", e.start);
        let Some(file) = e
            .start
            .checked_add(e.len)
            .and_then(|end| data.get(e.start..end))
        else {
            report
                .problems
                .push(format!("{whose}: runs past the end of the pickle"));
            continue;
        };
        if report.depth >= MAX_EMBED_DEPTH {
            report.problems.push(format!(
                "{whose}: nested more than {MAX_EMBED_DEPTH} deep (limit): not inspected"
            ));
            continue;
        }
        if report.budget.ops == 0 {
            report.problems.push(format!(
                "{whose}: the work limit for this file was used up: not inspected"
            ));
            return;
        }
        // torch.load opens a zip, else the legacy tar, else reads raw pickles.
        let kind = match sniff(file) {
            Some(k @ (ModelKind::TorchZip | ModelKind::TorchTar)) => k,
            Some(ModelKind::Pickle) if compression(file).is_none() => ModelKind::Pickle,
            _ => {
                report.problems.push(format!(
                    "{whose}: {} bytes that are not a torch.save file (zip, tar or pickle): \
                     what torch.load would do with them cannot be checked",
                    e.len
                ));
                continue;
            }
        };
        let mut sub = ModelReport {
            kind: Some(kind),
            budget: std::mem::replace(&mut report.budget, Budget { ops: 0, inflate: 0 }),
            depth: report.depth + 1,
            ..ModelReport::default()
        };
        inspect_as(file, kind, &mut sub);
        report.budget = std::mem::take(&mut sub.budget);
        merge(report, sub, &label, &whose, e.start);
    }
}

/// Fold an embedded file's report into the outer one: members say where it sits, offsets of a
/// plain pickle stream become offsets in the outer stream.
fn merge(report: &mut ModelReport, sub: ModelReport, label: &str, whose: &str, start: usize) {
    let relabel = |inner: Option<String>, offset: &mut u64| match inner {
        Some(m) => format!("{label}: {m}"),
        None => {
            *offset += start as u64;
            label.to_string()
        }
    };
    for mut imp in sub.imports {
        let member = relabel(imp.member.take(), &mut imp.offset);
        match report.imports.iter_mut().find(|i| {
            i.member.as_deref() == Some(member.as_str())
                && i.module == imp.module
                && i.name == imp.name
        }) {
            Some(seen) => seen.verdict = seen.verdict.max(imp.verdict),
            None => {
                imp.member = Some(member);
                report.imports.push(imp);
            }
        }
    }
    let n = sub.problems.len();
    for p in sub.problems.into_iter().take(MAX_EMBED_PROBLEMS) {
        report.problems.push(format!("{whose}: {p}"));
    }
    if n > MAX_EMBED_PROBLEMS {
        report
            .problems
            .push(format!("{whose}: {} more problems", n - MAX_EMBED_PROBLEMS));
    }
    for (k, v) in sub.metadata {
        report.metadata.push((format!("{label}: {k}"), v));
    }
    for mut s in sub.strings {
        if report.strings.len() >= MAX_KEPT_STRINGS {
            break;
        }
        let member = relabel(s.member.take(), &mut s.offset);
        s.member = Some(member);
        report.strings.push(s);
    }
}

//! One pickle stream or file: sniffing headerless pickles, and walking a stream the way
//! `pickle.load` and `joblib.load` would, reporting the union of their imports.

use super::*;

pub(super) fn sniff_pickle(bytes: &[u8]) -> bool {
    match bytes {
        // PROTO: CPython accepts 0-5. A file whose next byte is not an opcode fails before
        // anything runs; any later failure comes after imports may have run, so it still counts.
        [op::PROTO, 0..=5] => true,
        [op::PROTO, 0..=5, next, ..] => op::is_known(*next),
        _ => sniff_text_pickle(bytes),
    }
}

/// Protocol 0/1 pickles have no header: walk strictly (stopping where CPython would fail) and
/// accept a clean STOP at the end of the data, or imports that were called before any failure
/// (CPython would have run them). Text and source files fail within a few bytes.
pub(super) fn sniff_text_pickle(bytes: &[u8]) -> bool {
    let mut col = Collector::new(None);
    let mut walk = Walk::new(bytes, Mode::Strict, &mut col);
    // The whole stream is walked (no shorter budget): padding must not hide a later call.
    let finished = walk.run();
    if !finished {
        return true; // MAX_OPCODES valid opcodes: a pickle
    }
    if walk.calls > 0 {
        return true;
    }
    walk.problems.is_empty()
        && walk
            .stopped_at
            .is_some_and(|end| bytes.get(end..).unwrap_or(&[]).trim_ascii().is_empty())
}

/// Most pickles walked one after another in one file; a file is not a million pickles.
const MAX_PICKLES_IN_A_ROW: usize = 1024;

/// Walk the pickles of an uncompressed stream one after another, as repeated `pickle.load`
/// calls on one file do (legacy `torch.load` reads five): a protocol 0/1 pickle after a
/// protocol 2+ one, or a zip appended after a pickle, is walked too.
pub(super) fn inspect_pickles(data: &[u8], report: &mut ModelReport) {
    let mut start = 0usize;
    for _ in 0..MAX_PICKLES_IN_A_ROW {
        let Some(rest) = data.get(start..) else {
            return;
        };
        let (imports, strings) = (report.imports.len(), report.strings.len());
        let end = inspect_stream(rest, None, report);
        // Offsets are in the file, not in this pickle.
        for i in &mut report.imports[imports..] {
            i.offset += start as u64;
        }
        for s in &mut report.strings[strings..] {
            s.offset += start as u64;
        }
        let Some(end) = end.filter(|&e| e > 0) else {
            return;
        };
        start += end;
        let next = data.get(start..).unwrap_or(&[]);
        if next.starts_with(ZIP_MAGIC) {
            inspect_zip(next, report);
            return;
        }
        if next.trim_ascii().is_empty() || !sniff_pickle(next) {
            return;
        }
    }
    report.problems.push(format!(
        "more than {MAX_PICKLES_IN_A_ROW} pickles in a row (limit): the rest is not inspected"
    ));
}

pub(super) fn inspect_pickle_file(bytes: &[u8], report: &mut ModelReport) {
    match compression(bytes) {
        None => inspect_pickles(bytes, report),
        Some(c) => {
            let cap = MAX_INFLATED.min(report.budget.inflate);
            match inflate(bytes, c, cap) {
                Ok((data, _)) if data.len() as u64 > cap => report.problems.push(format!(
                    "compressed pickle ({c:?}) inflates past {} MiB (limit for a file of this \
                     staged size): not inspected",
                    cap >> 20
                )),
                Ok((data, damage)) => {
                    if let Some(e) = damage {
                        report.problems.push(format!(
                            "compressed pickle ({c:?}) is damaged after {} bytes: {e}",
                            data.len()
                        ));
                    }
                    report.budget.inflate = report.budget.inflate.saturating_sub(data.len() as u64);
                    inspect_pickles(&data, report);
                }
                Err(e) => report.problems.push(format!(
                    "compressed pickle ({c:?}) could not be inflated: {e}"
                )),
            }
        }
    }
}

/// Walk one pickle stream as `pickle.load` would and, when it holds joblib arrays, as
/// `joblib.load` would too; report the union of what either imports.
///
/// Returns where the last pickle walked ended (None when no STOP was reached).
pub(super) fn inspect_stream(
    data: &[u8],
    member: Option<&str>,
    report: &mut ModelReport,
) -> Option<usize> {
    let mut col = Collector::new(member);
    let mut problems = Vec::new();
    let c_walk = {
        let mut w = Walk::new(data, Mode::C, &mut col);
        w.max_ops = report.budget.ops;
        w.run();
        report.budget.ops = report.budget.ops.saturating_sub(w.ops);
        (
            w.problems,
            w.omitted,
            w.wrapper_seen,
            w.stopped_at,
            w.embedded,
            w.embed_misuse,
        )
    };
    let (c_problems, c_omitted, wrapper_seen, mut stopped_at, c_embedded, c_misuse) = c_walk;
    let mut embedded = Vec::new();
    let mut omitted = c_omitted;
    let mut unlisted = col.unlisted;
    let mut imports = std::mem::take(&mut col.imports);
    let mut strings = std::mem::take(&mut col.strings);
    if wrapper_seen {
        let mut jcol = Collector::new(member);
        let mut w = Walk::new(data, Mode::Joblib, &mut jcol);
        w.max_ops = report.budget.ops;
        w.run();
        report.budget.ops = report.budget.ops.saturating_sub(w.ops);
        stopped_at = w.stopped_at;
        // Past the first inline array, pickle.load reads array bytes as opcodes: its failures
        // there are artifacts (it would stop, having run only what was already reported).
        let cut = w.diverged_at.unwrap_or(usize::MAX);
        // The C walk notes errors and walks on, to see at least what CPython imports; in array
        // bytes CPython stops at the first of them, so imports from it on are not CPython's
        // (float bits read as STACK_GLOBAL gave an unresolvable `?.?` import, issue 16). When
        // problems were omitted the first one past the cut is unknown: everything is kept.
        let c_stop = if c_omitted == 0 {
            c_problems
                .iter()
                .map(|p| p.offset)
                .filter(|&o| o >= cut)
                .min()
                .unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        settle(
            &mut imports,
            &EmbedUses {
                embedded: &c_embedded,
                misuse: &c_misuse,
                cut: c_stop,
            },
        );
        let j_embedded = std::mem::take(&mut w.embedded);
        let j_misuse = std::mem::take(&mut w.embed_misuse);
        embedded.extend(c_embedded.into_iter().filter(|e| e.at < c_stop));
        let mut starts: HashSet<usize> = embedded.iter().map(|e| e.start).collect();
        embedded.extend(
            j_embedded
                .iter()
                .filter(|e| starts.insert(e.start))
                .cloned(),
        );
        imports.retain(|i| i.offset < c_stop as u64);
        problems.extend(c_problems.into_iter().filter(|p| p.offset < cut));
        if w.diverged_at.is_some() {
            omitted = 0;
        }
        for p in w.problems {
            if !problems
                .iter()
                .any(|q: &Problem| q.offset == p.offset && q.message == p.message)
            {
                problems.push(p);
            }
        }
        omitted += w.omitted;
        unlisted += jcol.unlisted;
        settle(
            &mut jcol.imports,
            &EmbedUses {
                embedded: &j_embedded,
                misuse: &j_misuse,
                cut: usize::MAX,
            },
        );
        for j in jcol.imports {
            match imports
                .iter_mut()
                .find(|i| i.module == j.module && i.name == j.name)
            {
                Some(i) => {
                    i.offset = i.offset.min(j.offset);
                    i.verdict = i.verdict.max(j.verdict);
                }
                None => imports.push(j),
            }
        }
        for s in jcol.strings {
            if !strings.iter().any(|k| k.offset == s.offset) {
                strings.push(s);
            }
        }
    } else {
        problems = c_problems;
        settle(
            &mut imports,
            &EmbedUses {
                embedded: &c_embedded,
                misuse: &c_misuse,
                cut: usize::MAX,
            },
        );
        embedded = c_embedded;
    }
    let prefix = member.map(|m| format!("{m}: ")).unwrap_or_default();
    report.problems.extend(
        problems
            .into_iter()
            .map(|p| format!("{prefix}offset {}: {}", p.offset, p.message)),
    );
    if omitted > 0 {
        report
            .problems
            .push(format!("{prefix}{omitted} more problems"));
    }
    if unlisted > 0 {
        report.problems.push(format!(
            "{prefix}more than {MAX_IMPORTS} distinct imports (limit): {unlisted} later \
             lookups of imports not known to be dangerous are not listed"
        ));
    }
    report.imports.extend(imports);
    report.strings.extend(strings);
    inspect_embedded(data, member, &embedded, report);
    stopped_at
}

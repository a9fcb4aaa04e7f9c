//! Removing chosen outputs from a notebook by editing its raw JSON text, for `leakgate fix`.
//!
//! A notebook is someone's file, under review in git: re-serialising it would rewrite every line
//! (key order, indentation, escapes, the trailing newline) and bury the one change in noise. So
//! the text is edited by byte ranges instead: each output object's exact range comes from a
//! borrowed [`RawValue`], and only the `outputs` arrays that lose an element are rebuilt.
//!
//! Invariants:
//! - outputs are numbered exactly as [`super::units`] numbers them (cells of `cells`, then the
//!   cells of nbformat 3 `worksheets`, 1-based; outputs 1-based within their cell), and the parse
//!   is as strict as that one (a repeated known key is refused), so a finding's `cell N, output M`
//!   names the object removed here;
//! - every byte outside the rebuilt arrays is kept; inside one, every kept output keeps its bytes,
//!   the whitespace after `[` and before `]` is kept, and each kept output keeps the separator
//!   (`,` and whitespace) that preceded it, so the result reads as if Jupyter had written it;
//! - an array that loses every element becomes `[]`, as Jupyter writes a cell with no outputs;
//! - nothing else of the cell changes, `execution_count` included: nbformat allows a code cell
//!   that was run to have no outputs, and keeping it leaves the cell's own lines untouched.

use std::fmt;
use std::ops::Range;

use anyhow::{bail, Context, Result};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{json_error, to_u32, Key};

/// One output object of a notebook and where its JSON text is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpan {
    /// 1-based cell number, as in a finding's location.
    pub cell: u32,
    /// 1-based output number within the cell.
    pub output: u32,
    /// Byte range of the output's JSON object in the raw notebook.
    pub range: Range<usize>,
}

json_object! {
    /// Only what locates outputs: the cells, in both nbformat layouts.
    struct EditNotebook {
        cells: Vec<EditCell<'a>> = "cells",
        worksheets: Vec<EditWorksheet<'a>> = "worksheets",
    }
}

json_object! {
    struct EditWorksheet {
        cells: Vec<EditCell<'a>> = "cells",
    }
}

json_object! {
    /// A cell's `outputs`, kept as text so the array's own range is known too.
    struct EditCell {
        outputs: &'a RawValue = "outputs",
    }
}

/// An `outputs` array: its range and its elements' ranges, in order.
struct OutputArray {
    cell: u32,
    range: Range<usize>,
    elements: Vec<Range<usize>>,
}

fn arrays(raw: &[u8]) -> Result<Vec<OutputArray>> {
    let input = std::str::from_utf8(raw).context("notebook is not valid UTF-8")?;
    let json = input.strip_prefix('\u{feff}').unwrap_or(input);
    let notebook: EditNotebook<'_> = serde_json::from_str(json)
        .map_err(json_error)
        .context("not a JSON notebook")?;
    // Every RawValue borrows from `input`, so its address gives its offset.
    let range_of = |s: &str| {
        let start = (s.as_ptr() as usize).saturating_sub(input.as_ptr() as usize);
        start..start.saturating_add(s.len()).min(input.len())
    };
    let worksheet_cells = notebook
        .worksheets
        .iter()
        .flatten()
        .flat_map(|w| w.cells.iter().flatten());
    let mut out = Vec::new();
    for (index, cell) in notebook
        .cells
        .iter()
        .flatten()
        .chain(worksheet_cells)
        .enumerate()
    {
        let number = to_u32(index.saturating_add(1));
        let Some(outputs) = cell.outputs else {
            continue;
        };
        let text = outputs.get();
        if !text.starts_with('[') {
            bail!("cell {number}: `outputs` is not a list");
        }
        let elements: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(json_error)
            .with_context(|| format!("cell {number}: `outputs`"))?;
        out.push(OutputArray {
            cell: number,
            range: range_of(text),
            elements: elements.iter().map(|e| range_of(e.get())).collect(),
        });
    }
    Ok(out)
}

/// Every output of the notebook with its byte range, in document order.
///
/// Err when the bytes are not a notebook this module can edit: not UTF-8, not JSON, a repeated
/// known key, or `outputs` that is not a list.
pub fn output_spans(raw: &[u8]) -> Result<Vec<OutputSpan>> {
    Ok(arrays(raw)?
        .into_iter()
        .flat_map(|a| {
            let cell = a.cell;
            a.elements
                .into_iter()
                .enumerate()
                .map(move |(i, range)| OutputSpan {
                    cell,
                    output: to_u32(i.saturating_add(1)),
                    range,
                })
        })
        .collect())
}

/// The notebook without the outputs for which `remove` says yes; every other byte as it was
/// (see the module's invariants). Returns the new text and how many outputs were removed.
pub fn remove_outputs(
    raw: &[u8],
    mut remove: impl FnMut(&OutputSpan) -> bool,
) -> Result<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(raw.len());
    let mut copied = 0;
    let mut removed = 0;
    for array in arrays(raw)? {
        let keep: Vec<bool> = array
            .elements
            .iter()
            .enumerate()
            .map(|(i, range)| {
                !remove(&OutputSpan {
                    cell: array.cell,
                    output: to_u32(i.saturating_add(1)),
                    range: range.clone(),
                })
            })
            .collect();
        if keep.iter().all(|&k| k) {
            continue;
        }
        removed += keep.iter().filter(|&&k| !k).count();
        out.extend_from_slice(&raw[copied..array.range.start]);
        out.extend_from_slice(&rebuilt(raw, &array, &keep));
        copied = array.range.end;
    }
    out.extend_from_slice(&raw[copied..]);
    Ok((out, removed))
}

/// The text of an `outputs` array holding only the kept elements (see the module's invariants).
fn rebuilt(raw: &[u8], array: &OutputArray, keep: &[bool]) -> Vec<u8> {
    let kept: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
    let Some(&first) = kept.first() else {
        return b"[]".to_vec();
    };
    let el = &array.elements;
    // After `[` up to the first element, and after the last element up to `]`.
    let open = &raw[array.range.start + 1..el[0].start];
    let close = &raw[el[el.len() - 1].end..array.range.end - 1];
    let mut text = b"[".to_vec();
    text.extend_from_slice(open);
    text.extend_from_slice(&raw[el[first].clone()]);
    for &i in &kept[1..] {
        // The separator that preceded this element (i > 0, since `first` came before it).
        text.extend_from_slice(&raw[el[i - 1].end..el[i].start]);
        text.extend_from_slice(&raw[el[i].clone()]);
    }
    text.extend_from_slice(close);
    text.push(b']');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const NB: &str = r#"{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": 1,
   "metadata": {},
   "outputs": [
    {
     "name": "stdout",
     "output_type": "stream",
     "text": ["one\n"]
    },
    {
     "data": {"text/plain": ["'two'"]},
     "execution_count": 1,
     "metadata": {},
     "output_type": "execute_result"
    },
    {
     "name": "stderr",
     "output_type": "stream",
     "text": ["three\n"]
    }
   ],
   "source": ["print('one')"]
  },
  {
   "cell_type": "markdown",
   "metadata": {},
   "source": ["text"]
  },
  {
   "cell_type": "code",
   "execution_count": 2,
   "metadata": {},
   "outputs": [
    {"name": "stdout", "output_type": "stream", "text": "four\n"}
   ],
   "source": "x"
  }
 ],
 "metadata": {},
 "nbformat": 4,
 "nbformat_minor": 5
}
"#;

    fn remove(nb: &str, which: &[(u32, u32)]) -> String {
        let (out, n) =
            remove_outputs(nb.as_bytes(), |s| which.contains(&(s.cell, s.output))).unwrap();
        assert_eq!(n, which.len());
        let text = String::from_utf8(out).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).expect("still JSON");
        text
    }

    fn outputs_of(nb: &str, cell: usize) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(nb).unwrap();
        v["cells"][cell]["outputs"].clone()
    }

    #[test]
    fn spans_are_numbered_like_units_and_cover_the_objects() {
        let spans = output_spans(NB.as_bytes()).unwrap();
        let ids: Vec<(u32, u32)> = spans.iter().map(|s| (s.cell, s.output)).collect();
        assert_eq!(ids, [(1, 1), (1, 2), (1, 3), (3, 1)]);
        for s in &spans {
            let text = &NB[s.range.clone()];
            assert!(text.starts_with('{') && text.ends_with('}'), "{text}");
        }
        assert!(NB[spans[1].range.clone()].contains("execute_result"));
    }

    #[test]
    fn table_of_removals_keeps_everything_else_byte_for_byte() {
        let v: serde_json::Value = serde_json::from_str(NB).unwrap();
        let all = v["cells"][0]["outputs"].as_array().unwrap().clone();
        // (removed, what cell 1's outputs are then)
        type Case = (&'static [(u32, u32)], Vec<serde_json::Value>);
        let cases: &[Case] = &[
            (&[(1, 1)], vec![all[1].clone(), all[2].clone()]),
            (&[(1, 2)], vec![all[0].clone(), all[2].clone()]),
            (&[(1, 3)], vec![all[0].clone(), all[1].clone()]),
            (&[(1, 1), (1, 2)], vec![all[2].clone()]),
            (&[(1, 1), (1, 3)], vec![all[1].clone()]),
            (&[(1, 2), (1, 3)], vec![all[0].clone()]),
            (&[(1, 1), (1, 2), (1, 3)], vec![]),
        ];
        for (which, want) in cases {
            let text = remove(NB, which);
            assert_eq!(
                outputs_of(&text, 0),
                serde_json::Value::Array(want.clone()),
                "{which:?}"
            );
            // Removing an output is a deletion: every line left is one of the original lines,
            // in order, and the cell's execution_count stays.
            let mut original = NB.lines();
            for line in text.lines().filter(|l| !l.contains("[]")) {
                assert!(
                    original.any(|o| o == line),
                    "{which:?}: line {line:?} is not an original line\n{text}"
                );
            }
            assert!(text.contains("\"execution_count\": 1,\n   \"metadata\""));
            assert!(text.ends_with("}\n"));
        }
        // Jupyter's spelling of "no outputs".
        assert!(remove(NB, &[(1, 1), (1, 2), (1, 3)]).contains("\"outputs\": [],\n"));
        // A single-line array and a cell further on.
        let text = remove(NB, &[(3, 1)]);
        assert_eq!(outputs_of(&text, 2), serde_json::json!([]));
        assert_eq!(outputs_of(&text, 0), outputs_of(NB, 0));
    }

    /// Every fixture notebook (real Jupyter output), with random sets of outputs removed: the
    /// result is the same JSON value with exactly those outputs gone, and its numbering agrees
    /// with the scanner's units (every output unit's cell/output names a span).
    #[test]
    fn seeded_removals_from_the_fixture_notebooks() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notebooks");
        let mut rng = crate::test_rng::Rng(0x5eed_f1c5);
        for name in [
            "login_output.ipynb",
            "login_output_newcell.ipynb",
            "login_output_reexecuted.ipynb",
            "split_and_escaped.ipynb",
            "clean.ipynb",
            "nbformat3.ipynb",
            "timed_login.ipynb",
        ] {
            let raw = std::fs::read(dir.join(name)).unwrap();
            let spans = output_spans(&raw).unwrap();
            let ids: Vec<(u32, u32)> = spans.iter().map(|s| (s.cell, s.output)).collect();
            for unit in crate::notebook::units(&raw).unwrap() {
                if let (Some(cell), Some(output)) = (unit.cell, unit.output) {
                    assert!(ids.contains(&(cell, output)), "{name}: {cell}/{output}");
                }
            }
            let original: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            for round in 0..40 {
                let chosen: Vec<(u32, u32)> = match round {
                    0 => ids.clone(),
                    r if r <= ids.len() => vec![ids[r - 1]],
                    _ => ids.iter().copied().filter(|_| rng.below(3) == 0).collect(),
                };
                let (out, n) =
                    remove_outputs(&raw, |s| chosen.contains(&(s.cell, s.output))).unwrap();
                assert_eq!(n, chosen.len());
                let got: serde_json::Value = serde_json::from_slice(&out)
                    .unwrap_or_else(|e| panic!("{name} {chosen:?}: not JSON: {e}"));
                let mut want = original.clone();
                let cells: Vec<&mut serde_json::Value> = match want.get_mut("worksheets") {
                    Some(w) => w[0]["cells"].as_array_mut().unwrap().iter_mut().collect(),
                    None => want["cells"].as_array_mut().unwrap().iter_mut().collect(),
                };
                for (i, cell) in cells.into_iter().enumerate() {
                    if let Some(outputs) = cell.get_mut("outputs").and_then(|o| o.as_array_mut()) {
                        let mut k = 0u32;
                        outputs.retain(|_| {
                            k += 1;
                            !chosen.contains(&(i as u32 + 1, k))
                        });
                    }
                }
                assert_eq!(got, want, "{name} {chosen:?}");
            }
        }
    }

    #[test]
    fn many_kept_outputs_keep_their_order_and_separators() {
        let nb = "{\"cells\": [{\"outputs\": [{\"n\": 1},\n {\"n\": 2},\n  {\"n\": 3}, {\"n\": 4} ,{\"n\": 5},\t{\"n\": 6}]}]}";
        let (out, n) = remove_outputs(nb.as_bytes(), |s| [2, 5].contains(&s.output)).unwrap();
        assert_eq!(n, 2);
        // Each kept output keeps the separator that preceded it.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"cells\": [{\"outputs\": [{\"n\": 1},\n  {\"n\": 3}, {\"n\": 4},\t{\"n\": 6}]}]}"
        );
        let (out, _) = remove_outputs(nb.as_bytes(), |s| s.output == 1).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("{\"cells\": [{\"outputs\": [{\"n\": 2},\n  {\"n\": 3}, {\"n\": 4} ,{"));
    }

    /// Hostile bytes (seeded mutations of a real notebook): never a panic, and whatever is
    /// accepted comes out as JSON again after a removal.
    #[test]
    fn mutated_notebooks_never_panic_and_stay_json() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/notebooks/split_and_escaped.ipynb");
        let base = std::fs::read(path).unwrap();
        let mut rng = crate::test_rng::Rng(0xed17_0bad);
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut raw = base.clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(raw.len());
                match rng.below(3) {
                    0 => raw[at] = rng.pick(b"[]{},:\"\\ \n0an\xff"),
                    1 => raw.insert(at, rng.pick(b"[]{},:\"\\ \n0a")),
                    _ => {
                        raw.remove(at);
                    }
                }
            }
            let Ok(spans) = output_spans(&raw) else {
                continue;
            };
            accepted += 1;
            let pick: Vec<(u32, u32)> = spans
                .iter()
                .filter(|_| rng.below(2) == 0)
                .map(|s| (s.cell, s.output))
                .collect();
            let (out, n) = remove_outputs(&raw, |s| pick.contains(&(s.cell, s.output))).unwrap();
            assert_eq!(n, pick.len());
            let text = std::str::from_utf8(&out).unwrap();
            serde_json::from_str::<serde_json::Value>(text.trim_start_matches('\u{feff}'))
                .unwrap_or_else(|e| panic!("{e}: {text}"));
        }
        // Most single-byte changes break JSON; enough must get through to mean something.
        assert!(accepted > 100, "only {accepted} mutated notebooks parsed");
    }

    #[test]
    fn nothing_chosen_is_the_same_bytes() {
        let (out, n) = remove_outputs(NB.as_bytes(), |_| false).unwrap();
        assert_eq!((out.as_slice(), n), (NB.as_bytes(), 0));
    }

    #[test]
    fn nbformat3_worksheets_and_a_bom_and_crlf() {
        let nb = "\u{feff}{\"nbformat\": 3,\r\n \"worksheets\": [{\"cells\": [\r\n  {\"cell_type\": \"code\", \"input\": \"x\", \"outputs\": [\r\n   {\"output_type\": \"pyout\", \"text\": \"a\"},\r\n   {\"output_type\": \"stream\", \"text\": \"b\"}\r\n  ]}]}]}\r\n";
        let spans = output_spans(nb.as_bytes()).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            &nb[spans[1].range.clone()],
            "{\"output_type\": \"stream\", \"text\": \"b\"}"
        );
        let (out, _) = remove_outputs(nb.as_bytes(), |s| s.output == 1).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\u{feff}{\"nbformat\": 3,\r\n \"worksheets\": [{\"cells\": [\r\n  {\"cell_type\": \"code\", \"input\": \"x\", \"outputs\": [\r\n   {\"output_type\": \"stream\", \"text\": \"b\"}\r\n  ]}]}]}\r\n"
        );
    }

    #[test]
    fn what_cannot_be_edited_is_refused() {
        for bad in [
            &b"\xff{}"[..],
            b"[1]",
            b"{\"cells\": [{\"outputs\": {}}]}",
            b"{\"cells\": [{\"outputs\": [], \"outputs\": []}]}",
            b"{\"cells\": [{\"outputs\": [1,]}]}",
        ] {
            assert!(
                output_spans(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // No outputs at all (markdown cells, null) is a notebook with nothing to remove.
        assert!(output_spans(b"{\"cells\": [{\"outputs\": null}, {}]}")
            .unwrap()
            .is_empty());
    }
}

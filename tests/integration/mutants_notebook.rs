//! Where a notebook finding points (issue 18: the notebook `column` was never checked, and a
//! one-off break of it survived). README: `line` is the raw `.ipynb` line of the JSON string the
//! secret starts in; `cell_line` the line within the cell's source or output; `column` counts
//! characters within that decoded cell line.
//!
//! Invariant: the notebooks here are written so the decoded and the raw positions differ (an
//! escaped character and a non-ASCII one precede the token), so a column or line taken from the
//! wrong layer, or counted in bytes, fails.

use crate::harness::*;

#[test]
fn notebook_finding_line_cell_line_and_column_are_each_from_their_layer() {
    let r = TestRepo::new();
    // Raw line 7 holds the second source line; decoded, it reads `é = "hf_…"` with the token at
    // character 6 (byte 7; column 11 of the raw JSON line's escaped text).
    let nb = format!(
        r#"{{
 "cells": [
  {{
   "cell_type": "code",
   "source": [
    "x = 1\n",
    "é = \"{HF_A}\"\n"
   ],
   "metadata": {{}},
   "outputs": [],
   "execution_count": null
  }}
 ],
 "metadata": {{}},
 "nbformat": 4,
 "nbformat_minor": 5
}}
"#
    );
    r.stage("nb.ipynb", nb);
    let v = r.check_json(1);
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "huggingface-token", "{v:#}");
    assert_eq!(f["cell"], 1, "{v:#}");
    assert_eq!(f["cell_line"], 2, "{v:#}");
    assert_eq!(f["line"], 7, "{v:#}");
    assert_eq!(f["column"], 6, "{v:#}");
    // The summary counts the decoded text scanned: the two source lines, 51 bytes (`é` is two).
    assert_eq!(v["scanned"]["files"], 1, "{v:#}");
    assert_eq!(v["scanned"]["lines"], 2, "{v:#}");
    assert_eq!(v["scanned"]["bytes"], 51, "{v:#}");
}

#[test]
fn notebook_output_finding_column_counts_within_the_output_line() {
    let r = TestRepo::new();
    let nb = format!(
        r#"{{
 "cells": [
  {{
   "cell_type": "code",
   "source": ["login()"],
   "metadata": {{}},
   "execution_count": 1,
   "outputs": [
    {{
     "name": "stdout",
     "output_type": "stream",
     "text": [
      "starting\n",
      "\tLogin ok, token {HF_B}\n"
     ]
    }}
   ]
  }}
 ],
 "metadata": {{}},
 "nbformat": 4,
 "nbformat_minor": 5
}}
"#
    );
    r.stage("nb.ipynb", nb);
    let v = r.check_json(1);
    let f = &v["findings"][0];
    assert_eq!(f["output"], 1, "{v:#}");
    assert_eq!(f["cell_line"], 2, "{v:#}");
    assert_eq!(f["line"], 14, "{v:#}");
    // A tab then "Login ok, token ": the token starts at character 18 of the decoded line.
    assert_eq!(f["column"], 18, "{v:#}");
}

/// Mime bundles the README lists as scanned: `text/plain`, SVG (`+xml`) and `application/json`
/// given as an array, each holding its own token.
#[test]
fn textual_svg_and_json_mime_outputs_are_scanned() {
    let r = TestRepo::new();
    let nb = format!(
        r#"{{
 "cells": [
  {{
   "cell_type": "code",
   "source": ["show()"],
   "metadata": {{}},
   "execution_count": 1,
   "outputs": [
    {{"output_type": "execute_result", "execution_count": 1, "metadata": {{}},
     "data": {{"text/plain": ["'{HF_A}'"]}}}},
    {{"output_type": "display_data", "metadata": {{}},
     "data": {{"image/svg+xml": ["<svg><text>{HF_B}</text></svg>"]}}}},
    {{"output_type": "display_data", "metadata": {{}},
     "data": {{"application/json": ["{HF_C}"]}}}}
   ]
  }}
 ],
 "metadata": {{}},
 "nbformat": 4,
 "nbformat_minor": 5
}}
"#
    );
    r.stage("nb.ipynb", nb);
    let v = r.check_json(1);
    let outputs: Vec<u64> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["output"].as_u64().unwrap())
        .collect();
    assert_eq!(outputs, [1, 2, 3], "{v:#}");
}

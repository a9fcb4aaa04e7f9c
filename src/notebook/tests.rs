use super::*;
use std::time::{Duration, Instant};

/// An expected unit: cell, output, (part, field), text, and `locate` probes
/// (offset → (cell_line, raw_line)).
type Want = (
    Option<u32>,
    Option<u32>,
    (Part, &'static str),
    &'static str,
    &'static [(usize, (u32, u32))],
);

const S: (Part, &str) = (Part::Source, "source");
const M: (Part, &str) = (Part::Metadata, "metadata");
const fn o(field: &'static str) -> (Part, &'static str) {
    (Part::Output, field)
}

/// (name, notebook JSON, expected units or a substring of the error).
type Case = (
    &'static str,
    &'static str,
    Result<&'static [Want], &'static str>,
);

const CASES: &[Case] = &[
    (
        "string source, notebook metadata without strings",
        r#"{
 "cells": [
  {
   "cell_type": "code",
   "source": "import os\ntoken = 'x'",
   "metadata": {},
   "outputs": []
  }
 ],
 "metadata": {"collapsed": false, "n": [1, 2]},
 "nbformat": 4,
 "nbformat_minor": 5
}"#,
        Ok(&[(
            Some(1),
            None,
            S,
            "import os\ntoken = 'x'",
            &[(0, (1, 5)), (9, (1, 5)), (10, (2, 5))],
        )]),
    ),
    (
        "list source joins a token split across elements",
        r#"{
 "cells": [
  {
   "cell_type": "code",
   "metadata": {},
   "source": [
    "key = \"ghp_ab",
    "cd1234\"\n",
    "\n",
    "print(key)\n"
   ],
   "outputs": []
  }
 ],
 "nbformat": 4,
 "nbformat_minor": 5
}"#,
        Ok(&[(
            Some(1),
            None,
            S,
            "key = \"ghp_abcd1234\"\n\nprint(key)\n",
            &[
                (0, (1, 7)),
                (12, (1, 7)),
                // Written by the second element: its raw line (the token starts on line 7).
                (13, (1, 8)),
                (19, (1, 8)),
                (20, (1, 8)),
                (21, (2, 9)),
                (22, (3, 10)),
                (33, (3, 10)),
                (999, (3, 10)),
            ],
        )]),
    ),
    (
        "unicode escapes, surrogate pair, lone surrogate",
        r#"{"nbformat": 4, "cells": [
{"cell_type": "raw", "source": ["pass\u0077ord = \"s3cr\u00e9t\" \ud83d\ude00 \ud800!\t\/"]}
]}"#,
        Ok(&[(
            Some(1),
            None,
            S,
            "password = \"s3crét\" 😀 \u{fffd}!\t/",
            &[(0, (1, 2))],
        )]),
    ),
    (
        "ANSI before a token in a stream, and split across elements",
        r#"{
 "cells": [
  {
   "cell_type": "code",
   "source": [],
   "outputs": [
    {
     "name": "stdout",
     "output_type": "stream",
     "text": [
      "\u001b[31mTOKEN=abc123\u001b[0m\n",
      "\u001b[3",
      "1mdone\u001b(B\u001b=\n"
     ]
    }
   ]
  }
 ]
}"#,
        Ok(&[(
            Some(1),
            Some(1),
            o("text"),
            "TOKEN=abc123\ndone\n",
            &[(0, (1, 11)), (13, (2, 13))],
        )]),
    ),
    (
        "error output: ename, evalue, traceback without ANSI",
        r#"{
 "cells": [
  {
   "source": "raise ValueError",
   "outputs": [
    {
     "ename": "ValueError",
     "evalue": "bad key sk_test_123",
     "output_type": "error",
     "traceback": [
      "\u001b[0;31m---\u001b[0m",
      "\u001b[0;31mValueError\u001b[0m: bad\nkey\u001b[0;32msk_test_123"
     ]
    }
   ]
  }
 ]
}"#,
        Ok(&[
            (Some(1), None, S, "raise ValueError", &[(0, (1, 4))]),
            (Some(1), Some(1), o("ename"), "ValueError", &[(0, (1, 7))]),
            (
                Some(1),
                Some(1),
                o("evalue"),
                "bad key sk_test_123",
                &[(8, (1, 8))],
            ),
            (
                Some(1),
                Some(1),
                o("traceback"),
                "---\nValueError: bad\nkeysk_test_123",
                &[(0, (1, 11)), (3, (1, 11)), (4, (2, 12)), (20, (3, 12))],
            ),
        ]),
    ),
    (
        "execute_result text/html and text/plain, image/png skipped",
        r#"{
 "cells": [
  {
   "cell_type": "code",
   "source": "x",
   "outputs": [
    {
     "data": {
      "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
      "text/html": [
       "<b>\u001b[1mx",
       "</b>"
      ],
      "text/plain": [
       "'x'"
      ]
     },
     "execution_count": 1,
     "metadata": {"needs_background": "light"},
     "output_type": "execute_result"
    }
   ]
  }
 ]
}"#,
        Ok(&[
            (Some(1), None, S, "x", &[(0, (1, 5))]),
            (
                Some(1),
                Some(1),
                o("text/html"),
                "<b>x</b>",
                &[(0, (1, 11))],
            ),
            (Some(1), Some(1), o("text/plain"), "'x'", &[(0, (1, 15))]),
            // The output's own metadata is scanned too.
            (
                Some(1),
                Some(1),
                M,
                "needs_background: light\n",
                &[(0, (1, 19))],
            ),
        ]),
    ),
    (
        "JSON mime data: application/json object and a widget view",
        r#"{
 "cells": [
  {
   "outputs": [
    {
     "output_type": "display_data",
     "data": {
      "application/json": {
       "user": "alice",
       "nested": {"api_key": "k-123", "n": 1},
       "list": ["a", 1, "b\u001b[0m"]
      },
      "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2},
      "application/pdf": "JVBERi0xLjQK",
      "image/jpeg": "/9j/4AAQSkZJRg"
     }
    }
   ]
  }
 ]
}"#,
        Ok(&[
            (
                Some(1),
                Some(1),
                o("application/json"),
                "user: alice\napi_key: k-123\na\nb\n",
                &[
                    (0, (1, 9)),
                    (11, (1, 9)),
                    (12, (2, 10)),
                    (27, (3, 11)),
                    (29, (4, 11)),
                    (99, (4, 11)),
                ],
            ),
            (
                Some(1),
                Some(1),
                o("application/vnd.jupyter.widget-view+json"),
                "model_id: abc\n",
                &[(0, (1, 13)), (14, (1, 13))],
            ),
        ]),
    ),
    (
        "markdown cell with attachments, cell metadata with strings",
        r##"{
 "cells": [
  {
   "attachments": {
    "img.png": {"image/png": "iVBORw0KGgo"},
    "note.txt": {"text/plain": ["hello ", "world"]}
   },
   "cell_type": "markdown",
   "metadata": {
    "tags": ["secret"],
    "env": {"TOKEN": "abc"}
   },
   "source": [
    "# Title\n",
    "![img](attachment:img.png)"
   ]
  }
 ],
 "metadata": {},
 "nbformat": 4,
 "nbformat_minor": 4
}"##,
        Ok(&[
            (
                Some(1),
                None,
                S,
                "# Title\n![img](attachment:img.png)",
                &[(0, (1, 14)), (8, (2, 15))],
            ),
            (
                Some(1),
                None,
                (Part::Attachment, "note.txt: text/plain"),
                "hello world",
                &[(0, (1, 6))],
            ),
            (
                Some(1),
                None,
                M,
                "secret\nTOKEN: abc\n",
                &[(0, (1, 10)), (7, (2, 11))],
            ),
        ]),
    ),
    (
        "notebook widget state",
        r#"{
 "cells": [],
 "metadata": {
  "widgets": {
   "application/vnd.jupyter.widget-state+json": {
    "state": {"m1": {"state": {"value": "tok-1"}}},
    "version_major": 2
   }
  }
 },
 "nbformat": 4
}"#,
        Ok(&[(None, None, M, "value: tok-1\n", &[(0, (1, 6))])]),
    ),
    (
        "nbformat 3: worksheets, input, pyout with flattened mime keys, stream, pyerr",
        r#"{
 "metadata": {"name": "demo"},
 "nbformat": 3,
 "nbformat_minor": 0,
 "worksheets": [
  {
   "cells": [
    {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Title"]},
    {
     "cell_type": "code",
     "collapsed": false,
     "input": ["x = 1\n", "x"],
     "language": "python",
     "metadata": {},
     "outputs": [
      {"output_type": "pyout", "prompt_number": 1, "text": ["1"], "html": "<i>1</i>", "png": "iVBOR"},
      {"output_type": "stream", "stream": "stdout", "text": "hi\n"},
      {"output_type": "pyerr", "ename": "E", "evalue": "v", "traceback": ["\u001b[1;31mt\u001b[0m"]}
     ],
     "prompt_number": 1
    }
   ]
  },
  {"cells": [{"cell_type": "markdown", "source": "second sheet"}]}
 ]
}"#,
        Ok(&[
            (Some(1), None, S, "Title", &[(0, (1, 8))]),
            (
                Some(2),
                None,
                (Part::Source, "input"),
                "x = 1\nx",
                &[(0, (1, 12)), (6, (2, 12))],
            ),
            (Some(2), Some(1), o("text"), "1", &[(0, (1, 16))]),
            (Some(2), Some(1), o("html"), "<i>1</i>", &[(0, (1, 16))]),
            (Some(2), Some(2), o("text"), "hi\n", &[(0, (1, 17))]),
            (Some(2), Some(3), o("ename"), "E", &[(0, (1, 18))]),
            (Some(2), Some(3), o("evalue"), "v", &[(0, (1, 18))]),
            (Some(2), Some(3), o("traceback"), "t", &[(0, (1, 18))]),
            (Some(3), None, S, "second sheet", &[(0, (1, 24))]),
            (None, None, M, "name: demo\n", &[(0, (1, 2))]),
        ]),
    ),
    (
        "lenient: no cell_type, unknown fields and output types, nulls, empty source",
        r#"{"nbformat": 4.0, "future": {"x": [1]}, "cells": [
{"id": "a", "source": null, "outputs": [{"output_type": "mystery", "text": "skipped"}, {"output_type": "stream"}]},
{"source": "", "metadata": null, "outputs": null},
{"source": ["ok", null]}
]}"#,
        Ok(&[(Some(3), None, S, "ok", &[(0, (1, 4))])]),
    ),
    (
        "UTF-8 BOM is tolerated",
        "\u{feff}{\"cells\": [{\"source\": \"a\"}]}",
        Ok(&[(Some(1), None, S, "a", &[(0, (1, 1))])]),
    ),
    (
        "empty cells list",
        r#"{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#,
        Ok(&[]),
    ),
    (
        "not JSON",
        "# just a python file\nprint(1)\n",
        Err("not a JSON notebook"),
    ),
    (
        "truncated JSON",
        r#"{"cells": [{"source": "a"#,
        Err("not a JSON notebook"),
    ),
    (
        "JSON object without cells",
        r#"{"name": "package.json"}"#,
        Err("no `cells` or `worksheets`"),
    ),
    ("JSON array", "[4, []]", Err("not a JSON notebook")),
    ("JSON string", r#""cells""#, Err("not a JSON notebook")),
    (
        "cell as array",
        r#"{"cells": [["print(1)"]]}"#,
        Err("not a JSON notebook"),
    ),
    (
        "cells of wrong type",
        r#"{"cells": "x"}"#,
        Err("not a JSON notebook"),
    ),
    (
        "source of wrong type",
        r#"{"cells": [{"source": 1}]}"#,
        Err("cell 1: `source`: expected a string"),
    ),
    (
        "list element of wrong type",
        r#"{"cells": [{"source": ["a", {}]}]}"#,
        Err("list element 2 is not a string"),
    ),
    (
        "nbformat 2",
        r#"{"nbformat": 2, "worksheets": []}"#,
        Err("nbformat 2 is not supported"),
    ),
    (
        "duplicate source",
        r#"{"cells": [{"source": "a", "source": "b"}]}"#,
        Err("duplicate field `source`"),
    ),
];

#[test]
fn table() {
    for (name, json, want) in CASES {
        let got = units(json.as_bytes());
        match (want, got) {
            (Ok(want), Ok(got)) => {
                let summary: Vec<_> = got
                    .iter()
                    .map(|u| (u.cell, u.output, u.part, u.field.as_str(), u.text.as_str()))
                    .collect();
                assert_eq!(got.len(), want.len(), "{name}: units {summary:#?}");
                for (i, (unit, (cell, output, part, text, probes))) in
                    got.iter().zip(want.iter()).enumerate()
                {
                    assert_eq!(
                        (
                            unit.cell,
                            unit.output,
                            (unit.part, unit.field.as_str()),
                            unit.text.as_str()
                        ),
                        (*cell, *output, *part, *text),
                        "{name}: unit {i}"
                    );
                    for (offset, at) in probes.iter() {
                        assert_eq!(
                            unit.locate(*offset),
                            *at,
                            "{name}: unit {i} locate({offset}) lines {:?}",
                            unit.lines
                        );
                    }
                    assert_eq!(unit.lines.first().map(|l| l.0), Some(0), "{name}: unit {i}");
                    assert!(
                        unit.lines.windows(2).all(|w| w[0].0 < w[1].0),
                        "{name}: unit {i}: {:?}",
                        unit.lines
                    );
                    assert_eq!(
                        unit.lines.len(),
                        unit.text.split_inclusive('\n').count(),
                        "{name}: unit {i}"
                    );
                }
            }
            (Err(want), Err(err)) => {
                let err = format!("{err:#}");
                assert!(err.contains(want), "{name}: error {err:?} lacks {want:?}");
            }
            (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
        }
    }
}

/// The reason is shown in a report note: serde_json's message must not carry a secret.
#[test]
fn json_errors_do_not_quote_the_input() {
    let cases: &[(&str, &str)] = &[
        (
            r#""Token: hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T""#,
            "invalid type: string \"…\"",
        ),
        (
            r#"{"cells": "a\"b hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T"}"#,
            "expected a sequence",
        ),
        (
            r#"{"cells": [{"source": ["hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T", 1]}]}"#,
            "list element 2",
        ),
    ];
    for (input, want) in cases {
        let message = format!("{:#}", units(input.as_bytes()).unwrap_err());
        assert!(!message.contains("hf_4sx1"), "{message}");
        assert!(message.contains(want), "{message} lacks {want}");
    }
}

#[test]
fn invalid_utf8_is_an_error() {
    let err = units(b"{\"cells\": [{\"source\": \"\xff\"}]}").unwrap_err();
    assert!(format!("{err:#}").contains("UTF-8"), "{err:#}");
}

/// Consecutive stream outputs of one stream are one unit, as Jupyter shows them; another
/// stream or another output type ends it; each byte maps back to the output that wrote it.
#[test]
fn consecutive_stream_outputs_are_joined() {
    let nb = r#"{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "outputs": [
 {"output_type": "stream", "name": "stdout", "text": ["key: ab"]},
 {"output_type": "stream", "name": "stdout", "text": ["cd\n", "next\n"]},
 {"output_type": "stream", "name": "stderr", "text": "warn\n"},
 {"output_type": "stream", "name": "stdout", "text": "e"},
 {"output_type": "stream", "name": "stdout", "text": ""},
 {"output_type": "stream", "name": "stdout", "text": "f\n"},
 {"output_type": "display_data", "data": {"text/plain": "g"}},
 {"output_type": "stream", "name": "stdout", "text": "h\n"}
]}]}"#;
    let units = units(nb.as_bytes()).unwrap();
    let got: Vec<(Option<u32>, &str)> = units.iter().map(|u| (u.output, u.text.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(1), "key: abcd\nnext\n"),
            (Some(3), "warn\n"),
            (Some(4), "ef\n"),
            (Some(7), "g"),
            (Some(8), "h\n"),
        ]
    );
    let joined = &units[0];
    let at = |u: &Unit, offsets: &[usize]| -> Vec<Option<u32>> {
        offsets.iter().map(|&o| u.output_at(o)).collect()
    };
    assert_eq!(
        at(joined, &[0, 6, 7, 8, 10, 99]),
        [Some(1), Some(1), Some(2), Some(2), Some(2), Some(2)]
    );
    assert_eq!(joined.locate(7), (1, 3));
    assert_eq!(joined.locate(10), (2, 3));
    // The empty output 5 claims no byte: "f" is output 6's.
    assert_eq!(at(&units[2], &[0, 1]), [Some(4), Some(6)]);
}

/// Builds a unit by hand to probe `locate` at line starts, ends and past the end.
#[test]
fn locate_boundaries() {
    let unit = Unit {
        cell: Some(1),
        output: None,
        part: Part::Source,
        field: "source".to_owned(),
        text: "ab\n\ncd".to_owned(),
        lines: vec![(0, 10), (3, 11), (4, 12)],
        raws: Vec::new(),
        pieces: Vec::new(),
    };
    let probes = [
        (0, (1, 10)),
        (1, (1, 10)),
        (2, (1, 10)),
        (3, (2, 11)),
        (4, (3, 12)),
        (5, (3, 12)),
        (6, (3, 12)),
        (usize::MAX, (3, 12)),
    ];
    for (offset, want) in probes {
        assert_eq!(unit.locate(offset), want, "offset {offset}");
    }
    let empty = Unit {
        lines: Vec::new(),
        text: String::new(),
        ..unit
    };
    assert_eq!(empty.locate(5), (1, 1));
}

#[test]
fn ansi_stripping() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("plain", &["abc"], "abc"),
        ("sgr around token", &["\x1b[1;31mghp_x\x1b[0m!"], "ghp_x!"),
        (
            "csi split across pushes",
            &["a\x1b", "[3", "8;5;1", "mb"],
            "ab",
        ),
        (
            "two-byte and charset escapes",
            &["a\x1b=b\x1b(Bc\x1b7"],
            "abc",
        ),
        (
            "osc hyperlink keeps url, bel",
            &["see\x1b]8;;https://u:p@h/\x07link\x1b]8;;\x07."],
            "see 8;;https://u:p@h/ link 8;; .",
        ),
        (
            "osc with st terminator",
            &["\x1b]0;title\x1b\\x"],
            " 0;title x",
        ),
        ("osc ended by a new csi", &["\x1b]0;t\x1b[0mx"], " 0;t x"),
        (
            "unterminated osc keeps text",
            &["\x1b]2;abc\ndef"],
            " 2;abc\ndef",
        ),
        (
            "malformed csi keeps the byte",
            &["\x1b[12\u{e9}x"],
            "\u{e9}x",
        ),
        ("lone esc before non-ascii", &["\x1b\u{e9}"], "\u{e9}"),
        ("esc esc", &["\x1b\x1b[0mz"], "z"),
        ("trailing esc", &["z\x1b"], "z"),
        ("newline ends csi", &["\x1b[1\nz"], "\nz"),
    ];
    for (name, pushes, want) in cases {
        let mut b = Builder::new(true);
        for p in pushes.iter() {
            b.push(p, 1);
        }
        assert_eq!(b.text, *want, "{name}");
    }
}

#[test]
fn json_string_decoding() {
    let cases = [
        (r#""plain""#, "plain"),
        (r#""a\"b\\c\/d\n\t\r\b\f""#, "a\"b\\c/d\n\t\r\u{8}\u{c}"),
        (r#""\u0041\u00e9\u20ac""#, "Aé€"),
        (r#""\ud83d\ude00""#, "😀"),
        (r#""\udc00x\ud800""#, "\u{fffd}x\u{fffd}"),
        (r#""\ud800\u0041""#, "\u{fffd}A"),
        (r#""\u12""#, "\u{fffd}12"),
        (r#""é\\""#, "é\\"),
    ];
    for (token, want) in cases {
        assert_eq!(decode_json_str(token), want, "{token}");
    }
}

/// Deep nesting never overflows the stack: structural positions are type errors, opaque
/// values are skipped or scanned iteratively.
#[test]
fn deep_nesting() {
    let depth = 100_000;
    let nest = |inner: &str| format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!(
        "{}{{\"deep\": \"tok\"}}{}",
        "{\"k\": ".repeat(depth),
        "}".repeat(depth)
    );
    let cases: Vec<(&str, String, bool)> = vec![
            ("top level", nest(""), false),
            ("cells", format!("{{\"cells\": {}}}", nest("")), false),
            ("cell", format!("{{\"cells\": [{}]}}", nest("")), false),
            ("source list", format!("{{\"cells\": [{{\"source\": {}}}]}}", nest("\"x\"")), false),
            ("unknown field", format!("{{\"cells\": [], \"x\": {}}}", nest("")), true),
            ("metadata", format!("{{\"cells\": [], \"metadata\": {objects}}}"), true),
            ("json output", format!("{{\"cells\": [{{\"outputs\": [{{\"output_type\": \"display_data\", \"data\": {{\"application/json\": {objects}}}}}]}}]}}"), true),
            ("unterminated", format!("{{\"cells\": [], \"metadata\": {}", "[".repeat(depth)), false),
        ];
    for (name, json, ok) in cases {
        let start = Instant::now();
        let got = units(json.as_bytes());
        assert!(start.elapsed() < Duration::from_secs(5), "{name}: slow");
        assert_eq!(
            got.is_ok(),
            ok,
            "{name}: {:?}",
            got.as_ref().map(|u| u.len())
        );
        if let Ok(units) = got {
            if let Some(unit) = units.first() {
                assert_eq!(unit.text, "deep: tok\n", "{name}");
            }
        }
    }
}

/// A notebook shaped like Jupyter writes it (indent 1, list-of-lines strings), with `images`
/// base64 PNG outputs of `image_len` bytes each.
fn image_heavy_notebook(images: usize, image_len: usize) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut out = String::from("{\n \"cells\": [\n");
    for i in 0..images {
        let payload: String = (0..image_len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(B64[(state % 64) as usize])
            })
            .collect();
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(&format!(
                "  {{\n   \"cell_type\": \"code\",\n   \"execution_count\": {i},\n   \"id\": \"c{i}\",\n   \"metadata\": {{}},\n   \"outputs\": [\n    {{\n     \"data\": {{\n      \"image/png\": \"{payload}\\n\",\n      \"text/plain\": [\n       \"<Figure size 640x480 with 1 Axes>\"\n      ]\n     }},\n     \"metadata\": {{}},\n     \"output_type\": \"display_data\"\n    }}\n   ],\n   \"source\": [\n    \"plt.plot(x{i})\\n\",\n    \"plt.show()\"\n   ]\n  }}"
            ));
    }
    out.push_str("\n ],\n \"metadata\": {\"kernelspec\": {\"name\": \"python3\"}},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n");
    out
}

#[test]
fn image_payloads_are_skipped() {
    let json = image_heavy_notebook(20, 50_000);
    let got = units(json.as_bytes()).unwrap();
    assert_eq!(got.len(), 20 * 2 + 1);
    let total: usize = got.iter().map(|u| u.text.len()).sum();
    assert!(total < 2_000, "image bytes leaked into units: {total}");
    let fig = &got[1];
    assert_eq!(
        (fig.cell, fig.output, fig.text.as_str()),
        (Some(1), Some(1), "<Figure size 640x480 with 1 Axes>")
    );
    assert_eq!(fig.locate(0), (1, 13));
}

/// `cargo test --release -- --ignored --nocapture parse_speed`: MB/s on a ~20 MB image-heavy
/// notebook.
#[test]
#[ignore = "benchmark"]
fn parse_speed() {
    let json = image_heavy_notebook(200, 100_000);
    let mb = json.len() as f64 / 1e6;
    let runs = 10;
    let start = Instant::now();
    for _ in 0..runs {
        let got = units(json.as_bytes()).unwrap();
        assert_eq!(got.len(), 401);
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(runs);
    println!(
        "image-heavy: {mb:.1} MB in {:.2} ms: {:.0} MB/s",
        secs * 1e3,
        mb / secs
    );

    // Text-heavy: many cells with list sources and ANSI stream outputs.
    let cell = r#"{"cell_type": "code", "metadata": {"tags": ["a"]}, "source": ["import numpy as np\n", "x = np.arange(10)\n", "print(\"value\", x)\n"], "outputs": [{"name": "stdout", "output_type": "stream", "text": ["\u001b[31mvalue\u001b[0m [0 1 2 3 4 5 6 7 8 9]\n"]}]}"#;
    let json = format!(
        "{{\"cells\": [{}], \"nbformat\": 4}}",
        vec![cell; 60_000].join(",\n")
    );
    let mb = json.len() as f64 / 1e6;
    let start = Instant::now();
    for _ in 0..runs {
        let got = units(json.as_bytes()).unwrap();
        assert_eq!(got.len(), 180_000);
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(runs);
    println!(
        "text-heavy: {mb:.1} MB in {:.2} ms: {:.0} MB/s",
        secs * 1e3,
        mb / secs
    );
}

/// Real Jupyter notebooks in tests/fixtures/notebooks (skipped when absent): each parses (or
/// fails, when expected.json says the scanner must fall back to raw lines), and every finding
/// expected.json lists is in the named unit at the stated cell line and raw line.
#[test]
fn fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notebooks");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let expected: serde_json::Value = std::fs::read(dir.join("expected.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut checked = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".ipynb") {
            continue;
        }
        let findings = expected[name].as_array().cloned().unwrap_or_default();
        let raw_fallback = findings.iter().any(|f| f["part"] == "raw");
        let got = units(&std::fs::read(&path).unwrap());
        if raw_fallback || name.contains("broken") {
            assert!(got.is_err(), "{name}: parsed, but is not a notebook");
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        for unit in got.iter().filter(|u| u.part == Part::Output) {
            assert!(!unit.text.contains('\x1b'), "{name}: ANSI left in {unit:?}");
        }
        for finding in &findings {
            let token = finding["token"].as_str().unwrap_or_default();
            let cell = finding["cell"].as_u64().map(|n| n as u32);
            let output = finding["output"].as_u64().map(|n| n as u32);
            let field = finding["field"].as_str().unwrap_or_default();
            let want = (
                finding["cell_line"].as_u64().unwrap_or_default() as u32,
                finding["raw_line"].as_u64().unwrap_or_default() as u32,
            );
            let found = got.iter().find_map(|u| {
                let here = u.cell == cell && u.output == output && u.field == field;
                here.then(|| u.text.find(token).map(|at| u.locate(at)))
                    .flatten()
            });
            assert_eq!(found, Some(want), "{name}: {finding}");
            checked += 1;
        }
        let hidden = expected["not_reported"][name].as_array().cloned();
        for token in hidden.iter().flatten().filter_map(|t| t["token"].as_str()) {
            assert!(
                !got.iter().any(|u| u.text.contains(token)),
                "{name}: {token} reported"
            );
        }
    }
    if expected.is_object() {
        assert!(checked > 0, "no expected finding checked");
    }
}

/// Issue 18 (cargo-mutants): an OSC string whose terminator (ESC \) is split across two
/// pushes, the backslash opening the second (two flushes of one stream): the string ends
/// there and the byte after it is text, as when the terminator arrives whole.
#[test]
fn osc_terminator_split_across_pushes() {
    let mut b = Builder::new(true);
    b.push("\x1b]0;title\x1b", 1);
    b.push("\\x", 1);
    assert_eq!(b.text, " 0;title x");
}

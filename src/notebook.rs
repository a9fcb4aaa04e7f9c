//! Jupyter notebook extraction: the text units of an `.ipynb` (cell sources, textual outputs,
//! metadata strings), each able to map a byte offset back to its cell line and raw file line.
//!
//! A secret in a notebook rarely sits on a raw JSON line as-is: it is JSON-escaped, split across
//! the elements of a multiline string list, or glued to an ANSI colour code in a traceback. So the
//! scanner reads the notebook's decoded text instead, and reports `cell 3, output 1, line 2`.
//!
//! Invariants:
//! - Lenient types: unknown fields and unknown output types are ignored, text fields are a
//!   string, a list of strings or null, `cell_type` is never required, nbformat 3
//!   (`worksheets`, `input`, `pyout`/`pyerr`, flattened mime keys) and 4 share one code path.
//!   A known field of the wrong JSON type is an `Err`: the caller then scans the raw lines, which
//!   never hides text, whereas guessing could.
//! - Binary payloads (base64 `image/png`, `application/pdf`, …) are borrowed as
//!   [`RawValue`] and skipped: each byte of the file is parsed once and never copied.
//! - No recursion whose depth depends on the input: the typed part of the parse has a fixed depth,
//!   everything below it is skipped by serde_json's iterative `ignore_value` or read by the
//!   iterative string-leaf scanner here, so a 100 000-level nesting cannot overflow the stack.
//! - Stripping ANSI sequences never drops printable text: CSI and two-byte escapes go, the payload
//!   of OSC-style string sequences (a hyperlink's URL may hold a token) stays, fenced by spaces.
//! - Units with empty text are not emitted; every emitted unit has a line entry at offset 0, so
//!   [`Unit::locate`] always has an answer and never panics.

use std::borrow::Cow;
use std::fmt;

use anyhow::{bail, Context, Result};
use memchr::{memchr, memchr2};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Which part of a notebook a unit's text comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// A cell's source (`source`, or `input` for nbformat 3 code cells).
    Source,
    /// One textual representation of one output (a stream, a mime entry, an error).
    Output,
    /// String leaves of cell or notebook metadata (widget state included).
    Metadata,
    /// A textual mime entry of a markdown/raw cell's `attachments`.
    Attachment,
}

/// One piece of decoded notebook text.
#[derive(Clone, Debug)]
pub struct Unit {
    /// 1-based index in the notebook's cells (counted across nbformat 3 worksheets); None for
    /// notebook-level metadata.
    pub cell: Option<u32>,
    /// 1-based index in the cell's outputs; None for sources, attachments and metadata.
    pub output: Option<u32>,
    pub part: Part,
    /// The JSON member the text comes from, for messages: `source` (`input` in nbformat 3),
    /// `text` (stream), a mime type (`text/plain`, …) or an nbformat 3 short key (`text`, `html`,
    /// …), `ename`/`evalue`/`traceback`, `metadata`, or `NAME: mime` for an attachment.
    pub field: String,
    /// JSON-decoded text: list elements joined, ANSI sequences removed from outputs.
    pub text: String,
    /// (byte offset in `text` where a text line starts, 1-based raw file line of the JSON string
    /// holding it); strictly increasing offsets, the first one 0.
    lines: Vec<(usize, u32)>,
    /// (byte offset in `text`, raw line) where text from another JSON string continues a line
    /// (a list element or a flush that does not start a line); strictly increasing offsets,
    /// usually empty (Jupyter splits lists at newlines).
    raws: Vec<(usize, u32)>,
    /// For consecutive stream outputs joined into one unit: (byte offset in `text` where an
    /// output's text starts, its 1-based output number); strictly increasing offsets, the first
    /// one 0. Empty for every other unit.
    pieces: Vec<(usize, u32)>,
}

impl Unit {
    /// The output holding the byte at `offset`: for joined stream outputs, the one it was
    /// written by; otherwise `output`.
    pub fn output_at(&self, offset: usize) -> Option<u32> {
        let after = self.pieces.partition_point(|&(start, _)| start <= offset);
        match after.checked_sub(1).and_then(|i| self.pieces.get(i)) {
            Some(&(_, out)) => Some(out),
            None => self.output,
        }
    }

    /// (cell_line 1-based line within `text`, raw 1-based line in the .ipynb file) for a byte
    /// offset in `text`. An offset past the end answers the last line.
    pub fn locate(&self, offset: usize) -> (u32, u32) {
        let after = self.lines.partition_point(|&(start, _)| start <= offset);
        match after.checked_sub(1).and_then(|i| self.lines.get(i)) {
            Some(&(line_start, raw)) => {
                // A line continued by a later JSON string (another flush, list element): the
                // raw line is that string's, where the byte at `offset` was written.
                let later = self.raws.partition_point(|&(start, _)| start <= offset);
                let raw = match later.checked_sub(1).and_then(|i| self.raws.get(i)) {
                    Some(&(start, r)) if start > line_start => r,
                    _ => raw,
                };
                (to_u32(after), raw)
            }
            // Unreachable for emitted units (their first line starts at 0); answer something sane.
            None => (1, self.lines.first().map_or(1, |&(_, raw)| raw)),
        }
    }
}

/// Text units of a notebook, in document order: per cell its source, attachments, outputs in
/// order (one unit per textual mime entry; consecutive stream outputs of one stream joined into
/// one unit, as Jupyter shows them), each output's metadata, cell metadata; notebook metadata
/// last.
///
/// Err (with a short reason) when the bytes are not a JSON notebook: invalid UTF-8 or JSON, not
/// an object with `cells`/`worksheets`, nbformat < 3, or a known field of the wrong type.
pub fn units(raw: &[u8]) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for_each_unit(raw, |u| units.push(u))?;
    Ok(units)
}

/// `units`, handed to `sink` one at a time and in the same order, so a caller that scans each
/// unit and lets it go holds one unit's text at a time, not the whole notebook's. On Err, some
/// units may already have been handed over.
pub fn for_each_unit(raw: &[u8], sink: impl FnMut(Unit)) -> Result<()> {
    let input = std::str::from_utf8(raw).context("notebook is not valid UTF-8")?;
    // Some editors write a BOM; serde_json rejects it. Offsets stay relative to `input`.
    let json = input.strip_prefix('\u{feff}').unwrap_or(input);
    let notebook: RawNotebook<'_> = serde_json::from_str(json)
        .map_err(json_error)
        .context("not a JSON notebook")?;
    if let Some(version) = notebook.nbformat {
        if let Ok(v) = version.get().parse::<f64>() {
            if v < 3.0 {
                bail!("nbformat {v} is not supported (3 or later expected)");
            }
        }
    }
    if notebook.cells.is_none() && notebook.worksheets.is_none() {
        bail!("not a notebook: no `cells` or `worksheets`");
    }

    let mut ex = Extractor::new(input, sink);
    let worksheet_cells = notebook
        .worksheets
        .iter()
        .flatten()
        .flat_map(|w| w.cells.iter().flatten());
    for (index, cell) in notebook
        .cells
        .iter()
        .flatten()
        .chain(worksheet_cells)
        .enumerate()
    {
        let number = to_u32(index.saturating_add(1));
        ex.cell(number, cell)
            .with_context(|| format!("cell {number}"))?;
    }
    if let Some(metadata) = notebook.metadata {
        let mut b = Builder::new(false);
        ex.push_leaves(&mut b, metadata.get())
            .context("notebook metadata")?;
        ex.finish(b, None, None, Part::Metadata, "metadata");
    }
    Ok(())
}

/// serde_json quotes the JSON string it rejects (`invalid type: string "hf_…", expected …`), and
/// the reason ends up in a report note: drop every double-quoted value, keep the rest (what was
/// expected, `duplicate field`, the position).
fn json_error(e: serde_json::Error) -> anyhow::Error {
    let message = e.to_string();
    let mut out = String::with_capacity(message.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in message.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => quoted = false,
            (true, false, _) => {}
            (false, _, '"') => {
                out.push_str("\"…\"");
                quoted = true;
            }
            (false, _, c) => out.push(c),
        }
    }
    anyhow::anyhow!(out)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------------
// Lenient typed view of the notebook: objects only (serde's derive would also accept a JSON
// array as a struct), unknown keys skipped without copying, every text field a borrowed RawValue.

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON object's members in document order (a mime bundle, the attachments map).
struct Members<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Members<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MembersVisitor<V> {
            type Value = Members<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    members.push((key.0.into_owned(), map.next_value::<V>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

/// Declares a struct of optional fields read from a JSON object: unknown keys are skipped,
/// a repeated known key is an error (which value would Jupyter show? scanning raw lines is safer).
macro_rules! json_object {
    ($(#[$doc:meta])* struct $name:ident { $($field:ident: $ty:ty = $key:literal,)* }) => {
        $(#[$doc])*
        #[derive(Default)]
        struct $name<'a> {
            $($field: Option<$ty>,)*
        }

        impl<'a> Deserialize<'a> for $name<'a> {
            fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'a> Visitor<'a> for ObjectVisitor {
                    type Value = $name<'a>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<Key<'a>>()? {
                            match &*key.0 {
                                $($key => {
                                    let value: Option<$ty> = map.next_value()?;
                                    if value.is_some() {
                                        if out.$field.is_some() {
                                            return Err(de::Error::duplicate_field($key));
                                        }
                                        out.$field = value;
                                    }
                                })*
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(ObjectVisitor)
            }
        }
    };
}

json_object! {
    /// The notebook: nbformat 4 `cells`, nbformat 3 `worksheets`.
    struct RawNotebook {
        nbformat: &'a RawValue = "nbformat",
        cells: Vec<RawCell<'a>> = "cells",
        worksheets: Vec<RawWorksheet<'a>> = "worksheets",
        metadata: &'a RawValue = "metadata",
    }
}

json_object! {
    /// An nbformat 3 worksheet.
    struct RawWorksheet {
        cells: Vec<RawCell<'a>> = "cells",
    }
}

json_object! {
    /// Any cell type; `input` is nbformat 3's code cell source.
    struct RawCell {
        source: &'a RawValue = "source",
        input: &'a RawValue = "input",
        outputs: Vec<RawOutput<'a>> = "outputs",
        metadata: &'a RawValue = "metadata",
        attachments: Members<Members<&'a RawValue>> = "attachments",
    }
}

json_object! {
    /// Any output type. nbformat 3 flattens the mime bundle into the output under short names.
    struct RawOutput {
        output_type: Key<'a> = "output_type",
        name: Key<'a> = "name",
        metadata: &'a RawValue = "metadata",
        text: &'a RawValue = "text",
        data: Members<&'a RawValue> = "data",
        ename: &'a RawValue = "ename",
        evalue: &'a RawValue = "evalue",
        traceback: &'a RawValue = "traceback",
        html: &'a RawValue = "html",
        markdown: &'a RawValue = "markdown",
        latex: &'a RawValue = "latex",
        svg: &'a RawValue = "svg",
        json: &'a RawValue = "json",
        javascript: &'a RawValue = "javascript",
    }
}

// ---------------------------------------------------------------------------------------------
// Unit extraction.

struct Extractor<'a, F> {
    input: &'a str,
    /// Byte offsets of every '\n' in `input`.
    newlines: Vec<usize>,
    sink: F,
}

/// Consecutive stream outputs of one stream being joined: its name, its first output's number,
/// the text so far and where each later output starts.
struct Stream<'a> {
    name: Cow<'a, str>,
    builder: Builder,
}

impl<'a, F: FnMut(Unit)> Extractor<'a, F> {
    fn new(input: &'a str, sink: F) -> Self {
        let newlines = memchr::memchr_iter(b'\n', input.as_bytes()).collect();
        Extractor {
            input,
            newlines,
            sink,
        }
    }

    /// Byte offset of `s` in the input. Every RawValue borrows from the input (serde_json
    /// refuses to deserialize `&RawValue` otherwise), so this is in range; clamp regardless.
    fn offset_of(&self, s: &str) -> usize {
        (s.as_ptr() as usize)
            .saturating_sub(self.input.as_ptr() as usize)
            .min(self.input.len())
    }

    /// 1-based raw line of a byte offset in the input.
    fn line_at(&self, offset: usize) -> u32 {
        to_u32(
            self.newlines
                .partition_point(|&nl| nl < offset)
                .saturating_add(1),
        )
    }

    fn line_of(&self, s: &str) -> u32 {
        self.line_at(self.offset_of(s))
    }

    fn finish(
        &mut self,
        b: Builder,
        cell: Option<u32>,
        output: Option<u32>,
        part: Part,
        field: &str,
    ) {
        if !b.text.is_empty() {
            let mut pieces = b.pieces;
            // The output whose text comes first; one piece needs no map.
            let output = pieces.first().map_or(output, |&(_, out)| Some(out));
            if pieces.len() == 1 {
                pieces = Vec::new();
            }
            (self.sink)(Unit {
                cell,
                output,
                part,
                field: field.to_owned(),
                text: b.text,
                lines: b.lines,
                raws: b.raws,
                pieces,
            });
        }
    }

    fn end_stream(&mut self, cell: u32, open: &mut Option<Stream<'a>>) {
        if let Some(st) = open.take() {
            self.finish(st.builder, Some(cell), None, Part::Output, "text");
        }
    }

    fn cell(&mut self, number: u32, cell: &RawCell<'a>) -> Result<()> {
        for (name, field) in [("source", cell.source), ("input", cell.input)] {
            if let Some(raw) = field {
                let mut b = Builder::new(false);
                self.push_text(&mut b, raw, None)
                    .with_context(|| format!("`{name}`"))?;
                self.finish(b, Some(number), None, Part::Source, name);
            }
        }
        for (name, bundle) in cell.attachments.iter().flat_map(|a| &a.0) {
            for (mime, raw) in &bundle.0 {
                let mut b = Builder::new(false);
                self.push_mime(&mut b, mime, raw)
                    .with_context(|| format!("attachment {name:?} {mime}"))?;
                let field = format!("{name}: {mime}");
                self.finish(b, Some(number), None, Part::Attachment, &field);
            }
        }
        // Jupyter, nbclient and papermill store each flushed write as its own stream output and
        // show consecutive ones of one stream as one text: a token printed in two flushes is
        // only whole once they are joined.
        let mut open: Option<Stream<'a>> = None;
        for (index, output) in cell.outputs.iter().flatten().enumerate() {
            let out = to_u32(index.saturating_add(1));
            let stream = output.output_type.as_ref().map(|k| &*k.0) == Some("stream");
            let name = output
                .name
                .as_ref()
                .map_or(Cow::Borrowed(""), |k| k.0.clone());
            if !stream || open.as_ref().is_some_and(|st| st.name != name) {
                self.end_stream(number, &mut open);
            }
            if stream {
                if let Some(raw) = output.text {
                    let st = open.get_or_insert_with(|| Stream {
                        name,
                        builder: Builder::new(true),
                    });
                    st.builder.next_piece = Some(out);
                    self.push_text(&mut st.builder, raw, None)
                        .with_context(|| format!("output {out}: `text`"))?;
                }
            } else {
                self.output(number, out, output)
                    .with_context(|| format!("output {out}"))?;
            }
            if let Some(metadata) = output.metadata {
                let mut b = Builder::new(false);
                self.push_leaves(&mut b, metadata.get())
                    .with_context(|| format!("output {out}: metadata"))?;
                self.finish(b, Some(number), Some(out), Part::Metadata, "metadata");
            }
        }
        self.end_stream(number, &mut open);
        if let Some(metadata) = cell.metadata {
            let mut b = Builder::new(false);
            self.push_leaves(&mut b, metadata.get())
                .context("metadata")?;
            self.finish(b, Some(number), None, Part::Metadata, "metadata");
        }
        Ok(())
    }

    fn output(&mut self, cell: u32, out: u32, output: &RawOutput<'a>) -> Result<()> {
        let (cell, out) = (Some(cell), Some(out));
        let kind = output.output_type.as_ref().map(|k| &*k.0);
        match kind {
            // Streams are joined by `cell`.
            Some("execute_result" | "display_data" | "update_display_data" | "pyout") => {
                // nbformat 3 short keys, in the order nbformat 3 lists them.
                // nbformat 3 flattens the bundle into the output under short keys; the field
                // keeps the key as written, the mime type decides how to read it.
                let flattened = [
                    ("text", "text/plain", output.text),
                    ("html", "text/html", output.html),
                    ("markdown", "text/markdown", output.markdown),
                    ("latex", "text/latex", output.latex),
                    ("svg", "image/svg+xml", output.svg),
                    ("json", "application/json", output.json),
                    ("javascript", "application/javascript", output.javascript),
                ];
                let bundle = output.data.iter().flat_map(|d| &d.0);
                let entries = bundle.map(|(mime, raw)| (mime.as_str(), mime.as_str(), *raw));
                let short = flattened
                    .into_iter()
                    .filter_map(|(key, mime, raw)| Some((key, mime, raw?)));
                for (field, mime, raw) in entries.chain(short) {
                    let mut b = Builder::new(true);
                    self.push_mime(&mut b, mime, raw)
                        .with_context(|| format!("`{field}`"))?;
                    self.finish(b, cell, out, Part::Output, field);
                }
            }
            Some("error" | "pyerr") => {
                // One unit each, so a cell line counts within what Jupyter shows as one block;
                // traceback elements are separate lines (each may hold several).
                let fields = [
                    ("ename", output.ename, None),
                    ("evalue", output.evalue, None),
                    ("traceback", output.traceback, Some("\n")),
                ];
                for (name, raw, sep) in fields {
                    if let Some(raw) = raw {
                        let mut b = Builder::new(true);
                        self.push_text(&mut b, raw, sep)
                            .with_context(|| format!("`{name}`"))?;
                        self.finish(b, cell, out, Part::Output, name);
                    }
                }
            }
            // Unknown output types carry no text we know how to read.
            _ => {}
        }
        Ok(())
    }

    /// A string, a list of strings (concatenated, or joined by `sep`), or null.
    fn push_text(&self, b: &mut Builder, raw: &'a RawValue, sep: Option<&str>) -> Result<()> {
        let json = raw.get();
        match json.as_bytes().first() {
            Some(b'"') => b.push(&decode_json_str(json), self.line_of(json)),
            Some(b'[') => {
                let items: Vec<&'a RawValue> = serde_json::from_str(json).map_err(json_error)?;
                let mut prev_line = 0;
                for (i, item) in items.into_iter().enumerate() {
                    let item = item.get();
                    let line = self.line_of(item);
                    if i > 0 {
                        if let Some(sep) = sep {
                            // The separator ends the previous element's line.
                            b.push(sep, prev_line);
                        }
                    }
                    prev_line = line;
                    match item.as_bytes().first() {
                        Some(b'"') => b.push(&decode_json_str(item), line),
                        Some(b'n') => {}
                        _ => bail!("list element {} is not a string", i.saturating_add(1)),
                    }
                }
            }
            Some(b'n') => {}
            _ => bail!("expected a string or a list of strings"),
        }
        Ok(())
    }

    /// One mime bundle entry: JSON values (objects, arrays of JSON mime types) as string leaves,
    /// textual mime types as text, everything else (base64 images, PDFs, …) skipped unread.
    fn push_mime(&self, b: &mut Builder, mime: &str, raw: &'a RawValue) -> Result<()> {
        let json = raw.get();
        let mime = mime_essence(mime);
        match json.as_bytes().first() {
            Some(b'{') => self.push_leaves(b, json),
            Some(b'[') if is_json_mime(&mime) => self.push_leaves(b, json),
            Some(b'"' | b'[') if is_textual_mime(&mime) => self.push_text(b, raw, None),
            _ => Ok(()),
        }
    }

    /// Every string value of a JSON value, one per line, prefixed `key: ` when it is an object
    /// member's (detectors key on the name: `"api_key": "…"`). Keys of non-string members are
    /// left out: they are field names (`collapsed`, `version_major`), not data.
    /// Iterative: in valid JSON every '"' outside a string opens one, so nesting depth is moot.
    fn push_leaves(&self, b: &mut Builder, json: &str) -> Result<()> {
        let bytes = json.as_bytes();
        let base = self.offset_of(json);
        let token = |start: usize| -> Result<(usize, Cow<'_, str>, u32)> {
            let end = json_str_end(bytes, start).context("unterminated string in JSON value")?;
            let text = decode_json_str(json.get(start..end).unwrap_or(""));
            Ok((end, text, self.line_at(base.saturating_add(start))))
        };
        let mut at = 0;
        while let Some(found) = bytes.get(at..).and_then(|rest| memchr(b'"', rest)) {
            let (end, text, line) = token(at.saturating_add(found))?;
            at = end;
            let colon = skip_ws(bytes, end);
            if bytes.get(colon) != Some(&b':') {
                b.push(&text, line);
                b.push("\n", line);
                continue;
            }
            let value = skip_ws(bytes, colon.saturating_add(1));
            if bytes.get(value) == Some(&b'"') {
                let (value_end, value_text, value_line) = token(value)?;
                b.push(&text, line);
                b.push(": ", line);
                b.push(&value_text, value_line);
                b.push("\n", value_line);
                at = value_end;
            }
        }
        Ok(())
    }
}

/// Index just past the closing quote of the JSON string opening at `start`.
fn json_str_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start.checked_add(1)?;
    loop {
        let found = memchr2(b'"', b'\\', bytes.get(at..)?)?;
        let pos = at.checked_add(found)?;
        if bytes.get(pos) == Some(&b'"') {
            return pos.checked_add(1);
        }
        at = pos.checked_add(2)?;
    }
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at = at.saturating_add(1);
    }
    at
}

/// Decodes a JSON string token (quotes included). Lenient where serde_json is strict: a lone
/// UTF-16 surrogate (Python's json writes them) becomes U+FFFD instead of failing the notebook.
fn decode_json_str(token: &str) -> Cow<'_, str> {
    let inner = token
        .strip_prefix('"')
        .map(|t| t.strip_suffix('"').unwrap_or(t))
        .unwrap_or(token);
    if memchr(b'\\', inner.as_bytes()).is_none() {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(pos) = memchr(b'\\', rest.as_bytes()) {
        out.push_str(rest.get(..pos).unwrap_or(""));
        let escape = rest.get(pos.saturating_add(1)..).unwrap_or("");
        let mut chars = escape.chars();
        let consumed = match chars.next() {
            Some('u') => {
                let (c, used) = decode_unicode_escape(escape.get(1..).unwrap_or(""));
                out.push(c);
                1 + used
            }
            Some(c) => {
                out.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    other => other, // '"', '\\', '/'
                });
                c.len_utf8()
            }
            None => 0,
        };
        rest = escape.get(consumed..).unwrap_or("");
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes the hex digits after `\u` (and a following `\uXXXX` low surrogate); returns the
/// character and how many bytes of `s` it used.
fn decode_unicode_escape(s: &str) -> (char, usize) {
    let hex = |s: &str| s.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok());
    let Some(first) = hex(s) else {
        return (char::REPLACEMENT_CHARACTER, 0);
    };
    if (0xD800..0xDC00).contains(&first) {
        let low = s.get(4..).and_then(|r| r.strip_prefix("\\u")).and_then(hex);
        if let Some(low @ 0xDC00..=0xDFFF) = low {
            let c = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
            return (char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER), 10);
        }
    }
    (
        char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
        4,
    )
}

/// `Text/HTML; charset=utf-8` → `text/html`.
fn mime_essence(mime: &str) -> Cow<'_, str> {
    let essence = mime.split(';').next().unwrap_or(mime).trim();
    if essence.bytes().any(|c| c.is_ascii_uppercase()) {
        Cow::Owned(essence.to_ascii_lowercase())
    } else {
        Cow::Borrowed(essence)
    }
}

fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || mime.ends_with("+json")
}

/// Mime types whose string value is text to scan; anything else in a string is treated as a
/// base64 binary payload (images, PDFs) and skipped, like nbformat's own rule.
fn is_textual_mime(mime: &str) -> bool {
    mime.starts_with("text/")
        || is_json_mime(mime)
        || mime.ends_with("+xml") // image/svg+xml, application/xhtml+xml
        || matches!(
            mime,
            "application/javascript"
                | "application/ecmascript"
                | "application/x-javascript"
                | "application/xml"
                | "application/x-latex"
                | "application/x-tex"
                | "application/vnd.jupyter.stdout"
                | "application/vnd.jupyter.stderr"
        )
}

// ---------------------------------------------------------------------------------------------
// Unit text building: line starts and ANSI stripping.

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// Where the ANSI stripper is inside an escape sequence; kept across pushes, so a sequence split
/// between two list elements is still removed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ansi {
    Text,
    /// After ESC.
    Esc,
    /// ESC followed by intermediate bytes (`ESC ( B`).
    EscIntermediate,
    /// Inside `ESC [` parameters.
    Csi,
    /// Inside the payload of OSC/DCS/SOS/PM/APC, until BEL or `ESC \`.
    StringSeq,
    /// ESC inside such a payload.
    StringEsc,
}

struct Builder {
    text: String,
    lines: Vec<(usize, u32)>,
    /// See `Unit::raws` and `Unit::pieces`.
    raws: Vec<(usize, u32)>,
    pieces: Vec<(usize, u32)>,
    /// Raw line of the JSON string the last byte came from.
    raw_line: u32,
    /// The output whose first byte is still to come: recorded in `pieces` when it arrives, so an
    /// output without text claims no offset.
    next_piece: Option<u32>,
    at_line_start: bool,
    strip_ansi: bool,
    ansi: Ansi,
}

impl Builder {
    fn new(strip_ansi: bool) -> Self {
        Builder {
            text: String::new(),
            lines: Vec::new(),
            raws: Vec::new(),
            pieces: Vec::new(),
            raw_line: 0,
            next_piece: None,
            at_line_start: true,
            strip_ansi,
            ansi: Ansi::Text,
        }
    }

    /// Appends decoded text that came from a JSON string on raw line `raw_line`.
    fn push(&mut self, s: &str, raw_line: u32) {
        if self.strip_ansi {
            self.push_stripped(s, raw_line);
        } else {
            self.push_plain(s, raw_line);
        }
    }

    /// Appends text, recording a line entry wherever a line gets its first byte; an empty line
    /// counts (it gets its '\n'), an empty push records nothing.
    fn push_plain(&mut self, s: &str, raw_line: u32) {
        let mut rest = s;
        if rest.is_empty() {
            return;
        }
        if let Some(out) = self.next_piece.take() {
            self.pieces.push((self.text.len(), out));
        }
        if !self.at_line_start && raw_line != self.raw_line {
            self.raws.push((self.text.len(), raw_line));
        }
        self.raw_line = raw_line;
        while !rest.is_empty() {
            if self.at_line_start {
                self.lines.push((self.text.len(), raw_line));
                self.at_line_start = false;
            }
            match memchr(b'\n', rest.as_bytes()) {
                Some(nl) => {
                    let (line, tail) = rest.split_at(nl.saturating_add(1).min(rest.len()));
                    self.text.push_str(line);
                    rest = tail;
                    self.at_line_start = true;
                }
                None => {
                    self.text.push_str(rest);
                    rest = "";
                }
            }
        }
    }

    /// Appends text without ANSI sequences. Cuts only next to ASCII bytes, so every slice is on
    /// a char boundary.
    fn push_stripped(&mut self, s: &str, raw_line: u32) {
        let bytes = s.as_bytes();
        let mut at = 0;
        while let Some(&c) = bytes.get(at) {
            match self.ansi {
                Ansi::Text | Ansi::StringSeq => {
                    let rest = bytes.get(at..).unwrap_or(&[]);
                    let found = if self.ansi == Ansi::Text {
                        memchr(ESC, rest)
                    } else {
                        memchr2(ESC, BEL, rest)
                    };
                    let end = found.map_or(bytes.len(), |f| at.saturating_add(f));
                    self.push_plain(s.get(at..end).unwrap_or(""), raw_line);
                    match bytes.get(end) {
                        Some(&BEL) => {
                            self.push_plain(" ", raw_line);
                            self.ansi = Ansi::Text;
                        }
                        Some(_) if self.ansi == Ansi::Text => self.ansi = Ansi::Esc,
                        Some(_) => self.ansi = Ansi::StringEsc,
                        None => {}
                    }
                    at = end.saturating_add(1);
                }
                Ansi::Esc => {
                    self.ansi = match c {
                        b'[' => Ansi::Csi,
                        b']' | b'P' | b'X' | b'^' | b'_' => {
                            self.push_plain(" ", raw_line);
                            Ansi::StringSeq
                        }
                        0x20..=0x2f => Ansi::EscIntermediate,
                        0x30..=0x7e => Ansi::Text,
                        // Not a sequence: drop the ESC, reread the byte as text.
                        _ => {
                            self.ansi = Ansi::Text;
                            continue;
                        }
                    };
                    at += 1;
                }
                Ansi::EscIntermediate | Ansi::Csi => {
                    let (stay, last) = if self.ansi == Ansi::Csi {
                        (0x20..=0x3f, 0x40..=0x7e)
                    } else {
                        (0x20..=0x2f, 0x30..=0x7e)
                    };
                    if stay.contains(&c) {
                        at += 1;
                    } else if last.contains(&c) {
                        self.ansi = Ansi::Text;
                        at += 1;
                    } else {
                        // Malformed: end the sequence, keep the byte as text.
                        self.ansi = Ansi::Text;
                    }
                }
                Ansi::StringEsc => {
                    self.push_plain(" ", raw_line);
                    if c == b'\\' {
                        self.ansi = Ansi::Text;
                        at += 1;
                    } else {
                        // A new sequence ends the string: reread this byte as the one after ESC.
                        self.ansi = Ansi::Esc;
                    }
                }
            }
        }
    }
}

// After the `json_object!` macro: the editor reads cells with the same strictness.
pub mod edit;

#[cfg(test)]
mod tests;

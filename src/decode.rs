//! Encoded-span discovery and decoding.
//!
//! Credentials are often committed in disguise: base64 in Kubernetes `Secret.data` values, Helm
//! values and `.dockerconfigjson` `auths.*.auth` (base64 of `user:token`), percent-encoded in
//! connection strings and URLs, `\uXXXX` / `\xXX` escaped in JSON and C-style strings.
//! [`decode_spans`] finds the spans of a scan unit that look encoded and returns each with its
//! decoded bytes; the detector scans those as well (and recurses into them, to a small depth of its
//! own — this module decodes exactly one level and never recurses).
//!
//! Invariants:
//! - Linear time in `text.len()`. Every scanner only moves forward, and its backward looks (finding
//!   where a run starts) never cross a byte it already looked at; a base64 run is tested on a
//!   bounded prefix ([`PROBE_CHARS`]) before it is decoded whole, so a megabyte image blob costs
//!   one table scan and a 258-byte probe.
//! - No panics on any input (no unchecked indexing of input data), no recursion.
//! - Only text is returned (see [`is_text`]): binary decodings are dropped, so the detector never
//!   scans noise.
//! - Spans are sorted by `start` (ties in [`Encoding`] order). Spans of one encoding never overlap;
//!   spans of different encodings may (a base64 run inside a percent-encoded URL).
//! - Bounded output: at most [`MAX_SPANS`] spans and at most `text.len() + OUTPUT_SLACK` decoded
//!   bytes per call. Each encoding alone decodes to no more bytes than it consumes; the slack only
//!   matters when spans of different encodings overlap. [`decode_spans_bounded`] says whether a
//!   bound cut the output.
//!
//! Choices (thresholds are the `const`s below):
//! - Base64: a candidate is a maximal run of at least [`MIN_BASE64_RUN`] symbols `[A-Za-z0-9+/_-]`,
//!   with any `=` padding that follows. `=` always ends a run, so `key=<base64>` splits cleanly. Runs
//!   that are all hex digits and dashes (digests, UUIDs) are never base64. A run mixing `+`/`/` with
//!   `-`/`_` is no encoder's output and is not decoded whole. A run that follows
//!   `data:image|audio|video|font/...;base64,` is skipped without decoding. Because `/` is both a
//!   base64 symbol and a path separator, a run that fails as a whole is retried once from just after
//!   its last `/` (`https://host/path/<base64url>`). Decoding is lenient: padding is optional, a
//!   trailing partial quantum of one character is ignored, non-zero trailing bits are accepted.
//! - Percent: a maximal run of URL characters (printable ASCII except quotes, `<>`, `\`, `{}|^`,
//!   plus any non-ASCII byte) containing a valid `%XX` is decoded whole, so the detector sees the
//!   token with its context (`postgres://app:p%40ss@db` becomes `postgres://app:p@ss@db`). `+` is
//!   kept as is: it is a space only in form-encoded query strings, while base64 tokens carried in
//!   URLs contain a literal `+` that turning into a space would break.
//! - Escape: a maximal run of non-whitespace bytes containing `\uXXXX`, `\u{X..}`, `\UXXXXXXXX`,
//!   `\xXX` or JSON's `\/` is unescaped whole: those, surrogate pairs (one character; a lone
//!   surrogate becomes U+FFFD), and `\n \r \t \" \' \\ \/`. `\xXX` is the raw byte (C and Python bytes semantics; a
//!   UTF-8 sequence written as `\xe2\x82\xac` comes out right). Other escapes (`\b`, `\0`, ...) and
//!   malformed ones (`\u12`) stay literal. The trigger is textual, so double-escaped JSON
//!   (`\\u0068`) yields one level (`\u0068`) and the caller's recursion does the rest.

use memchr::{memchr, memchr2, memmem, memrchr};
use serde::Serialize;

/// Most spans one call returns; [`decode_spans_bounded`] sets `truncated` when more were found.
pub const MAX_SPANS: usize = 10_000;

/// Decoded bytes one call may return beyond `text.len()` (overlapping spans of different
/// encodings); further spans are dropped and [`decode_spans_bounded`] sets `truncated`.
pub const OUTPUT_SLACK: usize = 4096;

/// Fewest base64 symbols (padding not counted) in a run worth decoding: the base64 of a
/// 12-character password, as in a Kubernetes `data:` value, is 16 symbols; a run decodes to at
/// least 12 bytes. Shorter runs are mostly identifiers. Also the sampling stride of the scanner.
const MIN_BASE64_RUN: usize = 16;

/// Shortest decoding returned: nothing shorter holds a credential worth a finding.
const MIN_TEXT_LEN: usize = 8;

/// What counts as text for one kind of decoding (see [`is_text`]).
#[derive(Clone, Copy)]
struct Textness {
    /// At most one control character (tab, CR, LF excepted) per this many bytes.
    control_per: usize,
    /// Accept invalid UTF-8 that is at least 90% printable ASCII (Latin-1 text).
    latin1: bool,
}

/// Base64 decodings must be clean UTF-8 with almost no controls: text that was base64-encoded
/// (configs, tokens, JSON, PEM) is, while an identifier that decodes to near-text by chance
/// usually has a stray high byte or control in its dozen bytes (`LifecycleConfigName`).
const BASE64_TEXT: Textness = Textness {
    control_per: 32,
    latin1: false,
};

/// Percent and escape decodings were text already; only escapes that produce binary
/// (`\x00\x01...`) are to be dropped, and `%E9` / `\xE9` Latin-1 stays acceptable.
const ESCAPED_TEXT: Textness = Textness {
    control_per: 10,
    latin1: true,
};

/// Base64 characters decoded to test a run's textness before decoding it whole (258 bytes).
const PROBE_CHARS: usize = 344;
const PROBE_BYTES: usize = PROBE_CHARS / 4 * 3;
/// Runs up to this long are decoded whole into a small buffer instead.
const SMALL_PROBE_CHARS: usize = 64;

/// How far before `;base64,` to look for `data:` (media types are short).
const MAX_MEDIA_TYPE: usize = 128;

/// How a span was encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// Standard alphabet (`+`, `/`), padding optional. Also used for runs that contain neither
    /// `+`/`/` nor `-`/`_`, where the two alphabets agree.
    Base64,
    /// URL-safe alphabet (`-`, `_`). Renamed so the JSON name matches [`Encoding::name`]
    /// (kebab-case alone would give `base64-url`).
    #[serde(rename = "base64url")]
    Base64Url,
    /// `%XX` escapes.
    Percent,
    /// Backslash escapes: `\uXXXX`, `\xXX` and friends.
    Escape,
}

impl Encoding {
    /// Stable lower-case name, as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
            Encoding::Percent => "percent",
            Encoding::Escape => "escape",
        }
    }
}

/// One encoded span of the scanned text and what it decodes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Byte offset of the span's first byte in the scanned text.
    pub start: usize,
    /// Byte offset just past the span (exclusive).
    pub end: usize,
    pub encoding: Encoding,
    /// The decoded span: text (see the module header), not necessarily UTF-8.
    pub bytes: Vec<u8>,
}

/// [`decode_spans`] plus whether a bound ([`MAX_SPANS`], [`OUTPUT_SLACK`]) dropped spans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decodings {
    pub spans: Vec<Decoded>,
    pub truncated: bool,
}

/// Spans of `text` (byte offsets, end exclusive) that look encoded, each with its decoded bytes.
/// Only decodings that are text worth scanning are returned.
pub fn decode_spans(text: &[u8]) -> Vec<Decoded> {
    decode_spans_bounded(text).spans
}

/// Like [`decode_spans`], also telling whether the output bounds dropped spans, so the caller can
/// report an incomplete scan instead of silently passing it.
pub fn decode_spans_bounded(text: &[u8]) -> Decodings {
    // Most lines have neither `%` nor `\`: one search settles both of those scanners.
    let has_escapes = memchr2(b'%', b'\\', text).is_some();
    // One lazy scanner per encoding, merged by start offset: each yields its spans in order, and
    // stopping at MAX_SPANS stops the decoding work too. Index order is the tie-break order.
    let mut scanners = [
        Scanner::new(Kind::Base64),
        Scanner::new(Kind::Percent),
        Scanner::new(Kind::Escape),
    ];
    let mut heads: [Option<Decoded>; 3] = [None, None, None];
    for (head, scanner) in heads.iter_mut().zip(scanners.iter_mut()) {
        if has_escapes || matches!(scanner.kind, Kind::Base64) {
            *head = scanner.next(text);
        }
    }
    let budget = text.len().saturating_add(OUTPUT_SLACK);
    let mut used = 0usize;
    let mut out = Decodings::default();
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, head)| head.as_ref().map(|d| (d.start, i)))
            .min();
        let Some((_, i)) = next else { break };
        let (Some(head), Some(scanner)) = (heads.get_mut(i), scanners.get_mut(i)) else {
            break;
        };
        let Some(span) = head.take() else { break };
        *head = scanner.next(text);
        if out.spans.len() >= MAX_SPANS {
            out.truncated = true;
            break;
        }
        let len = span.bytes.len();
        if used.saturating_add(len) > budget {
            // Skip rather than stop: a later, smaller span may still fit, and the flag tells.
            out.truncated = true;
            continue;
        }
        used += len;
        out.spans.push(span);
    }
    out
}

// Byte classes, one table lookup per input byte on the hot path.
/// In a base64 run: `[A-Za-z0-9+/_-]`.
const B64: u8 = 1;
/// A base64 run byte that is not a hex digit or `-` (hex digests and UUIDs have none).
const NONHEX: u8 = 2;
const SLASH: u8 = 4;
const PLUS: u8 = 8;
/// `-` or `_`: only in the URL-safe alphabet.
const URL_SYM: u8 = 16;
/// May appear in a URL run (percent scanner).
const URL: u8 = 32;
/// May appear in an escape run: anything but ASCII whitespace, controls and DEL.
const WORD: u8 = 64;

static CLASS: [u8; 256] = build_class();

const fn build_class() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let b64 = match b {
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => B64,
            b'g'..=b'z' | b'G'..=b'Z' => B64 | NONHEX,
            b'+' => B64 | NONHEX | PLUS,
            b'/' => B64 | NONHEX | SLASH,
            b'-' => B64 | URL_SYM,
            b'_' => B64 | NONHEX | URL_SYM,
            _ => 0,
        };
        let url = match b {
            b'"' | b'\'' | b'`' | b'<' | b'>' | b'\\' | b'{' | b'}' | b'|' | b'^' => 0,
            0x21..=0x7e | 0x80..=0xff => URL,
            _ => 0,
        };
        let word = match b {
            0x21..=0x7e | 0x80..=0xff => WORD,
            _ => 0,
        };
        table[i] = b64 | url | word;
        i += 1;
    }
    table
}

fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// Base64 symbol values; both alphabets at once (`+`/`-` are 62, `/`/`_` are 63), since a run is
/// only decoded after its alphabet was checked to be one or the other.
static B64_VALUE: [u8; 256] = build_b64_value();

const fn build_b64_value() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => 0,
        };
        i += 1;
    }
    table
}

#[derive(Clone, Copy)]
enum Kind {
    Base64,
    Percent,
    Escape,
}

/// A forward-only scanner for one encoding.
struct Scanner {
    kind: Kind,
    /// Where the next search starts.
    pos: usize,
    /// End of the last run examined: runs never extend back past it, which keeps the backward
    /// look linear overall.
    floor: usize,
}

impl Scanner {
    fn new(kind: Kind) -> Self {
        Scanner {
            kind,
            pos: 0,
            floor: 0,
        }
    }

    fn next(&mut self, text: &[u8]) -> Option<Decoded> {
        match self.kind {
            Kind::Base64 => self.next_base64(text),
            Kind::Percent => self.next_run(text, b'%', URL, is_percent_escape, percent_decode),
            Kind::Escape => self.next_run(text, b'\\', WORD, is_strong_escape, unescape),
        }
    }

    /// Base64 runs. A qualifying run has at least `MIN_BASE64_RUN` symbols, so it covers one of
    /// every `MIN_BASE64_RUN` consecutive positions: only those sample positions are tested, and a
    /// run is measured only around a sample that is a base64 symbol. On source code this reads
    /// about half the bytes instead of all of them, and every byte at most once: the backward look
    /// stops at the previous non-symbol sample or the previous run's end.
    fn next_base64(&mut self, text: &[u8]) -> Option<Decoded> {
        let is_symbol = |b: &u8| class(*b) & B64 != 0;
        loop {
            let sample = self.pos + (MIN_BASE64_RUN - 1);
            let byte = *text.get(sample)?;
            if !is_symbol(&byte) {
                self.pos = sample + 1;
                continue;
            }
            let after = text.get(sample..).unwrap_or_default();
            let data_end = sample
                + after
                    .iter()
                    .position(|b| !is_symbol(b))
                    .unwrap_or(after.len());
            let padding = text
                .get(data_end..)
                .unwrap_or_default()
                .iter()
                .take_while(|&&b| b == b'=')
                .count();
            let end = data_end + padding;
            let before = text.get(self.pos..sample).unwrap_or_default();
            let start = match before.iter().rposition(|b| !is_symbol(b)) {
                Some(i) => self.pos + i + 1,
                None => self.pos,
            };
            // `end > sample >= pos`: the run holds the sample.
            self.pos = end;
            if data_end - start < MIN_BASE64_RUN {
                continue;
            }
            let data = text.get(start..data_end).unwrap_or_default();
            let flags = data.iter().fold(0u8, |f, &b| f | class(b));
            if let Some(span) = base64_candidate(text, start, data_end, end, flags) {
                return Some(span);
            }
        }
    }

    /// Percent and escape runs: find a trigger byte with memchr, check it starts a real escape,
    /// widen to the maximal run of `member` bytes around it, decode the run whole.
    fn next_run(
        &mut self,
        text: &[u8],
        trigger: u8,
        member: u8,
        is_escape_at: fn(&[u8]) -> bool,
        decode: fn(&[u8]) -> Vec<u8>,
    ) -> Option<Decoded> {
        loop {
            let rest = text.get(self.pos..)?;
            let at = self.pos + memchr(trigger, rest)?;
            if !is_escape_at(text.get(at..).unwrap_or_default()) {
                self.pos = at + 1;
                continue;
            }
            let before = text.get(self.floor..at).unwrap_or_default();
            let start = match before.iter().rposition(|&b| class(b) & member == 0) {
                Some(i) => self.floor + i + 1,
                None => self.floor,
            };
            let after = text.get(at..).unwrap_or_default();
            let end = at
                + after
                    .iter()
                    .position(|&b| class(b) & member == 0)
                    .unwrap_or(after.len());
            // `end > at`: the trigger byte is a member of its own run.
            self.pos = end;
            self.floor = end;
            let bytes = decode(text.get(start..end).unwrap_or_default());
            if is_text(&bytes, ESCAPED_TEXT) {
                let encoding = match self.kind {
                    Kind::Percent => Encoding::Percent,
                    _ => Encoding::Escape,
                };
                return Some(Decoded {
                    start,
                    end,
                    encoding,
                    bytes,
                });
            }
        }
    }
}

/// Decides whether the base64 run `text[start..end]` (data up to `data_end`, then padding) is an
/// encoded text, and decodes it.
fn base64_candidate(
    text: &[u8],
    start: usize,
    data_end: usize,
    end: usize,
    flags: u8,
) -> Option<Decoded> {
    if flags & NONHEX == 0 || follows_binary_data_uri(text, start) {
        return None;
    }
    let data = text.get(start..data_end)?;
    if let Some((encoding, bytes)) = decode_base64_text(data, flags) {
        return Some(Decoded {
            start,
            end,
            encoding,
            bytes,
        });
    }
    if flags & SLASH == 0 {
        return None;
    }
    // `host/secrets/<base64>` is one run whose quanta are misaligned: retry once after the last `/`.
    let cut = memrchr(b'/', data)? + 1;
    let tail = data.get(cut..)?;
    if tail.len() < MIN_BASE64_RUN {
        return None;
    }
    let tail_flags = tail.iter().fold(0u8, |f, &b| f | class(b));
    if tail_flags & NONHEX == 0 {
        return None;
    }
    let (encoding, bytes) = decode_base64_text(tail, tail_flags)?;
    Some(Decoded {
        start: start + cut,
        end,
        encoding,
        bytes,
    })
}

/// Decodes `data` (base64 symbols only, no padding) if it is text: probes a bounded prefix first
/// so a long binary blob is rejected after a few hundred bytes.
fn decode_base64_text(data: &[u8], flags: u8) -> Option<(Encoding, Vec<u8>)> {
    let encoding = match (flags & (PLUS | SLASH) != 0, flags & URL_SYM != 0) {
        // No encoder mixes the alphabets: identifiers and paths do (`a_b/c-d`).
        (true, true) => return None,
        (false, true) => Encoding::Base64Url,
        _ => Encoding::Base64,
    };
    if data.len() <= SMALL_PROBE_CHARS {
        // Most candidates in source code are identifiers of a few dozen symbols: clearing the full
        // probe buffer would cost more than decoding them.
        let mut buf = [0u8; SMALL_PROBE_CHARS / 4 * 3 + 2];
        let n = decode_base64_into(data, &mut buf);
        let bytes = buf.get(..n)?;
        return is_text(bytes, BASE64_TEXT).then(|| (encoding, bytes.to_vec()));
    }
    let mut probe = [0u8; PROBE_BYTES];
    let head = data.get(..PROBE_CHARS).unwrap_or(data);
    let n = decode_base64_into(head, &mut probe);
    let probed = probe.get(..n)?;
    if !is_text(probed, BASE64_TEXT) {
        return None;
    }
    if head.len() == data.len() {
        return Some((encoding, probed.to_vec()));
    }
    let mut bytes = vec![0u8; data.len() / 4 * 3 + 2];
    let n = decode_base64_into(data, &mut bytes);
    bytes.truncate(n);
    is_text(&bytes, BASE64_TEXT).then_some((encoding, bytes))
}

/// Decodes base64 symbols into `out` (which should hold `chars.len() / 4 * 3 + 2` bytes; less
/// is cut short, never a panic) and returns the number of bytes written. A final quantum of two or
/// three symbols gives one or two bytes; a lone final symbol carries no whole byte and is ignored.
fn decode_base64_into(chars: &[u8], out: &mut [u8]) -> usize {
    let value = |b: u8| u32::from(B64_VALUE[usize::from(b)]);
    let quads = chars.chunks_exact(4);
    let tail = quads.remainder();
    let mut n = 0;
    for (quad, dst) in quads.zip(out.chunks_exact_mut(3)) {
        let &[a, b, c, d] = quad else { break };
        let v = value(a) << 18 | value(b) << 12 | value(c) << 6 | value(d);
        dst.copy_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
        n += 3;
    }
    let (v, len) = match *tail {
        [a, b] => (value(a) << 18 | value(b) << 12, 1),
        [a, b, c] => (value(a) << 18 | value(b) << 12 | value(c) << 6, 2),
        _ => (0, 0),
    };
    let last = [(v >> 16) as u8, (v >> 8) as u8];
    if let (Some(dst), Some(src)) = (out.get_mut(n..n + len), last.get(..len)) {
        dst.copy_from_slice(src);
        n += len;
    }
    n
}

/// True when the run starting at `start` is the payload of a data URI of a binary media type,
/// which is never worth decoding (and can be megabytes long).
fn follows_binary_data_uri(text: &[u8], start: usize) -> bool {
    const MARK: &[u8] = b";base64,";
    const BINARY: [&[u8]; 5] = [
        b"image/",
        b"audio/",
        b"video/",
        b"font/",
        b"application/octet-stream",
    ];
    let before = text.get(..start).unwrap_or_default();
    let Some(mark_at) = before.len().checked_sub(MARK.len()) else {
        return false;
    };
    if !before
        .get(mark_at..)
        .is_some_and(|m| m.eq_ignore_ascii_case(MARK))
    {
        return false;
    }
    let window = before
        .get(mark_at.saturating_sub(MAX_MEDIA_TYPE)..mark_at)
        .unwrap_or_default();
    let Some(media) = memmem::rfind(window, b"data:").and_then(|i| window.get(i + 5..)) else {
        return false;
    };
    BINARY.iter().any(|prefix| {
        media
            .get(..prefix.len())
            .is_some_and(|m| m.eq_ignore_ascii_case(prefix))
    })
}

/// Text worth scanning: at least [`MIN_TEXT_LEN`] bytes, no NUL, few other control characters
/// (tab, CR, LF excepted), and valid UTF-8 (a multi-byte character cut at the very end is allowed:
/// probes and partial quanta cut anywhere) or, where `rules.latin1`, at least 90% printable ASCII.
fn is_text(bytes: &[u8], rules: Textness) -> bool {
    if bytes.len() < MIN_TEXT_LEN {
        return false;
    }
    // Branch-free counting (it vectorizes); NUL is a control character that also vetoes.
    let (mut printable, mut control, mut nul) = (0usize, 0usize, false);
    for &b in bytes {
        let is_printable = matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e);
        printable += usize::from(is_printable);
        control += usize::from(!is_printable && b < 0x80);
        nul |= b == 0;
    }
    if nul || control * rules.control_per > bytes.len() {
        return false;
    }
    if printable == bytes.len() || (rules.latin1 && printable * 10 >= bytes.len() * 9) {
        return true;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

fn hex_value(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

/// The value of `digits` read as hex, if it is `len` hex digits exactly.
fn hex_exact(digits: Option<&[u8]>, len: usize) -> Option<u32> {
    let digits = digits?;
    if digits.len() != len {
        return None;
    }
    digits
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc << 4 | hex_value(b)?))
}

/// `at` starts with `%XX`.
fn is_percent_escape(at: &[u8]) -> bool {
    hex_exact(at.get(1..3), 2).is_some()
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(rest) = raw.get(i..).filter(|r| !r.is_empty()) {
        let Some(k) = memchr(b'%', rest) else {
            out.extend_from_slice(rest);
            break;
        };
        out.extend_from_slice(rest.get(..k).unwrap_or_default());
        let escape = rest.get(k..).unwrap_or_default();
        match hex_exact(escape.get(1..3), 2) {
            Some(v) => {
                out.push(v as u8);
                i += k + 3;
            }
            None => {
                out.push(b'%');
                i += k + 1;
            }
        }
    }
    out
}

/// `at` starts with one of the escapes that make a run worth unescaping: `\uXXXX`, `\u{X..}`,
/// `\UXXXXXXXX`, `\xXX`, or JSON's `\/`. Only JSON encoders write `\/` (PHP's `json_encode`,
/// several Java and .NET serialisers), and always inside a URL or base64 value, which it breaks
/// for every rule: `https:\/\/user:pass@host`, a webhook path, a key with `/` in its alphabet.
fn is_strong_escape(at: &[u8]) -> bool {
    let rest = at.get(1..).unwrap_or_default();
    match rest.first() {
        Some(b'/') => true,
        Some(b'u' | b'U' | b'x') => parse_escape(rest).is_some(),
        _ => false,
    }
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(rest) = raw.get(i..).filter(|r| !r.is_empty()) {
        let Some(k) = memchr(b'\\', rest) else {
            out.extend_from_slice(rest);
            break;
        };
        out.extend_from_slice(rest.get(..k).unwrap_or_default());
        let escape = rest.get(k + 1..).unwrap_or_default();
        i += k + 1;
        match parse_escape(escape) {
            Some((Unescaped::Byte(b), used)) => {
                out.push(b);
                i += used;
            }
            Some((Unescaped::Char(v), used)) => {
                push_char(&mut out, v);
                i += used;
            }
            // Malformed or unknown (`\u12`, `\b`): the backslash stays, and what follows is read
            // as ordinary text.
            None => out.push(b'\\'),
        }
    }
    out
}

enum Unescaped {
    Byte(u8),
    /// A code point, possibly a lone surrogate or out of range (written as U+FFFD).
    Char(u32),
}

/// Parses the escape whose backslash precedes `rest`: what it stands for and how many bytes of
/// `rest` it spans. Every escape spans at least as many bytes as its UTF-8 output (a lone
/// surrogate: 6 bytes, U+FFFD is 3), which keeps decoded output no longer than the input.
fn parse_escape(rest: &[u8]) -> Option<(Unescaped, usize)> {
    let (&c, after) = rest.split_first()?;
    match c {
        b'n' => Some((Unescaped::Byte(b'\n'), 1)),
        b'r' => Some((Unescaped::Byte(b'\r'), 1)),
        b't' => Some((Unescaped::Byte(b'\t'), 1)),
        b'"' | b'\'' | b'\\' | b'/' => Some((Unescaped::Byte(c), 1)),
        b'x' => Some((Unescaped::Byte(hex_exact(after.get(..2), 2)? as u8), 3)),
        b'U' => Some((Unescaped::Char(hex_exact(after.get(..8), 8)?), 9)),
        b'u' if after.first() == Some(&b'{') => {
            let digits = after.get(1..).unwrap_or_default();
            let len = digits
                .iter()
                .take(7)
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if !(1..=6).contains(&len) || digits.get(len) != Some(&b'}') {
                return None;
            }
            Some((Unescaped::Char(hex_exact(digits.get(..len), len)?), len + 3))
        }
        b'u' => {
            let unit = hex_exact(after.get(..4), 4)?;
            // A high surrogate followed by an escaped low one is one character (JSON's UTF-16).
            let low = match after.get(4..6) {
                Some(b"\\u") => hex_exact(after.get(6..10), 4),
                _ => None,
            };
            match low {
                Some(low)
                    if (0xD800..0xDC00).contains(&unit) && (0xDC00..0xE000).contains(&low) =>
                {
                    let v = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    Some((Unescaped::Char(v), 11))
                }
                _ => Some((Unescaped::Char(unit), 5)),
            }
        }
        _ => None,
    }
}

/// Appends code point `v` as UTF-8; surrogates and out-of-range values become U+FFFD.
fn push_char(out: &mut Vec<u8>, v: u32) {
    let ch = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut buf = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests;

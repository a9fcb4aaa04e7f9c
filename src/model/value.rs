//! Simulated unpickler values, the memo and the import collector: just enough state to resolve
//! STACK_GLOBAL operands and follow joblib's inline arrays.
//!
//! Invariant: values nest a fixed few levels, so dropping them cannot recurse deeply.

use super::*;

// Simulated values: just enough to resolve STACK_GLOBAL and follow joblib's inline arrays.

#[derive(Clone, Debug)]
pub(super) enum Val {
    /// Anything the walker does not need to know: lists, floats, persistent ids.
    Other,
    /// A `bytes` operand (BINBYTES, SHORT_BINBYTES, BINBYTES8), still in the input: the
    /// argument of `torch.storage._load_from_bytes` is a whole torch file to inspect.
    Bytes {
        start: usize,
        len: usize,
    },
    None,
    Int(i64),
    /// A string operand, still encoded in the input (decoded only when needed).
    Text(Span),
    Global(Rc<GlobalRef>),
    /// A numpy dtype or a joblib NumpyArrayWrapper: the objects whose state sizes arrays.
    Obj(Rc<Obj>),
    /// Any other instance of a class we saw imported (NEWOBJ, copyreg's constructors, or a
    /// call of an allow-listed constructor): known not to be a NumpyArrayWrapper.
    Instance,
    /// What a call of anything else returned: could be any object, even one the pickle built
    /// earlier (`copy.copy(wrapper)`).
    Unknown,
    /// Elements are never containers, so values nest boundedly.
    Tuple(Rc<Vec<Val>>),
    /// Keys and values are never dicts; tuples inside hold no containers.
    Dict(Rc<RefCell<DictVal>>),
}

/// Where a string operand sits in the input, and how the opcode that pushed it encodes it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) len: u32,
    pub(super) enc: Enc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Enc {
    /// BINUNICODE and friends.
    Utf8,
    /// BINSTRING, SHORT_BINSTRING (CPython decodes them with the unpickler's encoding; the
    /// names that matter are ASCII).
    Latin1,
    /// STRING: Python escapes (`codecs.escape_decode`).
    Escaped,
    /// UNICODE: `raw_unicode_escape`.
    RawUnicode,
}

#[derive(Debug)]
pub(super) struct GlobalRef {
    /// Normalised `module.name`.
    pub(super) path: String,
    /// Index into the collector's imports.
    pub(super) import: usize,
    /// Classified Safe: a known constructor, so a call of it returns its own kind.
    pub(super) safe: bool,
    /// `torch.storage._load_from_bytes`: every use of it is tracked (see `embed`).
    pub(super) embeds: bool,
}

#[derive(Debug, Default)]
pub(super) struct DictVal {
    pub(super) items: Vec<(Val, Val)>,
    /// MAX_DICT was hit: lookups are unreliable.
    pub(super) overflowed: bool,
}

/// The objects joblib's array reads depend on.
#[derive(Debug)]
pub(super) enum Obj {
    Dtype {
        /// numpy.dtype's first argument when it was a string ('f8', 'U5', 'O8').
        code: Option<String>,
        /// (elsize, flags) from BUILD; None when the state could not be read.
        state: Cell<Option<(i64, i64)>>,
    },
    /// Attributes merged by every BUILD.
    Wrapper(RefCell<WrapperAttrs>),
}

#[derive(Debug, Default)]
pub(super) struct WrapperAttrs {
    pub(super) shape: Attr<Vec<u64>>,
    /// Always an `Obj::Dtype` (so wrappers never hold wrappers).
    pub(super) dtype: Attr<Rc<Obj>>,
    /// Whether `numpy_array_alignment_bytes` was set to something other than None.
    pub(super) padded: bool,
}

#[derive(Debug, Default)]
pub(super) enum Attr<T> {
    #[default]
    Unset,
    Bad,
    Set(T),
}

impl Val {
    /// The value as a tuple element: containers become Other so nesting stays bounded.
    pub(super) fn flat(self) -> Val {
        match self {
            Val::Tuple(_) | Val::Dict(_) => Val::Other,
            v => v,
        }
    }

    /// The value as a dict key or value: dicts become Other (tuples are already flat).
    pub(super) fn dict_item(self) -> Val {
        match self {
            Val::Dict(_) => Val::Other,
            v => v,
        }
    }

    pub(super) fn tuple_item(&self, i: usize) -> Option<&Val> {
        match self {
            Val::Tuple(t) => t.get(i),
            _ => None,
        }
    }
}

pub(super) fn tuple_of(items: Vec<Val>) -> Val {
    Val::Tuple(Rc::new(items.into_iter().map(Val::flat).collect()))
}

pub(super) fn last_component(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

pub(super) fn is_wrapper_class(path: &str) -> bool {
    last_component(path) == "NumpyArrayWrapper"
}

/// The NumpyArrayWrapper attributes that decide how many bytes joblib reads.
pub(super) const WRAPPER_KEYS: &[&str] = &["shape", "dtype", "numpy_array_alignment_bytes"];

pub(super) fn is_dtype_class(path: &str) -> bool {
    matches!(
        path,
        "numpy.dtype" | "numpy.core.multiarray.dtype" | "numpy._core.multiarray.dtype"
    )
}

// ---------------------------------------------------------------------------------------------
// The memo

#[derive(Default)]
pub(super) struct Memo {
    pub(super) dense: Vec<Option<Val>>,
    pub(super) sparse: HashMap<u64, Val>,
    pub(super) len: usize,
}

impl Memo {
    pub(super) fn get(&self, i: u64) -> Option<&Val> {
        let dense = usize::try_from(i).ok().and_then(|i| self.dense.get(i));
        match dense {
            Some(Some(v)) => Some(v),
            _ => self.sparse.get(&i),
        }
    }

    /// Store `v` at `i`; false when a new entry would pass MAX_MEMO.
    pub(super) fn put(&mut self, i: u64, v: Val) -> bool {
        let fresh = self.get(i).is_none();
        if fresh && self.len >= MAX_MEMO {
            return false;
        }
        // Pickles number memo entries 0, 1, 2, ...: those go in the vector, which grows only
        // near its end, so a crafted huge index cannot force a huge allocation.
        let dense_ok = usize::try_from(i)
            .ok()
            .filter(|&idx| idx < MAX_MEMO && idx <= 2 * self.dense.len() + 4096);
        match dense_ok {
            Some(idx) if !self.sparse.contains_key(&i) => {
                if self.dense.len() <= idx {
                    self.dense.resize(idx + 1, None);
                }
                if let Some(slot) = self.dense.get_mut(idx) {
                    *slot = Some(v);
                }
            }
            _ => {
                self.sparse.insert(i, v);
            }
        }
        if fresh {
            self.len += 1;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Import collection (shared by the walks over one stream)

pub(super) struct Collector<'m> {
    pub(super) member: Option<&'m str>,
    pub(super) imports: Vec<Import>,
    pub(super) index: HashMap<(String, String), usize>,
    pub(super) strings: Vec<PickleString>,
    pub(super) string_bytes: usize,
    /// Offsets already kept: the joblib walk revisits what the C walk saw.
    pub(super) string_offsets: HashMap<usize, usize>,
    /// Value offsets of dict pairs already kept (`key: "value"`).
    pub(super) pair_offsets: HashSet<usize>,
    /// Lookups of Safe or Unknown imports past MAX_IMPORTS, which are not listed.
    pub(super) unlisted: u64,
}

/// The import index of an import that is not listed (past MAX_IMPORTS).
pub(super) const UNLISTED: usize = usize::MAX;

impl<'m> Collector<'m> {
    pub(super) fn new(member: Option<&'m str>) -> Self {
        Collector {
            member,
            imports: Vec::new(),
            index: HashMap::new(),
            strings: Vec::new(),
            string_bytes: 0,
            string_offsets: HashMap::new(),
            unlisted: 0,
            pair_offsets: HashSet::new(),
        }
    }

    /// Keep a dict pair as one string, in place of its value's own entry when that was kept
    /// (one finding per secret, with the key that gives it context).
    pub(super) fn keep_pair(&mut self, value_offset: usize, text: String) {
        if !self.pair_offsets.insert(value_offset) {
            return;
        }
        if let Some(&i) = self.string_offsets.get(&value_offset) {
            if let Some(s) = self.strings.get_mut(i) {
                if self.string_bytes + text.len() <= MAX_KEPT_STRING_BYTES {
                    self.string_bytes = self.string_bytes + text.len() - s.text.len();
                    s.text = text;
                }
                return;
            }
        }
        if self.strings.len() >= MAX_KEPT_STRINGS
            || self.string_bytes + text.len() > MAX_KEPT_STRING_BYTES
        {
            return;
        }
        self.string_offsets.insert(value_offset, self.strings.len());
        self.string_bytes += text.len();
        self.strings.push(PickleString {
            member: self.member.map(str::to_owned),
            offset: value_offset as u64,
            text,
        });
    }

    pub(super) fn keep_string(&mut self, offset: usize, text: String) {
        if self.strings.len() >= MAX_KEPT_STRINGS
            || self.string_bytes + text.len() > MAX_KEPT_STRING_BYTES
            || self.string_offsets.contains_key(&offset)
        {
            return;
        }
        self.string_offsets.insert(offset, self.strings.len());
        self.string_bytes += text.len();
        self.strings.push(PickleString {
            member: self.member.map(str::to_owned),
            offset: offset as u64,
            text,
        });
    }

    /// Record an import (first offset wins), classifying it unless `verdict` is given; returns
    /// its index and verdict. Past MAX_IMPORTS distinct imports the walk goes on degraded:
    /// Safe and Unknown ones are no longer listed (index [`UNLISTED`], counted in `unlisted`),
    /// Dangerous ones still are, up to MAX_IMPORTS more; None past that.
    pub(super) fn record(
        &mut self,
        module: &str,
        name: &str,
        offset: usize,
        verdict: Option<Verdict>,
    ) -> Option<(usize, Verdict)> {
        let key = (module.to_owned(), name.to_owned());
        if let Some(&i) = self.index.get(&key) {
            return Some((i, self.imports.get(i)?.verdict));
        }
        let verdict = verdict.unwrap_or_else(|| classify(module, name));
        if self.imports.len() >= MAX_IMPORTS {
            if verdict != Verdict::Dangerous {
                self.unlisted += 1;
                return Some((UNLISTED, verdict));
            }
            if self.imports.len() >= 2 * MAX_IMPORTS {
                return None;
            }
        }
        let i = self.imports.len();
        self.imports.push(Import {
            module: key.0.clone(),
            name: key.1.clone(),
            member: self.member.map(str::to_owned),
            offset: offset as u64,
            verdict,
        });
        self.index.insert(key, i);
        Some((i, verdict))
    }

    /// The import `g` is used in a way only an attack uses: it becomes Dangerous (and is
    /// listed, even past the import cap).
    pub(super) fn escalate(&mut self, g: &GlobalRef, offset: usize) {
        if let Some(imp) = self.imports.get_mut(g.import) {
            imp.verdict = Verdict::Dangerous;
            return;
        }
        let (module, name) = g.path.rsplit_once('.').unwrap_or(("", g.path.as_str()));
        if let Some((i, _)) = self.record(module, name, offset, Some(Verdict::Dangerous)) {
            if let Some(imp) = self.imports.get_mut(i) {
                imp.verdict = Verdict::Dangerous;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// A new instance of the class at `path` (`code`: its first argument, for numpy.dtype).
pub(super) fn instance_of(path: &str, code: Option<String>) -> Val {
    if is_wrapper_class(path) {
        Val::Obj(Rc::new(Obj::Wrapper(RefCell::default())))
    } else if is_dtype_class(path) {
        Val::Obj(Rc::new(Obj::Dtype {
            code,
            state: Cell::new(Some((-1, 0))),
        }))
    } else {
        Val::Instance
    }
}

/// numpy.dtype.__setstate__ tuples: (version, endian, subarray, names, fields, elsize,
/// alignment, flags[, metadata]) for versions 3 and 4; older shapes are rare enough to refuse.
pub(super) fn dtype_state(state: &Val) -> Option<(i64, i64)> {
    let Val::Tuple(t) = state else { return None };
    let int = |i: usize| match t.get(i) {
        Some(Val::Int(v)) => Some(*v),
        _ => None,
    };
    match t.len() {
        8 | 9 => Some((int(5)?, int(7)?)),
        _ => None,
    }
}

pub(super) fn merge_wrapper_state(
    attrs: &RefCell<WrapperAttrs>,
    state: &Val,
    text: impl Fn(&Val) -> Option<String>,
) {
    let mut w = attrs.borrow_mut();
    let Val::Dict(d) = state else {
        w.shape = Attr::Bad;
        return;
    };
    let d = d.borrow();
    if d.overflowed {
        w.shape = Attr::Bad;
    }
    for (k, v) in &d.items {
        match text(k).as_deref() {
            Some("shape") => {
                w.shape = match v {
                    Val::Tuple(t) => t
                        .iter()
                        .map(|x| match x {
                            Val::Int(n) => u64::try_from(*n).ok(),
                            _ => None,
                        })
                        .collect::<Option<Vec<u64>>>()
                        .map_or(Attr::Bad, Attr::Set),
                    _ => Attr::Bad,
                }
            }
            Some("dtype") => {
                w.dtype = match v {
                    Val::Obj(dt) if matches!(**dt, Obj::Dtype { .. }) => Attr::Set(dt.clone()),
                    _ => Attr::Bad,
                }
            }
            Some("numpy_array_alignment_bytes") => w.padded = !matches!(v, Val::None),
            _ => {}
        }
    }
}

pub(super) fn wrapper_read(attrs: &RefCell<WrapperAttrs>) -> Result<ArrayRead, &'static str> {
    let w = attrs.borrow();
    let Attr::Set(shape) = &w.shape else {
        return Err("shape unknown");
    };
    let Attr::Set(dtype) = &w.dtype else {
        return Err("dtype unknown");
    };
    let (itemsize, has_object) = dtype_size(dtype).ok_or("dtype size unknown")?;
    if has_object {
        return Ok(ArrayRead::Nested);
    }
    let count = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or("shape overflows")?;
    let bytes = count.checked_mul(itemsize).ok_or("size overflows")?;
    Ok(ArrayRead::Raw {
        padded: w.padded,
        bytes,
    })
}

/// Item size and whether the dtype holds Python objects, from numpy.dtype's reduce arguments
/// (`'f8'`, `'U5'`, `'V12'`, `'O8'`) and its BUILD state (elsize, flags).
pub(super) fn dtype_size(dtype: &Obj) -> Option<(u64, bool)> {
    let Obj::Dtype { code, state } = dtype else {
        return None;
    };
    let (elsize, flags) = state.get()?;
    let code = code.as_deref()?;
    let code = code.trim_start_matches(['<', '>', '=', '|']);
    let kind = code.chars().next()?;
    let has_object = kind == 'O' || flags & 1 != 0;
    if let Ok(size) = u64::try_from(elsize) {
        return Some((size, has_object));
    }
    let n: u64 = code.get(1..)?.split('[').next()?.parse().ok()?;
    let size = if kind == 'U' { n.checked_mul(4)? } else { n };
    Some((size, has_object))
}

pub(super) fn long_value(b: &[u8]) -> Val {
    if b.is_empty() {
        return Val::Int(0);
    }
    if b.len() > 8 {
        return Val::Other;
    }
    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut buf = [fill; 8];
    for (d, s) in buf.iter_mut().zip(b) {
        *d = *s;
    }
    Val::Int(i64::from_le_bytes(buf))
}

pub(super) fn text_val(start: usize, len: usize, enc: Enc) -> Val {
    match u32::try_from(len) {
        Ok(len) if len as usize <= MAX_OPERAND => Val::Text(Span { start, len, enc }),
        _ => Val::Other,
    }
}

pub(super) fn decimal(l: &[u8]) -> Option<u64> {
    if !l.is_empty() && l.len() < 20 && l.iter().all(u8::is_ascii_digit) {
        return Some(l.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')));
    }
    // Python's int() also takes surrounding whitespace, a sign and underscores.
    std::str::from_utf8(l)
        .ok()?
        .trim()
        .replace('_', "")
        .parse()
        .ok()
}

/// Loosely what Python's int()/float() accept: digits, letters (0x.., inf, nan), `_` and the
/// given punctuation. Loose on purpose: the strict sniff must never reject what CPython loads.
pub(super) fn is_numberish(l: &[u8], punct: &[u8]) -> bool {
    let t = l.trim_ascii();
    !t.is_empty()
        && t.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || punct.contains(&c))
}

/// Names a text pickle could import: no whitespace or control characters. (A Python file such
/// as `import os` fails here, which keeps text files from sniffing as pickles.)
pub(super) fn is_import_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// Python's `codecs.escape_decode`, as the STRING opcode uses it.
pub(super) fn escape_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = s.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => match s
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
            {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.extend_from_slice(b"\\x"),
            },
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    out
}

/// Python's `raw_unicode_escape` decoding (the UNICODE opcode): latin-1, plus `\uXXXX` and
/// `\UXXXXXXXX` after an odd run of backslashes.
pub(super) fn raw_unicode_escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c != b'\\' {
            out.push(char::from(c));
            i += 1;
            continue;
        }
        let run = s
            .get(i..)
            .map_or(0, |r| r.iter().take_while(|&&b| b == b'\\').count());
        i += run;
        let width = match s.get(i) {
            Some(b'u') => 4,
            Some(b'U') => 8,
            _ => 0,
        };
        let escaped = (run % 2 == 1 && width > 0)
            .then(|| s.get(i + 1..i + 1 + width))
            .flatten()
            .and_then(|h| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
            .and_then(char::from_u32);
        match escaped {
            Some(ch) => {
                out.extend(std::iter::repeat('\\').take(run - 1));
                out.push(ch);
                i += 1 + width;
            }
            None => out.extend(std::iter::repeat('\\').take(run)),
        }
    }
    out
}

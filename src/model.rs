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
//! - No recursion: the walker is one loop over opcodes; simulated values nest a fixed few levels
//!   (tuples hold no containers, dicts no dicts, objects at most a dtype), so dropping them
//!   cannot recurse deeply.
//! - Linear work and bounded memory: opcode count, stack, memo, imports, zip members and
//!   decompressed sizes are capped; a cap that is hit is reported as a problem.
//! - Fail closed: where the walker and CPython could disagree about what a pickle does, the
//!   walker reports more (an unresolvable STACK_GLOBAL is a Dangerous import, a joblib stream it
//!   cannot follow stops with a problem), never less.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::rc::Rc;

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

/// What kind of model artifact `bytes` is, by content (magic bytes / structure), or None.
pub fn sniff(bytes: &[u8]) -> Option<ModelKind> {
    if is_gguf(bytes) {
        return Some(ModelKind::Gguf);
    }
    if bytes.starts_with(ZIP_MAGIC) {
        return sniff_zip(bytes);
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
        ..ModelReport::default()
    };
    match kind {
        ModelKind::Pickle => inspect_pickle_file(bytes, &mut report),
        ModelKind::TorchZip => inspect_zip(bytes, &mut report),
        ModelKind::Safetensors => inspect_safetensors(bytes, &mut report),
        ModelKind::Gguf => inspect_gguf(bytes, &mut report),
    }
    Some(report)
}

/// Classify an import (used by inspect; public so config can extend the allow-list later).
pub fn classify(module: &str, name: &str) -> Verdict {
    let module = normalize_module(module);
    let path = format!("{module}.{name}");
    if reason(module, name).is_some() {
        return Verdict::Dangerous;
    }
    if SAFE.contains(&path.as_str())
        || (!name.contains('.') && SAFE_MODULES.contains(&module))
        || is_torch_storage(module, name)
        || (module == "torch" && TORCH_CONSTANTS.contains(&name))
    {
        return Verdict::Safe;
    }
    Verdict::Unknown
}

/// Why an import is Dangerous, for the person who has to fix it; None when it is not.
pub fn reason(module: &str, name: &str) -> Option<&'static str> {
    let module = normalize_module(module);
    let path = format!("{module}.{name}");
    if INERT_EXCEPTIONS.contains(&path.as_str()) {
        return None;
    }
    if let Some((_, why)) = DANGEROUS.iter().find(|(p, _)| is_at_or_below(&path, p)) {
        return Some(why);
    }
    // Pickle resolves dotted names attribute by attribute, so every component is reachable:
    // `joblib.numpy_pickle` + `os.system` is os.system (see fickling's GHSA-5j3x-jp52-966f).
    // (The first component is the module itself, which the table above decides.)
    if module
        .split('.')
        .skip(1)
        .any(|c| DANGEROUS_COMPONENTS.contains(&c))
    {
        return Some("reaches a dangerous module through a package attribute");
    }
    if name.contains('.')
        && name.split('.').any(|c| {
            DANGEROUS_COMPONENTS.contains(&c)
                || DANGEROUS_ATTRIBUTES.contains(&c)
                || c.starts_with("__")
        })
    {
        return Some("dotted attribute walk to a dangerous module, function or dunder");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Classification tables

/// Imports that run code or touch the system, matched on `module.name` equal to the pattern or
/// below it (`os` matches `os.system` and `os.path.join`). Reasons are shown to the user.
const DANGEROUS: &[(&str, &str)] = &[
    (
        "os",
        "process execution, file and environment access (os.system, os.popen, os.exec*)",
    ),
    (
        "posix",
        "the POSIX implementation of os (posix.system is what os.system pickles as)",
    ),
    ("nt", "the Windows implementation of os"),
    ("_posixsubprocess", "fork_exec: starts processes"),
    ("subprocess", "runs programs"),
    ("pty", "pty.spawn runs programs"),
    ("popen2", "Python 2 process pipes"),
    ("pipes", "pipes.Template runs shell commands"),
    ("pexpect", "spawns and drives programs"),
    ("runpy", "runs modules and files as code"),
    (
        "code",
        "compiles and runs Python source (InteractiveInterpreter)",
    ),
    ("codeop", "compiles Python source"),
    ("builtins.eval", "evaluates Python source"),
    ("builtins.exec", "runs Python source"),
    ("builtins.execfile", "runs a Python file (Python 2)"),
    ("builtins.compile", "compiles Python source to code objects"),
    ("builtins.open", "opens files for reading or writing"),
    ("builtins.file", "opens files (Python 2)"),
    ("builtins.__import__", "imports any module"),
    ("builtins.reload", "re-imports modules (Python 2)"),
    (
        "builtins.getattr",
        "reaches any attribute: the classic gadget to os.system",
    ),
    (
        "builtins.setattr",
        "overwrites attributes of modules and classes",
    ),
    (
        "builtins.delattr",
        "removes attributes of modules and classes",
    ),
    ("builtins.globals", "exposes the module namespace"),
    ("builtins.locals", "exposes the local namespace"),
    ("builtins.vars", "exposes any object's namespace"),
    (
        "builtins.input",
        "reads the terminal; evaluates it in Python 2",
    ),
    ("builtins.breakpoint", "starts the debugger"),
    ("builtins.help", "the pager runs an external program"),
    ("builtins.__loader__", "import machinery"),
    ("builtins.__spec__", "import machinery"),
    (
        "builtins.__build_class__",
        "builds classes from function bodies",
    ),
    ("__builtins__", "the builtins namespace"),
    ("sys", "sys.modules, settrace and friends reach everything"),
    ("importlib", "imports any module"),
    ("imp", "imp.load_source runs files"),
    ("_imp", "import machinery"),
    ("_frozen_importlib", "import machinery"),
    ("_frozen_importlib_external", "import machinery"),
    ("zipimport", "imports code from archives"),
    ("pkgutil", "imports and resolves any name"),
    ("site", "site.addsitedir runs .pth files"),
    ("marshal", "loads code objects"),
    ("types.CodeType", "builds code objects"),
    ("types.FunctionType", "turns code objects into callables"),
    ("types.LambdaType", "turns code objects into callables"),
    (
        "pickle",
        "nested unpickling hides a second payload from inspection",
    ),
    (
        "_pickle",
        "nested unpickling hides a second payload from inspection",
    ),
    ("shelve", "nested unpickling from a file"),
    ("dill", "rebuilds functions from code objects"),
    ("cloudpickle", "rebuilds functions from code objects"),
    ("joblib.load", "nested load of another file"),
    ("joblib.numpy_pickle.load", "nested load of another file"),
    (
        "torch.load",
        "nested load of another file, possibly without weights_only",
    ),
    ("torch.serialization.load", "nested load of another file"),
    (
        "torch.storage._load_from_bytes",
        "nested torch.load of embedded bytes",
    ),
    ("torch.hub", "downloads and runs repository code"),
    (
        "torch.utils.cpp_extension",
        "compiles and loads native code",
    ),
    (
        "numpy.load",
        "nested load, with pickles when allow_pickle is set",
    ),
    (
        "numpy.testing",
        "numpy.testing runstring executes Python source",
    ),
    ("numpy.f2py", "runs compilers"),
    ("numpy.distutils", "runs commands"),
    ("numpy.ctypeslib", "loads native libraries"),
    (
        "yaml.load",
        "unsafe YAML loaders construct arbitrary objects",
    ),
    ("yaml.unsafe_load", "constructs arbitrary objects"),
    ("yaml.full_load", "constructs arbitrary objects"),
    ("ctypes", "calls native code"),
    ("_ctypes", "calls native code"),
    ("mmap", "maps files into memory"),
    ("multiprocessing", "starts processes running callables"),
    ("_multiprocessing", "process primitives"),
    ("concurrent", "process pools run callables"),
    ("threading", "starts threads running callables"),
    ("_thread", "starts threads running callables"),
    ("asyncio", "subprocesses and event loops"),
    ("signal", "installs handlers, sends signals"),
    ("_signal", "installs handlers, sends signals"),
    ("atexit", "registers callables to run at exit"),
    ("gc", "gc.get_objects reaches every live object"),
    ("inspect", "attribute access that bypasses restrictions"),
    (
        "operator.attrgetter",
        "attribute walks: a gadget-chain building block",
    ),
    (
        "operator.methodcaller",
        "calls any method by name: a gadget-chain building block",
    ),
    (
        "_operator.attrgetter",
        "attribute walks: a gadget-chain building block",
    ),
    (
        "_operator.methodcaller",
        "calls any method by name: a gadget-chain building block",
    ),
    ("pdb", "runs code strings (pdb.run)"),
    ("bdb", "runs code strings"),
    ("timeit", "timeit.timeit runs code strings"),
    ("trace", "runs code strings"),
    ("cProfile", "cProfile.run runs code strings"),
    ("profile", "profile.run runs code strings"),
    ("doctest", "runs docstring code"),
    ("pydoc", "the pager runs an external program"),
    ("idlelib", "IDLE runs code"),
    ("test", "CPython's test helpers run code"),
    ("unittest", "unittest.mock patches anything"),
    ("distutils", "runs build commands"),
    ("setuptools", "runs build commands"),
    ("pip", "installs packages"),
    ("ensurepip", "installs packages"),
    ("venv", "creates environments and runs pip"),
    ("compileall", "writes .pyc files"),
    ("py_compile", "writes .pyc files"),
    ("_xxsubinterpreters", "runs code in a subinterpreter"),
    ("_interpreters", "runs code in a subinterpreter"),
    ("socket", "network access"),
    ("_socket", "network access"),
    ("ssl", "network access"),
    ("socketserver", "listens on the network"),
    ("http", "network access (http.client, http.server)"),
    ("urllib", "network and file access"),
    ("urllib2", "network access (Python 2)"),
    ("httplib", "network access (Python 2)"),
    ("requests", "network access"),
    ("httpx", "network access"),
    ("aiohttp", "network access"),
    ("ftplib", "network access"),
    ("smtplib", "sends mail"),
    ("poplib", "network access"),
    ("imaplib", "network access"),
    ("nntplib", "network access"),
    ("telnetlib", "network access"),
    ("xmlrpc", "network access and remote calls"),
    ("webbrowser", "opens URLs and starts a browser"),
    ("shutil", "copies, moves and removes files"),
    ("tempfile", "creates files; no model needs it at load time"),
    ("fileinput", "opens files, can rewrite them in place"),
    ("tarfile", "extracts archives onto disk"),
    ("zipfile", "extracts archives onto disk"),
    ("sqlite3", "creates database files"),
    ("_sqlite3", "creates database files"),
    ("io.open", "opens files"),
    ("io.open_code", "opens files"),
    ("io.FileIO", "opens files"),
    ("_io", "opens files"),
    ("codecs.open", "opens files"),
    (
        "pathlib",
        "pathlib methods (Path.write_text, unlink) touch files",
    ),
    (
        "logging.config",
        "logging.config.listen and fileConfig evaluate configuration",
    ),
    ("logging.handlers", "handlers open files and sockets"),
    ("logging.FileHandler", "creates files"),
    ("logging.basicConfig", "creates files"),
    ("platform.popen", "runs shell commands (older Pythons)"),
    ("uuid", "uuid's node helpers run external commands"),
    ("_osx_support", "runs external commands"),
    ("_aix_support", "runs external commands"),
];

/// Exact paths under a DANGEROUS prefix that only build an inert value.
const INERT_EXCEPTIONS: &[&str] = &[
    "pathlib.Path",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.PurePath",
    "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    "uuid.UUID",
    "uuid.SafeUUID",
];

/// Module names that make any dotted path through them Dangerous.
const DANGEROUS_COMPONENTS: &[&str] = &[
    "os",
    "posix",
    "nt",
    "sys",
    "subprocess",
    "builtins",
    "__builtin__",
    "__builtins__",
    "pty",
    "runpy",
    "importlib",
    "marshal",
    "pickle",
    "_pickle",
    "ctypes",
    "socket",
    "shutil",
    "multiprocessing",
    "_posixsubprocess",
];

/// Attribute names that make a dotted name Dangerous (`numpy.x.system`, `y.eval`).
const DANGEROUS_ATTRIBUTES: &[&str] = &[
    "system", "popen", "eval", "exec", "execfile", "compile", "getattr", "setattr", "open", "load",
    "loads", "spawn", "run",
];

/// Exact `module.name` paths that only rebuild data: tensors, arrays, containers.
const SAFE: &[&str] = &[
    "collections.OrderedDict",
    "collections.Counter",
    "collections.defaultdict",
    "collections.deque",
    "builtins.set",
    "builtins.frozenset",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.complex",
    "builtins.slice",
    "builtins.range",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.str",
    "builtins.object",
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    // numpy pickles bytes as _codecs.encode(str, "latin1") under protocols 0-2.
    "_codecs.encode",
    "argparse.Namespace",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy._core.numeric._frombuffer",
    "numpy.ma.core._mareconstruct",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._tensor._rebuild_from_type",
    "torch._tensor._rebuild_from_type_v2",
    "torch.nn.parameter.Parameter",
    "torch.Tensor",
    "torch.Size",
    "torch.device",
    "torch.serialization._get_layout",
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
];

/// Allow-listed callables that return an instance of a class taken from their arguments
/// (`__bit_generator_ctor(cls)` returns `cls()`). Harmless to load, but their result can be
/// any object, so the joblib walk cannot rule out that it is a NumpyArrayWrapper.
const SAFE_BUT_UNTYPED: &[&str] = &[
    "torch._tensor._rebuild_from_type",
    "torch._tensor._rebuild_from_type_v2",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.ma.core._mareconstruct",
];

/// Modules whose every undotted name is a data type.
const SAFE_MODULES: &[&str] = &["numpy.dtypes"];

/// `torch.<name>` constants that pickles reference: dtypes, layouts, memory formats.
const TORCH_CONSTANTS: &[&str] = &[
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "complex32",
    "complex64",
    "cfloat",
    "complex128",
    "cdouble",
    "uint8",
    "int8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "bool",
    "uint16",
    "uint32",
    "uint64",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "strided",
    "sparse_coo",
    "sparse_csr",
    "sparse_csc",
    "sparse_bsr",
    "sparse_bsc",
    "contiguous_format",
    "channels_last",
    "channels_last_3d",
    "preserve_format",
];

/// Python 2 module names that CPython's unpickler maps to their Python 3 homes
/// (`_compat_pickle.IMPORT_MAPPING`), limited to the ones our tables mention.
const PY2_MODULES: &[(&str, &str)] = &[
    ("__builtin__", "builtins"),
    ("copy_reg", "copyreg"),
    ("cPickle", "pickle"),
    ("commands", "subprocess"),
    ("httplib", "http.client"),
    ("urllib2", "urllib.request"),
    ("urlparse", "urllib.parse"),
    ("BaseHTTPServer", "http.server"),
    ("SimpleHTTPServer", "http.server"),
    ("xmlrpclib", "xmlrpc.client"),
    ("SocketServer", "socketserver"),
];

fn normalize_module(module: &str) -> &str {
    PY2_MODULES
        .iter()
        .find(|(old, _)| *old == module)
        .map_or(module, |(_, new)| new)
}

fn is_at_or_below(path: &str, pattern: &str) -> bool {
    path.strip_prefix(pattern)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn is_torch_storage(module: &str, name: &str) -> bool {
    matches!(module, "torch" | "torch.cuda" | "torch.storage")
        && name.ends_with("Storage")
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

// ---------------------------------------------------------------------------------------------
// Limits

/// Opcodes walked per pickle stream (a 256 MiB pickle of small opcodes is ~100M).
const MAX_OPCODES: u64 = 200_000_000;
/// Simulated stack depth and memo entries (each value is 24 bytes).
const MAX_STACK: usize = 4 << 20;
const MAX_MEMO: usize = 4 << 20;
/// Strings longer than this are not kept as operands (no module name is that long).
const MAX_OPERAND: usize = 4096;
/// Distinct imports per stream; a legitimate model has a few dozen.
const MAX_IMPORTS: usize = 4096;
/// Problems kept per stream before the rest are counted.
const MAX_PROBLEMS: usize = 32;
/// Entries kept in a simulated dict (joblib wrapper state has six).
const MAX_DICT: usize = 64;
/// Decompressed size of one zip member or compressed pickle.
const MAX_INFLATED: u64 = 256 << 20;
/// Decompressed bytes over all members of one archive.
const MAX_ARCHIVE_INFLATED: u64 = 1 << 30;
/// Metadata strings collected per file, and bytes over all of them.
const MAX_METADATA: usize = 100_000;
const MAX_METADATA_BYTES: usize = 64 << 20;
/// Strings collected from one GGUF array (tokenizer vocabularies hold 100k+ tokens).
const MAX_GGUF_ARRAY_STRINGS: u64 = 1024;
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

// ---------------------------------------------------------------------------------------------
// Pickle opcodes (CPython Lib/pickletools.py has the reference table)

mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;

    /// Every opcode of protocols 0-5.
    pub fn is_known(code: u8) -> bool {
        matches!(code, 0x80..=0x98)
            || b"(.012FIJKLMNPQRSTUVXabcd}eghijl]opqrst)uGBC".contains(&code)
    }
}

// ---------------------------------------------------------------------------------------------
// Simulated values: just enough to resolve STACK_GLOBAL and follow joblib's inline arrays.

#[derive(Clone, Debug)]
enum Val {
    /// Anything the walker does not need to know: lists, floats, bytes, persistent ids.
    Other,
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
struct Span {
    start: usize,
    len: u32,
    enc: Enc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Enc {
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
struct GlobalRef {
    /// Normalised `module.name`.
    path: String,
    /// Index into the collector's imports.
    import: usize,
    /// Classified Safe: a known constructor, so a call of it returns its own kind.
    safe: bool,
}

#[derive(Debug, Default)]
struct DictVal {
    items: Vec<(Val, Val)>,
    /// MAX_DICT was hit: lookups are unreliable.
    overflowed: bool,
}

/// The objects joblib's array reads depend on.
#[derive(Debug)]
enum Obj {
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
struct WrapperAttrs {
    shape: Attr<Vec<u64>>,
    /// Always an `Obj::Dtype` (so wrappers never hold wrappers).
    dtype: Attr<Rc<Obj>>,
    /// Whether `numpy_array_alignment_bytes` was set to something other than None.
    padded: bool,
}

#[derive(Debug, Default)]
enum Attr<T> {
    #[default]
    Unset,
    Bad,
    Set(T),
}

impl Val {
    /// The value as a tuple element: containers become Other so nesting stays bounded.
    fn flat(self) -> Val {
        match self {
            Val::Tuple(_) | Val::Dict(_) => Val::Other,
            v => v,
        }
    }

    /// The value as a dict key or value: dicts become Other (tuples are already flat).
    fn dict_item(self) -> Val {
        match self {
            Val::Dict(_) => Val::Other,
            v => v,
        }
    }

    fn tuple_item(&self, i: usize) -> Option<&Val> {
        match self {
            Val::Tuple(t) => t.get(i),
            _ => None,
        }
    }
}

fn tuple_of(items: Vec<Val>) -> Val {
    Val::Tuple(Rc::new(items.into_iter().map(Val::flat).collect()))
}

fn last_component(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn is_wrapper_class(path: &str) -> bool {
    last_component(path) == "NumpyArrayWrapper"
}

/// The NumpyArrayWrapper attributes that decide how many bytes joblib reads.
const WRAPPER_KEYS: &[&str] = &["shape", "dtype", "numpy_array_alignment_bytes"];

fn is_dtype_class(path: &str) -> bool {
    matches!(
        path,
        "numpy.dtype" | "numpy.core.multiarray.dtype" | "numpy._core.multiarray.dtype"
    )
}

// ---------------------------------------------------------------------------------------------
// The memo

#[derive(Default)]
struct Memo {
    dense: Vec<Option<Val>>,
    sparse: HashMap<u64, Val>,
    len: usize,
}

impl Memo {
    fn get(&self, i: u64) -> Option<&Val> {
        let dense = usize::try_from(i).ok().and_then(|i| self.dense.get(i));
        match dense {
            Some(Some(v)) => Some(v),
            _ => self.sparse.get(&i),
        }
    }

    /// Store `v` at `i`; false when a new entry would pass MAX_MEMO.
    fn put(&mut self, i: u64, v: Val) -> bool {
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

struct Collector<'m> {
    member: Option<&'m str>,
    imports: Vec<Import>,
    index: HashMap<(String, String), usize>,
    strings: Vec<PickleString>,
    string_bytes: usize,
    /// Offsets already kept: the joblib walk revisits what the C walk saw.
    string_offsets: HashSet<usize>,
}

impl<'m> Collector<'m> {
    fn new(member: Option<&'m str>) -> Self {
        Collector {
            member,
            imports: Vec::new(),
            index: HashMap::new(),
            strings: Vec::new(),
            string_bytes: 0,
            string_offsets: HashSet::new(),
        }
    }

    fn keep_string(&mut self, offset: usize, text: String) {
        if self.strings.len() >= MAX_KEPT_STRINGS
            || self.string_bytes + text.len() > MAX_KEPT_STRING_BYTES
            || !self.string_offsets.insert(offset)
        {
            return;
        }
        self.string_bytes += text.len();
        self.strings.push(PickleString {
            member: self.member.map(str::to_owned),
            offset: offset as u64,
            text,
        });
    }

    /// Record an import (first offset wins), classifying it unless `verdict` is given; returns
    /// its index and verdict, or None when MAX_IMPORTS distinct ones were seen.
    fn record(
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
            return None;
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

    fn escalate(&mut self, i: usize) {
        if let Some(imp) = self.imports.get_mut(i) {
            imp.verdict = Verdict::Dangerous;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The walker

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// CPython's C unpickler (`pickle.load`, `torch.load`): frames are only hints and bytes are
    /// read in order; semantic errors are noted and walked past, so the walk sees at least
    /// every import CPython would perform.
    C,
    /// joblib's NumpyUnpickler, a pure-Python unpickler: frames are buffered, and a BUILD of a
    /// NumpyArrayWrapper reads the array from the file position after the current frame.
    Joblib,
    /// Sniffing a pickle without a PROTO header: C semantics, stopping at the first thing
    /// CPython would reject.
    Strict,
}

/// Why a walk ended.
enum Halt {
    /// STOP, and nothing more to walk.
    End,
    /// The walk cannot go on (truncation, unknown opcode, a limit).
    Problem(usize, String),
}

struct Problem {
    offset: usize,
    message: String,
}

/// A Python-unpickler frame: opcodes come from `cur..end` until it is used up.
struct Frame {
    cur: usize,
    end: usize,
}

struct Ctx {
    stack: Vec<Val>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: Memo,
    frame: Option<Frame>,
    /// Whether BUILD of a NumpyArrayWrapper reads an inline array (joblib's outer unpickler).
    arrays: bool,
}

impl Ctx {
    fn new(arrays: bool) -> Self {
        Ctx {
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Memo::default(),
            frame: None,
            arrays,
        }
    }
}

/// How a callable was applied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CallKind {
    /// REDUCE, INST, OBJ: `f(*args)`, which may return anything.
    Call,
    /// NEWOBJ, NEWOBJ_EX: `cls.__new__(cls, *args)`, an instance of cls.
    New,
}

/// What joblib reads after a NumpyArrayWrapper BUILD.
enum ArrayRead {
    Raw {
        padded: bool,
        bytes: u64,
    },
    /// An object array: a nested pickle stream.
    Nested,
}

struct Walk<'a, 'c, 'm> {
    data: &'a [u8],
    mode: Mode,
    /// The file position: where the next byte outside a frame comes from.
    file_pos: usize,
    ctx: Ctx,
    /// joblib: the outer unpickler, suspended while an object array's nested pickle runs.
    outer: Option<Ctx>,
    col: &'c mut Collector<'m>,
    problems: Vec<Problem>,
    omitted: usize,
    ops: u64,
    /// A NumpyArrayWrapper was imported: the joblib interpretation differs from pickle.load.
    wrapper_seen: bool,
    /// File position of the first joblib array read: the C walk is meaningless past it.
    diverged_at: Option<usize>,
    /// Imports followed by calls (sniff evidence).
    calls: u32,
    /// Where the last top-level STOP ended, if one was reached.
    stopped_at: Option<usize>,
}

impl<'a, 'c, 'm> Walk<'a, 'c, 'm> {
    fn new(data: &'a [u8], mode: Mode, col: &'c mut Collector<'m>) -> Self {
        Walk {
            data,
            mode,
            file_pos: 0,
            ctx: Ctx::new(mode == Mode::Joblib),
            outer: None,
            col,
            problems: Vec::new(),
            omitted: 0,
            ops: 0,
            wrapper_seen: false,
            diverged_at: None,
            calls: 0,
            stopped_at: None,
        }
    }

    /// Walk until STOP (and any following pickles), or until the walk cannot go on.
    /// Returns false when the opcode budget ran out.
    fn run(&mut self) -> bool {
        loop {
            if self.ops >= MAX_OPCODES {
                if self.mode != Mode::Strict {
                    let at = self.offset();
                    self.note(at, format!("stopped after {} opcodes (limit)", MAX_OPCODES));
                }
                return false;
            }
            self.ops += 1;
            match self.step() {
                Ok(()) => {}
                Err(Halt::End) => return true,
                Err(Halt::Problem(at, msg)) => {
                    self.note(at, msg);
                    return true;
                }
            }
        }
    }

    fn note(&mut self, offset: usize, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { offset, message });
        } else {
            self.omitted += 1;
        }
    }

    /// A problem CPython would also stop at, but after which the walk goes on (so it reports a
    /// superset of what CPython imports). Sniffing stops at it.
    fn soft(&mut self, offset: usize, message: impl Into<String>) -> Result<(), Halt> {
        if self.mode == Mode::Strict {
            return Err(Halt::Problem(offset, message.into()));
        }
        self.note(offset, message.into());
        Ok(())
    }

    /// Where the next opcode byte comes from.
    #[inline]
    fn offset(&self) -> usize {
        self.ctx.frame.as_ref().map_or(self.file_pos, |f| f.cur)
    }

    fn truncated(&self, at: usize, n: usize) -> Halt {
        let left = self.data.len().saturating_sub(at);
        Halt::Problem(at, format!("truncated: {n} bytes needed, {left} left"))
    }

    /// Read `n` bytes the way the unpickler in `mode` would; returns where they start.
    #[inline]
    fn take(&mut self, n: usize) -> Result<usize, Halt> {
        if let Some(f) = self.ctx.frame.as_mut() {
            let avail = f.end.saturating_sub(f.cur);
            if avail == 0 && n != 0 {
                // The frame is used up: Python goes back to the file.
                self.ctx.frame = None;
            } else if avail < n {
                let at = f.cur;
                return Err(Halt::Problem(
                    at,
                    "pickle exhausted before end of frame".into(),
                ));
            } else {
                let at = f.cur;
                f.cur += n;
                return Ok(at);
            }
        }
        let at = self.file_pos;
        match at.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                self.file_pos = end;
                Ok(at)
            }
            _ => Err(self.truncated(at, n)),
        }
    }

    #[inline]
    fn read(&mut self, n: usize) -> Result<&'a [u8], Halt> {
        let at = self.take(n)?;
        self.data
            .get(at..at.saturating_add(n))
            .ok_or_else(|| self.truncated(at, n))
    }

    #[inline]
    fn read_n<const N: usize>(&mut self) -> Result<[u8; N], Halt> {
        let at = self.offset();
        let s = self.read(N)?;
        <[u8; N]>::try_from(s).map_err(|_| self.truncated(at, N))
    }

    /// Skip a length-prefixed argument; returns where it starts and its length.
    fn take_len(&mut self, n: u64) -> Result<(usize, usize), Halt> {
        let at = self.offset();
        let n = usize::try_from(n).map_err(|_| self.truncated(at, usize::MAX))?;
        Ok((self.take(n)?, n))
    }

    /// A length-prefixed string operand.
    fn text_arg(&mut self, n: u64, enc: Enc) -> Result<Val, Halt> {
        let (start, len) = self.take_len(n)?;
        Ok(text_val(start, len, enc))
    }

    /// Decode a string operand; None for anything else.
    fn text(&self, v: &Val) -> Option<String> {
        let Val::Text(s) = v else { return None };
        let raw = self
            .data
            .get(s.start..s.start.checked_add(s.len as usize)?)?;
        Some(match s.enc {
            Enc::Utf8 => String::from_utf8_lossy(raw).into_owned(),
            Enc::Latin1 => raw.iter().map(|&c| char::from(c)).collect(),
            Enc::Escaped => escape_decode(raw).iter().map(|&c| char::from(c)).collect(),
            Enc::RawUnicode => raw_unicode_escape(raw),
        })
    }

    /// Push a string operand, keeping a copy of long ones for the credential scan (not while
    /// merely sniffing whether the bytes are a pickle at all).
    fn push_text(&mut self, at: usize, v: Val) -> Result<(), Halt> {
        if let Val::Text(span) = &v {
            if span.len as usize >= MIN_KEPT_STRING && self.mode != Mode::Strict {
                if let Some(text) = self.text(&v) {
                    self.col.keep_string(span.start, text);
                }
            }
        }
        self.push(at, v)
    }

    /// A newline-terminated argument, without the newline.
    fn line(&mut self) -> Result<&'a [u8], Halt> {
        let (start, limit) = match &self.ctx.frame {
            Some(f) if f.cur < f.end => (f.cur, f.end),
            _ => (self.file_pos, self.data.len()),
        };
        let window = self.data.get(start..limit).unwrap_or(&[]);
        let Some(nl) = memchr::memchr(b'\n', window) else {
            return Err(if limit < self.data.len() {
                Halt::Problem(start, "pickle exhausted before end of frame".into())
            } else {
                Halt::Problem(start, "truncated: line argument without newline".into())
            });
        };
        let line = window.get(..nl).unwrap_or(&[]);
        self.take(nl + 1)?;
        Ok(line)
    }

    /// Where a line argument just read starts in the input.
    fn start_of(&self, line: &[u8]) -> usize {
        (line.as_ptr() as usize).saturating_sub(self.data.as_ptr() as usize)
    }

    #[inline]
    fn floor(&self) -> usize {
        self.ctx.marks.last().copied().unwrap_or(0)
    }

    #[inline]
    fn push(&mut self, at: usize, v: Val) -> Result<(), Halt> {
        if self.ctx.stack.len() >= MAX_STACK {
            return Err(Halt::Problem(
                at,
                format!("stack deeper than {MAX_STACK} (limit)"),
            ));
        }
        self.ctx.stack.push(v);
        Ok(())
    }

    #[inline]
    fn pop(&mut self, at: usize) -> Result<Val, Halt> {
        if self.ctx.stack.len() > self.floor() {
            Ok(self.ctx.stack.pop().unwrap_or(Val::Other))
        } else {
            self.soft(at, "stack underflow")?;
            Ok(Val::Other)
        }
    }

    #[inline]
    fn top(&mut self, at: usize) -> Result<Val, Halt> {
        if self.ctx.stack.len() > self.floor() {
            Ok(self.ctx.stack.last().cloned().unwrap_or(Val::Other))
        } else {
            self.soft(at, "stack underflow")?;
            Ok(Val::Other)
        }
    }

    /// Pop back to the last MARK, returning what was above it.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Val>, Halt> {
        match self.ctx.marks.pop() {
            Some(m) => Ok(self.ctx.stack.split_off(m.min(self.ctx.stack.len()))),
            None => {
                self.soft(at, "no MARK to pop to")?;
                Ok(Vec::new())
            }
        }
    }

    /// Pop back to the last MARK, discarding what was above it.
    fn drop_to_mark(&mut self, at: usize) -> Result<(), Halt> {
        match self.ctx.marks.pop() {
            Some(m) => self.ctx.stack.truncate(m),
            None => self.soft(at, "no MARK to pop to")?,
        }
        Ok(())
    }

    fn memo_put(&mut self, at: usize, i: u64) -> Result<(), Halt> {
        let v = self.top(at)?;
        if self.ctx.memo.put(i, v) {
            Ok(())
        } else {
            Err(Halt::Problem(
                at,
                format!("memo larger than {MAX_MEMO} entries (limit)"),
            ))
        }
    }

    fn memo_get(&mut self, at: usize, i: u64) -> Result<(), Halt> {
        let v = match self.ctx.memo.get(i) {
            Some(v) => v.clone(),
            None => {
                self.soft(at, format!("memo entry {i} read before it was written"))?;
                Val::Other
            }
        };
        self.push(at, v)
    }

    /// Record an import and return the value the unpickler would push.
    fn import(
        &mut self,
        at: usize,
        module: &str,
        name: &str,
        verdict: Option<Verdict>,
    ) -> Result<Val, Halt> {
        let Some((import, verdict)) = self.col.record(module, name, at, verdict) else {
            return Err(Halt::Problem(
                at,
                format!("more than {MAX_IMPORTS} distinct imports (limit)"),
            ));
        };
        let path = format!("{}.{name}", normalize_module(module));
        if is_wrapper_class(&path) {
            self.wrapper_seen = true;
        }
        Ok(Val::Global(Rc::new(GlobalRef {
            path,
            import,
            safe: verdict == Verdict::Safe,
        })))
    }

    /// GLOBAL and INST: `module\nname\n` inline.
    fn inline_global(&mut self, at: usize) -> Result<Val, Halt> {
        let module = String::from_utf8_lossy(self.line()?).into_owned();
        let name = String::from_utf8_lossy(self.line()?).into_owned();
        if self.mode == Mode::Strict && !(is_import_name(&module) && is_import_name(&name)) {
            return Err(Halt::Problem(at, "not an importable name".into()));
        }
        self.import(at, &module, &name, None)
    }

    /// Add key/value pairs to a simulated dict, keeping only the keys of a joblib wrapper's
    /// state (the only dicts whose contents matter).
    fn set_items(&self, d: &Val, items: Vec<Val>) {
        let Val::Dict(d) = d else { return };
        let mut d = d.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if !self
                .text(&k)
                .is_some_and(|k| WRAPPER_KEYS.contains(&k.as_str()))
            {
                continue;
            }
            if d.items.len() >= MAX_DICT {
                d.overflowed = true;
                return;
            }
            d.items.push((k.dict_item(), v.dict_item()));
        }
    }

    /// Whether values are modelled in full (tuples, dicts, call results). Only the joblib walk
    /// needs them, to find array sizes; the others keep strings, ints and imports only.
    fn rich(&self) -> bool {
        self.mode == Mode::Joblib
    }

    /// The value a call of `callable` returns.
    fn call(&mut self, callable: Val, args: &Val, kind: CallKind) -> Val {
        let Val::Global(g) = callable else {
            return if self.rich() {
                Val::Unknown
            } else {
                Val::Other
            };
        };
        self.calls += 1;
        if !self.rich() {
            return Val::Other;
        }
        if kind == CallKind::Call
            && matches!(
                g.path.as_str(),
                "copyreg._reconstructor" | "copyreg.__newobj__" | "copyreg.__newobj_ex__"
            )
        {
            // These build `cls.__new__(cls, ...)` for the class in their first argument.
            return match args.tuple_item(0) {
                Some(Val::Global(cls)) => instance_of(&cls.path, None),
                _ => Val::Unknown,
            };
        }
        if kind == CallKind::New || (g.safe && !SAFE_BUT_UNTYPED.contains(&g.path.as_str())) {
            let code = args.tuple_item(0).and_then(|a| self.text(a));
            instance_of(&g.path, code)
        } else {
            Val::Unknown
        }
    }

    fn step(&mut self) -> Result<(), Halt> {
        let at = self.offset();
        let code = match self.read(1) {
            Ok([c]) => *c,
            _ => return Err(Halt::Problem(at, "pickle ends without STOP".into())),
        };
        match code {
            op::MARK => {
                if self.ctx.marks.len() >= MAX_STACK {
                    return Err(Halt::Problem(at, "too many MARKs (limit)".into()));
                }
                self.ctx.marks.push(self.ctx.stack.len());
            }
            op::STOP => return self.stop(at),
            op::POP => {
                // CPython pops the MARK itself when nothing is above it.
                if self.ctx.stack.len() == self.floor() && !self.ctx.marks.is_empty() {
                    self.ctx.marks.pop();
                } else {
                    self.pop(at)?;
                }
            }
            op::POP_MARK => self.drop_to_mark(at)?,
            op::DUP => {
                let v = self.top(at)?;
                self.push(at, v)?;
            }
            op::FLOAT => {
                let l = self.line()?;
                if self.mode == Mode::Strict && !is_numberish(l, b".+-") {
                    return Err(Halt::Problem(at, "bad FLOAT".into()));
                }
                self.push(at, Val::Other)?;
            }
            op::INT | op::LONG => {
                let l = self.line()?;
                if !is_numberish(l, b"+-") {
                    self.soft(at, "bad INT/LONG")?;
                }
                let l = l.strip_suffix(b"L").unwrap_or(l);
                let v = std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .map_or(Val::Other, Val::Int);
                self.push(at, v)?;
            }
            op::BININT => {
                let v = i32::from_le_bytes(self.read_n()?);
                self.push(at, Val::Int(v.into()))?;
            }
            op::BININT1 => {
                let [v] = self.read_n()?;
                self.push(at, Val::Int(v.into()))?;
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.read_n()?);
                self.push(at, Val::Int(v.into()))?;
            }
            op::LONG1 => {
                let [n] = self.read_n()?;
                let (start, len) = self.take_len(n.into())?;
                let b = self.data.get(start..start + len).unwrap_or(&[]);
                self.push(at, long_value(b))?;
            }
            op::LONG4 => {
                let n = i32::from_le_bytes(self.read_n()?);
                let n = u64::try_from(n)
                    .map_err(|_| Halt::Problem(at, "LONG4 with negative length".into()))?;
                let (start, len) = self.take_len(n)?;
                let b = self.data.get(start..start + len).unwrap_or(&[]);
                self.push(at, long_value(b))?;
            }
            op::NONE => self.push(at, Val::None)?,
            op::NEWTRUE => self.push(at, Val::Int(1))?,
            op::NEWFALSE => self.push(at, Val::Int(0))?,
            op::BINFLOAT => {
                self.read_n::<8>()?;
                self.push(at, Val::Other)?;
            }
            op::PERSID => {
                self.line()?;
                self.push(at, Val::Other)?;
            }
            op::BINPERSID => {
                self.pop(at)?;
                self.push(at, Val::Other)?;
            }
            op::STRING => {
                let l = self.line()?;
                let quoted = l.len() >= 2
                    && l.first() == l.last()
                    && matches!(l.first(), Some(b'\'' | b'"'));
                let v = match l.get(1..l.len().saturating_sub(1)) {
                    Some(inner) if quoted => {
                        text_val(self.start_of(inner), inner.len(), Enc::Escaped)
                    }
                    _ => {
                        self.soft(at, "STRING argument is not quoted")?;
                        Val::Other
                    }
                };
                self.push_text(at, v)?;
            }
            op::BINSTRING => {
                let n = i32::from_le_bytes(self.read_n()?);
                let n = u64::try_from(n)
                    .map_err(|_| Halt::Problem(at, "BINSTRING with negative length".into()))?;
                let v = self.text_arg(n, Enc::Latin1)?;
                self.push_text(at, v)?;
            }
            op::SHORT_BINSTRING => {
                let [n] = self.read_n()?;
                let v = self.text_arg(n.into(), Enc::Latin1)?;
                self.push_text(at, v)?;
            }
            op::UNICODE => {
                let l = self.line()?;
                let v = text_val(self.start_of(l), l.len(), Enc::RawUnicode);
                self.push_text(at, v)?;
            }
            op::BINUNICODE => {
                let n = u32::from_le_bytes(self.read_n()?);
                let v = self.text_arg(n.into(), Enc::Utf8)?;
                self.push_text(at, v)?;
            }
            op::SHORT_BINUNICODE => {
                let [n] = self.read_n()?;
                let v = self.text_arg(n.into(), Enc::Utf8)?;
                self.push_text(at, v)?;
            }
            op::BINUNICODE8 => {
                let n = u64::from_le_bytes(self.read_n()?);
                let v = self.text_arg(n, Enc::Utf8)?;
                self.push_text(at, v)?;
            }
            op::BINBYTES => {
                let n = u32::from_le_bytes(self.read_n()?);
                self.take_len(n.into())?;
                self.push(at, Val::Other)?;
            }
            op::SHORT_BINBYTES => {
                let [n] = self.read_n()?;
                self.take_len(n.into())?;
                self.push(at, Val::Other)?;
            }
            op::BINBYTES8 | op::BYTEARRAY8 => {
                let n = u64::from_le_bytes(self.read_n()?);
                self.take_len(n)?;
                self.push(at, Val::Other)?;
            }
            op::NEXT_BUFFER => self.push(at, Val::Other)?,
            op::READONLY_BUFFER => {
                self.top(at)?;
            }
            op::EMPTY_TUPLE => {
                let v = if self.rich() {
                    tuple_of(Vec::new())
                } else {
                    Val::Other
                };
                self.push(at, v)?;
            }
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = usize::from(code - op::TUPLE1) + 1;
                let mut items = Vec::new();
                for _ in 0..n {
                    let v = self.pop(at)?;
                    if self.rich() {
                        items.push(v);
                    }
                }
                let v = if self.rich() {
                    items.reverse();
                    tuple_of(items)
                } else {
                    Val::Other
                };
                self.push(at, v)?;
            }
            op::TUPLE => {
                let v = if self.rich() {
                    tuple_of(self.pop_mark(at)?)
                } else {
                    self.drop_to_mark(at)?;
                    Val::Other
                };
                self.push(at, v)?;
            }
            op::EMPTY_LIST | op::EMPTY_SET => self.push(at, Val::Other)?,
            op::LIST | op::FROZENSET => {
                self.drop_to_mark(at)?;
                self.push(at, Val::Other)?;
            }
            op::APPEND => {
                self.pop(at)?;
            }
            op::APPENDS | op::ADDITEMS => self.drop_to_mark(at)?,
            op::EMPTY_DICT => {
                let v = if self.rich() {
                    Val::Dict(Rc::default())
                } else {
                    Val::Other
                };
                self.push(at, v)?;
            }
            op::DICT => {
                let v = if self.rich() {
                    let d = Val::Dict(Rc::default());
                    let items = self.pop_mark(at)?;
                    self.set_items(&d, items);
                    d
                } else {
                    self.drop_to_mark(at)?;
                    Val::Other
                };
                self.push(at, v)?;
            }
            op::SETITEM => {
                let v = self.pop(at)?;
                let k = self.pop(at)?;
                let d = self.top(at)?;
                self.set_items(&d, vec![k, v]);
            }
            op::SETITEMS => {
                if self.rich() {
                    let items = self.pop_mark(at)?;
                    let d = self.top(at)?;
                    self.set_items(&d, items);
                } else {
                    self.drop_to_mark(at)?;
                    self.top(at)?;
                }
            }
            op::GET => {
                let l = self.line()?;
                let i = decimal(l);
                match i {
                    Some(i) => self.memo_get(at, i)?,
                    None => {
                        self.soft(at, "bad GET index")?;
                        self.push(at, Val::Other)?;
                    }
                }
            }
            op::BINGET => {
                let [i] = self.read_n()?;
                self.memo_get(at, i.into())?;
            }
            op::LONG_BINGET => {
                let i = u32::from_le_bytes(self.read_n()?);
                self.memo_get(at, i.into())?;
            }
            op::PUT => {
                let l = self.line()?;
                match decimal(l) {
                    Some(i) => self.memo_put(at, i)?,
                    None => self.soft(at, "bad PUT index")?,
                }
            }
            op::BINPUT => {
                let [i] = self.read_n()?;
                self.memo_put(at, i.into())?;
            }
            op::LONG_BINPUT => {
                let i = u32::from_le_bytes(self.read_n()?);
                self.memo_put(at, i.into())?;
            }
            op::MEMOIZE => {
                let i = self.ctx.memo.len as u64;
                self.memo_put(at, i)?;
            }
            op::GLOBAL => {
                let g = self.inline_global(at)?;
                self.push(at, g)?;
            }
            op::STACK_GLOBAL => {
                let name = self.pop(at)?;
                let module = self.pop(at)?;
                let g = match (self.text(&module), self.text(&name)) {
                    (Some(m), Some(n)) => self.import(at, &m, &n, None)?,
                    _ => {
                        // CPython's pickler always feeds STACK_GLOBAL two strings (literal or
                        // memoised), and both are resolved here. Anything else was built by a
                        // call or a crafted stack, so the target is unknowable: fail closed.
                        self.soft(
                            at,
                            "unresolvable STACK_GLOBAL (operands are not plain strings): \
                             reported as a Dangerous import ?.?",
                        )?;
                        self.import(at, "?", "?", Some(Verdict::Dangerous))?
                    }
                };
                self.push(at, g)?;
            }
            op::INST => {
                let g = self.inline_global(at)?;
                let items = self.pop_mark(at)?;
                let r = self.call(g, &tuple_of(items), CallKind::Call);
                self.push(at, r)?;
            }
            op::OBJ => {
                let mut items = self.pop_mark(at)?.into_iter();
                let cls = match items.next() {
                    Some(c) => c,
                    None => {
                        self.soft(at, "OBJ without a class")?;
                        Val::Other
                    }
                };
                let r = self.call(cls, &tuple_of(items.collect()), CallKind::Call);
                self.push(at, r)?;
            }
            op::REDUCE => {
                let args = self.pop(at)?;
                let f = self.pop(at)?;
                let r = self.call(f, &args, CallKind::Call);
                self.push(at, r)?;
            }
            op::NEWOBJ => {
                let args = self.pop(at)?;
                let cls = self.pop(at)?;
                let r = self.call(cls, &args, CallKind::New);
                self.push(at, r)?;
            }
            op::NEWOBJ_EX => {
                self.pop(at)?;
                let args = self.pop(at)?;
                let cls = self.pop(at)?;
                let r = self.call(cls, &args, CallKind::New);
                self.push(at, r)?;
            }
            op::BUILD => {
                let state = self.pop(at)?;
                let inst = self.top(at)?;
                self.build(at, inst, state)?;
            }
            op::EXT1 | op::EXT2 | op::EXT4 => {
                let n: i64 = match code {
                    op::EXT1 => u8::from_le_bytes(self.read_n()?).into(),
                    op::EXT2 => u16::from_le_bytes(self.read_n()?).into(),
                    _ => i32::from_le_bytes(self.read_n()?).into(),
                };
                // Only meaningful if the loading program registered copyreg extension codes
                // (CPython registers none), so the target is not knowable here.
                let g = self.import(
                    at,
                    "copyreg._extension_registry",
                    &n.to_string(),
                    Some(Verdict::Unknown),
                )?;
                self.push(at, g)?;
            }
            op::PROTO => {
                let [v] = self.read_n()?;
                if v > 5 {
                    return Err(Halt::Problem(
                        at,
                        format!("unsupported pickle protocol {v}"),
                    ));
                }
            }
            op::FRAME => {
                let n = u64::from_le_bytes(self.read_n()?);
                self.frame(at, n)?;
            }
            other => {
                return Err(Halt::Problem(at, format!("unknown opcode 0x{other:02x}")));
            }
        }
        Ok(())
    }

    fn frame(&mut self, at: usize, n: u64) -> Result<(), Halt> {
        let left = self.data.len().saturating_sub(self.file_pos);
        let len = usize::try_from(n).unwrap_or(usize::MAX);
        if len > left {
            // The C unpickler refuses this frame, the Python one runs what it holds: go on.
            self.soft(at, format!("FRAME of {n} bytes, only {left} left"))?;
        }
        if self.mode == Mode::Joblib {
            if self.ctx.frame.as_ref().is_some_and(|f| f.cur < f.end) {
                return Err(Halt::Problem(
                    at,
                    "new frame before the end of the current one".into(),
                ));
            }
            let start = self.file_pos;
            let end = start.saturating_add(len.min(left));
            self.ctx.frame = Some(Frame { cur: start, end });
            self.file_pos = end;
        }
        Ok(())
    }

    fn stop(&mut self, at: usize) -> Result<(), Halt> {
        self.pop(at)?;
        if let Some(outer) = self.outer.take() {
            // An object array's nested pickle ended: its frame is dropped with it, and the
            // wrapper on the outer stack becomes the array.
            self.ctx = outer;
            if let Some(top) = self.ctx.stack.last_mut() {
                *top = Val::Other;
            }
            return Ok(());
        }
        self.stopped_at = Some(self.file_pos);
        // Several pickles in one file (legacy torch.save, repeated dumps): go on when the next
        // byte starts another protocol 2+ pickle. (Anything else after STOP is left alone:
        // legacy torch files end in raw storage bytes, which would read as noise.)
        if self.data.get(self.file_pos) == Some(&op::PROTO) {
            self.ctx = Ctx::new(self.mode == Mode::Joblib);
            return Ok(());
        }
        Err(Halt::End)
    }

    fn build(&mut self, at: usize, inst: Val, state: Val) -> Result<(), Halt> {
        match inst {
            Val::Global(g) => {
                // No legitimate pickle sets state on a class or function: this overwrites
                // attributes of imported code (monkeypatching through BUILD).
                self.col.escalate(g.import);
                self.soft(
                    at,
                    format!("BUILD sets attributes on the imported {}", g.path),
                )?;
            }
            Val::Obj(o) => match &*o {
                Obj::Dtype { state: s, .. } => s.set(dtype_state(&state)),
                Obj::Wrapper(attrs) if self.ctx.arrays => {
                    merge_wrapper_state(attrs, &state, |v| self.text(v));
                    let read = wrapper_read(attrs).map_err(|why| {
                        Halt::Problem(at, format!("joblib array at BUILD cannot be followed ({why}); rest not inspected"))
                    })?;
                    self.read_array(at, read)?;
                }
                Obj::Wrapper(_) => {}
            },
            Val::Unknown if self.ctx.arrays && self.wrapper_seen => {
                return Err(Halt::Problem(
                    at,
                    "BUILD of an object made by an unrecognised call while a joblib NumpyArrayWrapper is in the stream: \
                     joblib may read array bytes here; rest not inspected"
                        .into(),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn read_array(&mut self, at: usize, read: ArrayRead) -> Result<(), Halt> {
        let start = self.file_pos;
        self.diverged_at.get_or_insert(start);
        match read {
            ArrayRead::Raw { padded, bytes } => {
                let mut pos = start;
                if padded {
                    let pad = *self.data.get(pos).ok_or_else(|| self.truncated(pos, 1))?;
                    pos += 1 + usize::from(pad);
                }
                let end = usize::try_from(bytes)
                    .ok()
                    .and_then(|b| pos.checked_add(b))
                    .filter(|&e| e <= self.data.len())
                    .ok_or_else(|| {
                        Halt::Problem(
                            at,
                            format!("joblib array of {bytes} bytes runs past the end"),
                        )
                    })?;
                self.file_pos = end;
                if let Some(top) = self.ctx.stack.last_mut() {
                    *top = Val::Other;
                }
            }
            ArrayRead::Nested => {
                // joblib reads object arrays with a fresh plain unpickler from the file
                // position; this one resumes (with its frame) when that pickle stops.
                let outer = std::mem::replace(&mut self.ctx, Ctx::new(false));
                self.outer = Some(outer);
            }
        }
        Ok(())
    }
}

/// A new instance of the class at `path` (`code`: its first argument, for numpy.dtype).
fn instance_of(path: &str, code: Option<String>) -> Val {
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
fn dtype_state(state: &Val) -> Option<(i64, i64)> {
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

fn merge_wrapper_state(
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

fn wrapper_read(attrs: &RefCell<WrapperAttrs>) -> Result<ArrayRead, &'static str> {
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
fn dtype_size(dtype: &Obj) -> Option<(u64, bool)> {
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

fn long_value(b: &[u8]) -> Val {
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

fn text_val(start: usize, len: usize, enc: Enc) -> Val {
    match u32::try_from(len) {
        Ok(len) if len as usize <= MAX_OPERAND => Val::Text(Span { start, len, enc }),
        _ => Val::Other,
    }
}

fn decimal(l: &[u8]) -> Option<u64> {
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
fn is_numberish(l: &[u8], punct: &[u8]) -> bool {
    let t = l.trim_ascii();
    !t.is_empty()
        && t.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || punct.contains(&c))
}

/// Names a text pickle could import: no whitespace or control characters. (A Python file such
/// as `import os` fails here, which keeps text files from sniffing as pickles.)
fn is_import_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// Python's `codecs.escape_decode`, as the STRING opcode uses it.
fn escape_decode(s: &[u8]) -> Vec<u8> {
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
fn raw_unicode_escape(s: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------------
// Pickle files and streams

/// The compressed containers joblib writes (`joblib.dump(..., compress=...)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    Zlib,
    Gzip,
    Lz4,
}

/// A zlib/gzip stream whose first inflated bytes start a pickle, or an lz4 frame (which cannot
/// be looked into without an lz4 decoder). bz2/xz/lzma streams are not claimed: without
/// looking inside they are ordinary archives.
fn compression(bytes: &[u8]) -> Option<Compression> {
    if bytes.starts_with(b"\x04\x22\x4d\x18") {
        return Some(Compression::Lz4);
    }
    let c = if bytes.starts_with(b"\x1f\x8b\x08") {
        Compression::Gzip
    } else if is_zlib_header(bytes) {
        Compression::Zlib
    } else {
        return None;
    };
    let (head, _) = inflate(bytes, c, 64).ok()?;
    matches!(head.as_slice(), [op::PROTO, 0..=5, next, ..] if op::is_known(*next)).then_some(c)
}

fn is_zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => {
            *cmf == 0x78 && flg & 0x20 == 0 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// The raw deflate data inside a zlib or gzip stream.
fn deflate_body(bytes: &[u8], c: Compression) -> Option<&[u8]> {
    match c {
        Compression::Zlib => bytes.get(2..),
        Compression::Gzip => {
            let flags = *bytes.get(3)?;
            let mut pos = 10usize;
            if flags & 4 != 0 {
                let xlen = u16::from_le_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]);
                pos += 2 + usize::from(xlen);
            }
            for bit in [8u8, 16] {
                if flags & bit != 0 {
                    pos += memchr::memchr(0, bytes.get(pos..)?)? + 1;
                }
            }
            if flags & 2 != 0 {
                pos += 2;
            }
            bytes.get(pos..)
        }
        Compression::Lz4 => None,
    }
}

/// Inflate at most `limit + 1` bytes of a zlib/gzip stream. The zip crate is the only inflater
/// among our dependencies, so the deflate body is presented to it as a one-entry zip stream;
/// its CRC (unknown here) is not checked.
fn inflate(bytes: &[u8], c: Compression, limit: u64) -> Result<(Vec<u8>, Option<String>), String> {
    let body = deflate_body(bytes, c).ok_or("malformed header")?;
    let size = u32::try_from(body.len()).map_err(|_| "larger than 4 GiB")?;
    let mut header = Vec::with_capacity(31);
    header.extend_from_slice(ZIP_MAGIC);
    header.extend_from_slice(&20u16.to_le_bytes()); // version needed
    header.extend_from_slice(&0u16.to_le_bytes()); // flags
    header.extend_from_slice(&8u16.to_le_bytes()); // deflate
    header.extend_from_slice(&[0; 4]); // time, date
    header.extend_from_slice(&0u32.to_le_bytes()); // crc32
    header.extend_from_slice(&size.to_le_bytes());
    // Uncompressed size unknown; u32::MAX would mean "see the zip64 field".
    header.extend_from_slice(&(u32::MAX - 1).to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // name length
    header.extend_from_slice(&0u16.to_le_bytes()); // extra length
    header.push(b'z');
    let mut stream = Cursor::new(header).chain(body);
    let mut entry = match zip::read::read_zipfile_from_stream(&mut stream) {
        Ok(Some(e)) => e,
        Ok(None) => return Err("empty stream".into()),
        Err(e) => return Err(e.to_string()),
    };
    let mut out = Vec::new();
    match (&mut entry)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
    {
        Ok(_) => Ok((out, None)),
        // Raised at the end of a complete stream, because the CRC above is a placeholder.
        Err(e) if e.to_string() == "Invalid checksum" => Ok((out, None)),
        // A corrupt or cut stream: what came out before the damage is still worth walking.
        Err(e) if !out.is_empty() => Ok((out, Some(e.to_string()))),
        Err(e) => Err(e.to_string()),
    }
}

fn sniff_pickle(bytes: &[u8]) -> bool {
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
fn sniff_text_pickle(bytes: &[u8]) -> bool {
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

fn inspect_pickle_file(bytes: &[u8], report: &mut ModelReport) {
    match compression(bytes) {
        None => inspect_stream(bytes, None, report),
        Some(Compression::Lz4) => report
            .problems
            .push("compressed joblib (lz4): not inspected".into()),
        Some(c) => match inflate(bytes, c, MAX_INFLATED) {
            Ok((data, _)) if data.len() as u64 > MAX_INFLATED => report.problems.push(format!(
                "compressed pickle ({c:?}) inflates past {} MiB: not inspected",
                MAX_INFLATED >> 20
            )),
            Ok((data, damage)) => {
                if let Some(e) = damage {
                    report.problems.push(format!(
                        "compressed pickle ({c:?}) is damaged after {} bytes: {e}",
                        data.len()
                    ));
                }
                inspect_stream(&data, None, report);
            }
            Err(e) => report.problems.push(format!(
                "compressed pickle ({c:?}) could not be inflated: {e}"
            )),
        },
    }
}

/// Walk one pickle stream as `pickle.load` would and, when it holds joblib arrays, as
/// `joblib.load` would too; report the union of what either imports.
fn inspect_stream(data: &[u8], member: Option<&str>, report: &mut ModelReport) {
    let mut col = Collector::new(member);
    let mut problems = Vec::new();
    let c_walk = {
        let mut w = Walk::new(data, Mode::C, &mut col);
        w.run();
        (w.problems, w.omitted, w.wrapper_seen)
    };
    let (c_problems, c_omitted, wrapper_seen) = c_walk;
    let mut omitted = c_omitted;
    if wrapper_seen {
        let mut w = Walk::new(data, Mode::Joblib, &mut col);
        w.run();
        // Past the first inline array, pickle.load reads array bytes as opcodes: its failures
        // there are artifacts (it would stop, having run only what was already reported).
        let cut = w.diverged_at.unwrap_or(usize::MAX);
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
    } else {
        problems = c_problems;
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
    report.imports.extend(col.imports);
    report.strings.extend(col.strings);
}

// ---------------------------------------------------------------------------------------------
// Zip archives (torch.save)

fn sniff_zip(bytes: &[u8]) -> Option<ModelKind> {
    match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => a
            .file_names()
            .any(|n| n.ends_with(".pkl"))
            .then_some(ModelKind::TorchZip),
        // Unreadable here, but torch's reader might cope: member names are stored in the
        // clear, so a pickle member would show.
        Err(_) => memchr::memmem::find(bytes, b".pkl").map(|_| ModelKind::TorchZip),
    }
}

fn inspect_zip(bytes: &[u8], report: &mut ModelReport) {
    let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            report.problems.push(format!("unreadable zip archive: {e}"));
            return;
        }
    };
    let mut budget = MAX_ARCHIVE_INFLATED;
    let mut pickles = 0usize;
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                report.problems.push(format!("zip entry {i}: {e}"));
                continue;
            }
        };
        let name = entry.name().to_owned();
        if !name.ends_with(".pkl") {
            continue;
        }
        pickles += 1;
        let cap = MAX_INFLATED.min(budget);
        if entry.size() > cap {
            report.problems.push(format!(
                "{name}: {} bytes inflated is over the {} MiB limit: not inspected",
                entry.size(),
                cap >> 20
            ));
            continue;
        }
        let mut data = Vec::new();
        let read = (&mut entry)
            .take(cap.saturating_add(1))
            .read_to_end(&mut data);
        budget = budget.saturating_sub(data.len() as u64);
        if data.len() as u64 > cap {
            report.problems.push(format!(
                "{name}: inflates past {} MiB: not inspected",
                cap >> 20
            ));
            continue;
        }
        if let Err(e) = read {
            report.problems.push(format!("{name}: {e}"));
            if data.is_empty() {
                continue;
            }
        }
        inspect_stream(&data, Some(&name), report);
    }
    if pickles == 0 {
        report
            .problems
            .push("zip archive holds no .pkl member".into());
    }
}

// ---------------------------------------------------------------------------------------------
// Safetensors

fn is_safetensors(bytes: &[u8]) -> bool {
    let Some(n) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return false;
    };
    let n = u64::from_le_bytes(n);
    (2..=MAX_SAFETENSORS_HEADER).contains(&n)
        && n <= bytes.len() as u64 - 8
        && bytes.get(8) == Some(&b'{')
}

fn inspect_safetensors(bytes: &[u8], report: &mut ModelReport) {
    let n = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    let end = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(8))
        .unwrap_or(usize::MAX);
    let Some(header) = bytes.get(8..end) else {
        report
            .problems
            .push("safetensors header runs past the end".into());
        return;
    };
    let data_len = (bytes.len() - header.len() - 8) as u64;
    let json: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(header) {
        Ok(j) => j,
        Err(e) => {
            report
                .problems
                .push(format!("malformed safetensors header: {e}"));
            return;
        }
    };
    let mut bad = 0usize;
    let mut budget = MetaBudget::default();
    for (key, value) in &json {
        if key == "__metadata__" {
            let Some(meta) = value.as_object() else {
                report.problems.push("__metadata__ is not an object".into());
                continue;
            };
            for (k, v) in meta {
                match v.as_str() {
                    Some(s) => budget.push(report, k.clone(), s.to_owned()),
                    None => report
                        .problems
                        .push(format!("__metadata__ value for {k:?} is not a string")),
                }
            }
            continue;
        }
        let offsets = value
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)));
        let ok = value.get("dtype").is_some_and(serde_json::Value::is_string)
            && value.get("shape").is_some_and(serde_json::Value::is_array)
            && offsets.is_some_and(|(a, b)| a <= b && b <= data_len);
        if !ok {
            bad += 1;
            if bad <= MAX_PROBLEMS {
                report.problems.push(format!(
                    "tensor {key:?}: malformed entry or data past the end"
                ));
            }
        }
    }
    if bad > MAX_PROBLEMS {
        report
            .problems
            .push(format!("{} more malformed tensors", bad - MAX_PROBLEMS));
    }
}

/// Collects metadata strings within MAX_METADATA and MAX_METADATA_BYTES.
#[derive(Default)]
struct MetaBudget {
    bytes: usize,
    full: bool,
}

impl MetaBudget {
    fn push(&mut self, report: &mut ModelReport, key: String, value: String) {
        let size = key.len() + value.len();
        if report.metadata.len() >= MAX_METADATA || self.bytes + size > MAX_METADATA_BYTES {
            if !self.full {
                self.full = true;
                report
                    .problems
                    .push("metadata limit reached: the rest is not scanned".into());
            }
            return;
        }
        self.bytes += size;
        report.metadata.push((key, value));
    }
}

// ---------------------------------------------------------------------------------------------
// GGUF

fn is_gguf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"GGUF")
        && bytes
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .is_some_and(|v| (1..=3).contains(&u32::from_le_bytes(v)))
}

/// A bounds-checked little-endian reader.
struct Le<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Le<'a> {
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let n = self.u64()?;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

/// Byte size of a fixed-size GGUF value type.
fn gguf_scalar_size(t: u32) -> Option<u64> {
    match t {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;

fn inspect_gguf(bytes: &[u8], report: &mut ModelReport) {
    let mut r = Le {
        data: bytes,
        pos: 4,
    };
    let version = r.u32().unwrap_or(0);
    if !(2..=3).contains(&version) {
        report
            .problems
            .push(format!("GGUF version {version} is not supported"));
        return;
    }
    let (Some(_tensors), Some(kvs)) = (r.u64(), r.u64()) else {
        report.problems.push("GGUF header truncated".into());
        return;
    };
    let mut budget = MetaBudget::default();
    for i in 0..kvs {
        if let Err(why) = gguf_kv(&mut r, report, &mut budget) {
            report
                .problems
                .push(format!("GGUF key/value {i} at offset {}: {why}", r.pos));
            return;
        }
    }
}

fn gguf_kv(
    r: &mut Le,
    report: &mut ModelReport,
    budget: &mut MetaBudget,
) -> Result<(), &'static str> {
    let key = r.string().ok_or("truncated key")?;
    let t = r.u32().ok_or("truncated type")?;
    match t {
        GGUF_STRING => {
            let v = r.string().ok_or("truncated string")?;
            budget.push(report, key, v);
        }
        GGUF_ARRAY => {
            let et = r.u32().ok_or("truncated array type")?;
            let n = r.u64().ok_or("truncated array length")?;
            if et == GGUF_STRING {
                for j in 0..n {
                    let v = r.string().ok_or("truncated array string")?;
                    if j < MAX_GGUF_ARRAY_STRINGS {
                        budget.push(report, format!("{key}[{j}]"), v);
                    }
                }
            } else {
                let size = gguf_scalar_size(et).ok_or("unsupported array element type")?;
                r.take(n.checked_mul(size).ok_or("array too large")?)
                    .ok_or("truncated array")?;
            }
        }
        _ => {
            let size = gguf_scalar_size(t).ok_or("unknown value type")?;
            r.take(size).ok_or("truncated value")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- pickle builders -------------------------------------------------------------------

    fn sbu(s: &str) -> Vec<u8> {
        let mut v = vec![op::SHORT_BINUNICODE, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn binunicode(s: &str) -> Vec<u8> {
        let mut v = vec![op::BINUNICODE];
        v.extend_from_slice(&(s.len() as u32).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn binunicode8(s: &str) -> Vec<u8> {
        let mut v = vec![op::BINUNICODE8];
        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn short_binstring(s: &str) -> Vec<u8> {
        let mut v = vec![op::SHORT_BINSTRING, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn binstring(s: &str) -> Vec<u8> {
        let mut v = vec![op::BINSTRING];
        v.extend_from_slice(&(s.len() as i32).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// `f("pwned")` for the callable on top of the stack, then STOP.
    fn call_and_stop() -> Vec<u8> {
        cat(&[&sbu("pwned"), &[op::TUPLE1, op::REDUCE, op::STOP]])
    }

    fn p4(body: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![op::PROTO, 4];
        for b in body {
            v.extend_from_slice(b);
        }
        v
    }

    /// (module, name, verdict)
    type Imp = (String, String, Verdict);

    fn imports_of(bytes: &[u8]) -> Vec<Imp> {
        let r = inspect(bytes).expect("a model");
        r.imports
            .into_iter()
            .map(|i| (i.module, i.name, i.verdict))
            .collect()
    }

    fn imp(m: &str, n: &str, v: Verdict) -> Imp {
        (m.to_owned(), n.to_owned(), v)
    }

    use Verdict::{Dangerous, Safe, Unknown};

    // ---- opcode families -------------------------------------------------------------------

    #[test]
    fn opcode_families_resolve_imports() {
        let sg = [op::STACK_GLOBAL];
        let cases: Vec<(&str, Vec<u8>, Vec<Imp>, bool)> = vec![
            (
                "protocol 0 GLOBAL + REDUCE",
                b"cos\nsystem\n(S'echo hi'\ntR.".to_vec(),
                vec![imp("os", "system", Dangerous)],
                false,
            ),
            (
                "protocol 0 INST",
                b"(S'echo hi'\nios\nsystem\n.".to_vec(),
                vec![imp("os", "system", Dangerous)],
                false,
            ),
            (
                "protocol 1 OBJ",
                b"(csubprocess\ncall\nX\x02\x00\x00\x00lso.".to_vec(),
                vec![imp("subprocess", "call", Dangerous)],
                false,
            ),
            (
                "protocol 2 NEWOBJ",
                b"\x80\x02c__builtin__\nset\n)\x81.".to_vec(),
                vec![imp("__builtin__", "set", Safe)],
                false,
            ),
            (
                "NEWOBJ_EX",
                p4(&[&sbu("collections"), &sbu("OrderedDict"), &sg, b")}\x92."]),
                vec![imp("collections", "OrderedDict", Safe)],
                false,
            ),
            (
                "STACK_GLOBAL with SHORT_BINUNICODE",
                p4(&[&sbu("builtins"), &sbu("exec"), &sg, &call_and_stop()]),
                vec![imp("builtins", "exec", Dangerous)],
                false,
            ),
            (
                "STACK_GLOBAL with BINUNICODE",
                p4(&[&binunicode("builtins"), &binunicode("eval"), &sg, &call_and_stop()]),
                vec![imp("builtins", "eval", Dangerous)],
                false,
            ),
            (
                "STACK_GLOBAL with BINUNICODE8",
                p4(&[&binunicode8("os"), &binunicode8("popen"), &sg, &call_and_stop()]),
                vec![imp("os", "popen", Dangerous)],
                false,
            ),
            (
                "STACK_GLOBAL with SHORT_BINSTRING and BINSTRING",
                p4(&[&short_binstring("runpy"), &binstring("run_path"), &sg, &call_and_stop()]),
                vec![imp("runpy", "run_path", Dangerous)],
                false,
            ),
            (
                "STACK_GLOBAL with escaped STRING and raw-unicode UNICODE",
                p4(&[b"S'o\\x73'\n", b"V\\u0073ystem\n", &sg, &call_and_stop()]),
                vec![imp("os", "system", Dangerous)],
                false,
            ),
            (
                "memo: MEMOIZE + BINGET behind decoys",
                p4(&[
                    &sbu("builtins"),
                    &[op::MEMOIZE, op::POP],
                    &sbu("exec"),
                    &[op::MEMOIZE, op::POP],
                    &sbu("collections"),
                    &sbu("OrderedDict"),
                    &[op::POP, op::POP, op::BINGET, 0, op::BINGET, 1],
                    &sg,
                    &call_and_stop(),
                ]),
                vec![imp("builtins", "exec", Dangerous)],
                false,
            ),
            (
                "memo: LONG_BINPUT + LONG_BINGET, BINPUT + BINGET",
                p4(&[
                    &sbu("posix"),
                    b"r\x10\x27\x00\x000",
                    &sbu("system"),
                    b"q\x07",
                    &[op::POP],
                    b"j\x10\x27\x00\x00h\x07",
                    &sg,
                    &call_and_stop(),
                ]),
                vec![imp("posix", "system", Dangerous)],
                false,
            ),
            (
                "memo: text PUT + GET, DUP",
                b"\x80\x02Vos\np1\n0Vsystem\n2p2\n00g1\ng2\n\x93N\x85R.".to_vec(),
                vec![imp("os", "system", Dangerous)],
                false,
            ),
            (
                "STACK_GLOBAL fed by a call result fails closed",
                p4(&[
                    &sbu("builtins"),
                    &sbu("builtins"),
                    &sbu("str"),
                    &sg,
                    &sbu("exec"),
                    &[op::TUPLE1, op::REDUCE],
                    &sg,
                    &call_and_stop(),
                ]),
                vec![imp("builtins", "str", Safe), imp("?", "?", Dangerous)],
                true,
            ),
            (
                "dotted name through a package attribute",
                p4(&[&sbu("joblib.numpy_pickle"), &sbu("os.system"), &sg, &call_and_stop()]),
                vec![imp("joblib.numpy_pickle", "os.system", Dangerous)],
                false,
            ),
            (
                "BUILD on an imported class escalates it",
                p4(&[&sbu("collections"), &sbu("OrderedDict"), &sg, b"N}\x86b."]),
                vec![imp("collections", "OrderedDict", Dangerous)],
                true,
            ),
            (
                "EXT1 is unknown",
                b"\x80\x02\x82\x05N\x85R.".to_vec(),
                vec![imp("copyreg._extension_registry", "5", Unknown)],
                false,
            ),
            (
                "FRAME, LONG1, BINFLOAT, bytes, sets",
                cat(&[
                    b"\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00",
                    b"\x8a\x02\x01\x02G\x3f\xf0\x00\x00\x00\x00\x00\x00C\x02ab\x8f(K\x01\x90\x88\x89",
                    b"(\x91\x96\x01\x00\x00\x00\x00\x00\x00\x00z",
                    &sbu("torch._utils"),
                    &sbu("_rebuild_tensor_v2"),
                    &sg,
                    b")R.",
                ]),
                vec![imp("torch._utils", "_rebuild_tensor_v2", Safe)],
                false,
            ),
            (
                "two pickles in a row",
                cat(&[b"\x80\x02N.", &p4(&[&sbu("os"), &sbu("system"), &sg, &call_and_stop()])]),
                vec![imp("os", "system", Dangerous)],
                false,
            ),
            (
                "trailing bytes after STOP are ignored",
                cat(&[b"\x80\x02N.", b"\x00\x01garbage"]),
                vec![],
                false,
            ),
            (
                "import before an unknown opcode is still reported",
                cat(&[b"\x80\x02cposix\nsystem\nN\x85R", b"\xff\xff"]),
                vec![imp("posix", "system", Dangerous)],
                true,
            ),
            (
                "python 2 module names",
                b"ccopy_reg\n_reconstructor\n(c__builtin__\nobject\nNtR.".to_vec(),
                vec![
                    imp("copy_reg", "_reconstructor", Safe),
                    imp("__builtin__", "object", Safe),
                ],
                false,
            ),
        ];
        for (name, bytes, want, problems) in cases {
            let r = inspect(&bytes).unwrap_or_else(|| panic!("{name}: not sniffed"));
            assert_eq!(r.kind, Some(ModelKind::Pickle), "{name}");
            let got: Vec<_> = r
                .imports
                .iter()
                .map(|i| (i.module.clone(), i.name.clone(), i.verdict))
                .collect();
            assert_eq!(got, want, "{name}: {:?}", r.problems);
            assert_eq!(!r.problems.is_empty(), problems, "{name}: {:?}", r.problems);
        }
    }

    #[test]
    fn import_offsets_point_at_the_opcode() {
        let bytes = p4(&[&sbu("a"), &sbu("b"), &[op::STACK_GLOBAL], b"."]);
        let r = inspect(&bytes).unwrap();
        assert_eq!(r.imports[0].offset, 8);
        let r = inspect(b"\x80\x02N0cos\nsystem\n.").unwrap();
        assert_eq!(r.imports[0].offset, 4);
    }

    // ---- sniffing --------------------------------------------------------------------------

    #[test]
    fn sniff_by_content() {
        let cases: &[(&str, &[u8], Option<ModelKind>)] = &[
            (
                "protocol 0 dict",
                b"(dp0\nVa\np1\nI1\ns.",
                Some(ModelKind::Pickle),
            ),
            (
                "protocol 0 with a call, truncated",
                b"cos\nsystem\n(S'ls'\ntR",
                Some(ModelKind::Pickle),
            ),
            (
                "protocol 1 list",
                b"]q\x00(K\x01K\x02e.",
                Some(ModelKind::Pickle),
            ),
            (
                "a text pickle, then a protocol 2 one with a call",
                b"N.\x80\x02cos\nsystem\n(S'x'\ntR.",
                Some(ModelKind::Pickle),
            ),
            ("a text pickle, then text", b"N.\nhello", None),
            ("many no-ops", &[b'N'; 5000], None),
            (
                "protocol 4 header",
                b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N.",
                Some(ModelKind::Pickle),
            ),
            (
                "protocol 0 garbage after (dp0",
                b"(dp0\n\xff\xfe garbage",
                None,
            ),
            ("python source", b"import os\nos.system('ls')\n", None),
            ("python class", b"class Foo:\n    pass\n", None),
            ("readme", b"# Title\n\nSome text.\n", None),
            ("json", b"{\"a\": 1}\n", None),
            ("csv", b"col1,col2\n1,2\n", None),
            ("config-like text", b"config\nfoo\nbar\n", None),
            ("a dot", b".", None),
            ("empty", b"", None),
            ("binary after PROTO", b"\x80\x02\xff\xff", None),
            (
                "protocol 6: refused before anything runs",
                b"\x80\x06N.",
                None,
            ),
            (
                "zip without pickles",
                b"PK\x03\x04 just some zip-ish bytes",
                None,
            ),
            (
                "zlib-looking, does not inflate",
                b"\x78\x9c\x00\x01\x02",
                None,
            ),
            (
                "gzip-looking, does not inflate",
                b"\x1f\x8b\x08\x00\x00",
                None,
            ),
            (
                "lz4 frame (joblib lz4)",
                b"\x04\x22\x4d\x18\x64\x40",
                Some(ModelKind::Pickle),
            ),
            ("gguf magic", b"GGUF\x03\x00\x00\x00", Some(ModelKind::Gguf)),
            ("gguf magic, bad version", b"GGUF\x09\x00\x00\x00", None),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(sniff(bytes), *want, "{name}");
        }
    }

    #[test]
    fn protocol_0_text_pickle_is_inspected() {
        let r = inspect(b"ccollections\nOrderedDict\n(tR(dp1\nVk\nI1\nsb.").unwrap();
        assert_eq!(r.kind, Some(ModelKind::Pickle));
        assert_eq!(r.imports.len(), 1);
        assert_eq!(r.imports[0].verdict, Safe);
    }

    #[test]
    fn truncation_at_every_offset_never_panics() {
        let mut samples = vec![
            p4(&[
                b"\x95\x40\x00\x00\x00\x00\x00\x00\x00",
                &sbu("builtins"),
                &[op::MEMOIZE],
                &sbu("exec"),
                &[op::MEMOIZE, op::STACK_GLOBAL],
                b"(K\x01J\x01\x02\x03\x04M\x01\x02\x8a\x01\x05G\x00\x00\x00\x00\x00\x00\x00\x00tX\x01\x00\x00\x00a",
                &[op::TUPLE2, op::REDUCE, op::STOP],
            ]),
            b"ccopy_reg\n_reconstructor\n(c__builtin__\nobject\nNtRp0\n(dp1\nS'a'\nL12L\nsb.".to_vec(),
        ];
        for f in fixture_files() {
            if f.1.len() < 4096 {
                samples.push(f.1);
            }
        }
        for full in samples {
            for cut in 0..full.len() {
                let part = &full[..cut];
                if let Some(r) = inspect(part) {
                    if r.kind == Some(ModelKind::Pickle) && part.first() == Some(&op::PROTO) {
                        assert!(
                            !r.problems.is_empty(),
                            "cut at {cut} of {:?}",
                            &full[..8.min(full.len())]
                        );
                    }
                }
            }
        }
    }

    // ---- classification --------------------------------------------------------------------

    #[test]
    fn classification_table() {
        let cases = [
            ("os", "system", Dangerous),
            ("posix", "system", Dangerous),
            ("nt", "system", Dangerous),
            ("subprocess", "Popen", Dangerous),
            ("builtins", "eval", Dangerous),
            ("__builtin__", "getattr", Dangerous),
            ("builtins", "set", Safe),
            ("__builtin__", "set", Safe),
            ("builtins", "print", Unknown),
            ("cPickle", "loads", Dangerous),
            ("commands", "getoutput", Dangerous),
            ("torch._utils", "_rebuild_tensor_v2", Safe),
            ("torch", "FloatStorage", Safe),
            ("torch", "BFloat16Storage", Safe),
            ("torch.cuda", "HalfStorage", Safe),
            ("torch", "float32", Safe),
            ("torch", "load", Dangerous),
            ("torch.storage", "_load_from_bytes", Dangerous),
            ("torch.nn.modules.linear", "Linear", Unknown),
            ("numpy.core.multiarray", "_reconstruct", Safe),
            ("numpy._core.multiarray", "scalar", Safe),
            ("numpy.dtypes", "Float64DType", Safe),
            ("numpy.testing._private.utils", "runstring", Dangerous),
            ("joblib.numpy_pickle", "NumpyArrayWrapper", Safe),
            ("joblib", "load", Dangerous),
            (
                "sklearn.linear_model._logistic",
                "LogisticRegression",
                Unknown,
            ),
            ("operator", "attrgetter", Dangerous),
            ("operator", "add", Unknown),
            ("functools", "partial", Unknown),
            ("types", "CodeType", Dangerous),
            ("types", "SimpleNamespace", Unknown),
            ("pathlib", "PosixPath", Unknown),
            ("pathlib", "Path.write_text", Dangerous),
            ("uuid", "UUID", Unknown),
            ("uuid", "_get_command_stdout", Dangerous),
            ("collections", "OrderedDict", Safe),
            ("collections", "OrderedDict.__init__", Dangerous),
            ("numpy", "os.system", Dangerous),
            (
                "torch.multiprocessing.reductions",
                "rebuild_storage_fd",
                Dangerous,
            ),
            ("codecs", "encode", Unknown),
            ("codecs", "open", Dangerous),
            ("osmium", "thing", Unknown),
            ("code", "interact", Dangerous),
            ("codecs", "lookup", Unknown),
        ];
        for (m, n, want) in cases {
            assert_eq!(classify(m, n), want, "{m}.{n}");
            assert_eq!(reason(m, n).is_some(), want == Dangerous, "{m}.{n}");
        }
    }

    // ---- joblib ----------------------------------------------------------------------------

    /// A joblib-style NumpyArrayWrapper for `n` float64s, then `tail`.
    fn joblib_array(n: u8, padded: bool, tail: &[u8]) -> Vec<u8> {
        joblib_array_of(n, "f8", b"J\xff\xff\xff\xffK\x00", padded, tail)
    }

    /// A NumpyArrayWrapper for `n` items of dtype `code`; `align_flags` holds the opcodes of
    /// the dtype state's last two entries (alignment, flags).
    fn joblib_array_of(
        n: u8,
        code: &str,
        align_flags: &[u8],
        padded: bool,
        tail: &[u8],
    ) -> Vec<u8> {
        let mut v = p4(&[
            &sbu("joblib.numpy_pickle"),
            &sbu("NumpyArrayWrapper"),
            &[op::STACK_GLOBAL],
            b")\x81}(",
            &sbu("shape"),
            &[op::BININT1, n, op::TUPLE1],
            &sbu("dtype"),
            &sbu("numpy"),
            &sbu("dtype"),
            &[op::STACK_GLOBAL],
            &sbu(code),
            b"\x89\x88\x87R(K\x03",
            &sbu("<"),
            b"NNNJ\xff\xff\xff\xff",
            align_flags,
            b"tb",
            &sbu("numpy_array_alignment_bytes"),
            if padded { b"K\x10" } else { b"N" },
            b"ub",
        ]);
        v.extend_from_slice(tail);
        v
    }

    fn os_system_tail() -> Vec<u8> {
        cat(&[
            &sbu("os"),
            &sbu("system"),
            &[op::STACK_GLOBAL],
            &call_and_stop(),
        ])
    }

    #[test]
    fn joblib_arrays_are_skipped() {
        // Array bytes that would parse as a harmless pickle (N.) if read as opcodes.
        let mut data = joblib_array(2, true, &[]);
        data.push(3);
        data.extend_from_slice(&[0xff; 3]);
        data.extend_from_slice(b"N.N.N.N.N.N.N.N.");
        data.extend_from_slice(&os_system_tail());
        let got = imports_of(&data);
        assert!(got.contains(&imp("os", "system", Dangerous)), "{got:?}");
        let r = inspect(&data).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);

        let mut unpadded = joblib_array(1, false, &[]);
        unpadded.extend_from_slice(b"N.N.N.N.");
        unpadded.extend_from_slice(&os_system_tail());
        assert!(imports_of(&unpadded).contains(&imp("os", "system", Dangerous)));

        // An array that runs past the end is a problem, not a panic.
        let short = joblib_array(200, false, b"N.");
        let r = inspect(&short).unwrap();
        assert!(
            r.problems.iter().any(|p| p.contains("past the end")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn joblib_array_inside_a_frame_resumes_in_the_frame() {
        // joblib reads the array from after the current frame; the frame's remaining opcodes
        // run first, then the file continues after the array.
        let head = joblib_array(1, false, &[]);
        let in_frame = cat(&[&head, &sbu("posix"), &sbu("system"), &[op::STACK_GLOBAL]]);
        let mut data = vec![op::PROTO, 4, op::FRAME];
        let body = &in_frame[2..];
        data.extend_from_slice(&(body.len() as u64).to_le_bytes());
        data.extend_from_slice(body);
        data.extend_from_slice(&[0x2e; 8]); // the array: eight STOPs if misread
        data.extend_from_slice(&call_and_stop());
        let r = inspect(&data).unwrap();
        let got: Vec<_> = r
            .imports
            .iter()
            .map(|i| (i.module.as_str(), i.name.as_str()))
            .collect();
        assert!(got.contains(&("posix", "system")), "{got:?}");
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn joblib_object_array_is_a_nested_pickle() {
        // dtype 'O8' (flags 63): joblib runs a nested pickle from the file position, then the
        // outer one goes on after it.
        let inner = p4(&[
            &sbu("builtins"),
            &sbu("exec"),
            &[op::STACK_GLOBAL, op::STOP],
        ]);
        let mut data = joblib_array_of(2, "O8", b"J\xff\xff\xff\xffK\x3f", true, &inner);
        data.extend(os_system_tail());
        let got = imports_of(&data);
        assert!(got.contains(&imp("builtins", "exec", Dangerous)), "{got:?}");
        assert!(got.contains(&imp("os", "system", Dangerous)), "{got:?}");
        assert!(inspect(&data).unwrap().problems.is_empty());
    }

    #[test]
    fn joblib_ambiguous_build_fails_closed() {
        let wrapper_then = |launder: &[u8]| {
            p4(&[
                &sbu("joblib.numpy_pickle"),
                &sbu("NumpyArrayWrapper"),
                &[op::STACK_GLOBAL, op::MEMOIZE, op::POP],
                launder,
                b"b.",
            ])
        };
        let cases: &[(&str, Vec<u8>)] = &[
            (
                "copy.copy of a wrapper",
                cat(&[
                    &sbu("copy"),
                    &sbu("copy"),
                    &[op::STACK_GLOBAL, op::BINGET, 0],
                    b")\x81\x85R}",
                ]),
            ),
            (
                "an allow-listed function that instantiates its argument",
                cat(&[
                    &sbu("numpy.random._pickle"),
                    &sbu("__bit_generator_ctor"),
                    &[
                        op::STACK_GLOBAL,
                        op::BINGET,
                        0,
                        op::TUPLE1,
                        op::REDUCE,
                        op::EMPTY_DICT,
                    ],
                ]),
            ),
            (
                "a wrapper whose state is not a dict",
                b"h\x00)\x81N".to_vec(),
            ),
            (
                "a wrapper whose state lacks the shape",
                b"h\x00)\x81}".to_vec(),
            ),
        ];
        for (name, launder) in cases {
            let r = inspect(&wrapper_then(launder)).unwrap();
            assert!(
                r.problems.iter().any(|p| p.contains("rest not inspected")),
                "{name}: {:?}",
                r.problems
            );
        }
    }

    // ---- safetensors and GGUF --------------------------------------------------------------

    fn safetensors(header: &str, data: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend(std::iter::repeat(0).take(data));
        v
    }

    #[test]
    fn safetensors_headers() {
        let ok = safetensors(
            r#"{"__metadata__":{"note":"hello"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            4,
        );
        let r = inspect(&ok).unwrap();
        assert_eq!(r.kind, Some(ModelKind::Safetensors));
        assert_eq!(r.metadata, vec![("note".to_owned(), "hello".to_owned())]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);

        let cases = [
            (
                "malformed json",
                safetensors(r#"{"__metadata__": {"a": "#, 0),
            ),
            (
                "non-string metadata",
                safetensors(r#"{"__metadata__":{"a":1}}"#, 0),
            ),
            (
                "data past the end",
                safetensors(
                    r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                    2,
                ),
            ),
        ];
        for (name, bytes) in cases {
            let r = inspect(&bytes).unwrap_or_else(|| panic!("{name}"));
            assert!(!r.problems.is_empty(), "{name}");
        }
    }

    fn gguf_string(s: &str) -> Vec<u8> {
        cat(&[&(s.len() as u64).to_le_bytes(), s.as_bytes()])
    }

    #[test]
    fn gguf_metadata() {
        let mut v = b"GGUF\x03\x00\x00\x00".to_vec();
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&3u64.to_le_bytes());
        v.extend(cat(&[
            &gguf_string("a.url"),
            &8u32.to_le_bytes(),
            &gguf_string("https://x"),
        ]));
        v.extend(cat(&[
            &gguf_string("a.n"),
            &4u32.to_le_bytes(),
            &7u32.to_le_bytes(),
        ]));
        v.extend(cat(&[
            &gguf_string("a.toks"),
            &9u32.to_le_bytes(),
            &8u32.to_le_bytes(),
            &2u64.to_le_bytes(),
            &gguf_string("x"),
            &gguf_string("y"),
        ]));
        let r = inspect(&v).unwrap();
        assert_eq!(r.kind, Some(ModelKind::Gguf));
        let keys: Vec<_> = r.metadata.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a.url", "a.toks[0]", "a.toks[1]"]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        for cut in 8..v.len() {
            let r = inspect(&v[..cut]).unwrap();
            assert!(!r.problems.is_empty(), "cut {cut}");
        }
    }

    // ---- fixtures --------------------------------------------------------------------------

    fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
    }

    fn fixture_files() -> Vec<(String, Vec<u8>)> {
        let Ok(entries) = std::fs::read_dir(fixture_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<_> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let skip = ["expected.json", "generate.py", "requirements.txt"];
                (!skip.contains(&name.as_str()))
                    .then(|| Some((name, std::fs::read(e.path()).ok()?)))?
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn fixtures_match_expected_json() {
        let Ok(text) = std::fs::read_to_string(fixture_dir().join("expected.json")) else {
            eprintln!("no fixtures: skipped");
            return;
        };
        let expected: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).unwrap();
        let files = fixture_files();
        assert_eq!(
            files.len(),
            expected.len(),
            "fixtures without an expected.json entry"
        );
        for (name, bytes) in files {
            let want = &expected[&name];
            let report = inspect(&bytes).unwrap_or_default();
            let kind = report.kind.map(|k| format!("{k:?}"));
            assert_eq!(kind.as_deref(), want["kind"].as_str(), "{name}");
            let mut got: Vec<_> = report
                .imports
                .iter()
                .map(|i| {
                    (
                        i.member.clone().unwrap_or_default(),
                        i.module.clone(),
                        i.name.clone(),
                        format!("{:?}", i.verdict),
                    )
                })
                .collect();
            got.sort();
            let mut exp: Vec<_> = want["imports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let s = |k: &str| i[k].as_str().unwrap_or_default().to_owned();
                    (s("member"), s("module"), s("name"), s("verdict"))
                })
                .collect();
            exp.sort();
            assert_eq!(got, exp, "{name}: problems {:?}", report.problems);
            assert_eq!(
                !report.problems.is_empty(),
                want["problems"].as_bool().unwrap(),
                "{name}: {:?}",
                report.problems
            );
            let mut keys: Vec<_> = report.metadata.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            let exp_keys: Vec<_> = want["metadata_keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|k| k.as_str())
                .collect();
            assert_eq!(keys, exp_keys, "{name}");
        }
    }

    // ---- fuzz ------------------------------------------------------------------------------

    use crate::test_rng::Rng;

    #[test]
    fn fuzz_never_panics() {
        let mut rng = Rng(0x5eed_1eaf_6a7e_0001);
        let mut seeds: Vec<Vec<u8>> = fixture_files().into_iter().map(|f| f.1).collect();
        seeds.push(joblib_array(2, true, b"\x03\xff\xff\xffN.N.N.N.N.N.N.N."));
        seeds.push(b"cos\nsystem\n(S'echo hi'\ntR.".to_vec());
        seeds.push(p4(&[
            &sbu("builtins"),
            &[op::MEMOIZE],
            &sbu("exec"),
            &[op::MEMOIZE, op::STACK_GLOBAL],
            &call_and_stop(),
        ]));
        // Opcode soup: random opcodes with small arguments.
        let opcodes: Vec<u8> = (0..=255u8).filter(|&c| op::is_known(c)).collect();
        for i in 0..20_000 {
            let input: Vec<u8> = match i % 4 {
                0 => {
                    let n = rng.below(64);
                    (0..n).map(|_| rng.next() as u8).collect()
                }
                1 => {
                    let mut v = vec![op::PROTO, 4];
                    for _ in 0..rng.below(48) {
                        v.push(opcodes[rng.below(opcodes.len())]);
                        if rng.below(2) == 0 {
                            v.push(rng.below(4) as u8);
                        }
                    }
                    v
                }
                _ => {
                    let mut v = seeds[rng.below(seeds.len())].clone();
                    for _ in 0..1 + rng.below(4) {
                        if v.is_empty() {
                            break;
                        }
                        let at = rng.below(v.len());
                        match rng.below(4) {
                            0 => v[at] = rng.next() as u8,
                            1 => v[at] = opcodes[rng.below(opcodes.len())],
                            2 => {
                                v.truncate(at);
                            }
                            _ => v.insert(at, rng.next() as u8),
                        }
                    }
                    v
                }
            };
            let _ = sniff(&input);
            let _ = inspect(&input);
        }
    }
}

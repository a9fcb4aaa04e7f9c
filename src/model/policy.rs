//! The import policy: which `module.name` a pickle may import, as data tables. Dangerous
//! entries carry the reason shown to the user; safe entries are the ML stack's data types.
//!
//! Invariant: `reason` decides Dangerous before any allow-list is consulted, so no safe entry
//! can mask a dangerous module reached through an attribute walk.

use super::*;

/// Classify an import (used by inspect; public so config can extend the allow-list later).
pub fn classify(module: &str, name: &str) -> Verdict {
    let module = normalize_module(module);
    let path = format!("{module}.{name}");
    if reason(module, name).is_some() {
        return Verdict::Dangerous;
    }
    let class_like = !name.contains('.') && name.starts_with(|c: char| c.is_ascii_uppercase());
    if SAFE.contains(&path.as_str())
        || (!name.contains('.') && SAFE_MODULES.contains(&module))
        || ((module == "torch" || module.starts_with("torch.")) && is_safe_torch(module, name))
        || (class_like
            && SAFE_CLASS_NAMESPACES
                .iter()
                .any(|ns| is_at_or_below(module, ns)))
        || is_at_or_below(module, "__torch__")
        || is_scipy_sparse_type(module, name)
    {
        return Verdict::Safe;
    }
    Verdict::Unknown
}

/// Why an import is Dangerous, for the person who has to fix it; None when it is not.
pub fn reason(module: &str, name: &str) -> Option<&'static str> {
    let module = normalize_module(module);
    let path = format!("{module}.{name}");
    // Exact, vetted paths inside a denied namespace ("deny the namespace, allow the known-safe
    // functions"): `numpy.random._pickle.__randomstate_ctor`, `torch.jit._pickle.build_intlist`.
    if INERT_EXCEPTIONS.contains(&path.as_str()) || SAFE.contains(&path.as_str()) {
        return None;
    }
    if let Some((_, why)) = DANGEROUS.iter().find(|(p, _)| is_at_or_below(&path, p)) {
        return Some(why);
    }
    if module == "torch" || module.starts_with("torch.") {
        if !is_safe_torch(module, name) {
            return Some(
                "torch outside its tensor, module and dtype types: torch internals run code \
                 (jit, fx, _dynamo, _inductor, hub, collect_env, config loaders)",
            );
        }
        return None;
    }
    if DANGEROUS_COMPONENTS.contains(&name) || is_private_alias(name) {
        return Some(
            "a module attribute that is a dangerous module (`argparse._os`, `x.__builtins__`)",
        );
    }
    // Pickle resolves dotted names attribute by attribute, so every component is reachable:
    // `joblib.numpy_pickle` + `os.system` is os.system (see fickling's GHSA-5j3x-jp52-966f).
    // (The first component is the module itself, which the table above decides.)
    if module
        .split('.')
        .skip(1)
        .any(|c| DANGEROUS_COMPONENTS.contains(&c) || is_private_alias(c))
    {
        return Some("reaches a dangerous module through a package attribute");
    }
    if name.contains('.')
        && name.split('.').any(|c| {
            DANGEROUS_COMPONENTS.contains(&c)
                || is_private_alias(c)
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
pub(super) const DANGEROUS: &[(&str, &str)] = &[
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
    ("pandas.read_pickle", "nested unpickling of another file"),
    ("pandas.io.pickle", "nested unpickling of another file"),
    ("pandas.compat.pickle_compat", "nested unpickling"),
    ("numpy.lib.npyio", "nested load of another file"),
    ("numpy.lib._npyio_impl", "nested load of another file"),
    (
        "numpy.lib.format.read_array",
        "reads arrays, with pickles when allowed",
    ),
    ("numpy.fromfile", "reads another file"),
    ("numpy.loadtxt", "reads another file"),
    ("numpy.genfromtxt", "reads another file"),
    ("numpy.memmap", "maps another file into memory"),
    (
        "lib2to3",
        "lib2to3's pgen and refactor helpers import and run code",
    ),
    ("_pyrepl", "the REPL runs code"),
    ("rlcompleter", "completion evaluates expressions"),
    ("code.interact", "starts an interpreter"),
    ("cgi", "runs scripts"),
    ("cgitb", "runs handlers"),
    (
        "sklearn.utils._testing",
        "test helpers create files and run code",
    ),
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
pub(super) const INERT_EXCEPTIONS: &[&str] = &[
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
pub(super) const DANGEROUS_COMPONENTS: &[&str] = &[
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
pub(super) const DANGEROUS_ATTRIBUTES: &[&str] = &[
    "system", "popen", "eval", "exec", "execfile", "compile", "getattr", "setattr", "open", "load",
    "loads", "spawn", "run",
];

/// Exact `module.name` paths that only rebuild data: tensors, arrays, containers.
pub(super) const SAFE: &[&str] = &[
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
    "torch.return_types.max",
    "torch.return_types.min",
    "torch.return_types.topk",
    "torch.return_types.sort",
    // PyTorch 0.x full-model pickles: returns the backend object, runs nothing.
    "torch.nn.backends.thnn._get_thnn_function_backend",
    // TorchScript archives' own unpickler helpers (torch/jit/_pickle.py): rebuild lists.
    "torch.jit._pickle.build_intlist",
    "torch.jit._pickle.build_doublelist",
    "torch.jit._pickle.build_boollist",
    "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_tensor_from_id",
    "torch.jit._pickle.restore_type_tag",
    // The Python data model and standard data types.
    "builtins.NotImplemented",
    "builtins.Ellipsis",
    "re._compile",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    // numpy generators.
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    // pandas' own unpickling helpers (DataFrame, Index, Timestamp, Categorical).
    "pandas._libs.internals._unpickle_block",
    "pandas.core.internals.blocks.new_block",
    "pandas.core.indexes.base._new_Index",
    "pandas._libs.tslibs.timestamps._unpickle_timestamp",
    "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
    "pandas._libs.tslibs.nattype.__nat_unpickle",
    "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
    "pandas.core.arrays.categorical.Categorical",
    // pandas 3 pickles its public names.
    "pandas.DataFrame",
    "pandas.Series",
    "pandas.Index",
    "pandas.RangeIndex",
    "pandas.MultiIndex",
    "pandas.CategoricalIndex",
    "pandas.DatetimeIndex",
    "pandas.TimedeltaIndex",
    "pandas.PeriodIndex",
    "pandas.IntervalIndex",
    "pandas.Categorical",
    "pandas.CategoricalDtype",
    "pandas.StringDtype",
    "pandas.DatetimeTZDtype",
    "pandas.Timestamp",
    "pandas.Timedelta",
    "pandas.Period",
    "pandas.Interval",
    // scikit-learn's Cython types pickle through these.
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.newObj",
    "sklearn.neighbors._ball_tree.newObj",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfSquaredError",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfBinomialLoss",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
];

/// Namespaces whose undotted CamelCase names are classes that only hold state when
/// unpickled (estimators, frames, sparse matrices, configs); functions there stay Unknown.
pub(super) const SAFE_CLASS_NAMESPACES: &[&str] = &[
    "sklearn",
    "scipy.sparse",
    "pandas.core",
    "pandas._libs.tslibs",
    "pandas.arrays",
    "transformers.models",
    "transformers.configuration_utils",
    "transformers.generation.configuration_utils",
    "tokenizers",
    "numpy.dtypes",
];

/// Modules under torch whose undotted CamelCase names are state-only classes.
pub(super) const TORCH_SAFE_MODULE_CLASSES: &[&str] = &[
    "torch.nn.parameter",
    "torch.nn.utils.rnn",
    "torch.return_types",
];

/// Allow-listed callables that return an instance of a class taken from their arguments
/// (`__bit_generator_ctor(cls)` returns `cls()`). Harmless to load, but their result can be
/// any object, so the joblib walk cannot rule out that it is a NumpyArrayWrapper.
pub(super) const SAFE_BUT_UNTYPED: &[&str] = &[
    "torch._tensor._rebuild_from_type",
    "torch._tensor._rebuild_from_type_v2",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.ma.core._mareconstruct",
];

/// Modules whose every undotted name is a data type.
pub(super) const SAFE_MODULES: &[&str] = &["numpy.dtypes"];

/// `torch.<name>` constants that pickles reference: dtypes, layouts, memory formats.
pub(super) const TORCH_CONSTANTS: &[&str] = &[
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
    "per_tensor_affine",
    "per_channel_affine",
    "per_tensor_symmetric",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
    "Size",
    "Tensor",
    "device",
    "dtype",
    "layout",
    "memory_format",
];

/// Python 2 module names that CPython's unpickler maps to their Python 3 homes
/// (`_compat_pickle.IMPORT_MAPPING`), limited to the ones our tables mention.
pub(super) const PY2_MODULES: &[(&str, &str)] = &[
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

pub(super) fn normalize_module(module: &str) -> &str {
    PY2_MODULES
        .iter()
        .find(|(old, _)| *old == module)
        .map_or(module, |(_, new)| new)
}

pub(super) fn is_at_or_below(path: &str, pattern: &str) -> bool {
    path.strip_prefix(pattern)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// scipy's sparse containers are lower case: `csr_matrix`, `coo_array`, `dia_matrix` …
pub(super) fn is_scipy_sparse_type(module: &str, name: &str) -> bool {
    is_at_or_below(module, "scipy.sparse")
        && name.split_once('_').is_some_and(|(fmt, kind)| {
            fmt.len() == 3
                && fmt.bytes().all(|b| b.is_ascii_lowercase())
                && matches!(kind, "matrix" | "array")
        })
}

/// `_os`, `_sys`, `_subprocess`: the private names modules import dangerous modules under
/// (`import os as _os` in argparse, random, tempfile …).
pub(super) fn is_private_alias(c: &str) -> bool {
    let bare = c.trim_start_matches('_');
    bare.len() < c.len() && !bare.is_empty() && DANGEROUS_COMPONENTS.contains(&bare)
}

/// The torch names a checkpoint legitimately imports; every other torch path is Dangerous.
pub(super) fn is_safe_torch(module: &str, name: &str) -> bool {
    let class_like = !name.contains('.') && name.starts_with(|c: char| c.is_ascii_uppercase());
    is_torch_storage(module, name)
        || (module == "torch" && TORCH_CONSTANTS.contains(&name))
        // Layers and containers of `torch.save(model)`; their classes only hold state.
        || (class_like && (module == "torch.nn" || module.starts_with("torch.nn.modules.")))
        || TORCH_SAFE_MODULE_CLASSES
            .iter()
            .any(|m| module == *m && class_like)
}

pub(super) fn is_torch_storage(module: &str, name: &str) -> bool {
    matches!(module, "torch" | "torch.cuda" | "torch.storage")
        && name.ends_with("Storage")
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

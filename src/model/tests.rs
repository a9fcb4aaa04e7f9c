//! Unit tests of the model inspection: opcode families, formats, limits.

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
    let cases: Vec<(&str, Vec<u8>, Vec<Imp>, bool)> =
        vec![
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
                // A frame of 36 bytes: it ends after the BYTEARRAY8 at an opcode boundary.
                b"\x80\x04\x95\x24\x00\x00\x00\x00\x00\x00\x00",
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
            "lz4-looking, does not decode",
            b"\x04\x22\x4d\x18\x64\x40",
            None,
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
    // Files of several pickles: a cut just after the first one leaves a complete pickle and a
    // stub that cannot run anything (CPython fails before any call), so no problem is due.
    let several = ["p2_then_p0.pkl", "pickle_then_zip.pkl"];
    let mut only_no_panic = Vec::new();
    for f in fixture_files() {
        if f.1.len() < 4096 {
            if several.contains(&f.0.as_str()) {
                only_no_panic.push(f.1);
            } else {
                samples.push(f.1);
            }
        }
    }
    for full in &only_no_panic {
        for cut in 0..full.len() {
            inspect(&full[..cut]);
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
        ("torch.nn.modules.linear", "Linear", Safe),
        ("numpy.core.multiarray", "_reconstruct", Safe),
        ("numpy._core.multiarray", "scalar", Safe),
        ("numpy.dtypes", "Float64DType", Safe),
        ("numpy.testing._private.utils", "runstring", Dangerous),
        ("joblib.numpy_pickle", "NumpyArrayWrapper", Safe),
        ("joblib", "load", Dangerous),
        ("sklearn.linear_model._logistic", "LogisticRegression", Safe),
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
        // Issue 16: ordinary ML artefacts are not blocked.
        ("numpy.random._pickle", "__randomstate_ctor", Safe),
        ("numpy.random._pickle", "__bit_generator_ctor", Safe),
        ("numpy.random._mt19937", "MT19937", Safe),
        ("torch.jit._pickle", "build_intlist", Safe),
        ("torch.jit._pickle", "restore_type_tag", Safe),
        ("__torch__.torch.nn.modules.linear", "Linear", Safe),
        ("pandas.core.frame", "DataFrame", Safe),
        ("pandas._libs.internals", "_unpickle_block", Safe),
        ("pandas.core.indexes.base", "_new_Index", Safe),
        ("scipy.sparse._csr", "csr_matrix", Safe),
        ("datetime", "datetime", Safe),
        ("torch", "per_tensor_affine", Safe),
        (
            "transformers.models.bert.configuration_bert",
            "BertConfig",
            Safe,
        ),
        // Issue 16: import-list holes.
        ("random", "__builtins__", Dangerous),
        ("collections", "__builtins__.eval", Dangerous),
        ("argparse", "_os", Dangerous),
        ("random", "_os", Dangerous),
        ("tempfile", "_os.system", Dangerous),
        ("mypkg._sys", "modules", Dangerous),
        ("torch.jit._pickle", "loads", Dangerous),
        ("pandas", "read_pickle", Dangerous),
        ("pandas.io.pickle", "read_pickle", Dangerous),
        ("numpy.lib.npyio", "load", Dangerous),
        ("torch", "load", Dangerous),
        ("torch.utils.collect_env", "run", Dangerous),
        ("torch._dynamo", "optimize", Dangerous),
        ("torch.fx", "GraphModule", Dangerous),
        (
            "torch.fx.graph_module",
            "_deserialize_graph_module",
            Dangerous,
        ),
        ("torch.jit", "load", Dangerous),
        ("torch._inductor.codecache", "PyCodeCache", Dangerous),
        (
            "torch.utils._config_module",
            "ConfigModule.load_config",
            Dangerous,
        ),
        ("torch._inductor.config", "load_config", Dangerous),
        (
            "torch.nn.modules.module",
            "register_module_forward_hook",
            Dangerous,
        ),
        ("lib2to3.pgen2.pgen", "generate_grammar", Dangerous),
        ("_pyrepl.pager", "pipe_pager", Dangerous),
        ("sklearn.utils._testing", "TempMemmap", Dangerous),
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
fn joblib_array_of(n: u8, code: &str, align_flags: &[u8], padded: bool, tail: &[u8]) -> Vec<u8> {
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
            (!skip.contains(&name.as_str())).then(|| Some((name, std::fs::read(e.path()).ok()?)))?
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
    let expected: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
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
        let all_safe = !want["safe_imports_not_compared"].as_bool().unwrap_or(false);
        let mut got: Vec<_> = report
            .imports
            .iter()
            .filter(|i| all_safe || i.verdict != Safe)
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
    // Small seeds only: a mutated 140 KB import-cap pickle costs a debug build a second each.
    let mut seeds: Vec<Vec<u8>> = fixture_files()
        .into_iter()
        .map(|f| f.1)
        .filter(|b| b.len() < 16 << 10)
        .collect();
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

// ---- limits ----------------------------------------------------------------------------

/// `n` distinct harmless (unknown) imports, each popped, then `posix.system("pwned")`.
fn many_imports_then_system(n: usize) -> Vec<u8> {
    let mut v = vec![op::PROTO, 2];
    for i in 0..n {
        v.extend_from_slice(format!("cmodels_fixture\nLayer{i}\n").as_bytes());
        v.push(op::POP);
    }
    v.extend_from_slice(b"cposix\nsystem\n");
    v.extend(call_and_stop());
    v
}

#[test]
fn import_cap_4096_harmless_then_posix_system_is_still_found() {
    let r = inspect(&many_imports_then_system(MAX_IMPORTS + 10)).expect("a pickle");
    let found: Vec<_> = r
        .imports
        .iter()
        .filter(|i| i.verdict == Dangerous)
        .map(|i| format!("{}.{}", i.module, i.name))
        .collect();
    assert_eq!(found, ["posix.system"], "{:?}", r.problems);
    assert!(
        r.problems.iter().any(|p| p.contains("distinct imports")),
        "the cap is reported: {:?}",
        r.problems
    );
    assert_eq!(r.imports.len(), MAX_IMPORTS + 1);
}

#[test]
fn escalation_past_the_import_cap_is_listed() {
    // BUILD on an imported class (monkeypatching) escalates it, even when it is not listed.
    let mut v = vec![op::PROTO, 2];
    for i in 0..MAX_IMPORTS {
        v.extend_from_slice(format!("cmodels_fixture\nLayer{i}\n").as_bytes());
        v.push(op::POP);
    }
    v.extend_from_slice(b"cmodels_fixture\nLate\n}");
    v.extend_from_slice(&[op::BUILD, op::STOP]);
    let r = inspect(&v).expect("a pickle");
    assert!(
        r.imports
            .iter()
            .any(|i| i.name == "Late" && i.verdict == Dangerous),
        "{:?}",
        r.imports.last()
    );
}

#[test]
fn compressed_bomb_work_is_bounded_by_staged_size() {
    // 10 MiB of NONE/POP pairs deflate to ~10 KB: walking all of it would cost 10M opcodes,
    // over the budget a 10 KB file buys, so the walk stops and says why.
    let mut body = vec![op::PROTO, 2];
    body.extend(std::iter::repeat_n([op::NONE, op::POP], 5 << 20).flatten());
    body.extend_from_slice(&[op::NONE, op::STOP]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &body).unwrap();
    let staged = z.finish().unwrap();
    assert!(Budget::for_staged(staged.len()).ops < 10 << 20);
    let r = inspect(&staged).expect("a compressed pickle");
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("limit for a file of this staged size")),
        "{:?}",
        r.problems
    );
    // Staged uncompressed, the same stream buys enough for both readings of every byte.
    assert!(Budget::for_staged(body.len()).ops >= 2 * body.len() as u64);
}

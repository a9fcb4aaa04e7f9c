//! Unit tests of torch files embedded through `torch.storage._load_from_bytes`.

use super::*;
use std::io::Write;
use Verdict::{Dangerous, Safe};

fn sbu(s: &str) -> Vec<u8> {
    let mut v = vec![op::SHORT_BINUNICODE, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn binbytes(b: &[u8]) -> Vec<u8> {
    if b.len() < 256 {
        let mut v = vec![op::SHORT_BINBYTES, b.len() as u8];
        v.extend_from_slice(b);
        v
    } else {
        let mut v = vec![op::BINBYTES];
        v.extend_from_slice(&(b.len() as u32).to_le_bytes());
        v.extend_from_slice(b);
        v
    }
}

/// The `_load_from_bytes` import, protocol 4 (memoised at 0, as the pickler does).
fn loader() -> Vec<u8> {
    [
        sbu("torch.storage"),
        sbu("_load_from_bytes"),
        vec![op::STACK_GLOBAL, op::MEMOIZE],
    ]
    .concat()
}

/// `_load_from_bytes(inner)` as `pickle.dumps` of a torch storage writes it.
fn wrapped(inner: &[u8]) -> Vec<u8> {
    [
        vec![op::PROTO, 4],
        loader(),
        binbytes(inner),
        vec![op::TUPLE1, op::REDUCE, op::STOP],
    ]
    .concat()
}

/// `collections.OrderedDict()`, protocol 2: a benign legacy-torch-like inner pickle.
const BENIGN_INNER: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01.";
/// `posix.system("pwned")`, protocol 2.
const MALICIOUS_INNER: &[u8] = b"\x80\x02cposix\nsystem\nX\x05\x00\x00\x00pwned\x85R.";

fn imports(r: &ModelReport) -> Vec<(Option<&str>, &str, &str, Verdict)> {
    r.imports
        .iter()
        .map(|i| {
            (
                i.member.as_deref(),
                i.module.as_str(),
                i.name.as_str(),
                i.verdict,
            )
        })
        .collect()
}

#[test]
fn load_from_bytes_with_literal_bytes_is_inspected_not_blocked() {
    let r = inspect(&wrapped(BENIGN_INNER)).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let got = imports(&r);
    assert!(
        got.contains(&(None, "torch.storage", "_load_from_bytes", Safe)),
        "{got:?}"
    );
    assert!(
        got.contains(&(Some(EMBEDDED), "collections", "OrderedDict", Safe)),
        "{got:?}"
    );
    assert!(got.iter().all(|i| i.3 == Safe), "{got:?}");
}

#[test]
fn dangerous_embedded_torch_file_blocks_naming_it() {
    let data = wrapped(MALICIOUS_INNER);
    let r = inspect(&data).unwrap();
    let sys = r
        .imports
        .iter()
        .find(|i| i.module == "posix" && i.name == "system")
        .expect("the inner import is reported");
    assert_eq!(sys.verdict, Dangerous);
    assert_eq!(sys.member.as_deref(), Some(EMBEDDED));
    // The offset is in the outer stream: it points at the inner GLOBAL opcode.
    assert_eq!(data[sys.offset as usize], op::GLOBAL);
}

#[test]
fn embedded_file_inside_a_zip_member_names_both() {
    let outer = wrapped(MALICIOUS_INNER);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("archive/data.pkl", opts).unwrap();
    w.write_all(&outer).unwrap();
    let zip = w.finish().unwrap().into_inner();
    let r = inspect(&zip).unwrap();
    let got = imports(&r);
    assert!(
        got.contains(&(
            Some("archive/data.pkl: embedded torch file"),
            "posix",
            "system",
            Dangerous
        )),
        "{got:?}"
    );
}

#[test]
fn embedded_torch_zip_is_opened() {
    // torch.load opens a zip first: a torch.save archive embedded as the storage bytes.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("archive/data.pkl", opts).unwrap();
    w.write_all(MALICIOUS_INNER).unwrap();
    let inner = w.finish().unwrap().into_inner();
    let r = inspect(&wrapped(&inner)).unwrap();
    let got = imports(&r);
    assert!(
        got.contains(&(
            Some("embedded torch file: archive/data.pkl"),
            "posix",
            "system",
            Dangerous
        )),
        "{got:?}"
    );
}

#[test]
fn load_from_bytes_used_any_other_way_stays_dangerous() {
    // Each case first makes one inspected call (which alone would be Safe), then uses the
    // memoised loader once more in another way.
    let approved = {
        let w = wrapped(BENIGN_INNER);
        [w[..w.len() - 1].to_vec(), vec![op::POP]].concat()
    };
    let lfb = || vec![op::BINGET, 0];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "argument built by a call (protocol 2 bytes)",
            [
                lfb(),
                sbu("_codecs"),
                sbu("encode"),
                vec![op::STACK_GLOBAL],
                sbu("x"),
                sbu("latin1"),
                vec![op::TUPLE2, op::REDUCE, op::TUPLE1, op::REDUCE],
            ]
            .concat(),
        ),
        (
            "argument is a string, not bytes",
            [lfb(), sbu("payload"), vec![op::TUPLE1, op::REDUCE]].concat(),
        ),
        (
            "two arguments",
            [
                lfb(),
                binbytes(BENIGN_INNER),
                binbytes(BENIGN_INNER),
                vec![op::TUPLE2, op::REDUCE],
            ]
            .concat(),
        ),
        (
            "arguments in a MARK tuple",
            [
                lfb(),
                vec![op::MARK],
                binbytes(BENIGN_INNER),
                vec![op::TUPLE, op::REDUCE],
            ]
            .concat(),
        ),
        (
            "passed to another callable",
            [
                sbu("collections"),
                sbu("OrderedDict"),
                vec![op::STACK_GLOBAL],
                lfb(),
                vec![op::TUPLE1, op::REDUCE],
            ]
            .concat(),
        ),
        (
            "in a list",
            [vec![op::EMPTY_LIST], lfb(), vec![op::APPEND]].concat(),
        ),
        ("the load's result", lfb()),
        (
            "INST",
            [
                vec![op::MARK],
                binbytes(BENIGN_INNER),
                b"itorch.storage\n_load_from_bytes\n".to_vec(),
            ]
            .concat(),
        ),
        (
            "BUILD on it",
            [lfb(), vec![op::EMPTY_DICT, op::BUILD]].concat(),
        ),
        (
            "a dict to set items on",
            [lfb(), sbu("k"), sbu("v"), vec![op::SETITEM]].concat(),
        ),
        ("a persistent id", [lfb(), vec![op::BINPERSID]].concat()),
    ];
    let baseline = [approved.clone(), vec![op::NONE, op::STOP]].concat();
    let r = inspect(&baseline).unwrap();
    let got = imports(&r);
    assert!(
        got.contains(&(None, "torch.storage", "_load_from_bytes", Safe)),
        "{got:?}"
    );
    for (what, misuse) in cases {
        let data = [approved.clone(), misuse, vec![op::STOP]].concat();
        let r = inspect(&data).unwrap();
        let got = imports(&r);
        assert!(
            got.iter()
                .any(|i| i.1 == "torch.storage" && i.2 == "_load_from_bytes" && i.3 == Dangerous),
            "{what}: {got:?}"
        );
    }
}

#[test]
fn embedded_bytes_that_are_not_a_torch_file_fail_closed() {
    for inner in [
        &b"not a pickle at all, just text"[..],
        &b""[..],
        // zlib: torch.load does not inflate, so what it would run is not what leakgate sees.
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01][..],
    ] {
        let r = inspect(&wrapped(inner)).unwrap();
        assert!(
            r.problems.iter().any(|p| p.contains(EMBEDDED)),
            "{inner:?}: {:?}",
            r.problems
        );
    }
}

#[test]
fn embedded_files_nest_only_so_deep() {
    let mut data = BENIGN_INNER.to_vec();
    for _ in 0..MAX_EMBED_DEPTH {
        data = wrapped(&data);
    }
    let r = inspect(&data).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let data = wrapped(&data);
    let r = inspect(&data).unwrap();
    assert!(
        r.problems.iter().any(|p| p.contains("deep (limit)")),
        "{:?}",
        r.problems
    );
}

#[test]
fn embedded_strings_are_kept_for_the_credential_scan() {
    let inner = b"\x80\x02X\x1b\x00\x00\x00password=Zq8v1LmX2pQ7rT9wYb.".to_vec();
    let r = inspect(&wrapped(&inner)).unwrap();
    assert!(
        r.strings
            .iter()
            .any(|s| s.member.as_deref() == Some(EMBEDDED) && s.text.contains("Zq8v1LmX2pQ7rT9wYb")),
        "{:?}",
        r.strings
    );
}

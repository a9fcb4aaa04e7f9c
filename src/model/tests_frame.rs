//! Unit tests of frames (protocol 4 FRAME) that reads cross: CPython reads them differently
//! depending on how the pickle is loaded, so they must not pass as clean.

use super::*;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = vec![op::FRAME];
    v.extend_from_slice(&(body.len() as u64).to_le_bytes());
    v.extend_from_slice(body);
    v
}

fn crossing_problem(data: &[u8]) -> bool {
    inspect(data)
        .unwrap()
        .problems
        .iter()
        .any(|p| p.contains("end of its frame") || p.contains("before the end of the current"))
}

#[test]
fn operand_that_crosses_its_frame_is_a_problem() {
    // SHORT_BINUNICODE of 12 bytes with one in the frame: pickle.loads reads "xbenign_tex"
    // and stops; pickle.load(io.BytesIO) reads the 12 bytes after the frame, then os.system.
    let data = [
        vec![op::PROTO, 4],
        frame(b"\x8c\x0cx"),
        b"benign_text.0cposix\nsystem\n(S'echo pwned'\ntR.".to_vec(),
    ]
    .concat();
    assert!(crossing_problem(&data), "{:?}", inspect(&data).unwrap());
}

#[test]
fn line_argument_that_crosses_its_frame_is_a_problem() {
    // GLOBAL's module line starts in the frame: the stream reading imports `ix.system`.
    let data = [
        vec![op::PROTO, 4],
        frame(b"cpos"),
        b"ix\nsystem\n)R.".to_vec(),
    ]
    .concat();
    assert!(crossing_problem(&data), "{:?}", inspect(&data).unwrap());
}

#[test]
fn frame_inside_a_frame_is_a_problem() {
    let inner = frame(b"\x8c\x06system\x93)R.");
    let outer = [b"\x8c\x05posix".to_vec(), inner].concat();
    let data = [vec![op::PROTO, 4], frame(&outer)].concat();
    assert!(crossing_problem(&data), "{:?}", inspect(&data).unwrap());
}

#[test]
fn frames_that_end_between_opcodes_are_clean() {
    // How picklers write them: opcodes split across consecutive frames and unframed data.
    let data = [
        vec![op::PROTO, 4],
        frame(b"\x8c\x0bcollections\x94"),
        frame(b"\x8c\x0bOrderedDict\x94\x93"),
        b")R.".to_vec(),
    ]
    .concat();
    let r = inspect(&data).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.imports.len(), 1);
}

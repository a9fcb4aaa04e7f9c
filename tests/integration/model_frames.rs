//! Pickle frames that an opcode argument crosses (tests/fixtures/models/frame_overrun.pkl,
//! checked against CPython by generate.py): `pickle.load` from a stream runs opcodes that
//! `pickle.loads` never sees, so the file blocks as not fully inspected.

use crate::harness::*;

#[test]
fn operand_crossing_its_frame_blocks_as_unreadable() {
    let r = TestRepo::new();
    let data = std::fs::read(fixture("models/frame_overrun.pkl")).unwrap();
    r.stage("model.pkl", data);
    let v = r.check_json(1);
    let unreadable: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "model-unreadable")
        .collect();
    assert!(
        unreadable.iter().any(|f| f["detail"]
            .as_str()
            .unwrap()
            .contains("crosses the end of its frame")),
        "{v:#}"
    );
}

//! The legacy `torch.save` tar format (PyTorch < 0.4 with `_use_new_zipfile_serialization`
//! off and a tar target): members `sys_info`, `pickle`, `tensors`, `storages`, each starting
//! with pickles that `torch.load` unpickles.
//!
//! Invariant: only ustar headers are read (name, size); member data is sliced from the input,
//! never copied, and every pickle-headed member is walked (by content, not by name).

use super::*;

const BLOCK: usize = 512;
/// Members looked at per archive.
const MAX_TAR_MEMBERS: usize = 4096;

/// A POSIX tar archive: "ustar" at offset 257 of the first header.
pub(super) fn is_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar")
}

fn octal(field: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    usize::from_str_radix(digits, 8).ok()
}

/// Whether a tar holds a pickle-headed member (the legacy torch layout does).
pub(super) fn sniff_tar(bytes: &[u8]) -> bool {
    members(bytes).any(|(_, data)| is_pickle_start(data))
}

fn is_pickle_start(data: &[u8]) -> bool {
    matches!(data, [op::PROTO, 0..=5, next, ..] if op::is_known(*next))
}

/// (name, data) of each regular-file member, stopping at the end marker or damage.
fn members(bytes: &[u8]) -> impl Iterator<Item = (String, &[u8])> {
    let mut pos = 0usize;
    let mut seen = 0usize;
    std::iter::from_fn(move || loop {
        let header = bytes.get(pos..pos + BLOCK)?;
        if header.iter().all(|&b| b == 0) || seen >= MAX_TAR_MEMBERS {
            return None;
        }
        seen += 1;
        let size = octal(header.get(124..136)?)?;
        let name_end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&header[..name_end]).into_owned();
        let kind = header[156];
        let start = pos + BLOCK;
        let data = bytes.get(start..start.checked_add(size)?)?;
        pos = start + size.div_ceil(BLOCK) * BLOCK;
        if kind == b'0' || kind == 0 {
            return Some((name, data));
        }
    })
}

pub(super) fn inspect_tar(bytes: &[u8], report: &mut ModelReport) {
    let mut pickles = 0usize;
    for (name, data) in members(bytes) {
        if is_pickle_start(data) {
            pickles += 1;
            let (imports, strings) = (report.imports.len(), report.strings.len());
            inspect_pickles(data, report);
            for i in &mut report.imports[imports..] {
                i.member.get_or_insert_with(|| name.clone());
            }
            for s in &mut report.strings[strings..] {
                s.member.get_or_insert_with(|| name.clone());
            }
        }
    }
    if pickles == 0 {
        report
            .problems
            .push("tar archive: no pickle member could be read".into());
    }
}

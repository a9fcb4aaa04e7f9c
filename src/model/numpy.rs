//! numpy's `.npy` files (and the `.npy` members of `.npz` zips): a magic string, a header
//! that is a Python dict literal, then the array. An object array (`'descr': '|O'`) is stored
//! as a pickle after the header, which `numpy.load(allow_pickle=True)` runs.
//!
//! Invariant: the header is only searched for its `descr` text, never evaluated.

use super::*;

pub(super) const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// The header text and where the array data starts, or why the file is malformed.
fn npy_header(bytes: &[u8]) -> Result<(&[u8], usize), String> {
    let major = *bytes.get(6).ok_or("truncated .npy magic")?;
    let (len, start) = match major {
        1 => {
            let b = bytes.get(8..10).ok_or("truncated .npy header length")?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10usize)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or("truncated .npy header length")?;
            let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (usize::try_from(n).map_err(|_| "huge .npy header")?, 12)
        }
        v => return Err(format!(".npy format version {v} is not known")),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated .npy header")?;
    Ok((&bytes[start..end], end))
}

/// Whether the header's dtype holds Python objects: `'descr': '|O'`, or a structured dtype
/// with an `O` field (`[('a', 'O'), …]`).
fn has_objects(header: &[u8]) -> bool {
    let text = String::from_utf8_lossy(header);
    let Some(at) = text.find("'descr'") else {
        return true; // no dtype found: assume the worst, walk the data as a pickle
    };
    let rest = &text[at + 7..];
    let descr = rest
        .find("'fortran_order'")
        .or_else(|| rest.find("'shape'"))
        .map_or(rest, |end| &rest[..end]);
    ["'O'", "'|O'", "'<O'", "'>O'", "'=O'"]
        .iter()
        .any(|t| descr.contains(t))
}

/// Inspect a `.npy` stream (`member`: its name inside an `.npz`).
pub(super) fn inspect_npy(bytes: &[u8], member: Option<&str>, report: &mut ModelReport) {
    let prefix = member.map(|m| format!("{m}: ")).unwrap_or_default();
    match npy_header(bytes) {
        Err(e) => report.problems.push(format!("{prefix}{e}")),
        Ok((header, data)) if has_objects(header) => {
            inspect_stream(bytes.get(data..).unwrap_or(&[]), member, report);
        }
        Ok(_) => {}
    }
}

//! GGUF (llama.cpp): typed key/value metadata, whose strings are scanned, then tensors.

use super::*;

// GGUF

pub(super) fn is_gguf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"GGUF")
        && bytes
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .is_some_and(|v| (1..=3).contains(&u32::from_le_bytes(v)))
}

/// A bounds-checked little-endian reader.
pub(super) struct Le<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Le<'a> {
    pub(super) fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(super) fn string(&mut self) -> Option<String> {
        let n = self.u64()?;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

/// Byte size of a fixed-size GGUF value type.
pub(super) fn gguf_scalar_size(t: u32) -> Option<u64> {
    match t {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

pub(super) const GGUF_STRING: u32 = 8;
pub(super) const GGUF_ARRAY: u32 = 9;

pub(super) fn inspect_gguf(bytes: &[u8], report: &mut ModelReport) {
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

pub(super) fn gguf_kv(
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

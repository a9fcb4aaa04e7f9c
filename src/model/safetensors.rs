//! Safetensors: a JSON header (whose `__metadata__` text is scanned), then raw tensor bytes.

use super::*;

pub(super) fn is_safetensors(bytes: &[u8]) -> bool {
    let Some(n) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return false;
    };
    let n = u64::from_le_bytes(n);
    (2..=MAX_SAFETENSORS_HEADER).contains(&n)
        && n <= bytes.len() as u64 - 8
        && bytes.get(8) == Some(&b'{')
}

pub(super) fn inspect_safetensors(bytes: &[u8], report: &mut ModelReport) {
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
pub(super) struct MetaBudget {
    pub(super) bytes: usize,
    pub(super) full: bool,
}

impl MetaBudget {
    pub(super) fn push(&mut self, report: &mut ModelReport, key: String, value: String) {
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

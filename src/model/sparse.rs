//! Zip model files over `--max-blob-size` (torch checkpoints whose tensor data members are
//! large): the small parts that the pickle walk needs are captured from one streaming pass, so
//! the data members are never held in memory.
//!
//! Invariants:
//! - Sound: the central directory read first only plans which byte ranges to keep; the pass
//!   that keeps them also feeds every byte to the caller's hasher, and the archive is then
//!   parsed from the kept bytes alone. A byte outside them reads as an error (the member it
//!   belongs to becomes a problem, which blocks), never as made-up content.
//! - Bounded: what is kept is at most the caller's cap (else the file is not inspected here);
//!   the file is read once more for the stream, with a fixed buffer.

use std::io::{Seek, SeekFrom};

use super::*;

/// Bytes kept from the start of a member that is neither named nor small enough to keep
/// whole: its local header and the first bytes its kind is sniffed from.
const HEAD_WINDOW: u64 = 4096;
/// Slack after a member's data start for a local header longer than the central one says.
const HEADER_SLACK: u64 = 1024;
/// Members this small (compressed) are kept whole, so a pickle found by content is walked.
const SMALL_MEMBER: u64 = 1 << 20;
/// The end of the file kept for the end-of-central-directory search.
const TAIL: u64 = 128 << 10;
const CHUNK: usize = 1 << 20;

/// The kept byte ranges of a file of `size` bytes, sorted and disjoint.
pub struct Image {
    size: u64,
    ranges: Vec<(u64, Vec<u8>)>,
}

/// Plan from the central directory, then stream `file` once through `sink` keeping the planned
/// ranges. None when `file` is not a readable zip holding a pickle by name or by content, when
/// the kept bytes would exceed `cap`, or when the file is not `size` bytes long.
pub fn capture_zip<F: Read + Seek>(
    file: &mut F,
    size: u64,
    cap: u64,
    sink: &mut dyn FnMut(&[u8]),
) -> Option<Image> {
    let plan = plan(file, size)?;
    if plan.iter().map(|(a, b)| b - a).sum::<u64>() > cap {
        return None;
    }
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut ranges: Vec<(u64, Vec<u8>)> = plan
        .iter()
        .map(|&(a, b)| (a, Vec::with_capacity((b - a) as usize)))
        .collect();
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0u64;
    let mut next = 0usize;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        let chunk = &buf[..n];
        sink(chunk);
        let end = pos + n as u64;
        while next < plan.len() && plan[next].0 < end {
            let (a, b) = plan[next];
            let from = a.max(pos);
            let to = b.min(end);
            if from < to {
                ranges[next]
                    .1
                    .extend_from_slice(&chunk[(from - pos) as usize..(to - pos) as usize]);
            }
            if b <= end {
                next += 1;
            } else {
                break;
            }
        }
        pos = end;
        if pos > size {
            return None;
        }
    }
    (pos == size).then_some(Image { size, ranges })
}

/// The byte ranges the archive walk will read, merged; from an untrusted first look.
fn plan<F: Read + Seek>(file: &mut F, size: u64) -> Option<Vec<(u64, u64)>> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).ok()?;
    if magic != *ZIP_MAGIC {
        return None;
    }
    let mut a = zip::ZipArchive::new(&mut *file).ok()?;
    let mut want = vec![(
        a.central_directory_start().min(size.saturating_sub(TAIL)),
        size,
    )];
    for i in 0..a.len() {
        let Ok(entry) = a.by_index_raw(i) else {
            continue;
        };
        let name = entry.name();
        let whole = name.ends_with(".pkl")
            || name.ends_with(".npy")
            || is_torchscript_text(name)
            || entry.compressed_size() <= SMALL_MEMBER;
        let data = entry.data_start();
        let keep = if whole {
            entry.compressed_size()
        } else {
            HEAD_WINDOW
        };
        let end = data.saturating_add(keep).saturating_add(HEADER_SLACK);
        want.push((entry.header_start(), end.min(size)));
    }
    want.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(want.len());
    for (a, b) in want {
        if a >= b {
            continue;
        }
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    Some(merged)
}

/// Reads an [`Image`] as the file it was kept from; bytes not kept are an error.
struct ImageReader<'a> {
    image: &'a Image,
    pos: u64,
}

impl Read for ImageReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.image.size || out.is_empty() {
            return Ok(0);
        }
        let ranges = &self.image.ranges;
        let i = ranges.partition_point(|(a, _)| *a <= self.pos);
        let hit = i
            .checked_sub(1)
            .map(|j| &ranges[j])
            .filter(|(a, data)| self.pos < a + data.len() as u64);
        let Some((a, data)) = hit else {
            return Err(std::io::Error::other(format!(
                "byte {} lies in a data member over --max-blob-size, which is not read",
                self.pos
            )));
        };
        let from = (self.pos - a) as usize;
        let n = out.len().min(data.len() - from);
        out[..n].copy_from_slice(&data[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ImageReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.image.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| std::io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

/// Inspect a kept image like [`inspect`] inspects a whole zip; None when it is not a model.
pub fn inspect_image(image: &Image) -> Option<ModelReport> {
    let reader = ImageReader { image, pos: 0 };
    let mut archive = zip::ZipArchive::new(reader).ok()?;
    if !holds_model(&mut archive) {
        return None;
    }
    let mut report = ModelReport {
        kind: Some(ModelKind::TorchZip),
        budget: Budget::for_staged(usize::try_from(image.size).unwrap_or(usize::MAX)),
        ..ModelReport::default()
    };
    inspect_archive(&mut archive, &mut report);
    Some(report)
}

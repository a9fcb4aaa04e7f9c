//! The compressed containers joblib writes around a pickle (zlib, gzip, lz4).

use std::io::Read;

use super::*;

/// The compressed containers joblib writes (`joblib.dump(..., compress=...)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compression {
    Zlib,
    Gzip,
    Lz4,
}

/// A zlib, gzip or lz4 stream whose first inflated bytes start a pickle (anything else
/// compressed is an ordinary archive, not a model).
pub(super) fn compression(bytes: &[u8]) -> Option<Compression> {
    let c = if bytes.starts_with(b"\x04\x22\x4d\x18") {
        Compression::Lz4
    } else if bytes.starts_with(b"\x1f\x8b\x08") {
        Compression::Gzip
    } else if is_zlib_header(bytes) {
        Compression::Zlib
    } else {
        return None;
    };
    let (head, _) = inflate(bytes, c, 64).ok()?;
    matches!(head.as_slice(), [op::PROTO, 0..=5, next, ..] if op::is_known(*next)).then_some(c)
}

pub(super) fn is_zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => {
            *cmf == 0x78 && flg & 0x20 == 0 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Inflate at most `limit + 1` bytes of a zlib/gzip stream, checking its checksum. A stream
/// damaged or cut after some output still yields that output with the error: the unpickler
/// reading it would have run what came before the damage.
pub(super) fn inflate(
    bytes: &[u8],
    c: Compression,
    limit: u64,
) -> Result<(Vec<u8>, Option<String>), String> {
    let mut out = Vec::new();
    let take = limit.saturating_add(1);
    let read = match c {
        Compression::Zlib => flate2::bufread::ZlibDecoder::new(bytes)
            .take(take)
            .read_to_end(&mut out),
        // gzip readers (Python's gzip, joblib) go on into a following member.
        Compression::Gzip => flate2::bufread::MultiGzDecoder::new(bytes)
            .take(take)
            .read_to_end(&mut out),
        // joblib writes LZ4 frames (`lz4.frame`), possibly several in a row.
        Compression::Lz4 => lz4_flex::frame::FrameDecoder::new(bytes)
            .take(take)
            .read_to_end(&mut out),
    };
    match read {
        Ok(_) => Ok((out, None)),
        Err(e) if !out.is_empty() => Ok((out, Some(e.to_string()))),
        Err(e) => Err(e.to_string()),
    }
}

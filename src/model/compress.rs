//! The compressed containers joblib writes around a pickle (zlib, gzip, lz4, bz2, xz, lzma).

use std::io::Read;

use super::*;

/// The compressed containers joblib writes (`joblib.dump(..., compress=...)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compression {
    Zlib,
    Gzip,
    Lz4,
    Bz2,
    Xz,
    /// The legacy `.lzma` ("alone") format, joblib's `compress="lzma"`.
    Lzma,
}

/// A zlib, gzip or lz4 stream whose first inflated bytes start a pickle (anything else
/// compressed is an ordinary archive, not a model).
pub(super) fn compression(bytes: &[u8]) -> Option<Compression> {
    let c = if bytes.starts_with(b"\x04\x22\x4d\x18") {
        Compression::Lz4
    } else if bytes.starts_with(b"BZh") && matches!(bytes.get(3), Some(b'1'..=b'9')) {
        Compression::Bz2
    } else if bytes.starts_with(b"\xfd7zXZ\x00") {
        Compression::Xz
    } else if bytes.starts_with(b"\x5d\x00\x00") {
        Compression::Lzma
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
        // bz2 readers go on into a following stream, as Python's bz2 module does.
        Compression::Bz2 => bzip2::read::MultiBzDecoder::new(bytes)
            .take(take)
            .read_to_end(&mut out),
        Compression::Xz | Compression::Lzma => Err(std::io::ErrorKind::Unsupported.into()),
    };
    let read = match read {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            lzma_family(bytes, c, take, &mut out)
        }
        Err(e) => Err(e),
    };
    match read {
        Ok(_) => Ok((out, None)),
        Err(e) if !out.is_empty() => Ok((out, Some(e.to_string()))),
        Err(e) => Err(e.to_string()),
    }
}

/// lzma-rs decodes into a writer, not a reader: a writer that refuses bytes past `take`
/// bounds the work the same way.
fn lzma_family(
    bytes: &[u8],
    c: Compression,
    take: u64,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    struct Capped<'o> {
        out: &'o mut Vec<u8>,
        cap: u64,
    }
    impl std::io::Write for Capped<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.cap.saturating_sub(self.out.len() as u64);
            if room == 0 {
                return Err(std::io::Error::other("output limit reached"));
            }
            let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut input = std::io::BufReader::new(bytes);
    let mut w = Capped { out, cap: take };
    let done = if c == Compression::Xz {
        lzma_rs::xz_decompress(&mut input, &mut w)
    } else {
        lzma_rs::lzma_decompress(&mut input, &mut w)
    };
    let n = w.out.len();
    match done {
        Ok(()) => Ok(n),
        // The cap was reached: the caller sees `limit + 1` bytes and reports the limit.
        Err(_) if n as u64 >= take => Ok(n),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

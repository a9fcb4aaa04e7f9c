//! Caps on the work and memory one model file may cost; a cap that is hit is a problem
//! reported to the user (and blocks: the file was not fully inspected).

/// Opcodes walked per file (a 256 MiB pickle of small opcodes is ~100M).
pub(super) const MAX_OPCODES: u64 = 200_000_000;
/// Opcodes walked per file are also bounded by its staged size: a pickle walked twice (the
/// C and joblib readings) costs at most 2 opcodes per byte, and real compressed pickles
/// inflate a few times; a deflate bomb (1,000x) must not buy 1,000x the work.
pub(super) const OPS_FLOOR: u64 = 4_000_000;
pub(super) const OPS_PER_STAGED_BYTE: u64 = 16;
/// Bytes inflated per file, bounded by the staged size too (same reason).
pub(super) const INFLATE_FLOOR: u64 = 64 << 20;
pub(super) const INFLATE_PER_STAGED_BYTE: u64 = 256;

/// What one file may still cost: opcodes to walk and bytes to inflate.
#[derive(Clone, Debug)]
pub(super) struct Budget {
    pub(super) ops: u64,
    pub(super) inflate: u64,
}

impl Budget {
    pub(super) fn for_staged(len: usize) -> Self {
        let len = len as u64;
        Budget {
            ops: OPS_FLOOR
                .saturating_add(len.saturating_mul(OPS_PER_STAGED_BYTE))
                .min(MAX_OPCODES),
            inflate: INFLATE_FLOOR
                .max(len.saturating_mul(INFLATE_PER_STAGED_BYTE))
                .min(MAX_ARCHIVE_INFLATED),
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            ops: MAX_OPCODES,
            inflate: MAX_ARCHIVE_INFLATED,
        }
    }
}
/// Simulated stack depth and memo entries (each value is 24 bytes).
pub(super) const MAX_STACK: usize = 4 << 20;
pub(super) const MAX_MEMO: usize = 4 << 20;
/// Strings longer than this are not kept as operands (no module name is that long).
pub(super) const MAX_OPERAND: usize = 4096;
/// Distinct imports per stream; a legitimate model has a few dozen.
pub(super) const MAX_IMPORTS: usize = 4096;
/// Problems kept per stream before the rest are counted.
pub(super) const MAX_PROBLEMS: usize = 32;
/// Entries kept in a simulated dict (joblib wrapper state has six).
pub(super) const MAX_DICT: usize = 64;
/// Decompressed size of one zip member or compressed pickle.
pub(super) const MAX_INFLATED: u64 = 256 << 20;
/// Decompressed bytes over all members of one archive.
pub(super) const MAX_ARCHIVE_INFLATED: u64 = 1 << 30;
/// Metadata strings collected per file, and bytes over all of them.
pub(super) const MAX_METADATA: usize = 100_000;
pub(super) const MAX_METADATA_BYTES: usize = 64 << 20;
/// Strings collected from one GGUF array (tokenizer vocabularies hold 100k+ tokens).
pub(super) const MAX_GGUF_ARRAY_STRINGS: u64 = 1024;
pub(super) const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

pub(super) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// `bytes` operands longer than this are data (arrays), not credentials.
pub(super) const MAX_KEPT_BYTES_STRING: usize = 4096;

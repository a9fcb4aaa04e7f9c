//! Git LFS: a staged blob that is an LFS pointer stands for the object it names, which `git lfs
//! push` uploads with the commit. That object is what gets scanned, read from the local LFS
//! store.
//!
//! Invariants:
//! - only a pointer in the spec's exact shape counts (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md):
//!   `version` first, then `oid sha256:<64 hex>`, `size <n>` and optional `ext-N-name sha256:…`
//!   lines, nothing else, under 1 KiB. Anything else is an ordinary file and scanned as text, so
//!   no free-form value can hide behind "it is a pointer";
//! - an object is used only after its size and SHA-256 match the pointer; a mismatch is an error
//!   (exit 2): what will be pushed cannot be known. The previous version's object only narrows
//!   what is new, so a missing or damaged one makes the whole new object count as new;
//! - an object that is not in the local store, or larger than `--max-blob-size`, is never
//!   "clean": it is listed as not scanned, with a note that shows without `--verbose`;
//! - the store is `<git common dir>/lfs/objects/aa/bb/<oid>` (linked worktrees share it), or
//!   below `lfs.storage` when that is set (relative to the common git dir, as git-lfs reads it).

use std::borrow::Cow;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::repo::Repo;

/// The spec's version URL, and the one pointers used before git-lfs 1.0.
const VERSIONS: &[&str] = &[
    "https://git-lfs.github.com/spec/v1",
    "https://hawser.github.com/spec/v1",
];

/// Pointers are small; git-lfs itself reads at most this much when looking for one.
const MAX_POINTER: usize = 1024;

/// What an LFS pointer names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    /// Lower-case hex SHA-256 of the object's content.
    pub oid: String,
    pub size: u64,
}

impl Pointer {
    /// The pointer `bytes` spells, or None when they are not exactly one.
    pub fn parse(bytes: &[u8]) -> Option<Pointer> {
        if bytes.len() > MAX_POINTER || !bytes.starts_with(b"version ") {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
        let version = lines.next()?.strip_prefix("version ")?;
        if !VERSIONS.contains(&version) {
            return None;
        }
        let (mut oid, mut size) = (None, None);
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            match key {
                "oid" if oid.is_none() => oid = Some(sha256_hex(value)?.to_string()),
                "size" if size.is_none() => {
                    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    size = Some(value.parse().ok()?);
                }
                _ if is_extension_key(key) => {
                    sha256_hex(value)?;
                }
                _ => return None,
            }
        }
        Some(Pointer {
            oid: oid?,
            size: size?,
        })
    }

    fn short(&self) -> &str {
        &self.oid[..12]
    }
}

fn sha256_hex(value: &str) -> Option<&str> {
    let hex = value.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// `ext-<priority>-<name>`: the key of a pointer extension.
fn is_extension_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("ext-") else {
        return false;
    };
    let Some((priority, name)) = rest.split_once('-') else {
        return false;
    };
    !priority.is_empty()
        && priority.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// A file whose staged or previous version is an LFS pointer, resolved.
pub enum Resolved<'a> {
    /// The contents to scan: `new` is the staged object (or the plain staged blob when the file
    /// leaves LFS), `old` the previous version's when it could be read.
    Content {
        new: Cow<'a, [u8]>,
        old: Option<Cow<'a, [u8]>>,
        /// The staged version is an LFS pointer (so "large model file not in LFS" is false).
        new_in_lfs: bool,
    },
    /// Not scanned: a short reason for the skipped list and a note naming the way out.
    NotScanned { reason: String, note: String },
}

/// Resolve `new` (the staged blob of `path`) and `old` (its previous version) when either is
/// an LFS pointer; None when neither is, and the caller scans the blobs as they are.
pub fn resolve<'a>(
    repo: &Repo,
    path: &[u8],
    new: &'a [u8],
    old: Option<&'a [u8]>,
    max_size: u64,
) -> Result<Option<Resolved<'a>>> {
    let new_ptr = Pointer::parse(new);
    let old_ptr = old.and_then(Pointer::parse);
    if new_ptr.is_none() && old_ptr.is_none() {
        return Ok(None);
    }
    let shown = String::from_utf8_lossy(path);
    let store = Store::of(repo)?;
    let new_content = match &new_ptr {
        None => Cow::Borrowed(new),
        Some(p) => match store.read(p, max_size, &shown)? {
            Object::Found(bytes) => Cow::Owned(bytes),
            Object::Missing => {
                return Ok(Some(Resolved::NotScanned {
                    reason: format!("Git LFS object {} not in the local store", p.short()),
                    note: format!(
                        "{shown} was NOT scanned: it is a Git LFS pointer and its object \
                         (sha256:{}) is not in {}; run `git lfs fetch` (or `git lfs pull`) and \
                         check again",
                        p.short(),
                        store.dir.display()
                    ),
                }))
            }
            Object::TooLarge => {
                return Ok(Some(Resolved::NotScanned {
                    reason: format!(
                        "too large: Git LFS object of {} bytes > --max-blob-size {max_size}",
                        p.size
                    ),
                    note: format!(
                        "{shown} was NOT scanned: its Git LFS object is {} bytes, over \
                         --max-blob-size; raise the limit to scan it",
                        p.size
                    ),
                }))
            }
        },
    };
    let old_content = match (old, &old_ptr) {
        (Some(plain), None) => Some(Cow::Borrowed(plain)),
        // Only narrows what counts as new: unreadable means everything is new.
        (_, Some(p)) => match store.read(p, max_size, &shown) {
            Ok(Object::Found(bytes)) => Some(Cow::Owned(bytes)),
            _ => None,
        },
        (None, None) => None,
    };
    Ok(Some(Resolved::Content {
        new: new_content,
        old: old_content,
        new_in_lfs: new_ptr.is_some(),
    }))
}

enum Object {
    Found(Vec<u8>),
    Missing,
    TooLarge,
}

/// The local LFS object store of a repository.
struct Store {
    dir: PathBuf,
}

impl Store {
    fn of(repo: &Repo) -> Result<Store> {
        let common = repo.commondir();
        let root = match storage_setting(repo)? {
            Some(p) if !p.as_os_str().is_empty() => common.join(p), // join keeps an absolute p
            _ => common.join("lfs"),
        };
        Ok(Store {
            dir: root.join("objects"),
        })
    }

    fn read(&self, p: &Pointer, max_size: u64, shown: &str) -> Result<Object> {
        if p.size > max_size {
            return Ok(Object::TooLarge);
        }
        let file = self.dir.join(&p.oid[0..2]).join(&p.oid[2..4]).join(&p.oid);
        let f = match std::fs::File::open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Object::Missing),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot open the Git LFS object of {shown} ({})",
                        file.display()
                    )
                })
            }
        };
        // One byte past the pointer's size is enough to see that the object is longer.
        let mut data = Vec::with_capacity(p.size as usize);
        f.take(p.size + 1)
            .read_to_end(&mut data)
            .with_context(|| format!("cannot read the Git LFS object of {shown}"))?;
        let digest = Sha256::digest(&data);
        let matches = data.len() as u64 == p.size && hex(&digest) == p.oid;
        if !matches {
            bail!(
                "the Git LFS object of {shown} ({}) does not match its pointer (sha256:{}, {} \
                 bytes): the store is damaged, so what would be pushed is unknown; run `git lfs \
                 fsck` and re-add the file",
                file.display(),
                p.short(),
                p.size
            );
        }
        Ok(Object::Found(data))
    }
}

/// `lfs.storage` from git's configuration: through libgit2, or git itself for the repositories
/// only git's plumbing reads.
fn storage_setting(repo: &Repo) -> Result<Option<PathBuf>> {
    if let Some(r) = repo.libgit2() {
        let config = r
            .config()
            .context("cannot read git config (for lfs.storage)")?;
        return Ok(config.get_path("lfs.storage").ok());
    }
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo.path())
        .args(["config", "--path", "--get", "lfs.storage"])
        .output()
        .context("cannot run `git config` (for lfs.storage)")?;
    match out.status.code() {
        Some(0) => Ok(Some(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'),
        ))),
        Some(1) => Ok(None), // not set
        _ => bail!(
            "`git config --get lfs.storage` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    #[test]
    fn pointer_parse_table() {
        let v1 = "version https://git-lfs.github.com/spec/v1";
        let ok = Some(Pointer {
            oid: OID.to_string(),
            size: 12345,
        });
        let cases: Vec<(&str, String, Option<Pointer>)> = vec![
            (
                "spec example",
                format!("{v1}\noid sha256:{OID}\nsize 12345\n"),
                ok.clone(),
            ),
            (
                "no final newline",
                format!("{v1}\noid sha256:{OID}\nsize 12345"),
                ok.clone(),
            ),
            (
                "legacy version",
                format!(
                    "version https://hawser.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n"
                ),
                ok.clone(),
            ),
            (
                "extension",
                format!("{v1}\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 12345\n"),
                ok.clone(),
            ),
            (
                "unknown version",
                format!("version https://example.invalid/v9\noid sha256:{OID}\nsize 1\n"),
                None,
            ),
            (
                "upper-case hex",
                format!("{v1}\noid sha256:{}\nsize 1\n", OID.to_uppercase()),
                None,
            ),
            (
                "short oid",
                format!("{v1}\noid sha256:{}\nsize 1\n", &OID[..63]),
                None,
            ),
            (
                "other hash",
                format!("{v1}\noid sha1:{OID}\nsize 1\n"),
                None,
            ),
            ("no size", format!("{v1}\noid sha256:{OID}\n"), None),
            (
                "negative size",
                format!("{v1}\noid sha256:{OID}\nsize -1\n"),
                None,
            ),
            (
                "free text can hide nothing",
                format!("{v1}\noid sha256:{OID}\nsize 1\nnote hf_x\n"),
                None,
            ),
            (
                "two oids",
                format!("{v1}\noid sha256:{OID}\noid sha256:{OID}\nsize 1\n"),
                None,
            ),
            (
                "version not first",
                format!("oid sha256:{OID}\n{v1}\nsize 1\n"),
                None,
            ),
            (
                "too long",
                format!(
                    "{v1}\noid sha256:{OID}\nsize 1\n{}",
                    "\n".repeat(MAX_POINTER)
                ),
                None,
            ),
            ("empty", String::new(), None),
        ];
        for (name, text, want) in cases {
            assert_eq!(Pointer::parse(text.as_bytes()), want, "{name}");
        }
    }
}

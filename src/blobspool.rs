//! Blobs over `--max-blob-size` read from git as a stream, never whole in memory: their first
//! bytes (to tell a model file from other data), or a copy spooled to an unlinked temporary
//! file that the zip-model capture can seek in (history scans have no working-tree copy).
//!
//! Invariants:
//! - Bounded memory: bytes pass through a fixed buffer; the spool is on disk and is removed
//!   when its handle is dropped (unlinked at once where the platform allows).
//! - Never trusted for content: the caller hashes what it reads from the spool against the
//!   blob's id (`git::BlobHasher`), so a short or wrong stream is caught, not inspected.
//! - Any failure (git missing, disk full, object absent) is None: the caller reports the file
//!   as it would without the spool, never as clean.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::git::ObjectId;

/// `git cat-file blob <id>` for the repository at `git_dir`, its stdout piped.
fn cat(git_dir: &Path, id: &ObjectId) -> Option<Child> {
    Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["cat-file", "blob", &id.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn finish(mut child: Child) {
    // Stopping early (only the head was wanted) ends git with a broken pipe: reap it.
    let _ = child.kill();
    let _ = child.wait();
}

/// The first `n` bytes of a blob (fewer when it is shorter); None when git cannot give them.
pub fn head(git_dir: &Path, id: &ObjectId, n: usize) -> Option<Vec<u8>> {
    let mut child = cat(git_dir, id)?;
    let mut out = Vec::with_capacity(n);
    let read = child
        .stdout
        .take()
        .map(|s| s.take(n as u64).read_to_end(&mut out));
    finish(child);
    matches!(read, Some(Ok(_))).then_some(out)
}

/// A temporary file that is removed when dropped.
pub struct Spool {
    file: File,
    path: Option<PathBuf>,
}

impl Spool {
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn temp_file() -> Option<Spool> {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "leakgate-spool-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let path = std::env::temp_dir().join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .ok()?;
    // Unlinked at once where an open file may be removed: nothing is left behind on a crash.
    let path = match std::fs::remove_file(&path) {
        Ok(()) => None,
        Err(_) => Some(path),
    };
    Some(Spool { file, path })
}

/// The blob copied to a temporary file, rewound; None unless exactly `size` bytes arrived.
pub fn spool(git_dir: &Path, id: &ObjectId, size: u64) -> Option<Spool> {
    let mut spool = temp_file()?;
    let mut child = cat(git_dir, id)?;
    let copied = child
        .stdout
        .take()
        .and_then(|mut s| std::io::copy(&mut s, &mut spool.file).ok());
    let status = child.wait().ok();
    if copied != Some(size) || !status.is_some_and(|s| s.success()) {
        return None;
    }
    spool.file.flush().ok()?;
    spool.file.seek(SeekFrom::Start(0)).ok()?;
    Some(spool)
}

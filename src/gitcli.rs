//! The repositories libgit2 cannot open — SHA-256 object ids (`extensions.objectFormat`) and
//! the reftable ref store (`extensions.refStorage`) — read through git's own plumbing.
//!
//! Why plumbing: git2 has no 32-byte object id and libgit2 no reftable backend, while the git
//! that made the repository (and runs the hook) reads both. Only a handful of commands are
//! used, each with machine-readable output (`-z`, full ids, `--end-of-options` before anything
//! that comes from a user): `diff-index`/`diff-tree --raw` for change lists, `rev-list` and
//! `rev-parse` for revisions, `ls-files`/`ls-tree` for whole entries, and one long-lived
//! `cat-file --batch-command` per worker thread for object contents.
//!
//! Invariants:
//! - git runs in the current directory with the inherited environment, so it honours
//!   `GIT_DIR`, `GIT_INDEX_FILE` (the temporary index of `git commit -a`) and worktrees exactly
//!   as the git that runs the hook does;
//! - every failure — git missing, a non-zero exit, a process that dies, output that does not
//!   parse, an object of the wrong type — is an error naming the command: never an empty list;
//! - the change lists keep the meaning of `git::Changes`: deletions dropped, gitlinks listed
//!   as skipped, renames and copies paired with their source, conflicts refused.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::git::{Change, Changes, ObjectId};

/// What git says about the repository of the current directory (shareable across threads).
#[derive(Debug, Clone)]
pub struct Layout {
    git_dir: PathBuf,
    common_dir: PathBuf,
    workdir: Option<PathBuf>,
    /// 20 (SHA-1) or 32 (SHA-256).
    hash_len: usize,
    /// `extensions.refStorage`, when set (`reftable`).
    pub ref_storage: Option<String>,
}

impl Layout {
    /// Whether libgit2 cannot read this repository, so the plumbing must.
    pub fn needs_plumbing(&self) -> bool {
        self.hash_len != 20 || self.ref_storage.as_deref().is_some_and(|s| s != "files")
    }

    /// A handle on this repository with no process started yet.
    pub fn open(&self) -> GitCli {
        GitCli {
            layout: self.clone(),
            cat: RefCell::new(None),
            parents: RefCell::new(HashMap::new()),
        }
    }
}

/// A repository read through git's plumbing. Not shared between threads: each worker opens
/// its own handle from the `Layout`, with its own `cat-file` process.
pub struct GitCli {
    layout: Layout,
    /// Started on first use.
    cat: RefCell<Option<CatFile>>,
    /// Parents of the commits `rev_list` printed, so a walk costs no process per commit.
    parents: RefCell<HashMap<ObjectId, Vec<ObjectId>>>,
}

impl std::ops::Deref for GitCli {
    type Target = Layout;
    fn deref(&self) -> &Layout {
        &self.layout
    }
}

impl Layout {
    /// The repository git finds here; Err when git finds none or cannot run.
    pub fn discover() -> Result<Layout> {
        let out = run_git(
            None,
            &[
                "rev-parse",
                "--path-format=absolute",
                "--git-dir",
                "--git-common-dir",
                "--show-object-format",
                "--is-bare-repository",
            ],
        )?;
        let text = String::from_utf8(out).context("git rev-parse printed a non-UTF-8 path")?;
        let lines: Vec<&str> = text.lines().collect();
        let (git_dir, common_dir, format, bare) = match lines[..] {
            [g, c, f, b, ..] => (g, c, f, b),
            _ => bail!("unexpected output from git rev-parse: {text:?}"),
        };
        let hash_len = match format {
            "sha1" => 20,
            "sha256" => 32,
            other => bail!("unknown object format `{other}` (git rev-parse --show-object-format)"),
        };
        // Asked apart: git refuses --show-toplevel outright in a bare repository (a mirror
        // that CI scans with check-range) and from inside the git directory.
        let workdir = match bare {
            "false" => run_git(None, &["rev-parse", "--show-toplevel"])
                .ok()
                .and_then(|o| String::from_utf8(o).ok())
                .map(|t| PathBuf::from(t.trim_end_matches('\n')))
                .filter(|p| !p.as_os_str().is_empty()),
            _ => None,
        };
        // Absent in most repositories: `git config` then exits 1 with no output.
        let ref_storage = run_git(None, &["config", "--get", "extensions.refStorage"])
            .ok()
            .map(|o| String::from_utf8_lossy(&o).trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty());
        Ok(Layout {
            git_dir: PathBuf::from(git_dir),
            common_dir: PathBuf::from(common_dir),
            workdir,
            hash_len,
            ref_storage,
        })
    }
}

impl GitCli {
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn path(&self) -> &Path {
        &self.git_dir
    }

    pub fn commondir(&self) -> &Path {
        &self.common_dir
    }

    pub fn workdir(&self) -> Option<&Path> {
        self.workdir.as_deref()
    }

    /// `core.hooksPath` is set, to the empty string (git then runs no hooks).
    pub fn hooks_path_is_empty(&self) -> bool {
        // Unset: `git config` exits 1 with no output, an error here.
        self.git(&["config", "--get", "core.hooksPath"])
            .is_ok_and(|out| out.iter().all(|b| b.is_ascii_whitespace()))
    }

    /// Where git runs this repository's hooks (`core.hooksPath` resolved as git resolves it).
    pub fn hooks_dir(&self) -> Result<PathBuf> {
        let out = self.git(&["rev-parse", "--path-format=absolute", "--git-path", "hooks"])?;
        let text = String::from_utf8(out).context("git printed a non-UTF-8 hooks path")?;
        Ok(PathBuf::from(text.trim_end_matches('\n')))
    }

    fn git(&self, args: &[&str]) -> Result<Vec<u8>> {
        run_git(None, args)
    }

    fn id(&self, hex: &str) -> Result<ObjectId> {
        let id = ObjectId::from_hex(hex.trim())?;
        if id.as_bytes().len() != self.hash_len {
            bail!(
                "git printed `{}`, not an id of this repository's hash",
                hex.trim()
            );
        }
        Ok(id)
    }

    /// The empty tree of this repository's hash (git knows it without storing it).
    pub fn empty_tree(&self) -> Result<ObjectId> {
        let out = run_git(Some(b""), &["hash-object", "-t", "tree", "--stdin"])?;
        self.id(std::str::from_utf8(&out).context("git hash-object output")?)
    }

    /// The commit `rev` names, or an error naming `rev`.
    pub fn resolve_commit(&self, rev: &str) -> Result<ObjectId> {
        let spec = format!("{rev}^{{commit}}");
        let out = self
            .git(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ])
            .with_context(|| format!("cannot resolve `{rev}`"))?;
        self.id(std::str::from_utf8(&out).context("git rev-parse output")?)
    }

    /// Whether the commit is in the object database.
    pub fn has_commit(&self, id: &ObjectId) -> bool {
        self.resolve_commit(&id.to_string()).is_ok()
    }

    /// HEAD's commit; None when HEAD is unborn (a first commit). A HEAD that names something
    /// that cannot be read is an error.
    pub fn head(&self) -> Result<Option<ObjectId>> {
        match self.resolve_commit("HEAD") {
            Ok(id) => Ok(Some(id)),
            Err(e) => {
                // Unborn: HEAD is a symbolic ref to a branch that does not exist yet.
                let branch = self.git(&["symbolic-ref", "--quiet", "HEAD"]);
                let branch = branch.map(|b| String::from_utf8_lossy(&b).trim().to_string());
                match branch {
                    Ok(b) if !b.is_empty() && !self.ref_exists(&b)? => Ok(None),
                    _ => Err(e.context("cannot resolve HEAD")),
                }
            }
        }
    }

    fn ref_exists(&self, name: &str) -> Result<bool> {
        let out = self.git(&[
            "for-each-ref",
            "--format=%(refname)",
            "--end-of-options",
            name,
        ])?;
        Ok(out.split(|&b| b == b'\n').any(|l| l == name.as_bytes()))
    }

    /// Staged changes: HEAD (or the empty tree) against the index git would commit from.
    pub fn staged(&self) -> Result<Changes> {
        // git reads a missing index as an empty one; when GIT_INDEX_FILE names the index (a
        // hook runner's), a missing file means the wrong file, not "nothing staged".
        if std::env::var_os("GIT_INDEX_FILE").is_some_and(|v| !v.is_empty()) {
            let out = self.git(&["rev-parse", "--path-format=absolute", "--git-path", "index"])?;
            let text = String::from_utf8(out).context("git printed a non-UTF-8 index path")?;
            let file = Path::new(text.trim_end_matches('\n'));
            if !file.is_file() {
                bail!(
                    "GIT_INDEX_FILE names {}, which does not exist: run leakgate from the hook git \
                     runs, or unset GIT_INDEX_FILE",
                    file.display()
                );
            }
        }
        let base = match self.head()? {
            Some(id) => id,
            None => self.empty_tree()?,
        };
        let base = base.to_string();
        let out = self
            .git(&[
                "diff-index",
                "--cached",
                "-z",
                "-r",
                "-M",
                "--no-abbrev",
                "--ignore-submodules=none",
                "--ita-invisible-in-index",
                &base,
                "--",
            ])
            .context("cannot compute the staged diff (HEAD against the index)")?;
        let mut changes = self.parse_raw(&out, "git diff-index")?;
        if self.workdir.is_none() {
            for c in &mut changes.files {
                c.worktree = false;
            }
        }
        Ok(changes)
    }

    /// What a commit added against `parent` (None: a root commit, against the empty tree).
    pub fn commit_changes(&self, commit: &ObjectId, parent: Option<&ObjectId>) -> Result<Changes> {
        let base = match parent {
            Some(p) => *p,
            None => self.empty_tree()?,
        };
        let out = self
            .git(&[
                "diff-tree",
                "-z",
                "-r",
                "-M",
                "--no-abbrev",
                "--ignore-submodules=none",
                &base.to_string(),
                &commit.to_string(),
                "--",
            ])
            .with_context(|| format!("cannot diff commit {commit}"))?;
        let mut changes = self.parse_raw(&out, "git diff-tree")?;
        for c in &mut changes.files {
            c.worktree = false;
        }
        Ok(changes)
    }

    /// Parse `--raw -z` output: `:<mode> <mode> <id> <id> <status>\0<path>\0[<path>\0]`.
    fn parse_raw(&self, out: &[u8], what: &str) -> Result<Changes> {
        let mut fields = out.split(|&b| b == 0);
        let mut changes = Changes::default();
        let bad = || anyhow::anyhow!("unexpected output from {what}");
        while let Some(head) = fields.next() {
            if head.is_empty() {
                continue; // the trailing NUL
            }
            let head =
                std::str::from_utf8(head.strip_prefix(b":").ok_or_else(bad)?).map_err(|_| bad())?;
            let parts: Vec<&str> = head.split(' ').collect();
            let [old_mode, new_mode, old_id, new_id, status] = parts[..] else {
                return Err(bad());
            };
            let letter = status.as_bytes().first().copied().ok_or_else(bad)?;
            let mut path = fields.next().ok_or_else(bad)?.to_vec();
            if matches!(letter, b'R' | b'C') {
                path = fields.next().ok_or_else(bad)?.to_vec();
            }
            if path.is_empty() {
                return Err(bad()); // output cut short: the trailing NUL read as a path
            }
            let shown = || String::from_utf8_lossy(&path).into_owned();
            match letter {
                b'D' => continue,
                b'U' => {
                    bail!(
                        "the index has unresolved merge conflicts; resolve them before committing"
                    )
                }
                b'A' | b'M' | b'T' | b'R' | b'C' => {}
                _ => bail!("{what} reports {} with status {status}", shown()),
            }
            if new_mode == "160000" {
                changes
                    .skipped
                    .push((path, "submodule (gitlink)".to_string()));
                continue;
            }
            let old = match letter {
                b'A' | b'T' => None,
                _ if old_mode == "160000" => None,
                _ => Some(self.id(old_id)?).filter(|o| !o.is_zero()),
            };
            let new = self.id(new_id)?;
            if new.is_zero() {
                bail!("{what} reports {} without a staged object", shown());
            }
            changes.files.push(Change {
                path,
                old,
                new,
                worktree: matches!(new_mode, "100644" | "100755"),
            });
        }
        Ok(changes)
    }

    /// Index entries at or below the repository-relative `paths`, scanned whole.
    pub fn entries_under(&self, paths: &[Vec<u8>]) -> Result<Vec<Change>> {
        let mut args: Vec<String> = vec!["ls-files".into(), "--stage".into(), "-z".into()];
        args.push("--full-name".into());
        args.push("--".into());
        for p in paths {
            // Literal pathspecs from the top: `ls-files` runs in the current directory.
            match String::from_utf8_lossy(p).as_ref() {
                "" => args.push(":(top)".into()),
                p => args.push(format!(":(top,literal){p}")),
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.git(&args).context("cannot list the index")?;
        let mut files = Vec::new();
        for rec in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            // <mode> <id> <stage>\t<path>
            let tab = memchr::memchr(b'\t', rec).context("unexpected output from git ls-files")?;
            let head = std::str::from_utf8(&rec[..tab]).context("git ls-files output")?;
            let parts: Vec<&str> = head.split(' ').collect();
            let [mode, id, _stage] = parts[..] else {
                bail!("unexpected output from git ls-files");
            };
            if mode == "160000" {
                continue;
            }
            files.push(Change {
                path: rec[tab + 1..].to_vec(),
                old: None,
                new: self.id(id)?,
                worktree: false,
            });
        }
        Ok(files)
    }

    /// Every blob of HEAD's tree (for the baseline), or None when HEAD is unborn.
    pub fn head_files(&self) -> Result<Option<Vec<Change>>> {
        let Some(head) = self.head()? else {
            return Ok(None);
        };
        let out = self
            .git(&["ls-tree", "-r", "-z", "--full-tree", &head.to_string()])
            .context("cannot list HEAD's tree")?;
        let mut files = Vec::new();
        for rec in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let tab = memchr::memchr(b'\t', rec).context("unexpected output from git ls-tree")?;
            let head = std::str::from_utf8(&rec[..tab]).context("git ls-tree output")?;
            let parts: Vec<&str> = head.split(' ').collect();
            let [_mode, kind, id] = parts[..] else {
                bail!("unexpected output from git ls-tree");
            };
            if kind == "blob" {
                files.push(Change {
                    path: rec[tab + 1..].to_vec(),
                    old: None,
                    new: self.id(id)?,
                    worktree: false,
                });
            }
        }
        Ok(Some(files))
    }

    /// Commits listed by `git rev-list` for `args`, oldest first, each with its parents.
    pub fn rev_list(&self, args: &[&str]) -> Result<Vec<(ObjectId, Vec<ObjectId>)>> {
        let mut all = vec!["rev-list", "--topo-order", "--reverse", "--parents"];
        all.extend_from_slice(args);
        let out = self.git(&all)?;
        let text = String::from_utf8(out).context("git rev-list printed non-hex output")?;
        let listed: Vec<(ObjectId, Vec<ObjectId>)> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut ids = l.split(' ').map(|h| self.id(h));
                let commit = ids.next().context("empty rev-list line")??;
                Ok((commit, ids.collect::<Result<Vec<_>>>()?))
            })
            .collect::<Result<_>>()?;
        self.parents
            .borrow_mut()
            .extend(listed.iter().map(|(c, p)| (*c, p.clone())));
        Ok(listed)
    }

    /// A commit's parents, first parent first.
    pub fn parents(&self, commit: &ObjectId) -> Result<Vec<ObjectId>> {
        if let Some(known) = self.parents.borrow().get(commit) {
            return Ok(known.clone());
        }
        let spec = commit.to_string();
        let listed = self
            .rev_list(&["--no-walk", "--end-of-options", &spec])
            .with_context(|| format!("cannot read commit {commit}"))?;
        match listed.into_iter().next() {
            Some((_, parents)) => Ok(parents),
            None => bail!("git rev-list did not list commit {commit}"),
        }
    }

    /// Size and type of an object.
    pub fn object_size(&self, id: &ObjectId) -> Result<(usize, String)> {
        self.with_cat(|cat| cat.info(&id.to_string()))?
            .with_context(|| format!("object {id} is not in the repository"))
    }

    /// A blob's content.
    pub fn blob(&self, id: &ObjectId) -> Result<Vec<u8>> {
        self.with_cat(|cat| cat.blob(&id.to_string()))?
            .with_context(|| format!("blob {id} is not in the repository"))
    }

    /// The blob at `path` in `commit`'s tree; None when there is none (or the path cannot be
    /// named on cat-file's line-based input).
    pub fn blob_at(&self, commit: &ObjectId, path: &[u8]) -> Result<Option<Vec<u8>>> {
        let Ok(path) = std::str::from_utf8(path) else {
            return Ok(None);
        };
        if path.contains('\n') {
            return Ok(None);
        }
        self.with_cat(|cat| cat.blob(&format!("{commit}:{path}")))
    }

    fn with_cat<T>(&self, f: impl FnOnce(&mut CatFile) -> Result<T>) -> Result<T> {
        let mut slot = self.cat.borrow_mut();
        if slot.is_none() {
            *slot = Some(CatFile::start()?);
        }
        let cat = slot.as_mut().expect("just started");
        let result = f(cat);
        if result.is_err() {
            // Its stream position is unknown after a failure: never reuse it.
            *slot = None;
        }
        result
    }
}

/// `git <args>` in the current directory; its stdout, or an error with git's first stderr line.
pub fn run_git(stdin: Option<&[u8]>, args: &[&str]) -> Result<Vec<u8>> {
    let shown = format!("git {}", args.join(" "));
    let mut cmd = Command::new("git");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{shown}` (is git installed and on PATH?)"))?;
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("piped");
        w.write_all(input)
            .with_context(|| format!("cannot write to `{shown}`"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("`{shown}` did not finish"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        bail!(
            "`{}` failed ({}){}{}",
            crate::report::sanitize(&shown),
            out.status,
            if first.is_empty() { "" } else { ": " },
            crate::report::sanitize(first.trim())
        );
    }
    Ok(out.stdout)
}

/// One `git cat-file --batch-command` process: a request per line, answers in order.
struct CatFile {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl CatFile {
    fn start() -> Result<CatFile> {
        let mut child = Command::new("git")
            .args(["cat-file", "--batch-command"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot run `git cat-file --batch-command` (is git installed and on PATH?)")?;
        let input = child.stdin.take().expect("piped");
        let output = BufReader::new(child.stdout.take().expect("piped"));
        Ok(CatFile {
            child,
            input,
            output,
        })
    }

    /// Send one command and read the header line: Some((size, type)), or None for "missing".
    fn ask(&mut self, command: &str, name: &str) -> Result<Option<(usize, String)>> {
        writeln!(self.input, "{command} {name}")
            .and_then(|()| self.input.flush())
            .context("git cat-file stopped reading (did it exit?)")?;
        let mut line = String::new();
        let n = self
            .output
            .read_line(&mut line)
            .context("cannot read from git cat-file")?;
        if n == 0 {
            bail!("git cat-file exited while reading {name}");
        }
        let line = line.trim_end_matches('\n');
        if line.ends_with(" missing") || line.ends_with(" ambiguous") {
            return Ok(None);
        }
        // <id> <type> <size>
        let parts: Vec<&str> = line.split(' ').collect();
        let [_, kind, size] = parts[..] else {
            bail!(
                "unexpected answer from git cat-file for {name}: {}",
                crate::report::sanitize(line)
            );
        };
        let size = size
            .parse()
            .with_context(|| format!("git cat-file gave a bad size for {name}"))?;
        Ok(Some((size, kind.to_string())))
    }

    fn info(&mut self, name: &str) -> Result<Option<(usize, String)>> {
        self.ask("info", name)
    }

    fn blob(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some((size, kind)) = self.ask("contents", name)? else {
            return Ok(None);
        };
        let mut data = vec![0u8; size + 1];
        self.output
            .read_exact(&mut data)
            .with_context(|| format!("git cat-file cut {name} short"))?;
        if data.pop() != Some(b'\n') {
            bail!("git cat-file framed {name} wrongly");
        }
        if kind != "blob" {
            bail!("{name} is a {kind}, not a file's content");
        }
        Ok(Some(data))
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        // Closing its input ends it; wait so no zombie outlives the handle.
        let _ = self.input.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(hash_len: usize) -> GitCli {
        Layout {
            git_dir: PathBuf::from("/r/.git"),
            common_dir: PathBuf::from("/r/.git"),
            workdir: Some(PathBuf::from("/r")),
            hash_len,
            ref_storage: None,
        }
        .open()
    }

    fn hex(byte: u8, len: usize) -> String {
        format!("{byte:02x}").repeat(len)
    }

    #[test]
    fn raw_diff_records_become_changes() {
        let (a, b, z) = (hex(0xaa, 32), hex(0xbb, 32), hex(0, 32));
        let raw = [
            format!(":000000 100644 {z} {a} A\0new.py\0"),
            format!(":100644 100644 {a} {b} M\0mod.py\0"),
            format!(":100644 100644 {a} {b} R087\0old name\0new\nname\0"),
            format!(":100644 000000 {a} {z} D\0gone.py\0"),
            format!(":160000 160000 {a} {b} M\0sub\0"),
            format!(":100644 120000 {a} {b} T\0link\0"),
            format!(":160000 100644 {a} {b} T\0was-sub\0"),
        ]
        .concat();
        let got = cli(32).parse_raw(raw.as_bytes(), "test").unwrap();
        let files: Vec<(String, Option<String>, String, bool)> = got
            .files
            .iter()
            .map(|c| {
                (
                    String::from_utf8_lossy(&c.path).into_owned(),
                    c.old.map(|o| o.to_string()),
                    c.new.to_string(),
                    c.worktree,
                )
            })
            .collect();
        assert_eq!(
            files,
            vec![
                ("new.py".into(), None, a.clone(), true),
                ("mod.py".into(), Some(a.clone()), b.clone(), true),
                ("new\nname".into(), Some(a.clone()), b.clone(), true),
                ("link".into(), None, b.clone(), false),
                ("was-sub".into(), None, b.clone(), true),
            ]
        );
        assert_eq!(
            got.skipped,
            vec![(b"sub".to_vec(), "submodule (gitlink)".into())]
        );
    }

    #[test]
    fn raw_diff_refuses_what_it_cannot_account_for() {
        let (a, z) = (hex(0xaa, 32), hex(0, 32));
        let cases = [
            (
                "conflict",
                format!(":000000 000000 {z} {z} U\0c.py\0"),
                "conflicts",
            ),
            (
                "unknown status",
                format!(":100644 100644 {a} {a} X\0x\0"),
                "status X",
            ),
            (
                "sha-1 id in a sha-256 repository",
                format!(":000000 100644 {z} {} A\0x\0", hex(1, 20)),
                "hash",
            ),
            (
                "missing path",
                format!(":000000 100644 {z} {a} A"),
                "unexpected output",
            ),
            (
                "rename without its target",
                format!(":100644 100644 {a} {a} R100\0from\0"),
                "unexpected output",
            ),
            (
                "no colon",
                format!("100644 100644 {a} {a} M\0x\0"),
                "unexpected output",
            ),
            (
                "no staged object",
                format!(":000000 100644 {z} {z} A\0x\0"),
                "without a staged object",
            ),
        ];
        for (name, raw, want) in cases {
            let err = cli(32).parse_raw(raw.as_bytes(), "test").unwrap_err();
            assert!(format!("{err:#}").contains(want), "{name}: {err:#}");
        }
    }

    #[test]
    fn object_ids_of_both_sizes_round_trip() {
        for len in [20, 32] {
            let h = hex(0x5e, len);
            let id = ObjectId::from_hex(&h).unwrap();
            assert_eq!(id.to_string(), h);
            assert_eq!(id.as_bytes().len(), len);
            assert_eq!(id.to_oid().is_ok(), len == 20);
        }
        for bad in ["", "abc", &hex(0, 21), &"g".repeat(40)] {
            assert!(ObjectId::from_hex(bad).is_err(), "{bad}");
        }
        assert!(ObjectId::from_hex(&hex(0, 32)).unwrap().is_zero());
    }
}

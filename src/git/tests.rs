use super::*;

/// (name, old, new, expected added ranges)
type RangeCase<'a> = (&'a str, &'a str, &'a str, &'a [(u32, u32)]);

#[test]
fn added_ranges_table() {
    let cases: &[RangeCase] = &[
        ("new file", "", "a\nb\n", &[(1, 2)]),
        ("append", "a\n", "a\nb\n", &[(2, 1)]),
        ("modify middle", "a\nb\nc\n", "a\nB\nc\n", &[(2, 1)]),
        ("delete only", "a\nb\n", "a\n", &[]),
        (
            "two hunks",
            "a\nb\nc\nd\n",
            "A\nb\nc\nD\n",
            &[(1, 1), (4, 1)],
        ),
        ("no newline at end", "a", "a\nb", &[(1, 2)]),
    ];
    for (name, old, new, want) in cases {
        let got = added_ranges(old.as_bytes(), new.as_bytes()).unwrap();
        assert_eq!(got, *want, "{name}");
    }
}

/// What libgit2 says of the whole files, without the shared first and last lines set aside.
fn added_ranges_whole(old: &[u8], new: &[u8]) -> Vec<(u32, u32)> {
    let mut opts = DiffOptions::new();
    opts.context_lines(0).force_text(true).interhunk_lines(0);
    let patch = Patch::from_buffers(old, None, new, None, Some(&mut opts)).unwrap();
    (0..patch.num_hunks())
        .map(|i| patch.hunk(i).unwrap().0)
        .filter(|h| h.new_lines() > 0)
        .map(|h| (h.new_start(), h.new_lines()))
        .collect()
}

/// Setting the shared ends aside changes no answer: seeded edits (insertions, deletions,
/// replacements, at the ends too, with and without a final newline) of files whose lines are
/// all different, so that the diff is unambiguous and both routes must agree exactly.
#[test]
fn added_ranges_agree_with_the_whole_file_diff() {
    let mut rng = crate::test_rng::Rng(0x5eed_d1ff);
    for case in 0..400 {
        let n = rng.below(12);
        let mut old: Vec<String> = (0..n).map(|i| format!("line {case}.{i}")).collect();
        let mut new = old.clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(new.len() + 1);
            match rng.below(3) {
                0 => new.insert(at, format!("added {case}.{}", rng.next())),
                1 if at < new.len() => drop(new.remove(at)),
                _ if at < new.len() => new[at] = format!("changed {case}.{}", rng.next()),
                _ => new.push(format!("tail {case}")),
            }
        }
        let join = |lines: &[String], newline_at_end: bool| {
            let mut text = lines.join("\n");
            if newline_at_end && !lines.is_empty() {
                text.push('\n');
            }
            text.into_bytes()
        };
        let (old_nl, new_nl) = (rng.below(4) != 0, rng.below(4) != 0);
        if rng.below(5) == 0 {
            old.clear();
        }
        let (old, new) = (join(&old, old_nl), join(&new, new_nl));
        assert_eq!(
            added_ranges(&old, &new).unwrap(),
            added_ranges_whole(&old, &new),
            "case {case}: {:?} -> {:?}",
            String::from_utf8_lossy(&old),
            String::from_utf8_lossy(&new)
        );
    }
}

#[test]
fn added_ranges_handles_invalid_utf8_and_nul() {
    let got = added_ranges(b"x\n", b"x\n\xff\xfe\x00tok\n").unwrap();
    assert_eq!(got, vec![(2, 1)]);
}

/// The removed file with the most lines in common wins, boilerplate shared by many removed
/// files counts for none, and nothing in common pairs with nothing.
#[test]
fn closest_removed_picks_the_file_sharing_most_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repository::init(tmp.path()).unwrap();
    let blob = |text: &str| repo.blob(text.as_bytes()).unwrap();
    let boiler: String = (0..3).map(|i| format!("import common_{i}\n")).collect();
    let few = blob(&format!("{boiler}a = 1\n"));
    let many = blob(&format!("{boiler}a = 1\nb = 2\nc = 3\n"));
    let mut removed = vec![few, many];
    // Boilerplate in more than PAIR_COMMON_LINE removed files is left out.
    for i in 0..PAIR_COMMON_LINE {
        removed.push(blob(&format!("{boiler}other_{i} = 0\n")));
    }
    let candidates = removed_lines(&repo, &removed).unwrap();
    let grown = blob(&format!("{boiler}a = 1\nb = 2\nc = 3\nd = 4\n"));
    assert_eq!(
        closest_removed(&repo, grown, &candidates).unwrap(),
        Some(many)
    );
    let only_boiler = blob(&format!("{boiler}z = 9\n"));
    assert_eq!(
        closest_removed(&repo, only_boiler, &candidates).unwrap(),
        None
    );
    let binary = repo.blob(b"a = 1\n\0b = 2\n").unwrap();
    assert_eq!(closest_removed(&repo, binary, &candidates).unwrap(), None);
}

#[test]
fn path_is_under_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("a/b.py", "a", true),
        ("a/b.py", "a/", true),
        ("a/b.py", "a/b.py", true),
        ("ab/c.py", "a", false),
        ("a", "a/b", false),
        ("x.py", "", true),
    ];
    for (path, prefix, want) in cases {
        assert_eq!(
            path_is_under(path.as_bytes(), prefix.as_bytes()),
            *want,
            "{path} {prefix}"
        );
    }
}

/// git resolves a relative GIT_INDEX_FILE against the top of the work tree (where it runs
/// hooks), whatever the current directory; unset or empty means the repository's index.
#[test]
fn relative_index_file_is_resolved_against_the_work_tree_not_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let top = repo.workdir().unwrap().to_path_buf();
    let os = |s: &str| Some(std::ffi::OsString::from(s));
    assert_eq!(
        index_file(&repo, os(".git/index")),
        (top.join(".git/index"), true)
    );
    assert_eq!(
        index_file(&repo, os("/tmp/x/index.lock")),
        (PathBuf::from("/tmp/x/index.lock"), true)
    );
    for unset in [None, os("")] {
        assert_eq!(index_file(&repo, unset), (repo.path().join("index"), false));
    }
}

/// A diff's changes as sortable, comparable tuples.
type Flat = Vec<(String, Option<ObjectId>, ObjectId)>;

/// The staged diff through leakgate's index reader (cache-tree pruning, in-memory index)
/// and through libgit2's own index, on the same repository: they must agree exactly.
fn both_ways(dir: &Path) -> (Flat, Flat) {
    let repo = Repository::open(dir).unwrap();
    let direct = StagedIndex::read(&repo, &repo.path().join("index"), false).unwrap();
    assert!(matches!(direct, StagedIndex::Direct(_)), "read directly");
    let libgit2 = StagedIndex::Libgit2(repo.index().unwrap());
    let flat = |c: Changes| {
        let mut v: Vec<_> = c
            .files
            .into_iter()
            .map(|c| (String::from_utf8_lossy(&c.path).into_owned(), c.old, c.new))
            .chain(c.skipped.into_iter().map(|(p, why)| {
                (
                    format!("{} ({why})", String::from_utf8_lossy(&p)),
                    None,
                    ObjectId::from(Oid::zero()),
                )
            }))
            .collect();
        v.sort();
        v
    };
    (
        flat(direct.staged(&repo).unwrap()),
        flat(libgit2.staged(&repo).unwrap()),
    )
}

/// git with an isolated configuration (nothing of the outer environment leaks in).
fn git(dir: &Path, args: &[&str]) {
    let mut c = std::process::Command::new("git");
    c.current_dir(dir).args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            c.env_remove(k);
        }
    }
    let out = c
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn direct_index_reader_agrees_with_libgit2_on_random_histories() {
    use crate::test_rng::Rng;
    // Names chosen to sit around '/' in git's orderings: "a-b" < "a.b" < "a/" < "a0" < "ab".
    const NAMES: &[&str] = &["a", "a-b", "a.b", "a0", "ab", "d", "x.py"];
    for seed in 1..=12u64 {
        let mut rng = Rng(0x1dec_0000 + seed);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        let path = |rng: &mut Rng| {
            let depth = 1 + rng.below(3);
            (0..depth)
                .map(|_| NAMES[rng.below(NAMES.len())])
                .collect::<Vec<_>>()
                .join("/")
        };
        let write = |rel: &str, n: u64| {
            let p = dir.join(rel);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            }
            let parent = p.parent().unwrap();
            // A file where a directory is wanted: replace it (a type flip).
            let mut up = parent;
            while up != dir {
                if up.is_file() || up.is_symlink() {
                    std::fs::remove_file(up).unwrap();
                    break;
                }
                up = up.parent().unwrap();
            }
            std::fs::create_dir_all(parent).unwrap();
            let _ = std::fs::remove_file(&p);
            std::fs::write(
                &p,
                format!("line {n}\nshared line\n").repeat(1 + n as usize % 5),
            )
            .unwrap();
        };
        for _ in 0..25 {
            let rel = path(&mut rng);
            write(&rel, rng.next() % 1000);
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "base"]);
        for round in 0..8 {
            for _ in 0..1 + rng.below(4) {
                let rel = path(&mut rng);
                match rng.below(6) {
                    0 | 1 => write(&rel, rng.next() % 1000),
                    2 => {
                        let p = dir.join(&rel);
                        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
                    }
                    3 => {
                        let to = path(&mut rng);
                        if dir.join(&rel).exists()
                            && !dir.join(&to).exists()
                            && !to.starts_with(&rel)
                        {
                            write(&to, 0);
                            std::fs::remove_file(dir.join(&to)).unwrap();
                            std::fs::rename(dir.join(&rel), dir.join(&to)).unwrap();
                        }
                    }
                    4 => {
                        let p = dir.join(&rel);
                        if !p.exists() {
                            write(&rel, 0);
                            std::fs::remove_file(&p).unwrap();
                            std::os::unix::fs::symlink("x.py", &p).unwrap();
                        }
                    }
                    _ => git(dir, &["write-tree"]), // primes the cache-tree
                }
            }
            git(dir, &["add", "-A"]);
            if rng.below(3) == 0 {
                git(dir, &["write-tree"]);
            }
            if round == 4 {
                git(dir, &["update-index", "--index-version", "4"]);
            }
            let (direct, libgit2) = both_ways(dir);
            assert_eq!(direct, libgit2, "seed {seed} round {round}");
            if rng.below(2) == 0 {
                git(dir, &["commit", "-q", "--allow-empty", "-m", "next"]);
            }
        }
    }
}

/// A tree written from `files` (path -> (content, mode)), directories made as the paths say.
fn write_tree(repo: &Repository, files: &std::collections::BTreeMap<String, (String, i32)>) -> Oid {
    fn build(repo: &Repository, files: &[(&str, &(String, i32))]) -> Oid {
        let mut tb = repo.treebuilder(None).unwrap();
        let mut i = 0;
        while i < files.len() {
            let (path, (content, mode)) = files[i];
            match path.split_once('/') {
                None => {
                    let id = if *mode == 0o160000 {
                        Oid::hash_object(git2::ObjectType::Blob, content.as_bytes()).unwrap()
                    } else {
                        repo.blob(content.as_bytes()).unwrap()
                    };
                    tb.insert(path, id, *mode).unwrap();
                    i += 1;
                }
                Some((dir, _)) => {
                    let below: Vec<(&str, &(String, i32))> = files[i..]
                        .iter()
                        .take_while(|(p, _)| p.split_once('/').is_some_and(|(d, _)| d == dir))
                        .map(|(p, f)| (&p[dir.len() + 1..], *f))
                        .collect();
                    i += below.len();
                    let id = build(repo, &below);
                    tb.insert(dir, id, 0o040000).unwrap();
                }
            }
        }
        tb.write().unwrap()
    }
    let list: Vec<(&str, &(String, i32))> = files.iter().map(|(p, f)| (p.as_str(), f)).collect();
    build(repo, &list)
}

/// Issue 15: a commit's changes come from comparing its trees directory by directory and
/// handing libgit2 only the paths that differ. On seeded histories (edits, additions, deletions,
/// moves across directories, mode and type changes, a file replaced by a directory and back,
/// gitlinks, whole subtrees removed) that lists exactly what libgit2's diff of the two whole
/// trees lists.
#[test]
fn commit_changes_agree_with_the_whole_tree_diff() {
    use std::collections::BTreeMap;
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repository::init(tmp.path()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let mut rng = crate::test_rng::Rng(0x5eed_7e55);
    let dirs = ["", "a/", "a/b/", "a/b/c/", "d/", "d/e/", "f/"];
    let mut files: BTreeMap<String, (String, i32)> = BTreeMap::new();
    let mut parent: Option<Oid> = None;
    let shape = |c: &Changes| {
        let mut files: Vec<_> = c
            .files
            .iter()
            .map(|f| (f.path.clone(), f.old, f.new))
            .collect();
        files.sort();
        let mut links: Vec<_> = c
            .gitlinks
            .iter()
            .map(|g| (g.path.clone(), g.old, g.new))
            .collect();
        links.sort();
        (files, links)
    };
    let mut compared = 0;
    for step in 0..120 {
        for _ in 0..=rng.below(4) {
            let names: Vec<String> = files.keys().cloned().collect();
            let pick = names.get(rng.below(names.len())).cloned();
            match (rng.below(8), pick) {
                (0, Some(p)) => drop(files.remove(&p)),
                (1, Some(p)) => {
                    // Moved to another directory, perhaps edited.
                    let (content, mode) = files.remove(&p).unwrap();
                    let name = p.rsplit('/').next().unwrap().to_string();
                    let to = format!("{}{name}", dirs[rng.below(dirs.len())]);
                    let content = if rng.below(2) == 0 {
                        content
                    } else {
                        format!("{content}edit {step}\n")
                    };
                    files.retain(|k, _| !k.starts_with(&format!("{to}/")));
                    files.insert(to, (content, mode));
                }
                (2, Some(p)) => {
                    let f = files.get_mut(&p).unwrap();
                    f.1 = match f.1 {
                        0o100644 => 0o100755,
                        0o100755 => 0o120000,
                        _ => 0o100644,
                    };
                }
                (3, Some(p)) if !p.contains('/') => {
                    // A file replaced by a directory of the same name.
                    files.remove(&p);
                    files.insert(
                        format!("{p}/inner.txt"),
                        (format!("inner {step}\n"), 0o100644),
                    );
                }
                (4, _) => {
                    let dir = dirs[rng.below(dirs.len())];
                    files.retain(|k, _| !k.starts_with(dir) || dir.is_empty());
                }
                (5, _) => {
                    let path = format!("{}sub{}", dirs[rng.below(dirs.len())], rng.below(3));
                    if !files.keys().any(|k| k.starts_with(&format!("{path}/"))) {
                        files.insert(path, (format!("commit {step}"), 0o160000));
                    }
                }
                (_, pick) => {
                    let path = match pick {
                        Some(p) if rng.below(2) == 0 => p,
                        _ => format!("{}file{}.txt", dirs[rng.below(dirs.len())], rng.below(6)),
                    };
                    // A path under an existing file, or a directory's name, cannot be a file.
                    let blocked = files.keys().any(|k| {
                        path.starts_with(&format!("{k}/")) || k.starts_with(&format!("{path}/"))
                    });
                    if !blocked {
                        let lines: String = (0..1 + rng.below(5))
                            .map(|i| format!("line {i} of {path} at {step}\n"))
                            .collect();
                        files.insert(path, (lines, 0o100644));
                    }
                }
            }
        }
        let tree = repo.find_tree(write_tree(&repo, &files)).unwrap();
        let parents: Vec<git2::Commit<'_>> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let id = repo
            .commit(None, &sig, &sig, &format!("step {step}"), &tree, &refs)
            .unwrap();
        let commit = repo.find_commit(id).unwrap();
        let got = commit_changes(&repo, &commit).unwrap();
        let parent_tree = parents.first().map(|p| p.tree().unwrap());
        let mut opts = diff_options();
        let mut diff = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))
            .unwrap();
        let want = collect(&repo, &mut diff).unwrap();
        assert_eq!(shape(&got), shape(&want), "step {step}");
        compared += got.files.len() + got.gitlinks.len();
        parent = Some(id);
    }
    assert!(compared > 200, "{compared} changes compared");
}

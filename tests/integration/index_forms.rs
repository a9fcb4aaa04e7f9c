//! `check-staged` across the index forms git writes and the ways the working tree can disagree
//! with what is staged: versions 2, 3 and 4 (path compression), extended flags (intent-to-add,
//! skip-worktree), with a fully valid cache-tree and with none, split and sparse indexes,
//! `index.skipHash`, tree-order traps, type flips, directory renames, and working-tree files
//! that are edited, filtered, or replaced by a directory, FIFO or symlink after staging.
//!
//! leakgate reads the index itself (skipping directories by cache-tree) and reads large staged
//! files from the working tree when they hash to the staged blob; these tests were written
//! against the earlier libgit2-only reader and pin that every outcome stayed the same.
//! Invariants the tests keep:
//! - each test first proves its precondition from the index bytes (`IndexShape`): the version,
//!   which extensions are present, whether every cache-tree node is valid, a zero checksum;
//! - each asserts the exact set of (path, line, secret) findings, or for a clean case the exact
//!   number of lines scanned, so a change in what is scanned cannot pass unnoticed;
//! - working-tree scenarios run for a small file (< 4 KiB) and a large one (~300 KiB) of
//!   exactly the same size as the staged blob, so only its content can tell them apart.

use std::path::Path;

use serde_json::Value;

use crate::harness::*;

/// Repository-relative path of the index these tests inspect (no GIT_INDEX_FILE is set).
const INDEX: &str = ".git/index";

// ---------------------------------------------------------------------------------------------
// Index versions and extended flags.

#[test]
fn index_v4_deep_secret_among_prefix_compressed_siblings_is_located() {
    let r = TestRepo::new();
    r.git(&["update-index", "--index-version", "4"]);
    for i in 0..60 {
        r.write(&format!("src/pkg/sub/deep/mod_{i:02}.py"), numbered(i));
        r.write(&format!("src/pkg/sub/deeper/x{i:02}.py"), numbered(100 + i));
    }
    r.write("src/pkg/z.py", "z = 1\n");
    r.write("src/a.py", "a = 1\n");
    r.git(&["add", "-A"]);
    r.commit("siblings");

    r.stage(
        "src/pkg/sub/deep/conf.py",
        format!("import os\n\nTOKEN = '{HF_A}'\n"),
    );
    r.stage(
        "src/pkg/sub/deep/mod_41.py",
        format!("{}K = '{HF_B}'\n", numbered(41)),
    );
    r.stage("src/pkg/z.py", "z = 2\n");
    assert_eq!(index_shape(&r).version, 4, "precondition: index v4");
    let v = expect_hits(
        &r,
        &[
            hit("src/pkg/sub/deep/conf.py", 3, HF_A),
            hit("src/pkg/sub/deep/mod_41.py", 4, HF_B),
        ],
    );
    assert_eq!(v["scanned"]["lines"], 3 + 1 + 1, "{v:#}");

    // Unstaged again, only the clean change: nothing found, one line scanned.
    r.git(&["reset", "-q"]);
    r.git(&["add", "src/pkg/z.py"]);
    assert_eq!(index_shape(&r).version, 4, "precondition: still v4");
    assert_scanned(&r.check_json(0), 1, 1);
}

/// An intent-to-add entry (`git add -N`) records an empty blob and the promise of a file: git
/// does not commit it (the commit's tree lacks it), so its working-tree secret is not staged.
/// Current behaviour: exit 0, only the normally staged file's line is scanned (the empty
/// intent-to-add entry adds no line). Once `git commit -a` stages the real content into its
/// temporary index, the hook finds it.
#[test]
fn intent_to_add_secret_is_not_staged_until_commit_a_stages_it() {
    let r = TestRepo::new();
    r.stage("base.py", "x = 1\n");
    r.commit("c1");
    r.write("ita.py", format!("T = '{HF_A}'\n"));
    r.git(&["add", "-N", "ita.py"]);
    r.stage("clean.py", "y = 1\n");
    assert_eq!(index_shape(&r).version, 3, "precondition: extended flags");
    let v = r.check_json(0);
    assert_eq!(v["scanned"]["lines"], 1, "{v:#}");
    assert_eq!(v["scanned"]["bytes"], 6, "{v:#}");

    r.install_hook();
    r.git(&["commit", "-q", "-m", "clean"]);
    let tree = r.git(&["ls-tree", "--name-only", "HEAD"]).stdout;
    assert_eq!(tree, "base.py\nclean.py\n", "git did not commit ita.py");
    let before = r.head();
    let commit_a = r.try_git(&["commit", "-a", "-m", "leak"]);
    assert_ne!(commit_a.code, 0, "{}", commit_a.dump());
    assert!(
        commit_a.stderr.contains("ita.py:1:6"),
        "{}",
        commit_a.dump()
    );
    assert_eq!(r.head(), before);
}

#[test]
fn skip_worktree_entry_does_not_disturb_a_finding_elsewhere() {
    let r = TestRepo::new();
    r.stage("skipped.txt", "plain\n");
    r.stage("g.py", "g = 1\n");
    r.commit("c1");
    r.git(&["update-index", "--skip-worktree", "skipped.txt"]);
    // git ignores this edit (skip-worktree): it is neither staged nor to be reported.
    r.write("skipped.txt", format!("plain\nT = '{HF_B}'\n"));
    r.stage("g.py", format!("g = 1\nT = '{HF_A}'\n"));
    assert_eq!(index_shape(&r).version, 3, "precondition: extended flags");
    assert_skip_worktree(&r, "skipped.txt");
    let v = expect_hits(&r, &[hit("g.py", 2, HF_A)]);
    assert_scanned(&v, 1, 1);
}

/// A blob staged at a skip-worktree path (`update-index --cacheinfo`) is committed whatever the
/// working tree holds, so it is scanned from the blob, next to a same-size clean file on disk.
#[test]
fn secret_staged_at_a_skip_worktree_path_is_read_from_the_blob() {
    for (label, lines) in SIZES {
        let r = TestRepo::new();
        let path = format!("{label}.txt");
        let (clean, _) = doc(lines, &masked(HF_A));
        r.stage(&path, &clean);
        r.commit("c1");
        let (secret, line) = doc(lines, HF_A);
        let blob = write_blob(&r, &secret);
        r.git(&[
            "update-index",
            "--cacheinfo",
            &format!("100644,{blob},{path}"),
        ]);
        r.git(&["update-index", "--skip-worktree", &path]);
        assert_skip_worktree(&r, &path);
        assert_eq!(std::fs::read(r.dir.join(&path)).unwrap(), clean.as_bytes());
        expect_hits(&r, &[hit(&path, line, HF_A)]);
    }
}

// ---------------------------------------------------------------------------------------------
// The cache-tree: fully valid, valid but unlike HEAD, replaced wholesale, absent.

#[test]
fn valid_cache_tree_with_one_deep_change_is_found() {
    let r = TestRepo::new();
    many_dirs(&r);
    r.stage(
        "d23/inner/f07.py",
        format!("{}K = '{HF_A}'\n", numbered(2317)),
    );
    r.stage("d23/inner/deeper/new.py", format!("T = '{HF_B}'\n"));
    r.git(&["write-tree"]);
    assert_cache_tree_valid(&r);
    let v = expect_hits(
        &r,
        &[
            hit("d23/inner/deeper/new.py", 1, HF_B),
            hit("d23/inner/f07.py", 4, HF_A),
        ],
    );
    assert_scanned(&v, 2, 2);
}

/// After `reset --soft HEAD~1` every cache-tree node is valid and describes the undone commit,
/// not HEAD: a reader that took "valid" for "unchanged" would miss its secrets.
#[test]
fn soft_reset_leaves_a_valid_cache_tree_unlike_head_and_its_secrets_are_found() {
    let r = TestRepo::new();
    many_dirs(&r);
    r.stage("d31/x/y/new.py", format!("T = '{HF_A}'\n"));
    r.stage("d05/f02.py", format!("{}K = '{HF_B}'\n", numbered(502)));
    r.commit("secrets");
    r.git(&["reset", "--soft", "HEAD~1"]);
    assert_cache_tree_valid(&r);
    expect_hits(
        &r,
        &[hit("d05/f02.py", 4, HF_B), hit("d31/x/y/new.py", 1, HF_A)],
    );
}

/// `git read-tree` replaces the whole index (with a primed cache-tree) by another commit's tree;
/// what differs from HEAD is what the next commit records.
#[test]
fn read_tree_of_another_commit_is_diffed_against_head() {
    let r = TestRepo::new();
    many_dirs(&r);
    r.git(&["checkout", "-q", "-b", "side"]);
    r.stage("d05/f03.py", format!("{}K = '{HF_A}'\n", numbered(503)));
    r.git(&["rm", "-q", "-r", "d06"]);
    r.stage("d40/new.py", format!("T = '{HF_B}'\n"));
    r.commit("side");
    r.git(&["checkout", "-q", "main"]);
    r.git(&["read-tree", "side"]);
    assert_cache_tree_valid(&r);
    let v = expect_hits(
        &r,
        &[hit("d05/f03.py", 4, HF_A), hit("d40/new.py", 1, HF_B)],
    );
    assert_scanned(&v, 2, 2);
}

#[test]
fn index_without_a_cache_tree_is_diffed_entry_by_entry() {
    let r = TestRepo::new();
    many_dirs(&r);
    // A fresh index built by `git add` carries no cache-tree at all.
    std::fs::remove_file(r.dir.join(INDEX)).unwrap();
    r.git(&["add", "-A"]);
    r.stage(
        "d12/inner/f03.py",
        format!("{}K = '{HF_A}'\n", numbered(1213)),
    );
    let shape = index_shape(&r);
    assert!(
        shape.cache_tree.is_none(),
        "precondition: no TREE extension\n{shape:?}"
    );
    let v = expect_hits(&r, &[hit("d12/inner/f03.py", 4, HF_A)]);
    assert_scanned(&v, 1, 1);
}

// ---------------------------------------------------------------------------------------------
// Type flips, tree order, directory renames.

#[test]
fn file_replaced_by_a_directory_is_scanned_below_it() {
    let r = TestRepo::new();
    for p in ["a", "a-b.py", "a0.py"] {
        r.stage(p, format!("# {p}\n"));
    }
    r.commit("c1");
    r.git(&["rm", "-q", "a"]);
    r.stage("a/b.py", format!("import os\nK = '{HF_A}'\n"));
    let v = expect_hits(&r, &[hit("a/b.py", 2, HF_A)]);
    assert_scanned(&v, 1, 2);
}

#[test]
fn directory_replaced_by_a_file_is_scanned_as_that_file() {
    let r = TestRepo::new();
    r.stage("d/x.py", "x = 1\n");
    r.stage("d/y.py", "y = 2\n");
    r.stage("d.py", "z = 3\n");
    r.commit("c1");
    r.git(&["rm", "-q", "-r", "d"]);
    r.stage("d", format!("K = '{HF_A}'\n"));
    let v = expect_hits(&r, &[hit("d", 1, HF_A)]);
    assert_scanned(&v, 1, 1);
}

/// A typechange is scanned whole: the symlink's blob (its target path) and then, back to a
/// regular file, every line of it, even one that HEAD~1 held (HEAD is a symlink).
#[test]
fn file_to_symlink_and_back_is_scanned_whole_each_time() {
    let r = TestRepo::new();
    let regular = format!("x = 1\nK = '{HF_A}'\n");
    r.stage("f.py", &regular);
    r.commit("regular");

    relink(&r, "f.py", "g.py");
    let v = r.check_json(0);
    assert_eq!(
        v["scanned"],
        serde_json::json!({"files": 1, "lines": 1, "bytes": 4})
    );
    relink(&r, "f.py", HF_B);
    expect_hits(&r, &[hit("f.py", 1, HF_B)]);
    r.commit("symlink");

    std::fs::remove_file(r.dir.join("f.py")).unwrap();
    r.stage("f.py", &regular);
    let v = expect_hits(&r, &[hit("f.py", 2, HF_A)]);
    assert_scanned(&v, 1, 2);
}

/// Git orders a tree's entries as if directory names ended in '/': `a-b/` < `a.b` < `a/` < `a0`
/// < `ab/`. Changed and unchanged neighbours interleave, with a valid cache-tree for the
/// unchanged directories, in both directions.
#[test]
fn tree_order_neighbours_are_each_diffed_exactly() {
    let r = TestRepo::new();
    for p in ORDER_TRAPS {
        r.stage(p, format!("# {p}\nv = 1\n"));
    }
    r.commit("c1");
    let secret_line = |p: &str, tok: &str| format!("# {p}\nv = 1\nK = '{tok}'\n");
    for (p, tok) in [("a-b/x.py", HF_A), ("a.b", HF_B), ("a0", HF_C)] {
        r.stage(p, secret_line(p, tok));
    }
    r.git(&["write-tree"]);
    assert_cache_tree_valid(&r);
    let v = expect_hits(
        &r,
        &[
            hit("a-b/x.py", 3, HF_A),
            hit("a.b", 3, HF_B),
            hit("a0", 3, HF_C),
        ],
    );
    assert_scanned(&v, 3, 3);
    r.commit("c2");

    for (p, tok) in [("a/x.py", HF_A), ("ab/x.py", HF_B)] {
        r.stage(p, secret_line(p, tok));
    }
    r.stage("a/a/new.py", format!("K = '{HF_C}'\n"));
    r.git(&["write-tree"]);
    assert_cache_tree_valid(&r);
    let v = expect_hits(
        &r,
        &[
            hit("a/a/new.py", 1, HF_C),
            hit("a/x.py", 3, HF_A),
            hit("ab/x.py", 3, HF_B),
        ],
    );
    assert_scanned(&v, 3, 3);
}

#[test]
fn directory_rename_without_edits_scans_no_lines() {
    let r = lib_dir_committed();
    r.git(&["mv", "lib", "newlib"]);
    let v = r.check_json(0);
    assert_eq!(v["scanned"]["lines"], 0, "{v:#}");
    assert_eq!(v["scanned"]["bytes"], 0, "{v:#}");
}

#[test]
fn directory_rename_with_one_added_line_reports_only_it() {
    let r = lib_dir_committed();
    r.git(&["mv", "lib", "newlib"]);
    r.stage("newlib/m2.py", format!("{}N = '{HF_B}'\n", numbered(2)));
    let v = expect_hits(&r, &[hit("newlib/m2.py", 4, HF_B)]);
    assert_eq!(v["scanned"]["lines"], 1, "{v:#}");
}

#[test]
fn deleting_a_directory_with_a_committed_secret_is_clean() {
    let r = lib_dir_committed();
    r.git(&["rm", "-q", "-r", "lib"]);
    r.leakgate(&["check-staged"])
        .code(0)
        .stderr_has("scanned 0 files, 0 lines");
}

// ---------------------------------------------------------------------------------------------
// Split index, sparse index, skipHash.

/// A split index (`core.splitIndex`) keeps most entries in `.git/sharedindex.<hash>`; the
/// index file holds replacements (nameless entries over shared ones), deletions (a bitmap) and
/// additions. Each kind carries or hides a secret here, and the findings are exactly those of
/// the same staging without a split index.
#[test]
fn split_index_replacements_deletions_and_additions_are_merged_like_git() {
    let r = TestRepo::new();
    r.git(&["config", "splitIndex.maxPercentChange", "100"]);
    for i in 0..6 {
        r.write(&format!("d/m{i}.py"), numbered(i));
    }
    r.write("d/gone.py", format!("{}K = '{HF_C}'\n", numbered(7)));
    // Entries as new as the index file are racily clean: git refreshes them on the next write,
    // which stores them in the split file as replacements. Files a second older are settled,
    // and every entry goes to the shared index.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    r.git(&["add", "-A"]);
    r.commit("c1");
    r.git(&["update-index", "--split-index"]);
    // A replacement of a shared entry, a deletion of one, and an addition.
    r.stage("d/m2.py", format!("{}T = '{HF_A}'\n", numbered(2)));
    r.git(&["rm", "-q", "d/gone.py"]);
    r.stage("d/new.py", format!("T = '{HF_B}'\n"));
    let shape = index_shape(&r);
    assert!(shape.has("link"), "precondition: split index\n{shape:?}");
    assert_eq!(
        (shape.entries, shape.nameless),
        (2, 1),
        "precondition: one replacement and one addition in the split file\n{shape:?}"
    );
    let v = expect_hits(&r, &[hit("d/m2.py", 4, HF_A), hit("d/new.py", 1, HF_B)]);
    assert_scanned(&v, 2, 2);

    // The same staging read through a plain index gives the same answer.
    r.git(&["update-index", "--no-split-index"]);
    assert!(!index_shape(&r).has("link"), "precondition: plain index");
    expect_hits(&r, &[hit("d/m2.py", 4, HF_A), hit("d/new.py", 1, HF_B)]);
}

/// A split index whose shared index is gone or damaged cannot be read: exit 2 naming the
/// shared index file, never "nothing staged".
#[test]
fn split_index_without_its_shared_index_fails_closed() {
    let r = TestRepo::new();
    r.git(&["config", "splitIndex.maxPercentChange", "100"]);
    r.stage("a.py", "a = 1\n");
    r.commit("c1");
    r.git(&["update-index", "--split-index"]);
    r.stage("b.py", format!("T = '{HF_A}'\n"));
    let shared: Vec<_> = std::fs::read_dir(r.dir.join(".git"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sharedindex.")
        })
        .collect();
    assert_eq!(shared.len(), 1, "precondition: one shared index");
    let bytes = std::fs::read(&shared[0]).unwrap();
    let mut damaged = bytes.clone();
    let n = damaged.len();
    damaged[n - 1] ^= 1;
    std::fs::write(&shared[0], &damaged).unwrap();
    assert_fails_closed(
        &r.leakgate(&["check-staged", "--format", "json"]),
        &["cannot read the shared index", "sharedindex."],
    );
    std::fs::remove_file(&shared[0]).unwrap();
    assert_fails_closed(
        &r.leakgate(&["check-staged", "--format", "json"]),
        &["cannot read the shared index", "sharedindex."],
    );
    std::fs::write(&shared[0], &bytes).unwrap();
    expect_hits(&r, &[hit("b.py", 1, HF_A)]);
}

/// A sparse checkout without a sparse index (skip-worktree entries) is scanned as usual. With
/// `--sparse-index` the index folds directories outside the cone into single entries ("sdir"):
/// a secret inside the cone is found, and a folded directory whose tree differs from HEAD's (a
/// soft reset leaves one) is expanded and its new secret found too.
#[test]
fn sparse_index_is_read_and_changed_folded_directories_are_expanded() {
    let r = TestRepo::new();
    r.stage("d/a.py", "a = 1\n");
    r.stage("e/b.py", "b = 1\n");
    r.stage("e/deep/c.py", "c = 1\n");
    r.commit("c1");
    r.git(&["sparse-checkout", "set", "--no-sparse-index", "d"]);
    r.stage("d/n.py", format!("T = '{HF_A}'\n"));
    assert_skip_worktree(&r, "e/b.py");
    expect_hits(&r, &[hit("d/n.py", 1, HF_A)]);

    r.git(&["sparse-checkout", "set", "--sparse-index", "d"]);
    let shape = index_shape(&r);
    assert!(shape.has("sdir"), "precondition: sparse index\n{shape:?}");
    let listed = r.git(&["ls-files", "--sparse"]).stdout;
    assert_eq!(
        listed, "d/a.py\nd/n.py\ne/\n",
        "precondition: e/ is one entry"
    );
    let v = expect_hits(&r, &[hit("d/n.py", 1, HF_A)]);
    assert_scanned(&v, 1, 1);

    // A commit that changed e/ (made without the sparse index), then a soft reset: the index
    // keeps e/ folded at the newer tree, HEAD has the older one.
    r.commit("c2");
    r.git(&["sparse-checkout", "disable"]);
    r.stage("e/deep/c.py", format!("c = 1\nT = '{HF_B}'\n"));
    r.commit("c3");
    r.git(&["sparse-checkout", "set", "--sparse-index", "d"]);
    r.git(&["reset", "--soft", "HEAD~1"]);
    let listed = r.git(&["ls-files", "--sparse"]).stdout;
    assert_eq!(listed, "d/a.py\nd/n.py\ne/\n", "precondition: e/ folded");
    assert!(index_shape(&r).has("sdir"), "precondition: sparse index");
    let v = expect_hits(&r, &[hit("e/deep/c.py", 2, HF_B)]);
    assert_scanned(&v, 1, 1);
    // A path named inside the folded directory is scanned whole, from its staged blob.
    let named = r.leakgate(&["check-staged", "--format", "json", "e/deep"]);
    named.code(1);
    assert_eq!(finding_field(&named.json(), "path"), ["e/deep/c.py"]);
}

/// `index.skipHash` (git 2.40+) writes an all-zero trailing checksum; current behaviour: the
/// index is read and the secrets found, whether the option is given once or set in the config.
#[test]
fn skip_hash_index_is_read_and_its_secrets_found() {
    let r = TestRepo::new();
    r.stage("a.py", "a = 1\n");
    r.commit("c1");
    r.write("a.py", format!("a = 1\nT = '{HF_A}'\n"));
    r.git(&["-c", "index.skipHash=true", "add", "a.py"]);
    assert!(index_shape(&r).zero_checksum, "precondition: skipHash");
    expect_hits(&r, &[hit("a.py", 2, HF_A)]);

    r.git(&["config", "index.skipHash", "true"]);
    r.stage("b.py", format!("T = '{HF_B}'\n"));
    assert!(index_shape(&r).zero_checksum, "precondition: skipHash");
    expect_hits(&r, &[hit("a.py", 2, HF_A), hit("b.py", 1, HF_B)]);
}

/// `feature.manyFiles` turns on index v4 and skipHash together for a new index.
#[test]
fn many_files_feature_index_v4_without_checksum_is_read() {
    let r = TestRepo::new();
    r.git(&["config", "feature.manyFiles", "true"]);
    r.stage("src/a.py", "a = 1\n");
    r.commit("c1");
    r.stage("src/b.py", format!("T = '{HF_A}'\n"));
    let shape = index_shape(&r);
    assert!(
        shape.version == 4 && shape.zero_checksum,
        "precondition: v4, skipHash\n{shape:?}"
    );
    expect_hits(&r, &[hit("src/b.py", 1, HF_A)]);
}

// ---------------------------------------------------------------------------------------------
// Working tree against staged content: the staged blob is what is scanned.

#[test]
fn staged_secret_is_found_when_the_worktree_copy_is_clean_and_the_same_size() {
    let r = old_docs_committed();
    let mut want = Vec::new();
    for (label, lines) in SIZES {
        let (secret, line) = doc(lines, HF_A);
        for path in [format!("{label}/new.txt"), format!("{label}/old.txt")] {
            r.stage(&path, &secret);
            r.write(&path, doc(lines, &masked(HF_A)).0);
            want.push(hit(&path, line, HF_A));
        }
    }
    expect_hits(&r, &want);
}

#[test]
fn clean_staged_file_stays_clean_when_the_worktree_copy_has_a_same_size_secret() {
    let r = old_docs_committed();
    let mut lines_added = 0;
    for (label, lines) in SIZES {
        let (clean, _) = doc(lines, &masked(HF_A));
        for path in [format!("{label}/new.txt"), format!("{label}/old.txt")] {
            r.stage(&path, &clean);
            r.write(&path, doc(lines, HF_A).0);
        }
        lines_added += clean.lines().count() + 1;
    }
    let v = r.check_json(0);
    assert_eq!(v["scanned"]["lines"], lines_added, "{v:#}");
}

#[test]
fn staged_path_replaced_by_a_directory_reports_the_staged_content() {
    staged_content_wins(|r, path, _| {
        std::fs::remove_file(path).unwrap();
        // An untracked secret below it is not staged either.
        r.write(
            &format!("{}/inner.txt", rel(r, path)),
            format!("T = '{HF_C}'\n"),
        );
    });
}

#[test]
fn staged_path_replaced_by_a_fifo_reports_the_staged_content() {
    staged_content_wins(|r, path, _| {
        std::fs::remove_file(path).unwrap();
        let made = r
            .command("mkfifo", &r.dir)
            .arg(path)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", path.display());
    });
}

#[test]
fn staged_path_replaced_by_a_symlink_to_the_same_bytes_reports_the_staged_content() {
    staged_content_wins(|r, path, staged| {
        let copy = r
            .tmp()
            .join(format!("copy-{}", rel(r, path).replace('/', "-")));
        std::fs::write(&copy, staged).unwrap();
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink(&copy, path).unwrap();
    });
    // A link to a same-size file holding another secret: still the staged one, only.
    staged_content_wins(|r, path, staged| {
        let other = String::from_utf8(staged.to_vec())
            .unwrap()
            .replace(HF_A, HF_B);
        let copy = r
            .tmp()
            .join(format!("other-{}", rel(r, path).replace('/', "-")));
        std::fs::write(&copy, other).unwrap();
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink(&copy, path).unwrap();
    });
}

/// A clean filter makes the staged blob differ from the working-tree file at the same size:
/// `reveal` (`tr '#' '_'`) turns the harmless `hf#…` on disk into a token in the blob, `shout`
/// (`tr a-z A-Z`) turns a token on disk into an upper-cased non-token in the blob. Only the
/// blob's token may be reported.
#[test]
fn clean_filter_output_is_scanned_not_the_worktree_file() {
    let r = TestRepo::new();
    r.git(&["config", "filter.reveal.clean", "tr '#' '_'"]);
    r.git(&["config", "filter.shout.clean", "tr a-z A-Z"]);
    r.stage(
        ".gitattributes",
        "*.reveal filter=reveal\n*.shout filter=shout\n",
    );
    r.commit("attributes");
    let hidden = HF_A.replacen('_', "#", 1);
    let mut want = Vec::new();
    for (label, lines) in SIZES {
        let (on_disk, line) = doc(lines, &hidden);
        r.stage(&format!("{label}.reveal"), &on_disk);
        want.push(hit(&format!("{label}.reveal"), line, HF_A));
        r.stage(&format!("{label}.shout"), doc(lines, HF_B).0);
    }
    assert_eq!(
        r.git(&["show", ":small.shout"]).stdout,
        doc(SIZES[0].1, HF_B).0.to_uppercase(),
        "precondition: the filter ran"
    );
    expect_hits(&r, &want);
}

/// With `eol=crlf` the working-tree file has CRLF line ends and the blob LF: the bytes scanned
/// are the blob's.
#[test]
fn crlf_worktree_file_is_scanned_as_its_lf_blob() {
    let r = TestRepo::new();
    r.stage(".gitattributes", "*.txt text eol=crlf\n");
    r.commit("attributes");
    let mut want = Vec::new();
    let mut blob_bytes = 0;
    for (label, lines) in SIZES {
        let (lf, line) = doc(lines, HF_A);
        let path = format!("{label}.txt");
        r.stage(&path, lf.replace('\n', "\r\n"));
        assert_eq!(r.git(&["show", &format!(":{path}")]).stdout, lf);
        want.push(hit(&path, line, HF_A));
        blob_bytes += lf.len();
    }
    let v = expect_hits(&r, &want);
    assert_eq!(v["scanned"]["bytes"], blob_bytes, "{v:#}");
}

// ---------------------------------------------------------------------------------------------
// helpers

/// Filler lines for the small (< 4 KiB) and the large (~300 KiB) working-tree scenarios.
const SIZES: [(&str, usize); 2] = [("small", 24), ("large", 5000)];

/// Names in git's tree order, where a directory sorts as if its name ended in '/'.
const ORDER_TRAPS: [&str; 5] = ["a-b/x.py", "a.b", "a/x.py", "a0", "ab/x.py"];

/// (path, line, redacted secret) of a Hugging Face token finding.
type Hit = (String, u64, String);

fn hit(path: &str, line: u64, token: &str) -> Hit {
    (path.into(), line, format!("{}…(37 chars)", &token[..6]))
}

/// `check-staged --format json`: exit 1 with exactly `want` (any order), or exit 0 when `want`
/// is empty. Every finding must be a Hugging Face token. Returns the report.
#[track_caller]
fn expect_hits(r: &TestRepo, want: &[Hit]) -> Value {
    let v = r.check_json(if want.is_empty() { 0 } else { 1 });
    let rules = finding_field(&v, "rule");
    assert!(
        rules.iter().all(|rule| rule == "huggingface-token"),
        "{v:#}"
    );
    let mut got: Vec<Hit> = v["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array in {v:#}"))
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["secret_redacted"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want = want.to_vec();
    want.sort();
    assert_eq!(got, want, "{v:#}");
    v
}

#[track_caller]
fn assert_scanned(v: &Value, files: u64, lines: u64) {
    assert_eq!(
        (&v["scanned"]["files"], &v["scanned"]["lines"]),
        (&Value::from(files), &Value::from(lines)),
        "scanned (files, lines)\n{v:#}"
    );
}

#[track_caller]
fn assert_skip_worktree(r: &TestRepo, path: &str) {
    let tagged = r.git(&["ls-files", "-v", "--", path]).stdout;
    assert_eq!(tagged, format!("S {path}\n"), "precondition: skip-worktree");
}

#[track_caller]
fn assert_cache_tree_valid(r: &TestRepo) {
    let shape = index_shape(r);
    assert!(
        matches!(shape.cache_tree, Some((nodes, 0)) if nodes > 0),
        "precondition: a cache-tree with every node valid\n{shape:?}"
    );
}

/// Three distinct lines, so every file has its own content (renames pair exactly).
fn numbered(n: usize) -> String {
    format!("# module {n}\nvalue = {n}\nname = 'm{n}'\n")
}

/// 40 directories of 20 files (10 directly, 10 in `inner/`), committed.
fn many_dirs(r: &TestRepo) {
    for d in 0..40 {
        for f in 0..10 {
            r.write(&format!("d{d:02}/f{f:02}.py"), numbered(d * 100 + f));
            r.write(
                &format!("d{d:02}/inner/f{f:02}.py"),
                numbered(d * 100 + 10 + f),
            );
        }
    }
    r.git(&["add", "-A"]);
    r.commit("many dirs");
}

/// `small/old.txt` and `large/old.txt` (no secret line), committed.
fn old_docs_committed() -> TestRepo {
    let r = TestRepo::new();
    for (label, lines) in SIZES {
        r.write(&format!("{label}/old.txt"), doc(lines, "").0);
    }
    r.git(&["add", "-A"]);
    r.commit("old docs");
    r
}

/// `lib/` of five files, one of them holding a secret already in history.
fn lib_dir_committed() -> TestRepo {
    let r = TestRepo::new();
    for i in 0..5 {
        r.write(&format!("lib/m{i}.py"), numbered(i));
    }
    r.write("lib/keys.py", format!("{}K = '{HF_A}'\n", numbered(9)));
    r.git(&["add", "-A"]);
    r.commit("lib");
    r
}

/// `lines` ordinary lines with `value = '<secret>'` in the middle (no such line when `secret`
/// is empty), and that line's number.
fn doc(lines: usize, secret: &str) -> (String, u64) {
    use std::fmt::Write;
    let mut out = String::with_capacity(lines * 64 + 64);
    let half = lines / 2;
    for i in 0..lines {
        if i == half && !secret.is_empty() {
            // A key that is not secret-named: only the token's own shape may match.
            let _ = writeln!(out, "value = '{secret}'");
        }
        let _ = writeln!(
            out,
            "line {i:05}: the quick brown fox jumps over the lazy dog;"
        );
    }
    (out, half as u64 + 1)
}

/// A harmless stand-in of the same length as `token`.
fn masked(token: &str) -> String {
    "x".repeat(token.len())
}

/// Stage a new file with a secret for each size, let `replace` swap its working-tree copy
/// (given the absolute path and the staged bytes), then expect exactly the staged findings.
fn staged_content_wins(replace: impl Fn(&TestRepo, &Path, &[u8])) {
    let r = TestRepo::new();
    r.stage("base.txt", "base\n");
    r.commit("c1");
    let mut want = Vec::new();
    for (label, lines) in SIZES {
        let path = format!("{label}/data.txt");
        let (secret, line) = doc(lines, HF_A);
        r.stage(&path, &secret);
        replace(&r, &r.dir.join(&path), secret.as_bytes());
        want.push(hit(&path, line, HF_A));
    }
    let v = expect_hits(&r, &want);
    let sizes: Vec<usize> = SIZES.iter().map(|&(_, n)| doc(n, HF_A).0.len()).collect();
    assert!(sizes[0] < 4096 && sizes[1] > 256 << 10, "sizes {sizes:?}");
    assert_eq!(v["scanned"]["bytes"], sizes.iter().sum::<usize>(), "{v:#}");
}

/// Repository-relative form of an absolute path inside the repository.
fn rel(r: &TestRepo, path: &Path) -> String {
    path.strip_prefix(&r.dir)
        .expect("path inside the repository")
        .to_string_lossy()
        .into_owned()
}

/// Replace `path` (working tree and index) by a symlink to `target`.
fn relink(r: &TestRepo, path: &str, target: &str) {
    let p = r.dir.join(path);
    std::fs::remove_file(&p).unwrap();
    std::os::unix::fs::symlink(target, &p).unwrap();
    r.git(&["add", "--", path]);
}

/// Write `content` as a blob into the object database; its id.
fn write_blob(r: &TestRepo, content: &str) -> String {
    let scratch = r.tmp().join("blob.tmp");
    std::fs::write(&scratch, content).unwrap();
    let id = r.git(&["hash-object", "-w", "--", scratch.to_str().unwrap()]);
    id.stdout.trim().to_string()
}

/// What a test needs to know about the index file to prove its precondition.
#[derive(Debug)]
struct IndexShape {
    version: u32,
    /// Entries in this file (in a split index: only those not in the shared index).
    entries: u32,
    /// Entries stored without a name (a split index's replacements of shared entries).
    nameless: usize,
    /// Extension signatures in file order ("TREE", "link", "sdir", …).
    extensions: Vec<String>,
    /// (nodes, invalidated nodes) of the cache-tree extension, when there is one.
    cache_tree: Option<(usize, usize)>,
    /// The trailing checksum is all zeros (`index.skipHash`).
    zero_checksum: bool,
}

impl IndexShape {
    fn has(&self, signature: &str) -> bool {
        self.extensions.iter().any(|e| e == signature)
    }
}

/// Walk `.git/index` (format: git's Documentation/gitformat-index.txt) past its entries to list
/// the extensions. Test input is git's own output, so a malformed file is a test failure.
fn index_shape(r: &TestRepo) -> IndexShape {
    let data = std::fs::read(r.dir.join(INDEX)).expect("read the index");
    let be32 = |at: usize| u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
    let nul_after = |at: usize| at + data[at..].iter().position(|&b| b == 0).unwrap();
    assert_eq!(&data[..4], b"DIRC", "index signature");
    let version = be32(4);
    let mut at = 12;
    let mut nameless = 0;
    for _ in 0..be32(8) {
        // Ten 32-bit stat fields, the object id, 16-bit flags; v3+ may add extended flags.
        let flags = u16::from_be_bytes([data[at + 60], data[at + 61]]);
        let name = at
            + if version >= 3 && flags & 0x4000 != 0 {
                64
            } else {
                62
            };
        if version != 4 && data[name] == 0 {
            nameless += 1;
        }
        at = if version == 4 {
            // A varint (bytes with the high bit set, then one without), then a NUL-ended suffix.
            let suffix = name + data[name..].iter().position(|&b| b & 0x80 == 0).unwrap() + 1;
            nul_after(suffix) + 1
        } else {
            // NUL-padded to a multiple of eight bytes, at least one NUL.
            at + ((nul_after(name) - at + 8) & !7)
        };
    }
    let (mut extensions, mut cache_tree) = (Vec::new(), None);
    let end = data.len() - 20;
    while at + 8 <= end {
        let signature = String::from_utf8_lossy(&data[at..at + 4]).into_owned();
        let body = &data[at + 8..at + 8 + be32(at + 4) as usize];
        if signature == "TREE" {
            cache_tree = Some(cache_tree_nodes(body));
        }
        extensions.push(signature);
        at += 8 + body.len();
    }
    assert_eq!(at, end, "extensions end at the checksum");
    IndexShape {
        version,
        entries: be32(8),
        nameless,
        extensions,
        cache_tree,
        zero_checksum: data[end..].iter().all(|&b| b == 0),
    }
}

/// (nodes, invalidated nodes) of a cache-tree body: each node is `path NUL entry_count SP
/// subtrees LF`, then its tree id unless `entry_count` is -1 (invalidated).
fn cache_tree_nodes(mut body: &[u8]) -> (usize, usize) {
    let (mut nodes, mut invalid) = (0, 0);
    while !body.is_empty() {
        let nul = body.iter().position(|&b| b == 0).unwrap();
        let lf = nul + body[nul..].iter().position(|&b| b == b'\n').unwrap();
        nodes += 1;
        body = if body[nul + 1] == b'-' {
            invalid += 1;
            &body[lf + 1..]
        } else {
            &body[lf + 1 + 20..]
        };
    }
    (nodes, invalid)
}

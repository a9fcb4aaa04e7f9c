use super::*;

/// (path, mode, id byte, extended flags)
type E<'a> = (&'a str, u32, u8, u16);

/// An index file as git lays it out; `checksum: false` writes git's `index.skipHash` zeros.
fn file(version: u32, entries: &[E], extensions: &[(&[u8; 4], &[u8])], checksum: bool) -> Vec<u8> {
    let mut b = b"DIRC".to_vec();
    b.extend(version.to_be_bytes());
    b.extend((entries.len() as u32).to_be_bytes());
    let mut prev: &str = "";
    for &(path, mode, id, ext) in entries {
        let start = b.len();
        b.extend([0u8; 24]);
        b.extend(mode.to_be_bytes());
        b.extend([0u8; 8]);
        b.extend((path.len() as u32 * 10).to_be_bytes());
        b.extend([id; HASH_LEN]);
        let mut flags = path.len().min(0xfff) as u16;
        if ext != 0 {
            flags |= FLAG_EXTENDED;
        }
        b.extend(flags.to_be_bytes());
        if ext != 0 {
            b.extend(ext.to_be_bytes());
        }
        if version == 4 {
            let common = prev
                .bytes()
                .zip(path.bytes())
                .take_while(|(a, c)| a == c)
                .count();
            b.extend(varint_bytes(prev.len() - common));
            b.extend(&path.as_bytes()[common..]);
            b.push(0);
        } else {
            b.extend(path.as_bytes());
            let len = b.len() - start;
            b.resize(start + ((len + 8) & !7), 0);
        }
        prev = path;
    }
    for (sig, data) in extensions {
        b.extend(*sig);
        b.extend((data.len() as u32).to_be_bytes());
        b.extend(*data);
    }
    let sum: [u8; HASH_LEN] = if checksum {
        Sha1::digest(&b).into()
    } else {
        [0; HASH_LEN]
    };
    b.extend(sum);
    b
}

/// git's encode_varint.
fn varint_bytes(mut v: usize) -> Vec<u8> {
    let mut out = vec![(v & 0x7f) as u8];
    while v >> 7 != 0 {
        v = (v >> 7) - 1;
        out.push(0x80 | (v & 0x7f) as u8);
    }
    out.reverse();
    out
}

#[test]
fn varints_round_trip() {
    for v in [0, 1, 127, 128, 129, 16511, 16512, 1 << 20, usize::MAX >> 8] {
        let b = varint_bytes(v);
        let mut at = 0;
        assert_eq!((varint(&b, &mut at).unwrap(), at), (v, b.len()), "{v}");
    }
    assert!(varint(&[0xff; 12], &mut 0).is_err(), "overlong is an error");
}

fn parsed(bytes: &[u8]) -> IndexFile {
    match parse(bytes).expect("parses") {
        Read::Parsed(ix) => ix,
        other => panic!("not a plain index: {other:?}"),
    }
}

fn paths(ix: &IndexFile) -> Vec<String> {
    ix.entries
        .iter()
        .map(|e| String::from_utf8_lossy(ix.path(e)).into_owned())
        .collect()
}

const F: u32 = 0o100644;

#[test]
fn entries_read_alike_in_every_version() {
    let long = "e/".repeat(2100) + "f"; // longer than the 12-bit length field
    let entries: &[E] = &[
        ("a.py", F, 1, 0),
        ("dir/a", 0o100755, 2, 0),
        ("dir/sub/c", 0o120000, 3, 0),
        (&long, F, 4, 0),
        ("sub", MODE_GITLINK, 5, 0),
    ];
    for version in [2, 3, 4] {
        let ix = parsed(&file(version, entries, &[], true));
        let want: Vec<String> = entries.iter().map(|e| e.0.to_string()).collect();
        assert_eq!(paths(&ix), want, "version {version}");
        let modes: Vec<u32> = ix.entries.iter().map(|e| e.mode).collect();
        assert_eq!(
            modes,
            [F, 0o100755, 0o120000, F, MODE_GITLINK],
            "version {version}"
        );
        assert_eq!(ix.entries[1].id, Oid::from_bytes(&[2; HASH_LEN]).unwrap());
        assert_eq!(ix.entries[1].size, 50);
        assert!(ix.entries[0].is_regular_file() && !ix.entries[2].is_regular_file());
        assert!(ix.cache_tree.is_none());
    }
}

#[test]
fn extended_flags_are_read_and_unknown_ones_refused() {
    let ix = parsed(&file(
        3,
        &[
            ("a", F, 1, EXT_INTENT_TO_ADD),
            ("b", F, 2, EXT_SKIP_WORKTREE),
            ("c", F, 3, 0),
        ],
        &[],
        true,
    ));
    let flags: Vec<(bool, bool)> = ix
        .entries
        .iter()
        .map(|e| (e.intent_to_add, e.skip_worktree))
        .collect();
    assert_eq!(flags, [(true, false), (false, true), (false, false)]);
    let err = parse(&file(3, &[("a", F, 1, 0x1000)], &[], true)).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown extended flags"),
        "{err:#}"
    );
    let err = parse(&file(2, &[("a", F, 1, EXT_SKIP_WORKTREE)], &[], true)).unwrap_err();
    assert!(format!("{err:#}").contains("version 2"), "{err:#}");
}

#[test]
fn damaged_or_unordered_indexes_are_errors() {
    let good = file(2, &[("a", F, 1, 0), ("b", F, 2, 0)], &[], true);
    let mut flipped = good.clone();
    flipped[HEADER_LEN + 3] ^= 1;
    let cases: &[(&str, Vec<u8>, &str)] = &[
        ("checksum", flipped, "checksum mismatch"),
        (
            "signature",
            b"DIRX".iter().chain(&good[4..]).copied().collect(),
            "not an index",
        ),
        ("too short", good[..20].to_vec(), "not an index"),
        (
            "unordered",
            file(2, &[("b", F, 1, 0), ("a", F, 2, 0)], &[], true),
            "out of order",
        ),
        (
            "duplicate",
            file(2, &[("a", F, 1, 0), ("a", F, 2, 0)], &[], true),
            "out of order",
        ),
        (
            "empty name outside a split index",
            file(2, &[("", F, 1, 0)], &[], true),
            "empty path",
        ),
        (
            "count beyond the entries",
            {
                let mut b = file(2, &[("a", F, 1, 0)], &[], false);
                b[11] = 9;
                b
            },
            "truncated",
        ),
    ];
    for (name, bytes, want) in cases {
        let err = format!("{:#}", parse(bytes).expect_err(name));
        assert!(err.contains(want), "{name}: {err}");
    }
    // git's index.skipHash leaves the trailer zero: nothing to verify.
    assert_eq!(
        paths(&parsed(&file(2, &[("a", F, 1, 0)], &[], false))),
        ["a"]
    );
}

#[test]
fn forms_left_to_libgit2_are_named() {
    let e: &[E] = &[("a", F, 1, 0)];
    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "version 5",
            {
                let mut b = file(2, e, &[], false);
                b[7] = 5;
                b
            },
            "index version 5",
        ),
        (
            "unknown required",
            file(2, e, &[(b"zzzz", b"")], true),
            "\"zzzz\"",
        ),
    ];
    for (name, bytes, want) in cases {
        match parse(bytes).unwrap() {
            Read::Unsupported(why) => assert!(why.what.contains(want), "{name}: {why:?}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // Optional extensions (upper-case) are skipped.
    assert_eq!(
        paths(&parsed(&file(2, e, &[(b"UNTR", b"abc")], true))),
        ["a"]
    );
}

/// git's ewah serialisation of `words` (already run-length encoded by the caller).
fn ewah(bit_size: u32, words: &[u64]) -> Vec<u8> {
    let mut b = bit_size.to_be_bytes().to_vec();
    b.extend((words.len() as u32).to_be_bytes());
    for w in words {
        b.extend(w.to_be_bytes());
    }
    b.extend(0u32.to_be_bytes());
    b
}

#[test]
fn ewah_bitmaps_decode_runs_and_literals_and_refuse_bits_past_their_size() {
    let bits = |data: &[u8]| {
        let mut pos = 0;
        let out = ewah_bits(data, &mut pos);
        out.map(|b| (b, pos == data.len()))
    };
    // No run, three literal words: bits 0 and 3, 64, 130.
    let literals = ewah(200, &[3 << 33, 0b1001, 1, 4]);
    assert_eq!(bits(&literals).unwrap(), (vec![0, 3, 64, 130], true));
    // A run of one word of ones, then one literal word (bit 64 + 1).
    let run = ewah(128, &[(1 << 33) | (1 << 1) | 1, 2]);
    let want: Vec<usize> = (0..64).chain([65]).collect();
    assert_eq!(bits(&run).unwrap(), (want, true));
    // A run of zeros skips whole words.
    assert_eq!(
        bits(&ewah(300, &[(1 << 33) | (4 << 1), 1])).unwrap().0,
        [256]
    );
    for (name, data) in [
        ("bit past the size", ewah(3, &[1 << 33, 0b1000])),
        ("run past the size", ewah(10, &[(1 << 1) | 1])),
        ("literal count past the words", ewah(64, &[2 << 33, 1])),
        ("truncated", ewah(64, &[1 << 33, 1])[..14].to_vec()),
    ] {
        assert!(bits(&data).is_err(), "{name}");
    }
}

#[test]
fn split_index_merges_replacements_deletions_and_additions_like_git() {
    let base = parsed(&file(
        2,
        &[
            ("a", F, 1, 0),
            ("b", F, 2, 0),
            ("c", F, 3, 0),
            ("d", F, 4, 0),
        ],
        &[],
        true,
    ));
    let mut link = vec![7u8; HASH_LEN];
    link.extend(ewah(4, &[1 << 33, 1 << 2])); // delete c
    link.extend(ewah(4, &[1 << 33, 1 << 1])); // replace b
    let split_file = file(
        2,
        &[("", F, 9, 0), ("bb", F, 5, 0), ("e", F, 6, 0)],
        &[(b"link", &link)],
        true,
    );
    let Read::Split(split) = parse(&split_file).unwrap() else {
        panic!("not read as a split index");
    };
    assert_eq!(
        (split.base, &split.delete, &split.replace),
        ([7; HASH_LEN], &vec![2], &vec![1])
    );
    let merged = merge_split(base, split).unwrap();
    let got: Vec<(String, u8)> = merged
        .entries
        .iter()
        .map(|e| {
            (
                String::from_utf8_lossy(merged.path(e)).into_owned(),
                e.id.as_bytes()[0],
            )
        })
        .collect();
    let want = [("a", 1), ("b", 9), ("bb", 5), ("d", 4), ("e", 6)];
    assert_eq!(got, want.map(|(p, i)| (p.to_string(), i)));

    // An addition with the name of a kept entry replaces it; a replacement count that the
    // entries do not carry, or a position past the shared index, is an error.
    let base = || parsed(&file(2, &[("a", F, 1, 0), ("b", F, 2, 0)], &[], true));
    let split = |entries: &[E], delete: &[u64], replace: &[u64]| {
        let mut link = vec![7u8; HASH_LEN];
        link.extend(ewah(64, delete));
        link.extend(ewah(64, replace));
        match parse(&file(2, entries, &[(b"link", &link)], true)).unwrap() {
            Read::Split(s) => s,
            other => panic!("{other:?}"),
        }
    };
    let m = merge_split(base(), split(&[("b", F, 8, 0)], &[], &[])).unwrap();
    assert_eq!(
        m.entries
            .iter()
            .map(|e| e.id.as_bytes()[0])
            .collect::<Vec<_>>(),
        [1, 8]
    );
    for (name, s) in [
        (
            "replacement without a nameless entry",
            split(&[("b", F, 8, 0)], &[], &[1 << 33, 1]),
        ),
        (
            "deletion past the base",
            split(&[], &[1 << 33, 1 << 5], &[]),
        ),
        (
            "replaced and deleted",
            split(&[("", F, 8, 0)], &[1 << 33, 1], &[1 << 33, 1]),
        ),
        (
            "unordered additions",
            split(&[("b", F, 8, 0), ("a", F, 8, 0)], &[], &[]),
        ),
    ] {
        assert!(merge_split(base(), s).is_err(), "{name}");
    }
}

#[test]
fn sparse_directory_entries_are_read_only_in_a_sparse_index() {
    let e: &[E] = &[("d/a", F, 1, 0), ("e/", MODE_TREE, 2, EXT_SKIP_WORKTREE)];
    let ix = parsed(&file(3, e, &[(b"sdir", b"")], true));
    assert!(ix.sparse && ix.entries[1].is_sparse_dir() && !ix.entries[0].is_sparse_dir());
    let err = parse(&file(3, e, &[], true)).unwrap_err();
    assert!(format!("{err:#}").contains("not sparse"), "{err:#}");
    let expanded = ix
        .expand_sparse(|dir, _| {
            assert_eq!(dir, b"e");
            Ok(Some(vec![(
                b"e/x".to_vec(),
                F,
                Oid::from_bytes(&[3; HASH_LEN]).unwrap(),
            )]))
        })
        .unwrap();
    assert_eq!(paths(&expanded), ["d/a", "e/x"]);
    assert!(expanded.entries[1].skip_worktree && !expanded.entries[1].is_sparse_dir());
}

fn tree_node(name: &str, count: i64, subtrees: usize, id: u8) -> Vec<u8> {
    let mut b = format!("{name}\0{count} {subtrees}\n").into_bytes();
    if count >= 0 {
        b.extend([id; HASH_LEN]);
    }
    b
}

#[test]
fn cache_tree_nodes_nest_and_bad_ones_are_dropped() {
    let e: &[E] = &[("a/x", F, 1, 0), ("b/c/y", F, 2, 0), ("z", F, 3, 0)];
    // Pre-order: root (3 entries, 2 subtrees) > b (invalid, 1 subtree) > c ; a last.
    let tree: Vec<u8> = [
        tree_node("", 3, 2, 9),
        tree_node("b", -1, 1, 0),
        tree_node("c", 1, 0, 7),
        tree_node("a", 1, 0, 8),
    ]
    .concat();
    let ix = parsed(&file(2, e, &[(b"TREE", &tree)], true));
    let ct = ix.cache_tree.as_ref().expect("cache-tree");
    let id = |b: u8| Some(Oid::from_bytes(&[b; HASH_LEN]).unwrap());
    assert_eq!(ct.nodes[CacheTree::ROOT].id, id(9));
    let a = ct.child(CacheTree::ROOT, b"a").expect("a");
    let b = ct.child(CacheTree::ROOT, b"b").expect("b");
    assert_eq!((ct.nodes[a].id, ct.nodes[b].id), (id(8), None));
    assert_eq!(ct.child(b, b"c").map(|c| ct.nodes[c].id), Some(id(7)));
    assert_eq!(ct.child(CacheTree::ROOT, b"c"), None);

    let bad: &[(&str, Vec<u8>)] = &[
        ("truncated id", tree[..tree.len() - 1].to_vec()),
        ("trailing bytes", [tree.clone(), b"x".to_vec()].concat()),
        ("too few subtrees", tree_node("", 1, 2, 9)),
        ("not a number", b"\0x 0\n".to_vec()),
    ];
    for (name, data) in bad {
        let ix = parsed(&file(2, e, &[(b"TREE", data)], true));
        assert!(ix.cache_tree.is_none(), "{name}");
    }
}

#[test]
fn entries_under_a_prefix_skip_look_alike_names() {
    let ix = parsed(&file(
        2,
        &[
            ("dir", F, 1, 0),
            ("dir-x", F, 2, 0),
            ("dir.y", F, 3, 0),
            ("dir/a", F, 4, 0),
            ("dir/sub/b", F, 5, 0),
            ("dir0", F, 6, 0),
            ("dirz", F, 7, 0),
        ],
        &[],
        true,
    ));
    let under = |p: &str| -> Vec<String> {
        ix.entries_under(p.as_bytes())
            .into_iter()
            .map(|e| String::from_utf8_lossy(ix.path(e)).into_owned())
            .collect()
    };
    assert_eq!(under("dir"), ["dir", "dir/a", "dir/sub/b"]);
    assert_eq!(under("dir/"), ["dir", "dir/a", "dir/sub/b"]);
    assert_eq!(under("dir/sub"), ["dir/sub/b"]);
    assert_eq!(under("di"), Vec::<String>::new());
    assert_eq!(under("").len(), 7);
    assert_eq!(ix.find(b"dir/a").map(|e| e.size), Some(50));
    assert!(ix.find(b"dir/").is_none());
}

#[test]
fn every_truncation_and_byte_flip_is_an_answer_not_a_panic() {
    let tree: Vec<u8> = [tree_node("", 2, 1, 9), tree_node("d", 1, 0, 8)].concat();
    for version in [2, 3, 4] {
        let good = file(
            version,
            &[
                ("a", F, 1, 0),
                ("d/b", F, 2, if version > 2 { EXT_SKIP_WORKTREE } else { 0 }),
            ],
            &[(b"TREE", &tree)],
            false,
        );
        for cut in 0..good.len() {
            let _ = parse(&[&good[..cut], &[0; HASH_LEN]].concat());
        }
        for i in 0..good.len() - HASH_LEN {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                let _ = parse(&b);
            }
        }
    }
}

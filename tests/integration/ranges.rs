//! `check-range` over histories long enough to be spread over threads (issue 15): the findings
//! are exactly those of scanning each commit alone.

use crate::harness::TestRepo;
use crate::workflows::commit_file;

/// A Hugging Face token in its format, different for each `seed` (synthetic, issued by no one).
fn token(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let body: String = (0..34)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect();
    format!("hf_{body}")
}

fn findings(run: &crate::harness::Run) -> Vec<(String, String, u64)> {
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["commit"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_long_range_finds_what_each_commit_alone_finds() {
    let r = TestRepo::new();
    let first = commit_file(&r, "base.txt", "start\n", "c0");
    let mut leaks = 0;
    for i in 1..=24u64 {
        // The first, the last and every third commit leak a token in one of several files;
        // the others edit.
        let (path, content) = if i % 3 == 0 || i == 1 {
            leaks += 1;
            (
                format!("dir{}/k{i}.py", i % 4),
                format!("x = {i}\nT = '{}'\n", token(i)),
            )
        } else {
            ("base.txt".to_string(), format!("start\nedit {i}\n"))
        };
        commit_file(&r, &path, &content, &format!("c{i}"));
    }
    let range = format!("{first}..HEAD");
    let whole = r.leakgate(&["check-range", &range, "--format", "json"]);
    whole.code(1);
    let got = findings(&whole);
    assert_eq!(got.len(), leaks, "{got:?}");
    let commits: Vec<String> = r
        .git(&["rev-list", &range])
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(commits.len(), 24);
    let alone: Vec<_> = commits
        .iter()
        .flat_map(|c| {
            let run = r.leakgate(&["check-range", c, "--format", "json"]);
            findings(&run)
        })
        .collect();
    // The report sorts findings (by path, then line); the same set in the same order.
    let mut sorted = alone.clone();
    sorted.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
    assert_eq!(got, sorted, "alone: {alone:?}");
}

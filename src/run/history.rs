//! Scanning a range of commits (`check-range`, pre-push, `baseline create --history`): what
//! each commit added against its first parent, in commit order, with a progress bar on a
//! terminal.
//!
//! Invariants: the outcomes are those of scanning the commits one by one in order, whether
//! or not the range is spread over threads; any commit that cannot be read is an error for
//! the whole range (fail closed), never a skipped commit.

use std::io::IsTerminal;

use anyhow::Result;
use rayon::prelude::*;

use super::{drop_merged_secrets, skipped_outcome};
use crate::git::ObjectId;
use crate::repo::Repo;
use crate::source::{Outcome, Scanner};

/// What each commit added, scanned; a progress bar on a terminal for long histories.
///
/// A range of a few commits is scanned in order on this thread; a longer one is spread over
/// the cores a commit at a time, each worker with its own repository handle, its outcomes
/// collected in commit order (a history of small commits would otherwise keep one core busy:
/// a commit's files are spread only when there are more than four).
pub(super) fn commit_outcomes(
    repo: &Repo,
    scanner: &Scanner<'_>,
    commits: &[ObjectId],
) -> Result<Vec<Outcome>> {
    let progress = Progress::new(commits.len(), std::io::stderr().is_terminal());
    let one = |repo: &Repo, id: &ObjectId| -> Result<Vec<Outcome>> {
        let parents = repo.parents(id)?;
        let changes = repo.commit_changes(id, parents.first())?;
        let hex = id.to_string();
        let mut found = scanner.scan_changes(repo, &changes.files, Some(&hex))?;
        if parents.len() > 1 {
            drop_merged_secrets(repo, &parents[1..], &mut found);
        }
        for (path, reason) in changes.skipped {
            found.push(skipped_outcome(&path, reason));
        }
        progress.tick();
        Ok(found)
    };
    let per_commit: Vec<Vec<Outcome>> = if commits.len() < PARALLEL_COMMITS {
        commits
            .iter()
            .map(|id| one(repo, id))
            .collect::<Result<_>>()?
    } else {
        let opener = repo.opener();
        commits
            .par_iter()
            .map_init(
                || opener.open(),
                |r, id| match r {
                    Ok(r) => one(r, id),
                    Err(e) => Err(anyhow::anyhow!("{e:#}")),
                },
            )
            .collect::<Result<_>>()?
    };
    progress.finish();
    Ok(per_commit.into_iter().flatten().collect())
}

/// From this many commits on, a range is scanned on several threads.
const PARALLEL_COMMITS: usize = 8;

/// The `check-range` progress bar: drawn on a terminal only, for 20 commits or more, a few
/// times a second rather than once per commit (a history of 100 000 commits would otherwise
/// cost as many terminal writes), and always for the last commit.
struct Progress {
    total: usize,
    shown: bool,
    done: std::sync::atomic::AtomicUsize,
    drawn: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Progress {
    const REDRAW: std::time::Duration = std::time::Duration::from_millis(100);

    fn new(total: usize, terminal: bool) -> Progress {
        Progress {
            total,
            shown: terminal && total >= 20,
            done: Default::default(),
            drawn: Default::default(),
        }
    }

    fn tick(&self) {
        self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !self.shown {
            return;
        }
        let Ok(mut drawn) = self.drawn.lock() else {
            return;
        };
        // Read under the lock: whichever thread draws last shows the final count.
        let done = self.done.load(std::sync::atomic::Ordering::Relaxed);
        let due = drawn.map_or(true, |t| t.elapsed() >= Self::REDRAW) || done == self.total;
        if due {
            *drawn = Some(std::time::Instant::now());
            let bar = done * 30 / self.total;
            eprint!(
                "\rleakgate: [{}{}] {}/{} commits",
                "#".repeat(bar),
                " ".repeat(30 - bar),
                done,
                self.total
            );
        }
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

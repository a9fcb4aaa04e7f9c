//! Zip archives (`torch.save` since 1.6, TorchScript): the pickle members are walked.

use std::io::Seek;

use super::*;

/// How many members are opened to look for a pickle by content, per archive.
const MAX_PEEKED_MEMBERS: usize = 4096;
/// TorchScript's source and extra-file members larger than this are not scanned as text.
const MAX_TEXT_MEMBER: u64 = 16 << 20;

/// A pickle with a PROTO header, by its first bytes.
pub(super) fn is_pickle_head(head: &[u8]) -> bool {
    matches!(head, [op::PROTO, 0..=5, next, ..] if op::is_known(*next))
}

/// What a member is to us: a pickle or `.npy` to walk, text to scan, or nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    Pickle,
    Npy,
    Text,
    Other,
}

fn member_kind(name: &str, head: &[u8]) -> Member {
    if head.starts_with(NPY_MAGIC) {
        Member::Npy
    } else if is_pickle_head(head) || name.ends_with(".pkl") {
        Member::Pickle
    } else if is_torchscript_text(name) {
        Member::Text
    } else {
        Member::Other
    }
}

/// TorchScript archives keep the model's code (`code/…py`) and user files (`extra/…`) as text
/// members: they can hold credentials like any source file.
pub(super) fn is_torchscript_text(name: &str) -> bool {
    let in_dir = |d: &str| name.starts_with(d) || name.contains(&format!("/{d}"));
    in_dir("code/") || in_dir("extra/")
}

/// Any zip that holds a pickle or `.npy` member: by name (`data.pkl`), else by content (a
/// pickle named `weights.bin`), so renaming members does not hide them.
pub(super) fn sniff_zip(bytes: &[u8]) -> Option<ModelKind> {
    match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(mut a) => holds_model(&mut a).then_some(ModelKind::TorchZip),
        // Unreadable here, but torch's reader might cope: member names are stored in the
        // clear, so a pickle member would show.
        Err(_) => memchr::memmem::find(bytes, b".pkl").map(|_| ModelKind::TorchZip),
    }
}

/// The archive holds a pickle or `.npy` member, by name or by its first bytes.
pub(super) fn holds_model<R: Read + Seek>(a: &mut zip::ZipArchive<R>) -> bool {
    if a.file_names()
        .any(|n| n.ends_with(".pkl") || n.ends_with(".npy"))
    {
        return true;
    }
    for i in 0..a.len().min(MAX_PEEKED_MEMBERS) {
        let Ok(entry) = a.by_index(i) else {
            continue;
        };
        let mut head = Vec::with_capacity(8);
        if entry.take(8).read_to_end(&mut head).is_ok()
            && (is_pickle_head(&head) || head.starts_with(NPY_MAGIC))
        {
            return true;
        }
    }
    false
}

pub(super) fn inspect_zip(bytes: &[u8], report: &mut ModelReport) {
    match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(mut a) => inspect_archive(&mut a, report),
        Err(e) => report.problems.push(format!("unreadable zip archive: {e}")),
    }
}

/// Walk every pickle, `.npy` and TorchScript text member of an opened archive.
pub(super) fn inspect_archive<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    report: &mut ModelReport,
) {
    let mut pickles = 0usize;
    let mut meta = MetaBudget::default();
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                report.problems.push(format!("zip entry {i}: {e}"));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_owned();
        let mut data = Vec::new();
        if let Err(e) = (&mut entry).take(8).read_to_end(&mut data) {
            report.problems.push(format!("{name}: {e}"));
            continue;
        }
        let kind = member_kind(&name, &data);
        let cap = match kind {
            Member::Other => continue,
            Member::Text => MAX_TEXT_MEMBER,
            Member::Pickle | Member::Npy => {
                pickles += 1;
                MAX_INFLATED.min(report.budget.inflate)
            }
        };
        if entry.size() > cap {
            report.problems.push(format!(
                "{name}: {} bytes inflated is over the {} MiB limit: not inspected",
                entry.size(),
                cap >> 20
            ));
            continue;
        }
        let read = (&mut entry)
            .take(cap.saturating_add(1))
            .read_to_end(&mut data);
        report.budget.inflate = report.budget.inflate.saturating_sub(data.len() as u64);
        if data.len() as u64 > cap {
            report.problems.push(format!(
                "{name}: inflates past {} MiB (limit for a file of this staged size): not \
                 inspected",
                cap >> 20
            ));
            continue;
        }
        if let Err(e) = read {
            report.problems.push(format!("{name}: {e}"));
            if data.is_empty() {
                continue;
            }
        }
        match kind {
            Member::Pickle => {
                inspect_stream(&data, Some(&name), report);
            }
            Member::Npy => inspect_npy(&data, Some(&name), report),
            Member::Text => {
                if let Ok(text) = String::from_utf8(data) {
                    meta.push(report, name, text);
                }
            }
            Member::Other => {}
        }
    }
    if pickles == 0 {
        report
            .problems
            .push("zip archive holds no pickle member".into());
    }
}

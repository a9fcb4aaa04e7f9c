//! Zip archives (`torch.save` since 1.6, TorchScript): the pickle members are walked.

use super::*;

pub(super) fn sniff_zip(bytes: &[u8]) -> Option<ModelKind> {
    match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => a
            .file_names()
            .any(|n| n.ends_with(".pkl"))
            .then_some(ModelKind::TorchZip),
        // Unreadable here, but torch's reader might cope: member names are stored in the
        // clear, so a pickle member would show.
        Err(_) => memchr::memmem::find(bytes, b".pkl").map(|_| ModelKind::TorchZip),
    }
}

pub(super) fn inspect_zip(bytes: &[u8], report: &mut ModelReport) {
    let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            report.problems.push(format!("unreadable zip archive: {e}"));
            return;
        }
    };
    let mut pickles = 0usize;
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                report.problems.push(format!("zip entry {i}: {e}"));
                continue;
            }
        };
        let name = entry.name().to_owned();
        if !name.ends_with(".pkl") {
            continue;
        }
        pickles += 1;
        let cap = MAX_INFLATED.min(report.budget.inflate);
        if entry.size() > cap {
            report.problems.push(format!(
                "{name}: {} bytes inflated is over the {} MiB limit: not inspected",
                entry.size(),
                cap >> 20
            ));
            continue;
        }
        let mut data = Vec::new();
        let read = (&mut entry)
            .take(cap.saturating_add(1))
            .read_to_end(&mut data);
        report.budget.inflate = report.budget.inflate.saturating_sub(data.len() as u64);
        if data.len() as u64 > cap {
            report.problems.push(format!(
                "{name}: inflates past {} MiB (limit for a file of this staged size): not inspected",
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
        inspect_stream(&data, Some(&name), report);
    }
    if pickles == 0 {
        report
            .problems
            .push("zip archive holds no .pkl member".into());
    }
}

// ---------------------------------------------------------------------------------------------

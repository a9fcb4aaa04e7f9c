//! Findings and how they are shown: fingerprint, redaction, terminal escaping, and the human,
//! JSON and SARIF renderers.
//!
//! Invariants:
//! - a secret leaves memory only as a redacted prefix (or in full with `--show-secrets`, which the
//!   CLI refuses under CI); `Secret` has no `Serialize` and a redacting `Debug`;
//! - everything that came from a repository (paths, rule-matched text) is escaped before it reaches
//!   a terminal: control characters, C1 controls and bidi overrides become visible escapes, in every
//!   format (JSON and SARIF escape them as `\uXXXX`, which keeps the value intact for parsers);
//! - fingerprints depend on rule id, secret and the repository's salt only, so they survive
//!   moves, rebases and squashes; what is written is a salted Argon2id (`seal`), never a fast hash.

use std::fmt::{self, Write as _};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::rules::Catalog;

/// A secret value kept in memory only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks the commit.
    Error,
    /// Shown, does not block.
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Source,
    Output,
    Metadata,
    Attachment,
}

/// Where a finding sits. `line`/`column` are 1-based in the staged file (for notebooks, the raw
/// `.ipynb` line; `column` is then within the cell line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub path: Vec<u8>,
    pub line: u32,
    pub column: u32,
    pub cell: Option<u32>,
    pub output: Option<u32>,
    /// The last output a secret reaches when it runs on over joined stream outputs (a token
    /// printed in two flushes); None when it ends in `output`. `leakgate fix` clears them all.
    pub output_end: Option<u32>,
    pub cell_line: Option<u32>,
    pub part: Option<Part>,
    pub commit: Option<String>,
    /// A member inside an archive (a zip entry of a PyTorch file).
    pub member: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub location: Location,
    pub secret: Secret,
    /// Decodings that revealed the secret, outermost first, e.g. `base64`.
    pub encodings: Vec<&'static str>,
    /// `Some("valid")` when an offline checksum verified.
    pub checksum: Option<&'static str>,
    /// Non-secret evidence shown in full (an imported callable in a pickle).
    pub detail: Option<String>,
    pub fingerprint: String,
}

impl Finding {
    pub fn is_notebook(&self) -> bool {
        self.location.cell.is_some() || self.location.path.ends_with(b".ipynb")
    }
}

/// A finding's identity while it is in memory: SHA-256 of `rule id`, a NUL and the secret, stable
/// across moves and history rewrites. It is never written: a fast unsalted hash gives a weak
/// secret back to a dictionary at once. What reports and baselines carry is `seal`ed.
pub fn fingerprint(rule: &str, secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(secret);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Argon2id cost of one written fingerprint: 4 MiB and one pass, a few milliseconds on a CPU,
/// the same for every guess an attacker makes, and memory-hard so a GPU gains little.
const SEAL_MEMORY_KIB: u32 = 4096;
const SEAL_PASSES: u32 = 1;

/// Salt of repositories without a baseline (and so without a salt of their own). Public and the
/// same everywhere: each guess still costs a full Argon2id, but a table could be shared between
/// such repositories, which `leakgate baseline create` (a random per-repository salt) prevents.
pub const SHARED_SALT: &[u8] = b"leakgate shared fingerprint salt";

/// The written fingerprint of an in-memory identity: Argon2id(identity, domain || salt), hex.
pub fn seal(identity: &str, salt: &[u8]) -> String {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(SEAL_MEMORY_KIB, SEAL_PASSES, 1, Some(32))
        .expect("constant Argon2 parameters are valid");
    let mut salted = b"leakgate-fingerprint-v2\0".to_vec();
    salted.extend_from_slice(salt);
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(identity.as_bytes(), &salted, &mut out)
        .expect("Argon2 accepts any password and a salt of 8 bytes or more");
    hex(&out)
}

/// Replace every finding's in-memory identity by its written fingerprint. Each distinct identity
/// costs one Argon2id, spread over the cores: one secret found many times is hashed once.
pub fn seal_all(findings: &mut [Finding], salt: &[u8]) {
    use rayon::prelude::*;
    let mut distinct: Vec<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let sealed: std::collections::HashMap<String, String> = distinct
        .par_iter()
        .map(|id| (id.to_string(), seal(id, salt)))
        .collect();
    for f in findings {
        f.fingerprint = sealed[&f.fingerprint].clone();
    }
}

/// A short prefix of the secret and its length; never more than a quarter of it, at most 6 chars.
pub fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let chars = text.chars().count();
    let keep = (chars / 4).min(6);
    let prefix: String = text.chars().take(keep).collect();
    format!("{}…({chars} chars)", sanitize(&prefix))
}

/// Make repository-controlled text safe to print: control characters (C0, DEL, C1) and bidi
/// overrides are shown as escapes, invalid UTF-8 bytes as `\xNN`.
pub fn sanitize_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&sanitize(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Characters that a terminal interprets or that reorder what the reader sees.
fn is_dangerous_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// JSON text with every dangerous character inside strings written as `\uXXXX`. serde_json
/// already escapes C0 controls; C1 controls and bidi overrides it leaves raw.
fn terminal_safe_json(text: String) -> String {
    if !text.chars().any(|c| c != '\n' && is_dangerous_char(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c != '\n' && is_dangerous_char(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Scanned {
    pub files: u64,
    pub lines: u64,
    pub bytes: u64,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct SuppressedCounts {
    pub inline: usize,
    pub allowlist: usize,
    pub baseline: usize,
    pub paths: usize,
}

/// Everything one run found and did.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub scanned: Scanned,
    pub skipped: Vec<Skipped>,
    pub suppressed: SuppressedCounts,
    /// Things the user should know that are not findings (a notebook scanned as text, a limit hit).
    pub notes: Vec<String>,
    /// What was scanned, for the summary line: "staged changes", "commits a..b", "files".
    pub scope: String,
    /// Findings beyond `--max-findings` are counted but not listed.
    pub max_listed: Option<usize>,
    /// What the advice at the end talks about: a commit, pushed history, or files.
    pub subject: Subject,
    /// Paths scanned whole as they are already committed (`check-staged PATH` on a file with no
    /// staged change, as `pre-commit run --all-files` does): their findings get history advice.
    pub committed: Vec<Vec<u8>>,
}

/// What was scanned, as far as the advice to the blocked person is concerned.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    #[default]
    Commit,
    History,
    Files,
}

impl Report {
    pub fn blocking(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// Sort for stable output: by path, commit, line, column, rule.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            let ka = (
                &a.location.path,
                &a.location.commit,
                a.location.line,
                a.location.column,
            );
            let kb = (
                &b.location.path,
                &b.location.commit,
                b.location.line,
                b.location.column,
            );
            ka.cmp(&kb).then_with(|| a.rule.cmp(&b.rule))
        });
        self.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    pub verbose: bool,
    pub show_secrets: bool,
}

fn paint(style: &Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn shown_secret(f: &Finding, style: &Style) -> String {
    if style.show_secrets {
        sanitize_bytes(&f.secret.0)
    } else {
        redact(&f.secret.0)
    }
}

/// Where, for a person: `path:line:col`, plus the notebook cell or commit.
pub fn human_location(loc: &Location) -> String {
    let mut s = format!("{}:{}", sanitize_bytes(&loc.path), loc.line);
    if loc.column > 0 && loc.cell.is_none() {
        let _ = write!(s, ":{}", loc.column);
    }
    if let Some(cell) = loc.cell {
        let what = match (loc.part, loc.output) {
            (_, Some(o)) => format!("output {o}"),
            (Some(Part::Metadata), _) => "metadata".to_string(),
            (Some(Part::Attachment), _) => "attachment".to_string(),
            _ => "source".to_string(),
        };
        let _ = write!(
            s,
            " (cell {cell}, {what}, line {})",
            loc.cell_line.unwrap_or(1)
        );
    } else if loc.part == Some(Part::Metadata) {
        s.push_str(" (notebook metadata)");
    }
    if let Some(m) = &loc.member {
        let _ = write!(s, " [{}]", sanitize(m));
    }
    if let Some(c) = &loc.commit {
        let _ = write!(s, " in commit {}", &c[..c.len().min(12)]);
    }
    s
}

fn human_size(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The default report, written for the person whose commit was just blocked.
pub fn render_human(report: &Report, catalog: &Catalog, style: &Style) -> String {
    let mut out = String::new();
    let blocking = report.blocking();
    let warnings = report.findings.len() - blocking;
    let listed = report.max_listed.unwrap_or(usize::MAX);

    // Model-file findings are imports and unreadable files, not secrets: say so, and never
    // suggest `leakgate:allow` on a line of a binary file.
    let only_models = blocking > 0
        && report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .all(|f| crate::model::rules::is_model_rule(&f.rule));
    if blocking > 0 {
        let what = if only_models {
            "model-file problem"
        } else {
            "secret"
        };
        let head = format!(
            "leakgate: {blocking} {what}{} found in {} — blocked",
            plural(blocking),
            report.scope
        );
        let _ = writeln!(out, "{}\n", paint(style, "1;31", &head));
    }
    let mut remediations: Vec<(&str, &str)> = Vec::new();
    let mut any_notebook = false;
    let short = short_fingerprint_len(&report.findings);
    for (i, f) in report.findings.iter().enumerate() {
        if i == listed {
            let _ = writeln!(
                out,
                "  … and {} more (raise --max-findings to list them)\n",
                report.findings.len() - listed
            );
            break;
        }
        let tag = match f.severity {
            Severity::Error => paint(style, "31", "error"),
            Severity::Warning => paint(style, "33", "warning"),
        };
        let _ = writeln!(
            out,
            "{tag}: {}  {}  fingerprint {}",
            paint(style, "1", &human_location(&f.location)),
            paint(style, "36", &sanitize(&f.rule)),
            &f.fingerprint[..short.min(f.fingerprint.len())]
        );
        // A custom rule's title comes from the repository's .leakgate.toml: escaped like a path.
        let mut what = format!("  {}", sanitize(&f.title));
        if let Some(d) = &f.detail {
            let _ = write!(what, ": {}", sanitize(d));
        } else {
            let _ = write!(what, ": {}", shown_secret(f, style));
        }
        if !f.encodings.is_empty() {
            let _ = write!(what, " (decoded from {})", f.encodings.join(" > "));
        }
        if f.checksum.is_some() {
            what.push_str(" [checksum valid: a real token format]");
        }
        let _ = writeln!(out, "{what}");
        if !remediations.iter().any(|(id, _)| *id == f.rule) {
            let text = catalog
                .get(&f.rule)
                .map(|r| r.spec.remediation.as_str())
                .or_else(|| crate::model::remediation(&f.rule))
                .unwrap_or("");
            remediations.push((&f.rule, text));
        }
        any_notebook |= f.is_notebook();
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\n{}", paint(style, "1", "What to do now:"));
        for (id, text) in &remediations {
            let _ = writeln!(out, "  [{}]", sanitize(id));
            for line in text.trim().lines() {
                let _ = writeln!(out, "    {}", sanitize(line.trim()));
            }
        }
        // `leakgate fix` edits the index: it fits a blocked commit, not commits already made.
        let fixable = report.subject == Subject::Commit
            && report.findings.iter().any(|f| {
                f.severity == Severity::Error
                    && f.location.output.is_some()
                    && f.location.commit.is_none()
            });
        if fixable {
            let _ = writeln!(out, "  [notebooks]\n    Clear the outputs named above: `leakgate fix` removes exactly those, in the index and the\n    working tree, and keeps every other output. Or re-run the cell without printing the secret,\n    or clear all outputs (`jupyter nbconvert --clear-output --inplace NOTEBOOK.ipynb`);\n    `nbstripout --install` makes a git filter so outputs never reach the index.");
        } else if any_notebook {
            let _ = writeln!(out, "  [notebooks]\n    Clear the outputs named above: re-run the cell without printing the secret, or clear them\n    (`jupyter nbconvert --clear-output --inplace NOTEBOOK.ipynb`); `nbstripout --install` makes\n    a git filter so outputs never reach the index.");
        }
        if only_models {
            let _ = writeln!(out, "  [then]\n    Unstage the file (`git restore --staged <path>`) and do not load it. Checked it\n    yourself and trust it? List its path under `[allow] paths` in .leakgate.toml.");
        } else if blocking > 0 {
            let _ = writeln!(out, "  [then]\n{}", then_advice(report));
        }
        let _ = writeln!(out);
    }
    for note in &report.notes {
        let _ = writeln!(out, "{}: {}", paint(style, "33", "note"), sanitize(note));
    }
    if style.verbose {
        for s in &report.skipped {
            let _ = writeln!(
                out,
                "skipped: {} ({})",
                sanitize(&s.path),
                sanitize(&s.reason)
            );
        }
        let sup = &report.suppressed;
        if sup.inline + sup.allowlist + sup.baseline + sup.paths > 0 {
            let _ = writeln!(
                out,
                "suppressed: {} by inline allow comments, {} by allow patterns, {} by the baseline, {} files by allowed paths",
                sup.inline, sup.allowlist, sup.baseline, sup.paths
            );
        }
    }
    let _ = writeln!(out, "{}", summary_line(report, blocking, warnings));
    out
}

/// Digits of the fingerprint the human report prints: 12, or more until no two different
/// fingerprints of this report share the printed prefix (`leakgate allow` takes that prefix).
pub fn short_fingerprint_len(findings: &[Finding]) -> usize {
    let mut fps: Vec<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    fps.sort_unstable();
    fps.dedup();
    let common = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    fps.windows(2)
        .map(|w| common(w[0], w[1]) + 1)
        .fold(12, usize::max)
}

/// Whether a finding's place can carry a `leakgate:allow` comment: a text line can; a notebook
/// output, metadata or attachment (written by Jupyter, not by a person) and a model file cannot.
fn takes_inline_allow(f: &Finding) -> bool {
    let generated = f.location.output.is_some()
        || matches!(
            f.location.part,
            Some(Part::Output | Part::Metadata | Part::Attachment)
        );
    !generated && !crate::model::rules::is_model_rule(&f.rule)
}

/// The generic next steps after the per-credential ones, worded for what was scanned and for
/// where the blocking findings are: never `git restore --staged` for what is already committed,
/// never `leakgate:allow` when no blocking finding sits on a line a person could comment.
fn then_advice(report: &Report) -> String {
    let blocking: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let inline = if blocking.iter().any(|f| takes_inline_allow(f)) {
        "Put `leakgate:allow` on that line, accept the finding"
    } else {
        "Accept the finding"
    };
    match report.subject {
        Subject::Commit => {
            let committed = |f: &Finding| report.committed.contains(&f.location.path);
            let mut out = String::new();
            if blocking.iter().any(|f| !committed(f)) {
                out.push_str("    Remove the secret from the file and `git add` it again, or unstage the file with\n    `git restore --staged <path>`. Revoking comes first: a staged secret may already be in\n    editor backups, notebook checkpoints or shell history.\n");
            }
            if blocking.iter().any(|f| committed(f)) {
                out.push_str("    A file named above is already committed as it is, so deleting the secret in a new commit\n    is not enough: revoke it first, then rewrite the commits that added it (`git log -S` finds\n    them; `git rebase -i <base>`) before they are pushed, or clean pushed history and rotate.\n");
            }
            let _ = write!(out, "    Known-safe (a test fixture, a revoked key)? {inline} with\n    `leakgate allow FINGERPRINT --reason TEXT` (add the file's path if it has no staged change),\n    or allow it in .leakgate.toml; `git commit --no-verify` skips this check entirely.");
            out
        }
        Subject::History => "    The secret is in the commit(s) named above, so deleting it in a new commit is not enough:\n    revoke it first, then rewrite those commits before they leave your machine (`git commit\n    --amend` for the last one, `git rebase -i <base>` for older ones).\n    Known-safe? Allow it in .leakgate.toml or the baseline; `git push --no-verify` skips this check.".to_string(),
        Subject::Files => {
            let how = if blocking.iter().any(|f| takes_inline_allow(f)) {
                "Put `leakgate:allow` on that line or allow"
            } else {
                "Allow"
            };
            format!("    Revoke the credential, then remove it from the files and load it at runtime instead.\n    Known-safe? {how} it in .leakgate.toml.")
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One line that proves coverage: a "clean" after scanning nothing must be visible as such.
pub fn summary_line(report: &Report, blocking: usize, warnings: usize) -> String {
    let s = &report.scanned;
    let mut line = format!(
        "leakgate: scanned {} file{}, {} line{}, {} in {}; {} finding{}",
        s.files,
        plural(s.files as usize),
        s.lines,
        plural(s.lines as usize),
        human_size(s.bytes),
        report.scope,
        blocking,
        plural(blocking)
    );
    if warnings > 0 {
        let _ = write!(line, ", {warnings} warning{}", plural(warnings));
    }
    if !report.skipped.is_empty() {
        let mut reasons: Vec<(String, usize)> = Vec::new();
        for s in &report.skipped {
            let key = s.reason.split(':').next().unwrap_or(&s.reason).to_string();
            match reasons.iter_mut().find(|(r, _)| *r == key) {
                Some((_, n)) => *n += 1,
                None => reasons.push((key, 1)),
            }
        }
        let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let _ = write!(
            line,
            "; skipped {} (--verbose lists them)",
            parts.join(", ")
        );
    }
    let sup = &report.suppressed;
    // Files skipped by `[allow] paths` are suppressions too: a user must see that they were.
    let total = sup.inline + sup.allowlist + sup.baseline + sup.paths;
    if total > 0 {
        let _ = write!(line, "; {total} suppressed");
    }
    line
}

fn finding_json(f: &Finding, catalog: &Catalog, show_secrets: bool) -> serde_json::Value {
    let loc = &f.location;
    let remediation = catalog
        .get(&f.rule)
        .map(|r| r.spec.remediation.trim().to_string())
        .or_else(|| crate::model::remediation(&f.rule).map(str::to_string))
        .unwrap_or_default();
    let mut v = json!({
        "rule": f.rule,
        "title": f.title,
        "severity": f.severity,
        "path": String::from_utf8_lossy(&loc.path),
        "line": loc.line,
        "column": loc.column,
        "secret_redacted": if f.detail.is_some() { serde_json::Value::Null } else { redact(&f.secret.0).into() },
        "fingerprint": f.fingerprint,
        "remediation": remediation,
    });
    let obj = v.as_object_mut().expect("json! of an object literal");
    let mut put = |k: &str, val: serde_json::Value| {
        obj.insert(k.to_string(), val);
    };
    if let Some(c) = loc.cell {
        put("cell", c.into());
        put("cell_line", loc.cell_line.unwrap_or(1).into());
        if let Some(o) = loc.output {
            put("output", o.into());
        }
    }
    if let Some(p) = loc.part {
        put("part", serde_json::to_value(p).unwrap_or_default());
    }
    if let Some(c) = &loc.commit {
        put("commit", c.clone().into());
    }
    if let Some(m) = &loc.member {
        put("member", m.clone().into());
    }
    if !f.encodings.is_empty() {
        put("encoding", f.encodings.join(">").into());
    }
    if let Some(c) = f.checksum {
        put("checksum", c.into());
    }
    if let Some(d) = &f.detail {
        put("detail", d.clone().into());
    }
    if show_secrets {
        put("secret", String::from_utf8_lossy(&f.secret.0).into());
    }
    v
}

/// `--format json`: the stable, documented object (README, "JSON output").
pub fn render_json(report: &Report, catalog: &Catalog, show_secrets: bool) -> String {
    let findings: Vec<_> = report
        .findings
        .iter()
        .map(|f| finding_json(f, catalog, show_secrets))
        .collect();
    let v = json!({
        "version": 1,
        "findings": findings,
        "scanned": report.scanned,
        "skipped": report.skipped,
        "suppressed": report.suppressed,
        "notes": report.notes,
    });
    let text = serde_json::to_string_pretty(&v).expect("serialising plain JSON values");
    terminal_safe_json(text) + "\n"
}

/// Percent-encode a relative path into a URI reference for SARIF `artifactLocation.uri`.
fn uri_path(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `--format sarif`: SARIF 2.1.0, one reporting descriptor per rule that fired (per catalog rule
/// with `all_rules`), fingerprints in `partialFingerprints` so code-scanning dashboards track a
/// secret across moves. No `informationUri`: leakgate has no public home to point at yet, and
/// a made-up address would send readers nowhere.
pub fn render_sarif(report: &Report, catalog: &Catalog, all_rules: bool) -> String {
    // Only the rules that fired, unless asked: a code-scanning upload with the whole catalog is
    // mostly descriptors nobody reads. One remediation text per rule, in `help`.
    let fired: std::collections::HashSet<&str> =
        report.findings.iter().map(|f| f.rule.as_str()).collect();
    let wanted = |id: &str| all_rules || fired.contains(id);
    let mut rules: Vec<serde_json::Value> = catalog
        .rules
        .iter()
        .filter(|r| wanted(&r.spec.id))
        .map(|r| {
            let s = &r.spec;
            let mut d = json!({
                "id": s.id,
                "name": camel(&s.id),
                "shortDescription": {"text": s.title},
                "help": {"text": s.remediation.trim()},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["security", "secret"], "precision": "high"},
            });
            if let Some(u) = s.references.first() {
                d["helpUri"] = u.clone().into();
            }
            d
        })
        .collect();
    for (id, title, text) in crate::model::RULES.iter().filter(|(id, ..)| wanted(id)) {
        rules.push(json!({
            "id": id,
            "name": camel(id),
            "shortDescription": {"text": title},
            "help": {"text": text},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["security", "supply-chain"]},
        }));
    }
    let index_of = |id: &str| rules.iter().position(|r| r["id"] == id).map(|i| i as u64);
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let loc = &f.location;
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let what = match &f.detail {
                Some(d) => format!("{}: {}", f.title, d),
                None => format!("{}: {}", f.title, redact(&f.secret.0)),
            };
            let mut region = json!({"startLine": loc.line.max(1)});
            if loc.column > 0 && loc.cell.is_none() {
                region["startColumn"] = loc.column.into();
            }
            let mut r = json!({
                "ruleId": f.rule,
                "level": level,
                "message": {"text": format!("{what} ({})", human_location(loc))},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri_path(&loc.path)},
                    "region": region,
                }}],
                "partialFingerprints": {"leakgateSecret/v2": f.fingerprint},
            });
            if let Some(i) = index_of(&f.rule) {
                r["ruleIndex"] = i.into();
            }
            r
        })
        .collect();
    let v = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "leakgate",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    });
    terminal_safe_json(serde_json::to_string_pretty(&v).expect("serialising plain JSON values"))
        + "\n"
}

fn camel(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_a_short_prefix_only() {
        let cases: &[(&str, &str)] = &[
            ("hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T", "hf_4sx…(37 chars)"),
            ("hunter2xyz", "hu…(10 chars)"),
            ("abc", "…(3 chars)"),
            ("", "…(0 chars)"),
        ];
        for (secret, want) in cases {
            assert_eq!(redact(secret.as_bytes()), *want);
        }
    }

    #[test]
    fn sanitize_escapes_terminal_controls() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain/path.py", "plain/path.py"),
            (b"a\x1b[31mred", "a\\u{1b}[31mred"),
            (b"new\nline", "new\\nline"),
            ("c1\u{9b}2J".as_bytes(), "c1\\u{9b}2J"),
            ("bidi\u{202e}txt".as_bytes(), "bidi\\u{202e}txt"),
            (b"bad\xffutf8", "bad\\xffutf8"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_bytes(input), *want);
        }
    }

    #[test]
    fn json_escapes_c1_and_bidi_characters() {
        let out = terminal_safe_json("{\"p\": \"a\u{9b}b\u{202e}\"}".to_string());
        assert_eq!(out, "{\"p\": \"a\\u009bb\\u202e\"}");
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["p"], "a\u{9b}b\u{202e}");
    }

    #[test]
    fn sealed_fingerprints_are_stable_salted_and_not_the_identity() {
        let id = fingerprint("r", b"hunter2");
        let a = seal(&id, b"0123456789abcdef0123456789abcdef");
        assert_eq!(a.len(), 64);
        assert_eq!(a, seal(&id, b"0123456789abcdef0123456789abcdef"));
        assert_ne!(a, seal(&id, b"fedcba9876543210fedcba9876543210"));
        assert_ne!(
            a,
            seal(
                &fingerprint("r", b"hunter3"),
                b"0123456789abcdef0123456789abcdef"
            )
        );
        assert_ne!(a, id);
    }

    #[test]
    fn fingerprint_depends_on_rule_and_secret_only() {
        let a = fingerprint("r", b"s");
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint("r", b"s"));
        assert_ne!(a, fingerprint("r2", b"s"));
        assert_ne!(a, fingerprint("r", b"s2"));
        assert!(!a.contains('s'));
    }

    #[test]
    fn short_fingerprints_grow_until_unique() {
        let finding = |fp: &str| Finding {
            rule: "r".into(),
            title: "t".into(),
            severity: Severity::Error,
            location: Location::default(),
            secret: Secret::default(),
            encodings: vec![],
            checksum: None,
            detail: None,
            fingerprint: fp.into(),
        };
        let a = "0123456789abcdef0123";
        let b = "0123456789abcdef9999";
        assert_eq!(short_fingerprint_len(&[finding(a)]), 12);
        assert_eq!(short_fingerprint_len(&[finding(a), finding(a)]), 12);
        assert_eq!(short_fingerprint_len(&[finding(a), finding(b)]), 17);
    }

    #[test]
    fn sarif_uri_is_percent_encoded() {
        assert_eq!(uri_path(b"dir/a b#c.py"), "dir/a%20b%23c.py");
    }
}

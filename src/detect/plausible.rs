//! Is a match a credential someone could use, or a stand-in that only looks like one? The
//! principles behind the false alarms measured on real ML code (issue 14), each decided from the
//! match and its line alone:
//!
//! - **elided**: the value is shown in part (`sk-proj-abc123...`, `…`): an ellipsis inside it or
//!   right after it;
//! - **encoded stand-in**: a placeholder hidden behind an encoding: percent-escapes in a URL
//!   (`%3Cpassword%3E`), leetspeak (`P@55w0rd_Ex@mple`), or base64 for the rules without a token
//!   format (a Kubernetes Secret holding `postgres` or `example-app-secret`): decoded first, then
//!   the checks the value as written gets apply;
//! - **no randomness**: what follows a prefix is a sequence, a repetition, a handful of distinct
//!   characters, or under ten characters (`hf_oauth_123`, `sk_123456`, `sk-ant-oat01-file`): a test
//!   mock, not issued;
//! - **claimless JWT**: a token whose payload names no expiry, subject, audience or issuer
//!   (`exp`, `sub`, `aud`, `iss`) authenticates nobody;
//! - **not a credential "token"**: a generic key whose token is a position in a list
//!   (`nextPageToken`, `continuation_token`) or a vocabulary entry (`eos_token`), or a value that
//!   is a name with a version (`token="charturnerv2"`);
//! - **variable name as value**: `DB_PASSWORD` where the password goes (`postgres://u:DB_PASSWORD@h`)
//!   is a reference someone forgot to expand, not a password;
//! - **key word inside an encoded blob**: a rule whose match starts with its key word (`ibm`,
//!   `twilio`) before the value does not read that word glued inside a long base64 run: in
//!   random base64 any three letters turn up every few hundred kilobytes, each with a token-length
//!   run of letters and digits close by (`context_inside_encoded_run`).
//!
//! Invariants: every check is a pure function of the rule, the secret and at most 96 bytes before
//! and 8 after it on its line, so a verdict never depends on the rest of the file or on scan order; none of the
//! checks looks up a list of known values (that is `is_documentation_value`'s job); the decoded
//! forms are built only for the checks and never leave this module.

use crate::rules::{Checksum, Kind, Rule};

/// How far before the secret the key is looked for on its line (the module's bounded context).
const KEY_WINDOW: usize = 96;

/// The principle that makes a match a stand-in (for tests and, later, `--verbose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandIn {
    Elided,
    EncodedPlaceholder,
    NoRandomness,
    ClaimlessJwt,
    NotCredentialToken,
    CodeOrWords,
    VariableName,
}

/// Why the match `text[start..end]` of `rule` is not a credential, if it is not one.
/// `placeholder` and `stopword` are the caller's tests of a value as written, applied here to its
/// decoded forms: placeholders for every rule, stop words (`password`, `default`) only for the
/// key-name rules, as for values as written.
pub fn stand_in(
    rule: &Rule,
    text: &[u8],
    start: usize,
    end: usize,
    placeholder: &dyn Fn(&[u8]) -> bool,
    stopword: &dyn Fn(&[u8]) -> bool,
) -> Option<StandIn> {
    let secret = &text[start..end];
    // Only the window is searched for the line start: a minified file is one long line, and a
    // search back to its start for every match would be quadratic.
    let from = start.saturating_sub(KEY_WINDOW);
    let before_start = memchr::memrchr(b'\n', &text[from..start]).map_or(from, |i| from + i + 1);
    let before = &text[before_start..start];
    let after = &text[end..text.len().min(end + 8)];
    if elided(secret, after) {
        return Some(StandIn::Elided);
    }
    if rule.spec.checksum == Some(Checksum::JwtStructure) && jwt_without_claims(secret) {
        return Some(StandIn::ClaimlessJwt);
    }
    if variable_name(secret) {
        return Some(StandIn::VariableName);
    }
    if !random_after_prefix(secret)
        || (rule.spec.kind == Kind::Generic && short_after_prefix(secret))
    {
        return Some(StandIn::NoRandomness);
    }
    let stand_in_word = |decoded: &[u8]| {
        placeholder(decoded) || (rule.spec.kind == Kind::Generic && stopword(decoded))
    };
    if encoded_placeholder(rule.spec.kind, secret, &stand_in_word) {
        return Some(StandIn::EncodedPlaceholder);
    }
    if rule.spec.kind == Kind::Generic && not_credential_token(before, secret) {
        return Some(StandIn::NotCredentialToken);
    }
    if rule.spec.kind == Kind::Generic && code_or_words(secret) {
        return Some(StandIn::CodeOrWords);
    }
    None
}

/// Bytes of a base64 run (`+` and `/` included, `_` and `-` not: they join words in names).
fn base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// How long a run of base64 bytes around the key word makes it a blob, not a name: longer than
/// any key name (`IBMCLOUD_API_KEY` is cut at its `_`), shorter than a line of base64.
const BLOB_RUN: usize = 40;

/// Whether the match whose key word starts at `context` (before its value) has that word glued
/// inside a base64 run of at least `BLOB_RUN` bytes: a letter or digit right before it, and the
/// run around it that long. A key name written as a word (`ibm_key`, `"IbmApiKey":`, a URL path
/// `/ibm/`) has a separator before it or a short run. Looks at most `BLOB_RUN` bytes each way.
pub fn context_inside_encoded_run(text: &[u8], context: usize) -> bool {
    // A match that starts on a separator (the boundary before a prefixed token) has no key word.
    if context == 0
        || context >= text.len()
        || !text[context - 1].is_ascii_alphanumeric()
        || !text[context].is_ascii_alphanumeric()
    {
        return false;
    }
    let before = text[context.saturating_sub(BLOB_RUN)..context]
        .iter()
        .rev()
        .take_while(|&&b| base64_byte(b))
        .count();
    let after = text[context..text.len().min(context + BLOB_RUN)]
        .iter()
        .take_while(|&&b| base64_byte(b))
        .count();
    before + after >= BLOB_RUN
}

/// `...` or `…` inside the value, or right after it: only part of the value is shown.
fn elided(secret: &[u8], after: &[u8]) -> bool {
    const ELLIPSES: [&[u8]; 2] = [b"...", "\u{2026}".as_bytes()];
    ELLIPSES
        .iter()
        .any(|e| after.starts_with(e) || memchr::memmem::find(secret, e).is_some())
}

/// The value with its prefix taken off: up to three leading segments of letters, perhaps with a
/// version after them, each ending in `_` or `-` (`sk-ant-oat01-`, `hf_oauth_`, `ed25519-`);
/// and whether there was one.
fn body_after_prefix(secret: &[u8]) -> (&[u8], bool) {
    let mut body = secret;
    for _ in 0..3 {
        let letters = body.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let digits = body[letters..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        match body.get(letters + digits) {
            Some(b'_' | b'-') if (1..12).contains(&letters) && digits <= 6 => {
                body = &body[letters + digits + 1..]
            }
            _ => break,
        }
    }
    (body, body.len() < secret.len())
}

/// Whether what follows the prefix has the randomness an issued token has. A random body over
/// an alphabet of k symbols repeats or steps by one (`a`→`a`, `a`→`b`, `b`→`a`) at about 3/k of
/// its transitions (under a third even for digits); a mock (`123456`, `aaaa`, `abcabc`) does at
/// nearly all of them, or uses a handful of distinct characters for its whole length.
fn random_after_prefix(secret: &[u8]) -> bool {
    let (body, _) = body_after_prefix(secret);
    if body.len() < 3 {
        return false;
    }
    let mut distinct = [false; 256];
    for &b in body {
        distinct[b as usize] = true;
    }
    let distinct = distinct.iter().filter(|&&d| d).count();
    if body.len() >= 6 && distinct <= 3 {
        return false;
    }
    let steps = body
        .windows(2)
        .filter(|p| p[0] == p[1] || p[0].wrapping_add(1) == p[1] || p[1].wrapping_add(1) == p[0])
        .count();
    let transitions = body.len() - 1;
    if steps * 10 >= transitions * 7 {
        return false;
    }
    // A short unit repeated (`abcabcabc`, `1234512345`).
    !(1..=body.len() / 3).any(|unit| body.iter().zip(&body[unit..]).all(|(a, b)| a == b))
}

/// A prefix and a word or a counter after it (`sk-ant-oat01-file`, `tok-local1`, `hf_oauth_123`):
/// under ten characters hold too few bits for anything issued. Only for key-name rules: a token
/// format states its own length (a custom `acme_[0-9a-f]{8}` rule means eight).
fn short_after_prefix(secret: &[u8]) -> bool {
    let (body, prefixed) = body_after_prefix(secret);
    prefixed && body.len() < 10
}

/// A JWT whose payload carries none of the claims that make it a credential.
fn jwt_without_claims(token: &[u8]) -> bool {
    use base64::Engine as _;
    let Some(payload) = token.split(|&b| b == b'.').nth(1) else {
        return false;
    };
    let trimmed = payload
        .iter()
        .copied()
        .filter(|&b| b != b'=')
        .collect::<Vec<_>>();
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed) else {
        return false;
    };
    match serde_json::from_slice::<serde_json::Value>(&json) {
        Ok(serde_json::Value::Object(claims)) => !["exp", "sub", "aud", "iss"]
            .iter()
            .any(|c| claims.contains_key(*c)),
        _ => false,
    }
}

/// An environment variable's name (`DB_PASSWORD`, `POSTGRES_PASSWORD2`): upper-case words joined
/// by `_`, written where its value belongs. Upper case only: a lower-case token whose random part
/// happens to hold only letters (`acme_deadbeef`, `hf_akmm…`) reads like a snake-case name too.
fn variable_name(secret: &[u8]) -> bool {
    let segments: Vec<&[u8]> = secret.split(|&b| b == b'_').collect();
    segments.len() >= 2
        && segments.iter().all(|seg| {
            let letters = seg.iter().take_while(|b| b.is_ascii_uppercase()).count();
            letters >= 2 && seg[letters..].iter().all(u8::is_ascii_digit)
        })
}

/// The forms a placeholder takes behind an encoding, decoded: percent-escapes and leetspeak
/// (a URL's `p%40ssw0rd`), and base64 for the rules without a token format (a Secret's
/// `cG9zdGdyZXM=`): random bytes decode to text that is a word about never.
fn encoded_placeholder(kind: Kind, secret: &[u8], stand_in_word: &dyn Fn(&[u8]) -> bool) -> bool {
    let unescaped = percent_decode(secret);
    let plain = unescaped.as_deref().unwrap_or(secret);
    if (unescaped.is_some() && stand_in_word(plain)) || leet_word(plain) {
        return true;
    }
    // A generic value can be base64 too: `password: cG9zdGdyZXM=` in a Secret's data.
    kind != Kind::Specific
        && base64_text(secret)
            .is_some_and(|text| stand_in_word(&text) || leet_word(&text) || is_word(&text))
}

/// Placeholder words people spell in leetspeak so a sample passes a password-strength check
/// (`P@55w0rd_Ex@mple`). Only words of six letters or more: a random value spells one by chance
/// about never, where `test` turns up in one random value in a few hundred once digits read as
/// letters. Not `password` or `secret`: `Passw0rd2026!` is a weak password someone uses, not a
/// sample.
const LEET_WORDS: &[&str] = &["example", "sample", "changeme", "placeholder", "redacted"];

/// A value that reads as a placeholder word once leetspeak is read back, where the word itself was
/// written in leetspeak (`P@55w0rd`; not the plain `secret` of a `sb_secret_` prefix).
fn leet_word(secret: &[u8]) -> bool {
    let plain = unleet(secret);
    LEET_WORDS.iter().any(|w| {
        memchr::memmem::find_iter(&plain, w.as_bytes()).any(|at| {
            let written = &secret[at..at + w.len()];
            !written.eq_ignore_ascii_case(w.as_bytes())
        })
    })
}

/// `%xx` escapes decoded; None when there is none.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut any = false;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                any = true;
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    any.then_some(out)
}

/// Leetspeak read back as letters: `P@55w0rd` → `password`.
fn unleet(s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&b| match b {
            b'@' | b'4' => b'a',
            b'3' => b'e',
            b'1' | b'!' => b'i',
            b'0' => b'o',
            b'5' | b'$' => b's',
            b'7' => b't',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// The text a base64 value decodes to, when it is text.
fn base64_text(s: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let trimmed: Vec<u8> = s.iter().copied().filter(|&b| b != b'=').collect();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    (!text.chars().any(char::is_control)).then_some(bytes)
}

/// Words and identifiers: letters in one case, optionally joined by `-`, `_`, `.` (`postgres`,
/// `app-user`, `default.svc`). A password has digits, symbols or mixed case.
fn is_word(text: &[u8]) -> bool {
    let letters = |b: &u8| b.is_ascii_alphabetic();
    let one_case =
        !text.iter().any(u8::is_ascii_lowercase) || !text.iter().any(u8::is_ascii_uppercase);
    one_case
        && text.iter().any(letters)
        && text
            .iter()
            .all(|b| letters(b) || matches!(b, b'-' | b'_' | b'.'))
}

/// A generic value that is not a literal credential: prose (letters of any script, capitalised at
/// most at the start), a dotted path of identifiers, or what lies between two string literals
/// (it starts or ends with the `,` `;` `:` that separate them).
fn code_or_words(secret: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(secret) else {
        return false;
    };
    let prose = s.chars().all(char::is_alphabetic)
        && !s.is_ascii()
        && !s.chars().skip(1).any(char::is_uppercase);
    let segments: Vec<&str> = s.split('.').collect();
    // Identifier segments are short words with a number or two (`X25519PrivateKey`); the
    // segments of a token (a JWT's) are long and scatter their digits.
    let dotted = segments.len() >= 2
        && segments.iter().all(|seg| {
            let digit_runs = seg
                .as_bytes()
                .windows(2)
                .filter(|w| !w[0].is_ascii_digit() && w[1].is_ascii_digit())
                .count();
            (2..=24).contains(&seg.len())
                && digit_runs <= 2
                && seg.starts_with(|c: char| c.is_ascii_alphabetic())
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    let between_literals = s.starts_with([',', ';', ':']) || s.ends_with([',', ';', ':']);
    prose || dotted || between_literals
}

/// Words in a key that make its "token" a position in a list or a vocabulary entry.
const NON_CREDENTIAL_TOKEN_KEYS: &[&str] = &[
    // Pagination and sync positions.
    "page",
    "next",
    "prev",
    "cursor",
    "continuation",
    "marker",
    "offset",
    "sync",
    "resume",
    // Vocabulary entries of a tokenizer or a fine-tuned model's trigger word.
    "bos",
    "eos",
    "pad",
    "unk",
    "sep",
    "cls",
    "mask",
    "special",
    "vocab",
    "trigger",
    "stop",
    "placeholder",
    "image",
    "audio",
    "video",
];

/// A generic `…token = value` whose key or value says the token is not a credential.
fn not_credential_token(before: &[u8], secret: &[u8]) -> bool {
    let Some(key) = key_before(before) else {
        return false;
    };
    let key = key.to_ascii_lowercase();
    if !key.ends_with("token") && !key.ends_with("tokens") {
        return false;
    }
    let qualifier = &key[..key.rfind("token").unwrap_or(0)];
    if NON_CREDENTIAL_TOKEN_KEYS
        .iter()
        .any(|w| qualifier.contains(w))
    {
        return true;
    }
    name_with_version(secret)
}

/// The identifier right before the assignment operator that precedes the value.
fn key_before(before: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(before).ok()?;
    let s = s.trim_end_matches(['"', '\'', '`', ' ', '\t', '\\']);
    let s = s
        .strip_suffix("=>")
        .or_else(|| s.strip_suffix(":="))
        .or_else(|| {
            s.strip_suffix('=')
                .or_else(|| s.strip_suffix(':'))
                .or_else(|| s.strip_suffix("+="))
        })?;
    let s = s.trim_end_matches(['"', '\'', '`', ' ', '\t', '\\', ']']);
    let key: String = s
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// A lower-case word with at most a two-digit version after it (`charturnerv2`, `landscape_v10`).
fn name_with_version(secret: &[u8]) -> bool {
    let letters = secret
        .iter()
        .take_while(|b| b.is_ascii_lowercase() || matches!(b, b'_' | b'-'))
        .count();
    let digits = &secret[letters..];
    letters >= 4 && digits.len() <= 2 && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests;

//! Structural checks: offline checksums and format checks that decide whether a value in a
//! provider's format is that credential, and the public documentation values that are not.
//!
//! Invariants: each check is a pure function of the value; none looks anything up over the
//! network; a check that cannot parse its value says "not well formed", never panics.

use crate::rules::Checksum;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// GitHub and npm tokens end in a base62 CRC32 of their 30-character random part.
/// See <https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/>.
pub fn checksum_valid(kind: Checksum, secret: &[u8]) -> bool {
    match kind {
        Checksum::GithubCrc32 | Checksum::NpmCrc32 => {
            let body = match memchr::memrchr(b'_', secret) {
                Some(i) => &secret[i + 1..],
                None => secret,
            };
            if body.len() != 36 {
                return false;
            }
            let (payload, check) = body.split_at(30);
            base62_fixed(crc32(payload), 6).as_slice() == check
        }
        Checksum::JwtStructure => jwt_well_formed(secret),
        Checksum::PypiMacaroon => pypi_macaroon_well_formed(secret),
        Checksum::PemDer => pem_der_well_formed(secret),
    }
}

// --- Structural checks decide (issue 14) ---------------------------------------------------------
// A value in a provider's format that fails the provider's structural check is not that
// credential, and it is not any other credential either: the generic rules must not pick up
// what the format's own rule rejected. Public documentation values are examples, not secrets.

/// Well-known values from providers' public documentation and the jwt.io debugger: they appear
/// in tutorials, tests and READMEs everywhere and grant nothing.
pub(super) const DOCUMENTATION_VALUES: &[&str] = &[
    // AWS documentation's example access key pair.
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    // Stripe's documented test-mode keys.
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    // The token the jwt.io debugger opens with.
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    // GitHub's REST API documentation sample.
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    // RFC 6749 (OAuth 2.0) examples: access and refresh token, client secret, Basic credentials.
    "2YotnFZFEjr1zCsicMWpAA",
    "tGzv3JOkF0XG5Qx2TlKWIA",
    "gX1fBat3bV",
    "czZCaGRSa3F0MzpnWDFmQmF0M2JW",
    "s6BhdRkqt3:gX1fBat3bV",
];

pub(super) fn is_documentation_value(secret: &[u8]) -> bool {
    DOCUMENTATION_VALUES.iter().any(|v| v.as_bytes() == secret)
}

pub(super) fn base64url_decode(segment: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let trimmed = segment
        .strip_suffix(b"==")
        .or_else(|| segment.strip_suffix(b"="))
        .unwrap_or(segment);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
}

/// RFC 7519: three dot-separated base64url parts; header and payload are JSON objects, and the
/// header names the signing algorithm.
pub(super) fn jwt_well_formed(token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let object = |part: &[u8]| -> Option<serde_json::Map<String, serde_json::Value>> {
        match serde_json::from_slice(&base64url_decode(part)?).ok()? {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        }
    };
    matches!(object(header), Some(h) if h.get("alg").is_some_and(|a| a.is_string()))
        && object(payload).is_some()
}

/// RFC 7468: the body of a PEM private key is the base64 of a DER structure, an outer SEQUENCE
/// (tag 0x30) whose declared length fits in the decoded bytes. A documentation stub cut short
/// (`MIIEpQIBAAK…` then `-----END`) declares more than it holds. Bodies under RFC 1421 headers
/// (`Proc-Type: 4,ENCRYPTED`) are ciphertext, not DER, and pass. Layout noise is ignored: line
/// breaks, indentation, escaped `\n`, and the quotes and commas of a key split across JSON lines.
pub(super) fn pem_der_well_formed(block: &[u8]) -> bool {
    let Some(open) = memchr::memmem::find(block, b"KEY-----") else {
        return false;
    };
    let rest = &block[open + 8..];
    let body = match memchr::memmem::find(rest, b"-----END") {
        Some(end) => &rest[..end],
        None => rest,
    };
    if memchr::memmem::find(body, b"Proc-Type:").is_some() {
        return true;
    }
    let mut b64 = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            // An escape sequence (`\n`, `\r`, `\t`): its letter is not base64 content
            // (an escaped `\/` is).
            b'\\' if matches!(body.get(i + 1), Some(b'n' | b'r' | b't')) => i += 1,
            c if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' => b64.push(c),
            _ => {}
        }
        i += 1;
    }
    use base64::Engine as _;
    let Ok(der) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&b64) else {
        return false;
    };
    if der.len() < 2 || der[0] != 0x30 {
        return false;
    }
    let (header, length) = match der[1] {
        n if n < 0x80 => (2, usize::from(n)),
        0x81 if der.len() > 2 => (3, usize::from(der[2])),
        0x82 if der.len() > 3 => (4, usize::from(der[2]) << 8 | usize::from(der[3])),
        0x83 if der.len() > 4 => (
            5,
            usize::from(der[2]) << 16 | usize::from(der[3]) << 8 | usize::from(der[4]),
        ),
        _ => return false,
    };
    header + length <= der.len()
}

/// PyPI tokens are `pypi-` and a base64url version-2 macaroon: version byte 2 first, the 32-byte
/// signature field (type 6, length 32) last.
pub(super) fn pypi_macaroon_well_formed(token: &[u8]) -> bool {
    let Some(bytes) = token.strip_prefix(b"pypi-").and_then(base64url_decode) else {
        return false;
    };
    let n = bytes.len();
    n >= 35 && bytes[0] == 2 && bytes[n - 34] == 6 && bytes[n - 33] == 32
}

pub(super) fn base62_fixed(mut n: u32, width: usize) -> Vec<u8> {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits
}

/// CRC-32 (IEEE 802.3, as zlib computes it). Tokens are tiny, so a bitwise loop is plenty.
pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

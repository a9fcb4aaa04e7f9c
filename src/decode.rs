//! Stand-in until the decoding layer lands (same API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Base64,
    Base64Url,
    Percent,
    Escape,
}
impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
            Encoding::Percent => "percent",
            Encoding::Escape => "escape",
        }
    }
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub start: usize,
    pub end: usize,
    pub encoding: Encoding,
    pub bytes: Vec<u8>,
}
pub const MAX_SPANS: usize = 10_000;
pub fn decode_spans(_text: &[u8]) -> Vec<Decoded> {
    Vec::new()
}

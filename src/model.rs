//! Stand-in until the model inspector lands (same API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    Pickle,
    TorchZip,
    Safetensors,
    Gguf,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Safe,
    Unknown,
    Dangerous,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub member: Option<String>,
    pub offset: u64,
    pub verdict: Verdict,
}
#[derive(Clone, Debug, Default)]
pub struct ModelReport {
    pub kind: Option<ModelKind>,
    pub imports: Vec<Import>,
    pub problems: Vec<String>,
    pub metadata: Vec<(String, String)>,
}
pub fn sniff(_bytes: &[u8]) -> Option<ModelKind> {
    None
}
pub fn inspect(_bytes: &[u8]) -> Option<ModelReport> {
    None
}
pub fn classify(_module: &str, _name: &str) -> Verdict {
    Verdict::Unknown
}

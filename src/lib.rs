//! leakgate as a library: the pipeline behind the binary, exposed so fuzz targets and benchmarks
//! can drive each step directly. The data flow, one module per step:
//!
//! `git` (staged diff) → `source` (routing, added lines) → `notebook` / `artifact` + `model` →
//! `decode` → `detect` (with `rules`) → `report`; `run` wires commands to it and `main` exits.

pub mod artifact;
pub mod blobspool;
pub mod cli;
pub mod config;
pub mod decode;
pub mod detect;
pub mod git;
pub mod gitcli;
pub mod gitleaks;
pub mod index;
pub mod install;
pub mod lfs;
pub mod model;
pub mod notebook;
pub mod reach;
pub mod repo;
pub mod report;
pub mod rules;
pub mod run;
pub mod source;
pub mod submodule;
#[cfg(test)]
mod test_rng;

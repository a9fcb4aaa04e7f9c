//! leakgate's integration tests: real git repositories built with the git CLI, the built binary
//! run against them in an isolated environment. One binary, one module per area.

mod encoded;
mod guarantees;
mod harness;
mod hostile;
mod index_forms;
mod living;
mod models;
mod notebooks;
mod settings;
mod staged;
mod workflows;

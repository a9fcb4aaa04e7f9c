//! leakgate's integration tests: real git repositories built with the git CLI, the built binary
//! run against them in an isolated environment. One binary, one module per area.

mod added;
mod adopt;
mod allowfix;
mod bypass;
mod embedded_models;
mod encoded;
mod fix;
mod gitcli;
mod guarantees;
mod harness;
mod hook_env;
mod hostile;
mod index_forms;
mod large_model_history;
mod large_models;
mod living;
mod model_frames;
mod models;
mod mutants_detect;
mod mutants_hooks;
mod mutants_notebook;
mod mutants_run;
mod mutants_source;
mod notebooks;
mod ranges;
mod rules_catalog;
mod settings;
mod staged;
mod standins;
mod workflows;

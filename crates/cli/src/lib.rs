//! The client side of the `spyglass` binary: commands that talk to a running server.

mod archive;
mod client;
mod delete;
mod doctor;
mod tail;
mod traces;
pub mod waterfall;

pub use archive::{ExportArgs, ImportArgs, export, import};
pub use delete::{DeleteCommand, delete};
pub use doctor::{DoctorArgs, doctor};
pub use tail::{TailArgs, tail};
pub use traces::{TracesCommand, traces};

/// Where the server's API is.
#[derive(Debug, Clone, clap::Args)]
pub struct Server {
    /// Base URL of a running Spyglass API.
    #[arg(
        long,
        env = "SPYGLASS_URL",
        default_value = "http://127.0.0.1:6060",
        global = true
    )]
    pub url: String,
}

/// Whether to colour output: a terminal, and NO_COLOR unset.
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

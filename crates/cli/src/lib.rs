//! The client side of the `spyglass` binary: commands that talk to a running server.

mod admin;
mod archive;
mod client;
mod delete;
mod doctor;
mod tail;
mod traces;
pub mod waterfall;

pub use admin::{AccountsCommand, KeysCommand, ProjectsCommand, accounts, keys, projects};
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
    /// An API key (`sg_…`): a read key to read, an admin key to manage the project.
    #[arg(long, env = "SPYGLASS_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// Sign in as this user instead; the password comes from SPYGLASS_PASSWORD.
    #[arg(long, env = "SPYGLASS_USERNAME", global = true)]
    pub username: Option<String>,
    /// The project to work on (default: the key's, or the user's first).
    #[arg(long, env = "SPYGLASS_PROJECT", global = true)]
    pub project: Option<String>,
}

/// Whether to colour output: a terminal, and NO_COLOR unset.
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

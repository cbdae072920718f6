//! The `spyglass` binary: parses configuration and dispatches; every stage lives in its own
//! crate (see docs/ARCHITECTURE.md).

mod alerting;
mod config;
mod config_audit;
mod importer;
mod scaleout;
mod serve;

use clap::{Parser, Subcommand};
use config::{Config, Overrides};

/// mimalloc for Rust and, through `override`, for DuckDB's C++ too: span ingest allocates a
/// string per attribute and the system allocator's free path was a third of ingest CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "spyglass",
    version,
    about = "Observability and security for AI agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Spyglass: OTLP receivers (gRPC :4317, HTTP :4318), storage, API and dashboard (:6060).
    Serve {
        #[command(flatten)]
        overrides: Overrides,
        /// Also load realistic sample agent traces.
        #[arg(long)]
        demo: bool,
    },
    /// Run Spyglass with realistic sample agent traces loaded (same as `serve --demo`).
    Demo {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// List and show traces of a running server.
    #[command(subcommand)]
    Traces(spyglass_cli::TracesCommand),
    /// Follow spans live as a running server commits them.
    Tail(spyglass_cli::TailArgs),
    /// Send a test span through a running server and time each stage.
    Doctor(spyglass_cli::DoctorArgs),
    /// Delete a trace, a session or everything of a user on a running server.
    Delete(spyglass_cli::DeleteCommand),
    /// Projects (tenants) on a running server with authentication on.
    Projects(spyglass_cli::ProjectsCommand),
    /// API keys of a project: create (shown once), list by prefix, revoke.
    Keys(spyglass_cli::KeysCommand),
    /// Accounts that sign in to the API and dashboard, with their roles.
    Accounts(spyglass_cli::AccountsCommand),
    /// Export a time range of a running server as Parquet or JSON-lines files, partitioned by
    /// project and day, to a directory or an S3-compatible bucket.
    Export(spyglass_cli::ExportArgs),
    /// Load archive files, OTLP/JSON files or trace exports into a running server.
    Import(spyglass_cli::ImportArgs),
}

/// Logs to stderr (filtered by `SPYGLASS_LOG` or `RUST_LOG`), and keeps the recent entries,
/// with secrets masked, for the admins' live view (`/api/v1/logs`).
fn init_logging(format: &str) -> spyglass_serverlog::ServerLog {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_from_env("SPYGLASS_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,h2=warn,hyper=warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| spyglass_serverlog::RedactingWriter(std::io::stderr()));
    let fmt = if format == "json" {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let server_log = spyglass_serverlog::ServerLog::new();
    tracing_subscriber::registry()
        .with(fmt)
        .with(server_log.layer())
        .init();
    server_log
}

/// How long mimalloc keeps freed memory before returning it to the OS, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise. Ingest frees and reallocates the same few hundred MiB
/// with every group commit and checkpoint; at mimalloc's default (1 s) those pages went back
/// to the OS and came back as fresh zeroed huge pages, which cost about a tenth of ingest CPU
/// (bench/README.md). Ten seconds spans those cycles and still gives memory back when idle.
const ALLOCATOR_PURGE_DELAY_MS: std::os::raw::c_long = 10_000;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (libmimalloc-sys names it only for v2).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc allows it at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS) };
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        disable_transparent_huge_pages();
    }
}

/// Transparent huge pages off for the process, unless `MIMALLOC_ALLOW_THP` says otherwise.
/// mimalloc asks for them, and the first touch of each 2 MiB page zeroes all of it: reading a
/// 100,000-span trace just after it arrived spent over half its time in the kernel zeroing
/// huge pages (270-400 ms for the first read, 150-200 ms with them off), and ingest is no
/// slower without them (bench/README.md "Trace view"). mimalloc reads its own option before
/// `main`, so the process flag is set here directly; it overrides mimalloc's `MADV_HUGEPAGE`.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve { overrides, demo } => run_server(&overrides, demo, &rt),
        Command::Demo { overrides } => run_server(&overrides, true, &rt),
        Command::Traces(cmd) => {
            let _ = init_logging("text");
            rt.block_on(spyglass_cli::traces(cmd))
        }
        Command::Tail(args) => {
            let _ = init_logging("text");
            rt.block_on(spyglass_cli::tail(args))
        }
        Command::Doctor(args) => {
            let _ = init_logging("text");
            rt.block_on(spyglass_cli::doctor(args))
        }
        Command::Delete(cmd) => {
            let _ = init_logging("text");
            rt.block_on(spyglass_cli::delete(cmd))
        }
        Command::Projects(cmd) => rt.block_on(spyglass_cli::projects(cmd)),
        Command::Keys(cmd) => rt.block_on(spyglass_cli::keys(cmd)),
        Command::Accounts(cmd) => rt.block_on(spyglass_cli::accounts(cmd)),
        Command::Export(args) => {
            let _ = init_logging("text");
            rt.block_on(spyglass_cli::export(args))
        }
        Command::Import(args) => {
            let _ = init_logging("text");
            rt.block_on(spyglass_cli::import(args))
        }
    }
}

fn run_server(
    overrides: &Overrides,
    demo: bool,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let cfg = Config::load(overrides)?;
    let server_log = init_logging(&cfg.log_format);
    rt.block_on(serve::serve(cfg, demo, server_log))
}

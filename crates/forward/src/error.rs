//! Why forwarding could not start. Messages name exporters, keys and files, never header
//! values (they are usually credentials).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("forward.exporters[{index}] ({name:?}): {message}")]
    Config {
        index: usize,
        name: String,
        message: String,
    },
    #[error("exporter {exporter:?}: cannot read tls.ca_file {}: {source}", path.display())]
    CaFile {
        exporter: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("exporter {exporter:?}: cannot set up its client: {message}")]
    Client { exporter: String, message: String },
}

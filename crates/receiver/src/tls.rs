//! TLS on every listener, with rustls: the `[tls]` certificate and key serve OTLP/gRPC (through
//! tonic), OTLP/HTTP and the API (through [`TlsListener`]), so no proxy is required.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

/// The `[tls]` table of the config file: both files, or neither (plain TCP).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[tls] needs both cert_file and key_file (only {0} is set)")]
    Incomplete(&'static str),
    #[error("[tls] {what} {path}: {message}")]
    File {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("[tls] the certificate and key do not make a server identity: {0}")]
    Identity(String),
}

/// A loaded certificate and key, for both TLS stacks.
#[derive(Clone)]
pub struct TlsSetup {
    /// For the HTTP listeners.
    pub server: Arc<rustls::ServerConfig>,
    /// For tonic, which builds its own configuration from PEM.
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSetup")
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        what,
        path: path.into(),
        message: e.to_string(),
    })
}

impl TlsFiles {
    /// `None` when TLS is off; an error names the file at fault.
    pub fn load(&self) -> Result<Option<TlsSetup>, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (cert_path, key_path) = match (&self.cert_file, &self.key_file) {
            (None, None) => return Ok(None),
            (Some(_), None) => return Err(TlsError::Incomplete("cert_file")),
            (None, Some(_)) => return Err(TlsError::Incomplete("key_file")),
            (Some(c), Some(k)) => (c, k),
        };
        let cert_pem = read("cert_file", cert_path)?;
        let key_pem = read("key_file", key_path)?;
        let bad = |what: &'static str, path: &Path, message: String| TlsError::File {
            what,
            path: path.into(),
            message,
        };
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("cert_file", cert_path, format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad("cert_file", cert_path, "holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| bad("key_file", key_path, format!("no PEM private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Identity(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Identity(e.to_string()))?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(TlsSetup {
            server: Arc::new(server),
            cert_pem,
            key_pem,
        }))
    }
}

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections are TLS streams, for `axum::serve`. Handshakes run
/// concurrently off the accept loop, so a slow or hostile client holds up only itself; a
/// failed handshake drops that connection and nothing else.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, setup: &TlsSetup) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(setup.server.clone());
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep listening.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop only ends when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_or_neither() {
        assert!(TlsFiles::default().load().unwrap().is_none());
        let half = TlsFiles {
            cert_file: Some("c.pem".into()),
            key_file: None,
        };
        assert!(matches!(
            half.load(),
            Err(TlsError::Incomplete("cert_file"))
        ));
    }

    #[test]
    fn unreadable_and_non_pem_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert_file: Some(dir.path().join("nope.pem")),
            key_file: Some(dir.path().join("nope.key")),
        };
        let e = missing.load().unwrap_err().to_string();
        assert!(e.contains("cert_file") && e.contains("nope.pem"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = TlsFiles {
            cert_file: Some(junk.clone()),
            key_file: Some(junk),
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(e.contains("holds no certificate"), "{e}");
    }

    #[test]
    fn the_test_certificate_loads() {
        let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("../forward/tests/tls");
        let setup = TlsFiles {
            cert_file: Some(tls.join("server.pem")),
            key_file: Some(tls.join("server.key")),
        }
        .load()
        .unwrap()
        .unwrap();
        assert_eq!(setup.server.alpn_protocols.len(), 2);
    }
}

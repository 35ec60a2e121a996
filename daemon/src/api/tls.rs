//! HTTPS: the same router behind rustls, for daemons that agents reach over
//! the network, served by [`super::serve`] with the same limits.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;

use super::{AppState, router};

/// Load a PEM certificate chain and private key into a rustls config.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = crate::pem::certificates(cert)?;
    let key = crate::pem::private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serve HTTPS on `listener` until `shutdown` resolves.
///
/// # Errors
/// See [`super::serve::serve`].
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<ServerConfig>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    super::serve::serve(listener, Some(tls), router(state), shutdown).await
}

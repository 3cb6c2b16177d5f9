//! Accepting connections, as every server of the local stack does (the gateway, the Runtime
//! API of each instance, the Redis proxy).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The next connection on `listener`, and its peer. An accept error (usually EMFILE: out of
/// file descriptors under load) is logged and tried again after a pause: the server backs off
/// instead of spinning, and outlives the burst.
pub(crate) async fn accept(listener: &TcpListener, server: &str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("{server}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

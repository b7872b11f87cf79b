//! Accepting connections: HTTP/1.1 over hyper with a deadline for every request's headers (which
//! also closes keep-alive connections idle that long, so slow or silent sockets cannot pile up),
//! a cap on open connections, and a graceful shutdown that lets in-flight requests finish (for
//! at most 30 s).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Serve `router` on `listener` until `shutdown` resolves, then wait for the connections in
/// flight. `header_timeout`: how long a connection may take to send a request's headers, or sit
/// idle between requests; `max_connections`: connections open at once (more are closed at once).
pub(crate) async fn accept_loop(
    router: axum::Router,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
    max_connections: usize,
    refused: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.as_mut() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Requests in flight finish; a stream that never ends (the dashboard's events) does not
    // hold the process for good.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open {} s after shutdown began; closing", SHUTDOWN_GRACE.as_secs());
    }
}

/// How long a shutdown waits for the connections in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

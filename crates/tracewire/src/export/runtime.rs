//! A small Tokio runtime on its own thread for telemetry I/O.
//!
//! The gRPC client needs a reactor, and the batch processors call exporters
//! from their own threads. Running that I/O on the application's runtime ties
//! export to it: a current-thread runtime blocked in `shutdown()` would then
//! wait on itself. A dedicated one-thread runtime keeps export independent of
//! how (and whether) the application runs Tokio.

use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

#[derive(Debug)]
pub(crate) struct TelemetryRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TelemetryRuntime {
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("tracewire-export")
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tracewire-export".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Background tasks (idle connections) are dropped here.
                runtime.shutdown_background();
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TelemetryRuntime {
    fn drop(&mut self) {
        self.stop();
    }
}

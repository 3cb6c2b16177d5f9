//! A running execution environment (one process of a function), and the log its output goes
//! to.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};

use super::api::{Invocation, RuntimeApi};
use super::lock::lock;

/// How long instances get to exit after SIGTERM at shutdown before they are killed.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How an instance is stopped: SIGTERM (a chance to exit cleanly) or SIGKILL.
#[derive(Debug, Clone, Copy)]
pub(super) enum KillSignal {
    Term,
    Kill,
}

/// A running execution environment.
pub(super) struct Instance {
    pub(super) number: u64,
    /// Hands the next invocation to the Runtime API (capacity 1: one invocation at a time).
    pub(super) events: mpsc::Sender<Invocation>,
    pub(super) dead: watch::Receiver<bool>,
    pub(super) kill: mpsc::UnboundedSender<KillSignal>,
    pub(super) api: Arc<RuntimeApi>,
    pub(super) exit: Mutex<Option<String>>,
    pub(super) pid: Option<u32>,
    /// When the process was started (for the init duration).
    pub(super) started: Instant,
}

impl Instance {
    pub(super) fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    pub(super) fn signal(&self, sig: KillSignal) {
        let _ = self.kill.send(sig);
    }

    pub(super) async fn wait_dead(&self) {
        let mut dead = self.dead.clone();
        let _ = dead.wait_for(|d| *d).await;
    }

    /// From process start to the first poll for an event.
    pub(super) fn init_duration(&self) -> Option<Duration> {
        self.api
            .first_poll
            .get()
            .map(|t| t.saturating_duration_since(self.started))
    }

    pub(super) fn exit_reason(&self) -> String {
        lock(&self.exit)
            .clone()
            .unwrap_or_else(|| "exited".to_string())
    }

    pub(super) fn init_failure(&self) -> String {
        match lock(&self.api.init_error).clone() {
            Some(e) => e,
            None => format!(
                "exited before polling for an event ({})",
                self.exit_reason()
            ),
        }
    }
}

/// Appends whole lines to a log file shared by all instances of a function
/// (and by functions of the same short name).
pub struct LogSink {
    file: Mutex<std::fs::File>,
}

impl LogSink {
    /// Opens (creating or appending) a log file.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Writes one line (a newline is added) in a single write, so lines of concurrent
    /// instances never interleave; unbuffered, so readers see it at once.
    pub fn write_line(&self, line: &[u8]) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if let Err(e) = lock(&self.file).write_all(&buf) {
            tracing::warn!("cannot write function log: {e}");
        }
    }
}

/// Copies the lines of a process's output to the log.
pub(super) async fn pump_lines(stream: impl AsyncRead + Unpin, sink: Arc<LogSink>) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                sink.write_line(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sink_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        {
            let s = LogSink::open(&path).unwrap();
            s.write_line(br#"{"a":1}"#);
        }
        let s = LogSink::open(&path).unwrap();
        s.write_line(b"second");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\nsecond\n"
        );
    }
}

//! Background tasks that stop together on one signal: the schedule timers and the SQS pollers.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What [`TaskGroup::stop`] does with tasks still running when the grace period is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Late {
    /// Leave them to finish on their own.
    Detach,
    /// Abort them.
    Abort,
}

/// Tasks that watch one stop signal.
pub(super) struct TaskGroup {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl TaskGroup {
    pub(super) fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    /// The stop signal, for a task to watch: it turns `true` when the group stops.
    pub(super) fn signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(super) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    pub(super) fn len(&self) -> usize {
        self.tasks.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Signals stop and waits up to `grace` for every task; then `late` says what happens to
    /// those still running.
    pub(super) async fn stop(self, grace: Duration, late: Late) {
        let _ = self.stop.send(true);
        let aborts: Vec<_> = self.tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() && late == Late::Abort {
            for a in aborts {
                a.abort();
            }
        }
    }
}

/// Sleeps for `wait`, or less if the stop signal comes first; returns whether it came.
pub(super) async fn stopped_within(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

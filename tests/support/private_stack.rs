//! A whole stack of a test's own, in the test's process, for what must not touch the shared
//! stack (a function whose role has no policy, say). It costs the emulator's start, a few
//! seconds: the shared stack is the default.

use rota_local::server::{self, AwsSource, Running, ServeConfig};

use crate::harness::{Stack, binaries, repo_root};
use crate::http::Api;

/// A running private stack; stopped by [`PrivateStack::stop`] (or with the test process).
pub struct PrivateStack {
    pub running: Running,
    _dir: tempfile::TempDir,
}

impl PrivateStack {
    /// Starts the template's stack on free ports, without schedules, with its own emulator and
    /// cache cluster, its logs in a temporary directory; `tweak` changes the configuration
    /// first. The shared stack is never started for a private one.
    pub async fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = ServeConfig {
            port: 0,
            template: repo_root().join("template.yaml"),
            bin_dir: binaries(),
            aws: AwsSource::Moto { port: 0 },
            logs_dir: dir.path().join("logs"),
            schedules: false,
            ..ServeConfig::default()
        };
        tweak(&mut config);
        let running = server::start(config).await.expect("a private stack starts");
        Self { running, _dir: dir }
    }

    /// A client of this stack's gateway.
    pub fn api(&self) -> Api {
        Api::at(&self.running.url())
    }

    /// The stack as the tests' helpers take it (its cache, its logs, its name).
    pub fn stack(&self) -> Stack {
        Stack {
            base_url: self.running.url(),
            aws_endpoint: self.running.aws_endpoint.clone(),
            logs_dir: Some(self._dir.path().join("logs")),
            redis_url: self.running.redis_url.clone(),
            cache_ca: self.running.cache_ca.clone(),
            table: "RotaTable".into(),
            faults: self.running.faults.name.clone(),
            name: Some(self.running.stack_name.clone()),
        }
    }

    /// The emulator's account of what each role was allowed and refused (`/_rota/iam`).
    pub async fn iam_usage(&self) -> serde_json::Value {
        iam_usage(&self.running.aws_endpoint).await
    }

    /// The function's log so far (`<logs>/<short name>.log`).
    pub fn log(&self, short_name: &str) -> String {
        std::fs::read_to_string(
            self._dir
                .path()
                .join("logs")
                .join(format!("{short_name}.log")),
        )
        .unwrap_or_default()
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}

/// `GET <emulator>/_rota/iam`.
pub async fn iam_usage(aws_endpoint: &str) -> serde_json::Value {
    crate::http::get_json(&format!("{aws_endpoint}/_rota/iam"), "/_rota/iam").await
}

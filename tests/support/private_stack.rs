//! A whole stack of a test's own, in the test's process, for what must not touch the shared
//! stack (a function whose role has no policy, say). It costs the emulator's start, a few
//! seconds: the shared stack is the default.

use rota_local::server::{self, AwsSource, Running, ServeConfig};

use crate::harness::{binaries, repo_root};
use crate::http::{Api, random_ip};

const PRIVATE_REDIS_URL: &str = "redis://127.0.0.1:6379/13";

/// A running private stack; stopped by [`PrivateStack::stop`] (or with the test process).
pub struct PrivateStack {
    pub running: Running,
    _dir: tempfile::TempDir,
}

impl PrivateStack {
    /// Starts the template's stack on free ports, without schedules, its logs in a temporary
    /// directory; `tweak` changes the configuration first.
    pub async fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = ServeConfig {
            port: 0,
            template: repo_root().join("template.yaml"),
            bin_dir: binaries(),
            aws: AwsSource::Moto { port: 0 },
            // Its own Redis database (the harness's stack has 14, the bad-day run 9): the
            // shared stack is never started for a private one.
            redis_url: PRIVATE_REDIS_URL.into(),
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
        Api::at(&self.running.url(), random_ip())
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
    reqwest::get(format!("{aws_endpoint}/_rota/iam"))
        .await
        .expect("the emulator answers")
        .json()
        .await
        .expect("/_rota/iam is JSON")
}

//! Fault profiles: the parser (the repo's `local/faults.yaml` and typos), Lambda faults in the
//! Lambda service with the stand-in functions (`rota-local-sqs-echo`, `rota-local-echo`), the counts
//! in `faults.json`, and `serve --faults` from the command line.
//!
//! No AWS stand-in is needed here (the Redis proxy is in `tests/redis_proxy.rs`, the whole
//! stack under a profile in `tests/faults_stack.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{GatewayTask, lambda_service, runtime_options};
use rota_local::faults::{
    self, FaultCounts, FaultProfile, FaultReporter, LambdaFaultPlan, LambdaFaults, OutageMode,
};
use rota_local::lambda_service::{InvokeError, InvokeOutput, LambdaService, RuntimeOptions};
use rota_local::template::Template;
use serde_json::{Value, json};

fn repo_faults_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("faults.yaml")
}

/// The error and its causes, as `rota-local` prints them.
fn message(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[test]
fn every_profile_of_the_repo_parses() {
    let text = std::fs::read_to_string(repo_faults_file()).unwrap();
    let all = faults::parse_profiles(&text).unwrap();
    for name in ["none", "contention", "cache-outage", "bad-day"] {
        assert!(all.contains_key(name), "{name} missing: {:?}", all.keys());
    }
    for (name, p) in &all {
        assert_eq!(&p.name, name);
        assert!(p.describe().contains(name.as_str()));
    }
    assert_eq!(all["none"], FaultProfile::none());
    assert!(all["contention"].has_emulator_faults());
    assert_eq!(all["contention"].redis_outage(), None);

    let outage = all["cache-outage"].redis_outage().unwrap();
    assert_eq!(
        (outage.every_s, outage.down_s, outage.offset_s, outage.mode),
        (20.0, 10.0, 5.0, OutageMode::Refuse)
    );
    assert!(!all["cache-outage"].has_emulator_faults());

    let bad = FaultProfile::load(&repo_faults_file(), "bad-day").unwrap();
    assert_eq!(bad, all["bad-day"]);
    assert_eq!(bad.seed, 20261204);
    assert!(bad.has_emulator_faults());
    assert_eq!(
        bad.lambda,
        Some(LambdaFaults {
            crash_mid: 0.005,
            crash_idle: 0.01,
            timeout: 0.002,
            functions: None,
        })
    );
    assert_eq!(bad.redis_outage().unwrap().every_s, 60.0);

    // `none` is built in: no file needed.
    let none = FaultProfile::load(Path::new("/nonexistent/faults.yaml"), "none").unwrap();
    assert_eq!(none, FaultProfile::none());
}

#[test]
fn typos_fail_clearly() {
    let with = |profile: &str| format!("profiles:\n  none: {{}}\n  mine:\n{profile}");
    let cases = [
        // (profile body, what the error must name)
        ("    lambda: {crash_mdi: 0.1}\n", "crash_mdi"),
        ("    lamda: {crash_mid: 0.1}\n", "lamda"),
        (
            "    redis:\n      outage: {every_s: 20, down: 10}\n",
            "down",
        ),
        (
            "    redis:\n      outage: {every_s: 20, down_s: 10, mode: sometimes}\n",
            "sometimes",
        ),
        ("    redis: {outages: {}}\n", "outages"),
        ("    lambda: {timeout: 1.5}\n", "probability"),
        ("    lambda: {crash_idle: often}\n", "crash_idle"),
        (
            "    redis:\n      outage: {every_s: 10, down_s: 20}\n",
            "down_s",
        ),
        (
            "    redis:\n      outage: {every_s: 0, down_s: 0}\n",
            "every_s",
        ),
    ];
    for (body, needle) in cases {
        let yaml = with(body);
        let err = message(FaultProfile::parse(&yaml, "mine").unwrap_err());
        assert!(err.contains(needle), "{needle:?} not in: {err}");
        // A broken profile breaks the file: even another profile does not load.
        assert!(FaultProfile::parse(&yaml, "none").is_err());
    }

    // Unknown profile: the error lists the profiles.
    let err = message(FaultProfile::load(&repo_faults_file(), "bad-dya").unwrap_err());
    assert!(err.contains("bad-dya"), "{err}");
    assert!(
        err.contains("bad-day, cache-outage, contention, none"),
        "{err}"
    );
    assert!(err.contains("faults.yaml"), "{err}");

    // The emulator's sections are the emulator's business: anything goes in them.
    let yaml =
        with("    seed: 3\n    dynamodb: {anything: [1, 2]}\n    sqs: {failure: {\"*\": 0.1}}\n");
    let p = FaultProfile::parse(&yaml, "mine").unwrap();
    assert!(p.has_emulator_faults() && p.seed == 3);
}

/// `rota-local serve --faults` (or `ROTA_FAULTS`) with an unknown profile fails at once with
/// the list of profiles, before starting anything.
#[tokio::test]
async fn serve_refuses_an_unknown_profile() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(&template, "Resources: {}\n").unwrap();
    let faults_file = repo_faults_file();
    let run = |args: Vec<&str>, env: Vec<(&str, &str)>| {
        let mut cmd = common::rota_local();
        cmd.arg("serve")
            .args(["--port", "0", "--moto-port", "0", "--no-iam"])
            .arg("--template")
            .arg(&template)
            .arg("--logs")
            .arg(dir.path().join("logs"))
            .args(args)
            .env_remove("ROTA_FAULTS")
            .envs(env)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        async move {
            let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
                .await
                .expect("serve did not stop")
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let file = faults_file.to_str().unwrap();
    let (ok, stderr) = run(vec!["--faults", "nosuch", "--faults-file", file], vec![]).await;
    assert!(!ok);
    assert!(stderr.contains("no fault profile \"nosuch\""), "{stderr}");
    assert!(
        stderr.contains("bad-day, cache-outage, contention, none"),
        "{stderr}"
    );
    assert!(!stderr.contains("moto listening"), "{stderr}");

    let (ok, stderr) = run(
        vec!["--faults-file", file],
        vec![("ROTA_FAULTS", "from-env")],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("no fault profile \"from-env\""), "{stderr}");

    // The default file is local/faults.yaml beside the template.
    let (ok, stderr) = run(vec!["--faults", "bad-day"], vec![]).await;
    assert!(!ok);
    let expected = dir.path().join("local/faults.yaml");
    assert!(
        stderr.contains(&format!(
            "cannot read the fault profiles {}",
            expected.display()
        )),
        "{stderr}"
    );
}

const TEMPLATE: &str = r#"
Globals:
  Function:
    Timeout: 30
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: rota-local-sqs-echo } }
  Bystander:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: rota-local-sqs-echo } }
"#;

/// A Lambda service running `TEMPLATE` with the faults of `lambda`, and the reporter keeping
/// `<logs>/faults.json`.
struct Faulted {
    lambda: LambdaService,
    counts: Arc<FaultCounts>,
    reporter: Option<FaultReporter>,
    logs: PathBuf,
    _dir: tempfile::TempDir,
}

impl Faulted {
    fn start(lambda: LambdaFaults) -> Self {
        Self::start_with(TEMPLATE, lambda)
    }

    fn start_with(template: &str, lambda: LambdaFaults) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let profile = FaultProfile {
            name: "test".into(),
            seed: 42,
            lambda: Some(lambda),
            ..FaultProfile::default()
        };
        let counts = Arc::new(FaultCounts::new());
        let template = Template::parse(template).unwrap();
        let lambda = lambda_service(
            &template,
            RuntimeOptions {
                faults: LambdaFaultPlan::from_profile(&profile, counts.clone()).map(Arc::new),
                ..runtime_options(&logs, 2)
            },
        );
        let reporter = FaultReporter::start(
            faults::report_file(&logs),
            &profile,
            "http://127.0.0.1:9/_rota/faults".into(),
            counts.clone(),
        );
        Self {
            lambda,
            counts,
            reporter: Some(reporter),
            logs,
            _dir: dir,
        }
    }

    async fn invoke(&self, function: &str, n: u32) -> Result<InvokeOutput, InvokeError> {
        self.lambda
            .invoke(function, json!({ "n": n }).to_string().into())
            .await
    }

    fn pid(&self, function: &str) -> u32 {
        self.lambda.last_report(function).unwrap().pid.unwrap()
    }

    /// Waits until `faults.json` says `key` is `n`.
    async fn wait_for_report(&self, key: &str, n: u64) -> faults::FaultReport {
        common::wait_for_report(&self.logs, key, n).await
    }

    /// Whether the function logged the event `{"n": n}`: its handler ran.
    fn handled(&self, n: u32) -> bool {
        std::fs::read_to_string(self.logs.join("rota-local-sqs-echo.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["other_event"] == json!({ "n": n }))
    }

    async fn wait_until_no_instance(&self, function: &str) {
        let started = Instant::now();
        while self.lambda.instance_count(function) > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the instance of {function} is still running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        self.lambda.shutdown().await;
        if let Some(r) = self.reporter.take() {
            r.stop().await;
        }
    }
}

fn only_worker(f: LambdaFaults) -> LambdaFaults {
    LambdaFaults {
        functions: Some(vec!["Worker".into()]),
        ..f
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_kills_the_instance_after_the_work() {
    let s = Faulted::start(only_worker(LambdaFaults {
        crash_mid: 1.0,
        ..LambdaFaults::default()
    }));
    let err = s.invoke("Worker", 1).await.unwrap_err();
    assert!(
        matches!(&err, InvokeError::Crashed { function, reason } if function == "Worker" && reason.contains("crash_mid")),
        "{err:?}"
    );
    assert!(!err.is_timeout());
    // The handler did its work before the crash.
    let started = Instant::now();
    while !s.handled(1) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the handler did not run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = s.pid("Worker");
    s.wait_until_no_instance("Worker").await;

    // The next invocation runs on a new instance (and crashes again at rate 1.0).
    let err = s.invoke("Worker", 2).await.unwrap_err();
    assert!(matches!(err, InvokeError::Crashed { .. }), "{err:?}");
    assert_ne!(s.pid("Worker"), first);

    // Functions outside `functions` are left alone.
    let out = s.invoke("Bystander", 3).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out.payload).unwrap()["received"],
        json!({"n": 3})
    );

    assert_eq!(s.counts.get("lambda.crash_mid.Worker"), 2);
    let report = s.wait_for_report("lambda.crash_mid.Worker", 2).await;
    assert_eq!(report.profile, "test");
    assert_eq!(report.seed, 42);
    assert_eq!(report.emulator, "http://127.0.0.1:9/_rota/faults");
    assert_eq!(report.injected.get("lambda.crash_mid.Bystander"), None);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_idle_moves_the_invocation_to_a_new_instance() {
    let s = Faulted::start(LambdaFaults {
        crash_idle: 1.0,
        ..LambdaFaults::default()
    });
    // A cold start has no idle instance to lose.
    let first = s.invoke("Worker", 1).await.unwrap();
    assert!(first.cold_start);
    assert_eq!(s.counts.get("lambda.crash_idle.Worker"), 0);

    // The idle instance is killed; the invocation succeeds on a new one.
    let second = s.invoke("Worker", 2).await.unwrap();
    assert!(second.cold_start);
    assert_ne!(second.instance, first.instance);
    assert_ne!(second.report.pid, first.report.pid);
    assert_eq!(
        serde_json::from_slice::<Value>(&second.payload).unwrap()["received"],
        json!({"n": 2})
    );
    // The killed instance is gone (not an extra one beside the new one).
    assert_eq!(s.lambda.instance_count("Worker"), 1);

    let third = s.invoke("Worker", 3).await.unwrap();
    assert_ne!(third.instance, second.instance);
    assert_eq!(s.counts.get("lambda.crash_idle.Worker"), 2);
    s.wait_for_report("lambda.crash_idle.Worker", 2).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_discards_the_response_and_recycles_the_instance() {
    let s = Faulted::start(only_worker(LambdaFaults {
        timeout: 1.0,
        ..LambdaFaults::default()
    }));
    let started = Instant::now();
    let err = s.invoke("Worker", 1).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        matches!(err, InvokeError::Timeout { secs, .. } if secs == 30.0),
        "reported with the function's timeout: {err:?}"
    );
    // At once, not after the function's 30 s.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(s.handled(1));
    let first = s.pid("Worker");
    s.wait_until_no_instance("Worker").await;

    let err = s.invoke("Worker", 2).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_ne!(s.pid("Worker"), first);
    assert_eq!(s.counts.get("lambda.timeout.Worker"), 2);
    s.wait_for_report("lambda.timeout.Worker", 2).await;
    s.stop().await;
}

#[test]
fn the_same_seed_meets_the_same_faults() {
    let plan = |seed| {
        LambdaFaultPlan::new(
            seed,
            LambdaFaults {
                crash_mid: 0.3,
                ..LambdaFaults::default()
            },
            Arc::new(FaultCounts::new()),
        )
    };
    let pattern = |seed| {
        (1..=200)
            .map(|n| plan(seed).strikes(faults::LambdaFault::CrashMid, "Worker", n))
            .collect::<Vec<_>>()
    };
    assert_eq!(pattern(7), pattern(7));
    assert_ne!(pattern(7), pattern(8));
}

/// The echo function behind the gateway, as in e2e.rs.
const HTTP_TEMPLATE: &str = include_str!("fixtures/echo_http.yaml");

/// What API Gateway answers for each fault: 500 for a crash, 503 for a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_faults_as_api_gateway() {
    for (faults, status, body) in [
        (
            LambdaFaults {
                crash_mid: 1.0,
                ..LambdaFaults::default()
            },
            500,
            json!({"message": "Internal Server Error"}),
        ),
        (
            LambdaFaults {
                timeout: 1.0,
                ..LambdaFaults::default()
            },
            503,
            json!({"message": "Service Unavailable"}),
        ),
    ] {
        let s = Faulted::start_with(HTTP_TEMPLATE, faults);
        let lambda = Arc::new(s.lambda);
        let template = Template::parse(HTTP_TEMPLATE).unwrap();
        let gateway = GatewayTask::start(&template, lambda.clone()).await;
        let r = reqwest::get(format!("http://{}/echo/1", gateway.addr))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(r.json::<Value>().await.unwrap(), body);
        gateway.stop().await;
        lambda.shutdown().await;
        if let Some(r) = s.reporter {
            r.stop().await;
        }
    }
}

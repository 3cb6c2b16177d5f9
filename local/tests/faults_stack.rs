//! The whole stack under a fault profile: `serve --faults` records the profile in
//! `stack.json`, gives the functions the Redis proxy's URL (in front of every node of the
//! stack's cache cluster), injects Lambda faults and counts them in `faults.json`; and the
//! emulator wrapper is started with the profile.
//!
//! Needs the repo's `.venv` (moto) and redis-server; fails without them.

mod common;

use common::{Serve, bin_dir, repo_root, require_venv, start_moto, wait_for_report};
use rota_local::faults;
use rota_local::server::{self, AwsSource, ServeConfig};
use serde_json::Value;

/// Reminders answers `GET /env` with its environment.
const TEMPLATE: &str = include_str!("fixtures/echo_stack.yaml");

const PROFILES: &str = r#"
profiles:
  none: {}
  outage-test:
    seed: 5
    redis:
      # Not during the test: the proxy is there, idle.
      outage: {every_s: 3600, down_s: 1, offset_s: 3000, mode: refuse}
    lambda:
      crash_idle: 1.0
      functions: [Reminders]
"#;

/// `rota-local serve --faults outage-test` from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_under_a_profile() {
    require_venv();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(&template, TEMPLATE).unwrap();
    let profiles = dir.path().join("faults.yaml");
    std::fs::write(&profiles, PROFILES).unwrap();
    let logs = dir.path().join("logs");
    let mut moto = start_moto(&logs).await;

    let mut command = common::rota_local();
    command
        .args(["serve", "--no-schedules", "--no-iam", "--port", "0"])
        .arg("--template")
        .arg(&template)
        .arg("--bin-dir")
        .arg(bin_dir())
        .args(["--aws-endpoint", &moto.endpoint])
        .arg("--logs")
        .arg(&logs)
        .arg("--faults-file")
        .arg(&profiles)
        .env("ROTA_FAULTS", "outage-test");
    let serve = Serve::start(command).await;
    let gateway = serve.gateway.clone();

    // stack.json names the profile, and the cache the functions get: the proxy's.
    let (stack_file, cache) =
        common::assert_stack_file(dir.path(), &moto.endpoint, &gateway, "outage-test");

    // The function's REDIS_URL is the proxy's, its SSL_CERT_FILE the local CA; through the
    // proxy the cluster answers, and it sends clients to every node through the proxy too:
    // each node announces its own proxy listener.
    let get_env = || async {
        let r = reqwest::get(format!("{gateway}/env")).await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["env"].clone()
    };
    let env = get_env().await;
    assert_eq!(env["REDIS_URL"], cache.url.as_str());
    assert_eq!(env["SSL_CERT_FILE"], cache.ca.as_str());
    let root = std::fs::read(&cache.ca).unwrap();
    let announced = common::cluster_ports(&cache.url, &root).await;
    assert_eq!(announced.len(), 3, "{announced:?}");
    assert!(
        announced.contains(&common::port_of(&cache.url)),
        "{announced:?} {cache:?}"
    );
    let direct = cache.node_ports();
    assert!(
        announced.iter().all(|p| !direct.contains(p)),
        "{announced:?} {direct:?}"
    );

    // crash_idle at 1.0: the second request runs on a new instance, and is counted.
    get_env().await;
    let report_path = faults::report_file(&logs);
    let report = wait_for_report(&logs, "lambda.crash_idle.Reminders", 1).await;
    assert_eq!(report.profile, "outage-test");
    assert_eq!(report.seed, 5);
    assert_eq!(report.emulator, format!("{}/_rota/faults", moto.endpoint));
    for key in [
        faults::REDIS_OUTAGES,
        faults::REDIS_CONNECTIONS_CUT,
        faults::REDIS_CONNECTIONS_REFUSED,
    ] {
        assert_eq!(report.injected.get(key), Some(&0), "{key}");
    }

    let stderr = serve.terminate().await;
    assert!(
        stderr.contains("fault profile outage-test (seed 5): Redis down 1 s of every 3600 s"),
        "{stderr}"
    );
    assert!(stderr.contains("fault crash_idle"), "{stderr}");
    assert!(!stack_file.exists());
    // The final counts stay for whoever reads them after the run.
    let last = faults::read_report(&report_path).unwrap();
    assert_eq!(last.injected["lambda.crash_idle.Reminders"], 1);
    moto.stop().await;
}

/// The emulator wrapper (`local/moto-server` beside the template) gets `--faults-file` and
/// `--faults` under a profile, and nothing more without one. A stand-in launcher records its
/// arguments and starts the real wrapper without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_gets_the_profile() {
    require_venv();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("template.yaml"), TEMPLATE).unwrap();
    std::fs::create_dir_all(root.join("local")).unwrap();
    std::fs::create_dir_all(root.join(".venv/bin")).unwrap();
    std::fs::write(root.join(".venv/bin/python"), "").unwrap();
    let real = std::path::absolute(repo_root().join("local/moto-server")).unwrap();
    let launcher = root.join("local/moto-server");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/args\"\nexec '{}' -H \"$2\" -p \"$4\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &launcher,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let repo_profiles = std::path::absolute(repo_root().join("local/faults.yaml")).unwrap();
    // Sent emails land beside the stack's logs (the wrapper writes them).
    let mail = rota_local::stack::mail_dir(&root.join("logs"));

    for (profile, expected) in [
        (
            "bad-day",
            format!(
                "-H 127.0.0.1 -p {{port}} --faults-file {} --faults bad-day --mail-dir {}",
                repo_profiles.display(),
                mail.display()
            ),
        ),
        (
            "none",
            format!("-H 127.0.0.1 -p {{port}} --mail-dir {}", mail.display()),
        ),
    ] {
        let _ = std::fs::remove_file(root.join("local/args"));
        let running = server::start(ServeConfig {
            port: 0,
            template: root.join("template.yaml"),
            bin_dir: bin_dir(),
            aws: AwsSource::Moto { port: 0 },
            logs_dir: root.join("logs"),
            schedules: false,
            faults: profile.into(),
            faults_file: Some(repo_profiles.clone()),
            // The test template's functions are stand-ins, without roles to check.
            iam: false,
            ..ServeConfig::default()
        })
        .await
        .unwrap();
        let port = running.aws_endpoint.rsplit(':').next().unwrap().to_string();
        let args = std::fs::read_to_string(root.join("local/args")).unwrap();
        assert_eq!(args.trim(), expected.replace("{port}", &port), "{profile}");
        assert_eq!(running.info().faults, profile);
        assert_eq!(running.faults.name, profile);
        // bad-day has Redis outages: the functions get the proxy; none: the first node.
        let nodes = running.cache_nodes();
        assert_eq!(nodes.len(), 3);
        if profile == "none" {
            assert_eq!(running.redis_url, nodes[0]);
        } else {
            assert!(!nodes.contains(&running.redis_url), "{}", running.redis_url);
        }
        running.shutdown().await;
    }
}

//! Two stacks of one account refuse each other's tokens (a staging admin's token is no token in
//! production): each stack has its own JWT secret (`/rota/<stack name>/jwt-secret` by default)
//! and its tokens name the stack as issuer and audience. Shown with two local stacks sharing
//! one emulator, as two stacks share one account's SSM: the second is `rota-local serve` on
//! the test stack's emulator under a name of its own, without schedules or queue pollers (it
//! must not take the first stack's messages). The two also share the table (local stacks name
//! it alike), so the account a token names exists on both: only the token can be refused.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rota_tests::*;
use serde_json::json;

/// A second local stack on the test stack's emulator, stopped when dropped.
struct OtherStack {
    child: Child,
    base_url: String,
    name: String,
    dir: tempfile::TempDir,
}

impl OtherStack {
    fn start() -> Self {
        let name = format!("rota-tests-other-{}", std::process::id());
        let dir = temp_dir("rota-other-stack-");
        let file = |f: &str| std::fs::File::create(dir.path().join(f)).expect("output file");
        let stack = stack();
        let child = Command::new(binaries().join("rota-local"))
            .current_dir(repo_root())
            .args([
                "serve",
                "--no-schedules",
                "--no-queue-pollers",
                "--faults",
                "none",
            ])
            .args(["--host", "127.0.0.1", "--port", "0", "--max-instances", "1"])
            .args(["--stack-name", &name])
            .args(["--aws-endpoint", &stack.aws_endpoint])
            .args(["--redis-url", &stack.redis_url])
            .arg("--template")
            .arg(repo_root().join("template.yaml"))
            .arg("--bin-dir")
            .arg(binaries())
            .arg("--logs")
            .arg(dir.path().join("logs"))
            .stdin(Stdio::null())
            .stdout(file("stdout"))
            .stderr(file("stderr"))
            .spawn()
            .expect("rota-local starts");
        let mut other = Self {
            child,
            base_url: String::new(),
            name,
            dir,
        };
        let begun = Instant::now();
        loop {
            let mut out = String::new();
            if let Ok(mut f) = std::fs::File::open(other.dir.path().join("stdout")) {
                f.read_to_string(&mut out).unwrap();
            }
            if let Some(url) = out
                .lines()
                .find_map(|l| l.strip_prefix("rota-local: serving on "))
            {
                other.base_url = url.trim().to_string();
                return other;
            }
            let exited = other.child.try_wait().unwrap();
            if exited.is_some() || begun.elapsed() > Duration::from_secs(60) {
                let err =
                    std::fs::read_to_string(other.dir.path().join("stderr")).unwrap_or_default();
                panic!("the second stack did not start ({exited:?}):\n{err}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for OtherStack {
    fn drop(&mut self) {
        // SIGTERM: rota-local stops its function instances before it exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let asked = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if asked.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test]
async fn a_token_of_one_stack_is_refused_by_another_stack_of_the_same_account() {
    let here = Api::new();
    let mine = here.new_account().await;
    assert_eq!(here.get("/api/users/me", mine.token()).await.status, 200);

    let other = OtherStack::start();
    let there = Api::new().against(&other.base_url);
    // This stack's token, for an account the other stack's table holds too.
    there.get("/api/users/me", mine.token()).await.problem(401);

    // A token the other stack itself would issue for that account: accepted there (so the
    // other stack serves, and knows the account), refused here.
    let now = chrono::Utc::now().timestamp();
    let claims = |scope: &rota_api::auth::tokens::TokenScope| {
        json!({"sub": mine.id.to_string(), "role": "member", "iat": now, "exp": now + 900,
            "iss": scope.issuer, "aud": scope.audience})
    };
    let their_scope = token_scope_of(&other.name);
    let our_scope = stack_token_scope();
    assert_ne!(their_scope, our_scope);
    let their_secret = jwt_secret_of(&other.name).await;
    assert_ne!(their_secret, jwt_secret_of(stack().name()).await);
    let theirs = signed_jwt(&claims(&their_scope), &their_secret);
    assert_eq!(
        there.get("/api/users/me", Some(&theirs)).await.status,
        200,
        "the other stack accepts its own token"
    );
    here.get("/api/users/me", Some(&theirs)).await.problem(401);

    // Issuer and audience decide even under the right secret (two stacks given the same
    // JwtSecretParameterName): the other stack's secret, this stack's names.
    let ours_under_their_secret = signed_jwt(&claims(&our_scope), &their_secret);
    there
        .get("/api/users/me", Some(&ours_under_their_secret))
        .await
        .problem(401);
}

//! The repository's command-line tools (rota-admin, `rota-local fire`) run against the
//! stack, with its environment.

use crate::harness::{binaries, repo_root, stack, stack_command};

/// Runs `rota-admin` against the stack's emulator.
pub fn rota_admin(args: &[&str]) -> std::process::Output {
    let bin = binaries().join("rota-admin");
    stack_command(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
}

/// Fires the reminder schedule once for `at` (RFC 3339) through `rota-local fire`, against the
/// stack's emulator and Redis.
pub fn fire_reminder_schedule(at: &str) -> std::process::Output {
    let bin = binaries();
    let stack = stack();
    let mut fire = stack_command(bin.join("rota-local"));
    fire.args([
        "fire",
        "--function",
        "RemindersSchedulerFunction",
        "--time",
        at,
    ])
    .args(["--aws-endpoint", &stack.aws_endpoint])
    .args(["--redis-url", &stack.redis_url])
    .arg("--template")
    .arg(repo_root().join("template.yaml"))
    .arg("--bin-dir")
    .arg(&bin);
    if let Some(ca) = &stack.cache_ca {
        fire.arg("--cache-ca").arg(ca);
    }
    if let Some(logs) = &stack.logs_dir {
        fire.arg("--logs").arg(logs);
    }
    fire.output().expect("rota-local fire")
}

/// `out` of a command that must have succeeded (else its stderr in the failure): its stdout.
pub fn succeeded(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

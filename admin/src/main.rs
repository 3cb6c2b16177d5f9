//! `rota-admin`: operator commands against the deployed (or local) table.
//!
//! ```text
//! rota-admin grant-admin EMAIL    make the account an admin (takes effect at its next token)
//! rota-admin revoke-admin EMAIL   make it a member again
//! rota-admin redrive DLQ_URL QUEUE_URL
//!                                 move dead-lettered messages back after a fix
//! rota-admin export --table T --out FILE.jsonl [--segments N]
//!                                 every item of T, one DynamoDB JSON line each (parallel Scan)
//! rota-admin import --table T --in FILE.jsonl [--concurrency N]
//!                                 put every item of the file into T (BatchWriteItem)
//! rota-admin verify [--fix]       recount every counter from its items (exit 1 on a mismatch;
//!                                 --fix sets them to the recount)
//! ```
//! Uses the same environment as the functions: TABLE_NAME, AWS credentials and region (and
//! AWS_ENDPOINT_URL for the local emulator). docs/operations-backup.md has the restore
//! procedures.

mod backup;
mod dynamo_json;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use rota_domain::input::{Email, Role};
use rota_store::users::Users;

const USAGE: &str =
    "usage: rota-admin grant-admin EMAIL | revoke-admin EMAIL | redrive DLQ_URL QUEUE_URL
       rota-admin export --table T --out FILE.jsonl [--segments N]
       rota-admin import --table T --in FILE.jsonl [--concurrency N]
       rota-admin verify [--fix]";

/// `--name value` options after a subcommand; `None` on anything unexpected.
fn options<'a>(args: &'a [String], allowed: &[&str]) -> Option<Vec<(&'a str, &'a str)>> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(name) = it.next() {
        let name = name.strip_prefix("--").filter(|n| allowed.contains(n))?;
        if out.iter().any(|(n, _)| *n == name) {
            return None;
        }
        out.push((name, it.next()?.as_str()));
    }
    Some(out)
}

fn option<'a>(opts: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    opts.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// An error with its causes, outermost first (`a: b: c`), for the operator's terminal.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The SDK as the functions load it, with more attempts for the SDK's own retries (throttling
/// during a large export or import is expected, and each retry is cheap).
async fn admin_sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(8))
        .load()
        .await
}

async fn verify_counters(rest: &[String]) -> ExitCode {
    let apply_fix = match rest {
        [] => false,
        [flag] if flag == "--fix" => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "RotaTable".into());
    let db = rota_store::dynamodb_client(
        &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    );
    match verify::verify(&db, &table, apply_fix).await {
        Ok(report) => {
            for m in &report.mismatches {
                println!(
                    "MISMATCH {}: stored {}, recounted {}",
                    m.what, m.stored, m.recounted
                );
            }
            println!(
                "verified {} items: {} users, {} posts; {} mismatches{}",
                report.items,
                report.users,
                report.posts,
                report.mismatches.len(),
                if apply_fix {
                    format!(", {} fixed", report.fixed)
                } else {
                    String::new()
                }
            );
            if report.mismatches.is_empty() || apply_fix {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("verify failed: {}", chain(&e));
            ExitCode::from(1)
        }
    }
}

async fn export_or_import(cmd: &str, rest: &[String]) -> ExitCode {
    let allowed: &[&str] = if cmd == "export" {
        &["table", "out", "segments"]
    } else {
        &["table", "in", "concurrency"]
    };
    let file_opt = if cmd == "export" { "out" } else { "in" };
    let parsed = options(rest, allowed).and_then(|o| {
        let table = option(&o, "table")?.to_owned();
        let file = PathBuf::from(option(&o, file_opt)?);
        let n = match option(
            &o,
            if cmd == "export" {
                "segments"
            } else {
                "concurrency"
            },
        ) {
            None => 4,
            Some(v) => v.parse::<u32>().ok().filter(|n| (1..=1000).contains(n))?,
        };
        Some((table, file, n))
    });
    let Some((table, file, n)) = parsed else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let db = aws_sdk_dynamodb::Client::new(&admin_sdk().await);
    let started = std::time::Instant::now();
    // What was done, for the operator, or why it stopped.
    let done = if cmd == "export" {
        backup::export(&db, &table, &file, n).await.map(|r| {
            format!(
                "exported {} items from {table} to {} ({n} segments: {:?} items, {} pages)",
                r.items,
                file.display(),
                r.per_segment,
                r.pages
            )
        })
    } else {
        let backoff = backup::Backoff::default();
        backup::import(&db, &table, &file, n as usize, backoff)
            .await
            .map(|r| {
                format!(
                    "imported {} items into {table} from {} ({} batches, {} retries of unprocessed items)",
                    r.items,
                    file.display(),
                    r.batches,
                    r.retries
                )
            })
    };
    match done {
        Ok(what) => {
            println!("{what} in {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{cmd} failed: {}", chain(&e));
            ExitCode::from(1)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cmd, rest @ ..] = args.as_slice()
        && (cmd == "export" || cmd == "import")
    {
        return export_or_import(cmd, rest).await;
    }
    if let [cmd, rest @ ..] = args.as_slice()
        && cmd == "verify"
    {
        return verify_counters(rest).await;
    }
    if let [cmd, from, to] = args.as_slice()
        && cmd == "redrive"
    {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let sqs = rota_store::sqs_client(&sdk);
        // An operator's tool: long polls and many batches, under the store's retry policy.
        let budget = rota_store::retry::Budget::new(
            std::time::Duration::from_secs(600),
            std::time::Duration::from_secs(10),
        );
        let moved =
            rota_store::retry::with_budget(budget, rota_store::redrive::redrive(&sqs, from, to));
        return match moved.await {
            Ok(moved) => {
                println!("moved {moved} messages");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("failed: {}", chain(&e));
                ExitCode::from(1)
            }
        };
    }
    let (role, email) = match args.as_slice() {
        [cmd, email] if cmd == "grant-admin" => (Role::Admin, email),
        [cmd, email] if cmd == "revoke-admin" => (Role::Member, email),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let email = match Email::parse(email) {
        Ok(e) => e,
        Err(why) => {
            eprintln!("EMAIL {why}");
            return ExitCode::from(2);
        }
    };
    let config = match rota_api::config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    match Users::new(&db, &config.table_name)
        .set_role(&email, role)
        .await
    {
        Ok(Some(user)) => {
            println!(
                "{} (id {}) is now {}",
                user.email,
                user.id,
                user.role.as_str()
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("no account with email {}", email.as_str());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("failed: {}", chain(&e));
            ExitCode::from(1)
        }
    }
}

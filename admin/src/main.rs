//! `rota-admin`: operator commands against the deployed (or local) table.
//!
//! ```text
//! rota-admin grant-admin EMAIL    make the account an admin (takes effect at its next token)
//! rota-admin revoke-admin EMAIL   make it a member again
//! rota-admin redrive DLQ_URL QUEUE_URL
//!                                 move dead-lettered messages back after a fix
//! ```
//! Uses the same environment as the functions: TABLE_NAME, AWS credentials and region (and
//! AWS_ENDPOINT_URL for the local emulator).

use std::process::ExitCode;

use rota::domain::{Email, Role};
use rota::store::users::Users;

const USAGE: &str =
    "usage: rota-admin grant-admin EMAIL | revoke-admin EMAIL | redrive DLQ_URL QUEUE_URL";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cmd, from, to] = args.as_slice()
        && cmd == "redrive"
    {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        return match rota::reminders::redrive(&aws_sdk_sqs::Client::new(&sdk), from, to).await {
            Ok(moved) => {
                println!("moved {moved} messages");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("failed: {e}");
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
    let config = match rota::config::Config::from_env() {
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
            eprintln!("failed: {e}");
            ExitCode::from(1)
        }
    }
}

//! The reminder by email, in process against the stack's emulator: each email is read back
//! from the stack's mail directory (`mail/` beside its logs), where the emulator writes every
//! message SES accepts. One email per user per day whatever is retried, none after a one-click
//! unsubscribe or a bounce, in the learner's language.

use mail_parser::MessageParser;
use rota_api::App;
use rota_api::email::{EmailOutcome, Mailer};
use rota_api::reminders::{Outcome, remind};
use rota_api::state::DbTokensAndMail;
use rota_store::users::{DueUser, Users};
use rota_tests::*;
use serde_json::json;

use super::{due_learner, just_after, reminders_of};

const UNSUBSCRIBE_URL: &str = "https://api.rota.example/api/reminders/unsubscribe";

/// The worker's App as the template configures it (the stack's identity is `MailDomain`'s
/// default), sending from `from`.
async fn mailing(from: &str) -> App<DbTokensAndMail> {
    mailing_through(from, sdk_config().await).await
}

/// [`mailing`], its SES client (only) configured by `ses`.
async fn mailing_through(from: &str, ses: aws_config::SdkConfig) -> App<DbTokensAndMail> {
    let sdk = sdk_config().await;
    let from = from.to_owned();
    let mailer = Mailer::from_lookup(&ses, |k| match k {
        "MAIL_FROM" => Some(from.clone()),
        "SES_CONFIGURATION_SET" => Some("rota-test-mail".into()),
        "UNSUBSCRIBE_URL" => Some(UNSUBSCRIBE_URL.into()),
        "SES_SEND_RATE" => Some("50".into()),
        _ => None,
    })
    .unwrap()
    .expect("a mailer");
    App::new(
        config(),
        DbTokensAndMail {
            db: aws_sdk_dynamodb::Client::new(&sdk),
            tokens: in_process_token_keys(),
            mailer: Some(mailer),
        },
        None,
    )
}

async fn worker() -> App<DbTokensAndMail> {
    mailing("Rota <reminders@rota.example>").await
}

/// The stack's App, the worker that mails reminders, a learner due for one (with a roadmap)
/// and their address.
async fn a_learner_due_by_email() -> (TestApp, App<DbTokensAndMail>, Learner, DueUser, String) {
    let app = app().await;
    let worker = worker().await;
    let (me, due) = due_learner(&app, true).await;
    let to = address_of(&app, me.id).await;
    (app, worker, me, due, to)
}

async fn address_of(app: &TestApp, id: i64) -> String {
    Users::new(app.db(), app.table())
        .get(id)
        .await
        .unwrap()
        .unwrap()
        .email
}

/// Every email the stack accepted for `to`, raw, oldest first.
fn emails_to(to: &str) -> Vec<Vec<u8>> {
    let logs = stack()
        .logs_dir
        .as_deref()
        .expect("the stack's logs directory (ROTA_LOGS_DIR) locates its mail directory");
    let dir = rota_local::stack::mail_dir(logs);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|raw| {
            MessageParser::default()
                .parse(raw)
                .and_then(|m| m.to().and_then(|a| a.first()?.address().map(str::to_owned)))
                .as_deref()
                == Some(to)
        })
        .collect()
}

fn header(raw: &[u8], name: &str) -> String {
    let message = MessageParser::default().parse(raw).unwrap();
    message
        .header_raw(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_reminder_comes_by_email_with_one_click_unsubscribe_headers() {
    let (app, worker, me, due, to) = a_learner_due_by_email().await;
    assert_eq!(
        remind(&worker, due, just_after(due.due)).await.unwrap(),
        Outcome::Delivered
    );
    let emails = emails_to(&to);
    assert_eq!(emails.len(), 1, "one email");
    let raw = &emails[0];
    let message = MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("reminders@rota.example")
    );
    assert_eq!(message.subject(), Some("Time for today's step"));
    let unsubscribe = header(raw, "List-Unsubscribe");
    let prefix = format!("<{UNSUBSCRIBE_URL}?token=");
    assert!(unsubscribe.starts_with(&prefix), "{unsubscribe}");
    assert_eq!(
        header(raw, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(header(raw, "Content-Type"), "text/plain; charset=UTF-8");
    let body = message.body_text(0).unwrap();
    assert!(body.starts_with("Hi Zeynep Yılmaz,"), "{body}");
    assert!(body.contains("Next up in"), "{body}");
    // And the in-app notification, as before.
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

#[tokio::test]
async fn a_turkish_learner_gets_the_email_in_turkish() {
    let (app, worker, me, due, to) = a_learner_due_by_email().await;
    // The profile's `locale`, as the profile API stores it.
    let tr = aws_sdk_dynamodb::types::AttributeValue::S("tr".into());
    let profile = (format!("USER#{}", me.id), "PROFILE");
    app.db()
        .update_item()
        .table_name(app.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(profile.0))
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(profile.1.into()),
        )
        .update_expression("SET locale = :tr")
        .expression_attribute_values(":tr", tr)
        .send()
        .await
        .unwrap();
    remind(&worker, due, just_after(due.due)).await.unwrap();
    let emails = emails_to(&to);
    assert_eq!(emails.len(), 1);
    let message = MessageParser::default().parse(&emails[0]).unwrap();
    assert_eq!(message.subject(), Some("Bugünün adımı seni bekliyor"));
    let body = message.body_text(0).unwrap();
    assert!(body.starts_with("Merhaba Zeynep Yılmaz,"), "{body}");
    assert!(body.contains("Sıradaki adımın: "), "{body}");
    assert!(body.contains("\"Abonelikten çık\""), "{body}");
    assert_eq!(header(&emails[0], "Content-Language"), "tr");
}

#[tokio::test]
async fn a_send_retried_after_a_failure_or_a_crash_mails_once() {
    let (app, worker, me, due, to) = a_learner_due_by_email().await;
    let now = just_after(due.due);
    // SES cannot be reached (nothing sent): the claim is given back and the user fails, to be
    // retried with the message.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = mailing_through(
        "Rota <reminders@rota.example>",
        sdk_config()
            .await
            .to_builder()
            .endpoint_url(nowhere)
            .build(),
    )
    .await;
    assert!(remind(&unreachable, due, now).await.is_err());
    assert!(emails_to(&to).is_empty());
    // The retry sends, then the worker dies before the notification (between send and record):
    // the email is out, the reminder still due.
    let profile = Users::new(app.db(), app.table())
        .get(me.id)
        .await
        .unwrap()
        .unwrap();
    let (mailer, keys) = rota_api::state::HasMail::mail(&worker.state).unwrap();
    let day = rota_domain::streak::local_date(now, &profile.timezone);
    let sent = mailer
        .remind(
            worker.db(),
            worker.table(),
            keys,
            &profile,
            &day.to_string(),
            "r",
            "s",
            now,
        )
        .await
        .unwrap();
    assert_eq!(sent, EmailOutcome::Sent);
    // The redelivered message: the notification comes, the email does not come again.
    assert_eq!(remind(&worker, due, now).await.unwrap(), Outcome::Delivered);
    assert_eq!(emails_to(&to).len(), 1, "one email");
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

#[tokio::test]
async fn an_email_ses_refuses_does_not_hold_back_the_in_app_reminder() {
    let app = app().await;
    let (me, due) = due_learner(&app, true).await;
    // A sender SES has not verified: MessageRejected, which a retry would meet again.
    let refused = mailing("Rota <reminders@unverified.example>").await;
    assert_eq!(
        remind(&refused, due, just_after(due.due)).await.unwrap(),
        Outcome::Delivered
    );
    assert!(emails_to(&address_of(&app, me.id).await).is_empty());
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

#[tokio::test]
async fn after_a_one_click_unsubscribe_the_next_day_brings_no_email_but_the_notification() {
    let (app, worker, me, due, to) = a_learner_due_by_email().await;
    remind(&worker, due, just_after(due.due)).await.unwrap();
    let [raw] = &emails_to(&to)[..] else {
        panic!("one email")
    };
    let link = header(raw, "List-Unsubscribe");
    let token = link
        .trim_matches(|c| c == '<' || c == '>')
        .split_once("?token=")
        .unwrap()
        .1
        .to_owned();
    let unsubscribe = async |token: &str| {
        let mut event = sample_event("reminders-unsubscribe");
        event["rawQueryString"] = json!(format!("token={token}"));
        event["queryStringParameters"] = json!({"token": token});
        call(&app, &rota_api::handlers::mail::Unsubscribe, &event).await
    };
    // A forged or altered token changes nothing.
    let (id, tag) = token.split_once('.').unwrap();
    let forged = format!("{}.{tag}", id.parse::<i64>().unwrap() + 1);
    let reply = unsubscribe(&forged).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    // The mail client's POST, no sign-in: 204, and again 204.
    for _ in 0..2 {
        let reply = unsubscribe(&token).await;
        assert_eq!(reply.status, 204, "{}", reply.text);
    }
    // The next day's run: the in-app reminder, no email.
    let next = DueUser {
        id: me.id,
        due: super::due_at(&app, me.id).await,
    };
    assert!(next.due > due.due);
    assert_eq!(
        remind(&worker, next, just_after(next.due)).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(reminders_of(&app, &me).await.0.len(), 2);
    assert_eq!(emails_to(&to).len(), 1, "no email after unsubscribing");
    // The profile setting turns them back on.
    let reply = patch_me(&app, &me.token, &json!({"email_reminders": true})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["email_reminders"], true);
}

#[tokio::test]
async fn a_bounce_suppresses_the_address_and_a_transient_one_does_not() {
    let (app, worker, me, due, to) = a_learner_due_by_email().await;
    let event_for = |address: &str, bounce_type: &str| {
        let text = std::fs::read_to_string(repo_root().join("events/mail-events.json")).unwrap();
        let mut event: serde_json::Value =
            serde_json::from_str(&text.replace("REPLACE_WITH_ADDRESS", address)).unwrap();
        let mut body: serde_json::Value =
            serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
        body["bounce"]["bounceType"] = json!(bounce_type);
        event["Records"][0]["body"] = json!(body.to_string());
        serde_json::from_value(event).unwrap()
    };
    let data = App::new(
        config(),
        rota_api::state::Db {
            db: app.db().clone(),
        },
        None,
    );
    let run = |event| async {
        let mut metrics = rota_lambda::metrics::Metrics::new();
        rota_api::function::Job::run(
            &rota_api::handlers::mail::MailEvents,
            &data,
            event,
            &mut metrics,
        )
        .await
        .unwrap()
    };
    // A full mailbox (transient) suppresses nothing.
    let other = unique_email();
    assert!(
        run(event_for(&other, "Transient"))
            .await
            .batch_item_failures
            .is_empty()
    );
    let mail = rota_store::mail::Mail::new(app.db(), app.table());
    assert!(!mail.is_suppressed(&other).await.unwrap());
    // A hard bounce (SES reports the address in its own case) suppresses it.
    assert!(
        run(event_for(&to.to_uppercase(), "Permanent"))
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(
        remind(&worker, due, just_after(due.due)).await.unwrap(),
        Outcome::Delivered
    );
    assert!(emails_to(&to).is_empty(), "no email to a bounced address");
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

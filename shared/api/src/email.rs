//! The daily reminder by email, through Amazon SES (v2 `SendEmail`, a raw RFC 5322 message so
//! the headers are ours), in the learner's language, with RFC 8058 one-click unsubscribe.
//!
//! **Never twice a day.** Before calling SES the worker claims `EMAILED#<local date>` for the
//! user (in the transaction that also checks the address is not suppressed). SES has no
//! idempotency token, so a crash between SES accepting the message and anything we write after
//! it cannot be told apart from a send that never happened: the claim comes first, and a claim
//! found on a retry means "do not send" (at most once). Only when SES answered with a refusal
//! (nothing was sent) is the claim given back, so the retry sends. An ambiguous failure (a
//! timeout after the request left) keeps the claim: that day's email may be lost, never
//! doubled. The SDK's own retries are off for the same reason.
//!
//! **Suppression.** Hard bounces and complaints (SES events through SNS into SQS,
//! [`crate::handlers::mail::MailEvents`]) write a suppression item the claim checks. SES's
//! account-level suppression list alone is not enough: it is account-wide and shared by
//! every stack and application of the account, a complaint does not enter it unless the
//! account opted into complaint suppression, sending to a listed address still counts as a
//! send (and a bounce for the reputation metrics in some cases), and the worker cannot tell
//! "suppressed" from "sent" by its answer; our own item keeps it out before SES is called.
//!
//! **Sending rate.** SES allows the account a number of sends per second. The worker runs at
//! most `MAIL_SENDERS` instances at once (the event-source mapping's `MaximumConcurrency`), and
//! each instance paces its sends at `floor(SES_SEND_RATE / MAIL_SENDERS)` per second ([`Pacer`]), so
//! together they cannot exceed the account's rate. Chosen over a token bucket in the Redis
//! cluster because the worker runs outside the VPC (no Redis there, no NAT), and because the
//! bound holds without any shared state that could be down; the cost is that an instance
//! with nothing to send cannot lend its share to the others.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64_STD, URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Utc};
use rota_domain::locale::Locale;
use rota_store::mail::{Claim, Mail};
use rota_store::users::User;

use crate::auth::tokens::TokenKeys;
use crate::error::ApiError;

const UNSUBSCRIBE_PURPOSE: &str = "email-unsubscribe";
/// How long a day's claim is kept (it only has to outlive the day's retries).
const CLAIM_TTL_SECS: i64 = 3 * 24 * 3600;

/// A one-click unsubscribe token: `<user id>.<tag>`, the tag an HMAC over the id under a key
/// derived from the service secret (as device tokens are), so it cannot be made for another
/// user. It does not expire: an unsubscribe link must keep working in old emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsubscribeToken {
    pub user_id: i64,
}

impl UnsubscribeToken {
    pub fn mint(keys: &TokenKeys, user_id: i64) -> String {
        format!("{user_id}.{}", B64.encode(Self::tag(keys, user_id)))
    }

    /// The user a token of ours names; a forged, altered or malformed token is `None`.
    pub fn verify(keys: &TokenKeys, presented: &str) -> Option<Self> {
        let (id, tag) = presented.split_once('.')?;
        // The canonical form only (no sign, no leading zeros): one token per user.
        let user_id: i64 = id.parse().ok().filter(|v: &i64| v.to_string() == id)?;
        let tag = B64.decode(tag).ok()?;
        let same = keys.is_derived(&tag, UNSUBSCRIBE_PURPOSE, &[id.as_bytes()]);
        same.then_some(Self { user_id })
    }

    fn tag(keys: &TokenKeys, user_id: i64) -> [u8; 32] {
        keys.derive(UNSUBSCRIBE_PURPOSE, &[user_id.to_string().as_bytes()])
    }
}

/// Paces one instance's sends (shared by its concurrent users): `m` a second, one every
/// `1/m` s, so any one-second window holds at most `m` of them.
pub struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Pacer {
    /// The account's `rate` sends per second shared by at most `senders` instances: each gets
    /// `floor(rate / senders)` a second (whole sends: a fractional share would let an
    /// instance's slots fall three into one second where its share is 2.8). `None` when that
    /// is less than one.
    pub fn new(rate: u32, senders: u32) -> Option<Self> {
        let per_instance = rate / senders.max(1);
        (per_instance >= 1).then(|| Self {
            interval: Duration::from_secs(1) / per_instance,
            next: tokio::sync::Mutex::new(None),
        })
    }

    /// Waits for this instance's next sending slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// What the worker's container builds to send email: from the environment the template sets.
pub struct Mailer {
    ses: aws_sdk_sesv2::Client,
    /// `Rota <reminders@<MailDomain>>`: an address of the template's verified identity.
    from: String,
    configuration_set: String,
    /// `https://<api>/api/reminders/unsubscribe` (the token is appended).
    unsubscribe_url: String,
    pacer: Pacer,
}

/// What became of a user's reminder email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOutcome {
    Sent,
    /// The user turned reminder emails off (one-click unsubscribe or the profile).
    Off,
    Suppressed,
    /// Claimed before: sent already, or a send whose outcome is unknown.
    AlreadySent,
    /// SES may or may not have taken it (a timeout): kept claimed, never sent again.
    Unknown,
    /// SES refused it for good (a rejected message, a paused account): not sent, the in-app
    /// reminder goes on.
    Refused,
}

impl Mailer {
    /// From `MAIL_FROM`, `SES_CONFIGURATION_SET`, `UNSUBSCRIBE_URL`, `SES_SEND_RATE` (sends per
    /// second for the account, default 14: SES's
    /// production default) and `MAIL_SENDERS` (instances at most, default 5);
    /// `None` when `MAIL_FROM` is unset (a function that sends no email).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Option<Self>, String> {
        Self::from_lookup(sdk, |k| std::env::var(k).ok())
    }

    pub fn from_lookup(
        sdk: &aws_config::SdkConfig,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let Some(from) = get("MAIL_FROM").filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let need = |k: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or(format!("{k} is not set"))
        };
        let rate: u32 = match get("SES_SEND_RATE") {
            Some(v) => v.parse().map_err(|_| format!("SES_SEND_RATE: {v:?}"))?,
            None => 14,
        };
        let senders: u32 = match get("MAIL_SENDERS") {
            Some(v) => v.parse().map_err(|_| format!("MAIL_SENDERS: {v:?}"))?,
            None => 5,
        };
        let pacer = Pacer::new(rate, senders).ok_or(format!(
            "SES_SEND_RATE ({rate}/s) must be at least MAIL_SENDERS ({senders})"
        ))?;
        // One attempt per call: an SDK retry after a timeout could send the email twice.
        let conf = aws_sdk_sesv2::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .build(),
            );
        Ok(Some(Self {
            ses: aws_sdk_sesv2::Client::from_conf(conf.build()),
            from,
            configuration_set: need("SES_CONFIGURATION_SET")?,
            unsubscribe_url: need("UNSUBSCRIBE_URL")?,
            pacer,
        }))
    }

    /// Sends `user` the reminder of local day `day` (next: `step` of `roadmap`) at most once,
    /// unless they turned email off or their address is suppressed (see the module docs).
    #[allow(clippy::too_many_arguments)]
    pub async fn remind(
        &self,
        db: &aws_sdk_dynamodb::Client,
        table: &str,
        keys: &TokenKeys,
        user: &User,
        day: &str,
        roadmap: &str,
        step: &str,
        now: DateTime<Utc>,
    ) -> Result<EmailOutcome, ApiError> {
        if !user.email_reminders {
            return Ok(EmailOutcome::Off);
        }
        let mail = Mail::new(db, table);
        match mail
            .claim(user.id, day, &user.email, now, CLAIM_TTL_SECS)
            .await?
        {
            Claim::Claimed => {}
            Claim::AlreadyClaimed => return Ok(EmailOutcome::AlreadySent),
            Claim::Suppressed => return Ok(EmailOutcome::Suppressed),
        }
        let message = Message {
            locale: user.locale,
            from: &self.from,
            to: &user.email,
            name: &user.display_name,
            roadmap,
            step,
            unsubscribe: &format!(
                "{}?token={}",
                self.unsubscribe_url,
                UnsubscribeToken::mint(keys, user.id)
            ),
            date: now,
            id: &format!("{}.{day}", user.id),
        }
        .render();
        self.pacer.wait().await;
        let sent = self
            .ses
            .send_email()
            .from_email_address(&self.from)
            .destination(
                aws_sdk_sesv2::types::Destination::builder()
                    .to_addresses(&user.email)
                    .build(),
            )
            .content(
                aws_sdk_sesv2::types::EmailContent::builder()
                    .raw(
                        aws_sdk_sesv2::types::RawMessage::builder()
                            .data(aws_sdk_sesv2::primitives::Blob::new(message))
                            .build()
                            .map_err(ApiError::internal)?,
                    )
                    .build(),
            )
            .configuration_set_name(&self.configuration_set)
            .send()
            .await;
        match sent {
            Ok(out) => {
                // The email is out: a failure to record it changes nothing (the claim holds).
                if let Err(e) = mail
                    .mark_sent(user.id, day, out.message_id().unwrap_or_default())
                    .await
                {
                    tracing::warn!(user_id = user.id, error = %e, "email sent, not marked");
                }
                Ok(EmailOutcome::Sent)
            }
            Err(err) => match failure(&err) {
                // Nothing sent: give the claim back. A transient cause fails the user, so the
                // message is redelivered and the email sent then.
                Failure::Transient => {
                    mail.release(user.id, day).await?;
                    Err(ApiError::internal(format!(
                        "SES SendEmail: {}",
                        aws_sdk_sesv2::error::DisplayErrorContext(err)
                    )))
                }
                // SES will refuse it again (a rejected message or address, a paused
                // account): retrying would only hold back the in-app reminder.
                Failure::Refused => {
                    mail.release(user.id, day).await?;
                    tracing::error!(
                        user_id = user.id,
                        error = %aws_sdk_sesv2::error::DisplayErrorContext(err),
                        "SES refused the reminder email"
                    );
                    Ok(EmailOutcome::Refused)
                }
                Failure::Unknown => {
                    tracing::error!(
                        user_id = user.id,
                        error = %aws_sdk_sesv2::error::DisplayErrorContext(err),
                        "SES SendEmail outcome unknown: not sent again"
                    );
                    Ok(EmailOutcome::Unknown)
                }
            },
        }
    }
}

/// What a failed SendEmail means for the day's email.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// Nothing was sent and a later attempt may succeed: throttled, SES's 5xx, no connection.
    Transient,
    /// Nothing was sent and SES will refuse it again (its other 4xx answers).
    Refused,
    /// The request may have reached SES (a timeout after it left): it may have been sent.
    Unknown,
}

fn failure<E>(err: &aws_sdk_sesv2::error::SdkError<E>) -> Failure
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata,
{
    use aws_sdk_sesv2::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let throttled = matches!(
                e.err().code(),
                Some("TooManyRequestsException" | "LimitExceededException" | "Throttling")
            );
            if throttled || e.raw().status().is_server_error() {
                Failure::Transient
            } else {
                Failure::Refused
            }
        }
        SdkError::ConstructionFailure(_) => Failure::Refused,
        SdkError::DispatchFailure(e) if !e.is_timeout() && !e.is_other() => Failure::Transient,
        _ => Failure::Unknown,
    }
}

/// One reminder email, rendered as an RFC 5322 message.
pub struct Message<'a> {
    pub locale: Locale,
    pub from: &'a str,
    pub to: &'a str,
    pub name: &'a str,
    pub roadmap: &'a str,
    pub step: &'a str,
    /// The one-click URL, token included.
    pub unsubscribe: &'a str,
    pub date: DateTime<Utc>,
    /// Unique per user and day (the Message-ID's left part).
    pub id: &'a str,
}

/// The texts of a reminder email, per language.
struct Texts {
    subject: &'static str,
    greeting: &'static str,
    next: &'static str,
    nudge: &'static str,
    why: &'static str,
}

fn texts(locale: Locale) -> Texts {
    match locale {
        Locale::En => Texts {
            subject: "Time for today's step",
            greeting: "Hi",
            next: "Next up in",
            nudge: "A few minutes today keep your streak going.",
            why: "You get this email because daily reminders are on in your Rota profile. To \
                  stop reminder emails, use your mail app's Unsubscribe button or turn them \
                  off in your profile.",
        },
        Locale::Tr => Texts {
            subject: "Bugünün adımı seni bekliyor",
            greeting: "Merhaba",
            next: "Sıradaki adımın:",
            nudge: "Bugün ayıracağın birkaç dakika serini sürdürmene yeter.",
            why: "Bu e-postayı Rota profilinde günlük hatırlatmalar açık olduğu için alıyorsun. \
                  Hatırlatma e-postalarını durdurmak için e-posta uygulamandaki \"Abonelikten \
                  çık\" düğmesini kullanabilir ya da profilinden kapatabilirsin.",
        },
    }
}

impl Message<'_> {
    pub fn subject(&self) -> &'static str {
        texts(self.locale).subject
    }

    /// The plain-text body (UTF-8).
    pub fn body(&self) -> String {
        let t = texts(self.locale);
        let next = match self.locale {
            Locale::En => format!("{} {}: {}.", t.next, self.roadmap, self.step),
            // The roadmap's name in parentheses: a Turkish case suffix on a name of any
            // language would need its vowel harmony.
            Locale::Tr => format!("{} {} ({}).", t.next, self.step, self.roadmap),
        };
        format!(
            "{} {},\r\n\r\n{next}\r\n{}\r\n\r\n-- \r\n{}\r\n",
            t.greeting,
            self.name,
            t.nudge,
            wrap(t.why, 76)
        )
    }

    /// The whole message: headers in 7-bit ASCII (the subject and the recipient's name as
    /// RFC 2047 encoded words), the body UTF-8 in base64, as SES requires of a raw message.
    pub fn render(&self) -> Vec<u8> {
        let domain = self
            .from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>'))
            .unwrap_or("rota.invalid");
        let body = B64_STD.encode(self.body());
        let mut lines: Vec<String> = vec![
            format!("From: {}", self.from),
            format!("To: {} <{}>", encoded_word(self.name), self.to),
            format!("Subject: {}", encoded_word(self.subject())),
            format!("Date: {}", self.date.to_rfc2822()),
            format!("Message-ID: <reminder.{}@{domain}>", self.id),
            // RFC 8058: the POST to this https URL unsubscribes, no sign-in, no page.
            format!("List-Unsubscribe: <{}>", self.unsubscribe),
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click".into(),
            format!("Content-Language: {}", self.locale.as_str()),
            "MIME-Version: 1.0".into(),
            "Content-Type: text/plain; charset=UTF-8".into(),
            "Content-Transfer-Encoding: base64".into(),
            String::new(),
        ];
        lines.extend(
            body.as_bytes()
                .chunks(76)
                .map(|c| String::from_utf8_lossy(c).into_owned()),
        );
        let mut out = lines.join("\r\n");
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// `text` as is when it is printable ASCII, else one RFC 2047 `B` encoded word.
fn encoded_word(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"') {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", B64_STD.encode(text))
    }
}

/// Greedy word wrap at `width` characters (CRLF line ends).
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push_str("\r\n");
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsubscribe_token_names_its_user_and_cannot_be_made_for_another() {
        let k = TokenKeys::for_tests(b"a-secret-of-at-least-32-bytes-long!!");
        let token = UnsubscribeToken::mint(&k, 42);
        assert_eq!(
            UnsubscribeToken::verify(&k, &token),
            Some(UnsubscribeToken { user_id: 42 })
        );
        let (_, tag) = token.split_once('.').unwrap();
        assert_eq!(UnsubscribeToken::verify(&k, &format!("43.{tag}")), None);
        assert_eq!(UnsubscribeToken::verify(&k, &format!("042.{tag}")), None);
        assert_eq!(UnsubscribeToken::verify(&k, "42"), None);
        let other = TokenKeys::for_tests(b"another-secret-of-at-least-32-bytes");
        assert_eq!(UnsubscribeToken::verify(&other, &token), None);
    }

    #[tokio::test(start_paused = true)]
    async fn five_paced_instances_never_exceed_the_account_rate_in_any_second() {
        // 5 instances (the worker's MaximumConcurrency), 14 sends/s for the account; each
        // instance has 16 users in flight at once. Paused time: the clock only moves when
        // every task sleeps, so the schedule is exact and the test takes no real time.
        let rate = 14;
        let start = tokio::time::Instant::now();
        let sends = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let pacer = std::sync::Arc::new(Pacer::new(rate, 5).unwrap());
            for _ in 0..16 {
                for _ in 0..3 {
                    let (pacer, sends) = (pacer.clone(), sends.clone());
                    tasks.push(tokio::spawn(async move {
                        pacer.wait().await;
                        sends.lock().unwrap().push(start.elapsed());
                    }));
                }
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut sends = sends.lock().unwrap().clone();
        sends.sort();
        assert_eq!(sends.len(), 240);
        // Every window of one second (opening at each send) holds at most `rate` sends.
        for (i, first) in sends.iter().enumerate() {
            let within = sends[i..]
                .iter()
                .take_while(|t| **t < *first + Duration::from_secs(1))
                .count();
            assert!(
                within <= rate as usize,
                "{within} sends within 1 s of {first:?}"
            );
        }
    }

    fn message(locale: Locale) -> Message<'static> {
        Message {
            locale,
            from: "Rota <reminders@rota.example>",
            to: "ayse@example.com",
            name: "Ayşe",
            roadmap: "Backend",
            step: "HTTP basics",
            unsubscribe: "https://api.rota.example/api/reminders/unsubscribe?token=1.x",
            date: DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            id: "1.2026-03-01",
        }
    }

    #[test]
    fn the_message_is_7_bit_with_one_click_headers_and_a_utf8_body() {
        for locale in Locale::ALL {
            let raw = message(locale).render();
            assert!(raw.is_ascii(), "headers and base64 body are 7-bit");
            let text = String::from_utf8(raw).unwrap();
            assert!(text.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
            assert!(text.contains(
                "\r\nList-Unsubscribe: <https://api.rota.example/api/reminders/unsubscribe?token=1.x>\r\n"
            ));
            assert!(text.contains("\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
            assert!(text.lines().all(|l| l.len() <= 998));
        }
        let tr = message(Locale::Tr);
        assert_eq!(tr.subject(), "Bugünün adımı seni bekliyor");
        assert!(
            tr.body()
                .contains("Sıradaki adımın: HTTP basics (Backend).")
        );
        assert!(
            message(Locale::En)
                .body()
                .contains("Next up in Backend: HTTP basics.")
        );
    }
}

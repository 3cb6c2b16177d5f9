//! Users and their credentials.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | user | `USER#<id>` | `PROFILE` | profile and settings (no secrets) |
//! | credential | `EMAIL#<lower-cased email>` | `CREDENTIAL` | user_id, password hash |
//!
//! The credential item is the owner's email index: keyed by the case-folded email it makes
//! emails unique (written with the user in one TransactWriteItems, conditional on not
//! existing) and serves login with one strongly consistent GetItem — a GSI could do neither.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{entity_item, is_true, is_zero, read, yes};
use super::{Item, Key, UpdateRequest, conditional, db_error, get_n, get_s, n, s};
use super::{SendRetried, StoreError, Versioned};
use rota_domain::input::{DisplayName, Email, ReminderHour, Role, TimeZone};
use rota_domain::locale::Locale;

pub const DEFAULT_REMINDER_HOUR: u8 = 9;
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// The user item's attributes as well (serde_dynamo; the reminder index keys are added by
/// [`User::to_item`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    #[serde(with = "role_attribute")]
    pub role: Role,
    #[serde(with = "crate::item::rfc3339")]
    pub created_at: DateTime<Utc>,
    pub reminder_enabled: bool,
    pub reminder_hour: u8,
    pub timezone: String,
    /// The language of everything the user reads (attribute `locale`; absent on items written
    /// before it existed, which read as English).
    #[serde(default, with = "locale_attribute")]
    pub locale: Locale,
    /// When the next daily reminder is due, as stored in `reminder_due_hour` (indexed by
    /// `reminders-due` while reminders are enabled): a UTC epoch minute, or for items written
    /// before due times moved to minutes an epoch hour
    /// (`rota_domain::reminder_hours::stored_due_minute` reads both). Written with the index
    /// partition by [`User::to_item`], only while reminders are on.
    #[serde(rename = "reminder_due_hour", default, skip_serializing)]
    pub reminder_due: Option<i64>,
    /// Incremented by every profile update (0: never updated, no attribute); each update is
    /// conditional on the version it read. (The reminder worker's conditional advance leaves
    /// it alone.)
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
    /// Whether the daily reminder also comes by email (absent: on). Off after a one-click
    /// unsubscribe; `PATCH /users/me` turns it back on.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub email_reminders: bool,
}

/// The role as its name (`member`, `admin`).
mod role_attribute {
    use rota_domain::input::Role;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(role: &Role, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(role.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Role, D::Error> {
        let raw = String::deserialize(from)?;
        Role::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("role {raw:?}")))
    }
}

/// The locale as its code; an unknown one reads as English, like an absent one.
mod locale_attribute {
    use rota_domain::locale::Locale;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(locale: &Locale, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(locale.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Locale, D::Error> {
        Ok(Locale::from_stored(Some(&String::deserialize(from)?)))
    }
}

/// The credential item's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub user_id: i64,
    pub password_hash: String,
}

pub fn user_key(id: i64) -> Key {
    (user_pk(id), "PROFILE".into())
}

/// The partition of everything a user owns (profile, likes, roadmaps, notifications, …).
pub fn user_pk(id: i64) -> String {
    format!("USER#{id}")
}

/// The user's unread-notification counter.
pub fn inbox_key(id: i64) -> Key {
    (user_pk(id), "INBOX".into())
}

pub(crate) fn email_key(email_key: &str) -> Key {
    (format!("EMAIL#{email_key}"), "CREDENTIAL".into())
}

impl User {
    pub fn new(
        id: i64,
        email: &Email,
        display_name: &DisplayName,
        locale: Locale,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            email: email.as_str().to_owned(),
            display_name: display_name.as_str().to_owned(),
            role: Role::Member,
            created_at: now,
            reminder_enabled: true,
            reminder_hour: DEFAULT_REMINDER_HOUR,
            timezone: DEFAULT_TIMEZONE.to_owned(),
            locale,
            reminder_due: Some(rota_domain::reminder_hours::next_due_minute(
                now,
                DEFAULT_REMINDER_HOUR,
                DEFAULT_TIMEZONE,
            )),
            version: 0,
            email_reminders: true,
        }
    }

    /// This profile with `changes` applied at `now`: a change to the reminder settings
    /// schedules the next reminder from them (or none when they are off).
    fn changed(&self, changes: &ProfileChanges, now: DateTime<Utc>) -> User {
        let mut next = self.clone();
        if let Some(v) = &changes.display_name {
            next.display_name = v.as_str().to_owned();
        }
        if let Some(v) = changes.reminder_enabled {
            next.reminder_enabled = v;
        }
        if let Some(v) = changes.reminder_hour {
            next.reminder_hour = v.get();
        }
        if let Some(v) = &changes.timezone {
            next.timezone = v.as_str().to_owned();
        }
        if let Some(v) = changes.locale {
            next.locale = v;
        }
        if let Some(v) = changes.email_reminders {
            next.email_reminders = v;
        }
        if changes.touch_reminder() {
            next.reminder_due = next.reminder_enabled.then(|| {
                rota_domain::reminder_hours::next_due_minute(
                    now,
                    next.reminder_hour,
                    &next.timezone,
                )
            });
        }
        next.version = self.version + 1;
        next
    }

    /// The user item: the profile's attributes, and while reminders are on the
    /// `reminders-due` index keys.
    pub(crate) fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = entity_item(user_key(self.id), "user", self)?;
        if let (true, Some(due)) = (self.reminder_enabled, self.reminder_due) {
            item.insert("reminder_bucket".into(), s(REMINDER_BUCKET));
            // The attribute keeps its pre-minutes name: it is the index's sort key, and a new
            // name would mean a new GSI (a backfill, two deploys) for no gain.
            item.insert("reminder_due_hour".into(), n(due));
        }
        Ok(item)
    }
}

/// A user whose daily reminder is due: what the scheduler queues (serialised into SQS
/// messages) and the worker delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DueUser {
    pub id: i64,
    /// The stored due value the scheduler found (see [`User::reminder_due`]); named on the
    /// wire as the attribute is, so messages queued across a deploy read the same both ways.
    #[serde(rename = "due_hour")]
    pub due: i64,
}

/// The `reminders-due` index's one partition (sparse: only users with reminders on).
pub const REMINDER_BUCKET: &str = "DUE";

/// Changes a user may make to their own profile; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    pub display_name: Option<DisplayName>,
    pub reminder_enabled: Option<bool>,
    pub reminder_hour: Option<ReminderHour>,
    pub timezone: Option<TimeZone>,
    pub locale: Option<Locale>,
    pub email_reminders: Option<bool>,
}

/// How a versioned profile write ended.
enum Written {
    Yes,
    /// No such user.
    Gone,
    /// The profile changed since it was read: nothing written.
    Stale,
}

impl ProfileChanges {
    /// Whether the reminder settings change (so the next reminder is scheduled again).
    fn touch_reminder(&self) -> bool {
        self.reminder_enabled.is_some() || self.reminder_hour.is_some() || self.timezone.is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.reminder_enabled.is_none()
            && self.reminder_hour.is_none()
            && self.timezone.is_none()
            && self.locale.is_none()
            && self.email_reminders.is_none()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    EmailTaken,
    /// The user id (or another item of the transaction) already existed: retry with new ids.
    IdCollision,
}

pub struct Users<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Users<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    /// Writes the credential, the user, `extra` (the first session) and the user count in one
    /// transaction.
    pub async fn create(
        &self,
        user: &User,
        email: &Email,
        password_hash: &str,
        extra: Item,
    ) -> Result<CreateOutcome, StoreError> {
        let credential = Credential {
            user_id: user.id,
            password_hash: password_hash.to_owned(),
        };
        let credential = entity_item(email_key(&email.key()), "credential", &credential)?;
        let writes = [
            super::put_new(self.table, credential)?,
            super::put_new(self.table, user.to_item()?)?,
            super::put_new(self.table, extra)?,
            super::counters::add(self.table, super::counters::Counter::Users, 1)?,
        ];
        let result = super::transact(self.db, writes).await;
        super::transacted(result, CreateOutcome::Created, |refused| {
            Ok(if refused.at(0) {
                CreateOutcome::EmailTaken
            } else {
                CreateOutcome::IdCollision
            })
        })
    }

    pub async fn credential(&self, email: &Email) -> Result<Option<Credential>, StoreError> {
        let (pk, sk) = email_key(&email.key());
        super::get_item(self.db, self.table, pk, sk, true)
            .await?
            .map(read)
            .transpose()
    }

    /// Strongly consistent, so a user reads their own writes.
    pub async fn get(&self, id: i64) -> Result<Option<User>, StoreError> {
        let (pk, sk) = user_key(id);
        super::get_item(self.db, self.table, pk, sk, true)
            .await?
            .map(read)
            .transpose()
    }

    /// Applies `changes` and returns the new profile, or `None` when the user does not exist.
    ///
    /// One UpdateItem of the profile, which carries its own reminder index keys
    /// (`reminder_bucket`, `reminder_due_hour`: the `reminders-due` GSI is derived from this
    /// item), so no failure can leave the index and the settings apart. The keys are computed
    /// from the settings as read, so the write is conditional on the version read: a
    /// concurrent update makes it read again (the index always follows the settings it is
    /// written with), and an abandoned attempt that lands after a newer update is refused.
    pub async fn update_profile(
        &self,
        id: i64,
        changes: &ProfileChanges,
    ) -> Result<Option<User>, StoreError> {
        if changes.is_empty() {
            return self.get(id).await;
        }
        for _ in 0..5 {
            let Some(current) = self.get(id).await? else {
                return Ok(None);
            };
            let next = current.changed(changes, Utc::now());
            match self.write_profile(&current, &next, changes).await? {
                Written::Yes => return Ok(Some(next)),
                Written::Gone => return Ok(None),
                // Another update came first: apply the changes to what it left.
                Written::Stale => continue,
            }
        }
        Err(StoreError::Conflict("UpdateItem"))
    }

    /// Writes `next` over `current` (the changed fields and the reminder keys), conditional on
    /// `current.version`.
    async fn write_profile(
        &self,
        current: &User,
        next: &User,
        changes: &ProfileChanges,
    ) -> Result<Written, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let mut sets = vec!["version = :next_version".to_owned()];
        let mut removes = Vec::new();
        let mut request = super::update_item(self.db, self.table, user_key(current.id))
            .expression_attribute_values(":next_version", n(next.version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .versioned(current.version);
        let fields = [
            (
                changes.display_name.is_some(),
                "display_name",
                s(&next.display_name),
            ),
            (
                changes.reminder_enabled.is_some(),
                "reminder_enabled",
                AttributeValue::Bool(next.reminder_enabled),
            ),
            (
                changes.reminder_hour.is_some(),
                "reminder_hour",
                n(next.reminder_hour),
            ),
            (changes.timezone.is_some(), "timezone", s(&next.timezone)),
            (changes.locale.is_some(), "locale", s(next.locale.as_str())),
            (
                changes.email_reminders.is_some(),
                "email_reminders",
                AttributeValue::Bool(next.email_reminders),
            ),
        ];
        for (_, name, value) in fields.into_iter().filter(|(changed, ..)| *changed) {
            sets.push(format!("#{name} = :{name}"));
            request = request
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        if changes.touch_reminder() {
            match next.reminder_due {
                Some(due) => {
                    sets.push("reminder_bucket = :bucket, reminder_due_hour = :due".into());
                    request = request
                        .expression_attribute_values(":bucket", s(REMINDER_BUCKET))
                        .expression_attribute_values(":due", n(due));
                }
                None => removes.push("reminder_bucket, reminder_due_hour"),
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        match request.update_expression(expression).send_retried().await {
            Ok(_) => Ok(Written::Yes),
            Err(err) => {
                use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
                if let Some(UpdateItemError::ConditionalCheckFailedException(e)) =
                    err.as_service_error()
                {
                    return Ok(match e.item() {
                        None => Written::Gone,
                        // An earlier attempt of this very write committed and its answer
                        // was lost: the item is exactly what it wrote.
                        Some(old) if read::<User>(old.clone()).ok().as_ref() == Some(next) => {
                            Written::Yes
                        }
                        Some(_) => Written::Stale,
                    });
                }
                Err(db_error("UpdateItem")(err))
            }
        }
    }

    /// Moves a user's next reminder from `from` to `to`, only if it still is `from` (as a
    /// write of a larger transaction).
    pub fn advance_reminder_write(
        &self,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        super::write_update(advance(super::update(self.table, user_key(id)), from, to))
    }

    /// The same on its own; `false` when it was not `from` any more.
    pub async fn advance_reminder(&self, id: i64, from: i64, to: i64) -> Result<bool, StoreError> {
        let request = super::update_item(self.db, self.table, user_key(id));
        let result = advance(request, from, to).send_retried().await;
        Ok(conditional(result, "UpdateItem")?.is_some())
    }

    /// Users whose reminder is due at or before the epoch minute `minute` (index
    /// `reminders-due`, keys only, one Query paged). Items still holding a legacy epoch hour
    /// (far below any minute) are all returned: the worker judges and migrates them.
    pub async fn due_for_reminders(&self, minute: i64) -> Result<Vec<DueUser>, StoreError> {
        let mut due = Vec::new();
        let query = self
            .db
            .query()
            .table_name(self.table)
            .index_name("reminders-due")
            .key_condition_expression("reminder_bucket = :b AND reminder_due_hour <= :h")
            .expression_attribute_values(":b", s(REMINDER_BUCKET))
            .expression_attribute_values(":h", n(minute));
        super::query_all(query, |out| {
            for item in out.items() {
                let pk = get_s(item, "PK")?;
                let Some(id) = pk.strip_prefix("USER#").and_then(|i| i.parse().ok()) else {
                    continue;
                };
                due.push(DueUser {
                    id,
                    due: get_n(item, "reminder_due_hour")?,
                });
            }
            Ok(())
        })
        .await?;
        Ok(due)
    }

    /// Sets a user's role (admin tooling).
    pub async fn set_role(&self, email: &Email, role: Role) -> Result<Option<User>, StoreError> {
        let Some(credential) = self.credential(email).await? else {
            return Ok(None);
        };
        let result = super::update_item(self.db, self.table, user_key(credential.user_id))
            .condition_expression("attribute_exists(PK)")
            .update_expression("SET #role = :role")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":role", s(role.as_str()))
            .return_values(ReturnValue::AllNew)
            .send_retried()
            .await;
        match conditional(result, "UpdateItem")? {
            Some(out) => out.attributes.map(read).transpose(),
            None => Ok(None),
        }
    }
}

/// The conditional move of a user's next reminder, as an UpdateItem or a transaction's write.
fn advance<R: UpdateRequest>(request: R, from: i64, to: i64) -> R {
    request
        .update_expression("SET reminder_due_hour = :to")
        .condition_expression("reminder_due_hour = :from")
        .expression_attribute_values(":to", n(to))
        .expression_attribute_values(":from", n(from))
}

//! The JSON shapes of API.md.

use chrono::{DateTime, Utc};
use serde::Serialize;

use rota_store::users::User;

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-25T09:30:00.000Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Serialize)]
pub struct UserView<'a> {
    pub id: i64,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: &'static str,
    pub created_at: String,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id,
            email: &u.email,
            display_name: &u.display_name,
            role: u.role.as_str(),
            created_at: timestamp(u.created_at),
        }
    }
}

#[derive(Serialize)]
pub struct MeView<'a> {
    #[serde(flatten)]
    pub user: UserView<'a>,
    pub reminder_enabled: bool,
    pub reminder_hour: u8,
    pub timezone: &'a str,
}

impl<'a> From<&'a User> for MeView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            user: UserView::from(u),
            reminder_enabled: u.reminder_enabled,
            reminder_hour: u.reminder_hour,
            timezone: &u.timezone,
        }
    }
}

#[derive(Serialize)]
pub struct AuthView<'a> {
    pub access_token: String,
    pub refresh_token: &'a str,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub user: UserView<'a>,
}

//! The caller's own account: `GET` and `PATCH /api/users/me`.

use http::StatusCode;

use super::views::MeView;
use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::error::ApiError;
use crate::extract::{FromJson, Json, MarkedActive};
use crate::fields::Fields;
use crate::function::{Handler, Reply};
use crate::http::json;
use crate::state::DbAndTokens;
use rota_domain::input::{DisplayName, ReminderHour, TimeZone};
use rota_domain::locale::Locale;
use rota_store::users::{ProfileChanges, Users};

pub struct GetMe;

impl Handler for GetMe {
    type State = DbAndTokens;
    type Input = MarkedActive<Caller>;

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, caller: Self::Input) -> Reply {
        let user = super::caller_account(app, caller.user_id).await?;
        json(StatusCode::OK, &MeView::from(&user))
    }
}

/// The body of `PATCH /api/users/me`: any of the fields.
pub struct ProfilePatch(ProfileChanges);

impl FromJson for ProfilePatch {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        Some(ProfilePatch(ProfileChanges {
            display_name: fields.optional("display_name", DisplayName::parse),
            reminder_enabled: fields.optional_bool("reminder_enabled"),
            reminder_hour: fields.optional_int("reminder_hour", ReminderHour::parse),
            timezone: fields.optional("timezone", TimeZone::parse),
            locale: fields.optional("locale", |l| Locale::parse(l).ok_or("must be tr or en")),
            email_reminders: fields.optional_bool("email_reminders"),
        }))
    }
}

pub struct PatchMe;

impl Handler for PatchMe {
    type State = DbAndTokens;
    type Input = (MarkedActive<Caller>, Json<ProfilePatch>);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Json(ProfilePatch(changes))) = input;
        let user = Users::new(app.db(), app.table())
            .update_profile(caller.user_id, &changes)
            .await?
            .ok_or(ApiError::Unauthorized(super::ACCOUNT_GONE))?;
        json(StatusCode::OK, &MeView::from(&user))
    }
}

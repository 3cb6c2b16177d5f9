//! The caller's own account.

use http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::views::MeView;
use crate::app::{App, Ctx, Handler, Needs};
use crate::error::{ApiError, ApiResult};
use crate::fields::Fields;
use crate::http::{json, json_object};
use rota_domain::input::{DisplayName, ReminderHour, TimeZone};
use rota_store::users::{ProfileChanges, Users};

pub struct GetMe;

impl Handler for GetMe {
    const NEEDS: Needs = Needs {
        db: true,
        cache: false,
        tokens: true,
    };

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let user = super::caller_account(app, caller.user_id).await?;
        json(StatusCode::OK, &MeView::from(&user))
    }
}

pub struct PatchMe;

impl Handler for PatchMe {
    const NEEDS: Needs = Needs {
        db: true,
        cache: false,
        tokens: true,
    };

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let body = json_object(&req)?;
        let mut fields = Fields::new(&body);
        let changes = ProfileChanges {
            display_name: fields.optional("display_name", DisplayName::parse),
            reminder_enabled: fields.optional_bool("reminder_enabled"),
            reminder_hour: fields.optional_int("reminder_hour", ReminderHour::parse),
            timezone: fields.optional("timezone", TimeZone::parse),
        };
        fields.finish().map_err(ApiError::Validation)?;
        let user = Users::new(app.db()?, app.table())
            .update_profile(caller.user_id, &changes)
            .await?
            .ok_or(ApiError::Unauthorized(super::ACCOUNT_GONE))?;
        json(StatusCode::OK, &MeView::from(&user))
    }
}

//! The caller's notifications.

use chrono::Utc;
use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use crate::app::{App, Ctx, Handler, Needs};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{json, no_content};
use rota_domain::input::{parse_limit, parse_path_id};
use rota_store::notifications::Notifications;
use rota_store::posts::timestamp;

const OWN: Needs = Needs {
    db: true,
    cache: false,
    tokens: true,
};

pub struct ListNotifications;

impl Handler for ListNotifications {
    const NEEDS: Needs = OWN;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let query = |name: &str| {
            req.query_string_parameters_ref()
                .and_then(|q| q.first(name).map(str::to_owned))
        };
        let mut errors = Vec::new();
        let unread_only = match query("unread_only").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                errors.push(FieldError::new("unread_only", "must be true or false"));
                false
            }
        };
        let limit = parse_limit(query("limit").as_deref()).unwrap_or_else(|m| {
            errors.push(FieldError::new("limit", m));
            20
        });
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        // The list's filter is part of the cursor's identity.
        let list = format!("notifications:{}:{unread_only}", caller.user_id);
        let before = app.read_cursor::<i64>(&list, query("cursor").as_deref())?;
        let (items, next) = Notifications::new(app.db()?, app.table())
            .page(caller.user_id, unread_only, before, limit)
            .await?;
        let items: Vec<_> = items
            .iter()
            .map(|n| {
                json!({
                    "id": n.id,
                    "kind": n.kind,
                    "title": n.title,
                    "body": n.body,
                    "created_at": timestamp(n.created_at),
                    "read_at": n.read_at.map(timestamp),
                })
            })
            .collect();
        let next_cursor = app.next_cursor(&list, next)?;
        json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": next_cursor}),
        )
    }
}

pub struct ReadNotification;

impl Handler for ReadNotification {
    const NEEDS: Needs = OWN;

    /// Idempotent: reading a read notification again is 204 and keeps its `read_at`.
    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let not_found = || ApiError::NotFound("No such notification.".into());
        let id = req
            .path_parameters_ref()
            .and_then(|p| p.first("id"))
            .and_then(parse_path_id)
            .ok_or_else(not_found)?;
        Notifications::new(app.db()?, app.table())
            .mark_read(caller.user_id, id, Utc::now())
            .await?
            .ok_or_else(not_found)?;
        Ok(no_content())
    }
}

pub struct ReadAllNotifications;

impl Handler for ReadAllNotifications {
    const NEEDS: Needs = OWN;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        Notifications::new(app.db()?, app.table())
            .mark_all_read(caller.user_id, Utc::now())
            .await?;
        Ok(no_content())
    }
}

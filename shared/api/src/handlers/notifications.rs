//! The caller's notifications: list, read one, read all.

use chrono::Utc;
use http::StatusCode;
use serde_json::json;

use super::views::timestamp;
use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::extract::{FromQuery, MarkedActive, Page, Path, Query, QueryParams, not_found};
use crate::function::{Handler, Reply};
use crate::http::{json, no_content};
use crate::state::DbAndTokens;
use rota_domain::ids::NotificationId;
use rota_store::notifications::Notifications;

/// `?unread_only=true|false` (false when absent) and the page.
pub struct InboxQuery {
    unread_only: bool,
    page: Page,
}

impl FromQuery for InboxQuery {
    fn from_query(query: &mut QueryParams<'_>) -> Self {
        InboxQuery {
            unread_only: query.flag("unread_only"),
            page: Page::from_query(query),
        }
    }
}

pub struct ListNotifications;

impl Handler for ListNotifications {
    type State = DbAndTokens;
    type Input = (MarkedActive<Caller>, Query<InboxQuery>);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Query(query)) = input;
        let unread_only = query.unread_only;
        // The list's filter is part of the cursor's identity.
        let list = format!("notifications:{}:{unread_only}", caller.user_id);
        let before = app.read_cursor::<i64>(&list, query.page.cursor.as_deref())?;
        let (items, next) = Notifications::new(app.db(), app.table())
            .page(caller.user_id, unread_only, before, query.page.limit)
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
        let next_cursor = app.next_cursor(&list, next);
        json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": next_cursor}),
        )
    }
}

pub struct ReadNotification;

impl Handler for ReadNotification {
    type State = DbAndTokens;
    type Input = (MarkedActive<Caller>, Path<NotificationId>);

    /// Idempotent: reading a read notification again is 204 and keeps its `read_at`.
    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id)) = input;
        Notifications::new(app.db(), app.table())
            .mark_read(caller.user_id, id.0, Utc::now())
            .await?
            .ok_or_else(not_found::<NotificationId>)?;
        Ok(no_content())
    }
}

pub struct ReadAllNotifications;

impl Handler for ReadAllNotifications {
    type State = DbAndTokens;
    type Input = MarkedActive<Caller>;

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, caller: Self::Input) -> Reply {
        Notifications::new(app.db(), app.table())
            .mark_all_read(caller.user_id, Utc::now())
            .await?;
        Ok(no_content())
    }
}

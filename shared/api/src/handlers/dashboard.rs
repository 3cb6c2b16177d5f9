//! The dashboard: one function, one round of concurrent reads.

use chrono::Utc;
use http::StatusCode;
use serde_json::json;

use super::views::post_page_views;
use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::error::ApiError;
use crate::extract::MarkedActive;
use crate::function::{Handler, Reply};
use crate::state::{DbAndTokens, WithRedis};
use rota_domain::streak;
use rota_lambda::metrics::Metrics;
use rota_store::notifications::Notifications;
use rota_store::posts::Feed;
use rota_store::roadmaps::Roadmaps;
use rota_store::users::Users;

pub struct Dashboard;

impl Handler for Dashboard {
    type State = WithRedis<DbAndTokens>;
    type Input = MarkedActive<Caller>;

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, caller: Self::Input) -> Reply {
        let db = app.db();
        let users = Users::new(db, app.table());
        let roadmaps = Roadmaps::new(db, app.table());
        let inbox = Notifications::new(db, app.table());
        let mut stats_metrics = Metrics::new();
        // Every read is independent: issue them together (one round trip of latency). The
        // community part comes from the stats cache and may be up to 5 minutes stale.
        let mut feed_metrics = Metrics::new();
        let store = async {
            Ok::<_, rota_store::StoreError>(tokio::try_join!(
                users.get(caller.user_id),
                roadmaps.streak(caller.user_id),
                roadmaps.list(caller.user_id),
                inbox.unread(caller.user_id),
            )?)
        };
        let stats_source = app.stats_source();
        // The 5 newest posts: the new feed's shared first page (crate::feeds).
        let recent = crate::feeds::page(
            app,
            &mut feed_metrics,
            Feed::New,
            None,
            5,
            Some(caller.user_id),
        );
        let (store, stats, recent) = tokio::join!(
            store,
            crate::stats::get(&stats_source, &mut stats_metrics),
            recent
        );
        let (user, streak_item, roadmap_list, unread) = store?;
        let recent = recent?;
        ctx.metrics.merge(feed_metrics);
        let stats = stats?;
        ctx.metrics.merge(stats_metrics);
        let user = user.ok_or(ApiError::Unauthorized(super::ACCOUNT_GONE))?;
        let today = streak::local_date(Utc::now(), &user.timezone);
        let recent_posts = post_page_views(&recent.0);
        let roadmaps: Vec<_> = roadmap_list
            .iter()
            .map(|r| {
                let next = r.next_step().map(|(id, title)| {
                    json!({"id": id, "title": crate::roadmap_text::step_title(r, title, user.locale)})
                });
                json!({
                    "id": r.id,
                    "title": crate::roadmap_text::summary_title(r, user.locale),
                    "progress_percent": r.progress_percent(),
                    "next_step": next,
                })
            })
            .collect();
        let stats = stats.stats;
        crate::http::json(
            StatusCode::OK,
            &json!({
                "user": {"id": user.id, "display_name": user.display_name},
                "streak_days": streak::current(streak_item, today),
                "unread_notifications": unread,
                "roadmaps": roadmaps,
                "recent_posts": recent_posts,
                "community": {
                    "total_users": stats.total_users,
                    "total_posts": stats.total_posts,
                    "posts_last_24h": stats.posts_last_24h,
                },
            }),
        )
    }
}

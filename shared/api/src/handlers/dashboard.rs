//! The dashboard: one function; two DynamoDB calls, two Redis calls (docs/data-model.md).

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
use rota_store::dashboard::Dashboard as OwnReads;
use rota_store::posts::Feed;
use rota_store::roadmaps::Roadmaps;

pub struct Dashboard;

impl Handler for Dashboard {
    type State = WithRedis<DbAndTokens>;
    type Input = MarkedActive<Caller>;

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, caller: Self::Input) -> Reply {
        let db = app.db();
        let roadmaps = Roadmaps::new(db, app.table());
        let mut stats_metrics = Metrics::new();
        let mut feed_metrics = Metrics::new();
        let stats_source = app.stats_source();
        // Two DynamoDB calls (docs/data-model.md, "The dashboard's reads"): the roadmaps'
        // Query, and once the 5 newest posts are known (the new feed's shared first page,
        // from the cache: crate::feeds) one BatchGetItem of the user's profile, streak, inbox
        // and likes of those posts. The community part comes from the stats cache and may be
        // up to 5 minutes stale.
        let recent_and_own = async {
            let (recent, _) =
                crate::feeds::page(app, &mut feed_metrics, Feed::New, None, 5, None).await?;
            let ids: Vec<i64> = recent.iter().map(|(p, _)| p.id).collect();
            let own = OwnReads::new(db, app.table())
                .own_items(caller.user_id, &ids)
                .await?;
            Ok::<_, ApiError>((recent, own))
        };
        let (roadmap_list, stats, recent_and_own) = tokio::join!(
            roadmaps.list(caller.user_id),
            crate::stats::get(&stats_source, &mut stats_metrics),
            recent_and_own
        );
        let (recent, own) = recent_and_own?;
        let roadmap_list = roadmap_list?;
        ctx.metrics.merge(feed_metrics);
        let stats = stats?;
        ctx.metrics.merge(stats_metrics);
        let recent: Vec<_> = recent
            .into_iter()
            .map(|(post, _)| {
                let liked = own.liked.contains(&post.id);
                (post, liked)
            })
            .collect();
        let user = own
            .user
            .ok_or(ApiError::Unauthorized(super::ACCOUNT_GONE))?;
        let today = streak::local_date(Utc::now(), &user.timezone);
        let recent_posts = post_page_views(&recent);
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
                "streak_days": streak::current(own.streak, today),
                "unread_notifications": own.unread,
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

//! Likes: `POST` and `DELETE /api/community/posts/{id}/like`. Both are idempotent (liking a
//! liked post changes nothing) and limited per user (`LIKE_LIMIT`).

use chrono::Utc;
use http::StatusCode;
use serde_json::json;

use super::limit_user;
use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::extract::{MarkedActive, Path, not_found};
use crate::function::{Handler, Reply};
use crate::http::json;
use crate::state::{DbAndTokens, WithRedis};
use rota_domain::ids::PostId;
use rota_store::likes::Likes;

async fn set_like(
    app: &App<WithRedis<DbAndTokens>>,
    ctx: &mut Ctx,
    caller: Caller,
    post: PostId,
    liked: bool,
) -> Reply {
    limit_user(app, ctx, "like", caller.user_id, app.config.like_limit).await?;
    let count = Likes::new(app.db(), app.table())
        .set(post.0, caller.user_id, liked, Utc::now())
        .await?
        .ok_or_else(not_found::<PostId>)?;
    json(
        StatusCode::OK,
        &json!({"liked": liked, "likes_count": count}),
    )
}

pub struct LikePost;

impl Handler for LikePost {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Caller>, Path<PostId>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(post)) = input;
        set_like(app, ctx, caller, post, true).await
    }
}

pub struct UnlikePost;

impl Handler for UnlikePost {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Caller>, Path<PostId>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(post)) = input;
        set_like(app, ctx, caller, post, false).await
    }
}

//! Comments on a post: list (oldest first), create, delete.

use chrono::Utc;
use http::StatusCode;
use serde_json::json;

use super::views::CommentView;
use super::{caller_account, limit_user, with_fresh_id};
use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::error::ApiError;
use crate::extract::{FromJson, Idempotent, MarkedActive, Page, Path, Query, not_found};
use crate::fields::Fields;
use crate::function::{Handler, Reply};
use crate::http::{json, json_text, no_content};
use crate::state::{DbAndTokens, WithRedis};
use rota_domain::ids::{CommentId, PostId};
use rota_domain::input::{CommentContent, Role};
use rota_store::comments::{Comment, Comments, CreateOutcome};
use rota_store::posts::{Change, Posts};

pub struct ListComments;

impl Handler for ListComments {
    type State = DbAndTokens;
    type Input = (MarkedActive<Option<Caller>>, Path<PostId>, Query<Page>);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(_), Path(post), Query(page)) = input;
        let list = format!("comments:{post}");
        let after = app.read_cursor::<i64>(&list, page.cursor.as_deref())?;
        let posts = Posts::new(app.db(), app.table());
        let comments = Comments::new(app.db(), app.table());
        // The post check and the page read are independent: one round of calls.
        let (active, (items, next)) = tokio::try_join!(
            posts.is_active(post.0),
            comments.page(post.0, after, page.limit)
        )?;
        if !active {
            return Err(not_found::<PostId>());
        }
        let items: Vec<CommentView> = items.iter().map(CommentView::from).collect();
        let next_cursor = app.next_cursor(&list, next);
        json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": next_cursor}),
        )
    }
}

/// The body of `POST /api/community/posts/{id}/comments`.
pub struct NewComment {
    content: CommentContent,
}

impl FromJson for NewComment {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        Some(NewComment {
            content: fields.required("content", CommentContent::parse)?,
        })
    }
}

pub struct CreateComment;

impl Handler for CreateComment {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Caller>, Path<PostId>, Idempotent<NewComment>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(post), Idempotent { body, replay }) = input;
        let scope = "comments.create";
        crate::idempotency::run(app, replay, caller.user_id, scope, |guard| async move {
            let limit = app.config.comment_limit;
            limit_user(app, ctx, "comment", caller.user_id, limit).await?;
            let author = caller_account(app, caller.user_id).await?;
            let comments = Comments::new(app.db(), app.table());
            let (guard, author, body, comments) = (&guard, &author, &body, &comments);
            let view = with_fresh_id(|id| async move {
                let comment = Comment {
                    id,
                    post_id: post.0,
                    author_id: author.id,
                    author_name: author.display_name.clone(),
                    content: body.content.as_str().to_owned(),
                    created_at: Utc::now(),
                };
                let view = serde_json::to_string(&CommentView::from(&comment))
                    .map_err(ApiError::internal)?;
                let completion = guard.completion(StatusCode::CREATED, &view)?;
                match comments.create(&comment, completion).await? {
                    CreateOutcome::Created => Ok(Some(view)),
                    CreateOutcome::PostNotFound => Err(not_found::<PostId>()),
                    CreateOutcome::IdCollision => Ok(None),
                }
            })
            .await?;
            ctx.metrics.count("CommentsCreated");
            Ok(json_text(StatusCode::CREATED, view))
        })
        .await
    }
}

pub struct DeleteComment;

impl Handler for DeleteComment {
    type State = DbAndTokens;
    type Input = (MarkedActive<Caller>, Path<CommentId>);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id)) = input;
        let admin = caller.role == Role::Admin;
        match Comments::new(app.db(), app.table())
            .delete(id.0, caller.user_id, admin)
            .await?
        {
            Change::Done(()) => Ok(no_content()),
            Change::NotFound => Err(not_found::<CommentId>()),
            Change::Forbidden => Err(ApiError::Forbidden),
        }
    }
}

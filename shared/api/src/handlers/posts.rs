//! Community posts: the two feeds, create, read, edit and (soft) delete.

use chrono::Utc;
use http::StatusCode;
use serde_json::json;

use super::views::{PostView, post_page_views};
use super::{caller_account, limit_user, with_fresh_id};
use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::error::ApiError;
use crate::extract::{
    FromJson, FromQuery, Idempotent, Json, MarkedActive, Page, Path, Query, QueryParams,
};
use crate::fields::Fields;
use crate::function::{Handler, Reply};
use crate::http::{json, json_text, no_content};
use crate::state::{DbAndTokens, WithRedis};
use rota_domain::ids::PostId;
use rota_domain::input::{PostContent, PostTitle, Role};
use rota_store::posts::{Change, Edit, Feed, Post, Posts};

fn post_not_found() -> ApiError {
    crate::extract::not_found::<PostId>()
}

/// `?sort=new|top` (new when absent) and the page.
pub struct FeedQuery {
    pub feed: Feed,
    pub page: Page,
}

impl FromQuery for FeedQuery {
    fn from_query(query: &mut QueryParams<'_>) -> Self {
        let feed = match query.get("sort") {
            None | Some("new") => Feed::New,
            Some("top") => Feed::Top,
            Some(_) => {
                query.fail("sort", "must be new or top");
                Feed::New
            }
        };
        FeedQuery {
            feed,
            page: Page::from_query(query),
        }
    }
}

pub struct ListPosts;

impl Handler for ListPosts {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Option<Caller>>, Query<FeedQuery>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Query(query)) = input;
        let feed = query.feed;
        let after = app
            .read_cursor::<crate::cursor::FeedCursor>(feed.list(), query.page.cursor.as_deref())?;
        let (posts, next) = crate::feeds::page(
            app,
            &mut ctx.metrics,
            feed,
            after,
            query.page.limit,
            caller.map(|c| c.user_id),
        )
        .await?;
        let items = post_page_views(&posts);
        let next_cursor = app.next_cursor(feed.list(), next);
        json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": next_cursor}),
        )
    }
}

/// The body of `POST /api/community/posts`.
pub struct NewPost {
    title: PostTitle,
    content: PostContent,
}

impl FromJson for NewPost {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        let title = fields.required("title", PostTitle::parse);
        let content = fields.required("content", PostContent::parse);
        Some(NewPost {
            title: title?,
            content: content?,
        })
    }
}

pub struct CreatePost;

impl Handler for CreatePost {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Caller>, Idempotent<NewPost>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Idempotent { body, replay }) = input;
        crate::idempotency::run(
            app,
            replay,
            caller.user_id,
            "posts.create",
            |guard| async move {
                // Inside: a replayed request is answered before it counts against the limit.
                limit_user(app, ctx, "post", caller.user_id, app.config.post_limit).await?;
                let author = caller_account(app, caller.user_id).await?;
                let posts = Posts::new(app.db(), app.table());
                let now = Utc::now();
                let (guard, author, body, posts) = (&guard, &author, &body, &posts);
                let view = with_fresh_id(|id| async move {
                    let post = Post {
                        id,
                        author_id: author.id,
                        author_name: author.display_name.clone(),
                        title: body.title.as_str().to_owned(),
                        content: body.content.as_str().to_owned(),
                        likes_count: 0,
                        comments_count: 0,
                        created_at: now,
                        updated_at: now,
                        is_active: true,
                    };
                    let view = serde_json::to_string(&PostView::new(&post, false))
                        .map_err(ApiError::internal)?;
                    let completion = guard.completion(StatusCode::CREATED, &view)?;
                    let created = posts
                        .create(&post, app.config.feed_shards, completion)
                        .await?;
                    Ok(created.then_some(view))
                })
                .await?;
                ctx.metrics.count("PostsCreated");
                crate::feeds::invalidate(app, &mut ctx.metrics).await;
                Ok(json_text(StatusCode::CREATED, view))
            },
        )
        .await
    }
}

pub struct GetPost;

impl Handler for GetPost {
    type State = DbAndTokens;
    type Input = (MarkedActive<Option<Caller>>, Path<PostId>);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id)) = input;
        // The post, its counts and the caller's like: one BatchGetItem.
        let (post, liked) = Posts::new(app.db(), app.table())
            .get_active(id.0, caller.map(|c| c.user_id))
            .await?
            .ok_or_else(post_not_found)?;
        json(StatusCode::OK, &PostView::new(&post, liked))
    }
}

/// The body of `PATCH /api/community/posts/{id}`: either field, or both.
pub struct PostPatch {
    title: Option<PostTitle>,
    content: Option<PostContent>,
}

impl FromJson for PostPatch {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        Some(PostPatch {
            title: fields.optional("title", PostTitle::parse),
            content: fields.optional("content", PostContent::parse),
        })
    }
}

pub struct PatchPost;

impl Handler for PatchPost {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Caller>, Path<PostId>, Json<PostPatch>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id), Json(patch)) = input;
        limit_user(app, ctx, "edit", caller.user_id, app.config.edit_limit).await?;
        let posts = Posts::new(app.db(), app.table());
        // The post (its version), its counts and the caller's like in one read; then the edit,
        // conditional on that version (a late attempt cannot undo a newer edit).
        for _ in 0..5 {
            let fetched = posts.fetch(&[id.0], Some(caller.user_id), true).await?;
            let Some(version) = fetched.version(id.0)? else {
                return Err(post_not_found());
            };
            let edit = posts
                .edit(
                    id.0,
                    caller.user_id,
                    version,
                    patch.title.as_ref().map(PostTitle::as_str),
                    patch.content.as_ref().map(PostContent::as_str),
                    Utc::now(),
                )
                .await?;
            match edit {
                Edit::Done(edited) => {
                    crate::feeds::invalidate(app, &mut ctx.metrics).await;
                    let post = fetched.with_counts(edited)?;
                    let liked = fetched.liked.contains(&id.0);
                    return json(StatusCode::OK, &PostView::new(&post, liked));
                }
                // Edited meanwhile: read the new version and apply this edit over it.
                Edit::Stale => continue,
                Edit::NotFound => return Err(post_not_found()),
                Edit::Forbidden => return Err(ApiError::Forbidden),
            }
        }
        Err(ApiError::Unavailable("the database"))
    }
}

pub struct DeletePost;

impl Handler for DeletePost {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Caller>, Path<PostId>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id)) = input;
        let admin = caller.role == Role::Admin;
        match Posts::new(app.db(), app.table())
            .soft_delete(id.0, caller.user_id, admin, Utc::now())
            .await?
        {
            Change::Done(()) => {
                ctx.metrics.count("PostsDeleted");
                crate::feeds::invalidate(app, &mut ctx.metrics).await;
                Ok(no_content())
            }
            Change::NotFound => Err(post_not_found()),
            Change::Forbidden => Err(ApiError::Forbidden),
        }
    }
}

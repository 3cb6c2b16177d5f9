//! Community: posts, likes, comments and stats.

use chrono::Utc;
use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json;

use super::views::timestamp;
use crate::app::{App, Ctx, Handler, Needs};
use crate::config::Limit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::fields::Fields;
use crate::http::{json, json_object, no_content};
use rota_domain::input::{
    CommentContent, PostContent, PostTitle, Role, parse_limit, parse_path_id,
};
use rota_store::comments::{Comment, Comments, CreateOutcome};
use rota_store::posts::{Change, Feed, Post, Posts};

const READ: Needs = Needs {
    db: true,
    cache: false,
    tokens: true,
};
const WRITE_LIMITED: Needs = Needs {
    db: true,
    cache: true,
    tokens: true,
};

fn post_not_found() -> ApiError {
    ApiError::NotFound("No such post.".into())
}

/// The `{id}` path parameter; anything that is not an id we could have issued is a 404.
fn path_id(req: &Request, missing: fn() -> ApiError) -> ApiResult<i64> {
    req.path_parameters_ref()
        .and_then(|p| p.first("id"))
        .and_then(parse_path_id)
        .ok_or_else(missing)
}

fn query<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
}

fn limit_param(req: &Request) -> ApiResult<u32> {
    parse_limit(query(req, "limit")).map_err(|m| ApiError::validation("limit", m))
}

#[derive(Serialize)]
struct Author<'a> {
    id: i64,
    display_name: &'a str,
}

#[derive(Serialize)]
pub struct PostView<'a> {
    id: i64,
    author: Author<'a>,
    title: &'a str,
    content: &'a str,
    likes_count: i64,
    comments_count: i64,
    liked_by_me: bool,
    created_at: String,
    updated_at: String,
}

impl<'a> PostView<'a> {
    pub fn new(post: &'a Post, liked_by_me: bool) -> Self {
        Self {
            id: post.id,
            author: Author {
                id: post.author_id,
                display_name: &post.author_name,
            },
            title: &post.title,
            content: &post.content,
            likes_count: post.likes_count,
            comments_count: post.comments_count,
            liked_by_me,
            created_at: timestamp(post.created_at),
            updated_at: timestamp(post.updated_at),
        }
    }
}

#[derive(Serialize)]
struct CommentView<'a> {
    id: i64,
    post_id: i64,
    author: Author<'a>,
    content: &'a str,
    created_at: String,
}

impl<'a> From<&'a Comment> for CommentView<'a> {
    fn from(c: &'a Comment) -> Self {
        Self {
            id: c.id,
            post_id: c.post_id,
            author: Author {
                id: c.author_id,
                display_name: &c.author_name,
            },
            content: &c.content,
            created_at: timestamp(c.created_at),
        }
    }
}

/// A page of posts as the API shows them.
pub fn post_page_views(posts: &[(Post, bool)]) -> Vec<PostView<'_>> {
    posts
        .iter()
        .map(|(post, liked)| PostView::new(post, *liked))
        .collect()
}

/// Counts one call of `user_id` against their per-user `limit` named `name`.
async fn limit_user(
    app: &App,
    ctx: &mut Ctx,
    name: &str,
    user_id: i64,
    limit: Limit,
) -> ApiResult<()> {
    app.enforce_limit(ctx, &format!("{name}:user:{user_id}"), limit)
        .await
}

pub struct ListPosts;

impl Handler for ListPosts {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate_optional(ctx, &req).await?;
        let mut errors = Vec::new();
        let feed = match query(&req, "sort") {
            None | Some("new") => Feed::New,
            Some("top") => Feed::Top,
            Some(_) => {
                errors.push(FieldError::new("sort", "must be new or top"));
                Feed::New
            }
        };
        let limit = parse_limit(query(&req, "limit")).unwrap_or_else(|m| {
            errors.push(FieldError::new("limit", m));
            20
        });
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let after = app.read_cursor::<i128>(feed.list(), query(&req, "cursor"))?;
        let (posts, next) = crate::feeds::page(
            app,
            &mut ctx.metrics,
            feed,
            after,
            limit,
            caller.map(|c| c.user_id),
        )
        .await?;
        let items = post_page_views(&posts);
        let next_cursor = app.next_cursor(feed.list(), next)?;
        json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": next_cursor}),
        )
    }
}

pub struct CreatePost;

impl Handler for CreatePost {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let body = json_object(&req)?;
        let mut fields = Fields::new(&body);
        let title = fields.required("title", PostTitle::parse);
        let content = fields.required("content", PostContent::parse);
        fields.finish().map_err(ApiError::Validation)?;
        let (Some(title), Some(content)) = (title, content) else {
            return Err(ApiError::internal("validated fields missing"));
        };
        let canonical = serde_json::Value::Object(body);
        super::idempotent::run(
            app,
            &req,
            caller.user_id,
            "posts.create",
            &canonical,
            |guard| async move {
                // Inside: a replayed request is answered before it counts against the limit.
                limit_user(app, ctx, "post", caller.user_id, app.config.post_limit).await?;
                let author = super::caller_account(app, caller.user_id).await?;
                let posts = Posts::new(app.db()?, app.table());
                let now = Utc::now();
                // Ids are minted without coordination: a collision retries with a fresh one.
                for _ in 0..4 {
                    let post = Post {
                        id: rota_domain::ids::new_id(),
                        author_id: author.id,
                        author_name: author.display_name.clone(),
                        title: title.as_str().to_owned(),
                        content: content.as_str().to_owned(),
                        likes_count: 0,
                        comments_count: 0,
                        created_at: now,
                        updated_at: now,
                        is_active: true,
                    };
                    let view = serde_json::to_string(&PostView::new(&post, false))
                        .map_err(ApiError::internal)?;
                    let completion = guard.completion(StatusCode::CREATED, &view)?;
                    if posts
                        .create(&post, app.config.feed_shards, completion)
                        .await?
                    {
                        ctx.metrics.count("PostsCreated");
                        crate::feeds::invalidate(app, &mut ctx.metrics).await;
                        return Ok(crate::http::json_text(StatusCode::CREATED, view));
                    }
                }
                Err(ApiError::Unavailable("the database"))
            },
        )
        .await
    }
}

pub struct GetPost;

impl Handler for GetPost {
    const NEEDS: Needs = READ;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate_optional(ctx, &req).await?;
        let id = path_id(&req, post_not_found)?;
        // The post, its counts and the caller's like: one BatchGetItem.
        let (post, liked) = Posts::new(app.db()?, app.table())
            .get_active(id, caller.map(|c| c.user_id))
            .await?
            .ok_or_else(post_not_found)?;
        json(StatusCode::OK, &PostView::new(&post, liked))
    }
}

pub struct PatchPost;

impl Handler for PatchPost {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let id = path_id(&req, post_not_found)?;
        limit_user(app, ctx, "edit", caller.user_id, app.config.edit_limit).await?;
        let body = json_object(&req)?;
        let mut fields = Fields::new(&body);
        let title = fields.optional("title", PostTitle::parse);
        let content = fields.optional("content", PostContent::parse);
        fields.finish().map_err(ApiError::Validation)?;
        let posts = Posts::new(app.db()?, app.table());
        let change = posts
            .edit(
                id,
                caller.user_id,
                title.as_ref().map(PostTitle::as_str),
                content.as_ref().map(PostContent::as_str),
                Utc::now(),
            )
            .await?;
        match change {
            Change::Done(edited) => {
                crate::feeds::invalidate(app, &mut ctx.metrics).await;
                // The counts and the caller's like live on other items: one read for both.
                let fetched = posts.fetch(&[id], Some(caller.user_id), true).await?;
                let post = fetched.active(id)?.unwrap_or(edited);
                let liked = fetched.liked.contains(&id);
                json(StatusCode::OK, &PostView::new(&post, liked))
            }
            Change::NotFound => Err(post_not_found()),
            Change::Forbidden => Err(ApiError::Forbidden),
        }
    }
}

pub struct DeletePost;

impl Handler for DeletePost {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let id = path_id(&req, post_not_found)?;
        let admin = caller.role == Role::Admin;
        match Posts::new(app.db()?, app.table())
            .soft_delete(id, caller.user_id, admin, Utc::now())
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

async fn set_like(
    app: &App,
    ctx: &mut Ctx,
    req: Request,
    liked: bool,
) -> ApiResult<Response<Body>> {
    let caller = app.authenticate(ctx, &req).await?;
    let id = path_id(&req, post_not_found)?;
    limit_user(app, ctx, "like", caller.user_id, app.config.like_limit).await?;
    let count = Posts::new(app.db()?, app.table())
        .set_like(id, caller.user_id, liked, Utc::now())
        .await?
        .ok_or_else(post_not_found)?;
    json(
        StatusCode::OK,
        &json!({"liked": liked, "likes_count": count}),
    )
}

pub struct LikePost;

impl Handler for LikePost {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        set_like(app, ctx, req, true).await
    }
}

pub struct UnlikePost;

impl Handler for UnlikePost {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        set_like(app, ctx, req, false).await
    }
}

pub struct ListComments;

impl Handler for ListComments {
    const NEEDS: Needs = READ;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        app.authenticate_optional(ctx, &req).await?;
        let post_id = path_id(&req, post_not_found)?;
        let limit = limit_param(&req)?;
        let list = format!("comments:{post_id}");
        let after = app.read_cursor::<i64>(&list, query(&req, "cursor"))?;
        let posts = Posts::new(app.db()?, app.table());
        let comments = Comments::new(app.db()?, app.table());
        // The post check and the page read are independent: one round of calls.
        let (active, page) = tokio::try_join!(
            posts.is_active(post_id),
            comments.page(post_id, after, limit)
        )?;
        if !active {
            return Err(post_not_found());
        }
        let (items, next) = page;
        let items: Vec<CommentView> = items.iter().map(CommentView::from).collect();
        let next_cursor = app.next_cursor(&list, next)?;
        json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": next_cursor}),
        )
    }
}

pub struct CreateComment;

impl Handler for CreateComment {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let post_id = path_id(&req, post_not_found)?;
        let body = json_object(&req)?;
        let mut fields = Fields::new(&body);
        let content = fields.required("content", CommentContent::parse);
        fields.finish().map_err(ApiError::Validation)?;
        let Some(content) = content else {
            return Err(ApiError::internal("validated fields missing"));
        };
        let canonical = serde_json::Value::Object(body);
        super::idempotent::run(
            app,
            &req,
            caller.user_id,
            "comments.create",
            &canonical,
            |guard| async move {
                limit_user(
                    app,
                    ctx,
                    "comment",
                    caller.user_id,
                    app.config.comment_limit,
                )
                .await?;
                let author = super::caller_account(app, caller.user_id).await?;
                let comments = Comments::new(app.db()?, app.table());
                for _ in 0..4 {
                    let comment = Comment {
                        id: rota_domain::ids::new_id(),
                        post_id,
                        author_id: author.id,
                        author_name: author.display_name.clone(),
                        content: content.as_str().to_owned(),
                        created_at: Utc::now(),
                    };
                    let view = serde_json::to_string(&CommentView::from(&comment))
                        .map_err(ApiError::internal)?;
                    let completion = guard.completion(StatusCode::CREATED, &view)?;
                    match comments.create(&comment, completion).await? {
                        CreateOutcome::Created => {
                            ctx.metrics.count("CommentsCreated");
                            return Ok(crate::http::json_text(StatusCode::CREATED, view));
                        }
                        CreateOutcome::PostNotFound => return Err(post_not_found()),
                        CreateOutcome::IdCollision => continue,
                    }
                }
                Err(ApiError::Unavailable("the database"))
            },
        )
        .await
    }
}

pub struct DeleteComment;

impl Handler for DeleteComment {
    const NEEDS: Needs = READ;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        let caller = app.authenticate(ctx, &req).await?;
        let not_found = || ApiError::NotFound("No such comment.".into());
        let id = path_id(&req, not_found)?;
        let admin = caller.role == Role::Admin;
        match Comments::new(app.db()?, app.table())
            .delete(id, caller.user_id, admin)
            .await?
        {
            Change::Done(()) => Ok(no_content()),
            Change::NotFound => Err(not_found()),
            Change::Forbidden => Err(ApiError::Forbidden),
        }
    }
}

pub struct GetStats;

impl Handler for GetStats {
    const NEEDS: Needs = WRITE_LIMITED;

    async fn handle(&self, app: &App, ctx: &mut Ctx, req: Request) -> ApiResult<Response<Body>> {
        app.authenticate_optional(ctx, &req).await?;
        let (stats, _) = crate::stats::get(&app.stats_source()?, &mut ctx.metrics).await?;
        let mut response = json(StatusCode::OK, &stats)?;
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=60"),
        );
        Ok(response)
    }
}

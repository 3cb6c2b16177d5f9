//! One handler per endpoint, grouped by resource; each function's `main` names exactly one.
//!
//! | module | endpoints |
//! |---|---|
//! | `auth` | register, login, refresh, logout |
//! | `users` | `GET`/`PATCH /api/users/me` |
//! | `posts` | list (feeds), create, get, edit, delete posts |
//! | `likes` | like, unlike |
//! | `comments` | list, create, delete comments |
//! | `community_stats` | `GET /api/community/stats` |
//! | `roadmaps` | catalog, create, list, get, delete, step progress |
//! | `notifications` | list, read, read all |
//! | `dashboard` | `GET /api/dashboard` |
//! | `ops` | health checks, the OpenAPI document, the `$default` route |
//! | `docs` | `GET /docs`, the interactive reference (Swagger UI), and its files |
//! | `jobs` | the reminder scheduler and worker (EventBridge, SQS) |
//! | `mail` | `POST /api/reminders/unsubscribe`; SES bounce and complaint events (SQS) |

pub mod auth;
pub mod comments;
pub mod community_stats;
pub mod dashboard;
pub mod docs;
pub mod jobs;
pub mod likes;
pub mod mail;
pub mod notifications;
pub mod ops;
pub mod posts;
pub mod roadmaps;
pub mod users;
pub mod views;

use crate::app::{App, Ctx};
use crate::config::Limit;
use crate::error::{ApiError, ApiResult};
use crate::state::HasDb;
use rota_store::users::{User, Users};

/// What a valid token for an account that no longer exists gets (401).
pub const ACCOUNT_GONE: &str = "This account no longer exists.";

/// The caller's own account: a valid token for an account that no longer exists is 401.
pub async fn caller_account<S: HasDb>(app: &App<S>, user_id: i64) -> ApiResult<User> {
    Users::new(app.db(), app.table())
        .get(user_id)
        .await?
        .ok_or(ApiError::Unauthorized(ACCOUNT_GONE))
}

/// Counts one call of `user_id` against their per-user `limit` named `name`.
pub async fn limit_user<S>(
    app: &App<S>,
    ctx: &mut Ctx,
    name: &str,
    user_id: i64,
    limit: Limit,
) -> ApiResult<()> {
    app.enforce_limit(ctx, &format!("{name}:user:{user_id}"), limit)
        .await
}

/// Mints ids without coordination and retries the write on the rare collision (`create`
/// answers `None` for a collision). Ids are 41 bits of milliseconds and 12 random bits
/// (`rota_domain::ids`), so a second collision in a row is as good as impossible; after four,
/// something else is wrong and the client is told to retry.
pub async fn with_fresh_id<T, F, Fut>(mut create: F) -> ApiResult<T>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Option<T>>>,
{
    for _ in 0..4 {
        if let Some(done) = create(rota_domain::ids::new_id()).await? {
            return Ok(done);
        }
    }
    Err(ApiError::Unavailable("the database"))
}

//! One handler per endpoint; each function's `main` names exactly one.

pub mod auth;
pub mod community;
pub mod dashboard;
pub mod idempotent;
pub mod jobs;
pub mod notifications;
pub mod ops;
pub mod roadmaps;
pub mod users;
pub mod views;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use rota_store::users::{User, Users};

/// What a valid token for an account that no longer exists gets (401).
pub const ACCOUNT_GONE: &str = "This account no longer exists.";

/// The caller's own account: a valid token for an account that no longer exists is 401.
pub async fn caller_account(app: &App, user_id: i64) -> ApiResult<User> {
    Users::new(app.db()?, app.table())
        .get(user_id)
        .await?
        .ok_or(ApiError::Unauthorized(ACCOUNT_GONE))
}

//! Register, login, refresh and logout.

use chrono::Utc;
use http::StatusCode;

use super::views::AuthView;
use super::with_fresh_id;
use crate::app::{App, Ctx};
use crate::auth::password;
use crate::auth::tokens::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientIp, FromJson, Json};
use crate::fields::Fields;
use crate::http::{json, no_content};
use crate::runtime::{Handler, Reply};
use crate::state::{Cached, Data, HasTokens, Members};
use rota_domain::input::{DisplayName, Email, Password};
use rota_domain::refresh_token::RefreshToken;
use rota_store::sessions::{Sessions, new_session_item};
use rota_store::users::{CreateOutcome, User, Users};

const BAD_CREDENTIALS: &str = "The email or password is wrong.";
const BAD_REFRESH: &str = "The refresh token is invalid, expired or revoked.";

/// Issues an access token and answers with the AuthResponse (docs/api.md, the OpenAPI document).
fn auth_response<S: HasTokens>(
    app: &App<S>,
    status: StatusCode,
    user: &User,
    refresh: &RefreshToken,
    now: i64,
) -> Reply {
    let ttl = app.config.access_token_ttl.as_secs();
    let caller = Caller {
        user_id: user.id,
        role: user.role,
    };
    let access_token = app.tokens().issue_access(caller, now, ttl as i64)?;
    json(
        status,
        &AuthView {
            access_token,
            refresh_token: refresh.as_str(),
            token_type: "Bearer",
            expires_in: ttl,
            user: user.into(),
        },
    )
}

fn refresh_expiry<S>(app: &App<S>, now: i64) -> i64 {
    now + app.config.refresh_token_ttl.as_secs() as i64
}

/// The body of `POST /api/auth/register`.
pub struct Registration {
    email: Email,
    password: Password,
    display_name: DisplayName,
}

impl FromJson for Registration {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        let email = fields.required("email", Email::parse);
        let password = fields.required("password", Password::parse);
        let display_name = fields.required("display_name", DisplayName::parse);
        Some(Registration {
            email: email?,
            password: password?,
            display_name: display_name?,
        })
    }
}

pub struct Register;

impl Handler for Register {
    type State = Cached<Members>;
    type Input = (ClientIp, Json<Registration>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (ClientIp(ip), Json(body)) = input;
        let key = format!("register:ip:{ip}");
        app.enforce_limit(ctx, &key, app.config.register_ip_limit)
            .await?;
        let hash = password::hash(&body.password).await?;
        let users = Users::new(app.db(), app.table());
        let now = Utc::now();
        let now_secs = now.timestamp();
        let (users, body, hash) = (&users, &body, &hash);
        // Conflicts and throttles are retried inside the data layer; id collisions here.
        let (user, refresh) = with_fresh_id(|id| async move {
            let user = User::new(id, &body.email, &body.display_name, now);
            let refresh = RefreshToken::mint(&RefreshToken::new_family(), 0);
            let session =
                new_session_item(&refresh, user.id, now_secs, refresh_expiry(app, now_secs));
            match users.create(&user, &body.email, hash, session).await? {
                CreateOutcome::Created => Ok(Some((user, refresh))),
                CreateOutcome::EmailTaken => Err(ApiError::Conflict(
                    "An account with this email already exists.".into(),
                )),
                CreateOutcome::IdCollision => Ok(None),
            }
        })
        .await?;
        ctx.set_user(user.id);
        ctx.metrics.count("SignUps");
        auth_response(app, StatusCode::CREATED, &user, &refresh, now_secs)
    }
}

/// The body of `POST /api/auth/login`.
pub struct Credentials {
    email: Email,
    password: Password,
}

impl FromJson for Credentials {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        let email = fields.required("email", Email::parse);
        let password = fields.required("password", Password::parse);
        Some(Credentials {
            email: email?,
            password: password?,
        })
    }
}

pub struct Login;

impl Handler for Login {
    type State = Cached<Members>;
    type Input = (ClientIp, Json<Credentials>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (ClientIp(ip), Json(Credentials { email, password })) = input;
        let ip_key = format!("login:ip:{ip}");
        let by_ip = app
            .limiter
            .hit(
                app.cache(),
                &mut ctx.metrics,
                &ip_key,
                app.config.login_ip_limit,
            )
            .await;
        ctx.limit(by_ip)?;

        // Attempts on one account are limited per client IP: an attacker elsewhere cannot
        // lock the owner out (their own IP keeps its allowance; existing sessions are never
        // touched). The attempt counts *before* the hash, so concurrent attempts cannot
        // overshoot the limit; a successful login clears its IP's count.
        let pair_key = format!("login:account_ip:{}:{ip}", email.key());
        let by_pair = app
            .limiter
            .hit(
                app.cache(),
                &mut ctx.metrics,
                &pair_key,
                app.config.login_account_limit,
            )
            .await;
        ctx.limit(by_ip.tighter(by_pair))?;

        let users = Users::new(app.db(), app.table());
        let credential = users.credential(&email).await?;
        let user_id = credential.as_ref().map(|c| c.user_id);
        let valid = password::verify(&password, credential.map(|c| c.password_hash)).await?;
        let Some(user_id) = user_id.filter(|_| valid) else {
            ctx.metrics.count("LoginFailures");
            return Err(ApiError::Unauthorized(BAD_CREDENTIALS));
        };
        ctx.set_user(user_id);
        // The second and last DynamoDB round trip: the profile (name and role for the reply and
        // the token) and the new session need only the user id, so they go out together, with
        // the reset of this IP's attempt count. Should the read fail, the session just written
        // is never handed out (its family id is random) and expires.
        let now = Utc::now().timestamp();
        let refresh = RefreshToken::mint(&RefreshToken::new_family(), 0);
        let session = new_session_item(&refresh, user_id, now, refresh_expiry(app, now));
        let sessions = Sessions::new(app.db(), app.table());
        let (user, created, ()) = tokio::join!(
            users.get(user_id),
            sessions.create(session),
            app.limiter.reset(app.cache(), &pair_key),
        );
        let user = user?.ok_or_else(|| ApiError::internal("credential without user"))?;
        created?;
        ctx.metrics.count("Logins");
        auth_response(app, StatusCode::OK, &user, &refresh, now)
    }
}

/// The body's `refresh_token`: 422 when missing; `None` (then 401) when it is not a token
/// of ours.
pub struct PresentedRefresh(Option<RefreshToken>);

impl FromJson for PresentedRefresh {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        let token = fields.required("refresh_token", |s| Ok(RefreshToken::parse(s)))?;
        Some(PresentedRefresh(token))
    }
}

impl PresentedRefresh {
    fn ours(self) -> ApiResult<RefreshToken> {
        self.0.ok_or(ApiError::Unauthorized(BAD_REFRESH))
    }
}

pub struct Refresh;

impl Handler for Refresh {
    type State = Members;
    type Input = Json<PresentedRefresh>;

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let Json(presented) = input;
        let presented = presented.ours()?;
        let now = Utc::now().timestamp();
        let sessions = Sessions::new(app.db(), app.table());
        let session = sessions
            .get(&presented.family, now)
            .await?
            .filter(|s| !s.revoked)
            .ok_or(ApiError::Unauthorized(BAD_REFRESH))?;
        ctx.set_user(session.user_id);

        if presented.generation < session.generation {
            // A rotated token came back: it was copied. Revoke the whole family.
            sessions.revoke_presented(&presented).await?;
            tracing::warn!(
                family_generation = session.generation,
                "rotated refresh token re-used; family revoked"
            );
            ctx.metrics.count("RefreshTokenReuse");
            return Err(ApiError::Unauthorized(BAD_REFRESH));
        }
        if presented.generation != session.generation || presented.hash() != session.token_hash {
            return Err(ApiError::Unauthorized(BAD_REFRESH));
        }

        let next = RefreshToken::mint(&session.family, session.generation + 1);
        let users = Users::new(app.db(), app.table());
        let (rotated, user) = tokio::join!(
            sessions.rotate(&session, &next, refresh_expiry(app, now)),
            users.get(session.user_id)
        );
        if !rotated? {
            // Another request used this same token first: that is re-use too.
            sessions.revoke_presented(&presented).await?;
            tracing::warn!("refresh token used twice concurrently; family revoked");
            ctx.metrics.count("RefreshTokenReuse");
            return Err(ApiError::Unauthorized(BAD_REFRESH));
        }
        let user = user?.ok_or(ApiError::Unauthorized(BAD_REFRESH))?;
        ctx.metrics.count("TokenRefreshes");
        auth_response(app, StatusCode::OK, &user, &next, now)
    }
}

pub struct Logout;

impl Handler for Logout {
    type State = Data;
    type Input = Json<PresentedRefresh>;

    /// Idempotent: an expired or already revoked token of ours also gets 204.
    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let Json(presented) = input;
        let presented = presented.ours()?;
        Sessions::new(app.db(), app.table())
            .revoke_presented(&presented)
            .await?;
        Ok(no_content())
    }
}

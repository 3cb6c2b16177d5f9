//! Register, login, refresh and logout.

use chrono::Utc;
use http::StatusCode;

use super::views::AuthView;
use super::with_fresh_id;
use crate::app::{App, Ctx};
use crate::auth::device::DeviceToken;
use crate::auth::password;
use crate::auth::tokens::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AcceptLanguage, ClientIp, FromJson, Json};
use crate::fields::Fields;
use crate::function::{Handler, Reply};
use crate::http::{json, no_content};
use crate::idempotency::{IdempotencyKey, mark_replayed};
use crate::state::{Db, DbAndTokens, HasTokens, WithRedis};
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
    device: Option<&DeviceToken>,
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
            device_token: device.map(DeviceToken::as_str),
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

impl Registration {
    /// The first session's token. With an `Idempotency-Key` it is derived (server key) from
    /// the email and the key (the family) and the whole request (the secret), so a retry
    /// recomputes the very token the first attempt stored the hash of: the answer can be given
    /// again without ever storing a refresh token. Without a key, random.
    fn first_token<S: HasTokens>(
        &self,
        app: &App<S>,
        key: Option<&IdempotencyKey>,
    ) -> RefreshToken {
        let Some(key) = key else {
            return RefreshToken::mint(&RefreshToken::new_family(), 0);
        };
        let (email, key) = (self.email.key(), key.as_str());
        let family = app
            .tokens()
            .derive("register-family", &[email.as_bytes(), key.as_bytes()]);
        let family = RefreshToken::family_from(family[..16].try_into().expect("16 of 32"));
        let secret = app.tokens().derive(
            "register-token",
            &[
                email.as_bytes(),
                key.as_bytes(),
                self.password.expose().as_bytes(),
                self.display_name.as_str().as_bytes(),
            ],
        );
        RefreshToken::with_secret(&family, 0, &secret)
    }
}

impl Handler for Register {
    type State = WithRedis<DbAndTokens>;
    type Input = (
        ClientIp,
        Json<Registration>,
        Option<IdempotencyKey>,
        AcceptLanguage,
    );

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (ClientIp(ip), Json(body), key, AcceptLanguage(locale)) = input;
        let limit_key = format!("register:ip:{ip}");
        app.enforce_limit(ctx, &limit_key, app.config.register_ip_limit)
            .await?;
        let hash = password::hash(&body.password).await?;
        let users = Users::new(app.db(), app.table());
        let sessions = Sessions::new(app.db(), app.table());
        let now = Utc::now();
        let now_secs = now.timestamp();
        let refresh = body.first_token(app, key.as_ref());
        let (users, sessions, body, hash, refresh, keyed) =
            (&users, &sessions, &body, &hash, &refresh, key.is_some());
        // Conflicts and throttles are retried inside the data layer; id collisions here.
        let (user, replayed) = with_fresh_id(|id| async move {
            let user = User::new(id, &body.email, &body.display_name, locale, now);
            let session =
                new_session_item(refresh, user.id, now_secs, refresh_expiry(app, now_secs));
            match users.create(&user, &body.email, hash, session).await? {
                CreateOutcome::Created => Ok(Some((user, false))),
                CreateOutcome::EmailTaken => {
                    // Taken by this very request: an earlier attempt (the data layer's retry,
                    // or the client's with the same key) that committed without an answer.
                    match sessions.get(&refresh.family, now_secs).await? {
                        Some(s) if s.generation == 0 && !s.revoked => {
                            if s.token_hash != refresh.hash() {
                                // Same email and key, another password or display name.
                                return Err(key_reused());
                            }
                            let user = users
                                .get(s.user_id)
                                .await?
                                .ok_or_else(|| ApiError::internal("session without user"))?;
                            Ok(Some((user, keyed)))
                        }
                        _ => Err(ApiError::Conflict(
                            "An account with this email already exists.".into(),
                        )),
                    }
                }
                CreateOutcome::IdCollision => Ok(None),
            }
        })
        .await?;
        ctx.set_user(user.id);
        if replayed {
            let reply = auth_response(app, StatusCode::CREATED, &user, refresh, now_secs, None)?;
            return Ok(mark_replayed(reply));
        }
        ctx.metrics.count("SignUps");
        auth_response(app, StatusCode::CREATED, &user, refresh, now_secs, None)
    }
}

fn key_reused() -> ApiError {
    ApiError::Validation(vec![crate::error::FieldError::new(
        "Idempotency-Key",
        "was already used with a different request",
    )])
}

/// The body of `POST /api/auth/login`.
pub struct Credentials {
    email: Email,
    password: Password,
    /// What a device that signed in before sends back (any string: an invalid one is simply
    /// not trusted).
    device_token: Option<String>,
}

impl FromJson for Credentials {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        let email = fields.required("email", Email::parse);
        let password = fields.required("password", Password::parse);
        let device_token = fields.optional("device_token", |s| Ok(s.to_owned()));
        Some(Credentials {
            email: email?,
            password: password?,
            device_token,
        })
    }
}

pub struct Login;

impl Handler for Login {
    type State = WithRedis<DbAndTokens>;
    type Input = (ClientIp, Json<Credentials>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (ClientIp(ip), Json(body)) = input;
        let Credentials {
            email,
            password,
            device_token,
        } = body;
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

        // Attempts count *before* the hash, so concurrent attempts cannot overshoot a limit.
        // A device that signed in to this account before (a valid device token) has its own
        // allowance. Every other attempt counts per email and IP, and against one cap per
        // account shared by all addresses: many addresses no longer multiply the guesses, and
        // spending the cap shuts out only untrusted clients, never the owner's devices
        // (OWASP's device cookies; auth/device.rs). Existing sessions are never touched.
        let email_key = email.key();
        let device = device_token
            .as_deref()
            .and_then(|t| DeviceToken::verify(app.tokens(), &email_key, t));
        let (decision, clear_key) = match &device {
            Some(device) => {
                let key = format!("login:device:{}", device.id());
                let limit = app.config.login_device_limit;
                let by_device = app.limiter.hit(app.cache(), &mut ctx.metrics, &key, limit);
                (by_device.await, key)
            }
            None => {
                let pair_key = format!("login:account_ip:{email_key}:{ip}");
                let (limiter, cache) = (&app.limiter, app.cache());
                let limit = app.config.login_account_limit;
                let by_pair = limiter.hit(cache, &mut ctx.metrics, &pair_key, limit).await;
                let account_key = format!("login:account:{email_key}");
                let limit = app.config.login_untrusted_limit;
                let by_account = limiter
                    .hit(cache, &mut ctx.metrics, &account_key, limit)
                    .await;
                (by_pair.tighter(by_account), pair_key)
            }
        };
        ctx.limit(by_ip.tighter(decision))?;

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
        // the reset of this device's (or this IP's) attempt count. Should the read fail, the
        // session just written is never handed out (its family id is random) and expires.
        let now = Utc::now().timestamp();
        let refresh = RefreshToken::mint(&RefreshToken::new_family(), 0);
        let session = new_session_item(&refresh, user_id, now, refresh_expiry(app, now));
        let sessions = Sessions::new(app.db(), app.table());
        let (user, created, ()) = tokio::join!(
            users.get(user_id),
            sessions.create(session),
            app.limiter.reset(app.cache(), &clear_key),
        );
        let user = user?.ok_or_else(|| ApiError::internal("credential without user"))?;
        created?;
        ctx.metrics.count("Logins");
        // A trusted device keeps its token; any other client is now a known device.
        let device = device.unwrap_or_else(|| DeviceToken::mint(app.tokens(), &email_key));
        auth_response(app, StatusCode::OK, &user, &refresh, now, Some(&device))
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
    type State = DbAndTokens;
    type Input = (Json<PresentedRefresh>, Option<IdempotencyKey>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (Json(presented), key) = input;
        let presented = presented.ours()?;
        let now = Utc::now().timestamp();
        let sessions = Sessions::new(app.db(), app.table());
        let session = sessions
            .get(&presented.family, now)
            .await?
            .filter(|s| !s.revoked)
            .ok_or(ApiError::Unauthorized(BAD_REFRESH))?;
        ctx.set_user(session.user_id);
        let users = Users::new(app.db(), app.table());

        // With a key, the next token is derived (server key) from the presented token and the
        // key: a retry of the same request recomputes it and, if the session already holds it
        // (the rotation committed, the answer was lost), gets it back. Another key, no key, or
        // the window passed: re-use, below.
        let keyed_next = key.as_ref().map(|key| {
            let secret = app.tokens().derive(
                "refresh-token",
                &[presented.as_str().as_bytes(), key.as_str().as_bytes()],
            );
            RefreshToken::with_secret(&session.family, presented.generation + 1, &secret)
        });
        if let Some(next) = &keyed_next {
            let window = app.config.refresh_replay_window.as_secs() as i64;
            let fresh = session.rotated_at.is_some_and(|at| now - at < window);
            if fresh && session.generation == next.generation && session.token_hash == next.hash() {
                let user = users
                    .get(session.user_id)
                    .await?
                    .ok_or(ApiError::Unauthorized(BAD_REFRESH))?;
                ctx.metrics.count("TokenRefreshReplays");
                let reply = auth_response(app, StatusCode::OK, &user, next, now, None)?;
                return Ok(mark_replayed(reply));
            }
        }

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

        let next = keyed_next
            .unwrap_or_else(|| RefreshToken::mint(&session.family, session.generation + 1));
        let (rotated, user) = tokio::join!(
            sessions.rotate(&session, &next, now, refresh_expiry(app, now)),
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
        auth_response(app, StatusCode::OK, &user, &next, now, None)
    }
}

pub struct Logout;

impl Handler for Logout {
    type State = Db;
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

//! Extractors: what a handler takes from the request, as typed values, each answering with
//! its own 4xx when the request does not carry it (the idea of axum's extractors, over our
//! [`App`] and [`Ctx`]). A handler's `Input` is one extractor or a tuple of them, extracted in
//! order, so `(MarkedActive<Caller>, Path<PostId>, Json<PostPatch>)` answers 401, then 404, then 4xx for
//! the body, before the handler runs.

use std::future::Future;

use lambda_http::{Request, RequestExt};
use rota_domain::ids::{CommentId, NotificationId, PostId, RoadmapId, StepId};
use rota_domain::input::{parse_limit, parse_path_id};

use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::fields::Fields;
use crate::idempotency::{IdempotencyKey, Replay};
use crate::state::HasTokens;

/// A value taken from the request before the handler runs; its error is the response.
pub trait FromRequest<S>: Sized + Send {
    fn from_request(
        app: &App<S>,
        ctx: &mut Ctx,
        req: &Request,
    ) -> impl Future<Output = ApiResult<Self>> + Send;
}

impl<S: Sync> FromRequest<S> for () {
    async fn from_request(_: &App<S>, _: &mut Ctx, _: &Request) -> ApiResult<Self> {
        Ok(())
    }
}

macro_rules! tuple_extractors {
    ($($t:ident),+) => {
        impl<S: Sync, $($t: FromRequest<S>),+> FromRequest<S> for ($($t,)+) {
            async fn from_request(app: &App<S>, ctx: &mut Ctx, req: &Request) -> ApiResult<Self> {
                Ok(($($t::from_request(app, ctx, req).await?,)+))
            }
        }
    };
}
tuple_extractors!(A, B);
tuple_extractors!(A, B, C);
tuple_extractors!(A, B, C, D);

/// The caller, marked active: the access token is verified (401 without a valid one, for
/// `MarkedActive<Caller>`; anonymous without one, 401 for a bad one, for
/// `MarkedActive<Option<Caller>>`), and then the caller's activity is recorded: a conditional
/// UpdateItem of their `ACTIVITY` item (`rota_store::activity`), at most once per user and
/// hour per container, whose failure never fails the request. That write is what
/// `active_users_24h` and the DAU/MAU metrics count, so every handler that knows its caller
/// takes its caller through this extractor, and its `Input` says that it writes.
pub struct MarkedActive<T>(pub T);

/// The caller itself (`caller.user_id`), the activity record being done.
impl<T> std::ops::Deref for MarkedActive<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S: HasTokens + Sync> FromRequest<S> for MarkedActive<Caller> {
    async fn from_request(app: &App<S>, ctx: &mut Ctx, req: &Request) -> ApiResult<Self> {
        let caller = app.authenticate(ctx, req)?;
        app.record_activity(ctx, caller.user_id).await;
        Ok(MarkedActive(caller))
    }
}

impl<S: HasTokens + Sync> FromRequest<S> for MarkedActive<Option<Caller>> {
    async fn from_request(app: &App<S>, ctx: &mut Ctx, req: &Request) -> ApiResult<Self> {
        let caller = app.authenticate_optional(ctx, req)?;
        if let Some(caller) = &caller {
            app.record_activity(ctx, caller.user_id).await;
        }
        Ok(MarkedActive(caller))
    }
}

/// An id from the path. Anything that is not an id we could have issued names nothing: 404.
pub struct Path<T>(pub T);

/// The path ids of the API: the parameter each is read from and the 404 that says it names
/// nothing.
pub trait PathId: Sized + Send {
    const PARAM: &'static str;
    const NOT_FOUND: &'static str;
    fn from_id(id: i64) -> Option<Self>;
}

macro_rules! path_ids {
    ($($t:ty => $param:literal, $missing:literal;)+) => {$(
        impl PathId for $t {
            const PARAM: &'static str = $param;
            const NOT_FOUND: &'static str = $missing;
            fn from_id(id: i64) -> Option<Self> {
                id.try_into().ok().map(Self)
            }
        }
    )+};
}
path_ids! {
    PostId => "id", "No such post.";
    CommentId => "id", "No such comment.";
    RoadmapId => "id", "No such roadmap.";
    StepId => "step_id", "No such roadmap step.";
    NotificationId => "id", "No such notification.";
}

/// The 404 of a path id that names nothing.
pub fn not_found<T: PathId>() -> ApiError {
    ApiError::NotFound(T::NOT_FOUND.into())
}

impl<S: Sync, T: PathId> FromRequest<S> for Path<T> {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        req.path_parameters_ref()
            .and_then(|p| p.first(T::PARAM))
            .and_then(parse_path_id)
            .and_then(T::from_id)
            .map(Path)
            .ok_or_else(not_found::<T>)
    }
}

/// Query parameters parsed into `T`; every invalid one is listed in one 422.
pub struct Query<T>(pub T);

/// A query string's parameters as a [`Query`] target reads them.
pub struct QueryParams<'a> {
    req: &'a Request,
    errors: Vec<FieldError>,
}

impl QueryParams<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.req
            .query_string_parameters_ref()
            .and_then(|q| q.first(name))
    }

    pub fn fail(&mut self, name: &str, message: &str) {
        self.errors.push(FieldError::new(name, message));
    }

    /// `?limit=1..=100`, 20 when absent.
    pub fn limit(&mut self) -> u32 {
        parse_limit(self.get("limit")).unwrap_or_else(|m| {
            self.fail("limit", m);
            20
        })
    }

    /// `?name=true|false`, false when absent.
    pub fn flag(&mut self, name: &str) -> bool {
        match self.get(name) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                self.fail(name, "must be true or false");
                false
            }
        }
    }
}

/// A type read from the query string (invalid parameters recorded with `fail`).
pub trait FromQuery: Sized + Send {
    fn from_query(query: &mut QueryParams<'_>) -> Self;
}

/// A page of a list: `?limit=` and the opaque `?cursor=` (checked against its list later,
/// since the list's identity may depend on the caller).
pub struct Page {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl FromQuery for Page {
    fn from_query(query: &mut QueryParams<'_>) -> Self {
        Page {
            limit: query.limit(),
            cursor: query.get("cursor").map(str::to_owned),
        }
    }
}

impl<S: Sync, T: FromQuery> FromRequest<S> for Query<T> {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        let mut params = QueryParams {
            req,
            errors: Vec::new(),
        };
        let value = T::from_query(&mut params);
        if params.errors.is_empty() {
            Ok(Query(value))
        } else {
            Err(ApiError::Validation(params.errors))
        }
    }
}

/// A JSON object body read into `T`: 413, 415, 400 for what is not a JSON object, and one 422
/// listing every invalid field.
pub struct Json<T>(pub T);

/// A body type: reads its fields, each problem recorded in `fields` (then `None` may be
/// returned; the extractor answers 422 with every recorded problem).
pub trait FromJson: Sized + Send {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self>;
}

fn parse_body<T: FromJson>(object: &serde_json::Map<String, serde_json::Value>) -> ApiResult<T> {
    let mut fields = Fields::new(object);
    let value = T::from_fields(&mut fields);
    fields.finish().map_err(ApiError::Validation)?;
    // A body type returns `None` only after recording why, so this is never the answer.
    value.ok_or_else(|| ApiError::internal("a body type refused without saying why"))
}

impl<S: Sync, T: FromJson> FromRequest<S> for Json<T> {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        let object = crate::http::json_object(req)?;
        parse_body(&object).map(Json)
    }
}

/// A creating request under `Idempotency-Key` (`handlers::idempotent`): its body, and what
/// a retry of it must match. 400 for a malformed key.
pub struct Idempotent<T> {
    pub body: T,
    pub replay: Replay,
}

impl<S: Sync, T: FromJson> FromRequest<S> for Idempotent<T> {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        let object = crate::http::json_object(req)?;
        let body = parse_body(&object)?;
        let key = IdempotencyKey::of(req)?;
        let replay = Replay::new(req, key, serde_json::Value::Object(object));
        Ok(Idempotent { body, replay })
    }
}

/// The request's `Idempotency-Key`, if any (400 when malformed), for handlers that make a
/// retry safe without the stored-response machinery (register, refresh: their answers hold
/// refresh tokens, which are never stored in plain text).
impl<S: Sync> FromRequest<S> for Option<IdempotencyKey> {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        IdempotencyKey::of(req)
    }
}

/// The client's address as API Gateway saw it (`"unknown"` when absent).
pub struct ClientIp(pub String);

impl<S: Sync> FromRequest<S> for ClientIp {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        Ok(ClientIp(
            crate::http::source_ip(req).unwrap_or_else(|| "unknown".into()),
        ))
    }
}

/// The language the request's `Accept-Language` prefers among Rota's (English when it names
/// neither): what a new account starts in, and what a signed-out caller reads.
pub struct AcceptLanguage(pub rota_domain::locale::Locale);

impl<S: Sync> FromRequest<S> for AcceptLanguage {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        let header = req
            .headers()
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Ok(AcceptLanguage(
            rota_domain::locale::Locale::from_accept_language(header),
        ))
    }
}

/// The request's method and path (at most 200 characters of it), for the `$default` route.
pub struct Route {
    pub method: String,
    pub path: String,
}

impl<S: Sync> FromRequest<S> for Route {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        Ok(Route {
            method: req.method().to_string(),
            path: req.uri().path().chars().take(200).collect(),
        })
    }
}

//! Route selection as API Gateway HTTP APIs do it.
//!
//! Priority, from the HTTP API documentation: a full match of route and method, then a route with
//! a greedy `{proxy+}` variable, then `$default`. Among candidates of the same kind the most
//! specific path wins (compared segment by segment from the left: literal over `{param}` over
//! `{proxy+}`), and a route with an explicit method wins over `ANY` for the same path. A request
//! that matches no route for its method — unknown path or wrong method — goes to `$default`.

use std::collections::BTreeMap;

use crate::template::{DEFAULT_ROUTE_KEY, RouteInfo};

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Param(String),
    /// `{name+}`: one or more segments, the rest of the path (only last).
    Greedy(String),
}

impl Segment {
    /// Lower is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 2,
        }
    }
}

/// A route the router can select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `"GET /a/{id}"`, `"ANY /{proxy+}"`.
    pub route_key: String,
    /// Upper-case method; `None` for `ANY`.
    pub method: Option<String>,
    pub segments: Vec<Segment>,
    /// Function logical id.
    pub function: String,
}

impl Route {
    /// Parses a route path; `None` if it is not a valid HTTP API route path.
    pub fn new(method: &str, path: &str, function: &str) -> Option<Self> {
        let rest = path.strip_prefix('/')?;
        let raw: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let seg = if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if let Some(greedy) = name.strip_suffix('+') {
                    if i + 1 != raw.len() || greedy.is_empty() {
                        return None;
                    }
                    Segment::Greedy(greedy.to_string())
                } else if name.is_empty() {
                    return None;
                } else {
                    Segment::Param(name.to_string())
                }
            } else {
                Segment::Literal((*s).to_string())
            };
            segments.push(seg);
        }
        let method = method.trim().to_ascii_uppercase();
        Some(Self {
            route_key: format!("{method} {path}"),
            method: (method != "ANY").then_some(method),
            segments,
            function: function.to_string(),
        })
    }

    fn has_greedy(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Greedy(_)))
    }

    /// Path parameters if `segments` (decoded request path segments) match this route.
    fn matches(&self, segments: &[String]) -> Option<BTreeMap<String, String>> {
        let mut params = BTreeMap::new();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Literal(l) => {
                    if segments.get(i)? != l {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = segments.get(i)?;
                    if value.is_empty() {
                        return None;
                    }
                    params.insert(name.clone(), value.clone());
                }
                Segment::Greedy(name) => {
                    let rest = segments.get(i..)?;
                    let value = rest.join("/");
                    if value.is_empty() {
                        return None;
                    }
                    params.insert(name.clone(), value);
                    return Some(params);
                }
            }
        }
        (segments.len() == self.segments.len()).then_some(params)
    }

    /// Sort key: smaller is more specific.
    fn specificity(&self) -> (bool, Vec<u8>, bool) {
        (
            self.has_greedy(),
            self.segments.iter().map(Segment::rank).collect(),
            self.method.is_none(),
        )
    }
}

/// The selected route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// `"GET /a/{id}"` or `$default`.
    pub route_key: String,
    pub function: String,
    /// Decoded path parameters (empty for `$default`).
    pub path_parameters: BTreeMap<String, String>,
}

impl RouteMatch {
    pub fn is_default(&self) -> bool {
        self.route_key == DEFAULT_ROUTE_KEY
    }
}

/// All routes of the API.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    default_function: Option<String>,
}

impl Router {
    /// Builds the router; invalid or duplicate routes are logged and skipped (the template is
    /// validated elsewhere, this must not stop the local stack).
    pub fn new(routes: &[RouteInfo]) -> Self {
        let mut router = Router::default();
        for r in routes {
            if r.is_default() {
                if router.default_function.is_some() {
                    tracing::warn!("duplicate $default route ({}); ignored", r.function);
                } else {
                    router.default_function = Some(r.function.clone());
                }
                continue;
            }
            match Route::new(&r.method, &r.path, &r.function) {
                Some(route) => {
                    if router.routes.iter().any(|x| x.route_key == route.route_key) {
                        tracing::warn!(
                            "duplicate route {} ({}); ignored",
                            route.route_key,
                            r.function
                        );
                    } else {
                        router.routes.push(route);
                    }
                }
                None => {
                    tracing::warn!("invalid route path {:?} of {}; ignored", r.path, r.function)
                }
            }
        }
        router
    }

    /// Every route key (including `$default` if present).
    pub fn route_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.routes.iter().map(|r| r.route_key.clone()).collect();
        if self.default_function.is_some() {
            keys.push(DEFAULT_ROUTE_KEY.to_string());
        }
        keys
    }

    /// Selects the route for a request. `path` is the request path as received (percent-encoded);
    /// segments are decoded before comparing. `None` when nothing matches and there is no
    /// `$default` route.
    pub fn route(&self, method: &str, path: &str) -> Option<RouteMatch> {
        let segments: Vec<String> = path
            .strip_prefix('/')
            .unwrap_or(path)
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let best = self
            .routes
            .iter()
            .filter(|r| r.method.as_deref().is_none_or(|m| m == method))
            .filter_map(|r| r.matches(&segments).map(|p| (r, p)))
            .min_by_key(|(r, _)| r.specificity());
        match best {
            Some((r, params)) => Some(RouteMatch {
                route_key: r.route_key.clone(),
                function: r.function.clone(),
                path_parameters: params,
            }),
            None => self.default_function.as_ref().map(|f| RouteMatch {
                route_key: DEFAULT_ROUTE_KEY.to_string(),
                function: f.clone(),
                path_parameters: BTreeMap::new(),
            }),
        }
    }
}

/// Path parameters from pairs, for the gateway's tests.
#[cfg(test)]
pub(crate) fn path_params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, path: &str, function: &str) -> RouteInfo {
        RouteInfo {
            method: method.into(),
            path: path.into(),
            function: function.into(),
            name: function.to_lowercase(),
        }
    }

    /// The example of the HTTP API documentation, plus a few of the project's own routes.
    fn router() -> Router {
        Router::new(&[
            info("GET", "/pets/dog/1", "DogOne"),
            info("GET", "/pets/dog/{id}", "DogById"),
            info("GET", "/pets/{proxy+}", "PetsProxy"),
            info("ANY", "/{proxy+}", "AnyProxy"),
            info("GET", "/api/community/posts/{id}", "PostGet"),
            info("PATCH", "/api/community/posts/{id}", "PostPatch"),
            info("ANY", "/api/community/posts/{id}/like", "LikeAny"),
            info("DELETE", "/api/community/posts/{id}/like", "LikeDelete"),
            info("PATCH", "/api/roadmaps/{id}/steps/{step_id}", "StepPatch"),
            info("ANY", "$default", "NotFound"),
        ])
    }

    fn pick(r: &Router, method: &str, path: &str) -> (String, BTreeMap<String, String>) {
        let m = r.route(method, path).unwrap();
        (m.function, m.path_parameters)
    }

    /// A router of `(method, path, function)` routes.
    fn router_of(routes: &[RouteSpec]) -> Router {
        let infos: Vec<_> = routes.iter().map(|(m, p, f)| info(m, p, f)).collect();
        Router::new(&infos)
    }

    /// A request, the function it reaches and its path parameters.
    type Pick<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);
    /// A route: method, path, function.
    type RouteSpec<'a> = (&'a str, &'a str, &'a str);

    fn assert_picks(r: &Router, picks: &[Pick]) {
        for (method, path, function, params) in picks {
            assert_eq!(
                pick(r, method, path),
                (function.to_string(), path_params(params)),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn most_specific_wins() {
        assert_picks(
            &router(),
            &[
                ("GET", "/pets/dog/1", "DogOne", &[]),
                ("GET", "/pets/dog/2", "DogById", &[("id", "2")]),
                ("GET", "/pets/cat/1", "PetsProxy", &[("proxy", "cat/1")]),
                (
                    "POST",
                    "/pets/dog/1",
                    "AnyProxy",
                    &[("proxy", "pets/dog/1")],
                ),
            ],
        );
    }

    #[test]
    fn explicit_method_beats_any() {
        assert_picks(
            &router(),
            &[
                (
                    "DELETE",
                    "/api/community/posts/7/like",
                    "LikeDelete",
                    &[("id", "7")],
                ),
                (
                    "POST",
                    "/api/community/posts/7/like",
                    "LikeAny",
                    &[("id", "7")],
                ),
            ],
        );
    }

    #[test]
    fn params_are_extracted_and_decoded() {
        assert_picks(
            &router(),
            &[(
                "PATCH",
                "/api/roadmaps/12/steps/a%20b",
                "StepPatch",
                &[("id", "12"), ("step_id", "a b")],
            )],
        );
    }

    #[test]
    fn unmatched_goes_to_default() {
        let r = Router::new(&[
            info("GET", "/api/community/posts/{id}", "PostGet"),
            info("POST", "/api/auth/login", "Login"),
            info("ANY", "$default", "NotFound"),
        ]);
        // Wrong method on a known path.
        let m = r.route("GET", "/api/auth/login").unwrap();
        assert!(m.is_default());
        assert_eq!(m.function, "NotFound");
        assert!(m.path_parameters.is_empty());
        // Unknown path, empty param, trailing slash, extra segment.
        for p in [
            "/nope",
            "/api/community/posts/",
            "/api/auth/login/",
            "/api/community/posts/1/x",
            "/",
        ] {
            assert_eq!(r.route("GET", p).unwrap().route_key, "$default", "{p}");
        }
        assert_eq!(
            r.route("POST", "/api/auth/login").unwrap().function,
            "Login"
        );
        // Without $default nothing matches.
        let bare = Router::new(&[info("POST", "/api/auth/login", "Login")]);
        assert!(bare.route("GET", "/api/auth/login").is_none());
    }

    /// Precedence, each rule on a router of its own: (rule, routes, picks).
    const RULES: &[(&str, &[RouteSpec], &[Pick])] = &[
        (
            "a greedy parameter needs at least one segment",
            &[
                ("GET", "/pets/{proxy+}", "PetsProxy"),
                ("ANY", "$default", "NotFound"),
            ],
            &[
                ("GET", "/pets", "NotFound", &[]),
                ("GET", "/pets/", "NotFound", &[]),
                ("GET", "/pets/a/b/c", "PetsProxy", &[("proxy", "a/b/c")]),
            ],
        ),
        (
            "a literal beats a parameter, left to right",
            &[
                ("GET", "/a/{x}", "AX"),
                ("GET", "/{y}/b", "YB"),
                ("GET", "/{y}/{z}", "YZ"),
            ],
            &[
                ("GET", "/a/b", "AX", &[("x", "b")]),
                ("GET", "/c/b", "YB", &[("y", "c")]),
                ("GET", "/c/d", "YZ", &[("y", "c"), ("z", "d")]),
            ],
        ),
        (
            "non-greedy beats greedy, even when less literal",
            &[
                ("GET", "/x/{proxy+}", "XProxy"),
                ("GET", "/{a}/{b}/{c}", "Three"),
            ],
            &[
                (
                    "GET",
                    "/x/1/2",
                    "Three",
                    &[("a", "x"), ("b", "1"), ("c", "2")],
                ),
                ("GET", "/x/1/2/3", "XProxy", &[("proxy", "1/2/3")]),
            ],
        ),
    ];

    #[test]
    fn precedence_rules() {
        for (rule, routes, picks) in RULES {
            println!("{rule}");
            assert_picks(&router_of(routes), picks);
        }
    }

    #[test]
    fn invalid_routes_are_skipped() {
        assert!(Route::new("GET", "no-slash", "F").is_none());
        assert!(Route::new("GET", "/{proxy+}/x", "F").is_none());
        assert!(Route::new("GET", "/{}", "F").is_none());
        let root = Route::new("get", "/", "F").unwrap();
        assert_eq!(root.route_key, "GET /");
        assert_picks(
            &router_of(&[("GET", "/", "Root")]),
            &[("GET", "/", "Root", &[])],
        );
    }
}

//! Accounts and content made through the API: unique names, registered accounts, posts and
//! roadmaps of an account.

use rand::Rng;
use serde_json::{Value, json};

use crate::http::{Api, HttpReply, POSTS};

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::rng().random::<u64>())
}

pub fn unique_email() -> String {
    format!("{}@example.com", unique("user-"))
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl Account {
    /// The account's access token, as the API methods take it.
    pub fn token(&self) -> Option<&str> {
        Some(&self.access_token)
    }
}

impl Api {
    /// A client (from a client IP of its own) and a fresh account registered through it.
    pub async fn signed_up() -> (Self, Account) {
        let api = Self::new();
        let account = api.new_account().await;
        (api, account)
    }

    /// A client, a post titled `title` by a fresh account, and another fresh account (a
    /// reader, a fan, someone who may not edit it): `(api, author, reader, post)`.
    pub async fn a_post_and_a_reader(title: &str) -> (Self, Account, Account, Value) {
        let (api, author) = Self::signed_up().await;
        let reader = api.new_account().await;
        let post = api.new_post(&author, title).await;
        (api, author, reader, post)
    }

    /// Creates a post as `account` and returns its JSON.
    pub async fn new_post(&self, account: &Account, title: &str) -> Value {
        let reply = self
            .write_post(title, "Some content.", account.token())
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }

    /// Asks to create a post (`POST /api/community/posts`) as `token`'s user.
    pub async fn write_post(
        &self,
        title: impl Into<Value>,
        content: impl Into<Value>,
        token: Option<&str>,
    ) -> HttpReply {
        let body = json!({"title": title.into(), "content": content.into()});
        self.post(POSTS, &body, token).await
    }

    /// Asks to comment `content` on post `post_id` as `token`'s user.
    pub async fn comment(
        &self,
        post_id: impl std::fmt::Display,
        content: impl Into<Value>,
        token: Option<&str>,
    ) -> HttpReply {
        let body = json!({ "content": content.into() });
        let path = format!("{POSTS}/{post_id}/comments");
        self.post(&path, &body, token).await
    }

    pub async fn register(&self, email: &str, password: &str, display_name: &str) -> HttpReply {
        self.post(
            "/api/auth/register",
            &json!({"email": email, "password": password, "display_name": display_name}),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> HttpReply {
        self.post(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Rotates `refresh_token` (`POST /api/auth/refresh`).
    pub async fn refresh(&self, refresh_token: &str) -> HttpReply {
        let body = json!({"refresh_token": refresh_token});
        self.post("/api/auth/refresh", &body, None).await
    }

    /// Ends `refresh_token`'s session (`POST /api/auth/logout`).
    pub async fn logout(&self, refresh_token: &str) -> HttpReply {
        let body = json!({"refresh_token": refresh_token});
        self.post("/api/auth/logout", &body, None).await
    }

    /// Registers a fresh account and returns it.
    pub async fn new_account(&self) -> Account {
        let email = unique_email();
        let password = unique("pw-");
        let mut reply = self.register(&email, &password, "Test User").await;
        if reply.status == 409 && reply.unknown_outcomes > 0 {
            // The lost attempt created the account: a careful client signs in.
            reply = self.login(&email, &password).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.status = 201;
        }
        assert_eq!(reply.status, 201, "{}", reply.text);
        let body = reply.json();
        Account {
            id: body["user"]["id"].as_i64().expect("id"),
            email,
            password,
            access_token: body["access_token"].as_str().expect("access").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Asks for a roadmap as `account` (`POST /api/roadmaps` with `body`).
    pub async fn create_roadmap(&self, account: &Account, body: Value) -> HttpReply {
        self.post("/api/roadmaps", &body, Some(&account.access_token))
            .await
    }
}

impl HttpReply {
    /// The refresh token of a 200 answer (of a login or a refresh).
    pub fn refresh_token(&self) -> String {
        assert_eq!(self.status, 200, "{}", self.text);
        self.json()["refresh_token"].as_str().unwrap().to_owned()
    }
}

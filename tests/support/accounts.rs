//! Accounts and content made through the API: unique names, registered accounts, posts and
//! roadmaps of an account.

use rand::Rng;
use serde_json::{Value, json};

use crate::http::{Api, POSTS, Reply};

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

impl Api {
    /// Creates a post as `account` and returns its JSON.
    pub async fn new_post(&self, account: &Account, title: &str) -> Value {
        let reply = self
            .post(
                POSTS,
                &json!({"title": title, "content": "Some content."}),
                Some(&account.access_token),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }

    pub async fn register(&self, email: &str, password: &str, display_name: &str) -> Reply {
        self.post(
            "/api/auth/register",
            &json!({"email": email, "password": password, "display_name": display_name}),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await
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
    pub async fn create_roadmap(&self, account: &Account, body: Value) -> Reply {
        self.post("/api/roadmaps", &body, Some(&account.access_token))
            .await
    }
}

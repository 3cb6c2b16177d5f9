//! The JSON shapes of the OpenAPI document (`shared/api/openapi.yaml`).

use serde::Serialize;

use rota_store::comments::Comment;
use rota_store::posts::Post;
use rota_store::users::User;

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-25T09:30:00.000Z`: as the items
/// store times.
pub use rota_store::timestamp;

#[derive(Serialize)]
pub struct UserView<'a> {
    pub id: i64,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: &'static str,
    pub created_at: String,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id,
            email: &u.email,
            display_name: &u.display_name,
            role: u.role.as_str(),
            created_at: timestamp(u.created_at),
        }
    }
}

#[derive(Serialize)]
pub struct MeView<'a> {
    #[serde(flatten)]
    pub user: UserView<'a>,
    pub reminder_enabled: bool,
    pub reminder_hour: u8,
    pub timezone: &'a str,
    pub locale: &'static str,
    pub email_reminders: bool,
}

impl<'a> From<&'a User> for MeView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            user: UserView::from(u),
            reminder_enabled: u.reminder_enabled,
            reminder_hour: u.reminder_hour,
            timezone: &u.timezone,
            locale: u.locale.as_str(),
            email_reminders: u.email_reminders,
        }
    }
}

#[derive(Serialize)]
pub struct AuthView<'a> {
    pub access_token: String,
    pub refresh_token: &'a str,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub user: UserView<'a>,
    /// Login only: the device token to send with this account's next logins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<&'a str>,
}

#[derive(Serialize)]
pub struct Author<'a> {
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
pub struct CommentView<'a> {
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

//! Posts (`/api/community/posts`, `/api/community/posts/{id}`): creating, reading, editing
//! and deleting, who may do which, and the posting limit. The feeds that list them: `feeds`.

mod feeds;

use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_new_post_shows_in_the_new_feed_with_its_author() {
    let (api, me) = Api::signed_up().await;
    let post = api.new_post(&me, "Fresh").await;
    assert_eq!(post["author"]["id"], me.id);
    assert_eq!(post["author"]["display_name"], "Test User");
    assert_eq!(post["likes_count"], 0);
    assert_eq!(post["comments_count"], 0);
    assert_eq!(post["liked_by_me"], false);
    assert_eq!(post["created_at"], post["updated_at"]);
    let id = post["id"].as_i64().unwrap();
    assert!(
        in_new_feed(&api, None, id).await.is_some(),
        "{id} is not in the new feed"
    );
    let got = api.get(&format!("{POSTS}/{}", post["id"]), None).await;
    assert_eq!(got.json()["title"], "Fresh");
}

#[tokio::test]
async fn titles_and_contents_round_trip_exactly_and_are_plain_text() {
    let (api, me) = Api::signed_up().await;
    let title = "  Ödev 👩🏽‍💻 مرحبا بالعالم e\u{301} ";
    let content =
        "Line one\n\tLine two: '; DROP TABLE posts; -- #{attribute_not_exists(PK)} :v <script>";
    let reply = api.write_post(title, content, me.token()).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.json()["id"].as_i64().unwrap();
    let got = api.get(&format!("{POSTS}/{id}"), None).await.json();
    assert_eq!(got["title"], title);
    assert_eq!(got["content"], content);
}

#[tokio::test]
async fn invalid_posts_are_listed_field_by_field() {
    let (api, me) = Api::signed_up().await;
    let token = me.token();
    let bad = api.write_post("   ", "bell\u{7}", token).await.problem(422);
    let fields = error_fields(&bad);
    assert_eq!(fields, ["title", "content"]);
    let long = api
        .write_post("x".repeat(201), "y".repeat(10_001), token)
        .await;
    assert_eq!(long.problem(422)["errors"].as_array().unwrap().len(), 2);
    api.write_post("ok", "ok", None).await.problem(401);
}

#[tokio::test]
async fn bad_or_unknown_post_ids_are_404_never_500() {
    let api = Api::new();
    for id in [
        "abc",
        "-1",
        "0",
        "1.5",
        "99999999999999999999999",
        "9007199254740993",
        "123",
    ] {
        api.get(&format!("{POSTS}/{id}"), None).await.problem(404);
        api.get(&format!("{POSTS}/{id}/comments"), None)
            .await
            .problem(404);
    }
}

#[tokio::test]
async fn only_the_author_edits_a_post() {
    let (api, author, other, post) = Api::a_post_and_a_reader("Mine").await;
    let path = format!("{POSTS}/{}", post["id"]);
    api.patch(&path, &json!({"title": "Theirs"}), other.token())
        .await
        .problem(403);
    let edited = api
        .patch(&path, &json!({"content": "Edited body"}), author.token())
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let edited = edited.json();
    assert_eq!(edited["title"], "Mine");
    assert_eq!(edited["content"], "Edited body");
    assert!(edited["updated_at"].as_str() >= post["updated_at"].as_str());
    api.patch(&path, &json!({"title": ""}), author.token())
        .await
        .problem(422);
}

#[tokio::test]
async fn the_author_or_an_admin_deletes_and_the_post_leaves_both_feeds_at_once() {
    let (api, author, other, first) = Api::a_post_and_a_reader("Delete me").await;
    let path = format!("{POSTS}/{}", first["id"]);
    api.delete(&path, other.token()).await.problem(403);
    assert_eq!(api.delete(&path, author.token()).await.status, 204);
    api.get(&path, None).await.problem(404);
    api.delete(&path, author.token()).await.problem(404);
    for sort in ["new", "top"] {
        let mut cursor: Option<String> = None;
        loop {
            let url = with_cursor(&format!("{POSTS}?sort={sort}&limit=100"), cursor.as_deref());
            let page = api.get(&url, None).await.json();
            assert!(
                !ids(&page).contains(&first["id"].as_i64().unwrap()),
                "deleted post still in {sort}"
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
    }
    api.post(&format!("{path}/like"), &json!({}), other.token())
        .await
        .problem(404);

    // An admin (made with the admin tool) may delete anyone's post.
    let second = api.new_post(&author, "Moderate me").await;
    let admin = api.new_account().await;
    let out = rota_admin(&["grant-admin", &admin.email]);
    succeeded(&out, "rota-admin grant-admin");
    let admin_login = api.login(&admin.email, &admin.password).await.json();
    assert_eq!(admin_login["user"]["role"], "admin");
    let admin_token = admin_login["access_token"].as_str().unwrap();
    let path = format!("{POSTS}/{}", second["id"]);
    assert_eq!(api.delete(&path, Some(admin_token)).await.status, 204);
    // Admins still cannot edit someone else's post.
    let third = api.new_post(&author, "Not yours").await;
    api.patch(
        &format!("{POSTS}/{}", third["id"]),
        &json!({"title": "x"}),
        Some(admin_token),
    )
    .await
    .problem(403);
    assert!(
        !rota_admin(&["grant-admin", "nobody-here@example.com"])
            .status
            .success()
    );
}

#[tokio::test]
async fn posting_is_limited_to_five_a_minute_per_user() {
    let (api, me) = Api::signed_up().await;
    for i in 0..5 {
        let r = api.write_post(format!("p{i}"), "c", me.token()).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("5"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
    }
    let limited = api.write_post("p6", "c", me.token()).await;
    limited.problem(429);
    assert!(limited.retry_after() <= 60);
    // Another user is not affected.
    let other = api.new_account().await;
    api.new_post(&other, "mine").await;
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::posts;

    #[tokio::test]
    async fn post_limits_still_hold_per_container_when_the_cache_is_down() {
        let app = app_with_redis(Some("redis://127.0.0.1:1".into())).await;
        let author = create_user(&app).await;
        for _ in 0..5 {
            create_post(&app, author).await;
        }
        let event = with_token(
            sample_event("community-posts-create"),
            &member_token(&app, author),
        );
        let reply = call(&app, &posts::CreatePost, &event).await;
        reply.problem(429);
        assert_eq!(reply.header("ratelimit-limit"), Some("5"));
    }
}

/// An edit is conditional on the post's version as read.
mod in_process_versioned_edits {
    use super::*;
    use rota_api::handlers::posts::PatchPost;

    #[tokio::test]
    async fn a_late_attempt_of_an_older_edit_cannot_undo_a_newer_one() {
        let (app, tamper) = tampered_app().await;
        let author = create_user(&app).await;
        let post = create_post(&app, author).await;
        let token = member_token(&app, author);
        let edit = |title: &str| {
            with_body(
                on_post(sample_event("community-posts-patch"), post, &token),
                &json!({ "title": title }),
            )
        };
        let older = call(&app, &PatchPost, &edit("Eski başlık")).await;
        assert_eq!(older.status, 200, "{}", older.text);
        let older = tamper
            .sent(&["UpdateItem"], "Eski ba")
            .pop()
            .expect("the edit's write");
        let newer = call(&app, &PatchPost, &edit("Yeni başlık")).await;
        assert_eq!(newer.status, 200, "{}", newer.text);
        let (status, text) = older.replay().await;
        let get = on_post(sample_event("community-posts-get"), post, &token);
        let now = call(&app, &rota_api::handlers::posts::GetPost, &get).await;
        assert_eq!(
            now.json()["title"],
            "Yeni başlık",
            "the late attempt ({status} {text}) undid the newer edit"
        );
    }
}

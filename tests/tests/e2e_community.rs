//! End to end through the local gateway: every Community row of API.md.

use futures::future::join_all;
use rota_tests::*;
use serde_json::{Value, json};

const POSTS: &str = "/api/community/posts";

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_new_post_is_first_in_the_new_feed_at_once_with_its_author() {
    let api = Api::new();
    let me = api.new_account().await;
    let post = api.new_post(&me, "Fresh").await;
    assert_eq!(post["author"]["id"], me.id);
    assert_eq!(post["author"]["display_name"], "Test User");
    assert_eq!(post["likes_count"], 0);
    assert_eq!(post["comments_count"], 0);
    assert_eq!(post["liked_by_me"], false);
    assert_eq!(post["created_at"], post["updated_at"]);
    let page = api.get(&format!("{POSTS}?sort=new&limit=100"), None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(ids(&page.json()).contains(&post["id"].as_i64().unwrap()));
    let got = api.get(&format!("{POSTS}/{}", post["id"]), None).await;
    assert_eq!(got.json()["title"], "Fresh");
}

#[tokio::test]
async fn titles_and_contents_round_trip_exactly_and_are_plain_text() {
    let api = Api::new();
    let me = api.new_account().await;
    let title = "  Ödev 👩🏽‍💻 مرحبا بالعالم e\u{301} ";
    let content =
        "Line one\n\tLine two: '; DROP TABLE posts; -- #{attribute_not_exists(PK)} :v <script>";
    let reply = api
        .post(
            POSTS,
            &json!({"title": title, "content": content}),
            Some(&me.access_token),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.json()["id"].as_i64().unwrap();
    let got = api.get(&format!("{POSTS}/{id}"), None).await.json();
    assert_eq!(got["title"], title);
    assert_eq!(got["content"], content);
}

#[tokio::test]
async fn invalid_posts_are_listed_field_by_field() {
    let api = Api::new();
    let me = api.new_account().await;
    let token = Some(me.access_token.as_str());
    let bad = api
        .post(
            POSTS,
            &json!({"title": "   ", "content": "bell\u{7}"}),
            token,
        )
        .await
        .problem(422);
    let fields: Vec<_> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "content"]);
    let long = api
        .post(
            POSTS,
            &json!({"title": "x".repeat(201), "content": "y".repeat(10_001)}),
            token,
        )
        .await;
    assert_eq!(long.problem(422)["errors"].as_array().unwrap().len(), 2);
    api.post(POSTS, &json!({"title": "ok", "content": "ok"}), None)
        .await
        .problem(401);
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
    let api = Api::new();
    let author = api.new_account().await;
    let other = api.new_account().await;
    let post = api.new_post(&author, "Mine").await;
    let path = format!("{POSTS}/{}", post["id"]);
    api.patch(
        &path,
        &json!({"title": "Theirs"}),
        Some(&other.access_token),
    )
    .await
    .problem(403);
    let edited = api
        .patch(
            &path,
            &json!({"content": "Edited body"}),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let edited = edited.json();
    assert_eq!(edited["title"], "Mine");
    assert_eq!(edited["content"], "Edited body");
    assert!(edited["updated_at"].as_str() >= post["updated_at"].as_str());
    api.patch(&path, &json!({"title": ""}), Some(&author.access_token))
        .await
        .problem(422);
}

#[tokio::test]
async fn the_author_or_an_admin_deletes_and_the_post_leaves_both_feeds_at_once() {
    let api = Api::new();
    let author = api.new_account().await;
    let other = api.new_account().await;
    let first = api.new_post(&author, "Delete me").await;
    let path = format!("{POSTS}/{}", first["id"]);
    api.delete(&path, Some(&other.access_token))
        .await
        .problem(403);
    assert_eq!(
        api.delete(&path, Some(&author.access_token)).await.status,
        204
    );
    api.get(&path, None).await.problem(404);
    api.delete(&path, Some(&author.access_token))
        .await
        .problem(404);
    for sort in ["new", "top"] {
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{POSTS}?sort={sort}&limit=100&cursor={c}"),
                None => format!("{POSTS}?sort={sort}&limit=100"),
            };
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
    api.post(
        &format!("{path}/like"),
        &json!({}),
        Some(&other.access_token),
    )
    .await
    .problem(404);

    // An admin (made with the admin tool) may delete anyone's post.
    let second = api.new_post(&author, "Moderate me").await;
    let admin = api.new_account().await;
    let out = rota_admin(&["grant-admin", &admin.email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
async fn liking_twice_counts_once_and_unliking_twice_uncounts_once() {
    let api = Api::new();
    let author = api.new_account().await;
    let fan = api.new_account().await;
    let post = api.new_post(&author, "Like me").await;
    let like = format!("{POSTS}/{}/like", post["id"]);
    let token = Some(fan.access_token.as_str());
    for _ in 0..2 {
        let r = api.post(&like, &json!({}), token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"liked": true, "likes_count": 1}));
    }
    let seen = api
        .get(&format!("{POSTS}/{}", post["id"]), token)
        .await
        .json();
    assert_eq!(seen["liked_by_me"], true);
    assert_eq!(
        api.get(&format!("{POSTS}/{}", post["id"]), None)
            .await
            .json()["liked_by_me"],
        false
    );
    for _ in 0..2 {
        let r = api.delete(&like, token).await;
        assert_eq!(r.json(), json!({"liked": false, "likes_count": 0}));
    }
    api.post(&format!("{POSTS}/424242/like"), &json!({}), token)
        .await
        .problem(404);
    api.post(&like, &json!({}), None).await.problem(401);
}

#[tokio::test]
async fn liked_by_me_is_filled_for_a_whole_page() {
    let api = Api::new();
    let me = api.new_account().await;
    let a = api.new_post(&me, "A").await;
    let b = api.new_post(&me, "B").await;
    api.post(
        &format!("{POSTS}/{}/like", a["id"]),
        &json!({}),
        Some(&me.access_token),
    )
    .await;
    let page = api
        .get(&format!("{POSTS}?limit=100"), Some(&me.access_token))
        .await
        .json();
    let find = |id: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| &p["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(find(&a["id"])["liked_by_me"], true);
    assert_eq!(find(&b["id"])["liked_by_me"], false);
}

#[tokio::test]
async fn the_top_feed_orders_by_likes_then_newest() {
    let api = Api::new();
    let author = api.new_account().await;
    let fans = join_all((0..3).map(|_| async { Api::new().new_account().await })).await;
    let p1 = api.new_post(&author, "one like").await;
    let p3 = api.new_post(&author, "three likes").await;
    let p1b = api.new_post(&author, "one like, newer").await;
    for (post, n) in [(&p1, 1), (&p3, 3), (&p1b, 1)] {
        for fan in &fans[..n] {
            api.post(
                &format!("{POSTS}/{}/like", post["id"]),
                &json!({}),
                Some(&fan.access_token),
            )
            .await;
        }
    }
    let mut order = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{POSTS}?sort=top&limit=50&cursor={c}"),
            None => format!("{POSTS}?sort=top&limit=50"),
        };
        let page = api.get(&url, None).await.json();
        for p in page["items"].as_array().unwrap() {
            order.push((
                p["likes_count"].as_i64().unwrap(),
                p["id"].as_i64().unwrap(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted, "top feed is not likes desc, then newest");
    let pos = |p: &Value| {
        order
            .iter()
            .position(|(_, id)| *id == p["id"].as_i64().unwrap())
            .unwrap()
    };
    assert!(pos(&p3) < pos(&p1b) && pos(&p1b) < pos(&p1));
}

#[tokio::test]
async fn walking_pages_while_posts_arrive_gives_no_duplicates_and_no_skips() {
    let api = Api::new();
    let (me, also_me, latecomer) = (
        api.new_account().await,
        api.new_account().await,
        api.new_account().await,
    );
    let mut mine = Vec::new();
    // Two authors: each may post five a minute.
    for i in 0..8 {
        let author = if i % 2 == 0 { &me } else { &also_me };
        mine.push(
            api.new_post(author, &format!("walk {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("{POSTS}?sort=new&limit=3&cursor={c}"),
            None => format!("{POSTS}?sort=new&limit=3"),
        };
        let page = api.get(&url, None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let page = page.json();
        seen.extend(ids(&page));
        pages += 1;
        if pages == 2 {
            // New posts arrive mid-walk.
            api.new_post(&latecomer, "arrived during the walk").await;
            api.new_post(&latecomer, "arrived during the walk too")
                .await;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 2000, "runaway pagination");
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "duplicates across pages");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first");
    for id in mine {
        assert!(seen.contains(&id), "post {id} was skipped");
    }
}

#[tokio::test]
async fn garbage_edited_or_foreign_cursors_are_400_and_bad_limits_422() {
    let api = Api::new();
    let me = api.new_account().await;
    for i in 0..3 {
        api.new_post(&me, &format!("cursor {i}")).await;
    }
    let page = api
        .get(&format!("{POSTS}?sort=new&limit=1"), None)
        .await
        .json();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get(&format!("{POSTS}?sort=new&limit=1&cursor={cursor}"), None)
            .await
            .status,
        200
    );
    api.get(&format!("{POSTS}?sort=top&limit=1&cursor={cursor}"), None)
        .await
        .problem(400);
    let mut edited = cursor.clone().into_bytes();
    edited[3] = if edited[3] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    api.get(&format!("{POSTS}?cursor={edited}"), None)
        .await
        .problem(400);
    api.get(&format!("{POSTS}?cursor=garbage"), None)
        .await
        .problem(400);
    let post = api.new_post(&me, "has comments").await;
    api.get(
        &format!("{POSTS}/{}/comments?cursor={cursor}", post["id"]),
        None,
    )
    .await
    .problem(400);
    for bad in ["limit=0", "limit=101", "limit=abc", "sort=old"] {
        api.get(&format!("{POSTS}?{bad}"), None).await.problem(422);
    }
    api.get(POSTS, Some("not-a-token")).await.problem(401);
}

#[tokio::test]
async fn comments_list_oldest_first_count_exactly_and_obey_ownership() {
    let api = Api::new();
    let author = api.new_account().await;
    let other = api.new_account().await;
    let post = api.new_post(&author, "Discuss").await;
    let comments = format!("{POSTS}/{}/comments", post["id"]);
    let mut created = Vec::new();
    for (i, who) in [&author, &other, &author].iter().enumerate() {
        let r = api
            .post(
                &comments,
                &json!({"content": format!("comment {i} 💬")}),
                Some(&who.access_token),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let c = r.json();
        assert_eq!(c["post_id"], post["id"]);
        assert_eq!(c["author"]["id"], who.id);
        created.push(c["id"].as_i64().unwrap());
    }
    let first = api.get(&format!("{comments}?limit=2"), None).await.json();
    let rest = api
        .get(
            &format!(
                "{comments}?limit=2&cursor={}",
                first["next_cursor"].as_str().unwrap()
            ),
            None,
        )
        .await
        .json();
    assert_eq!([ids(&first), ids(&rest)].concat(), created);
    assert!(rest["next_cursor"].is_null());
    let count = |api: Api| {
        let path = format!("{POSTS}/{}", post["id"]);
        async move {
            api.get(&path, None).await.json()["comments_count"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(count(api.clone()).await, 3);

    let path = |id: i64| format!("/api/community/comments/{id}");
    api.delete(&path(created[0]), Some(&other.access_token))
        .await
        .problem(403);
    assert_eq!(
        api.delete(&path(created[1]), Some(&other.access_token))
            .await
            .status,
        204
    );
    api.delete(&path(created[1]), Some(&other.access_token))
        .await
        .problem(404);
    api.delete(&path(77), Some(&other.access_token))
        .await
        .problem(404);
    api.delete("/api/community/comments/abc", Some(&other.access_token))
        .await
        .problem(404);
    assert_eq!(count(api.clone()).await, 2);

    api.post(
        &comments,
        &json!({"content": " "}),
        Some(&other.access_token),
    )
    .await
    .problem(422);
    api.delete(
        &format!("{POSTS}/{}", post["id"]),
        Some(&author.access_token),
    )
    .await;
    api.post(
        &comments,
        &json!({"content": "too late"}),
        Some(&other.access_token),
    )
    .await
    .problem(404);
    api.get(&comments, None).await.problem(404);
}

#[tokio::test]
async fn posting_is_limited_to_five_a_minute_per_user() {
    let api = Api::new();
    let me = api.new_account().await;
    for i in 0..5 {
        let r = api
            .post(
                POSTS,
                &json!({"title": format!("p{i}"), "content": "c"}),
                Some(&me.access_token),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("5"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
    }
    let limited = api
        .post(
            POSTS,
            &json!({"title": "p6", "content": "c"}),
            Some(&me.access_token),
        )
        .await;
    limited.problem(429);
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            <= 60
    );
    // Another user is not affected.
    let other = api.new_account().await;
    api.new_post(&other, "mine").await;
}

#[tokio::test]
async fn commenting_is_limited_per_user() {
    let api = Api::new();
    let me = api.new_account().await;
    let post = api.new_post(&me, "chatty").await;
    let comments = format!("{POSTS}/{}/comments", post["id"]);
    for _ in 0..20 {
        let r = api
            .post(&comments, &json!({"content": "hi"}), Some(&me.access_token))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    api.post(&comments, &json!({"content": "hi"}), Some(&me.access_token))
        .await
        .problem(429);
}

#[tokio::test]
async fn likes_and_edits_are_limited_per_user_with_rate_limit_headers() {
    let api = Api::new();
    let me = api.new_account().await;
    let post = api.new_post(&me, "popular").await;
    let like = format!("{POSTS}/{}/like", post["id"]);
    // Likes and unlikes share one window of 60 a minute.
    for i in 0..60 {
        let method = if i % 2 == 0 { "POST" } else { "DELETE" };
        let r = api
            .send(method, &like, Some(&me.access_token), None, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("60"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some((59 - i).to_string().as_str())
        );
    }
    let limited = api
        .send("POST", &like, Some(&me.access_token), None, None)
        .await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
    // Another user's likes are not affected.
    let other = api.new_account().await;
    let r = api
        .send("POST", &like, Some(&other.access_token), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Edits: 20 a minute.
    let path = format!("{POSTS}/{}", post["id"]);
    for i in 0..20 {
        let r = api
            .patch(
                &path,
                &json!({"title": format!("edit {i}")}),
                Some(&me.access_token),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("20"));
    }
    api.patch(&path, &json!({"title": "one more"}), Some(&me.access_token))
        .await
        .problem(429);
}

#[tokio::test]
async fn stats_answer_with_every_field() {
    let api = Api::new();
    let reply = api.get("/api/community/stats", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let stats = reply.json();
    for field in [
        "total_users",
        "total_posts",
        "posts_last_24h",
        "active_users_24h",
    ] {
        assert!(stats[field].is_u64(), "{field}: {stats}");
    }
    assert!(stats["top_posts"].as_array().unwrap().len() <= 5);
    api.get("/api/community/stats", Some("bad-token"))
        .await
        .problem(401);
}

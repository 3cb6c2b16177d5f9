//! Comments (`/api/community/posts/{id}/comments`, `/api/community/comments/{id}`): listed
//! oldest first, counted exactly, deleted by their author only, and limited per user.

use rota_tests::*;

#[tokio::test]
async fn comments_list_oldest_first_count_exactly_and_obey_ownership() {
    let (api, author, other, post) = Api::a_post_and_a_reader("Discuss").await;
    let comments = format!("{POSTS}/{}/comments", post["id"]);
    let mut created = Vec::new();
    for (i, who) in [&author, &other, &author].iter().enumerate() {
        let r = api
            .comment(&post["id"], format!("comment {i} 💬"), who.token())
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
    api.delete(&path(created[0]), other.token())
        .await
        .problem(403);
    assert_eq!(
        api.delete(&path(created[1]), other.token()).await.status,
        204
    );
    api.delete(&path(created[1]), other.token())
        .await
        .problem(404);
    api.delete(&path(77), other.token()).await.problem(404);
    api.delete("/api/community/comments/abc", other.token())
        .await
        .problem(404);
    assert_eq!(count(api.clone()).await, 2);

    api.comment(&post["id"], " ", other.token())
        .await
        .problem(422);
    api.delete(&format!("{POSTS}/{}", post["id"]), author.token())
        .await;
    api.comment(&post["id"], "too late", other.token())
        .await
        .problem(404);
    api.get(&comments, None).await.problem(404);
}

#[tokio::test]
async fn commenting_is_limited_per_user() {
    let (api, me) = Api::signed_up().await;
    let post = api.new_post(&me, "chatty").await;
    for _ in 0..20 {
        let r = api.comment(&post["id"], "hi", me.token()).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    api.comment(&post["id"], "hi", me.token())
        .await
        .problem(429);
}

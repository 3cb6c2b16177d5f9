//! The feeds (`GET /api/community/posts?sort=new|top`): order, pages without gaps or
//! duplicates across feed shards and while posts arrive, cursors that cannot be forged, and
//! the first page shared through the cache.
//!
//! The feed indexes are eventually consistent (the emulator lags them as DynamoDB does): a test
//! reads what it just wrote after a moment, as a client would, and judges the `top` order on its
//! own posts (other tests' likes move theirs while it reads).

use futures::future::join_all;
use rota_tests::*;
use serde_json::json;

/// Asserts that no id of the `feed`'s pages, walked in order, shows twice.
fn assert_each_once(ids: &[i64], feed: &str) {
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{feed}: duplicates across pages");
}

#[tokio::test]
async fn the_top_feed_orders_by_likes_then_newest() {
    let (api, author) = Api::signed_up().await;
    let fans = join_all((0..3).map(|_| async { Api::new().new_account().await })).await;
    let p1 = api.new_post(&author, "one like").await;
    let p3 = api.new_post(&author, "three likes").await;
    let p1b = api.new_post(&author, "one like, newer").await;
    for (post, n) in [(&p1, 1), (&p3, 3), (&p1b, 1)] {
        for fan in &fans[..n] {
            api.post(
                &format!("{POSTS}/{}/like", post["id"]),
                &json!({}),
                fan.token(),
            )
            .await;
        }
    }
    let mine: Vec<i64> = [&p3, &p1b, &p1]
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    // Until the index has every like (a moment): my posts in the order of their likes, then
    // newest, each with its count.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut order = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = with_cursor(&format!("{POSTS}?sort=top&limit=50"), cursor.as_deref());
            let page = api.get(&url, None).await.json();
            order.extend(likes_and_ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let ids: Vec<i64> = order.iter().map(|(_, id)| *id).collect();
        assert_each_once(&ids, "top");
        let seen: Vec<(i64, i64)> = order
            .into_iter()
            .filter(|(_, id)| mine.contains(id))
            .collect();
        let expected = vec![(3, mine[0]), (1, mine[1]), (1, mine[2])];
        if seen == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "top feed is not likes desc, then newest: {seen:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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
    // Every one of them in the feed first (the index has a post a moment after it is made).
    for &id in &mine {
        assert!(
            in_new_feed(&api, None, id).await.is_some(),
            "post {id} never showed"
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = with_cursor(&format!("{POSTS}?sort=new&limit=3"), cursor.as_deref());
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
    let (api, me) = Api::signed_up().await;
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

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::{likes, posts};

    #[tokio::test]
    async fn pages_read_across_feed_shards_stay_ordered_without_gaps_or_duplicates() {
        let mut app = app().await;
        app.set_config(|c| c.feed_shards = 3);
        // Posts until every shard holds some (ids are random, so keep going, bounded); a new author
        // every four posts stays under the five-a-minute limit.
        let mut mine = Vec::new();
        let mut author = 0;
        while mine.len() < 12
            || !(0..3).all(|s| {
                mine.iter()
                    .any(|id| rota_store::posts::shard_of(*id, 3) == s)
            })
        {
            assert!(mine.len() < 60, "ids never covered every shard");
            if mine.len() % 4 == 0 {
                author = create_user(&app).await;
            }
            mine.push(create_post(&app, author).await);
        }
        // The indexes have the last posts a moment later: walk again until they are all there.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        for sort in ["new", "top"] {
            loop {
                let mut seen: Vec<(i64, i64)> = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut event = sample_event("community-posts-list");
                    let query = with_cursor(&format!("sort={sort}&limit=5"), cursor.as_deref());
                    event["rawQueryString"] = json!(query);
                    let reply = call(&app, &posts::ListPosts, &event).await;
                    assert_eq!(reply.status, 200, "{}", reply.text);
                    let page = reply.json();
                    seen.extend(likes_and_ids(&page));
                    match page["next_cursor"].as_str() {
                        Some(c) => cursor = Some(c.to_owned()),
                        None => break,
                    }
                }
                let ids: Vec<i64> = seen.iter().map(|(_, id)| *id).collect();
                assert_each_once(&ids, sort);
                // `new` orders by id, which never changes; `top` by likes, which other tests'
                // likes move while the index catches up: judged on these posts (no likes).
                let ordered = if sort == "new" {
                    ids.windows(2).all(|w| w[0] > w[1])
                } else {
                    let own: Vec<i64> =
                        ids.iter().copied().filter(|id| mine.contains(id)).collect();
                    own.windows(2).all(|w| w[0] > w[1])
                };
                assert!(ordered, "{sort}: out of order across shards");
                let skipped: Vec<&i64> = mine.iter().filter(|id| !ids.contains(id)).collect();
                if skipped.is_empty() {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{sort}: posts {skipped:?} skipped"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }

    #[tokio::test]
    async fn the_first_feed_page_is_shared_and_a_new_post_shows_within_a_moment() {
        use rota_store::posts::Feed;
        let app = app().await;
        let author = create_user(&app).await;
        let mut metrics = rota_lambda::metrics::Metrics::new();
        rota_api::feeds::page(&app, &mut metrics, Feed::New, None, 100, Some(author))
            .await
            .unwrap();
        let (second, _) =
            rota_api::feeds::page(&app, &mut metrics, Feed::New, None, 100, Some(author))
                .await
                .unwrap();
        // The second read within the second came from the cache (another test may have
        // invalidated it in between: then it is a miss, never a stale page).
        let hits = metrics.get("FeedCacheHits").unwrap_or(0.0);
        let misses = metrics.get("FeedCacheMisses").unwrap_or(0.0);
        assert_eq!(hits + misses, 2.0);
        // A post created through the handler (which invalidates) is on a page as soon as the
        // feed index has it (a moment: the index is eventually consistent, and a page read
        // before then is shared for its second), and a like by the reader shows as liked_by_me
        // (read from the reader's own partition).
        let post = create_post(&app, author).await;
        assert!(!second.iter().any(|(p, _)| p.id == post));
        let like = on_post(
            sample_event("community-posts-like"),
            post,
            &member_token(&app, author),
        );
        assert_eq!(call(&app, &likes::LikePost, &like).await.status, 200);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let liked = loop {
            let (third, _) =
                rota_api::feeds::page(&app, &mut metrics, Feed::New, None, 100, Some(author))
                    .await
                    .unwrap();
            if let Some((_, liked)) = third.iter().find(|(p, _)| p.id == post) {
                break *liked;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the new post never showed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(liked, "liked_by_me");
    }

    #[tokio::test]
    async fn with_the_cache_down_feed_pages_are_read_from_the_table() {
        use rota_store::posts::Feed;
        let up = app().await;
        let author = create_user(&up).await;
        let post = create_post(&up, author).await;
        let down = app_with_redis(Some("redis://127.0.0.1:1".into())).await;
        let mut metrics = rota_lambda::metrics::Metrics::new();
        // The feed index lags the write (as DynamoDB's does): read until it shows the post.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let (page, _) = rota_api::feeds::page(&down, &mut metrics, Feed::New, None, 50, None)
                .await
                .unwrap();
            if page.iter().any(|(p, _)| p.id == post) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the post never showed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(metrics.get("CacheErrors").unwrap_or(0.0) >= 1.0);
    }
}

/// `sort=top` pages while likes move counts between them: no post twice, none skipped.
mod in_process_top_while_counts_move {
    use super::*;
    use rota_api::handlers::{likes, posts};
    use rota_store::posts::{Feed, Post, Posts};

    const SHARDS: u32 = 3;

    /// An in-process app on a table of its own (a copy of the stack's schema), so the top feed
    /// holds only this test's posts; the shared first-page cache is off (its keys are not
    /// per table).
    async fn own_table() -> (TestApp, String) {
        let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        let table = unique("rota-top-paging-");
        create_table_like(&db, &table_name(), &table).await;
        let mut config = config();
        config.table_name = table.clone();
        config.feed_shards = SHARDS;
        config.feed_cache_ttl = std::time::Duration::ZERO;
        (TestApp::with_parts(config, db), table)
    }

    async fn like(app: &TestApp, post: i64, user: i64, liked: bool) {
        let token = member_token(app, user);
        let reply = if liked {
            let event = on_post(sample_event("community-posts-like"), post, &token);
            call(app, &likes::LikePost, &event).await
        } else {
            let event = on_post(sample_event("community-posts-unlike"), post, &token);
            call(app, &likes::UnlikePost, &event).await
        };
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    /// Waits until the top index lists `expected` (ids, most liked first).
    async fn index_shows(app: &TestApp, expected: &[i64]) {
        let posts = Posts::new(app.db(), app.table());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let (page, _) = posts.page(Feed::Top, SHARDS, None, 50, None).await.unwrap();
            let order: Vec<i64> = page.iter().map(|(p, _)| p.id).collect();
            if order == expected {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "index: {order:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn top_page(app: &TestApp, cursor: Option<&str>) -> (Vec<i64>, Option<String>) {
        let mut event = sample_event("community-posts-list");
        event["rawQueryString"] = json!(with_cursor("sort=top&limit=3", cursor));
        let reply = call(app, &posts::ListPosts, &event).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page = reply.json();
        let ids = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        (ids, page["next_cursor"].as_str().map(str::to_owned))
    }

    #[tokio::test]
    async fn top_pages_neither_skip_nor_repeat_while_likes_move_counts() {
        let (app, table) = own_table().await;
        let store = Posts::new(app.db(), app.table());
        let now = chrono::Utc::now();
        let mut ids = Vec::new();
        for i in 0..8 {
            let id = rota_domain::ids::new_id();
            let post = Post {
                id,
                author_id: 1,
                author_name: "Ada".into(),
                title: format!("post {i}"),
                content: "text".into(),
                likes_count: 0,
                comments_count: 0,
                created_at: now,
                updated_at: now,
                is_active: true,
            };
            assert!(store.create(&post, SHARDS, Vec::new()).await.unwrap());
            ids.push(id);
        }
        ids.sort();
        let p = |i: usize| ids[i];
        let fans: Vec<i64> = (0..3).map(|_| rota_domain::ids::new_id()).collect();
        // p7: 3 likes, p6: 2, p5: 1, the rest none (newest first).
        for (post, n) in [(p(7), 3), (p(6), 2), (p(5), 1)] {
            for fan in &fans[..n] {
                like(&app, post, *fan, true).await;
            }
        }
        index_shows(&app, &[p(7), p(6), p(5), p(4), p(3), p(2), p(1), p(0)]).await;
        let (first, cursor) = top_page(&app, None).await;
        assert_eq!(first, [p(7), p(6), p(5)]);
        // Between pages: the first page's top post loses its likes (it falls among the
        // unseen), and the oldest post gains three (it rises above everything seen so far).
        for fan in &fans {
            like(&app, p(7), *fan, false).await;
            like(&app, p(0), *fan, true).await;
        }
        index_shows(&app, &[p(0), p(6), p(5), p(7), p(4), p(3), p(2), p(1)]).await;
        let mut listed = first;
        let mut cursor = cursor;
        while let Some(c) = cursor {
            let (page, next) = top_page(&app, Some(&c)).await;
            listed.extend(page);
            cursor = next;
            assert!(listed.len() <= 16, "{listed:?}");
        }
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            listed.len(),
            "a post listed twice: {listed:?}"
        );
        assert_eq!(unique, ids, "a post skipped: {listed:?}");
        // The moved posts: the risen one comes next, the fallen one is not listed again.
        assert_eq!(&listed[3..], [p(0), p(4), p(3), p(2), p(1)]);
        let _ = app.db().delete_table().table_name(&table).send().await;
    }
}

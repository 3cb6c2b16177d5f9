//! Round-trip properties of every entity's item: entity → item → entity is the identity, and
//! the item has exactly the attribute names and types the hand-written mapping wrote before
//! serde_dynamo (so existing items, backups and `rota-admin verify` read the same).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::comments::{Comment, Pointer, comment_key, pointer_key};
use crate::idempotency::{COMPLETED, IN_PROGRESS, RecordItem};
use crate::item::{entity_item, read};
use crate::likes::Like;
use crate::mail::{ClaimItem, Suppression, claim_key, suppression_key};
use crate::notifications::{DeliveryKey, Notification, notification_key};
use crate::posts::{CountsItem, LikeShard, Post, PostItem, like_key};
use crate::roadmaps::{Plan, Roadmap, StreakItem, plan_key, streak_key};
use crate::sessions::{SessionItem, key as session_key, new_session_item};
use crate::users::{Credential, User, email_key};
use crate::{Item, Key, n, s, timestamp};
use rota_domain::input::{DisplayName, Email, Role};
use rota_domain::locale::Locale;
use rota_domain::refresh_token::RefreshToken;

/// The item's attribute names with their type tags, sorted (`("id", "N")`, …).
fn shape(item: &Item) -> Vec<(String, &'static str)> {
    let mut shape: Vec<_> = item
        .iter()
        .map(|(name, value)| {
            let tag = match value {
                AttributeValue::S(_) => "S",
                AttributeValue::N(_) => "N",
                AttributeValue::Bool(_) => "BOOL",
                AttributeValue::M(_) => "M",
                AttributeValue::L(_) => "L",
                AttributeValue::Null(_) => "NULL",
                _ => "other",
            };
            (name.clone(), tag)
        })
        .collect();
    shape.sort();
    shape
}

/// Every item has its key and its kind.
const KEYED: [(&str, &str); 3] = [("PK", "S"), ("SK", "S"), ("entity", "S")];

/// Checks that `item` reads back as `value` and has the key attributes, `attributes` and
/// nothing else.
fn check<T>(
    item: &Item,
    value: &T,
    attributes: &[(&str, &'static str)],
) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + PartialEq + std::fmt::Debug,
{
    prop_assert_eq!(
        &read::<T>(item.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?,
        value
    );
    let mut expected: Vec<_> = KEYED
        .iter()
        .chain(attributes)
        .map(|(name, tag)| (name.to_string(), *tag))
        .collect();
    expected.sort();
    prop_assert_eq!(shape(item), expected);
    Ok(())
}

/// [`check`] of `value` written as `entity` at `key`.
fn round_trip<T>(
    key: Key,
    entity: &str,
    value: &T,
    attributes: &[(&str, &'static str)],
) -> Result<Item, TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let item = entity_item(key, entity, value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&item["entity"], &s(entity));
    check(&item, value, attributes)?;
    Ok(item)
}

/// Times as the items store them (whole milliseconds, 1970..2200).
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..7_258_118_400_000).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap())
}

/// Text of any Unicode, including the empty string.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("\\PC{0,40}").unwrap()
}

prop_compose! {
    fn users()(
        (id, email, display_name, admin) in (any::<i64>(), text(), text(), any::<bool>()),
        // Profiles keep the clock's nanoseconds.
        created_at in time(),
        nanos in 0i64..1_000_000,
        (reminder_enabled, reminder_hour, timezone) in (any::<bool>(), 0u8..24, text()),
        (tr, due, version, email_reminders) in (any::<bool>(), any::<i64>(), any::<u64>(), any::<bool>()),
    ) -> User {
        User {
            id,
            email,
            display_name,
            role: if admin { Role::Admin } else { Role::Member },
            created_at: created_at + chrono::Duration::nanoseconds(nanos),
            reminder_enabled,
            reminder_hour,
            timezone,
            locale: if tr { Locale::Tr } else { Locale::En },
            // As every write leaves it: a due time exactly while reminders are on.
            reminder_due: reminder_enabled.then_some(due),
            version,
            email_reminders,
        }
    }
}

prop_compose! {
    fn roadmaps()(
        (id, user_id, title, goal, level) in (any::<i64>(), any::<i64>(), text(), text(), text()),
        (hours_per_week, total_hours, total_weeks) in (any::<u32>(), -1.0e12f64..1.0e12, any::<u32>()),
        created_at in time(),
        steps in proptest::collection::vec((any::<u32>(), text()), 0..8),
        done in proptest::collection::btree_map(any::<u32>(), time(), 0..8),
        version in any::<u64>(),
    ) -> Roadmap {
        Roadmap {
            id, user_id, title, goal, level, hours_per_week, total_hours, total_weeks,
            created_at, steps, done, version,
        }
    }
}

prop_compose! {
    fn posts()(
        (id, author_id, author_name, title, content) in (any::<i64>(), any::<i64>(), text(), text(), text()),
        // Counts as the API keeps them (a like count times 10^16 stays within an i128).
        (likes_count, comments_count) in (0i64..1 << 40, 0i64..1 << 40),
        (created_at, updated_at, is_active) in (time(), time(), any::<bool>()),
    ) -> Post {
        Post {
            id, author_id, author_name, title, content, likes_count, comments_count, created_at,
            updated_at, is_active,
        }
    }
}

proptest! {
    #[test]
    fn user(user in users()) {
        let item = user.to_item().unwrap();
        let mut attributes = vec![
            ("id", "N"), ("email", "S"), ("display_name", "S"), ("role", "S"),
            ("created_at", "S"), ("reminder_enabled", "BOOL"), ("reminder_hour", "N"),
            ("timezone", "S"), ("locale", "S"),
        ];
        if user.reminder_enabled {
            attributes.extend([("reminder_bucket", "S"), ("reminder_due_hour", "N")]);
        }
        if user.version != 0 {
            attributes.push(("version", "N"));
        }
        if !user.email_reminders {
            attributes.push(("email_reminders", "BOOL"));
        }
        check(&item, &user, &attributes)?;
        prop_assert_eq!(&item["created_at"], &s(user.created_at.to_rfc3339()));
        prop_assert_eq!(&item["role"], &s(user.role.as_str()));
        prop_assert_eq!(&item["locale"], &s(user.locale.as_str()));
    }

    #[test]
    fn credential(user_id in any::<i64>(), password_hash in text()) {
        let credential = Credential { user_id, password_hash };
        round_trip(email_key("a@b.c"), "credential", &credential, &[("user_id", "N"), ("password_hash", "S")])?;
    }

    #[test]
    fn session(
        (user_id, generation, token_hash, revoked) in (any::<i64>(), any::<u64>(), "[0-9a-f]{64}", any::<bool>()),
        (rotated_at, created_at, expires_at) in (proptest::option::of(any::<i64>()), any::<i64>(), any::<i64>()),
    ) {
        let session = SessionItem { user_id, generation, token_hash, revoked, rotated_at, created_at, expires_at };
        let mut attributes = vec![
            ("user_id", "N"), ("generation", "N"), ("token_hash", "S"), ("revoked", "BOOL"),
            ("created_at", "N"), ("expires_at", "N"),
        ];
        if rotated_at.is_some() {
            attributes.push(("rotated_at", "N"));
        }
        round_trip(session_key("f"), "session", &session, &attributes)?;
    }

    #[test]
    fn post_counts_and_like_shards(post in posts(), shards in 1u32..8) {
        let (item, counts, like_shards) = post.to_items(shards).unwrap();
        let feed = if post.is_active { vec![("feed", "S")] } else { vec![] };
        let stored = PostItem {
            id: post.id, author_id: post.author_id, author_name: post.author_name.clone(),
            title: post.title.clone(), content: post.content.clone(), created_at: post.created_at,
            updated_at: post.updated_at, is_active: post.is_active, version: 0,
        };
        check(&item, &stored, &[
            ("id", "N"), ("author_id", "N"), ("author_name", "S"), ("title", "S"),
            ("content", "S"), ("created_at", "S"), ("updated_at", "S"), ("is_active", "BOOL"),
        ].into_iter().chain(feed).collect::<Vec<_>>())?;
        prop_assert_eq!(&item["created_at"], &s(timestamp(post.created_at)));
        let top_feed = if post.is_active { vec![("top_feed", "S")] } else { vec![] };
        let stored_counts = CountsItem {
            post_id: post.id, likes_count: post.likes_count, likes_ops: Some(0),
            comments_count: post.comments_count,
        };
        check(&counts, &stored_counts, &[
            ("post_id", "N"), ("likes_count", "N"), ("likes_ops", "N"), ("comments_count", "N"),
            ("top_score", "N"),
        ].into_iter().chain(top_feed).collect::<Vec<_>>())?;
        prop_assert_eq!(&counts["top_score"], &n(post.top_score()));
        prop_assert_eq!(Post::from_items(item.clone(), Some(counts.clone())).unwrap(), post.clone());
        prop_assert_eq!(like_shards.len(), 16);
        for (k, shard) in like_shards.iter().enumerate() {
            let live = if post.is_active { vec![("live", "BOOL")] } else { vec![] };
            let likes = if k == 0 { post.likes_count } else { 0 };
            let expected = LikeShard { post_id: post.id, n: likes, ops: 0, live: post.is_active };
            check(shard, &expected, &[("post_id", "N"), ("n", "N"), ("ops", "N")].into_iter().chain(live).collect::<Vec<_>>())?;
        }
    }

    #[test]
    fn like(post_id in any::<i64>(), user_id in any::<i64>(), created_at in time()) {
        let like = Like { post_id, user_id, created_at };
        let item = round_trip(like_key(post_id, user_id), "like", &like, &[("post_id", "N"), ("user_id", "N"), ("created_at", "S")])?;
        prop_assert_eq!(&item["created_at"], &s(timestamp(created_at)));
    }

    #[test]
    fn comment_and_its_pointer(
        (id, post_id, author_id) in (any::<i64>(), any::<i64>(), any::<i64>()),
        (author_name, content, created_at) in (text(), text(), time()),
    ) {
        let comment = Comment { id, post_id, author_id, author_name, content, created_at };
        let item = round_trip(comment_key(post_id, id), "comment", &comment, &[
            ("id", "N"), ("post_id", "N"), ("author_id", "N"), ("author_name", "S"),
            ("content", "S"), ("created_at", "S"),
        ])?;
        prop_assert_eq!(&item["created_at"], &s(timestamp(created_at)));
        let pointer = Pointer { post_id, author_id };
        round_trip(pointer_key(id), "comment_pointer", &pointer, &[("post_id", "N"), ("author_id", "N")])?;
    }

    #[test]
    fn roadmap(roadmap in roadmaps()) {
        let item = roadmap.to_item().unwrap();
        let mut attributes = vec![
            ("id", "N"), ("user_id", "N"), ("title", "S"), ("goal", "S"), ("level", "S"),
            ("hours_per_week", "N"), ("total_hours", "N"), ("total_weeks", "N"),
            ("created_at", "S"), ("steps", "S"), ("steps_total", "N"), ("done", "M"),
        ];
        if roadmap.version != 0 {
            attributes.push(("version", "N"));
        }
        check(&item, &roadmap, &attributes)?;
        prop_assert_eq!(&item["total_hours"], &n(roadmap.total_hours));
        prop_assert_eq!(&item["steps_total"], &n(roadmap.steps.len()));
        prop_assert_eq!(&item["steps"], &s(serde_json::to_string(&roadmap.steps).unwrap()));
        let AttributeValue::M(done) = &item["done"] else { unreachable!() };
        prop_assert_eq!(done.len(), roadmap.done.len());
        for (step, at) in &roadmap.done {
            prop_assert_eq!(&done[&step.to_string()], &s(timestamp(*at)));
        }
    }

    #[test]
    fn streak_and_plan(days in any::<u32>(), day in 0i32..100_000, plan in text()) {
        let last_day = chrono::NaiveDate::from_num_days_from_ce_opt(day + 1).unwrap();
        let streak = StreakItem { last_day, days };
        let item = round_trip(streak_key(1), "streak", &streak, &[("last_day", "S"), ("days", "N")])?;
        prop_assert_eq!(&item["last_day"], &s(last_day.format("%Y-%m-%d").to_string()));
        round_trip(plan_key(1, 2), "roadmap_plan", &Plan { plan }, &[("plan", "S")])?;
    }

    #[test]
    fn notification(
        (id, kind, title, body) in (any::<i64>(), text(), text(), text()),
        (created_at, read_at) in (time(), proptest::option::of(time())),
    ) {
        let notification = Notification { id, kind, title, body, created_at, read_at };
        let mut attributes = vec![
            ("id", "N"), ("kind", "S"), ("title", "S"), ("body", "S"), ("created_at", "S"),
        ];
        if read_at.is_some() {
            attributes.push(("read_at", "S"));
        }
        let item = round_trip(notification_key(1, id), "notification", &notification, &attributes)?;
        if let Some(at) = read_at {
            prop_assert_eq!(&item["read_at"], &s(timestamp(at)));
        }
    }

    #[test]
    fn delivery_key(notification_id in any::<i64>(), expires_at in any::<i64>()) {
        let key = DeliveryKey { notification_id, expires_at };
        round_trip(("USER#1".into(), "k".into()), "idempotency_key", &key, &[("notification_id", "N"), ("expires_at", "N")])?;
    }

    #[test]
    fn email_claim_and_suppression(state in text(), created_at in text(), expires_at in any::<i64>(), reason in text()) {
        let claim = ClaimItem { state, created_at: created_at.clone(), expires_at };
        round_trip(claim_key(1, "2026-01-02"), "email_claim", &claim, &[("state", "S"), ("created_at", "S"), ("expires_at", "N")])?;
        let suppression = Suppression { reason, created_at };
        let item = round_trip(suppression_key(" A@b.c"), "suppression", &suppression, &[("reason", "S"), ("created_at", "S")])?;
        prop_assert_eq!(&item["PK"], &s("SUPPRESSION#a@b.c"));
    }

    #[test]
    fn idempotency_record_claimed_and_completed(
        (request_hash, claim) in ("[0-9a-f]{64}", "[0-9a-f]{32}"),
        (until, expires_at, status, body) in (any::<i64>(), any::<i64>(), any::<u16>(), text()),
    ) {
        let record = RecordItem {
            status: IN_PROGRESS.into(), request_hash, claim, in_progress_until: Some(until),
            response_status: None, response_body: None, expires_at,
        };
        let key: Key = ("IDEMP#1".into(), "s#k".into());
        let common = [("status", "S"), ("request_hash", "S"), ("claim", "S"), ("expires_at", "N")];
        let claimed: Vec<_> = common.into_iter().chain([("in_progress_until", "N")]).collect();
        round_trip(key.clone(), "idempotency_record", &record, &claimed)?;
        // As `complete` leaves it.
        let completed = RecordItem {
            status: COMPLETED.into(), in_progress_until: None, response_status: Some(status),
            response_body: Some(body), ..record
        };
        let done: Vec<_> = common.into_iter().chain([("response_status", "N"), ("response_body", "S")]).collect();
        round_trip(key, "idempotency_record", &completed, &done)?;
    }
}

#[test]
fn a_new_session_item_is_the_one_the_hand_written_mapping_wrote() {
    let token = RefreshToken::mint("fam", 3);
    let item = new_session_item(&token, 42, 1_700_000_000, 1_702_592_000);
    let expected = Item::from([
        ("PK".into(), s("SESSION#fam")),
        ("SK".into(), s("SESSION")),
        ("entity".into(), s("session")),
        ("user_id".into(), n(42)),
        ("generation".into(), n(3)),
        ("token_hash".into(), s(token.hash())),
        ("revoked".into(), AttributeValue::Bool(false)),
        ("created_at".into(), n(1_700_000_000)),
        ("expires_at".into(), n(1_702_592_000)),
    ]);
    assert_eq!(item, expected);
}

#[test]
fn a_new_user_item_is_the_one_the_hand_written_mapping_wrote() {
    let now = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.123456789Z")
        .unwrap()
        .with_timezone(&Utc);
    let email = Email::parse("Ada@Example.com").unwrap();
    let user = User::new(
        7,
        &email,
        &DisplayName::parse("Ada").unwrap(),
        Locale::Tr,
        now,
    );
    let item = user.to_item().unwrap();
    let expected = Item::from([
        ("PK".into(), s("USER#7")),
        ("SK".into(), s("PROFILE")),
        ("entity".into(), s("user")),
        ("id".into(), n(7)),
        ("email".into(), s(email.as_str())),
        ("display_name".into(), s("Ada")),
        ("role".into(), s("member")),
        (
            "created_at".into(),
            s("2026-03-04T05:06:07.123456789+00:00"),
        ),
        ("reminder_enabled".into(), AttributeValue::Bool(true)),
        ("reminder_hour".into(), n(9)),
        ("timezone".into(), s("UTC")),
        ("locale".into(), s("tr")),
        ("reminder_bucket".into(), s("DUE")),
        ("reminder_due_hour".into(), n(user.reminder_due.unwrap())),
    ]);
    assert_eq!(item, expected);
}

#[test]
fn items_written_before_locales_versions_and_email_switches_read_with_their_defaults() {
    let email = Email::parse("a@b.c").unwrap();
    let user = User::new(
        7,
        &email,
        &DisplayName::parse("A").unwrap(),
        Locale::Tr,
        Utc::now(),
    );
    let mut item = user.to_item().unwrap();
    item.remove("locale");
    let old: User = read(item.clone()).unwrap();
    assert_eq!(
        (old.locale, old.version, old.email_reminders),
        (Locale::En, 0, true)
    );
    item.insert("locale".into(), s("xx"));
    assert_eq!(read::<User>(item.clone()).unwrap().locale, Locale::En);
    item.insert("role".into(), s("owner"));
    assert!(matches!(
        read::<User>(item),
        Err(crate::StoreError::Mapping(_))
    ));
}

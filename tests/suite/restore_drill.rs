//! Restore drill: `rota-admin export` of the live table, `rota-admin import` into a new table
//! with the same definition (what a restore creates), and every item compared; then the same
//! round trip again on a wiped table, with synthetic items of every DynamoDB type.
//!
//! The table `RotaTable` is shared with tests running in parallel, so the drill never writes
//! to it: it only reads it (export) and restores into a table of its own, deleted at the end.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use rota_tests::*;
use serde_json::json;

type Keyed = BTreeMap<(String, String), DbItem>;

fn read_export(path: &Path) -> Keyed {
    let text = std::fs::read_to_string(path).expect("export file");
    let mut items = Keyed::new();
    for line in text.lines() {
        let item = parse_export_line(line);
        let key = item_key(&item);
        assert!(
            items.insert(key.clone(), normalize_sets(&item)).is_none(),
            "{key:?} exported twice"
        );
    }
    items
}

async fn scan_keyed(db: &aws_sdk_dynamodb::Client, table: &str) -> Keyed {
    scan_all(db, table)
        .await
        .iter()
        .map(|item| (item_key(item), normalize_sets(item)))
        .collect()
}

/// Asserts that `table` holds exactly the items of `expected`, attribute for attribute.
async fn assert_table_holds(db: &aws_sdk_dynamodb::Client, table: &str, expected: &Keyed) {
    let actual = scan_keyed(db, table).await;
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (key, item) in expected {
        assert_eq!(&actual[key], item, "{key:?} differs after the restore");
    }
}

fn admin(args: &[&str]) -> String {
    let out = rota_admin(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rota-admin {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `rota-admin export` of `table` into `file` in `segments` parallel segments: what it printed.
fn export(table: &str, file: &std::path::Path, segments: u32) -> String {
    let segments = segments.to_string();
    let file = file.to_str().unwrap();
    admin(&[
        "export",
        "--table",
        table,
        "--out",
        file,
        "--segments",
        &segments,
    ])
}

/// The count `rota-admin` printed first ("exported 12 items …").
fn printed_count(stdout: &str) -> usize {
    stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout:?}"))
}

fn synthetic_items(run: &str) -> Vec<DbItem> {
    let s = |v: &str| Av::S(v.to_owned());
    let n = |v: &str| Av::N(v.to_owned());
    let b = |v: &[u8]| Blob::new(v.to_vec());
    vec![
        HashMap::from([
            ("PK".to_owned(), s(&format!("DRILL#{run}"))),
            ("SK".to_owned(), s("EVERY-TYPE")),
            ("s".to_owned(), s("Zeynep 🌍 مرحبا e\u{301} \"quoted\"\n")),
            ("empty".to_owned(), s("")),
            ("n".to_owned(), n("-12.5")),
            (
                "big".to_owned(),
                n("12345678901234567890123456789012345678"),
            ),
            ("tiny".to_owned(), n("1E-130")),
            ("b".to_owned(), Av::B(b(&[0, 1, 2, 254, 255, b'\n']))),
            ("ss".to_owned(), Av::Ss(vec!["a".into(), "b c".into()])),
            ("ns".to_owned(), Av::Ns(vec!["1".into(), "2.5".into()])),
            ("bs".to_owned(), Av::Bs(vec![b(b"\x00\x01"), b(b"zz")])),
            ("t".to_owned(), Av::Bool(true)),
            ("f".to_owned(), Av::Bool(false)),
            ("nothing".to_owned(), Av::Null(true)),
            (
                "l".to_owned(),
                Av::L(vec![
                    s("x"),
                    n("7"),
                    Av::Bool(false),
                    Av::Null(true),
                    Av::L(vec![]),
                    Av::Ss(vec!["in-list".into()]),
                ]),
            ),
            (
                "m".to_owned(),
                Av::M(HashMap::from([
                    (
                        "deep".to_owned(),
                        Av::M(HashMap::from([("blob".to_owned(), Av::B(b(b"\xff")))])),
                    ),
                    ("empty".to_owned(), Av::M(HashMap::new())),
                    ("list".to_owned(), Av::L(vec![n("0")])),
                ])),
            ),
        ]),
        // A post-shaped item and its counts in the feed indexes, to check they answer on the
        // restored table.
        HashMap::from([
            ("PK".to_owned(), s(&format!("DRILL#{run}"))),
            ("SK".to_owned(), s("POST")),
            ("feed".to_owned(), s(&format!("DRILLFEED#{run}"))),
            ("id".to_owned(), n("42")),
        ]),
        HashMap::from([
            ("PK".to_owned(), s(&format!("DRILL#{run}"))),
            ("SK".to_owned(), s("COUNTS")),
            ("top_feed".to_owned(), s(&format!("DRILLFEED#{run}"))),
            ("top_score".to_owned(), n("420000000000000042")),
        ]),
    ]
}

struct Cleanup {
    db: aws_sdk_dynamodb::Client,
    table: String,
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        let (db, table) = (self.db.clone(), self.table.clone());
        // Drop cannot await: delete the drill table on a thread of its own runtime.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(db.delete_table().table_name(table).send())
                .is_ok()
        })
        .join();
    }
}

#[tokio::test]
async fn export_import_round_trips_every_item_of_the_live_table_and_every_type() {
    let (db, live) = stack_table().await;

    // Realistic data through the API: users, a session, a post, a like, a comment, a roadmap
    // with a step done (streak), a notification.
    let (api, ada) = Api::signed_up().await;
    let bob = Api::new().new_account().await;
    let post = api.new_post(&ada, "Restore drill").await;
    let post_id = post["id"].as_i64().unwrap();
    let like = Api::new()
        .post(
            &format!("/api/community/posts/{post_id}/like"),
            &json!({}),
            bob.token(),
        )
        .await;
    assert!(like.status < 300, "{}", like.text);
    let comment = Api::new().comment(post_id, "Nice 👍", bob.token()).await;
    assert_eq!(comment.status, 201, "{}", comment.text);
    let roadmap = api
        .post(
            "/api/roadmaps",
            &json!({"goal": "backend", "level": "beginner", "hours_per_week": 5}),
            ada.token(),
        )
        .await;
    assert_eq!(roadmap.status, 201, "{}", roadmap.text);
    let roadmap_id = roadmap.json()["id"].as_i64().unwrap();
    let step = api
        .patch(
            &format!("/api/roadmaps/{roadmap_id}/steps/1"),
            &json!({"done": true}),
            ada.token(),
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.text);
    let notification = rota_store::notifications::Notification {
        id: rota_domain::ids::new_id(),
        kind: "reminder".into(),
        title: "Drill".into(),
        body: "A notification to restore.".into(),
        created_at: chrono::Utc::now(),
        read_at: None,
    };
    rota_store::notifications::Notifications::new(&db, &live)
        .deliver(
            ada.id,
            &notification,
            &unique("REMINDER#drill-"),
            3600,
            vec![],
        )
        .await
        .expect("deliver");

    let run = unique("");
    let drill = format!("RotaRestoreDrill-{run}");
    let dir = std::env::temp_dir();
    let first = dir.join(format!("rota-drill-{run}-live.jsonl"));
    let second = dir.join(format!("rota-drill-{run}-drill.jsonl"));
    let _cleanup = Cleanup {
        db: db.clone(),
        table: drill.clone(),
        files: vec![first.clone(), second.clone()],
    };

    // 1. Export the live table (parallel scan) and check our data is in it.
    let out = export(&live, &first, 4);
    let exported = read_export(&first);
    assert_eq!(printed_count(&out), exported.len(), "{out}");
    let has = |pk: String, sk: &str| exported.contains_key(&(pk, sk.to_owned()));
    let user = |id: i64| format!("USER#{id}");
    assert!(has(user(ada.id), "PROFILE"));
    assert!(has(
        format!("EMAIL#{}", ada.email.to_lowercase()),
        "CREDENTIAL"
    ));
    assert!(has(format!("POST#{post_id}"), "POST"));
    assert!(has(user(bob.id), &format!("LIKE#{post_id}")));
    assert!(has(user(ada.id), "STREAK"));
    assert!(has(user(ada.id), "INBOX"));
    assert!(has(format!("POST#{post_id}"), "COUNTS"));
    assert!(
        exported
            .keys()
            .any(|(p, s)| p.starts_with("STATS#") && s == "COUNTERS"),
        "a counter shard"
    );
    let prefixes = |pk: &str, sk: &str| exported.keys().any(|(p, s)| p == pk && s.starts_with(sk));
    assert!(prefixes(&format!("POST#{post_id}"), "COMMENT#"));
    assert!(prefixes(&user(ada.id), "ROADMAP#"));
    assert!(prefixes(&user(ada.id), "RMPLAN#"));
    assert!(prefixes(&user(ada.id), "NOTIF#"));
    assert!(exported.keys().any(|(p, _)| p.starts_with("SESSION#")));

    // 2. Restore into a new table with the live one's definition, compare every item.
    create_table_like(&db, &live, &drill).await;
    let out = admin(&["import", "--table", &drill, "--in", first.to_str().unwrap()]);
    assert_eq!(printed_count(&out), exported.len(), "{out}");
    assert_table_holds(&db, &drill, &exported).await;

    // The restored table answers the application's index queries.
    let post_key = (format!("POST#{post_id}"), "POST".to_owned());
    let Av::S(shard) = exported[&post_key]["feed"].clone() else {
        panic!("the post has no feed attribute")
    };
    let found = index_count(
        &db,
        &drill,
        "feed-new",
        "feed = :f AND id = :id",
        &[(":f", Av::S(shard)), (":id", Av::N(post_id.to_string()))],
    )
    .await;
    assert_eq!(found, 1);

    // 3. Add items of every attribute type, export the drill table, wipe it, import, compare.
    let synthetic = synthetic_items(&run);
    for item in &synthetic {
        db.put_item()
            .table_name(&drill)
            .set_item(Some(item.clone()))
            .send()
            .await
            .expect("PutItem");
    }
    let out = export(&drill, &second, 3);
    let exported_again = read_export(&second);
    assert_eq!(printed_count(&out), exported.len() + synthetic.len());
    for item in &synthetic {
        assert_eq!(
            exported_again[&item_key(item)],
            normalize_sets(item),
            "an every-type item changed in the export"
        );
    }
    for (key, item) in &exported {
        assert_eq!(&exported_again[key], item, "{key:?} changed on the way");
    }

    delete_all_items(&db, &drill).await;
    assert!(
        scan_all(&db, &drill).await.is_empty(),
        "the wipe left items"
    );
    let out = admin(&[
        "import",
        "--table",
        &drill,
        "--in",
        second.to_str().unwrap(),
    ]);
    assert_eq!(printed_count(&out), exported_again.len(), "{out}");
    assert_table_holds(&db, &drill, &exported_again).await;
    let top = index_count(
        &db,
        &drill,
        "feed-top",
        "top_feed = :f",
        &[(":f", Av::S(format!("DRILLFEED#{run}")))],
    )
    .await;
    assert_eq!(top, 1);
}

/// How many entries of `index` match, read until there is one (or 1 s passed): indexes are
/// eventually consistent, and the emulator lags each write by up to 100 ms.
async fn index_count(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    index: &str,
    condition: &str,
    values: &[(&str, Av)],
) -> i32 {
    let mut found = 0;
    for _ in 0..20 {
        let mut query = db
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression(condition);
        for (name, value) in values {
            query = query.expression_attribute_values(*name, value.clone());
        }
        found = query.send().await.expect("Query an index").count;
        if found > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    found
}

#[tokio::test]
async fn import_refuses_a_malformed_file_before_writing_and_exits_non_zero() {
    let (db, live) = stack_table().await;
    let run = unique("");
    let table = format!("RotaRestoreBad-{run}");
    let file = std::env::temp_dir().join(format!("rota-drill-{run}-bad.jsonl"));
    let _cleanup = Cleanup {
        db: db.clone(),
        table: table.clone(),
        files: vec![file.clone()],
    };
    create_table_like(&db, &live, &table).await;
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            r#"{"Item":{"PK":{"S":"A"},"SK":{"S":"B"}}}"#, r#"{"Item":{"PK":{"S":1}}}"#
        ),
    )
    .unwrap();
    let out = rota_admin(&["import", "--table", &table, "--in", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(scan_all(&db, &table).await.is_empty(), "nothing written");
    // A missing table is a failure too, never a silent success.
    std::fs::write(
        &file,
        "{\"Item\":{\"PK\":{\"S\":\"A\"},\"SK\":{\"S\":\"B\"}}}\n",
    )
    .unwrap();
    let out = rota_admin(&[
        "import",
        "--table",
        "NoSuchTable",
        "--in",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 of 1 items written"));
}

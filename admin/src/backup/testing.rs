//! A table in memory and export files for the import's tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};

use super::import::BATCH_SIZE;
use super::unprocessed::{Backoff, BatchWriter, CallError};
use crate::dynamo_json::{self, Item};

/// A table in memory that leaves items unprocessed the way DynamoDB does under load: each
/// call processes at most `per_call` requests, and the first `refusals` calls process none.
pub struct Stingy {
    per_call: usize,
    refusals: Mutex<u32>,
    pub calls: Mutex<Vec<usize>>,
    pub stored: Mutex<HashMap<String, Item>>,
}

impl Stingy {
    pub fn new(per_call: usize, refusals: u32) -> Self {
        Self {
            per_call,
            refusals: Mutex::new(refusals),
            calls: Mutex::new(Vec::new()),
            stored: Mutex::new(HashMap::new()),
        }
    }
}

impl BatchWriter for Stingy {
    async fn write_batch(
        &self,
        _table: &str,
        requests: Vec<WriteRequest>,
    ) -> Result<Vec<WriteRequest>, CallError> {
        assert!(requests.len() <= BATCH_SIZE);
        self.calls.lock().unwrap().push(requests.len());
        {
            let mut refusals = self.refusals.lock().unwrap();
            if *refusals > 0 {
                *refusals -= 1;
                return Ok(requests);
            }
        }
        let mut stored = self.stored.lock().unwrap();
        let mut rest = requests;
        let left = rest.split_off(self.per_call.min(rest.len()));
        for r in rest {
            let item = r.put_request.unwrap().item;
            let AttributeValue::S(pk) = &item["PK"] else {
                panic!("PK")
            };
            stored.insert(pk.clone(), item);
        }
        Ok(left)
    }
}

pub fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(4),
        max_attempts: 10,
    }
}

/// An export file of `n` items, removed when the test ends.
pub fn file_of(n: usize) -> TempPath {
    let path = TempPath::new();
    let mut text = String::new();
    for i in 0..n {
        let item = HashMap::from([
            ("PK".to_owned(), AttributeValue::S(format!("ITEM#{i}"))),
            ("n".to_owned(), AttributeValue::N(i.to_string())),
        ]);
        text.push_str(&dynamo_json::item_line(&item).unwrap());
        text.push('\n');
    }
    std::fs::write(&path.0, text).unwrap();
    path
}

/// A file removed when the test ends (no extra crate for one temp file).
pub struct TempPath(pub std::path::PathBuf);

impl TempPath {
    pub fn new() -> Self {
        Self(std::env::temp_dir().join(format!(
            "rota-admin-test-{:016x}.jsonl",
            rand::random::<u64>()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

//! `export` and `import`: a table's items to and from a file of DynamoDB JSON lines.
//!
//! Export is a parallel Scan (one task per segment, each paging with `ExclusiveStartKey`,
//! strongly consistent reads). Lines go to `FILE.partial`, renamed to `FILE` only when every
//! segment finished, so a failed export never leaves a file that looks complete. A Scan is not
//! a point-in-time snapshot: items written while it runs may or may not be in it (see
//! docs/operations-backup.md for when to use PITR or AWS Backup instead).
//!
//! Import checks the whole file first (a malformed line stops it before anything is written),
//! then writes it with BatchWriteItem, 25 puts per call, a few calls in flight. Items DynamoDB
//! leaves unprocessed are sent again with exponential backoff and full jitter, a bounded number
//! of times; if some are still left the import fails, saying how many were written. Puts
//! overwrite, so running an import again is safe.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rand::Rng;

use crate::dynamo_json::{self, Item};

/// BatchWriteItem takes at most 25 requests.
pub const BATCH_SIZE: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {source}")]
    Line {
        path: PathBuf,
        line: usize,
        source: dynamo_json::Error,
    },
    #[error("scan of segment {segment}: {message}")]
    Scan { segment: u32, message: String },
    #[error("item with an attribute this tool cannot write: {0}")]
    Encode(#[from] dynamo_json::Error),
    #[error(
        "import stopped: {written} of {total} items written; {message}. Puts overwrite: fix the cause and run the import again"
    )]
    Import {
        written: u64,
        total: u64,
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// Export

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub items: u64,
    /// Items per segment, in segment order.
    pub per_segment: Vec<u64>,
    pub pages: u64,
}

/// Scans `table` in `segments` parallel segments into `out`, one item per line.
pub async fn export(
    db: &Client,
    table: &str,
    out: &Path,
    segments: u32,
) -> Result<ExportReport, Error> {
    assert!(segments >= 1, "at least one segment");
    let partial = partial_path(out);
    let file = std::fs::File::create(&partial).map_err(io(&partial))?;
    let mut writer = std::io::BufWriter::new(file);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u32, Vec<String>)>(2 * segments as usize);
    let mut tasks = Vec::new();
    for segment in 0..segments {
        let (db, table, tx) = (db.clone(), table.to_owned(), tx.clone());
        tasks.push(tokio::spawn(async move {
            scan_segment(&db, &table, segment, segments, tx).await
        }));
    }
    drop(tx);

    let mut report = ExportReport {
        items: 0,
        per_segment: vec![0; segments as usize],
        pages: 0,
    };
    let mut write_error = None;
    while let Some((segment, lines)) = rx.recv().await {
        report.pages += 1;
        report.items += lines.len() as u64;
        report.per_segment[segment as usize] += lines.len() as u64;
        if write_error.is_none() {
            for line in &lines {
                if let Err(e) = writer
                    .write_all(line.as_bytes())
                    .and_then(|()| writer.write_all(b"\n"))
                {
                    write_error = Some(e);
                    break;
                }
            }
        }
    }
    let mut failure = write_error.map(|e| io(&partial)(e));
    for task in tasks {
        let result = task.await.unwrap_or_else(|e| {
            Err(Error::Scan {
                segment: u32::MAX,
                message: e.to_string(),
            })
        });
        if let (Err(e), None) = (result, &failure) {
            failure = Some(e);
        }
    }
    if failure.is_none()
        && let Err(e) = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
    {
        failure = Some(io(&partial)(e));
    }
    if let Some(e) = failure {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, out).map_err(io(out))?;
    Ok(report)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

async fn scan_segment(
    db: &Client,
    table: &str,
    segment: u32,
    total: u32,
    tx: tokio::sync::mpsc::Sender<(u32, Vec<String>)>,
) -> Result<(), Error> {
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = db
            .scan()
            .table_name(table)
            .segment(segment as i32)
            .total_segments(total as i32)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| Error::Scan {
                segment,
                message: DisplayErrorContext(e).to_string(),
            })?;
        let lines = page
            .items()
            .iter()
            .map(dynamo_json::item_line)
            .collect::<Result<Vec<_>, _>>()?;
        if tx.send((segment, lines)).await.is_err() {
            return Ok(()); // the writer stopped; it reports why
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Import

/// How unprocessed items are retried: full jitter over an exponentially growing ceiling.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// BatchWriteItem calls per chunk, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
            max_attempts: 10,
        }
    }
}

impl Backoff {
    /// The pause before retry number `retry` (1 for the first retry): uniform in
    /// `0..=min(cap, base * 2^(retry-1))`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << (retry.saturating_sub(1)).min(20))
            .min(self.cap);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }
}

/// One BatchWriteItem call: sends `requests` to `table` and returns the unprocessed ones.
/// A trait so the retry logic can be tested against a writer that refuses items.
pub trait BatchWriter: Sync {
    fn write_batch(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> impl Future<Output = Result<Vec<WriteRequest>, String>> + Send;
}

impl BatchWriter for Client {
    async fn write_batch(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> Result<Vec<WriteRequest>, String> {
        let out = self
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        Ok(out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub items: u64,
    pub batches: u64,
    /// BatchWriteItem calls that re-sent unprocessed items.
    pub retries: u64,
}

/// Writes `chunk` (≤ 25 puts), re-sending unprocessed items. `Ok(retries)`, or the error and
/// how many of the chunk's items were written before it.
pub async fn write_chunk<W: BatchWriter>(
    writer: &W,
    table: &str,
    chunk: Vec<WriteRequest>,
    backoff: Backoff,
) -> Result<u64, (u64, String)> {
    let total = chunk.len() as u64;
    let mut pending = chunk;
    let mut attempt = 1;
    loop {
        let left = writer
            .write_batch(table, pending.clone())
            .await
            .map_err(|e| (total - pending.len() as u64, e))?;
        if left.is_empty() {
            return Ok(u64::from(attempt - 1));
        }
        if attempt >= backoff.max_attempts {
            return Err((
                total - left.len() as u64,
                format!(
                    "{} items still unprocessed after {attempt} BatchWriteItem calls",
                    left.len()
                ),
            ));
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
        attempt += 1;
        pending = left;
    }
}

/// Reads and checks every line of `path`: the items, or the first malformed line.
pub fn count_items(path: &Path) -> Result<u64, Error> {
    let mut n = 0;
    for_each_item(path, |_| {
        n += 1;
        true
    })?;
    Ok(n)
}

/// Calls `f` with each item of the file in order until it returns false. Blank lines are
/// skipped.
fn for_each_item(path: &Path, mut f: impl FnMut(Item) -> bool) -> Result<(), Error> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let item = dynamo_json::parse_line(&line).map_err(|source| Error::Line {
            path: path.to_owned(),
            line: i + 1,
            source,
        })?;
        if !f(item) {
            break;
        }
    }
    Ok(())
}

fn put(item: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("item is set"),
        )
        .build()
}

/// Imports every item of `path` into `table`, `concurrency` BatchWriteItem calls in flight.
pub async fn import<W: BatchWriter>(
    writer: &W,
    table: &str,
    path: &Path,
    concurrency: usize,
    backoff: Backoff,
) -> Result<ImportReport, Error> {
    let total = count_items(path)?;
    // The file was just checked; read it again in chunks so a large one never sits in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<WriteRequest>>(concurrency.max(1) * 2);
    let reader_path = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(BATCH_SIZE);
        for_each_item(&reader_path, |item| {
            chunk.push(put(item));
            if chunk.len() == BATCH_SIZE {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(BATCH_SIZE));
                return tx.blocking_send(full).is_ok();
            }
            true
        })?;
        if !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
        Ok::<(), Error>(())
    });

    let mut report = ImportReport::default();
    let mut in_flight = FuturesUnordered::new();
    let mut failure: Option<String> = None;
    let mut input_done = false;
    loop {
        while !input_done && failure.is_none() && in_flight.len() < concurrency.max(1) {
            match rx.recv().await {
                Some(chunk) => {
                    let n = chunk.len() as u64;
                    in_flight
                        .push(async move { (n, write_chunk(writer, table, chunk, backoff).await) });
                }
                None => input_done = true,
            }
        }
        let Some((n, result)) = in_flight.next().await else {
            break;
        };
        report.batches += 1;
        match result {
            Ok(retries) => {
                report.items += n;
                report.retries += retries;
            }
            Err((written, message)) => {
                report.items += written;
                failure.get_or_insert(message);
            }
        }
    }
    drop(rx);
    let read = reader.await.map_err(|e| Error::Import {
        written: report.items,
        total,
        message: e.to_string(),
    })?;
    if let Some(message) = failure {
        return Err(Error::Import {
            written: report.items,
            total,
            message,
        });
    }
    read?;
    if report.items != total {
        return Err(Error::Import {
            written: report.items,
            total,
            message: "the file changed while it was imported".into(),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A table in memory that leaves items unprocessed the way DynamoDB does under load: each
    /// call processes at most `per_call` requests, and the first `refusals` calls process none.
    struct Stingy {
        per_call: usize,
        refusals: Mutex<u32>,
        calls: Mutex<Vec<usize>>,
        stored: Mutex<HashMap<String, Item>>,
    }

    impl Stingy {
        fn new(per_call: usize, refusals: u32) -> Self {
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
        ) -> Result<Vec<WriteRequest>, String> {
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

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(4),
            max_attempts: 10,
        }
    }

    fn file_of(n: usize) -> tempfile_path::TempPath {
        let path = tempfile_path::TempPath::new();
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
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new() -> Self {
                use rand::Rng;
                Self(std::env::temp_dir().join(format!(
                    "rota-admin-test-{:016x}.jsonl",
                    rand::rng().random::<u64>()
                )))
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[tokio::test]
    async fn unprocessed_items_are_sent_again_until_written() {
        let file = file_of(60);
        let table = Stingy::new(7, 2);
        let report = import(&table, "T", &file.0, 3, fast()).await.unwrap();
        assert_eq!(report.items, 60);
        assert_eq!(report.batches, 3); // 25 + 25 + 10
        assert!(report.retries > 0);
        let stored = table.stored.lock().unwrap();
        assert_eq!(stored.len(), 60);
        assert_eq!(stored["ITEM#59"]["n"], AttributeValue::N("59".into()));
        // Every call re-sent only what was left: 60 items, no duplicates beyond retries.
        let calls = table.calls.lock().unwrap();
        assert!(calls.iter().all(|&n| n <= BATCH_SIZE), "{calls:?}");
        assert_eq!(
            calls.len() as u64,
            report.batches + report.retries,
            "one call per batch plus one per retry"
        );
    }

    #[tokio::test]
    async fn items_still_unprocessed_after_the_last_attempt_fail_the_import() {
        let file = file_of(30);
        let table = Stingy::new(BATCH_SIZE, u32::MAX);
        let backoff = Backoff {
            max_attempts: 4,
            ..fast()
        };
        let err = import(&table, "T", &file.0, 1, backoff).await.unwrap_err();
        let Error::Import {
            written,
            total,
            message,
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*written, *total), (0, 30));
        assert!(message.contains("still unprocessed after 4"), "{message}");
        // Bounded: the failing chunk was tried exactly max_attempts times, and nothing
        // after the failure was started.
        assert_eq!(table.calls.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_partly_written_chunk_reports_what_was_written() {
        let table = Stingy::new(10, 0);
        let chunk: Vec<_> = (0..25)
            .map(|i| {
                put(HashMap::from([(
                    "PK".to_owned(),
                    AttributeValue::S(i.to_string()),
                )]))
            })
            .collect();
        let backoff = Backoff {
            max_attempts: 2,
            ..fast()
        };
        let (written, message) = write_chunk(&table, "T", chunk, backoff).await.unwrap_err();
        assert_eq!(written, 20);
        assert!(message.contains("5 items still unprocessed"), "{message}");
    }

    #[tokio::test]
    async fn a_malformed_line_stops_the_import_before_anything_is_written() {
        let file = file_of(30);
        let mut text = std::fs::read_to_string(&file.0).unwrap();
        text.push_str("{\"Item\":{\"PK\":{\"S\":1}}}\n");
        std::fs::write(&file.0, text).unwrap();
        let table = Stingy::new(BATCH_SIZE, 0);
        let err = import(&table, "T", &file.0, 2, fast()).await.unwrap_err();
        assert!(matches!(err, Error::Line { line: 31, .. }), "{err}");
        assert!(table.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn backoff_grows_exponentially_with_full_jitter_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_attempts: 10,
        };
        for _ in 0..200 {
            assert!(b.delay(1) <= Duration::from_millis(100));
            assert!(b.delay(3) <= Duration::from_millis(400));
            assert!(b.delay(30) <= Duration::from_millis(1000));
        }
        // Jitter: not always the ceiling.
        assert!((0..50).any(|_| b.delay(4) < Duration::from_millis(800)));
    }
}

//! Import: checks the whole file first (a malformed line stops it before anything is
//! written), then writes it with BatchWriteItem, 25 puts per call, a few calls in flight.
//! Items DynamoDB leaves unprocessed are sent again ([`super::unprocessed`]); if some are still
//! left the import fails, saying how many were written. Puts overwrite, so running an import
//! again is safe.

use std::path::Path;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::Error;
use super::file::{count_items, for_each_item};
use super::unprocessed::{Backoff, BatchWriter, write_chunk};
use crate::dynamo_json::Item;

/// BatchWriteItem takes at most 25 requests.
pub const BATCH_SIZE: usize = 25;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub items: u64,
    pub batches: u64,
    /// BatchWriteItem calls that re-sent unprocessed items.
    pub retries: u64,
}

pub(crate) fn put(item: Item) -> WriteRequest {
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
    let mut failure = None;
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
            Err((written, error)) => {
                report.items += written;
                failure.get_or_insert(error);
            }
        }
    }
    drop(rx);
    let stopped = |source: Box<dyn std::error::Error + Send + Sync>| Error::Import {
        written: report.items,
        total,
        source,
    };
    let read = reader.await.map_err(|e| stopped(e.into()))?;
    if let Some(error) = failure {
        return Err(stopped(error.into()));
    }
    read?;
    if report.items != total {
        return Err(stopped("the file changed while it was imported".into()));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::backup::testing::{Stingy, fast, file_of};
    use crate::backup::unprocessed::ChunkError;

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
            source,
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*written, *total), (0, 30));
        assert!(
            matches!(
                source.downcast_ref::<ChunkError>(),
                Some(ChunkError::Unprocessed { attempts: 4, .. })
            ),
            "{source}"
        );
        // Bounded: the failing chunk was tried exactly max_attempts times, and nothing
        // after the failure was started.
        assert_eq!(table.calls.lock().unwrap().len(), 4);
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
}

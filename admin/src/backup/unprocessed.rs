//! BatchWriteItem's unprocessed items: sent again with the project's one backoff
//! ([`rota_domain::backoff::full_jitter`]), a bounded number of times.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::WriteRequest;

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
        rota_domain::backoff::full_jitter(self.base, self.cap, retry.saturating_sub(1))
    }
}

/// Why a BatchWriteItem call failed.
pub type CallError = Box<dyn std::error::Error + Send + Sync>;

/// One BatchWriteItem call: sends `requests` to `table` and returns the unprocessed ones.
/// A trait so the retry logic can be tested against a writer that refuses items.
pub trait BatchWriter: Sync {
    fn write_batch(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> impl Future<Output = Result<Vec<WriteRequest>, CallError>> + Send;
}

impl BatchWriter for Client {
    async fn write_batch(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> Result<Vec<WriteRequest>, CallError> {
        let out = self
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await?;
        Ok(out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default())
    }
}

/// Why a chunk was not written whole.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("BatchWriteItem failed")]
    Call(#[source] CallError),
    #[error("{left} items still unprocessed after {attempts} BatchWriteItem calls")]
    Unprocessed { left: usize, attempts: u32 },
}

/// Writes `chunk` (≤ 25 puts), re-sending unprocessed items. `Ok(retries)`, or how many of
/// the chunk's items were written before the error.
pub async fn write_chunk<W: BatchWriter>(
    writer: &W,
    table: &str,
    chunk: Vec<WriteRequest>,
    backoff: Backoff,
) -> Result<u64, (u64, ChunkError)> {
    let total = chunk.len() as u64;
    let mut pending = chunk;
    let mut attempt = 1;
    loop {
        let left = writer
            .write_batch(table, pending.clone())
            .await
            .map_err(|e| (total - pending.len() as u64, ChunkError::Call(e)))?;
        if left.is_empty() {
            return Ok(u64::from(attempt - 1));
        }
        if attempt >= backoff.max_attempts {
            let unprocessed = ChunkError::Unprocessed {
                left: left.len(),
                attempts: attempt,
            };
            return Err((total - left.len() as u64, unprocessed));
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
        attempt += 1;
        pending = left;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::backup::import::put;
    use crate::backup::testing::{Stingy, fast};

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
        let (written, err) = write_chunk(&table, "T", chunk, backoff).await.unwrap_err();
        assert_eq!(written, 20);
        assert!(
            matches!(
                err,
                ChunkError::Unprocessed {
                    left: 5,
                    attempts: 2
                }
            ),
            "{err}"
        );
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

//! The cache cluster (ElastiCache Redis; locally the real Redis on 127.0.0.1:6379).
//!
//! The connection is made lazily and shared by every invocation of the container; a failed
//! connect is retried on the next call, so a cache outage never stops a function from
//! starting, and short timeouts keep a dead cache from eating the request's time budget.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);

pub struct Cache {
    client: redis::Client,
    conn: tokio::sync::OnceCell<ConnectionManager>,
}

impl Cache {
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: tokio::sync::OnceCell::new(),
        })
    }

    pub async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    CONNECT_TIMEOUT * 2,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))?
            })
            .await?;
        Ok(conn.clone())
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

//! `export` and `import`: a table's items to and from a file of DynamoDB JSON lines.
//!
//! - [`export`]: the parallel Scan into the file;
//! - [`file`]: reading the file back, line by line, checked;
//! - [`import`]: the file into a table with BatchWriteItem, a few calls in flight;
//! - [`unprocessed`]: what DynamoDB leaves unprocessed, sent again with the project's backoff.
//!
//! The restore procedures built on them are in docs/operations-backup.md.

pub mod export;
pub mod file;
pub mod import;
pub mod unprocessed;

#[cfg(test)]
mod testing;

use std::path::{Path, PathBuf};

pub use export::export;
pub use import::import;
pub use unprocessed::Backoff;

use crate::dynamo_json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}")]
    Line {
        path: PathBuf,
        line: usize,
        #[source]
        source: dynamo_json::Error,
    },
    #[error("scan of segment {segment}")]
    Scan {
        segment: u32,
        #[source]
        source:
            Box<aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::scan::ScanError>>,
    },
    #[error("a scan task ended without an answer")]
    Task(#[source] tokio::task::JoinError),
    #[error("item with an attribute this tool cannot write")]
    Encode(#[from] dynamo_json::Error),
    #[error(
        "import stopped: {written} of {total} items written. Puts overwrite: fix the cause and run the import again"
    )]
    Import {
        written: u64,
        total: u64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

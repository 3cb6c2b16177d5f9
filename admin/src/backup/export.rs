//! Export: a parallel Scan (one task per segment, each paging with `ExclusiveStartKey`,
//! strongly consistent reads). Lines go to `FILE.partial`, renamed to `FILE` only when every
//! segment finished, so a failed export never leaves a file that looks complete. A Scan is not
//! a point-in-time snapshot: items written while it runs may or may not be in it (see
//! docs/operations-backup.md for when to use PITR or AWS Backup instead).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Error, io};
use crate::dynamo_json;

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
        let result = task.await.unwrap_or_else(|e| Err(Error::Task(e)));
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
            .map_err(|source| Error::Scan {
                segment,
                source: Box::new(source),
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

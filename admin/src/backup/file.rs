//! Reading an export file: one item per line (`{"Item":{…}}`), blank lines skipped, a
//! malformed line named by its number.

use std::io::BufRead;
use std::path::Path;

use super::{Error, io};
use crate::dynamo_json::{self, Item};

/// Reads and checks every line of `path`: the items, or the first malformed line.
pub fn count_items(path: &Path) -> Result<u64, Error> {
    let mut n = 0;
    for_each_item(path, |_| {
        n += 1;
        true
    })?;
    Ok(n)
}

/// Calls `f` with each item of the file in order until it returns false.
pub fn for_each_item(path: &Path, mut f: impl FnMut(Item) -> bool) -> Result<(), Error> {
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

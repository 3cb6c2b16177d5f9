//! The JSON files rota-local keeps for other processes (`stack.json`, `faults.json`).

use std::path::Path;

use serde::Serialize;

/// Writes `value` as pretty JSON to `path`, atomically: a temporary file beside it, renamed
/// over it, so a reader never sees half a file.
pub(crate) fn write_atomically(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

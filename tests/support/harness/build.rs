//! Whether the binaries are current, by their dep-info; `cargo build --workspace --bins` when
//! they are not.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{mtime_ms, now_ms};

/// The binaries a stack runs: `rota` (every function; `functions/`) and the tools.
const BINARIES: [&str; 4] = ["rota", "rota-local", "rota-admin", "rota-bench"];

/// Why the binaries are not current, if they are not: one missing, or a source file its
/// dep-info lists newer than it (or gone). Else the newest binary's modification time.
fn staleness(root: &Path) -> Result<u128, String> {
    let dir = root.join("target").join("debug");
    let mut newest = 0;
    for name in BINARIES {
        let bin = dir.join(name);
        let built = mtime_ms(&bin).ok_or_else(|| format!("{} is not built", bin.display()))?;
        newest = newest.max(built);
        let dep_info = std::fs::read_to_string(dir.join(format!("{name}.d")))
            .map_err(|_| format!("{name}.d (its dep-info) is missing"))?;
        let sources = dep_info.split_once(": ").map_or("", |(_, s)| s);
        for source in sources.split_whitespace().filter(|s| !s.ends_with('\\')) {
            match mtime_ms(Path::new(source)) {
                None => return Err(format!("{source} (a source of {name}) is gone")),
                Some(t) if t > built => return Err(format!("{source} is newer than {name}")),
                Some(_) => {}
            }
        }
    }
    Ok(newest)
}

/// Builds the binaries when they are not current; then the newest one's modification time.
pub(super) fn current_binaries(root: &Path) -> Result<u128, String> {
    let Err(why) = staleness(root) else {
        return staleness(root);
    };
    eprintln!("rota-tests: {why}: running `cargo build --workspace --bins` first");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--workspace", "--bins"])
        .current_dir(root)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the binaries are not current ({why}) and `cargo build --workspace --bins` failed \
             ({status}): fix the build, run it, then the tests"
        ));
    }
    // Whatever cargo left is current by cargo's own reckoning.
    Ok(staleness(root).unwrap_or_else(|_| now_ms()))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    use super::super::fake_repo;
    use super::*;

    #[test]
    fn binaries_as_new_as_their_sources_are_current() {
        let repo = fake_repo();
        assert!(staleness(repo.path()).is_ok());
    }

    #[test]
    fn a_newer_source_is_named() {
        let repo = fake_repo();
        let later = SystemTime::now() + Duration::from_secs(60);
        File::options()
            .write(true)
            .open(repo.path().join("main.rs"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        let why = staleness(repo.path()).unwrap_err();
        assert!(why.contains("main.rs is newer than rota"), "{why}");
    }

    #[test]
    fn a_missing_binary_is_named() {
        let repo = fake_repo();
        std::fs::remove_file(repo.path().join("target/debug/rota-admin")).unwrap();
        let why = staleness(repo.path()).unwrap_err();
        assert!(why.contains("rota-admin is not built"), "{why}");
    }
}

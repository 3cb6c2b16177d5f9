//! A stack of a test's own: for a test that breaks part of it (kills a cache node) and must
//! not disturb the tests running beside it on the shared stack. Started like the harness's own
//! stack (free ports, no fault profile, its own cache cluster), in `.local/<name>/`, and
//! stopped when dropped.

use std::path::PathBuf;

use super::own_stack::{prerequisites, start, stop};
use super::{Stack, binaries, repo_root};

pub struct PrivateStack {
    pub stack: Stack,
    /// Its directory (`.local/<name>/`: logs, stdout, stderr, stack.json).
    pub dir: PathBuf,
    pid: u32,
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        stop(self.pid);
    }
}

/// Starts a stack in `.local/<name>/` from the current binaries; panics with the reason when
/// it cannot.
pub fn private_stack(name: &str) -> PrivateStack {
    let root = repo_root();
    let _ = binaries();
    prerequisites(&root).unwrap_or_else(|why| panic!("no private stack: {why}"));
    let dir = root.join(".local").join(name);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let state = start(&root, &dir, None).unwrap_or_else(|why| panic!("no private stack: {why}"));
    PrivateStack {
        stack: state.stack(&dir),
        dir,
        pid: state.pid,
    }
}

//! Child processes of rota-local (moto, function instances): each in its own process group, and
//! dying with rota-local.

use tokio::process::Command;

/// Children get their own process group (a Ctrl-C in the terminal reaches only rota-local, which
/// then stops them in order) and die with rota-local even if it is killed outright.
pub(crate) fn harden_child(cmd: &mut Command) {
    cmd.process_group(0);
    die_with_parent(cmd);
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

//! The command a lab runs for each step: this very binary, with nothing of the caller's
//! configuration in its environment, dying with the run that started it.

/// A command running this binary against a lab: the caller's `HYBRIDAUTH_SECTION__KEY`
/// variables are already in the lab's configuration, and passing them on would let one point
/// the lab at the real store.
/// The command also dies with the run that started it (a lab server must not outlive a run
/// that was killed, holding the lab's store open).
pub fn lab_command(exe: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HYBRIDAUTH_") {
            cmd.env_remove(k);
        }
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd
}

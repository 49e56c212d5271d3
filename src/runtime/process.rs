//! Process-wide settings made once at start, before any file or socket is opened.

/// Files we create hold secrets or what is derived from them (the store, its WAL, the sign-in
/// and accounting logs, lab keys): readable by the service alone, whatever umask we inherit.
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process's file-mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Raises the soft limit on open files to the hard limit, so that `ldap.max_connections` is not
/// cut short by a distribution's default of 1024. Returns the soft limit now in force.
pub fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass and nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    Some(lim.rlim_cur)
}

/// Lowers the calling thread's scheduling priority by `nice` steps (Linux schedules threads
/// separately; elsewhere this does nothing). The Argon2 threads run at a lower priority than
/// the reactor and the cache probes: hashing still takes every idle cycle, but a request the
/// cache can answer in microseconds, or a packet to read, no longer waits for the scheduler to
/// take a core from a 40 ms hash. Raising one's nice value needs no privilege.
pub fn lower_thread_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on our own thread id changes only the
    // scheduling weight of this thread, and a failure (reported by its return value) is harmless.
    unsafe {
        let tid = libc::gettid();
        let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        let lowered = now.saturating_add(nice).min(19);
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, lowered) != 0 {
            tracing::debug!("cannot lower the priority of a verification thread");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// Puts the calling thread in Linux's SCHED_IDLE class (no privilege needed): besides the
/// lowest weight, a waking thread of the normal class preempts it at once, where a nice-19
/// thread may keep the core for the rest of its slice. Elsewhere this does nothing.
pub fn idle_thread_class() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler on our own thread (0) with a zeroed parameter, as SCHED_IDLE
    // requires; a failure (reported by its return value) leaves the thread as it was.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            tracing::debug!("cannot move a verification thread to SCHED_IDLE");
        }
    }
}

/// Whether the calling thread is in the SCHED_IDLE class (Linux), for tests and diagnostics.
pub fn thread_is_idle_class() -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_getscheduler only reads.
    unsafe {
        return libc::sched_getscheduler(0) == libc::SCHED_IDLE;
    }
    #[allow(unreachable_code)]
    false
}

/// The calling thread's nice value (Linux), for tests and diagnostics.
pub fn thread_priority() -> Option<i32> {
    #[cfg(target_os = "linux")]
    // SAFETY: as above; getpriority only reads.
    unsafe {
        let tid = libc::gettid();
        return Some(libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t));
    }
    #[allow(unreachable_code)]
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn nofile_soft_limit_reaches_the_hard_limit() {
        let soft = super::raise_nofile_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(soft, lim.rlim_cur);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
    }
}

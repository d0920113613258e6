//! Process limits an agent needs raised.

use tracing::{debug, info, warn};

/// Raises the soft limit on open files to the hard limit.
///
/// A node's agent follows one file per container (hundreds to thousands),
/// while many systems start services with a soft limit of 1,024: reaching
/// it would make opening files, and accepting scrapes, fail.
pub fn raise_open_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        warn!(error = %std::io::Error::last_os_error(), "cannot read the open-files limit");
        return;
    }
    if lim.rlim_cur >= lim.rlim_max {
        debug!(
            limit = lim.rlim_cur,
            "open-files limit already at its maximum"
        );
        return;
    }
    let before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit whose soft limit does not exceed its
    // hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
        info!(from = before, to = lim.rlim_cur, "open-files limit raised");
    } else {
        warn!(error = %std::io::Error::last_os_error(), limit = before, "cannot raise the open-files limit");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_reaches_the_hard_limit() {
        super::raise_open_files();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
    }
}

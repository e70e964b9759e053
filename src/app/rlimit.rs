//! The open-file limit (POSIX `RLIMIT_NOFILE`): every session, data connection and open
//! file is a descriptor, and the usual soft limit of 1024 is reached by a few hundred
//! MODE E transfers. At start the soft limit is raised to the hard limit, which only an
//! administrator can raise further.

use rustix::process::{getrlimit, setrlimit, Resource};
use tracing::{info, warn};

/// Raises the soft open-file limit to the hard one; logs the outcome.
pub fn raise_nofile() {
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        return; // already unlimited
    };
    // Unlimited hard (None) cannot be the soft value for NOFILE on Linux: keep the kernel's
    // own ceiling then, i.e. leave the soft limit alone.
    let Some(hard) = hard else {
        info!(soft, "open-file limit");
        return;
    };
    if soft >= hard {
        info!(soft, hard, "open-file limit");
        return;
    }
    let raised = rustix::process::Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => info!(
            from = soft,
            to = hard,
            "raised the open-file limit to the hard limit"
        ),
        Err(e) => warn!(soft, hard, error = %e, "cannot raise the open-file limit"),
    }
}

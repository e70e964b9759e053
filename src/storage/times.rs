//! Setting a file's modification time beneath the root (MFMT, draft-somers-ftp-mfxx §3),
//! before 1970 included.
//!
//! cap-std's `set_times` carries only instants after the Unix epoch (cap-primitives'
//! `to_timespec` unwraps `duration_since(UNIX_EPOCH)` and panics before it). Earlier
//! instants go through `futimens(2)` on a descriptor opened through the capability instead;
//! Linux file systems store negative seconds (ext4, XFS, btrfs, tmpfs), and one that cannot
//! answers with an errno that becomes an ordinary storage error.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_fs_ext::{DirExt, SystemTimeSpec};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use rustix::fs::{OFlags, Timestamps, UTIME_OMIT};
use rustix::time::Timespec;

/// Sets `rel`'s mtime to `t`, following symlinks that stay inside `dir`.
pub(super) fn set_mtime(dir: &Dir, rel: &str, t: SystemTime) -> io::Result<()> {
    if t >= UNIX_EPOCH {
        let mtime = SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t));
        return dir.set_times(rel, None, Some(mtime));
    }
    let mut opts = OpenOptions::new();
    // SECURITY: opened through the capability, so the path resolves beneath the root like
    // every other lookup; O_NONBLOCK so a FIFO in the data directory cannot park the
    // worker in open(2). A directory opens read-only too.
    opts.read(true).custom_flags(OFlags::NONBLOCK.bits() as i32);
    let file = dir.open_with(rel, &opts)?;
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: timespec(t)?,
    };
    Ok(rustix::fs::futimens(&file, &times)?)
}

/// `t` as a `timespec` (whole seconds rounded towards the past, nanoseconds ≥ 0).
fn timespec(t: SystemTime) -> io::Result<Timespec> {
    let out_of_range = || io::Error::from(io::ErrorKind::InvalidInput);
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).map_err(|_| out_of_range())?,
            after.subsec_nanos(),
        ),
        Err(e) => {
            let before = e.duration();
            let secs = i64::try_from(before.as_secs()).map_err(|_| out_of_range())?;
            match before.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, 1_000_000_000 - n),
            }
        }
    };
    Ok(Timespec {
        tv_sec: secs,
        tv_nsec: nanos.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timespec_rounds_towards_the_past() {
        let ts = |t| timespec(t).map(|s| (s.tv_sec, s.tv_nsec)).ok();
        assert_eq!(ts(UNIX_EPOCH), Some((0, 0)));
        assert_eq!(ts(UNIX_EPOCH - Duration::from_secs(2)), Some((-2, 0)));
        assert_eq!(
            ts(UNIX_EPOCH - Duration::from_millis(1500)),
            Some((-2, 500_000_000))
        );
        assert_eq!(
            ts(UNIX_EPOCH + Duration::from_millis(1500)),
            Some((1, 500_000_000))
        );
    }

    #[test]
    fn sets_instants_before_1970_on_files_and_directories() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        // 1950: inside every Linux file system's range (ext4 keeps 1901..2446).
        let y1950 = UNIX_EPOCH - Duration::from_secs(631_152_000);
        for name in ["f", "d"] {
            set_mtime(&dir, name, y1950).unwrap();
            let m = std::fs::metadata(tmp.path().join(name)).unwrap();
            assert_eq!(m.modified().unwrap(), y1950, "{name}");
        }
        let y2001 = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        set_mtime(&dir, "f", y2001).unwrap();
        let m = std::fs::metadata(tmp.path().join("f")).unwrap();
        assert_eq!(m.modified().unwrap(), y2001);
        let missing = set_mtime(&dir, "nope", y1950).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}

//! Total conversions between [`SystemTime`], Unix seconds and UTC calendar time, for every
//! timestamp griddock shows: RFC 3659 §2.3 time-val (MDTM, MLST/MLSD `modify`, MFMT),
//! `ls -l` dates (LIST, STAT) and RFC 3339 in logs and `cert status`.
//!
//! A file's mtime is whatever the file system holds (tmpfs, btrfs and XFS bigtime keep
//! 64-bit seconds: year 10000 and beyond, or far before year 0). `time`'s
//! `OffsetDateTime::from(SystemTime)` panics outside years ±9999, so nothing here uses it:
//! every instant is clamped to what a four-digit year can carry,
//! [`FIRST_SECOND`]..=[`LAST_SECOND`] (0000-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z).
//! No function in this module can panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// 0000-01-01T00:00:00Z in Unix seconds: the earliest instant shown.
pub const FIRST_SECOND: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z in Unix seconds: the latest instant shown.
pub const LAST_SECOND: i64 = 253_402_300_799;

/// Whole Unix seconds of `t`, rounded towards the past, saturating at the `i64` range.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            let floor = if before.subsec_nanos() > 0 {
                secs.saturating_add(1)
            } else {
                secs
            };
            -floor
        }
    }
}

/// `t` as a UTC date and time to the second, clamped to years 0000..=9999.
pub fn datetime(t: SystemTime) -> OffsetDateTime {
    let secs = unix_seconds(t).clamp(FIRST_SECOND, LAST_SECOND);
    // The clamp keeps `secs` inside `time`'s range; the fallback is unreachable.
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The instant `secs` after (or, negative, before) the Unix epoch; `None` only where
/// `SystemTime` cannot hold it.
pub fn from_unix(secs: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Instants at and around every edge: the epoch, the i32 and u32 second limits, the
    /// four-digit-year limits, and the far ends `SystemTime` can hold on Linux.
    pub(crate) fn extremes() -> Vec<SystemTime> {
        let mut out = vec![SystemTime::now(), UNIX_EPOCH];
        let secs: [u64; 9] = [
            1,
            1 << 31,
            1 << 32,
            LAST_SECOND as u64,
            LAST_SECOND as u64 + 1,
            FIRST_SECOND.unsigned_abs(),
            FIRST_SECOND.unsigned_abs() + 1,
            1 << 62,
            i64::MAX as u64,
        ];
        for s in secs {
            for nanos in [0, 1, 999_999_999] {
                let d = Duration::new(s, nanos);
                out.extend(UNIX_EPOCH.checked_add(d));
                out.extend(UNIX_EPOCH.checked_sub(d));
            }
        }
        out
    }

    #[test]
    fn every_instant_converts_within_four_digit_years() {
        for t in extremes() {
            let dt = datetime(t);
            assert!((0..=9999).contains(&dt.year()), "{t:?} → {dt}");
            let s = unix_seconds(t);
            assert_eq!(from_unix(s).map(unix_seconds), Some(s), "{t:?}");
        }
    }

    #[test]
    fn clamps_at_both_ends_and_rounds_towards_the_past() {
        let last = UNIX_EPOCH + Duration::from_secs(LAST_SECOND as u64);
        assert_eq!(datetime(last + Duration::from_secs(1)), datetime(last));
        assert_eq!(datetime(last).year(), 9999);
        let first = UNIX_EPOCH - Duration::from_secs(FIRST_SECOND.unsigned_abs());
        assert_eq!(
            datetime(first - Duration::from_secs(86400)),
            datetime(first)
        );
        assert_eq!((datetime(first).year(), datetime(first).ordinal()), (0, 1));
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1999)), 1);
        assert_eq!(
            from_unix(-2_208_988_800).map(unix_seconds),
            Some(-2_208_988_800)
        );
    }
}

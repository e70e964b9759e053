//! File checksums for CKSM (GFD.47 §"CKSM"; the algorithms FTS and gfal2 ask for):
//! ADLER32 (RFC 1950 §9, `%08x`), MD5, SHA1, SHA256, SHA512 and CRC32C, as lower-case hex.
//! Whole-file results are cached in state_dir, so a repeated CKSM of a 100 GB file answers
//! at once. The key is the file's `Stamp`: device, inode, size, mtime *and ctime* (both
//! with nanoseconds). Several replicas may write one data directory (a shared file system,
//! docs/decisions/0005-shared-storage.md), so the key must change whenever the content can
//! have: ctime cannot be set by clients (MFMT, `touch -d`, `cp -p` restore an old mtime, but
//! every write, rename and utimensat moves ctime to "now"). Timestamps are only as fine as the
//! file system's clock (a jiffy, or a whole second on NFSv3 and older file systems), and an
//! inode number freed by a replaced file is often handed to the next one, so a file is only
//! cached once its ctime is at least [`SETTLE`] old ("racy git"): any later file or change
//! then carries a later ctime and so another key.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::Digest;

/// Read size while hashing.
const CHUNK: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Adler32,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Crc32c,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Adler32,
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Crc32c,
    ];

    /// Case-insensitive name as clients send it.
    pub fn parse(name: &str) -> Option<Algorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Adler32 => "ADLER32",
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
            Algorithm::Crc32c => "CRC32C",
        }
    }
}

enum State {
    Adler(adler2::Adler32),
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Crc32c(u32),
}

impl State {
    fn new(a: Algorithm) -> State {
        match a {
            Algorithm::Adler32 => State::Adler(adler2::Adler32::new()),
            Algorithm::Md5 => State::Md5(md5::Md5::new()),
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
            Algorithm::Crc32c => State::Crc32c(0),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            State::Adler(s) => s.write_slice(data),
            State::Md5(s) => s.update(data),
            State::Sha1(s) => s.update(data),
            State::Sha256(s) => s.update(data),
            State::Sha512(s) => s.update(data),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
        }
    }

    fn hex(self) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            State::Adler(s) => format!("{:08x}", s.checksum()),
            State::Md5(s) => hex(&s.finalize()),
            State::Sha1(s) => hex(&s.finalize()),
            State::Sha256(s) => hex(&s.finalize()),
            State::Sha512(s) => hex(&s.finalize()),
            State::Crc32c(c) => format!("{c:08x}"),
        }
    }
}

/// Checksum of `len` bytes (all to the end when `None`) of `file` from `offset`.
pub fn compute(
    file: &mut File,
    alg: Algorithm,
    offset: u64,
    len: Option<u64>,
) -> io::Result<String> {
    compute_until(file, alg, offset, len, &AtomicBool::new(false))
}

/// [`compute`] that gives up (`Interrupted`) once `cancel` is set: checksums of huge
/// files must not outlive the client who asked, or delay shutdown.
pub fn compute_until(
    file: &mut File,
    alg: Algorithm,
    offset: u64,
    len: Option<u64>,
    cancel: &AtomicBool,
) -> io::Result<String> {
    file.seek(SeekFrom::Start(offset))?;
    let mut state = State::new(alg);
    let mut buf = vec![0u8; CHUNK];
    let mut left = len.unwrap_or(u64::MAX);
    while left > 0 {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "checksum cancelled",
            ));
        }
        let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        state.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(state.hex())
}

/// How old a file's last change (ctime) must be before its checksum is cached: more than
/// the coarsest timestamp granularity (1 s) plus the clock difference tolerated between a
/// replica and the file server holding the data.
pub const SETTLE: Duration = Duration::from_secs(3);

/// What identifies one version of a file's content, as far as metadata can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(file: &File) -> io::Result<Stamp> {
        let m = file.metadata()?;
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    fn file_name(&self, alg: Algorithm) -> String {
        format!(
            "{}-{:x}-{:x}-{}-{}.{}-{}.{}",
            alg.name(),
            self.dev,
            self.ino,
            self.size,
            self.mtime.0,
            self.mtime.1,
            self.ctime.0,
            self.ctime.1
        )
    }

    /// True when the last change is at least [`SETTLE`] before `now`, so that no later
    /// change (by this process or another replica) can share this stamp.
    fn settled(&self, now: SystemTime) -> bool {
        let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let (secs, nanos) = self.ctime;
        let Some(ctime) = u64::try_from(secs)
            .ok()
            .map(|s| Duration::new(s, u32::try_from(nanos).unwrap_or(0)))
        else {
            return false;
        };
        since_epoch
            .checked_sub(ctime)
            .is_some_and(|age| age >= SETTLE)
    }
}

/// Whole-file checksums remembered in a directory, one small file per (alg, `Stamp`).
#[derive(Debug, Clone)]
pub struct ChecksumCache {
    dir: PathBuf,
    /// The wall clock; tests move it forward instead of waiting for [`SETTLE`].
    clock: fn() -> SystemTime,
}

impl ChecksumCache {
    pub fn new(state_dir: &Path) -> ChecksumCache {
        ChecksumCache {
            dir: state_dir.join("checksums"),
            clock: SystemTime::now,
        }
    }

    /// The whole-file checksum, from the cache when the file is unchanged.
    pub fn whole_file(&self, file: &mut File, alg: Algorithm) -> io::Result<String> {
        self.whole_file_until(file, alg, &AtomicBool::new(false))
    }

    /// [`ChecksumCache::whole_file`], cancellable like [`compute_until`].
    pub fn whole_file_until(
        &self,
        file: &mut File,
        alg: Algorithm,
        cancel: &AtomicBool,
    ) -> io::Result<String> {
        let stamp = Stamp::of(file)?;
        let key = self.dir.join(stamp.file_name(alg));
        if let Ok(hit) = std::fs::read_to_string(&key) {
            if !hit.is_empty() && hit.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(hit);
            }
        }
        let sum = compute_until(file, alg, 0, None, cancel)?;
        // Only a file that did not change while we read it, and whose last change is old
        // enough that no other version can carry the same stamp.
        if Stamp::of(file)? == stamp && stamp.settled((self.clock)()) {
            self.store(&key, &sum);
        }
        Ok(sum)
    }

    fn store(&self, key: &Path, sum: &str) {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        // A unique temporary name: another replica may share this state directory.
        let tmp = key.with_extension(format!("tmp{:016x}", rand::random::<u64>()));
        if std::fs::write(&tmp, sum).is_ok() && std::fs::rename(&tmp, key).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(data: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        f
    }

    #[test]
    fn known_vectors() {
        let mut f = file(b"Wikipedia");
        // Adler-32 of "Wikipedia" is 0x11E60398 (RFC 1950 example in wide use).
        assert_eq!(
            compute(&mut f, Algorithm::Adler32, 0, None).unwrap(),
            "11e60398"
        );
        let mut f = file(b"abc");
        assert_eq!(
            compute(&mut f, Algorithm::Md5, 0, None).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            compute(&mut f, Algorithm::Sha1, 0, None).unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            compute(&mut f, Algorithm::Sha256, 0, None).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(compute(&mut f, Algorithm::Sha512, 0, None)
            .unwrap()
            .starts_with("ddaf35a193617aba"));
        let mut f = file(b"123456789");
        // CRC-32C check value (RFC 3720 / iSCSI).
        assert_eq!(
            compute(&mut f, Algorithm::Crc32c, 0, None).unwrap(),
            "e3069283"
        );
        let mut empty = file(b"");
        assert_eq!(
            compute(&mut empty, Algorithm::Adler32, 0, None).unwrap(),
            "00000001"
        );
    }

    #[test]
    fn ranges() {
        let mut f = file(b"xxabcyy");
        assert_eq!(
            compute(&mut f, Algorithm::Md5, 2, Some(3)).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            compute(&mut f, Algorithm::Md5, 2, Some(100)).unwrap(),
            compute(&mut f, Algorithm::Md5, 2, None).unwrap()
        );
    }

    #[test]
    fn names() {
        assert_eq!(Algorithm::parse("adler32"), Some(Algorithm::Adler32));
        assert_eq!(Algorithm::parse("CRC32C"), Some(Algorithm::Crc32c));
        assert_eq!(Algorithm::parse("crc32"), None);
    }

    /// A cache whose clock runs an hour ahead: every file counts as settled.
    fn settled_cache(state: &Path) -> ChecksumCache {
        ChecksumCache {
            clock: || SystemTime::now() + Duration::from_secs(3600),
            ..ChecksumCache::new(state)
        }
    }

    fn entries(state: &Path) -> usize {
        std::fs::read_dir(state.join("checksums")).map_or(0, |d| d.count())
    }

    #[test]
    fn cache_hits_and_invalidates_on_write() {
        let state = tempfile::tempdir().unwrap();
        let cache = settled_cache(state.path());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let mut f = File::open(&path).unwrap();
        assert_eq!(
            cache.whole_file(&mut f, Algorithm::Md5).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        // Poison the cache entry: a hit must come from the cache, not from the file.
        let entry = std::fs::read_dir(state.path().join("checksums"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&entry, "00").unwrap();
        assert_eq!(cache.whole_file(&mut f, Algorithm::Md5).unwrap(), "00");
        // A write changes size/mtime: the stale entry is not used.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"abcd").unwrap();
        let mut f = File::open(&path).unwrap();
        assert_eq!(
            cache.whole_file(&mut f, Algorithm::Md5).unwrap(),
            "e2fc714c4727ee9395f324cd2e7f331f"
        );
    }

    /// What another replica (or `cp -p`, MFMT, `touch -d`) can do: new content of the same
    /// size in the same inode, the old mtime put back. Only ctime tells.
    #[test]
    fn a_rewrite_that_restores_size_inode_and_mtime_is_not_served_stale() {
        let state = tempfile::tempdir().unwrap();
        let cache = settled_cache(state.path());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let before = std::fs::metadata(&path).unwrap();
        let mut f = File::open(&path).unwrap();
        assert_eq!(
            cache.whole_file(&mut f, Algorithm::Md5).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(entries(state.path()), 1);
        {
            let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            w.write_all(b"xyz").unwrap();
            w.set_modified(before.modified().unwrap()).unwrap();
        }
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (after.ino(), after.len(), after.mtime(), after.mtime_nsec()),
            (
                before.ino(),
                before.len(),
                before.mtime(),
                before.mtime_nsec()
            )
        );
        let mut f = File::open(&path).unwrap();
        assert_eq!(
            cache.whole_file(&mut f, Algorithm::Md5).unwrap(),
            "d16fb36f0911f878998c136191af705e",
            "stale checksum: ctime is not part of the key"
        );
    }

    /// A file changed within [`SETTLE`] is hashed but not remembered: on a file system with
    /// coarse timestamps the next version (a reused inode, same size, same second) could
    /// carry the very same stamp.
    #[test]
    fn a_recently_changed_file_is_not_cached() {
        let state = tempfile::tempdir().unwrap();
        let cache = ChecksumCache::new(state.path());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let mut f = File::open(&path).unwrap();
        for _ in 0..2 {
            assert_eq!(
                cache.whole_file(&mut f, Algorithm::Md5).unwrap(),
                "900150983cd24fb0d6963f7d28e17f72"
            );
        }
        assert_eq!(entries(state.path()), 0, "a just-written file was cached");
        // Once settled, it is.
        assert_eq!(
            settled_cache(state.path())
                .whole_file(&mut f, Algorithm::Md5)
                .unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(entries(state.path()), 1);
    }

    /// The stamps a 1-second-granularity file system gives two versions written within one
    /// second into a reused inode are equal; the first was never cached (not settled).
    #[test]
    fn equal_stamps_within_the_granularity_are_never_settled() {
        let t = 1_700_000_000;
        let stamp = Stamp {
            dev: 1,
            ino: 12,
            size: 3,
            mtime: (t, 0),
            ctime: (t, 0),
        };
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        let t = t as u64;
        assert!(!stamp.settled(at(t, 900)));
        assert!(!stamp.settled(at(t + 2, 999)));
        assert!(stamp.settled(at(t + 3, 0)));
        // A clock behind the file server's never settles a "future" file.
        assert!(!stamp.settled(at(t - 5, 0)));
        assert!(!Stamp {
            ctime: (-1, 0),
            ..stamp
        }
        .settled(at(t, 0)));
    }
}

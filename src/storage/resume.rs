//! Preparing an upload's temporary file (RFC 3659 §5 REST STREAM, RFC 959 APPE): empty,
//! a claimed part file cut to the restart offset, or a copy of the existing file's first
//! bytes (copy_file_range, so reflink-capable file systems share the blocks).
//!
//! Several replicas may share the data directory (docs/decisions/0005-shared-storage.md):
//! a part file is claimed by renaming it to a fresh temporary name, which POSIX makes
//! atomic, so of two replicas resuming one name exactly one gets it; the other finds no
//! part file and refuses the restart offset (554) unless the final file is long enough.

use std::io::{self, Read, Seek, SeekFrom};

use cap_fs_ext::{DirExt as _, FollowSymlinks, OpenOptionsFollowExt, SystemTimeSpec};
use cap_std::fs::{Dir, MetadataExt as _, OpenOptions, OpenOptionsExt};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::os::unix::fs::MetadataExt as _;

use super::names::{part_name, temp_name};
use super::root::{clear_nonblock, open_regular, Result};
use super::StorageError;

/// A temporary file ready to receive data at `offset`.
pub(super) struct Prepared {
    pub tmp: String,
    pub file: std::fs::File,
    pub offset: u64,
}

/// A new, empty temporary file (Replace).
pub(super) fn fresh(dir: &Dir, name: &str) -> Result<Prepared> {
    let (tmp, file) = create_temp(dir, name)?;
    Ok(Prepared {
        tmp,
        file,
        offset: 0,
    })
}

/// Restart at `n`: the part file if it holds at least `n` bytes, else the final file if
/// it does, else (for `n == 0`) a fresh file.
pub(super) fn resume(dir: &Dir, name: &str, n: u64, final_len: Option<u64>) -> Result<Prepared> {
    if let Some(prepared) = claim_part(dir, name, n)? {
        return Ok(prepared);
    }
    match final_len {
        Some(len) if len >= n => copy_final(dir, name, n),
        _ if n == 0 => fresh(dir, name),
        _ => Err(StorageError::InvalidRestart),
    }
}

/// Append: a copy of the whole final file (never the part file: APPE extends what is
/// visible under the name), or a fresh file if there is none.
pub(super) fn append(dir: &Dir, name: &str, final_len: Option<u64>) -> Result<Prepared> {
    match final_len {
        Some(len) => copy_final(dir, name, len),
        None => fresh(dir, name),
    }
}

/// Creates `.griddock-tmp.<random>.<name>` exclusively (O_EXCL, 0644).
fn create_temp(dir: &Dir, name: &str) -> Result<(String, std::fs::File)> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create_new(true).mode(0o644);
    for _ in 0..4 {
        let tmp = temp_name(name);
        match dir.open_with(&tmp, &opts) {
            Ok(file) => return Ok((tmp, file.into_std())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::AlreadyExists)
}

/// Takes over `.griddock-part.<name>` (renamed to a fresh temp name, so two sessions
/// cannot both claim it) and cuts it to `n` bytes. `None` if there is no usable one.
fn claim_part(dir: &Dir, name: &str, n: u64) -> Result<Option<Prepared>> {
    let Some(part) = part_name(name) else {
        return Ok(None);
    };
    let Ok(meta) = dir.symlink_metadata(&part) else {
        return Ok(None);
    };
    // SECURITY: only a plain, singly linked regular file, as we would have left it: a
    // symlink or hard link planted under the part name must not make us write elsewhere.
    if !meta.is_file() || meta.nlink() != 1 || meta.len() < n {
        return Ok(None);
    }
    // The part file may be days old, and another replica's stale-upload sweep (which
    // cannot see this process's live uploads) judges by mtime alone: make it fresh
    // *before* it appears under a temporary name (the ftruncate in `open_claimed` would
    // too, but only after the rename), so no sweep anywhere removes it under this upload.
    // Not following symlinks: a link swapped in meanwhile is only touched.
    match dir.set_symlink_times(&part, None, Some(SystemTimeSpec::SymbolicNow)) {
        Ok(()) => {}
        // Claimed by another session or replica meanwhile.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let tmp = temp_name(name);
    match dir.rename(&part, dir, &tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    match open_claimed(dir, &tmp, n) {
        Ok(file) => Ok(Some(Prepared {
            tmp,
            file,
            offset: n,
        })),
        Err(e) => {
            // Put it back for a later attempt.
            let _ = dir.rename(&tmp, dir, &part);
            Err(e)
        }
    }
}

/// Opens a claimed part file (never through a symlink, never blocking) and cuts it to `n`.
fn open_claimed(dir: &Dir, tmp: &str, n: u64) -> Result<std::fs::File> {
    let mut opts = OpenOptions::new();
    opts.read(true)
        .write(true)
        .follow(FollowSymlinks::No)
        .custom_flags(OFlags::NONBLOCK.bits() as i32);
    let file = dir.open_with(tmp, &opts)?.into_std();
    let meta = file.metadata()?;
    if !meta.is_file() || meta.nlink() != 1 || meta.len() < n {
        return Err(StorageError::InvalidRestart);
    }
    clear_nonblock(&file)?;
    file.set_len(n)?;
    Ok(file)
}

/// A temporary file holding the final file's first `n` bytes and its permission bits.
fn copy_final(dir: &Dir, name: &str, n: u64) -> Result<Prepared> {
    let src = open_regular(dir, name)?;
    let (tmp, file) = create_temp(dir, name)?;
    match fill(&src, &file, n) {
        Ok(()) => Ok(Prepared {
            tmp,
            file,
            offset: n,
        }),
        Err(e) => {
            let _ = dir.remove_file(&tmp);
            Err(e)
        }
    }
}

fn fill(src: &std::fs::File, dst: &std::fs::File, n: u64) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = src.metadata()?.permissions().mode() & 0o777;
    dst.set_permissions(std::fs::Permissions::from_mode(mode))?;
    copy_prefix(src, dst, n).map_err(|e| match e.kind() {
        // The file shrank under us: the offset is no longer valid.
        io::ErrorKind::UnexpectedEof => StorageError::InvalidRestart,
        _ => StorageError::from_io(e),
    })
}

/// Copies bytes `0..n` of `src` to `dst` at the same offsets: copy_file_range in the
/// kernel (reflink where the file system can), falling back to a userspace copy.
fn copy_prefix(src: &std::fs::File, dst: &std::fs::File, n: u64) -> io::Result<()> {
    let (mut off_in, mut off_out) = (0u64, 0u64);
    while off_in < n {
        let want = usize::try_from(n - off_in)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) | Err(Errno::INTR) => {}
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP | Errno::PERM) => {
                return copy_userspace(src, dst, off_in, n);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn copy_userspace(
    mut src: &std::fs::File,
    mut dst: &std::fs::File,
    from: u64,
    n: u64,
) -> io::Result<()> {
    src.seek(SeekFrom::Start(from))?;
    dst.seek(SeekFrom::Start(from))?;
    let copied = io::copy(&mut src.take(n - from), &mut dst)?;
    if copied != n - from {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn copy_prefix_copies_exactly_n_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i * 31 % 251) as u8).collect();
        let src_path = tmp.path().join("src");
        std::fs::File::create(&src_path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let src = std::fs::File::open(&src_path).unwrap();
        for n in [0u64, 1, 4096, (2 << 20) + 3, data.len() as u64] {
            let dst_path = tmp.path().join(format!("dst{n}"));
            let dst = std::fs::File::create(&dst_path).unwrap();
            copy_prefix(&src, &dst, n).unwrap();
            assert_eq!(std::fs::read(&dst_path).unwrap(), &data[..n as usize]);
            let dst2 = std::fs::File::create(tmp.path().join(format!("u{n}"))).unwrap();
            copy_userspace(&src, &dst2, 0, n).unwrap();
            assert_eq!(dst2.metadata().unwrap().len(), n);
        }
        let dst = std::fs::File::create(tmp.path().join("short")).unwrap();
        let err = copy_prefix(&src, &dst, data.len() as u64 + 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = copy_userspace(&src, &dst, 0, data.len() as u64 + 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}

//! Directory listings: LIST and NLST (RFC 959 §4.1.3; LIST in the de-facto `ls -l`
//! format clients parse), MLSD and MLST (RFC 3659 §7) with OPTS MLST fact selection.

use std::time::SystemTime;

use crate::ftp::data::Job;
use crate::ftp::error::FtpError;
use crate::ftp::mlst_facts::Facts;
use crate::ftp::session::{transfer, Answer, SessionState};
use crate::storage::{DirEntry, FileFacts, FileKind, VPath};
use crate::utc;

/// Output format of a data-connection listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names only.
    Names,
    /// MLSD: RFC 3659 fact lines.
    Machine,
}

impl SessionState {
    pub(crate) async fn cmd_list(
        &mut self,
        arg: Option<String>,
        format: Format,
    ) -> Result<Answer, FtpError> {
        self.transfer_preconditions()?;
        let path = self.login.resolve(arg.as_deref().unwrap_or("."))?;
        let (facts, writable) = (self.params.mlst_facts, self.login.can_write());
        let p = path.clone();
        let entries = self.fs(move |root| entries_of(root, &p)).await?;
        let now = SystemTime::now();
        let mut out = String::new();
        for e in &entries {
            match format {
                Format::Long => out.push_str(&long_line(&e.name, &e.facts, now)),
                Format::Names => out.push_str(&e.name),
                Format::Machine => out.push_str(&mlsx_line(&e.name, &e.facts, facts, writable)),
            }
            out.push_str("\r\n");
        }
        let verb = match format {
            Format::Long => "LIST",
            Format::Names => "NLST",
            Format::Machine => "MLSD",
        };
        let job = Job::Listing(out.into_bytes());
        let opening = "Here comes the directory listing.".to_string();
        Ok(transfer(verb, path.to_string(), None, job, opening))
    }

    pub(crate) async fn cmd_mlst(&mut self, arg: Option<String>) -> Result<Answer, FtpError> {
        let path = self.login.resolve(arg.as_deref().unwrap_or("."))?;
        let p = path.clone();
        let facts = self.fs(move |root| root.stat(&p)).await?;
        let line = format!(
            " {}",
            mlsx_line(
                path.as_str(),
                &facts,
                self.params.mlst_facts,
                self.login.can_write()
            )
        );
        let reply =
            crate::ftp::control::Reply::multi(250, format!("Listing {path}"), vec![line], "End.");
        Ok(reply.into())
    }
}

/// A directory's entries, or a single entry when `p` names a file.
fn entries_of(
    root: &crate::storage::DataRoot,
    p: &VPath,
) -> Result<Vec<DirEntry>, crate::storage::StorageError> {
    let facts = root.stat(p)?;
    if facts.kind == FileKind::Dir {
        return root.list(p);
    }
    let name = p.file_name().unwrap_or("/").to_string();
    Ok(vec![DirEntry { name, facts }])
}

/// One `ls -l` line: `-rw-r--r--   1 ftp      ftp          1234 Jan 02 03:04 name`.
pub fn long_line(name: &str, f: &FileFacts, now: SystemTime) -> String {
    let kind = match f.kind {
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::File | FileKind::Other => '-',
    };
    format!(
        "{kind}{} {:>3} ftp      ftp      {:>12} {} {name}",
        perm_string(f.mode),
        f.nlink,
        f.size,
        ls_date(f.mtime, now)
    )
}

fn perm_string(mode: u32) -> String {
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o40, 'r'),
        (0o20, 'w'),
        (0o10, 'x'),
        (0o4, 'r'),
        (0o2, 'w'),
        (0o1, 'x'),
    ];
    bits.iter()
        .map(|(b, c)| if mode & b != 0 { *c } else { '-' })
        .collect()
}

/// `Mon DD HH:MM` for the last six months, `Mon DD  YYYY` otherwise or when in the future
/// (more than an hour ahead, for clock skew), as `ls` does. Total: see [`utc`].
fn ls_date(t: SystemTime, now: SystemTime) -> String {
    const HALF_YEAR: i64 = 182 * 24 * 3600;
    let dt = utc::datetime(t);
    let age = utc::unix_seconds(now).saturating_sub(utc::unix_seconds(t));
    let recent = (-3600..HALF_YEAR).contains(&age);
    let month = &format!("{}", dt.month())[..3];
    if recent {
        format!(
            "{month} {:>2} {:02}:{:02}",
            dt.day(),
            dt.hour(),
            dt.minute()
        )
    } else {
        format!("{month} {:>2}  {:04}", dt.day(), dt.year())
    }
}

/// RFC 3659 §2.3 time-val in UTC: `YYYYMMDDHHMMSS`, clamped to years 0000..=9999 (see
/// [`utc`]).
pub fn timeval(t: SystemTime) -> String {
    let dt = utc::datetime(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// One MLSD line / MLST fact line: `fact=value;…; name` (RFC 3659 §7.2).
pub fn mlsx_line(name: &str, f: &FileFacts, sel: Facts, writable: bool) -> String {
    let mut out = String::new();
    let kind = match f.kind {
        FileKind::Dir => "dir",
        FileKind::File => "file",
        FileKind::Symlink => "OS.unix=slink",
        FileKind::Other => "OS.unix=other",
    };
    let perm = match (f.kind, writable) {
        (FileKind::Dir, true) => "flcdmpe",
        (FileKind::Dir, false) => "el",
        (_, true) => "adfrw",
        (_, false) => "r",
    };
    let values = [
        kind.to_string(),
        f.size.to_string(),
        timeval(f.mtime),
        perm.to_string(),
        format!("{:04o}", f.mode & 0o7777),
        f.uid.to_string(),
        f.gid.to_string(),
        format!("{:x}-{:x}", f.dev, f.ino),
    ];
    for ((fact, on), value) in sel.each().zip(values) {
        if on {
            out.push_str(&format!("{fact}={value};"));
        }
    }
    out.push(' ');
    out.push_str(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn facts(kind: FileKind) -> FileFacts {
        FileFacts {
            kind,
            size: 1234,
            mtime: UNIX_EPOCH + Duration::from_secs(1_704_164_645),
            mode: 0o644,
            uid: 1000,
            gid: 100,
            dev: 0x801,
            ino: 0xabc,
            nlink: 1,
        }
    }

    #[test]
    fn timeval_is_utc() {
        assert_eq!(
            timeval(UNIX_EPOCH + Duration::from_secs(1_704_164_645)),
            "20240102030405"
        );
    }

    #[test]
    fn ls_line_old_and_recent() {
        let f = facts(FileKind::File);
        let now = UNIX_EPOCH + Duration::from_secs(1_704_164_645 + 3600);
        assert_eq!(
            long_line("a b", &f, now),
            "-rw-r--r--   1 ftp      ftp              1234 Jan  2 03:04 a b"
        );
        let later = now + Duration::from_secs(400 * 24 * 3600);
        assert!(long_line("x", &f, later).contains("Jan  2  2024 x"));
        assert!(long_line("d", &facts(FileKind::Dir), now).starts_with("drw-r--r--"));
    }

    #[test]
    fn mlsd_lines() {
        let f = facts(FileKind::File);
        assert_eq!(
            mlsx_line("f", &f, Facts::default(), false),
            "type=file;size=1234;modify=20240102030405;perm=r;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=100;unique=801-abc; f"
        );
        let sel = Facts::select(&["Type".into(), "size".into()]);
        assert_eq!(
            mlsx_line("d", &facts(FileKind::Dir), sel, true),
            "type=dir;size=1234; d"
        );
        assert_eq!(sel.selected(), "type;size;");
        assert!(Facts::default()
            .feat_line()
            .starts_with("type*;size*;modify*;"));
    }

    /// No file metadata reaches a panic: every mtime at and around every edge, through
    /// every formatter a client can reach (MDTM/MFMT time-val, MLST/MLSD facts, LIST and
    /// STAT long lines), against a `now` that is itself extreme.
    #[test]
    fn every_formatter_is_total_over_extreme_mtimes() {
        let extremes = crate::utc::tests::extremes();
        for &t in &extremes {
            let f = FileFacts {
                mtime: t,
                ..facts(FileKind::File)
            };
            let tv = timeval(t);
            assert!(
                tv.len() == 14 && tv.bytes().all(|b| b.is_ascii_digit()),
                "{tv}"
            );
            let line = mlsx_line("f", &f, Facts::default(), true);
            assert!(line.contains(&format!("modify={tv};")), "{line}");
            for &now in &extremes {
                let long = long_line("f", &f, now);
                assert!(long.ends_with(" f") && long.len() < 80, "{long}");
            }
        }
        let far = UNIX_EPOCH + Duration::from_secs(1 << 62);
        assert_eq!(timeval(far), "99991231235959");
        assert_eq!(
            timeval(UNIX_EPOCH - Duration::from_secs(1 << 62)),
            "00000101000000"
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_704_164_645);
        let f = FileFacts {
            mtime: far,
            ..facts(FileKind::File)
        };
        assert!(long_line("x", &f, now).contains("Dec 31  9999 x"));
        assert_eq!(
            timeval(UNIX_EPOCH - Duration::from_secs(2_208_988_800)),
            "19000101000000"
        );
    }
}

//! The grid-mapfile (Globus gss_assist gridmap format): `"<DN>" account[,account…]` per
//! line, DNs quoted (with `\` escapes) or bare when they have no spaces, `#` comments.
//! DNs compare case-insensitively. Reloaded when the file changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::{info, warn};

/// DN (lower-cased) → accounts, first = default for `:globus-mapping:`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MapTable {
    entries: HashMap<String, Vec<String>>,
}

impl MapTable {
    /// Parses the file; malformed lines are skipped and reported by number.
    pub fn parse(text: &str) -> (MapTable, Vec<usize>) {
        let mut table = MapTable::default();
        let mut bad = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Some((dn, accounts)) => table
                    .entries
                    .entry(dn.to_lowercase())
                    .or_default()
                    .extend(accounts),
                None => bad.push(n + 1),
            }
        }
        (table, bad)
    }

    /// The accounts `dn` may use, in file order.
    pub fn accounts(&self, dn: &str) -> &[String] {
        self.entries
            .get(&dn.to_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn parse_line(line: &str) -> Option<(String, Vec<String>)> {
    let (dn, rest) = if let Some(quoted) = line.strip_prefix('"') {
        let mut dn = String::new();
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => dn.push(chars.next()?.1),
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => dn.push(c),
            }
        }
        (dn, &quoted[end?..])
    } else {
        let (dn, rest) = line.split_once(char::is_whitespace)?;
        (dn.to_string(), rest)
    };
    let accounts: Vec<String> = rest
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    let valid = |a: &String| {
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    };
    if dn.is_empty() || accounts.is_empty() || !accounts.iter().all(valid) {
        return None;
    }
    Some((dn, accounts))
}

/// What identifies a version of the file on disk: mtime, size, inode.
type FileStamp = (SystemTime, u64, u64);

/// The grid-mapfile on disk, reread when its modification time changes.
pub struct GridMap {
    path: PathBuf,
    /// (mtime, size, inode) of the loaded file — any change means reload (coarse mtimes
    /// alone can miss an edit within the same second) — and the table.
    state: Mutex<(Option<FileStamp>, Arc<MapTable>)>,
}

impl GridMap {
    pub fn open(path: &Path) -> GridMap {
        let map = GridMap {
            path: path.to_path_buf(),
            state: Mutex::new((None, Arc::new(MapTable::default()))),
        };
        map.table();
        map
    }

    pub fn table(&self) -> Arc<MapTable> {
        let Ok(mut state) = self.state.lock() else {
            return Arc::new(MapTable::default());
        };
        let mtime = std::fs::metadata(&self.path).ok().and_then(|m| {
            use std::os::unix::fs::MetadataExt;
            m.modified().ok().map(|t| (t, m.len(), m.ino()))
        });
        if mtime.is_some() && mtime != state.0 {
            match std::fs::read_to_string(&self.path) {
                Ok(text) => {
                    let (table, bad) = MapTable::parse(&text);
                    if !bad.is_empty() {
                        warn!(path = %self.path.display(), lines = ?bad, "grid-mapfile: malformed lines skipped");
                    }
                    info!(path = %self.path.display(), dns = table.len(), "grid-mapfile loaded");
                    *state = (mtime, Arc::new(table));
                }
                Err(e) => {
                    warn!(path = %self.path.display(), error = %e, "grid-mapfile unreadable; keeping the last one")
                }
            }
        }
        Arc::clone(&state.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_escaped_bare_comments_and_several_accounts() {
        let text = r#"
# comment
"/O=Test/OU=griddock/CN=Test User" alice
"/DC=ch/DC=cern/CN=Jane \"JD\" Doe" atlas001,atlas002
/O=Bare/CN=nospace bob
"/O=Test/CN=Twice" carol
"/o=test/cn=twice" dave
"/O=Broken/CN=no close quote alice
"/O=NoAccount/CN=x"
"/O=Bad/CN=y" ../etc
"#;
        let (t, bad) = MapTable::parse(text);
        assert_eq!(t.accounts("/O=Test/OU=griddock/CN=Test User"), ["alice"]);
        assert_eq!(t.accounts("/o=test/ou=GRIDDOCK/cn=test user"), ["alice"]);
        assert_eq!(
            t.accounts("/DC=ch/DC=cern/CN=Jane \"JD\" Doe"),
            ["atlas001", "atlas002"]
        );
        assert_eq!(t.accounts("/O=Bare/CN=nospace"), ["bob"]);
        assert_eq!(t.accounts("/O=Test/CN=Twice"), ["carol", "dave"]);
        assert!(t.accounts("/O=Unknown").is_empty());
        assert_eq!(bad, vec![8, 9, 10]);
    }
}

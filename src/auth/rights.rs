//! Path-scoped rights shared by bearer credentials (WLCG Common JWT Profile §"Capability-based
//! authorization", storage.* scopes; macaroon `path:`/`activity:` caveats): what a request
//! does ([`Activity`]), what a credential grants ([`Right`]), and the one component-wise path
//! matcher both use. Paths are absolute server paths (the URL path space of the data
//! endpoint), normalised with RFC 3986 §5.2.4 dot-segment removal.

use std::fmt;

/// What a request does to one path. The HTTP layer maps its verbs onto these:
///
/// | activity | WebDAV request |
/// |---|---|
/// | `Stat` | HEAD, PROPFIND `Depth: 0`, OPTIONS |
/// | `Read` | GET (file content) |
/// | `List` | PROPFIND `Depth: 1` on a collection |
/// | `Create` | PUT of a file that does not exist yet; MOVE/COPY destination that is free |
/// | `MakeDir` | MKCOL (also of each missing parent, as `gfal-mkdir -p` does) |
/// | `Overwrite` | PUT over an existing file; MOVE/COPY onto an existing name |
/// | `Delete` | DELETE |
/// | `Rename` | MOVE, checked on the source (the destination needs `Create` or `Overwrite`) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Activity {
    Stat,
    Read,
    List,
    Create,
    MakeDir,
    Overwrite,
    Delete,
    Rename,
}

impl Activity {
    pub const ALL: [Activity; 8] = [
        Activity::Stat,
        Activity::Read,
        Activity::List,
        Activity::Create,
        Activity::MakeDir,
        Activity::Overwrite,
        Activity::Delete,
        Activity::Rename,
    ];

    /// Activities that only ever apply to a directory (its own path, not below it).
    fn is_directory_op(self) -> bool {
        matches!(self, Activity::Stat | Activity::List | Activity::MakeDir)
    }

    /// Activities that change the namespace or content.
    pub fn is_write(self) -> bool {
        !matches!(self, Activity::Stat | Activity::Read | Activity::List)
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One granted activity on a subtree: `path` itself and everything below it, compared
/// component by component (`/foo` covers `/foo/bar`, never `/foobar`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Right {
    pub activity: Activity,
    /// Absolute, normalised server path.
    pub path: String,
    /// The scope ended in `/` (WLCG profile: "directory only"): the right covers what is
    /// below `path`, and `path` itself only for directory activities (stat, list, mkdir).
    pub dir_only: bool,
    /// Also grants this activity on the ancestors of `path` down from this directory (the
    /// profile's `storage.create:/foo/bar` allows `mkdir /foo`; the floor is the issuer's
    /// `base_path`); only used for `MakeDir` and `Stat`.
    pub ancestors_from: Option<String>,
}

impl Right {
    pub fn new(activity: Activity, path: String) -> Right {
        Right {
            activity,
            path,
            dir_only: false,
            ancestors_from: None,
        }
    }

    /// Whether this right allows `activity` on the normalised absolute `path`.
    pub fn allows(&self, activity: Activity, path: &str) -> bool {
        if activity != self.activity {
            return false;
        }
        if path == self.path {
            // SECURITY: a directory-only scope (`/foo/`) grants no file operation on the
            // name `/foo` itself.
            return !self.dir_only || activity.is_directory_op();
        }
        // SECURITY: whole components only: `/foo` covers `/foo/bar`, not `/foobar`.
        if is_below(path, &self.path) {
            return true;
        }
        // SECURITY: ancestors only down to the floor (base_path), never above it.
        self.ancestors_from
            .as_deref()
            .is_some_and(|floor| is_below(&self.path, path) && is_within(path, floor))
    }

    /// Whether this right covers `activity` on `path` and on everything below it (what a
    /// delegated credential for `path` may carry).
    pub fn covers_subtree(&self, activity: Activity, path: &str) -> bool {
        activity == self.activity
            && (is_below(path, &self.path) || (path == self.path && !self.dir_only))
    }
}

/// Whether any right allows `activity` on `server_path` (normalised here first).
pub fn any_allows(rights: &[Right], activity: Activity, server_path: &str) -> bool {
    let Some(path) = normalise_request_path(server_path) else {
        return false;
    };
    rights.iter().any(|r| r.allows(activity, &path))
}

/// `path` is strictly below `dir` (both normalised); `/` is above everything.
pub fn is_below(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path != "/";
    }
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// `path` equals `dir` or is below it.
pub fn is_within(path: &str, dir: &str) -> bool {
    path == dir || is_below(path, dir)
}

/// A request path as the HTTP layer decoded it, normalised: `//` and `.` dropped, `..`
/// removed against the preceding component and never above `/` (RFC 3986 §5.2.4), no
/// trailing `/`. `None` for a relative path or one with a NUL byte.
pub fn normalise_request_path(path: &str) -> Option<String> {
    // SECURITY: a NUL would truncate the path below us; relative paths have no meaning.
    if !path.starts_with('/') || path.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(join_components(&parts))
}

/// A path from a credential or the configuration: like a request path, but `..` is refused
/// outright (a scope must not climb out of its base path by construction).
pub fn normalise_grant_path(path: &str) -> Option<String> {
    // SECURITY: a scope path with `..` is refused, not resolved.
    if path.split('/').any(|p| p == "..") {
        return None;
    }
    normalise_request_path(path)
}

/// `base` (normalised, absolute) joined with a normalised absolute `relative`.
pub fn join(base: &str, relative: &str) -> String {
    match (base, relative) {
        ("/", r) => r.to_string(),
        (b, "/") => b.to_string(),
        (b, r) => format!("{b}{r}"),
    }
}

fn join_components(parts: &[&str]) -> String {
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    out
}

/// The authority of an authenticated caller (an account from a password or X.509 login, or a
/// bearer credential): what a macaroon minted for it may at most carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who the caller acts as (account name, DN, or `sub@iss` of a token).
    pub identity: String,
    pub rights: Vec<Right>,
    /// When the caller's own credential ends (proxy or token expiry), if it does.
    pub expires: Option<time::OffsetDateTime>,
}

impl Grant {
    /// An account whose root is the server path `root` (read, list and stat; everything
    /// else too when `can_write`).
    pub fn account(identity: &str, root: &str, can_write: bool) -> Grant {
        let root = normalise_grant_path(root).unwrap_or_else(|| "/".into());
        let rights = Activity::ALL
            .into_iter()
            .filter(|a| can_write || !a.is_write())
            .map(|a| Right::new(a, root.clone()))
            .collect();
        Grant {
            identity: identity.to_string(),
            rights,
            expires: None,
        }
    }

    pub fn allows(&self, activity: Activity, server_path: &str) -> bool {
        any_allows(&self.rights, activity, server_path)
    }

    /// Whether the grant covers `activity` on the whole subtree at normalised `path`.
    pub fn covers_subtree(&self, activity: Activity, path: &str) -> bool {
        self.rights.iter().any(|r| r.covers_subtree(activity, path))
    }
}

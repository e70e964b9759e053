//! WLCG Common JWT Profile v1.0 §"Capability-based Authorization: scope" — the `storage.*`
//! scopes turned into [`Right`]s on server paths:
//!
//! | scope | activities on the path and below |
//! |---|---|
//! | `storage.read:P` | stat, read, list |
//! | `storage.create:P` | stat, create, mkdir (also mkdir and stat of P's ancestors, as the profile's `create:/foo/bar` allows `mkdir /foo`); never overwrite, delete or rename |
//! | `storage.modify:P` | everything `create` gives, plus overwrite, delete, rename (no read: the profile keeps them apart) |
//! | `storage.stage:P`, `storage.poll:P` | stat only (griddock has no tape; the profile says stage no longer implies read) |
//!
//! `P` is relative to the issuer's `base_path`. A scope without a path means `/` (older
//! profile text and XRootD; the current profile asks for a path). A `P` containing `..`
//! grants nothing. Other scopes (`openid`, `offline_access`, `compute.*`, …) are ignored.

use crate::auth::rights::{join, normalise_grant_path, Activity, Right};

/// The rights in a space-separated `scope` claim, with paths joined to `base_path`
/// (normalised, absolute).
pub fn parse_scopes(scope: &str, base_path: &str) -> Vec<Right> {
    let mut rights = Vec::new();
    for item in scope.split(' ').filter(|s| !s.is_empty()) {
        rights.extend(parse_scope(item, base_path));
    }
    rights
}

fn parse_scope(item: &str, base_path: &str) -> Vec<Right> {
    let (name, path) = match item.split_once(':') {
        Some((n, p)) => (n, p),
        None => (item, "/"),
    };
    let activities: &[Activity] = match name {
        "storage.read" => &[Activity::Stat, Activity::Read, Activity::List],
        "storage.create" => &[Activity::Stat, Activity::Create, Activity::MakeDir],
        "storage.modify" => &[
            Activity::Stat,
            Activity::Create,
            Activity::MakeDir,
            Activity::Overwrite,
            Activity::Delete,
            Activity::Rename,
        ],
        "storage.stage" | "storage.poll" => &[Activity::Stat],
        _ => return Vec::new(),
    };
    let Some(relative) = scope_path(path) else {
        return Vec::new();
    };
    let dir_only = path.len() > 1 && path.ends_with('/');
    let server_path = join(base_path, &relative);
    let creates = name != "storage.read";
    activities
        .iter()
        .map(|&activity| Right {
            activity,
            path: server_path.clone(),
            dir_only,
            ancestors_from: (creates && matches!(activity, Activity::MakeDir | Activity::Stat))
                .then(|| base_path.to_string()),
        })
        .collect()
}

/// The normalised scope path; `None` for one that is relative, empty after the colon in a
/// way that is not `/`, or climbs with `..`.
fn scope_path(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("/".into());
    }
    normalise_grant_path(path)
}

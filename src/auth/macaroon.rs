//! Macaroons griddock issues itself (Birgisson et al., "Macaroons", NDSS 2014), as dCache's
//! and XRootD's WebDAV doors do for gfal2 and FTS: a caller authenticated some other way
//! POSTs `application/macaroon-request` `{"caveats": ["activity:DOWNLOAD,LIST"],
//! "validity": "PT60M"}` and gets a bearer capability for one path. Wire format: [`v2`]
//! (libmacaroons V2, base64url). Key: 32 random bytes in `state_dir/macaroon.key` (0600).
//!
//! First-party caveats griddock writes and accepts (any other caveat ⇒ the macaroon is
//! invalid): `name:<identity>` (exactly one), `root:<server path>` (at most one: the
//! minter's URL paths were relative to it), `path:<absolute server path>`,
//! `activity:<A>[,<A>…]`, `before:<RFC 3339>`. Repeated `path`, `activity` and `before`
//! caveats (a holder may append them) intersect; none can widen what the minter wrote.
//!
//! Activities (dCache / XRootD names, what gfal2 asks for) → [`Activity`]; each also
//! allows `Stat`: `DOWNLOAD` → Read; `LIST` → List; `READ_METADATA` → Stat; `UPLOAD` →
//! Create; `MANAGE` → MakeDir and Stat also of the path's parent collection (gfal2's mkdir
//! asks for `<dir>/gfal2_mkdir.reserved`, then MKCOLs `<dir>`; minted only if the caller
//! may do that itself), Rename; `DELETE` → Delete, Overwrite (replacing a file
//! destroys the old one); `UPDATE_METADATA` → nothing else (griddock has no chmod over HTTP).

pub mod request;
pub mod v2;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::rights::{any_allows, normalise_grant_path, Activity, Grant, Right};

pub const KEY_FILE: &str = "macaroon.key";
const KEY_LEN: usize = 32;

/// The activity names of a macaroon request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MacaroonActivity {
    Download,
    Upload,
    Delete,
    Manage,
    List,
    ReadMetadata,
    UpdateMetadata,
}

impl MacaroonActivity {
    pub fn parse(name: &str) -> Option<MacaroonActivity> {
        Some(match name {
            "DOWNLOAD" => MacaroonActivity::Download,
            "UPLOAD" => MacaroonActivity::Upload,
            "DELETE" => MacaroonActivity::Delete,
            "MANAGE" => MacaroonActivity::Manage,
            "LIST" => MacaroonActivity::List,
            "READ_METADATA" => MacaroonActivity::ReadMetadata,
            "UPDATE_METADATA" => MacaroonActivity::UpdateMetadata,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MacaroonActivity::Download => "DOWNLOAD",
            MacaroonActivity::Upload => "UPLOAD",
            MacaroonActivity::Delete => "DELETE",
            MacaroonActivity::Manage => "MANAGE",
            MacaroonActivity::List => "LIST",
            MacaroonActivity::ReadMetadata => "READ_METADATA",
            MacaroonActivity::UpdateMetadata => "UPDATE_METADATA",
        }
    }

    /// The request activities this allows (always including `Stat`).
    pub fn activities(self) -> &'static [Activity] {
        use Activity::*;
        match self {
            MacaroonActivity::Download => &[Stat, Read],
            MacaroonActivity::List => &[Stat, List],
            MacaroonActivity::ReadMetadata | MacaroonActivity::UpdateMetadata => &[Stat],
            MacaroonActivity::Upload => &[Stat, Create],
            MacaroonActivity::Manage => &[Stat, MakeDir, Rename],
            MacaroonActivity::Delete => &[Stat, Delete, Overwrite],
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MacaroonError {
    /// Not a macaroon of ours, tampered, expired or with a caveat we do not know (→ 401).
    #[error("invalid macaroon: {0}")]
    Invalid(&'static str),
    /// The caller may not delegate this (→ 403).
    #[error("cannot issue that macaroon: {0}")]
    NotAllowed(&'static str),
    #[error("macaroon key {path}: {reason}")]
    Key { path: String, reason: String },
}

/// What a valid macaroon grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacaroonGrant {
    /// The identity the minter acted as (`name:` caveat).
    pub identity: String,
    /// Hex of the random identifier (for logs; not secret).
    pub id: String,
    pub rights: Vec<Right>,
    pub expires: OffsetDateTime,
    /// The server path the minter's URL paths were relative to (`root:` caveat; an
    /// account whose root is not the whole data directory), so the holder uses the same
    /// URLs. Rights stay on server paths, so a root never widens them.
    pub root: Option<String>,
}

impl MacaroonGrant {
    pub fn allows(&self, activity: Activity, server_path: &str) -> bool {
        any_allows(&self.rights, activity, server_path)
    }
}

/// Mints and verifies griddock's macaroons with one persistent key.
pub struct Minter {
    key: hmac::Key,
    max_validity: Duration,
    location: String,
}

impl Minter {
    /// Loads `state_dir/macaroon.key`, creating it (32 random bytes, mode 0600) on first start.
    pub fn load_or_create(
        state_dir: &Path,
        max_validity: Duration,
        location: &str,
    ) -> Result<Minter, MacaroonError> {
        let path = state_dir.join(KEY_FILE);
        let err = |reason: String| MacaroonError::Key {
            path: path.display().to_string(),
            reason,
        };
        let key = match std::fs::read(&path) {
            Ok(k) if k.len() == KEY_LEN => k,
            Ok(_) => return Err(err(format!("must hold exactly {KEY_LEN} bytes"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_key(&path).map_err(|e| err(e.to_string()))?
            }
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Minter::from_key(&key, max_validity, location))
    }

    pub fn from_key(key: &[u8], max_validity: Duration, location: &str) -> Minter {
        Minter {
            key: v2::derive_key(key),
            max_validity,
            location: location.to_string(),
        }
    }

    /// A macaroon for `path` (a normalised absolute server path) and `activities`,
    /// valid for `validity` from `now`, never more than `caller` holds: activities the
    /// caller lacks on the whole subtree are dropped (none left ⇒ `NotAllowed`), and the
    /// expiry is capped by the configured maximum and by the caller's own.
    pub fn mint(
        &self,
        caller: &Grant,
        path: &str,
        activities: &[MacaroonActivity],
        validity: Duration,
        now: OffsetDateTime,
    ) -> Result<String, MacaroonError> {
        self.mint_rooted(caller, "/", path, activities, validity, now)
    }

    /// [`Self::mint`] for a caller whose URL paths are relative to the server path `root`
    /// (written as a `root:` caveat unless it is `/`).
    pub fn mint_rooted(
        &self,
        caller: &Grant,
        root: &str,
        path: &str,
        activities: &[MacaroonActivity],
        validity: Duration,
        now: OffsetDateTime,
    ) -> Result<String, MacaroonError> {
        let root = normalise_grant_path(root).ok_or(MacaroonError::NotAllowed("bad root"))?;
        let path = normalise_grant_path(path).ok_or(MacaroonError::NotAllowed("bad path"))?;
        if caller.identity.is_empty() || caller.identity.chars().any(char::is_control) {
            return Err(MacaroonError::NotAllowed("caller has no usable identity"));
        }
        // SECURITY: delegate only what the caller itself holds on the whole subtree; MANAGE
        // also makes the path's parent collection (see `Caveats::into_grant`), so the
        // caller must be allowed to make that too.
        let parent = parent_of(&path);
        let mut granted: Vec<MacaroonActivity> = activities
            .iter()
            .copied()
            .filter(|a| {
                a.activities()
                    .iter()
                    .all(|&x| caller.covers_subtree(x, &path))
                    && (*a != MacaroonActivity::Manage
                        || parent.as_deref().is_none_or(|p| {
                            caller.allows(Activity::MakeDir, p) && caller.allows(Activity::Stat, p)
                        }))
            })
            .collect();
        granted.sort();
        granted.dedup();
        if granted.is_empty() {
            return Err(MacaroonError::NotAllowed(
                "caller holds none of those activities there",
            ));
        }
        let before = self.expiry(caller, validity, now)?;
        let names: Vec<&str> = granted.iter().map(|a| a.name()).collect();
        let mut caveats = vec![
            format!("name:{}", caller.identity),
            format!("path:{path}"),
            format!("activity:{}", names.join(",")),
            format!("before:{}", format_time(before)?),
        ];
        if root != "/" {
            caveats.push(format!("root:{root}"));
        }
        Ok(v2::encode(&self.sign(
            caveats.into_iter().map(String::into_bytes).collect(),
        )))
    }

    fn expiry(
        &self,
        caller: &Grant,
        validity: Duration,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, MacaroonError> {
        // SECURITY: never outlive the configured maximum or the caller's own credential.
        let mut before = now + validity.min(self.max_validity);
        if let Some(limit) = caller.expires {
            before = before.min(limit);
        }
        if before <= now {
            return Err(MacaroonError::NotAllowed("caller's credential has expired"));
        }
        Ok(before)
    }

    fn sign(&self, caveats: Vec<Vec<u8>>) -> v2::Macaroon {
        let mut id = [0u8; 16];
        // SystemRandom only fails when the OS has no randomness; then every id is zero
        // but the macaroon stays as safe as its key.
        let _ = SystemRandom::new().fill(&mut id);
        let identifier = hex(&id).into_bytes();
        let signature = v2::chain(&self.key, &identifier, &caveats);
        v2::Macaroon {
            location: Some(self.location.clone().into_bytes()),
            identifier,
            caveats,
            signature,
        }
    }

    /// Checks the HMAC chain, then every caveat, then expiry at `now`.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<MacaroonGrant, MacaroonError> {
        let m = v2::decode(token).ok_or(MacaroonError::Invalid("not a macaroon"))?;
        // SECURITY: the signature chain is checked before any caveat is looked at.
        if !v2::verify_chain(&self.key, &m) {
            return Err(MacaroonError::Invalid("bad signature"));
        }
        let caveats = Caveats::parse(&m.caveats)?;
        // SECURITY: expired macaroons are invalid.
        if now >= caveats.before {
            return Err(MacaroonError::Invalid("expired"));
        }
        Ok(caveats.into_grant(String::from_utf8_lossy(&m.identifier).into_owned()))
    }
}

/// The caveats of a verified macaroon, intersected.
struct Caveats {
    identity: String,
    root: Option<String>,
    paths: Vec<String>,
    activities: Option<Vec<MacaroonActivity>>,
    before: OffsetDateTime,
}

impl Caveats {
    fn parse(raw: &[Vec<u8>]) -> Result<Caveats, MacaroonError> {
        let bad = MacaroonError::Invalid;
        let mut identity = None;
        let mut root = None;
        let mut paths = Vec::new();
        let mut activities: Option<Vec<MacaroonActivity>> = None;
        let mut before: Option<OffsetDateTime> = None;
        for c in raw {
            let text = std::str::from_utf8(c).map_err(|_| bad("caveat is not UTF-8"))?;
            let (kind, value) = text.split_once(':').ok_or(bad("malformed caveat"))?;
            match kind {
                "name" if identity.is_none() => identity = Some(value.to_string()),
                // SECURITY: one root at most (a holder cannot re-map the minter's URLs).
                "root" if root.is_none() => {
                    root = Some(normalise_grant_path(value).ok_or(bad("bad root caveat"))?)
                }
                "path" => paths.push(normalise_grant_path(value).ok_or(bad("bad path caveat"))?),
                "activity" => {
                    let these = parse_activities(value).ok_or(bad("bad activity caveat"))?;
                    activities = Some(match activities {
                        None => these,
                        Some(prev) => prev.into_iter().filter(|a| these.contains(a)).collect(),
                    });
                }
                "before" => {
                    let t = OffsetDateTime::parse(value, &Rfc3339)
                        .map_err(|_| bad("bad before caveat"))?;
                    before = Some(before.map_or(t, |b| b.min(t)));
                }
                // SECURITY: a caveat we do not understand makes the macaroon invalid.
                _ => return Err(bad("unknown caveat")),
            }
        }
        match (identity, before) {
            (Some(identity), Some(before)) if !paths.is_empty() => Ok(Caveats {
                identity,
                root,
                paths,
                activities,
                before,
            }),
            _ => Err(bad("missing name, path or before caveat")),
        }
    }

    /// Rights on the deepest path caveat, if every other path caveat contains it (else
    /// the caveats are disjoint and nothing is granted).
    fn into_grant(self, id: String) -> MacaroonGrant {
        let deepest = self
            .paths
            .iter()
            .max_by_key(|p| p.len())
            .cloned()
            .unwrap_or_default();
        let nested = self
            .paths
            .iter()
            .all(|p| crate::auth::rights::is_within(&deepest, p));
        let mut rights = Vec::new();
        if nested {
            for a in self.activities.unwrap_or_default() {
                for &act in a.activities() {
                    let mut right = Right::new(act, deepest.clone());
                    // gfal2 asks for `<dir>/gfal2_mkdir.reserved` and then MKCOLs `<dir>`:
                    // MANAGE on a path also makes its parent collection (one level only;
                    // the minter checked the caller may do that).
                    if a == MacaroonActivity::Manage
                        && matches!(act, Activity::MakeDir | Activity::Stat)
                    {
                        right.ancestors_from = parent_of(&deepest);
                    }
                    rights.push(right);
                }
            }
        }
        rights
            .sort_by(|x, y| (x.activity, &x.ancestors_from).cmp(&(y.activity, &y.ancestors_from)));
        rights.dedup();
        MacaroonGrant {
            identity: self.identity,
            id,
            rights,
            expires: self.before,
            root: self.root,
        }
    }
}

/// The parent of a normalised absolute path (`None` for `/`).
fn parent_of(path: &str) -> Option<String> {
    match path.rfind('/') {
        _ if path == "/" => None,
        Some(0) => Some("/".into()),
        Some(i) => Some(path[..i].to_string()),
        None => None,
    }
}

fn parse_activities(value: &str) -> Option<Vec<MacaroonActivity>> {
    value
        .split(',')
        .map(|a| MacaroonActivity::parse(a.trim()))
        .collect()
}

fn format_time(t: OffsetDateTime) -> Result<String, MacaroonError> {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .map_err(|_| MacaroonError::NotAllowed("expiry out of range"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = vec![0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| std::io::Error::other("no randomness from the OS"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // create_new: two starting servers never overwrite each other's key.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

/// Parses an ISO 8601 duration as gfal2 and dCache write it (`PT60M`, `PT130M`, `P1D`,
/// `PT1H30M`, `PT90S`); no years or months (their length varies).
pub fn parse_validity(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut secs: u64 = 0;
    if !days.is_empty() {
        secs = days
            .strip_suffix('D')?
            .parse::<u64>()
            .ok()?
            .checked_mul(86_400)?;
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return None;
        }
        for (unit, mult) in [('H', 3600u64), ('M', 60), ('S', 1)] {
            if let Some((n, tail)) = t.split_once(unit) {
                secs = secs.checked_add(n.parse::<u64>().ok()?.checked_mul(mult)?)?;
                t = tail;
            }
        }
        if !t.is_empty() {
            return None;
        }
    }
    (secs > 0 || text == "PT0S").then_some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests;

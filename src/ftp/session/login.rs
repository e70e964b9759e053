//! Login state (RFC 959 §4.1.1 USER/PASS, CWD): where the session is in
//! `Connected → AwaitPass → LoggedIn`, who logged in, their confined root and working
//! directory, the failed-login count; and the pending `RNFR` name (RFC 959 §4.1.3), a path
//! in that same tree, kept here rather than in a group of its own. Plain state, no I/O.

use crate::auth::Principal;
use crate::ftp::error::FtpError;
use crate::storage::{DataRoot, VPath};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Connected,
    AwaitPass { user: String },
    LoggedIn,
}

pub(crate) struct Login {
    pub(crate) state: State,
    user: Option<Principal>,
    pub(crate) root: Option<DataRoot>,
    pub(crate) cwd: VPath,
    failures: u32,
    /// `RNFR`: the path the next `RNTO` renames.
    pub(crate) rnfr: Option<VPath>,
}

impl Default for Login {
    fn default() -> Self {
        Self {
            state: State::Connected,
            user: None,
            root: None,
            cwd: VPath::root(),
            failures: 0,
            rnfr: None,
        }
    }
}

impl Login {
    pub(crate) fn is_logged_in(&self) -> bool {
        self.state == State::LoggedIn
    }

    /// A successful login: `principal` works in `root`, starting at its top.
    pub(super) fn logged_in_as(&mut self, principal: Principal, root: DataRoot) {
        self.state = State::LoggedIn;
        self.user = Some(principal);
        self.root = Some(root);
        self.cwd = VPath::root();
    }

    /// The logged-in user's name, `-` before login.
    pub(crate) fn user_name(&self) -> &str {
        self.user.as_ref().map_or("-", |u| u.name.as_str())
    }

    pub(crate) fn can_write(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.can_write)
    }

    /// Counts one failed login; the count so far.
    pub(crate) fn failed(&mut self) -> u32 {
        self.failures += 1;
        self.failures
    }

    /// A client path resolved against the working directory (lexically; confinement is
    /// the `DataRoot`'s job).
    pub(crate) fn resolve(&self, arg: &str) -> Result<VPath, FtpError> {
        Ok(self.cwd.resolve(arg)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(can_write: bool) -> Principal {
        Principal {
            name: "alice".into(),
            root: String::new(),
            can_write,
            anonymous: false,
        }
    }

    #[test]
    fn a_new_login_is_connected_at_the_top_with_no_user() {
        let l = Login::default();
        assert_eq!(l.state, State::Connected);
        assert!(!l.is_logged_in());
        assert_eq!(l.user_name(), "-");
        assert!(!l.can_write());
        assert!(l.root.is_none() && l.rnfr.is_none());
        assert_eq!(l.cwd, VPath::root());
    }

    #[test]
    fn logging_in_sets_user_root_and_resets_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Login {
            state: State::AwaitPass {
                user: "alice".into(),
            },
            cwd: VPath::root().resolve("a/b").unwrap(),
            ..Login::default()
        };
        l.logged_in_as(principal(true), DataRoot::open(dir.path()).unwrap());
        assert!(l.is_logged_in());
        assert_eq!(l.user_name(), "alice");
        assert!(l.can_write());
        assert!(l.root.is_some());
        assert_eq!(l.cwd, VPath::root());
        l.user = Some(principal(false));
        assert!(!l.can_write());
    }

    #[test]
    fn failures_count_up() {
        let mut l = Login::default();
        assert_eq!(l.failed(), 1);
        assert_eq!(l.failed(), 2);
    }

    #[test]
    fn paths_resolve_against_the_working_directory() {
        let l = Login {
            cwd: VPath::root().resolve("pub").unwrap(),
            ..Login::default()
        };
        assert_eq!(l.resolve("f").unwrap().as_str(), "/pub/f");
        assert_eq!(l.resolve("/g").unwrap().as_str(), "/g");
        assert_eq!(l.resolve("..").unwrap().as_str(), "/");
    }
}

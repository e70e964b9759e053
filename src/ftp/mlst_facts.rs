//! The MLST facts a session reports (RFC 3659 §7.5 fact names, §7.8 FEAT `MLST` line and
//! OPTS MLST selection): session state, read by the listing verbs and FEAT. Below both
//! `session` and `commands`.

/// MLST facts in FEAT order; `*` marks the ones currently selected (RFC 3659 §7.8).
const FACT_NAMES: [&str; 8] = [
    "type",
    "size",
    "modify",
    "perm",
    "UNIX.mode",
    "UNIX.uid",
    "UNIX.gid",
    "unique",
];

/// The MLST facts a session asked for with OPTS MLST (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts([bool; 8]);

impl Default for Facts {
    fn default() -> Self {
        Facts([true; 8])
    }
}

impl Facts {
    pub fn select(names: &[String]) -> Facts {
        let mut on = [false; 8];
        for (i, fact) in FACT_NAMES.iter().enumerate() {
            on[i] = names.iter().any(|n| n.eq_ignore_ascii_case(fact));
        }
        Facts(on)
    }

    /// `type*;size*;…` for FEAT.
    pub fn feat_line(&self) -> String {
        FACT_NAMES
            .iter()
            .zip(self.0)
            .map(|(n, on)| {
                if on {
                    format!("{n}*;")
                } else {
                    format!("{n};")
                }
            })
            .collect()
    }

    /// Every fact in FEAT order with whether it is selected.
    pub fn each(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        FACT_NAMES.iter().copied().zip(self.0)
    }

    /// The selected names, for the OPTS MLST reply.
    pub fn selected(&self) -> String {
        FACT_NAMES
            .iter()
            .zip(self.0)
            .filter(|(_, on)| *on)
            .map(|(n, _)| format!("{n};"))
            .collect()
    }
}

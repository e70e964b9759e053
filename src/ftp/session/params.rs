//! Transfer parameters (RFC 959 §4.1.2 TYPE/MODE, RFC 3659 §5 REST and §7.8 OPTS MLST,
//! GFD.20 MODE E, OPTS RETR Parallelism/BlockSize and `REST s-e,…` ranges): how the next
//! transfer moves its data. Plain state, no I/O.

use crate::ftp::control::RetrOpts;
use crate::ftp::mlst_facts::Facts;
use crate::gridftp::ranges::RangeSet;
use crate::storage::UploadMode;

pub(crate) struct TransferParams {
    /// TYPE A (else I).
    pub(crate) ascii: bool,
    /// GridFTP: MODE E (else S), and the parallelism for MODE E sends.
    pub(crate) mode_e: bool,
    pub(super) parallelism: u32,
    /// MODE E block size for sends (OPTS RETR BlockSize).
    pub(super) block_size: u64,
    pub(crate) rest: Option<u64>,
    /// `REST s-e,…` (MODE E): ranges the receiver already has.
    pub(crate) rest_ranges: Option<RangeSet>,
    pub(crate) mlst_facts: Facts,
}

impl Default for TransferParams {
    fn default() -> Self {
        Self {
            ascii: false,
            mode_e: false,
            parallelism: 1,
            block_size: crate::ftp::data::mode_e::DEFAULT_BLOCK,
            rest: None,
            rest_ranges: None,
            mlst_facts: Facts::default(),
        }
    }
}

impl TransferParams {
    /// The TYPE as replies name it.
    pub(crate) fn type_name(&self) -> &'static str {
        if self.ascii {
            "ASCII"
        } else {
            "BINARY"
        }
    }

    /// `REST n`: replaces any range restart.
    pub(crate) fn restart_at(&mut self, offset: u64) {
        self.rest = Some(offset);
        self.rest_ranges = None;
    }

    /// `REST s-e,…`: replaces any offset restart.
    pub(crate) fn restart_ranges(&mut self, have: RangeSet) {
        self.rest = None;
        self.rest_ranges = Some(have);
    }

    /// Forgets both kinds of restart (ESTO carries its own offset).
    pub(crate) fn clear_restart(&mut self) {
        self.rest = None;
        self.rest_ranges = None;
    }

    /// How STOR (or APPE, `append`) writes, consuming the restart it uses.
    pub(crate) fn take_upload_mode(&mut self, append: bool) -> UploadMode {
        match (append, self.rest.take(), self.rest_ranges.take()) {
            (true, _, _) => UploadMode::Append,
            (false, Some(n), _) if n > 0 => UploadMode::Resume(n),
            // MODE E restart: continue the part file up to the end of what the client
            // says we hold; it sends the rest (block offsets stay absolute).
            (false, _, Some(have)) => UploadMode::Resume(have.ranges().last().map_or(0, |r| r.1)),
            (false, _, _) => UploadMode::Replace,
        }
    }

    /// OPTS RETR: what it names changes, the rest stays.
    pub(crate) fn apply_retr_opts(&mut self, o: RetrOpts) {
        if let Some(n) = o.parallelism {
            self.parallelism = n;
        }
        if let Some(b) = o.block_size {
            self.block_size = b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_binary_stream_one_stream_default_block() {
        let p = TransferParams::default();
        assert!(!p.ascii && !p.mode_e);
        assert_eq!(p.type_name(), "BINARY");
        assert_eq!(p.parallelism, 1);
        assert_eq!(p.block_size, crate::ftp::data::mode_e::DEFAULT_BLOCK);
        assert!(p.rest.is_none() && p.rest_ranges.is_none());
        assert_eq!(p.mlst_facts, Facts::default());
        let a = TransferParams {
            ascii: true,
            ..TransferParams::default()
        };
        assert_eq!(a.type_name(), "ASCII");
    }

    #[test]
    fn the_two_restarts_replace_each_other() {
        let mut p = TransferParams::default();
        p.restart_ranges(RangeSet::parse("0-10").unwrap());
        p.restart_at(5);
        assert_eq!((p.rest, p.rest_ranges.is_none()), (Some(5), true));
        p.restart_ranges(RangeSet::parse("0-10").unwrap());
        assert_eq!((p.rest, p.rest_ranges.is_some()), (None, true));
        p.rest = Some(3);
        p.clear_restart();
        assert!(p.rest.is_none() && p.rest_ranges.is_none());
    }

    #[test]
    fn upload_mode_consumes_the_restart() {
        let mut p = TransferParams::default();
        assert_eq!(p.take_upload_mode(false), UploadMode::Replace);
        p.restart_at(7);
        assert_eq!(p.take_upload_mode(false), UploadMode::Resume(7));
        assert_eq!(p.rest, None);
        p.restart_at(0);
        assert_eq!(p.take_upload_mode(false), UploadMode::Replace);
        p.restart_ranges(RangeSet::parse("0-100,200-300").unwrap());
        assert_eq!(p.take_upload_mode(false), UploadMode::Resume(300));
        assert!(p.rest_ranges.is_none());
        p.restart_at(9);
        assert_eq!(p.take_upload_mode(true), UploadMode::Append);
        assert_eq!(p.rest, None);
    }

    #[test]
    fn retr_opts_change_only_what_they_name() {
        let mut p = TransferParams::default();
        p.apply_retr_opts(RetrOpts {
            parallelism: Some(4),
            block_size: None,
        });
        assert_eq!(p.parallelism, 4);
        assert_eq!(p.block_size, crate::ftp::data::mode_e::DEFAULT_BLOCK);
        p.apply_retr_opts(RetrOpts {
            parallelism: None,
            block_size: Some(1 << 20),
        });
        assert_eq!((p.parallelism, p.block_size), (4, 1 << 20));
    }
}

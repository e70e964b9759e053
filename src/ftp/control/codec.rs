//! Control-channel line framing (RFC 959 §4.1, RFC 854 for the Telnet subset FTP uses).
//!
//! A pure, incremental state machine over bytes: CRLF-terminated lines (a bare LF is
//! accepted too), Telnet IAC sequences removed (`IAC IAC` is a literal 0xFF, `IAC
//! WILL/WONT/DO/DONT x` and every other `IAC x` are dropped — clients send `IAC IP IAC DM`
//! before `ABOR`), and lines capped at [`MAX_LINE`] bytes: a longer line yields
//! [`Frame::TooLong`] once and the rest of it is discarded.

use bytes::{Buf, BytesMut};

/// Longest accepted command line, excluding the line terminator.
pub const MAX_LINE: usize = 8 * 1024;
/// The limit once a GSI exchange starts: `ADAT`/`ENC` lines carry base64 TLS records
/// (a certificate chain with VOMS extensions easily passes 8 KiB).
pub const MAX_PROTECTED_LINE: usize = 96 * 1024;

const IAC: u8 = 255;
const WILL: u8 = 251;
const DONT: u8 = 254;

/// One decoded control-channel frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its terminator and without Telnet sequences.
    Line(Vec<u8>),
    /// A line exceeded [`MAX_LINE`]; it has been (or is being) discarded.
    TooLong,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    #[default]
    Data,
    /// Seen IAC.
    Iac,
    /// Seen IAC WILL/WONT/DO/DONT: the option byte follows and is dropped.
    Option,
}

/// Incremental line decoder; keeps its state between calls so a line or a Telnet
/// sequence may be split across reads anywhere.
#[derive(Debug, Default)]
pub struct LineDecoder {
    line: Vec<u8>,
    /// 0 = [`MAX_LINE`].
    max: usize,
    telnet: Telnet,
    discarding: bool,
    pending_cr: bool,
}

impl LineDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises (or lowers) the line limit for the rest of the session.
    pub fn set_max_line(&mut self, max: usize) {
        self.max = max;
    }

    fn max_line(&self) -> usize {
        if self.max == 0 {
            MAX_LINE
        } else {
            self.max
        }
    }

    /// Consumes bytes from `src` until one frame is complete; returns `None` when more
    /// input is needed (everything in `src` has then been consumed).
    pub fn decode(&mut self, src: &mut BytesMut) -> Option<Frame> {
        while src.has_remaining() {
            let b = src.get_u8();
            if let Some(frame) = self.push(b) {
                return Some(frame);
            }
        }
        None
    }

    /// True when a partial line is buffered (used to reject plaintext smuggled after
    /// `AUTH TLS`).
    pub fn is_mid_line(&self) -> bool {
        !self.line.is_empty() || self.discarding || self.telnet != Telnet::Data
    }

    fn push(&mut self, b: u8) -> Option<Frame> {
        match self.telnet {
            Telnet::Iac => {
                self.telnet = match b {
                    IAC => {
                        self.telnet = Telnet::Data;
                        return self.data(IAC);
                    }
                    WILL..=DONT => Telnet::Option,
                    _ => Telnet::Data,
                };
                None
            }
            Telnet::Option => {
                self.telnet = Telnet::Data;
                None
            }
            Telnet::Data if b == IAC => {
                self.telnet = Telnet::Iac;
                None
            }
            Telnet::Data => self.data(b),
        }
    }

    fn data(&mut self, b: u8) -> Option<Frame> {
        if b == b'\n' {
            self.pending_cr = false;
            return Some(self.finish());
        }
        if self.pending_cr {
            // A CR not followed by LF is kept as data (RFC 854 "CR NUL" and friends).
            self.append(b'\r');
        }
        self.pending_cr = b == b'\r';
        if !self.pending_cr {
            self.append(b);
        }
        None
    }

    fn append(&mut self, b: u8) {
        if self.discarding {
            return;
        }
        if self.line.len() >= self.max_line() {
            self.discarding = true;
            self.line = Vec::new();
            return;
        }
        self.line.push(b);
    }

    fn finish(&mut self) -> Frame {
        if std::mem::take(&mut self.discarding) {
            return Frame::TooLong;
        }
        Frame::Line(std::mem::take(&mut self.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Frame> {
        let mut d = LineDecoder::new();
        let mut buf = BytesMut::from(input);
        std::iter::from_fn(|| d.decode(&mut buf)).collect()
    }

    fn line(s: &[u8]) -> Frame {
        Frame::Line(s.to_vec())
    }

    #[test]
    fn splits_crlf_and_lf() {
        assert_eq!(
            all(b"USER a\r\nPASS b\nNOOP\r\n"),
            vec![line(b"USER a"), line(b"PASS b"), line(b"NOOP")]
        );
    }

    #[test]
    fn incomplete_line_waits() {
        let mut d = LineDecoder::new();
        let mut buf = BytesMut::from(&b"RETR fi"[..]);
        assert_eq!(d.decode(&mut buf), None);
        assert!(d.is_mid_line());
        buf.extend_from_slice(b"le\r\n");
        assert_eq!(d.decode(&mut buf), Some(line(b"RETR file")));
        assert!(!d.is_mid_line());
    }

    #[test]
    fn byte_at_a_time_equals_whole() {
        let input = b"ABOR\r\n\xff\xf4\xff\xf2ABOR\r\nX \xff\xff\r\n";
        let mut d = LineDecoder::new();
        let mut out = Vec::new();
        for b in input {
            let mut buf = BytesMut::from(&[*b][..]);
            if let Some(f) = d.decode(&mut buf) {
                out.push(f);
            }
        }
        assert_eq!(out, all(input));
    }

    #[test]
    fn telnet_sequences_removed() {
        // IAC IP IAC DM before ABOR, as clients send it.
        assert_eq!(all(b"\xff\xf4\xff\xf2ABOR\r\n"), vec![line(b"ABOR")]);
        // Option negotiation dropped with its option byte.
        assert_eq!(all(b"\xff\xfb\x01NOOP\r\n"), vec![line(b"NOOP")]);
        assert_eq!(all(b"\xff\xfe\x18NOOP\r\n"), vec![line(b"NOOP")]);
        // Escaped 0xFF kept.
        assert_eq!(all(b"X \xff\xff\r\n"), vec![line(b"X \xff")]);
    }

    #[test]
    fn bare_cr_is_data() {
        assert_eq!(all(b"A\rB\r\n"), vec![line(b"A\rB")]);
        assert_eq!(all(b"A\r\r\n"), vec![line(b"A\r")]);
    }

    #[test]
    fn too_long_line_reported_once_then_recovers() {
        let mut input = vec![b'A'; MAX_LINE + 10];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(all(&input), vec![Frame::TooLong, line(b"NOOP")]);
    }

    #[test]
    fn protected_sessions_take_longer_lines() {
        let mut input = vec![b'A'; 20_000];
        input.extend(b"\r\n");
        assert_eq!(all(&input), vec![Frame::TooLong]);
        let mut d = LineDecoder::new();
        d.set_max_line(MAX_PROTECTED_LINE);
        let mut buf = BytesMut::from(&input[..]);
        assert_eq!(d.decode(&mut buf), Some(Frame::Line(vec![b'A'; 20_000])));
        let mut huge = vec![b'A'; MAX_PROTECTED_LINE + 1];
        huge.extend(b"\r\n");
        let mut buf = BytesMut::from(&huge[..]);
        assert_eq!(d.decode(&mut buf), Some(Frame::TooLong));
    }

    #[test]
    fn exactly_max_line_is_accepted() {
        let mut input = vec![b'A'; MAX_LINE];
        input.extend_from_slice(b"\r\n");
        assert_eq!(all(&input), vec![Frame::Line(vec![b'A'; MAX_LINE])]);
    }

    #[test]
    fn empty_lines_are_frames() {
        assert_eq!(all(b"\r\n\n"), vec![line(b""), line(b"")]);
    }
}

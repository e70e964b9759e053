//! MODE E, GridFTP's extended block mode (GFD.20 §"Extended Block Mode"): every block is a
//! 17-byte big-endian header — descriptor (u8), byte count (u64), offset (u64) — followed by
//! `count` bytes. Blocks of one transfer may arrive on any of its parallel connections in
//! any order. Each connection ends with EOD; exactly one EOF carries, in its offset field,
//! the number of EODs the receiver must see before the transfer is complete.
//!
//! Pure code over bytes: header codec and the receiver's accounting, fuzzable.

pub const HEADER_LEN: usize = 17;

/// Descriptor bits.
pub const EOR: u8 = 0x80;
pub const EOF: u8 = 0x40;
pub const SUSPECT_ERRORS: u8 = 0x20;
pub const RESTART_MARKER: u8 = 0x10;
pub const EOD: u8 = 0x08;
pub const CLOSE: u8 = 0x04;

/// Largest data block a peer may announce; larger counts are a protocol error (a client
/// must not make us plan a multi-GiB read into one buffer or one positional write).
pub const MAX_BLOCK: u64 = 64 * 1024 * 1024;

/// Most data channels an EOF may announce: far above any real parallelism (OPTS RETR
/// Parallelism is clamped to 64), low enough that a bogus count fails at once instead of
/// waiting the data timeout for connections that never come.
pub const MAX_STREAMS: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub descriptor: u8,
    pub count: u64,
    pub offset: u64,
}

impl Header {
    pub fn data(offset: u64, count: u64) -> Header {
        Header {
            descriptor: 0,
            count,
            offset,
        }
    }

    /// End of data on this connection (more connections may still send).
    pub fn eod() -> Header {
        Header {
            descriptor: EOD,
            count: 0,
            offset: 0,
        }
    }

    /// The final header of a transfer: EOF|EOD, offset = total EODs to expect.
    pub fn eof(eod_count: u64) -> Header {
        Header {
            descriptor: EOF | EOD,
            count: 0,
            offset: eod_count,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.descriptor;
        b[1..9].copy_from_slice(&self.count.to_be_bytes());
        b[9..17].copy_from_slice(&self.offset.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        let mut count = [0u8; 8];
        let mut offset = [0u8; 8];
        count.copy_from_slice(&b[1..9]);
        offset.copy_from_slice(&b[9..17]);
        Header {
            descriptor: b[0],
            count: u64::from_be_bytes(count),
            offset: u64::from_be_bytes(offset),
        }
    }

    pub fn has(&self, bit: u8) -> bool {
        self.descriptor & bit != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeEError {
    #[error("MODE E block of {0} bytes exceeds the limit")]
    BlockTooLarge(u64),
    #[error("MODE E block offset overflows")]
    OffsetOverflow,
    #[error("MODE E sender reported suspected errors")]
    SuspectErrors,
    #[error("MODE E: more than one EOF")]
    DuplicateEof,
    #[error("MODE E: data after EOD on a connection")]
    DataAfterEod,
    #[error("MODE E: EOF announces {0} data channels (at most {MAX_STREAMS})")]
    TooManyStreams(u64),
}

/// What a receiver does with one header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read `count` payload bytes and write them at `base + offset`.
    Data { offset: u64, count: u64 },
    /// This connection is done for this transfer (it may be reused for the next).
    ConnectionDone,
    /// Nothing to read (restart marker, empty block).
    Skip,
}

/// End-of-data accounting for one transfer across all its connections.
#[derive(Debug, Default, Clone)]
pub struct Receiver {
    expected_eods: Option<u64>,
    eods: u64,
}

impl Receiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Interprets one header from any connection.
    pub fn on_header(&mut self, h: &Header) -> Result<Step, ModeEError> {
        if h.has(SUSPECT_ERRORS) {
            return Err(ModeEError::SuspectErrors);
        }
        if h.has(EOF) {
            if self.expected_eods.is_some() {
                return Err(ModeEError::DuplicateEof);
            }
            if h.offset > MAX_STREAMS {
                return Err(ModeEError::TooManyStreams(h.offset));
            }
            self.expected_eods = Some(h.offset);
        }
        if h.has(RESTART_MARKER) {
            return Ok(Step::Skip);
        }
        if h.count > 0 && !h.has(EOF) {
            if h.count > MAX_BLOCK {
                return Err(ModeEError::BlockTooLarge(h.count));
            }
            if h.offset.checked_add(h.count).is_none() {
                return Err(ModeEError::OffsetOverflow);
            }
            let step = Step::Data {
                offset: h.offset,
                count: h.count,
            };
            if h.has(EOD) {
                // Data and EOD in one header: count the EOD once the payload is read.
                self.eods += 1;
            }
            return Ok(step);
        }
        if h.has(EOD) {
            self.eods += 1;
            return Ok(Step::ConnectionDone);
        }
        Ok(Step::Skip)
    }

    /// True once EOF told us how many EODs to expect and they all arrived.
    pub fn is_complete(&self) -> bool {
        self.expected_eods.is_some_and(|n| self.eods >= n)
    }
}

/// Splits `[offset, offset+len)` into MODE E blocks of at most `block` bytes, in order.
pub fn blocks(offset: u64, len: u64, block: u64) -> impl Iterator<Item = (u64, u64)> {
    let block = block.max(1);
    let end = offset.saturating_add(len);
    let mut pos = offset;
    std::iter::from_fn(move || {
        (pos < end).then(|| {
            let n = block.min(end - pos);
            let b = (pos, n);
            pos += n;
            b
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_is_big_endian() {
        let h = Header {
            descriptor: EOF | EOD,
            count: 0x0102,
            offset: 0x0a0b0c,
        };
        let b = h.encode();
        assert_eq!(b[0], 0x48);
        assert_eq!(&b[1..9], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&b[9..17], &[0, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c]);
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn receiver_table() {
        // Four streams: blocks out of order, EODs before and after the EOF.
        let mut r = Receiver::new();
        let seq = [
            (
                Header::data(1_000, 500),
                Step::Data {
                    offset: 1_000,
                    count: 500,
                },
            ),
            (
                Header::data(0, 1_000),
                Step::Data {
                    offset: 0,
                    count: 1_000,
                },
            ),
            (Header::eod(), Step::ConnectionDone),
            (Header::eof(4), Step::ConnectionDone),
            (Header::eod(), Step::ConnectionDone),
            (
                Header {
                    descriptor: RESTART_MARKER,
                    count: 8,
                    offset: 0,
                },
                Step::Skip,
            ),
        ];
        for (h, want) in seq {
            assert_eq!(r.on_header(&h).unwrap(), want);
            assert!(!r.is_complete());
        }
        assert_eq!(r.on_header(&Header::eod()).unwrap(), Step::ConnectionDone);
        assert!(r.is_complete());
    }

    #[test]
    fn eof_first_with_single_stream() {
        let mut r = Receiver::new();
        r.on_header(&Header::data(0, 10)).unwrap();
        r.on_header(&Header::eof(1)).unwrap();
        assert!(r.is_complete());
    }

    #[test]
    fn data_with_eod_counts_once() {
        let mut r = Receiver::new();
        let step = r
            .on_header(&Header {
                descriptor: EOD,
                count: 5,
                offset: 0,
            })
            .unwrap();
        assert_eq!(
            step,
            Step::Data {
                offset: 0,
                count: 5
            }
        );
        r.on_header(&Header::eof(1)).unwrap();
        assert!(r.is_complete());
    }

    #[test]
    fn hostile_headers_are_errors() {
        let mut r = Receiver::new();
        assert_eq!(
            r.on_header(&Header::data(0, MAX_BLOCK + 1)),
            Err(ModeEError::BlockTooLarge(MAX_BLOCK + 1))
        );
        assert_eq!(
            r.on_header(&Header::data(u64::MAX - 1, 10)),
            Err(ModeEError::OffsetOverflow)
        );
        assert_eq!(
            r.on_header(&Header {
                descriptor: SUSPECT_ERRORS,
                count: 0,
                offset: 0
            }),
            Err(ModeEError::SuspectErrors)
        );
        r.on_header(&Header::eof(2)).unwrap();
        assert_eq!(r.on_header(&Header::eof(2)), Err(ModeEError::DuplicateEof));
    }

    #[test]
    fn block_split() {
        let v: Vec<_> = blocks(100, 250, 100).collect();
        assert_eq!(v, vec![(100, 100), (200, 100), (300, 50)]);
        assert_eq!(blocks(0, 0, 10).count(), 0);
        assert_eq!(blocks(0, 5, 0).count(), 5);
    }

    #[test]
    fn eof_with_an_implausible_stream_count_fails_at_once() {
        let mut r = Receiver::new();
        let err = r.on_header(&Header::eof(1_000_000)).unwrap_err();
        assert_eq!(err, ModeEError::TooManyStreams(1_000_000));
        let mut r = Receiver::new();
        assert_eq!(
            r.on_header(&Header::eof(MAX_STREAMS)),
            Ok(Step::ConnectionDone)
        );
    }
}

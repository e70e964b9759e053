//! Fuzz the control-line decoder: arbitrary bytes split at arbitrary points yield the same
//! frames as the whole input, and no line ever exceeds the cap.
#![no_main]

use bytes::BytesMut;
use griddock::ftp::control::{Frame, LineDecoder, MAX_LINE};
use libfuzzer_sys::fuzz_target;

fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
    let mut d = LineDecoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut buf = BytesMut::from(*chunk);
        while let Some(f) = d.decode(&mut buf) {
            out.push(f);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize) % (data.len().max(1));
    let whole = frames(&[data]);
    let parts = frames(&[&data[..split], &data[split..]]);
    assert_eq!(whole, parts);
    for f in whole {
        if let Frame::Line(l) = f {
            assert!(l.len() <= MAX_LINE);
        }
    }
});

//! Fuzz the MODE E header codec and receiver accounting: any header sequence a peer sends
//! gives data steps, completion or an error, never a panic; every data step stays within
//! u64 and the block limit; decode(encode(h)) == h.
#![no_main]

use griddock::gridftp::mode_e::{Header, Receiver, Step, HEADER_LEN, MAX_BLOCK};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Receiver::new();
    for chunk in data.chunks_exact(HEADER_LEN) {
        let mut b = [0u8; HEADER_LEN];
        b.copy_from_slice(chunk);
        let h = Header::decode(&b);
        assert_eq!(Header::decode(&h.encode()), h);
        match r.on_header(&h) {
            Ok(Step::Data { offset, count }) => {
                assert!(count <= MAX_BLOCK);
                assert!(offset.checked_add(count).is_some());
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = r.is_complete();
});

//! The libmacaroons "V2" binary format (libmacaroons `v2.c`, also read by pymacaroons and
//! jmacaroons), first-party caveats only, base64url without padding:
//!
//! ```text
//! 0x02
//! [1 location] 2 identifier 0          (header)
//! ( 2 caveat-id 0 )*                   (one per first-party caveat)
//! 0                                    (end of caveats)
//! 6 signature(32 bytes)
//! ```
//! Each field is `type` (one byte here), a LEB128 length and that many bytes. The
//! signature is the HMAC-SHA256 chain `sig0 = HMAC(K', id)`, `sigN = HMAC(sigN-1, caveatN)`
//! with `K' = HMAC("macaroons-key-generator", K)` (libmacaroons' key derivation).

use base64::Engine;
use ring::hmac;

const VERSION: u8 = 2;
const EOS: u8 = 0;
const LOCATION: u8 = 1;
const IDENTIFIER: u8 = 2;
const SIGNATURE: u8 = 6;
/// Caveats and identifiers griddock writes are short; anything longer is an attack.
const MAX_FIELD: usize = 4096;
const MAX_CAVEATS: usize = 32;

/// A decoded macaroon (signature not checked yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macaroon {
    pub location: Option<Vec<u8>>,
    pub identifier: Vec<u8>,
    pub caveats: Vec<Vec<u8>>,
    pub signature: [u8; 32],
}

/// The derived root key (libmacaroons `macaroon_create`).
pub fn derive_key(root_key: &[u8]) -> hmac::Key {
    let generator = hmac::Key::new(hmac::HMAC_SHA256, b"macaroons-key-generator");
    let derived = hmac::sign(&generator, root_key);
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

/// The signature after `identifier` and each caveat in turn.
pub fn chain(key: &hmac::Key, identifier: &[u8], caveats: &[Vec<u8>]) -> [u8; 32] {
    let mut sig = tag(key, identifier);
    for caveat in caveats {
        sig = tag(&hmac::Key::new(hmac::HMAC_SHA256, &sig), caveat);
    }
    sig
}

fn tag(key: &hmac::Key, data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(key, data).as_ref());
    out
}

/// Whether `m`'s signature is the chain from `key` (constant-time comparison).
pub fn verify_chain(key: &hmac::Key, m: &Macaroon) -> bool {
    let (last, init) = match m.caveats.split_last() {
        Some((last, init)) => (last.as_slice(), init),
        None => return hmac::verify(key, &m.identifier, &m.signature).is_ok(),
    };
    let before_last = chain(key, &m.identifier, init);
    let k = hmac::Key::new(hmac::HMAC_SHA256, &before_last);
    hmac::verify(&k, last, &m.signature).is_ok()
}

/// Appends a first-party caveat (what any holder can do: it only narrows).
pub fn add_caveat(m: &mut Macaroon, caveat: &[u8]) {
    let k = hmac::Key::new(hmac::HMAC_SHA256, &m.signature);
    m.signature = tag(&k, caveat);
    m.caveats.push(caveat.to_vec());
}

pub fn encode(m: &Macaroon) -> String {
    let mut out = vec![VERSION];
    if let Some(loc) = &m.location {
        field(&mut out, LOCATION, loc);
    }
    field(&mut out, IDENTIFIER, &m.identifier);
    out.push(EOS);
    for c in &m.caveats {
        field(&mut out, IDENTIFIER, c);
        out.push(EOS);
    }
    out.push(EOS);
    field(&mut out, SIGNATURE, &m.signature);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
}

fn field(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
    out.push(kind);
    let mut n = data.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(data);
}

/// Decodes base64url (padded or not) V2 text; `None` for anything else.
pub fn decode(text: &str) -> Option<Macaroon> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()?;
    let mut r = Reader { buf: &raw, pos: 0 };
    if r.byte()? != VERSION {
        return None;
    }
    let (location, identifier) = r.header()?;
    let mut caveats = Vec::new();
    loop {
        match r.peek()? {
            EOS => {
                r.pos += 1;
                break;
            }
            IDENTIFIER => caveats.push(r.caveat()?),
            _ => return None,
        }
        if caveats.len() > MAX_CAVEATS {
            return None;
        }
    }
    let (kind, sig) = r.field()?;
    if kind != SIGNATURE || sig.len() != 32 || r.pos != raw.len() {
        return None;
    }
    let mut signature = [0u8; 32];
    signature.copy_from_slice(sig);
    Some(Macaroon {
        location,
        identifier,
        caveats,
        signature,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn len(&mut self) -> Option<usize> {
        let mut n = 0usize;
        for shift in [0, 7, 14] {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return (n <= MAX_FIELD).then_some(n);
            }
        }
        None
    }

    fn field(&mut self) -> Option<(u8, &'a [u8])> {
        let kind = self.byte()?;
        let n = self.len()?;
        let end = self.pos.checked_add(n)?;
        let data = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some((kind, data))
    }

    fn header(&mut self) -> Option<(Option<Vec<u8>>, Vec<u8>)> {
        let (mut kind, mut data) = self.field()?;
        let mut location = None;
        if kind == LOCATION {
            location = Some(data.to_vec());
            (kind, data) = self.field()?;
        }
        if kind != IDENTIFIER || self.byte()? != EOS {
            return None;
        }
        Some((location, data.to_vec()))
    }

    /// One first-party caveat: an identifier and EOS (a location or verification id would
    /// make it third-party, which griddock never issues).
    fn caveat(&mut self) -> Option<Vec<u8>> {
        let (kind, data) = self.field()?;
        if kind != IDENTIFIER || self.byte()? != EOS {
            return None;
        }
        Some(data.to_vec())
    }
}

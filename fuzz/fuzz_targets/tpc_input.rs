//! Fuzz what a client (the COPY headers) and a remote (redirect `Location`, failure
//! text) control in an HTTP third-party copy: nothing may panic; an accepted request has
//! an http(s) URL with a host, 1 to 16 streams, and forwards no framing or Host header;
//! the policy judges an IPv4 address and its IPv4-mapped IPv6 form alike; a failure
//! line is one line.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use griddock::config::TpcMode;
use griddock::dav::tpc::{failure_line, is_public, parse_request, resolve_location, TpcPolicy};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut h = HeaderMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            ) {
                h.append(k, v);
            }
        }
    }
    if let Ok(req) = parse_request(&h, 16) {
        assert!(matches!(req.remote.scheme_str(), Some("http") | Some("https")));
        assert!(req.remote.host().is_some_and(|h| !h.is_empty()));
        assert!((1..=16).contains(&req.streams));
        for (name, _) in &req.forward {
            assert!(
                !["host", "content-length", "transfer-encoding", "connection"]
                    .contains(&name.as_str()),
                "{name}"
            );
        }
    }
    if let Ok(base) = "https://a.example:8443/x".parse::<hyper::Uri>() {
        if let Ok(u) = resolve_location(&base, &text) {
            assert!(matches!(u.scheme_str(), Some("http") | Some("https")));
            assert!(u.host().is_some());
        }
    }
    if data.len() >= 4 {
        let v4 = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
        assert_eq!(is_public(IpAddr::V4(v4)), is_public(IpAddr::V6(v4.to_ipv6_mapped())));
        let policy = TpcPolicy::new(TpcMode::Public, Vec::new());
        assert_eq!(policy.check(IpAddr::V4(v4)).is_ok(), is_public(IpAddr::V4(v4)));
    }
    let line = failure_line(&text);
    assert!(line.starts_with("failure: ") && line.ends_with('\n'));
    assert_eq!(line.matches('\n').count(), 1);
});

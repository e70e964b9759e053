//! The `text/perf-marker-stream` body of a COPY response (draft-http-tpc-01 §3, in the
//! shape XRootD sends and davix parses: `Perf Marker` … `End` blocks, then one final
//! `success: Created` or `failure: <one line>`). Pure formatting.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// One performance marker: progress of the whole copy as one stripe (griddock is one
/// node), with every data connection in `RemoteConnections`.
pub fn marker(unix_time: u64, bytes: u64, conns: &[SocketAddr]) -> String {
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        "Perf Marker\nTimestamp: {unix_time}\nStripe Index: 0\n\
         Stripe Bytes Transferred: {bytes}\nTotal Stripe Count: 1\n"
    );
    if !conns.is_empty() {
        s.push_str("RemoteConnections: ");
        for (i, c) in conns.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            // SocketAddr's Display is `ip:port` / `[v6]:port`, the form FTS reads.
            let _ = write!(s, "tcp:{c}");
        }
        s.push('\n');
    }
    s.push_str("End\n");
    s
}

pub fn success() -> &'static str {
    "success: Created\n"
}

/// The failure line: the reason on one line (control characters become spaces), at
/// most 512 bytes, so a remote's error text cannot forge a `success` line.
pub fn failure(reason: &str) -> String {
    let mut one: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one.len() > 512 {
        let mut cut = 512;
        while !one.is_char_boundary(cut) {
            cut -= 1;
        }
        one.truncate(cut);
    }
    format!("failure: {}\n", one.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_lines() {
        let conns: Vec<SocketAddr> = vec![
            "127.0.0.1:18090".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
        ];
        assert_eq!(
            marker(1796151650, 1310720, &conns),
            "Perf Marker\nTimestamp: 1796151650\nStripe Index: 0\n\
             Stripe Bytes Transferred: 1310720\nTotal Stripe Count: 1\n\
             RemoteConnections: tcp:127.0.0.1:18090,tcp:[2001:db8::1]:443\nEnd\n"
        );
        assert!(!marker(1, 0, &[]).contains("RemoteConnections"));
    }

    #[test]
    fn failure_is_one_line() {
        assert_eq!(
            failure("x\nsuccess: Created"),
            "failure: x success: Created\n"
        );
        let long = "é".repeat(600);
        let line = failure(&long);
        assert!(line.len() <= 512 + "failure: \n".len());
        assert_eq!(line.matches('\n').count(), 1);
    }
}

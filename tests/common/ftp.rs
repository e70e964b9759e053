//! A minimal raw FTP client for protocol tests: exact reply codes, bad input on purpose.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

pub struct Ftp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Ftp {
    pub fn connect(addr: SocketAddr) -> Ftp {
        Self::from_stream(TcpStream::connect(addr).unwrap())
    }

    /// Connects from a chosen loopback address (plays a client on another host).
    pub fn connect_from(local: IpAddr, addr: SocketAddr) -> Ftp {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::new(local, 0).into()).unwrap();
        sock.connect(&addr.into()).unwrap();
        Self::from_stream(sock.into())
    }

    fn from_stream(s: TcpStream) -> Ftp {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut f = Ftp {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        };
        let (code, text) = f.reply();
        assert_eq!(code, 220, "banner: {text}");
        f
    }

    /// Reads one (possibly multi-line) reply.
    pub fn reply(&mut self) -> (u16, String) {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("reply");
        assert!(line.len() >= 4, "short reply {line:?}");
        let code: u16 = line[..3]
            .parse()
            .unwrap_or_else(|_| panic!("bad reply {line:?}"));
        let mut text = line.clone();
        if line.as_bytes()[3] == b'-' {
            let end = format!("{code} ");
            loop {
                let mut l = String::new();
                if self.reader.read_line(&mut l).unwrap() == 0 {
                    break;
                }
                text.push_str(&l);
                if l.starts_with(&end) {
                    break;
                }
            }
        }
        (code, text)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    pub fn code(&mut self, line: &str) -> u16 {
        self.cmd(line).0
    }

    /// The next reply that is not a GFD.20 marker (111 restart, 112 performance): during
    /// an upload with `marker_interval` set, markers can come before any reply.
    pub fn reply_past_markers(&mut self) -> (u16, String) {
        loop {
            let (code, text) = self.reply();
            if code != 111 && code != 112 {
                return (code, text);
            }
        }
    }

    /// [`Ftp::cmd`], skipping markers that arrive before its reply.
    pub fn cmd_past_markers(&mut self, line: &str) -> (u16, String) {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply_past_markers()
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        let (c, t) = self.cmd(&format!("USER {user}"));
        assert_eq!(c, 331, "{t}");
        let (c, t) = self.cmd(&format!("PASS {pass}"));
        assert_eq!(c, 230, "{t}");
    }

    /// PASV → the announced data address.
    pub fn pasv(&mut self) -> SocketAddr {
        let (c, t) = self.cmd("PASV");
        assert_eq!(c, 227, "{t}");
        parse_227(&t)
    }

    /// Downloads `path` over a passive connection; returns (final code, bytes).
    pub fn retr(&mut self, path: &str) -> (u16, Vec<u8>) {
        let addr = self.pasv();
        let mut data = TcpStream::connect(addr).unwrap();
        let (c, t) = self.cmd(&format!("RETR {path}"));
        if c >= 400 {
            return (c, Vec::new());
        }
        assert_eq!(c, 150, "{t}");
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).unwrap();
        (self.reply().0, buf)
    }

    /// Uploads `bytes` to `path`; returns the final code.
    pub fn stor(&mut self, path: &str, bytes: &[u8]) -> u16 {
        let addr = self.pasv();
        let mut data = TcpStream::connect(addr).unwrap();
        let (c, _) = self.cmd(&format!("STOR {path}"));
        if c >= 400 {
            return c;
        }
        data.write_all(bytes).unwrap();
        drop(data);
        self.reply().0
    }

    /// True when the server closes the control connection (whatever it sent last, e.g.
    /// a TLS alert) within the read timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }
}

/// The address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply's text.
pub fn parse_227(t: &str) -> SocketAddr {
    let inner = t.split(['(', ')']).nth(1).unwrap();
    let n: Vec<u16> = inner
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    SocketAddr::from((
        [n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8],
        n[4] * 256 + n[5],
    ))
}

/// A connection to `addr` once its server greets with a one-line `220 ` banner (the
/// banner's first four bytes are read), or `None`: refused, closed at once (Docker's port
/// proxy before the server listens), or turned away (421 at a session limit).
pub fn greeted(addr: SocketAddr) -> Option<TcpStream> {
    let mut c = TcpStream::connect(addr).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut first = [0u8; 4];
    (c.read_exact(&mut first).is_ok() && &first == b"220 ").then_some(c)
}

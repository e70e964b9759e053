//! The FXP / bounce policy over a raw control connection, with exact reply codes, on both
//! endpoints (FTP and GridFTP, MODE E and SPOR included). The
//! client plays a host of its own (127.0.0.3); 127.0.0.1/32 is the allowed FXP peer and
//! 127.0.0.2 the "outside" host. Nothing here makes griddock connect off loopback.

mod common;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::ftp::Ftp;
use common::Griddock;

const CLIENT: [u8; 4] = [127, 0, 0, 3];

fn server(mode: &str) -> Griddock {
    Griddock::start(&format!(
        "[ftp]\nfxp = \"{mode}\"\nfxp_allow = [\"127.0.0.1/32\"]\n[limits]\ndata_timeout = \"2s\"\n"
    ))
}

fn client(addr: SocketAddr) -> Ftp {
    let mut f = Ftp::connect_from(IpAddr::from(CLIENT), addr);
    f.login("anonymous", "x@y");
    f
}

fn port_cmd(ip: [u8; 4], port: u16) -> String {
    format!(
        "PORT {},{},{},{},{},{}",
        ip[0],
        ip[1],
        ip[2],
        ip[3],
        port >> 8,
        port & 0xff
    )
}

#[test]
fn active_targets_per_mode() {
    let cases: &[(&str, [u8; 4], u16, u16)] = &[
        ("allow-list", [127, 0, 0, 1], 40000, 200),
        ("allow-list", CLIENT, 40000, 200),
        ("allow-list", [127, 0, 0, 2], 40000, 504),
        ("allow-list", [127, 0, 0, 1], 21, 504),
        ("allow-list", [127, 0, 0, 1], 1023, 504),
        ("allow-list", CLIENT, 80, 504),
        ("off", CLIENT, 40000, 200),
        ("off", [127, 0, 0, 1], 40000, 504),
        ("off", [127, 0, 0, 2], 40000, 504),
        ("any", [127, 0, 0, 2], 40000, 200),
        ("any", [127, 0, 0, 2], 25, 504),
    ];
    for mode in ["allow-list", "off", "any"] {
        let g = server(mode);
        for (endpoint, gridftp) in [(g.ftp, false), (g.gridftp, true)] {
            active_targets(mode, cases, endpoint, gridftp);
        }
    }
}

/// `gridftp` is which endpoint this is, not what it answers: a GridFTP port whose MODE E
/// broke must fail here, not skip its SPOR cases.
fn active_targets(
    mode: &str,
    cases: &[(&str, [u8; 4], u16, u16)],
    endpoint: SocketAddr,
    gridftp: bool,
) {
    {
        let mut f = client(endpoint);
        let want = if gridftp { 200 } else { 504 };
        assert_eq!(f.code("MODE E"), want, "MODE E on gridftp={gridftp}");
    }
    let mut f = client(endpoint);
    for (_, ip, port, want) in cases.iter().filter(|c| c.0 == mode) {
        let (code, text) = f.cmd(&port_cmd(*ip, *port));
        assert_eq!(code, *want, "{mode} PORT {ip:?}:{port}: {text}");
        let eprt = format!("EPRT |1|{}.{}.{}.{}|{port}|", ip[0], ip[1], ip[2], ip[3]);
        let (code, text) = f.cmd(&eprt);
        assert_eq!(code, *want, "{mode} {eprt}: {text}");
        if gridftp {
            let spor = port_cmd(*ip, *port).replacen("PORT", "SPOR", 1);
            let (code, text) = f.cmd(&spor);
            assert_eq!(code, *want, "{mode} {spor}: {text}");
        }
    }
    // A refused PORT leaves no data connection set up.
    f.cmd(&port_cmd([127, 0, 0, 2], 40000));
    if mode != "any" {
        assert_eq!(f.code("RETR nothing"), 425);
    }
}

#[test]
fn refused_port_never_connects() {
    // A listener on 127.0.0.2 records any connection griddock makes to it.
    let trap = TcpListener::bind("127.0.0.2:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let port = trap.local_addr().unwrap().port();
    let g = server("allow-list");
    std::fs::write(g.data().join("f"), b"data").unwrap();
    let mut f = client(g.ftp);
    assert_eq!(f.code(&port_cmd([127, 0, 0, 2], port)), 504);
    assert_eq!(f.code("RETR f"), 425);
    // The GridFTP endpoint in MODE E with 8 streams: still not one connection.
    let mut f = client(g.gridftp);
    assert_eq!(f.code("MODE E"), 200);
    assert_eq!(f.code("OPTS RETR Parallelism=8,8,8;"), 200);
    let spor = port_cmd([127, 0, 0, 2], port).replacen("PORT", "SPOR", 1);
    assert_eq!(f.code(&spor), 504);
    assert_eq!(f.code("RETR f"), 425);
    // A round trip after the refusals: any connection griddock were to make for them
    // would have been attempted before it answers this.
    assert_eq!(f.code("NOOP"), 200);
    assert!(
        trap.accept().is_err(),
        "griddock connected to a refused PORT target"
    );
}

/// A stranger connecting to the passive port is dropped; the transfer still goes to the
/// legitimate peer.
#[test]
fn passive_intruder_dropped_then_legit_peer_served() {
    let g = server("allow-list");
    std::fs::write(g.data().join("f"), b"payload").unwrap();
    let mut f = client(g.ftp);
    let addr = f.pasv();
    let (c, _) = f.cmd("RETR f");
    assert_eq!(c, 150);
    let intruder = connect_from([127, 0, 0, 2], addr);
    assert!(closed_without_data(intruder), "intruder got data");
    let mut legit = connect_from(CLIENT, addr);
    let mut got = Vec::new();
    legit.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"payload");
    assert_eq!(f.reply().0, 226);
}

#[test]
fn passive_off_mode_refuses_other_servers_and_times_out() {
    let g = server("off");
    std::fs::write(g.data().join("f"), b"payload").unwrap();
    let mut f = client(g.ftp);
    let addr = f.pasv();
    assert_eq!(f.cmd("RETR f").0, 150);
    // 127.0.0.1 is in fxp_allow, but with fxp = "off" only the control peer may connect.
    let other = connect_from([127, 0, 0, 1], addr);
    assert!(closed_without_data(other));
    assert_eq!(f.reply().0, 425, "no legitimate peer within data_timeout");
    assert_eq!(f.code("NOOP"), 200, "session survives");
}

/// MODE E receivers accept any number of connections, but still only from allowed peers:
/// an intruder's blocks never reach the file.
#[test]
fn mode_e_receiver_drops_intruder_blocks() {
    use std::io::Write;
    let g = Griddock::start(
        "[ftp]\nfxp = \"allow-list\"\nfxp_allow = [\"127.0.0.1/32\"]\n[auth]\nanonymous = \"write\"\n",
    );
    let mut f = client(g.gridftp);
    assert_eq!(f.code("MODE E"), 200);
    let addr = f.pasv();
    assert_eq!(f.cmd("STOR up.bin").0, 150);
    let block = |offset: u64, data: &[u8], eof: bool| {
        let mut b = vec![if eof { 0x48 } else { 0x08 }];
        b.extend((data.len() as u64).to_be_bytes());
        b.extend(if eof { 1u64 } else { offset }.to_be_bytes());
        b.extend(data);
        b
    };
    let mut intruder = connect_from([127, 0, 0, 2], addr);
    // At its own offset: were it accepted, the good block could not overwrite it.
    let _ = intruder.write_all(&block(100, b"EVIL", false));
    assert!(closed_without_data(intruder), "intruder kept");
    let mut legit = connect_from(CLIENT, addr);
    let mut data = vec![0u8; 17];
    data[0] = 0; // a data block: offset 0, 4 bytes
    data[1..9].copy_from_slice(&4u64.to_be_bytes());
    data.extend(b"good");
    data.extend(block(0, b"", true)); // EOF|EOD: one connection
    legit.write_all(&data).unwrap();
    assert_eq!(f.reply().0, 226);
    assert_eq!(std::fs::read(g.data().join("up.bin")).unwrap(), b"good");
}

fn connect_from(ip: [u8; 4], addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// griddock closed `s` (EOF or reset) without sending a byte. A read timeout is NOT a
/// close: a connection griddock kept open is exactly the bug.
fn closed_without_data(mut s: TcpStream) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset};
    let mut buf = Vec::new();
    let closed = match s.read_to_end(&mut buf) {
        Ok(_) => true,
        Err(e) => matches!(e.kind(), ConnectionReset | ConnectionAborted),
    };
    closed && buf.is_empty()
}

/// The FTP bounce of issue 16, reproduced as reported: with the default config a client on
/// 127.0.0.9 uploads a payload and points PORT/EPRT at a service on 127.0.0.1. Both are
/// refused (504) on both endpoints, RETR finds no data connection, and the service sees
/// no connection at all.
#[test]
fn default_config_refuses_bounce_to_loopback_service() {
    let service = TcpListener::bind("127.0.0.1:0").unwrap();
    service.set_nonblocking(true).unwrap();
    let port = service.local_addr().unwrap().port();
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    std::fs::write(g.data().join("payload"), b"SET pwned 1\r\nGET /admin\r\n").unwrap();
    for endpoint in [g.ftp, g.gridftp] {
        let mut f = Ftp::connect_from(IpAddr::from([127, 0, 0, 9]), endpoint);
        f.login("anonymous", "x@y");
        let (code, text) = f.cmd(&port_cmd([127, 0, 0, 1], port));
        assert_eq!(code, 504, "PORT to 127.0.0.1: {text}");
        let (code, text) = f.cmd(&format!("EPRT |1|127.0.0.1|{port}|"));
        assert_eq!(code, 504, "EPRT to 127.0.0.1: {text}");
        assert_eq!(f.code("RETR payload"), 425);
        // The client's own address stays a valid active-mode target.
        assert_eq!(f.code(&port_cmd([127, 0, 0, 9], port)), 200);
    }
    // Every reply above came after griddock decided: nothing may have connected.
    assert!(
        service.accept().is_err(),
        "griddock connected to the loopback service"
    );
}

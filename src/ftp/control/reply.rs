//! FTP replies and their wire encoding (RFC 959 §4.2: single-line `NNN text` and
//! multi-line `NNN-first … NNN last` replies).
//!
//! Reply text never carries CR or LF from a client-controlled string (file names echoed in
//! replies): they are replaced, so a name cannot inject a forged reply line.

use std::fmt;

/// One FTP reply: a three-digit code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![sanitize(text.into())],
        }
    }

    /// A multi-line reply: `first` goes on the `NNN-` line, `body` lines are sent as given
    /// (callers indent them, e.g. FEAT's feature lines start with one space) and `last`
    /// closes the reply on the `NNN ` line.
    pub fn multi(
        code: u16,
        first: impl Into<String>,
        body: Vec<String>,
        last: impl Into<String>,
    ) -> Self {
        let mut lines = Vec::with_capacity(body.len() + 2);
        lines.push(sanitize(first.into()));
        lines.extend(body.into_iter().map(sanitize).map(guard_body_line(code)));
        lines.push(sanitize(last.into()));
        Self { code, lines }
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// True for 1xx preliminary replies.
    pub fn is_preliminary(&self) -> bool {
        self.code < 200
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 {
                let sep = if last == 0 { ' ' } else { '-' };
                out.extend_from_slice(format!("{}{}{}\r\n", self.code, sep, line).as_bytes());
            } else if i == last {
                out.extend_from_slice(format!("{} {}\r\n", self.code, line).as_bytes());
            } else {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" | "))
    }
}

fn sanitize(s: String) -> String {
    // SECURITY: CR/LF (and other controls) from names must not end a reply line early.
    if s.bytes().any(|b| b.is_ascii_control()) {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    } else {
        s
    }
}

/// A body line that starts with the reply's own code followed by a space would end the
/// reply early on the client's side (RFC 959 §4.2): indent it.
fn guard_body_line(code: u16) -> impl Fn(String) -> String {
    let prefix = format!("{code} ");
    move |line| {
        if line.starts_with(&prefix) {
            format!(" {line}")
        } else {
            line
        }
    }
}

/// Quotes a path for 257 replies (RFC 959 Appendix II: embedded `"` doubled).
pub fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        String::from_utf8(r.encode()).unwrap()
    }

    #[test]
    fn single_line() {
        assert_eq!(wire(&Reply::new(220, "ready.")), "220 ready.\r\n");
    }

    #[test]
    fn multi_line_feat_shape() {
        let r = Reply::multi(
            211,
            "Features:",
            vec![" SIZE".into(), " MDTM".into()],
            "End",
        );
        assert_eq!(wire(&r), "211-Features:\r\n SIZE\r\n MDTM\r\n211 End\r\n");
    }

    #[test]
    fn multi_line_without_body() {
        let r = Reply::multi(250, "status of /f", vec![], "End.");
        assert_eq!(wire(&r), "250-status of /f\r\n250 End.\r\n");
    }

    #[test]
    fn crlf_in_text_cannot_inject_a_reply() {
        let r = Reply::new(550, "a\r\n230 evil");
        assert_eq!(wire(&r), "550 a??230 evil\r\n");
        let r = Reply::multi(213, "x", vec!["b\nc".into()], "End");
        assert_eq!(wire(&r), "213-x\r\nb?c\r\n213 End\r\n");
    }

    #[test]
    fn body_line_looking_like_the_end_is_indented() {
        let r = Reply::multi(211, "x", vec!["211 fake".into()], "End");
        assert_eq!(wire(&r), "211-x\r\n 211 fake\r\n211 End\r\n");
    }

    #[test]
    fn quotes_paths() {
        assert_eq!(quote_path("/a\"b"), "\"/a\"\"b\"");
    }

    #[test]
    fn preliminary() {
        assert!(Reply::new(150, "x").is_preliminary());
        assert!(!Reply::new(226, "x").is_preliminary());
    }
}

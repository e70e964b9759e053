//! PROPFIND bodies (RFC 4918 §9.1, §14.20 `propfind`) read with quick-xml's namespace-aware
//! reader, and `207 Multi-Status` answers (§13, §14.16) written with its writer, so no
//! client-supplied text ever reaches the output unescaped. Properties: RFC 4918 §15
//! (displayname, getcontentlength, getlastmodified, creationdate, resourcetype, getetag),
//! RFC 4331 quota-used-bytes / quota-available-bytes, and the LCGDM `mode` davix reads.
//! Sans-I/O.

use std::io;
use std::time::SystemTime;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;

const DAV: &str = "DAV:";
const LCGDM: &str = "LCGDM:";
/// Most properties one PROPFIND may name.
const MAX_PROPS: usize = 64;

/// A property name: namespace URI and local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropName {
    pub ns: String,
    pub local: String,
}

impl PropName {
    #[cfg(test)]
    fn dav(local: &str) -> PropName {
        PropName {
            ns: DAV.into(),
            local: local.into(),
        }
    }
}

/// What a PROPFIND asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropRequest {
    /// `<allprop/>` or an empty body (RFC 4918 §9.1).
    AllProp,
    /// `<propname/>`: the names only.
    PropName,
    /// `<prop>…</prop>`: these properties.
    Props(Vec<PropName>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("the body is not a DAV:propfind element")]
    NotPropfind,
    #[error("too many properties requested")]
    TooMany,
}

/// Parses a PROPFIND body (empty = allprop).
pub fn parse_propfind(body: &[u8]) -> Result<PropRequest, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError::Malformed("not UTF-8".into()))?;
    if text.trim().is_empty() {
        return Ok(PropRequest::AllProp);
    }
    // quick-xml never fetches external entities, and text content is never read here.
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut depth = 0usize;
    let mut in_prop = false;
    let mut seen_root = false;
    let mut req: Option<PropRequest> = None;
    let mut props = Vec::new();
    loop {
        let (ns, ev) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        let ns = match ns {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
            _ => String::new(),
        };
        let (e, opens) = match &ev {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                if depth == 1 && e.local_name().as_ref() == b"prop" {
                    in_prop = false;
                }
                continue;
            }
            Event::Eof => break,
            // SECURITY: no DTDs at all, so no entity tricks (billion laughs) either.
            Event::DocType(_) => return Err(XmlError::Malformed("DTD not allowed".into())),
            _ => continue,
        };
        let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        match depth {
            0 if ns == DAV && local == "propfind" => seen_root = true,
            0 => return Err(XmlError::NotPropfind),
            1 if ns == DAV && local == "allprop" => req = Some(PropRequest::AllProp),
            1 if ns == DAV && local == "propname" => req = Some(PropRequest::PropName),
            1 if ns == DAV && local == "prop" => in_prop = opens,
            2 if in_prop => {
                if props.len() >= MAX_PROPS {
                    return Err(XmlError::TooMany);
                }
                props.push(PropName { ns, local });
            }
            _ => {}
        }
        if opens {
            depth += 1;
        }
    }
    if !seen_root {
        return Err(XmlError::NotPropfind);
    }
    if depth != 0 {
        return Err(XmlError::Malformed("unclosed element".into()));
    }
    Ok(req.unwrap_or(PropRequest::Props(props)))
}

/// What a `<response>` describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Percent-encoded href (collections end in `/`).
    pub href: String,
    pub name: String,
    pub collection: bool,
    pub size: u64,
    pub mtime: SystemTime,
    /// Permission bits (0o7777).
    pub mode: u32,
    pub etag: String,
    /// (used, available) bytes of the file system, reported on collections.
    pub quota: Option<(u64, u64)>,
}

/// The properties griddock knows, in the order allprop lists them.
const KNOWN: [(&str, &str); 9] = [
    (DAV, "displayname"),
    (DAV, "getcontentlength"),
    (DAV, "getlastmodified"),
    (DAV, "creationdate"),
    (DAV, "resourcetype"),
    (DAV, "getetag"),
    (DAV, "quota-used-bytes"),
    (DAV, "quota-available-bytes"),
    (LCGDM, "mode"),
];

/// A `207 Multi-Status` body for `resources` answering `req`.
pub fn multistatus(resources: &[Resource], req: &PropRequest) -> Vec<u8> {
    write_doc(|w| {
        let root = BytesStart::new("D:multistatus")
            .with_attributes([("xmlns:D", DAV), ("xmlns:L", LCGDM)]);
        w.write_event(Event::Start(root))?;
        for r in resources {
            write_response(w, r, req)?;
        }
        w.write_event(Event::End(BytesEnd::new("D:multistatus")))
    })
}

/// `<D:error><D:{precondition}/></D:error>` (RFC 4918 §16).
pub fn error_body(precondition: &str) -> Vec<u8> {
    write_doc(|w| {
        w.write_event(Event::Start(
            BytesStart::new("D:error").with_attributes([("xmlns:D", DAV)]),
        ))?;
        w.write_event(Event::Empty(BytesStart::new(format!("D:{precondition}"))))?;
        w.write_event(Event::End(BytesEnd::new("D:error")))
    })
}

fn write_doc(f: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let ok = w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .and_then(|_| f(&mut w));
    // Writing into a Vec cannot fail; an empty body would be the only symptom.
    debug_assert!(ok.is_ok());
    w.into_inner()
}

fn write_response(w: &mut Writer<Vec<u8>>, r: &Resource, req: &PropRequest) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new("D:response")))?;
    text_element(w, "D:href", &r.href)?;
    let (found, missing): (Vec<PropName>, Vec<PropName>) = match req {
        PropRequest::AllProp | PropRequest::PropName => (
            KNOWN
                .iter()
                .map(|(ns, l)| PropName {
                    ns: (*ns).into(),
                    local: (*l).into(),
                })
                .filter(|p| applies(p, r))
                .collect(),
            Vec::new(),
        ),
        PropRequest::Props(list) => list
            .iter()
            .cloned()
            .partition(|p| known(p) && applies(p, r)),
    };
    let names_only = *req == PropRequest::PropName;
    propstat(w, "HTTP/1.1 200 OK", &found, |w, p| {
        if names_only {
            empty_prop(w, p)
        } else {
            value(w, p, r)
        }
    })?;
    propstat(w, "HTTP/1.1 404 Not Found", &missing, empty_prop)?;
    w.write_event(Event::End(BytesEnd::new("D:response")))
}

fn known(p: &PropName) -> bool {
    KNOWN.iter().any(|(ns, l)| p.ns == *ns && p.local == *l)
}

/// Properties that exist for this resource: sizes for files, quota for collections.
fn applies(p: &PropName, r: &Resource) -> bool {
    match p.local.as_str() {
        "getcontentlength" => !r.collection,
        "quota-used-bytes" | "quota-available-bytes" => r.collection && r.quota.is_some(),
        _ => true,
    }
}

fn propstat<F>(
    w: &mut Writer<Vec<u8>>,
    status: &str,
    props: &[PropName],
    mut each: F,
) -> io::Result<()>
where
    F: FnMut(&mut Writer<Vec<u8>>, &PropName) -> io::Result<()>,
{
    if props.is_empty() {
        return Ok(());
    }
    w.write_event(Event::Start(BytesStart::new("D:propstat")))?;
    w.write_event(Event::Start(BytesStart::new("D:prop")))?;
    for p in props {
        each(w, p)?;
    }
    w.write_event(Event::End(BytesEnd::new("D:prop")))?;
    text_element(w, "D:status", status)?;
    w.write_event(Event::End(BytesEnd::new("D:propstat")))
}

/// The element for a property by name: `D:`/`L:` for ours, else a local prefix bound to
/// the client's namespace.
fn qname(p: &PropName) -> (String, Option<(&'static str, String)>) {
    match p.ns.as_str() {
        DAV => (format!("D:{}", p.local), None),
        LCGDM => (format!("L:{}", p.local), None),
        _ => (format!("X:{}", p.local), Some(("xmlns:X", p.ns.clone()))),
    }
}

fn empty_prop(w: &mut Writer<Vec<u8>>, p: &PropName) -> io::Result<()> {
    // SECURITY: a local name that is not a plain XML name is never echoed (the reader
    // accepted it, but it is client text used as markup).
    if !p
        .local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Ok(());
    }
    let (name, ns) = qname(p);
    let mut el = BytesStart::new(name);
    if let Some((k, v)) = &ns {
        el.push_attribute((*k, v.as_str()));
    }
    w.write_event(Event::Empty(el))
}

fn value(w: &mut Writer<Vec<u8>>, p: &PropName, r: &Resource) -> io::Result<()> {
    let kind = if r.collection { 0o040000 } else { 0o100000 };
    let text = match (p.ns.as_str(), p.local.as_str()) {
        (DAV, "resourcetype") => return resourcetype(w, r.collection),
        (DAV, "displayname") => r.name.clone(),
        (DAV, "getcontentlength") => r.size.to_string(),
        (DAV, "getlastmodified") => httpdate::fmt_http_date(r.mtime),
        (DAV, "creationdate") => rfc3339(r.mtime),
        (DAV, "getetag") => r.etag.clone(),
        (DAV, "quota-used-bytes") => r.quota.map_or(0, |q| q.0).to_string(),
        (DAV, "quota-available-bytes") => r.quota.map_or(0, |q| q.1).to_string(),
        (LCGDM, "mode") => format!("{:o}", kind | (r.mode & 0o7777)),
        _ => return empty_prop(w, p),
    };
    let (name, _) = qname(p);
    text_element(w, &name, &text)
}

fn resourcetype(w: &mut Writer<Vec<u8>>, collection: bool) -> io::Result<()> {
    if !collection {
        return w.write_event(Event::Empty(BytesStart::new("D:resourcetype")));
    }
    w.write_event(Event::Start(BytesStart::new("D:resourcetype")))?;
    w.write_event(Event::Empty(BytesStart::new("D:collection")))?;
    w.write_event(Event::End(BytesEnd::new("D:resourcetype")))
}

fn text_element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))
        .map(|_| ())
}

/// RFC 3339 in UTC (`creationdate`, RFC 4918 §15.1).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact body davix 0.8.4 sends for listings (notes/http-tpc.md §2).
    const DAVIX: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:" xmlns:L="LCGDM:"><D:prop><D:displayname/><D:getlastmodified/><D:creationdate/><D:getcontentlength/><D:quota-used-bytes/><D:resourcetype><D:collection/></D:resourcetype><L:mode/><D:owner></D:owner><D:group></D:group></D:prop></D:propfind>"#;

    #[test]
    fn parses_davix_listing_body() {
        let req = parse_propfind(DAVIX.as_bytes()).unwrap();
        let PropRequest::Props(props) = req else {
            panic!("{req:?}")
        };
        let names: Vec<_> = props.iter().map(|p| p.local.as_str()).collect();
        assert_eq!(
            names,
            [
                "displayname",
                "getlastmodified",
                "creationdate",
                "getcontentlength",
                "quota-used-bytes",
                "resourcetype",
                "mode",
                "owner",
                "group"
            ]
        );
        assert_eq!(props[6].ns, LCGDM);
    }

    #[test]
    fn parses_other_forms() {
        assert_eq!(parse_propfind(b"").unwrap(), PropRequest::AllProp);
        assert_eq!(
            parse_propfind(b"<propfind xmlns=\"DAV:\"><allprop/></propfind>").unwrap(),
            PropRequest::AllProp
        );
        assert_eq!(
            parse_propfind(b"<a:propfind xmlns:a=\"DAV:\"><a:propname/></a:propfind>").unwrap(),
            PropRequest::PropName
        );
        assert_eq!(
            parse_propfind(b"<propfind xmlns=\"DAV:\"><prop><getetag/></prop></propfind>").unwrap(),
            PropRequest::Props(vec![PropName::dav("getetag")])
        );
        assert_eq!(
            parse_propfind(b"<propfind xmlns=\"DAV:\"><prop/></propfind>").unwrap(),
            PropRequest::Props(vec![])
        );
        // rclone's body.
        let rclone = br#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><d:displayname /><d:getlastmodified /><d:getcontentlength /><d:resourcetype /><d:getcontenttype /><oc:checksums /></d:prop></d:propfind>"#;
        let PropRequest::Props(p) = parse_propfind(rclone).unwrap() else {
            panic!()
        };
        assert_eq!(p.len(), 6);
        assert_eq!(p[5].ns, "http://owncloud.org/ns");
    }

    #[test]
    fn refuses_bad_bodies() {
        assert_eq!(
            parse_propfind(b"<other xmlns=\"DAV:\"/>"),
            Err(XmlError::NotPropfind)
        );
        assert_eq!(
            parse_propfind(b"<propfind><allprop/></propfind>"),
            Err(XmlError::NotPropfind),
            "no DAV: namespace"
        );
        assert!(parse_propfind(b"<propfind xmlns=\"DAV:\"><prop>").is_err());
        assert!(parse_propfind(b"<propfind xmlns=\"DAV:\"><a></b></propfind>").is_err());
        assert!(parse_propfind(&[0xff, 0xfe]).is_err());
        let many: String = (0..100).map(|i| format!("<p{i}/>")).collect();
        let body = format!("<propfind xmlns=\"DAV:\"><prop>{many}</prop></propfind>");
        assert_eq!(parse_propfind(body.as_bytes()), Err(XmlError::TooMany));
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><propfind xmlns="DAV:"><prop><getetag>&x;</getetag></prop></propfind>"#;
        assert!(parse_propfind(xxe).is_err(), "a DTD is refused");
    }

    fn res(name: &str, collection: bool) -> Resource {
        Resource {
            href: format!("/{name}"),
            name: name.into(),
            collection,
            size: 42,
            mtime: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            mode: 0o644,
            etag: "\"e\"".into(),
            quota: collection.then_some((10, 20)),
        }
    }

    #[test]
    fn writes_multistatus_for_davix() {
        let req = parse_propfind(DAVIX.as_bytes()).unwrap();
        let mut dir = res("d", true);
        dir.href = "/d/".into();
        dir.mode = 0o755;
        let body = String::from_utf8(multistatus(&[dir, res("d/f", false)], &req)).unwrap();
        assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><D:multistatus xmlns:D=\"DAV:\" xmlns:L=\"LCGDM:\">"), "{body}");
        let first = body.find("<D:href>/d/</D:href>").unwrap();
        let second = body.find("<D:href>/d/f</D:href>").unwrap();
        assert!(first < second, "the collection comes first");
        assert!(body.contains("<D:resourcetype><D:collection/></D:resourcetype>"));
        assert!(body.contains("<L:mode>40755</L:mode>"), "{body}");
        assert!(body.contains("<L:mode>100644</L:mode>"), "{body}");
        assert!(body.contains("<D:getcontentlength>42</D:getcontentlength>"));
        assert!(
            body.contains("<D:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</D:getlastmodified>")
        );
        assert!(body.contains("<D:creationdate>2023-11-14T22:13:20Z</D:creationdate>"));
        assert!(body.contains("<D:quota-used-bytes>10</D:quota-used-bytes>"));
        // owner/group are unknown: a 404 propstat, which davix skips.
        assert!(
            body.contains(
                "<D:owner/><D:group/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status>"
            ),
            "{body}"
        );
        // The file has no quota: 404 there, and its length is 200.
        assert_eq!(body.matches("HTTP/1.1 404 Not Found").count(), 2);
    }

    #[test]
    fn escapes_client_text() {
        let mut r = res("a<b>&\"c", false);
        r.href = "/a%3Cb%3E&%22c".into();
        let body = String::from_utf8(multistatus(&[r], &PropRequest::AllProp)).unwrap();
        assert!(
            body.contains("<D:displayname>a&lt;b&gt;&amp;&quot;c</D:displayname>"),
            "{body}"
        );
        assert!(
            body.contains("<D:href>/a%3Cb%3E&amp;%22c</D:href>"),
            "{body}"
        );
        // Unknown properties in a foreign namespace are echoed with an escaped namespace.
        let req = PropRequest::Props(vec![PropName {
            ns: "urn:x\"><evil/>".into(),
            local: "p".into(),
        }]);
        let body = String::from_utf8(multistatus(&[res("f", false)], &req)).unwrap();
        assert!(
            body.contains("<X:p xmlns:X=\"urn:x&quot;&gt;&lt;evil/&gt;\"/>"),
            "{body}"
        );
        assert!(!body.contains("<evil/>"));
        // A local name that is not a plain XML name is never used as markup.
        let req = PropRequest::Props(vec![PropName {
            ns: "urn:x".into(),
            local: "p><evil/><q".into(),
        }]);
        let body = String::from_utf8(multistatus(&[res("f", false)], &req)).unwrap();
        assert!(!body.contains("<evil/>"), "{body}");
    }

    #[test]
    fn error_document() {
        let body = String::from_utf8(error_body("propfind-finite-depth")).unwrap();
        assert!(body.ends_with("<D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>"));
    }
}

//! WebDAV's XML: reading a PROPFIND body and writing a `207 Multi-Status` answer.

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

/// The `DAV:` namespace.
pub const DAV: &str = "DAV:";

/// A property's name: its namespace and local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropName {
    pub ns: String,
    pub local: String,
}

impl PropName {
    /// A property in the `DAV:` namespace.
    pub fn dav(local: &str) -> PropName {
        PropName {
            ns: DAV.into(),
            local: local.into(),
        }
    }
}

/// What a PROPFIND asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum PropRequest {
    /// Every property with its value (also what an empty body asks).
    All,
    /// The names of the properties only.
    Names,
    /// These properties.
    Some(Vec<PropName>),
}

/// Reads a PROPFIND body; an error says what is wrong with it.
pub fn parse_propfind(body: &[u8]) -> Result<PropRequest, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PropRequest::All);
    }
    let mut reader = NsReader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<PropName> = Vec::new();
    let mut request = None;
    let mut props = Vec::new();
    let mut has_root = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("the PROPFIND body is not XML: {e}"))?;
        let (name, closes) = match &event {
            Event::Start(e) => (Some(name_of(&ns, e.local_name().as_ref())), false),
            Event::Empty(e) => (Some(name_of(&ns, e.local_name().as_ref())), true),
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = name.expect("start and empty elements have names");
        let depth = path.len();
        let is_dav = |local: &str| name.ns == DAV && name.local == local;
        match depth {
            0 if !is_dav("propfind") || has_root => {
                return Err("the body is not one DAV:propfind".into());
            }
            0 => has_root = true,
            1 if is_dav("allprop") => request = request.or(Some(PropRequest::All)),
            1 if is_dav("propname") => request = request.or(Some(PropRequest::Names)),
            2 if path[1] == PropName::dav("prop") => props.push(name.clone()),
            _ => {}
        }
        if !closes {
            path.push(name);
        }
    }
    if !has_root || !path.is_empty() {
        return Err("the PROPFIND body ends too early".into());
    }
    Ok(request.unwrap_or(PropRequest::Some(props)))
}

fn name_of(ns: &ResolveResult<'_>, local: &[u8]) -> PropName {
    let ns = match ns {
        ResolveResult::Bound(Namespace(ns)) => String::from_utf8_lossy(ns).into_owned(),
        _ => String::new(),
    };
    PropName {
        ns,
        local: String::from_utf8_lossy(local).into_owned(),
    }
}

/// A `207 Multi-Status` body being written.
pub struct MultiStatus(String);

impl Default for MultiStatus {
    fn default() -> Self {
        MultiStatus(String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n",
        ))
    }
}

impl MultiStatus {
    /// One resource: the properties found with their values (`None` for a name only) and
    /// those asked for that it does not have.
    pub fn response(
        &mut self,
        href: &str,
        found: &[(PropName, Option<String>)],
        missing: &[PropName],
    ) {
        self.0.push_str("<D:response><D:href>");
        self.0.push_str(&escape(href));
        self.0.push_str("</D:href>");
        for (props, status) in [(found.len(), "200 OK"), (missing.len(), "404 Not Found")] {
            if props == 0 {
                continue;
            }
            self.0.push_str("<D:propstat><D:prop>");
            if status.starts_with("200") {
                for (name, value) in found {
                    self.element(name, value.as_deref());
                }
            } else {
                for name in missing {
                    self.element(name, None);
                }
            }
            self.0.push_str("</D:prop><D:status>HTTP/1.1 ");
            self.0.push_str(status);
            self.0.push_str("</D:status></D:propstat>");
        }
        self.0.push_str("</D:response>\n");
    }

    /// `<name>value</name>`, `value` being XML already.
    fn element(&mut self, name: &PropName, value: Option<&str>) {
        let (open, close) = if name.ns == DAV {
            (format!("D:{}", name.local), format!("D:{}", name.local))
        } else {
            (
                format!("X:{} xmlns:X=\"{}\"", name.local, escape(&name.ns)),
                format!("X:{}", name.local),
            )
        };
        match value {
            Some(v) if !v.is_empty() => {
                self.0.push_str(&format!("<{open}>{v}</{close}>"));
            }
            _ => self.0.push_str(&format!("<{open}/>")),
        }
    }

    /// The finished document.
    pub fn finish(mut self) -> String {
        self.0.push_str("</D:multistatus>\n");
        self.0
    }
}

/// `text` with XML's special characters escaped.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propfind_bodies_are_read_with_their_namespaces() {
        assert_eq!(parse_propfind(b""), Ok(PropRequest::All));
        let allprop = br#"<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>"#;
        assert_eq!(parse_propfind(allprop), Ok(PropRequest::All));
        let some = br#"<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns">
            <D:prop><D:getcontentlength/><oc:checksums/></D:prop></D:propfind>"#;
        assert_eq!(
            parse_propfind(some),
            Ok(PropRequest::Some(vec![
                PropName::dav("getcontentlength"),
                PropName {
                    ns: "http://owncloud.org/ns".into(),
                    local: "checksums".into()
                }
            ]))
        );
        assert!(parse_propfind(b"<propfind xmlns=\"DAV:\"><prop>").is_err());
        assert!(parse_propfind(b"<foo xmlns=\"DAV:\"/>").is_err());
        assert!(parse_propfind(b"not xml at all <").is_err());
        assert!(parse_propfind(b"just text").is_err());
    }

    #[test]
    fn names_and_values_are_escaped_and_unknown_properties_reported_missing() {
        let mut doc = MultiStatus::default();
        doc.response(
            "/dav/a&b/",
            &[(PropName::dav("displayname"), Some(escape("a<b")))],
            &[PropName {
                ns: "urn:x".into(),
                local: "y".into(),
            }],
        );
        let xml = doc.finish();
        assert!(xml.contains("<D:href>/dav/a&amp;b/</D:href>"), "{xml}");
        assert!(
            xml.contains("<D:displayname>a&lt;b</D:displayname>"),
            "{xml}"
        );
        assert!(xml.contains("<X:y xmlns:X=\"urn:x\"/>"), "{xml}");
        assert!(xml.contains("404 Not Found"), "{xml}");
    }
}

//! Pure parsers for what services say first: SSH version lines, HTTP
//! responses, and SMTP/FTP/POP3/IMAP greetings. No I/O; every input is
//! untrusted and may be truncated, binary or hostile (fuzz target:
//! `agent/fuzz/fuzz_targets/banner.rs`).

use census_proto::{HttpEvidence, ServiceEvidence};

use super::sanitize::{MAX_TEXT, clean};

fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Identify a greeting a server sent unprompted.
pub fn parse_greeting(bytes: &[u8]) -> Option<ServiceEvidence> {
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = clean(first_line, MAX_TEXT);
    if line.is_empty() {
        return None;
    }
    if let Some(rest) = line.strip_prefix("SSH-") {
        return Some(parse_ssh(&line, rest));
    }
    let upper = line.to_ascii_uppercase();
    let name = if upper.starts_with("220") && (upper.contains("SMTP") || upper.contains("MAIL")) {
        "smtp"
    } else if upper.starts_with("220") && upper.contains("FTP") {
        "ftp"
    } else if upper.starts_with("220") {
        // A bare 220 is SMTP or FTP; SMTP servers almost always say ESMTP.
        "ftp"
    } else if upper.starts_with("+OK") {
        "pop3"
    } else if upper.starts_with("* OK") {
        "imap"
    } else {
        return Some(ServiceEvidence { banner: Some(line), ..Default::default() });
    };
    let product = product_in_greeting(&line);
    Some(ServiceEvidence { name: Some(name.into()), product, banner: Some(line), ..Default::default() })
}

fn product_in_greeting(line: &str) -> Option<String> {
    const KNOWN: &[&str] = &[
        "Postfix",
        "Exim",
        "Sendmail",
        "Microsoft",
        "vsFTPd",
        "ProFTPD",
        "Pure-FTPd",
        "FileZilla",
        "Dovecot",
        "Courier",
        "Cyrus",
    ];
    KNOWN.iter().find(|k| line.to_ascii_lowercase().contains(&k.to_ascii_lowercase())).map(|k| (*k).to_string())
}

/// `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`: product, version, and any comment.
fn parse_ssh(line: &str, rest: &str) -> ServiceEvidence {
    // rest = "2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
    let software = rest.split_once('-').map_or("", |(_, s)| s);
    let (id, comment) = software.split_once(' ').unwrap_or((software, ""));
    let (product, version) = match id.split_once('_') {
        Some((p, v)) => (p.to_string(), v.to_string()),
        None => match id.split_once('-') {
            Some((p, v)) => (p.to_string(), v.to_string()),
            None => (id.to_string(), String::new()),
        },
    };
    let _ = comment;
    ServiceEvidence {
        name: Some("ssh".into()),
        product: some(product),
        version: some(version),
        banner: Some(line.to_string()),
        ..Default::default()
    }
}

/// What an SSH or HTTP server's self-description says about the OS, if anything.
pub fn os_hint(evidence: &ServiceEvidence) -> Option<(&'static str, String)> {
    let text = format!(
        "{} {}",
        evidence.banner.as_deref().unwrap_or(""),
        evidence.http.as_ref().and_then(|h| h.server.as_deref()).unwrap_or("")
    )
    .to_ascii_lowercase();
    const HINTS: &[(&str, &str)] = &[
        ("debian", "linux"),
        ("ubuntu", "linux"),
        ("raspbian", "linux"),
        ("centos", "linux"),
        ("red hat", "linux"),
        ("for_windows", "windows"),
        ("microsoft", "windows"),
        ("win32", "windows"),
        ("win64", "windows"),
        ("cisco", "network-os"),
        ("routeros", "network-os"),
        ("junos", "network-os"),
        ("freebsd", "bsd"),
        ("openbsd", "bsd"),
    ];
    HINTS.iter().find(|(k, _)| text.contains(k)).map(|(k, fam)| (*fam, (*k).to_string()))
}

/// Parse an HTTP response: status, `Server`, `Location`, and the page title.
pub fn parse_http(bytes: &[u8]) -> Option<HttpEvidence> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    if !status_line.starts_with("HTTP/") {
        return None;
    }
    let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok());
    let mut ev = HttpEvidence { status, ..Default::default() };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        match name.trim().to_ascii_lowercase().as_str() {
            "server" => ev.server = some(clean(value.trim().as_bytes(), MAX_TEXT)),
            "location" => ev.redirect = some(clean(value.trim().as_bytes(), MAX_TEXT)),
            _ => {}
        }
    }
    ev.title = title(&bytes[head_end.min(bytes.len())..]);
    Some(ev)
}

fn title(body: &[u8]) -> Option<String> {
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    let open = find(&lower, b"<title")?;
    let start = open + find(&lower[open..], b">")? + 1;
    let end = start + find(&lower[start..], b"</title").unwrap_or(lower.len() - start);
    some(clean(&body[start..end], MAX_TEXT))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_banners() {
        let e = parse_greeting(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n").unwrap();
        assert_eq!(
            (e.name.as_deref(), e.product.as_deref(), e.version.as_deref()),
            (Some("ssh"), Some("OpenSSH"), Some("9.2p1"))
        );
        assert_eq!(os_hint(&e).map(|h| h.0), Some("linux"));
        let e = parse_greeting(b"SSH-2.0-Cisco-1.25\r\n").unwrap();
        assert_eq!((e.product.as_deref(), e.version.as_deref()), (Some("Cisco"), Some("1.25")));
        assert_eq!(os_hint(&e).map(|h| h.0), Some("network-os"));
        let e = parse_greeting(b"SSH-2.0-OpenSSH_for_Windows_8.1\r\n").unwrap();
        assert_eq!(os_hint(&e).map(|h| h.0), Some("windows"));
    }

    #[test]
    fn mail_and_file_greetings() {
        let e = parse_greeting(b"220 mail.example ESMTP Postfix (Debian/GNU)\r\n").unwrap();
        assert_eq!((e.name.as_deref(), e.product.as_deref()), (Some("smtp"), Some("Postfix")));
        assert_eq!(parse_greeting(b"220 (vsFTPd 3.0.3)\r\n").unwrap().name.as_deref(), Some("ftp"));
        assert_eq!(parse_greeting(b"+OK Dovecot ready.\r\n").unwrap().name.as_deref(), Some("pop3"));
        assert_eq!(
            parse_greeting(b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n").unwrap().name.as_deref(),
            Some("imap")
        );
        assert_eq!(parse_greeting(b"\x00\x01\x02"), None);
    }

    #[test]
    fn http_responses() {
        let r = b"HTTP/1.1 301 Moved\r\nServer: nginx/1.22.1\r\nLocation: https://x.example/\r\n\r\n<html><HEAD><Title>\n Moved  here </title>";
        let h = parse_http(r).unwrap();
        assert_eq!(h.status, Some(301));
        assert_eq!(h.server.as_deref(), Some("nginx/1.22.1"));
        assert_eq!(h.redirect.as_deref(), Some("https://x.example/"));
        assert_eq!(h.title.as_deref(), Some("Moved here"));
        assert!(parse_http(b"SSH-2.0-x").is_none());
        // Truncated mid-title: what there is, cleaned.
        assert_eq!(parse_http(b"HTTP/1.0 200 OK\r\n\r\n<title>abc").unwrap().title.as_deref(), Some("abc"));
    }
}

//! Reading an nmap `-oX` report: a streaming pass over the XML (quick-xml;
//! no document tree), keeping only the hosts that were up — a report of a
//! /16 with a handful of live hosts costs those hosts, not the file.
//!
//! The elements read are those of nmap's DTD (`nmap.dtd`, shipped with nmap
//! and documented at <https://nmap.org/book/nmap-dtd.html>): `nmaprun`
//! (`scanner`, `args`, `start`, `version`), `scaninfo` (`type`, `protocol`,
//! `services`), `host` with `status`, `address`, `hostnames/hostname`,
//! `ports/port` (`state`, `service`), `os/osmatch/osclass`, `times`, and
//! `runstats` (`finished`, `hosts`). Anything else is skipped.
//!
//! A report that does not end properly (an interrupted scan: no
//! `</nmaprun>`, no `<runstats>`) or is not well-formed is refused with the
//! element and byte offset at fault. The XML reader never expands entities
//! declared in a DOCTYPE, so entity bombs and external entities cost
//! nothing: an undeclared entity is an error like any other.

use std::collections::HashMap;
use std::net::IpAddr;

use quick_xml::events::{BytesStart, Event};

/// What an nmap report says, as far as Census uses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NmapRun {
    /// `nmaprun@scanner`: `nmap` for nmap's own reports.
    pub scanner: String,
    /// `nmaprun@version`, e.g. `7.93`.
    pub version: Option<String>,
    /// `nmaprun@args`: the command line.
    pub args: Option<String>,
    /// `nmaprun@start`, unix seconds.
    pub start: Option<i64>,
    /// One per `scaninfo`: the port scan type, protocol and ports probed.
    pub scans: Vec<ScanInfo>,
    /// The hosts that were up, in report order.
    pub hosts: Vec<NmapHost>,
    /// Hosts the report lists as down (nmap lists them only with `-v`).
    pub listed_down: u64,
    /// `runstats/finished`: unix seconds and `exit` (`success` or `error`).
    pub finished: Option<(i64, String)>,
    /// `runstats/hosts`: up, down, total.
    pub totals: Option<(u64, u64, u64)>,
}

/// One `scaninfo` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanInfo {
    /// `syn`, `connect`, `udp`, ...
    pub kind: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Ports probed, nmap's list syntax (`22,80,100-200`).
    pub services: String,
}

/// One host that was up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NmapHost {
    /// `status@reason`: `arp-response`, `echo-reply`, `syn-ack`, `reset`, ...
    pub reason: Option<String>,
    /// `status@reason_ttl`.
    pub reason_ttl: Option<u8>,
    /// The IPv4 or IPv6 address.
    pub ip: Option<IpAddr>,
    /// The MAC address as nmap wrote it, and its vendor.
    pub mac: Option<(String, Option<String>)>,
    /// `hostname@name` with `hostname@type` (`PTR`, `user`).
    pub hostnames: Vec<(String, String)>,
    /// Ports with a state.
    pub ports: Vec<NmapPort>,
    /// `osmatch@name` and `@accuracy` (percent), with their `osclass` lines.
    pub os: Vec<OsMatch>,
    /// `host@starttime` and `@endtime`, unix seconds.
    pub times: (Option<i64>, Option<i64>),
    /// `times@srtt`, microseconds.
    pub srtt_us: Option<u64>,
}

/// One `osmatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsMatch {
    /// E.g. `Linux 4.15 - 5.8`.
    pub name: String,
    /// Percent.
    pub accuracy: u8,
    /// `osclass` entries: `vendor osfamily osgen (type)`.
    pub classes: Vec<String>,
    /// The first `osclass@osfamily` (`Linux`, `Windows`, `IOS`, ...).
    pub family: Option<String>,
}

/// One port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NmapPort {
    /// `tcp`, `udp`, `sctp`.
    pub protocol: String,
    /// The port number.
    pub port: u16,
    /// `open`, `closed`, `filtered`, `open|filtered`, ...
    pub state: String,
    /// `service@name`, `@product`, `@version`, `@extrainfo`.
    pub service: Option<NmapService>,
}

/// What nmap says runs on a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NmapService {
    /// `ssh`, `http`, ...
    pub name: Option<String>,
    /// `OpenSSH`.
    pub product: Option<String>,
    /// `9.2p1 Debian 2`.
    pub version: Option<String>,
    /// `protocol 2.0`.
    pub extrainfo: Option<String>,
    /// `probed` (a version scan) or `table` (the port's usual service).
    pub method: Option<String>,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{element} (byte {offset}): {message}")]
pub struct NmapError {
    /// Where: `nmaprun/host[3]/ports/port[2]`, or `nmaprun` for the whole report.
    pub element: String,
    /// Byte offset in the file.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// Where the reader is, for error messages: element names with the index
/// of each `host` and `port` (1-based, as a person counts).
#[derive(Default)]
struct Path {
    names: Vec<String>,
    hosts: usize,
    ports: usize,
}

impl Path {
    fn push(&mut self, name: &str) {
        let shown = match name {
            "host" => {
                self.hosts += 1;
                self.ports = 0;
                format!("host[{}]", self.hosts)
            }
            "port" => {
                self.ports += 1;
                format!("port[{}]", self.ports)
            }
            _ => name.to_string(),
        };
        self.names.push(shown);
    }

    fn show(&self, leaf: Option<&str>) -> String {
        let mut s = self.names.join("/");
        if let Some(l) = leaf {
            if !s.is_empty() {
                s.push('/');
            }
            s.push_str(l);
        }
        if s.is_empty() { "the document".into() } else { s }
    }
}

/// The attributes of one element, unescaped.
fn attributes(e: &BytesStart<'_>) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("malformed attribute: {err}"))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a.unescape_value().map_err(|err| format!("attribute `{key}`: {err}"))?;
        out.insert(key, value.into_owned());
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(attrs: &HashMap<String, String>, key: &str) -> Result<Option<T>, String> {
    match attrs.get(key) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| format!("`{key}` is not a number: `{}`", v.escape_debug())),
    }
}

fn text(attrs: &mut HashMap<String, String>, key: &str) -> Option<String> {
    attrs.remove(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The host being read, with whether nmap said it was up.
#[derive(Default)]
struct Current {
    host: NmapHost,
    up: bool,
}

/// Read a report.
///
/// # Errors
/// [`NmapError`] naming the element: not XML, not an nmap report, cut
/// short (no `</nmaprun>` or no `<runstats>`), or a value out of range.
pub fn parse(xml: &[u8]) -> Result<NmapRun, NmapError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut path = Path::default();
    let mut run = NmapRun::default();
    let mut seen_root = false;
    let mut closed_root = false;
    let mut host: Option<Current> = None;
    let fail = |path: &Path, leaf: Option<&str>, offset: u64, message: String| NmapError {
        element: path.show(leaf),
        offset,
        message,
    };
    loop {
        let offset = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let at_end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX) >= xml.len();
            let message = if at_end && matches!(e, quick_xml::Error::Syntax(_)) {
                format!("the report ends in the middle of a tag: it was cut short (an interrupted scan, or a partial copy): {e}")
            } else {
                format!("not well-formed XML: {e}")
            };
            fail(&path, None, reader.error_position(), message)
        })?;
        let (e, empty) = match event {
            Event::Eof => break,
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if path.names.last().is_some_and(|n| n.starts_with("host["))
                    && let Some(done) = host.take()
                {
                    if done.up {
                        run.hosts.push(done.host);
                    } else {
                        run.listed_down += 1;
                    }
                }
                path.names.pop();
                if path.names.is_empty() && seen_root {
                    closed_root = true;
                }
                continue;
            }
            _ => continue,
        };
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        if !seen_root {
            if name != "nmaprun" {
                return Err(fail(
                    &path,
                    Some(&name),
                    offset,
                    "not an nmap XML report (`-oX`): the root element must be <nmaprun>".into(),
                ));
            }
            seen_root = true;
        } else if closed_root {
            return Err(fail(&path, Some(&name), offset, "content after </nmaprun>".into()));
        }
        let mut attrs = attributes(&e).map_err(|m| fail(&path, Some(&name), offset, m))?;
        let parent = path.names.last().map(String::as_str).unwrap_or("");
        let in_host = host.is_some();
        let at = |m: String| fail(&path, Some(&name), offset, m);
        match name.as_str() {
            "nmaprun" if path.names.is_empty() => {
                run.scanner = text(&mut attrs, "scanner").unwrap_or_default();
                run.version = text(&mut attrs, "version");
                run.args = text(&mut attrs, "args");
                run.start = number(&attrs, "start").map_err(at)?;
            }
            "scaninfo" => run.scans.push(ScanInfo {
                kind: text(&mut attrs, "type").unwrap_or_default(),
                protocol: text(&mut attrs, "protocol").unwrap_or_default(),
                services: text(&mut attrs, "services").unwrap_or_default(),
            }),
            "host" if !in_host => {
                let mut h = Current::default();
                h.host.times = (number(&attrs, "starttime").map_err(at)?, number(&attrs, "endtime").map_err(at)?);
                host = Some(h);
            }
            "status" if in_host => {
                if let Some(h) = host.as_mut() {
                    h.up = attrs.get("state").is_some_and(|s| s == "up");
                    h.host.reason = text(&mut attrs, "reason");
                    h.host.reason_ttl = number(&attrs, "reason_ttl").map_err(at)?;
                }
            }
            "address" if in_host => {
                let addr = text(&mut attrs, "addr").ok_or_else(|| at("no `addr`".into()))?;
                let kind = text(&mut attrs, "addrtype").unwrap_or_default();
                if let Some(h) = host.as_mut() {
                    match kind.as_str() {
                        "ipv4" | "ipv6" => {
                            let ip: IpAddr = addr
                                .parse()
                                .map_err(|_| at(format!("`{}` is not an IP address", addr.escape_debug())))?;
                            // `::ffff:198.18.1.72` is the IPv4 host it maps, as agents' batches store it.
                            h.host.ip = Some(ip.to_canonical());
                        }
                        "mac" => h.host.mac = Some((addr, text(&mut attrs, "vendor"))),
                        other => return Err(at(format!("unknown addrtype `{}`", other.escape_debug()))),
                    }
                }
            }
            "hostname" if in_host => {
                if let (Some(h), Some(n)) = (host.as_mut(), text(&mut attrs, "name")) {
                    h.host.hostnames.push((n, text(&mut attrs, "type").unwrap_or_default()));
                }
            }
            "port" if in_host => {
                let id: u32 = number(&attrs, "portid").map_err(at)?.ok_or_else(|| at("no `portid`".into()))?;
                let port = u16::try_from(id)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| at(format!("portid {id} is not a port (1-65535)")))?;
                if let Some(h) = host.as_mut() {
                    h.host.ports.push(NmapPort {
                        protocol: text(&mut attrs, "protocol").unwrap_or_default(),
                        port,
                        state: String::new(),
                        service: None,
                    });
                }
            }
            "state" if parent.starts_with("port[") => {
                if let Some(p) = host.as_mut().and_then(|h| h.host.ports.last_mut()) {
                    p.state = text(&mut attrs, "state").unwrap_or_default();
                }
            }
            "service" if parent.starts_with("port[") => {
                if let Some(p) = host.as_mut().and_then(|h| h.host.ports.last_mut()) {
                    p.service = Some(NmapService {
                        name: text(&mut attrs, "name"),
                        product: text(&mut attrs, "product"),
                        version: text(&mut attrs, "version"),
                        extrainfo: text(&mut attrs, "extrainfo"),
                        method: text(&mut attrs, "method"),
                    });
                }
            }
            "osmatch" if in_host => {
                let accuracy: u32 = number(&attrs, "accuracy").map_err(at)?.unwrap_or(0);
                let accuracy = u8::try_from(accuracy)
                    .ok()
                    .filter(|a| *a <= 100)
                    .ok_or_else(|| at(format!("accuracy {accuracy} is not a percentage (0-100)")))?;
                if let Some(h) = host.as_mut() {
                    h.host.os.push(OsMatch {
                        name: text(&mut attrs, "name").unwrap_or_default(),
                        accuracy,
                        classes: Vec::new(),
                        family: None,
                    });
                }
            }
            "osclass" if parent == "osmatch" => {
                if let Some(m) = host.as_mut().and_then(|h| h.host.os.last_mut()) {
                    let family = text(&mut attrs, "osfamily");
                    let line = [text(&mut attrs, "vendor"), family.clone(), text(&mut attrs, "osgen")]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    let line = match text(&mut attrs, "type") {
                        Some(t) => format!("{line} ({t})"),
                        None => line,
                    };
                    m.classes.push(line);
                    if m.family.is_none() {
                        m.family = family;
                    }
                }
            }
            "times" if in_host => {
                if let Some(h) = host.as_mut() {
                    h.host.srtt_us = number(&attrs, "srtt").map_err(at)?;
                }
            }
            "finished" if parent == "runstats" => {
                let time: i64 = number(&attrs, "time").map_err(at)?.ok_or_else(|| at("no `time`".into()))?;
                run.finished = Some((time, text(&mut attrs, "exit").unwrap_or_else(|| "success".into())));
            }
            "hosts" if parent == "runstats" => {
                let n = |k: &str| number::<u64>(&attrs, k).map(Option::unwrap_or_default);
                run.totals = Some((n("up").map_err(at)?, n("down").map_err(at)?, n("total").map_err(at)?));
            }
            _ => {}
        }
        if !empty {
            path.push(&name);
        }
    }
    let end = reader.buffer_position();
    if !seen_root {
        return Err(NmapError {
            element: "the document".into(),
            offset: end,
            message: "not an nmap XML report (`-oX`): no <nmaprun> root element".into(),
        });
    }
    if !closed_root {
        return Err(fail(
            &path,
            None,
            end,
            "the report ends inside this element: it was cut short (an interrupted scan, or a partial copy)".into(),
        ));
    }
    if run.scanner != "nmap" {
        return Err(NmapError {
            element: "nmaprun".into(),
            offset: 0,
            message: format!("scanner is `{}`, not nmap", run.scanner.escape_debug()),
        });
    }
    if run.finished.is_none() || run.totals.is_none() {
        return Err(NmapError {
            element: "nmaprun/runstats".into(),
            offset: end,
            message: "missing: nmap did not finish the scan (no <runstats> with <finished> and <hosts>)".into(),
        });
    }
    Ok(run)
}

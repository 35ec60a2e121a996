//! Recognising a release from what a service says about itself: pure
//! functions from one banner (an SSH greeting, an HTTP `Server` header, or
//! nmap's `product version extrainfo`) to the `(product, release)` key of
//! the end-of-life table, with how it was recognised.
//!
//! Only what a banner pins down is claimed:
//! - OpenSSH with a distribution's package suffix: `+debN` names Debian N
//!   (`OpenSSH_7.4p1 Debian-10+deb9u7`); otherwise the upstream version each
//!   Debian or Ubuntu release ships (one per release, for its whole life:
//!   packages.debian.org, packages.ubuntu.com `openssh-server`);
//! - Apache httpd with a distribution comment (`Apache/2.4.25 (Debian)`,
//!   `(Ubuntu)`, `(CentOS)`, `(Red Hat)`), by the version each release
//!   ships; and Apache httpd branches the project ended (1.3, 2.0, 2.2),
//!   whatever the comment;
//! - Microsoft IIS, whose version each Windows Server release fixes
//!   (6.0: 2003, 7.0: 2008, 7.5: 2008 R2, 8.0: 2012, 8.5: 2012 R2; 10.0 is
//!   2016 to 2025 and says nothing).
//!
//! A bare upstream version (`nginx/1.22.1`, `OpenSSH_9.2`) is not a release:
//! distributions patch old versions for years, so it never raises anything.

/// A release recognised in a banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    /// Table product: `debian`, `ubuntu`, `rhel`, `windows-server`, `apache-httpd`.
    pub product: &'static str,
    /// Table release: `9`, `18.04`, `2008 R2`, `2.2`.
    pub release: String,
    /// How, for people: `OpenSSH package suffix +deb9`.
    pub by: String,
}

fn found(product: &'static str, release: &str, by: String) -> Option<Recognised> {
    Some(Recognised { product, release: release.to_string(), by })
}

/// The OpenSSH upstream version each Debian release ships.
const DEBIAN_OPENSSH: &[(&str, &str)] = &[
    ("5.5p1", "6"),
    ("6.0p1", "7"),
    ("6.7p1", "8"),
    ("7.4p1", "9"),
    ("7.9p1", "10"),
    ("8.4p1", "11"),
    ("9.2p1", "12"),
    ("10.0p1", "13"),
];

/// The OpenSSH upstream version each Ubuntu LTS ships.
const UBUNTU_OPENSSH: &[(&str, &str)] = &[
    ("6.6.1p1", "14.04"),
    ("7.2p2", "16.04"),
    ("7.6p1", "18.04"),
    ("8.2p1", "20.04"),
    ("8.9p1", "22.04"),
    ("9.6p1", "24.04"),
];

/// The Apache httpd version each release ships.
const DEBIAN_APACHE: &[(&str, &str)] = &[("2.2.22", "7"), ("2.4.10", "8"), ("2.4.25", "9"), ("2.4.38", "10")];
const UBUNTU_APACHE: &[(&str, &str)] =
    &[("2.4.7", "14.04"), ("2.4.18", "16.04"), ("2.4.29", "18.04"), ("2.4.41", "20.04"), ("2.4.52", "22.04")];
const RHEL_APACHE: &[(&str, &str)] = &[("2.2.15", "6"), ("2.4.6", "7")];

fn lookup<'a>(table: &'a [(&str, &str)], version: &str) -> Option<&'a str> {
    table.iter().find(|(v, _)| *v == version).map(|(_, r)| *r)
}

/// OpenSSH: `SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7`, `OpenSSH_7.6p1 Ubuntu-4ubuntu0.7`,
/// or nmap's `OpenSSH 7.4p1 Debian 10+deb9u7`.
fn openssh(banner: &str) -> Option<Recognised> {
    let at = banner.find("OpenSSH")?;
    let rest = banner[at + "OpenSSH".len()..].trim_start_matches(['_', ' ']);
    let (version, comment) = rest.split_once(' ').unwrap_or((rest, ""));
    let comment = comment.trim();
    // A backport (`~bpo10+1`) is built for the release it names.
    if let Some(i) = comment.find("~bpo") {
        let n: String = comment[i + 4..].chars().take_while(char::is_ascii_digit).collect();
        if !n.is_empty() {
            return found("debian", &n, format!("OpenSSH backport for Debian {n} (~bpo{n})"));
        }
    }
    if let Some(i) = comment.find("+deb") {
        let n: String = comment[i + 4..].chars().take_while(char::is_ascii_digit).collect();
        if !n.is_empty() && comment[i + 4 + n.len()..].starts_with('u') {
            return found("debian", &n, format!("OpenSSH package suffix +deb{n}"));
        }
    }
    if comment.starts_with("Debian") || comment.starts_with("Raspbian") {
        let r = lookup(DEBIAN_OPENSSH, version)?;
        return found("debian", r, format!("OpenSSH {version} as packaged by Debian {r}"));
    }
    if comment.starts_with("Ubuntu") {
        let r = lookup(UBUNTU_OPENSSH, version)?;
        return found("ubuntu", r, format!("OpenSSH {version} as packaged by Ubuntu {r}"));
    }
    None
}

/// Apache httpd: `Apache/2.4.25 (Debian)` or nmap's `Apache httpd 2.4.25 ((Debian))`.
fn apache(banner: &str) -> Option<Recognised> {
    let rest = banner.strip_prefix("Apache/").or_else(|| banner.strip_prefix("Apache httpd "))?;
    let version: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let comment = rest[version.len()..].trim().trim_start_matches('(').to_string();
    let distro = |name: &str| comment.starts_with(name);
    if distro("Debian")
        && let Some(r) = lookup(DEBIAN_APACHE, &version)
    {
        return found("debian", r, format!("Apache httpd {version} as packaged by Debian {r}"));
    }
    if distro("Ubuntu")
        && let Some(r) = lookup(UBUNTU_APACHE, &version)
    {
        return found("ubuntu", r, format!("Apache httpd {version} as packaged by Ubuntu {r}"));
    }
    if (distro("CentOS") || distro("Red Hat"))
        && let Some(r) = lookup(RHEL_APACHE, &version)
    {
        return found("rhel", r, format!("Apache httpd {version} as packaged by RHEL/CentOS {r}"));
    }
    let branch: Vec<&str> = version.split('.').take(2).collect();
    match branch.as_slice() {
        ["1", "3"] | ["2", "0"] | ["2", "2"] => {
            let b = branch.join(".");
            found("apache-httpd", &b, format!("Apache httpd {version} (branch {b})"))
        }
        _ => None,
    }
}

/// IIS: `Microsoft-IIS/7.5` or nmap's `Microsoft IIS httpd 7.5`.
fn iis(banner: &str) -> Option<Recognised> {
    let version = banner.strip_prefix("Microsoft-IIS/").or_else(|| banner.strip_prefix("Microsoft IIS httpd "))?;
    let version = version.split_whitespace().next()?;
    let release = match version {
        "6.0" => "2003",
        "7.0" => "2008",
        "7.5" => "2008 R2",
        "8.0" => "2012",
        "8.5" => "2012 R2",
        _ => return None,
    };
    found("windows-server", release, format!("IIS {version} ships only with Windows Server {release}"))
}

/// The release `banner` reveals, if it reveals one.
pub fn recognise(banner: &str) -> Option<Recognised> {
    let b = banner.trim();
    openssh(b).or_else(|| apache(b)).or_else(|| iis(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: &str) -> Option<(&'static str, String)> {
        recognise(b).map(|r| (r.product, r.release))
    }

    #[test]
    fn distribution_suffixes_and_shipped_versions_name_the_release() {
        assert_eq!(key("SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7"), Some(("debian", "9".into())));
        assert_eq!(key("OpenSSH 7.4p1 Debian 10+deb9u7"), Some(("debian", "9".into())), "nmap's form");
        assert_eq!(key("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"), Some(("debian", "12".into())));
        assert_eq!(key("SSH-2.0-OpenSSH_9.2p1 Debian-2"), Some(("debian", "12".into())), "the release's own package");
        assert_eq!(key("SSH-2.0-OpenSSH_7.4p1 Raspbian-10+deb9u7"), Some(("debian", "9".into())));
        assert_eq!(key("SSH-2.0-OpenSSH_8.4p1 Debian-5~bpo10+1"), Some(("debian", "10".into())), "a backport");
        assert_eq!(key("SSH-2.0-OpenSSH_7.6p1 Ubuntu-4ubuntu0.7"), Some(("ubuntu", "18.04".into())));
        assert_eq!(key("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11"), Some(("ubuntu", "20.04".into())));
        assert_eq!(key("Apache/2.4.25 (Debian)"), Some(("debian", "9".into())));
        assert_eq!(key("Apache httpd 2.4.29 ((Ubuntu))"), Some(("ubuntu", "18.04".into())));
        assert_eq!(key("Apache/2.4.6 (CentOS) OpenSSL/1.0.2k-fips"), Some(("rhel", "7".into())));
        assert_eq!(key("Apache/2.2.15 (Red Hat)"), Some(("rhel", "6".into())));
        assert_eq!(key("Apache/2.2.34 (Unix)"), Some(("apache-httpd", "2.2".into())));
        assert_eq!(key("Microsoft-IIS/7.5"), Some(("windows-server", "2008 R2".into())));
        assert_eq!(key("Microsoft IIS httpd 6.0"), Some(("windows-server", "2003".into())));
    }

    #[test]
    fn bare_upstream_versions_and_noise_claim_nothing() {
        for b in [
            "SSH-2.0-OpenSSH_9.2",
            "SSH-2.0-OpenSSH_7.4",
            "SSH-2.0-OpenSSH_for_Windows_8.1",
            "SSH-2.0-OpenSSH_1.0p1 Debian-1",
            "nginx/1.22.1",
            "Apache/2.4.62 (Debian)",
            "Apache",
            "Apache/",
            "Microsoft-IIS/10.0",
            "Microsoft-IIS/",
            "",
            "OpenSSH",
            "OpenSSH_",
            "\u{0}+deb",
            "x+deb99999999999999999999999u1 OpenSSH_1 Debian+deb",
        ] {
            assert_eq!(recognise(b), None, "{b:?}");
        }
    }
}

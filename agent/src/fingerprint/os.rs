//! OS family from what the sweeps already collected.
//!
//! Each piece of evidence votes for a family with a weight: the initial TTL
//! inferred from the reply TTL (the strongest single signal a sweep gets),
//! the SYN-ACK's TCP option order (Linux answers `M,S,T,N,W`, Windows
//! `M,N,W,N,N,S`), service banners, and the MAC vendor where a vendor makes
//! mostly one kind of system ([`VENDOR_FAMILIES`]). A TTL of 64 says
//! "Unix-like", not "Linux": with an Apple MAC it votes for macOS/iOS. The
//! winner's confidence is its share of the votes scaled by how much
//! evidence there was, so conflicting evidence lowers the confidence
//! instead of being ignored — and the conflict is listed.

use census_proto::{FingerprintGuess, FingerprintKind, SynAckSignature, Ttl};

struct Vote {
    family: &'static str,
    weight: f64,
    evidence: String,
}

fn ttl_vote(ttl: Ttl) -> Option<Vote> {
    let (initial, hops) = ttl.initial_guess();
    let family = match initial.0 {
        64 => "linux",
        128 => "windows",
        255 => "network-os",
        _ => return None,
    };
    Some(Vote {
        family,
        weight: 0.6,
        evidence: format!("reply TTL {} (initial {}, {hops} hops): {family}", ttl.0, initial.0),
    })
}

fn synack_vote(sig: &SynAckSignature) -> Option<Vote> {
    let family = match sig.options.as_str() {
        "M,S,T,N,W" | "M,N,N,S,N,W" => "linux",
        "M,N,W,N,N,S" | "M,N,W,S,T" | "M,N,W,N,N,T,S" => "windows",
        "M" => "network-os",
        _ => return None,
    };
    Some(Vote {
        family,
        weight: 0.3,
        evidence: format!("SYN-ACK options {} (window {}): {family}", sig.options, sig.window),
    })
}

/// MAC vendors (as the IEEE registry spells the organisation, matched as a
/// case-insensitive prefix) whose devices run mostly one OS family. Source:
/// the IEEE MA-L registry's organisation names; the families are those
/// vendors' own product lines (Apple: macOS, iOS, iPadOS; the others:
/// their network operating systems).
pub const VENDOR_FAMILIES: &[(&str, &str)] = &[
    ("Apple", "macos-ios"),
    ("Raspberry Pi", "linux"),
    ("Cisco", "network-os"),
    ("Juniper", "network-os"),
    ("Arista", "network-os"),
    ("Routerboard.com", "network-os"),
    ("Ubiquiti", "network-os"),
    ("Fortinet", "network-os"),
];

/// Families that start their TTL at 64, like Linux.
const TTL_64: &[&str] = &["linux", "macos-ios"];

fn vendor_vote(vendor: &str) -> Option<Vote> {
    let (prefix, family) = VENDOR_FAMILIES
        .iter()
        .find(|(p, _)| vendor.len() >= p.len() && vendor.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()))?;
    Some(Vote { family, weight: 0.3, evidence: format!("MAC vendor {vendor} ({prefix} devices): {family}") })
}

/// Guess the OS family from a reply TTL, a SYN-ACK shape, service hints
/// (family, what said so — e.g. an SSH banner naming Debian) and the MAC
/// vendor, if any.
pub fn guess(
    ttl: Option<Ttl>,
    syn_ack: Option<&SynAckSignature>,
    hints: &[(&'static str, String)],
    vendor: Option<&str>,
) -> Option<FingerprintGuess> {
    let by_vendor = vendor.and_then(vendor_vote);
    let mut votes: Vec<Vote> = [ttl.and_then(ttl_vote), syn_ack.and_then(synack_vote)].into_iter().flatten().collect();
    if let Some(v) = by_vendor {
        // TTL 64 is every Unix-like stack: it backs the vendor's family when that family starts at 64.
        for t in votes.iter_mut().filter(|t| t.family == "linux" && t.evidence.starts_with("reply TTL")) {
            if TTL_64.contains(&v.family) && v.family != "linux" {
                t.family = v.family;
                t.evidence = t.evidence.replace(": linux", &format!(": unix-like, as {} is", v.family));
            }
        }
        votes.push(v);
    }
    for (family, what) in hints {
        votes.push(Vote { family, weight: 0.4, evidence: format!("service says {what}: {family}") });
    }
    let total: f64 = votes.iter().map(|v| v.weight).sum();
    if total == 0.0 {
        return None;
    }
    let mut families: Vec<(&str, f64)> = Vec::new();
    for v in &votes {
        match families.iter_mut().find(|(f, _)| *f == v.family) {
            Some((_, w)) => *w += v.weight,
            None => families.push((v.family, v.weight)),
        }
    }
    families.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (family, weight) = families[0];
    // Share of the votes, times how much evidence there was (0.9 with both signals agreeing).
    let confidence = ((weight / total) * total.min(0.9)).clamp(0.05, 0.95);
    let mut evidence: Vec<String> = votes.iter().map(|v| v.evidence.clone()).collect();
    if families.len() > 1 {
        evidence.push(format!(
            "conflicting evidence: also {}",
            families[1..].iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
        ));
    }
    Some(FingerprintGuess {
        kind: FingerprintKind::OsFamily,
        value: family.to_string(),
        confidence: (confidence * 100.0).round() / 100.0,
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(options: &str) -> SynAckSignature {
        SynAckSignature { window: 65160, mss: Some(1460), window_scale: Some(7), options: options.into() }
    }

    #[test]
    fn agreeing_evidence_is_confident() {
        let g = guess(Some(Ttl(64)), Some(&sig("M,S,T,N,W")), &[], None).unwrap();
        assert_eq!((g.value.as_str(), g.confidence), ("linux", 0.9));
        assert_eq!(g.evidence.len(), 2);
    }

    #[test]
    fn conflicting_evidence_lowers_confidence_and_is_listed() {
        // A Windows TTL with a Linux SYN-ACK: TTL wins, but less surely.
        let g = guess(Some(Ttl(127)), Some(&sig("M,S,T,N,W")), &[], None).unwrap();
        assert_eq!(g.value, "windows");
        assert!(g.confidence < 0.9 && g.confidence > 0.5, "{}", g.confidence);
        assert!(g.evidence.iter().any(|e| e.contains("conflicting evidence: also linux")));
    }

    #[test]
    fn one_signal_or_none() {
        assert_eq!(guess(Some(Ttl(250)), None, &[], None).unwrap().value, "network-os");
        assert!(guess(Some(Ttl(250)), None, &[], None).unwrap().confidence <= 0.6);
        assert!(guess(None, None, &[], None).is_none());
        assert!(guess(None, Some(&sig("?99")), &[], None).is_none());
    }

    #[test]
    fn a_banner_backs_the_ttl_up() {
        let hint = [("linux", "an SSH banner naming debian".to_string())];
        let with = guess(Some(Ttl(64)), Some(&sig("M,S,T,N,W")), &hint, None).unwrap();
        let without = guess(Some(Ttl(64)), None, &[], None).unwrap();
        assert!(with.confidence > without.confidence);
        assert!(with.evidence.iter().any(|e| e.contains("debian")));
    }

    #[test]
    fn an_apple_mac_with_ttl_64_is_macos_or_ios_not_linux() {
        let g = guess(Some(Ttl(64)), None, &[], Some("Apple, Inc.")).unwrap();
        assert_eq!(g.value, "macos-ios");
        assert!(g.evidence.iter().any(|e| e.contains("MAC vendor Apple, Inc.")), "{:?}", g.evidence);
        assert!(g.evidence.iter().any(|e| e.contains("unix-like")), "{:?}", g.evidence);
        let ttl_only = guess(Some(Ttl(64)), None, &[], None).unwrap();
        assert!(g.confidence > ttl_only.confidence, "agreeing evidence raises the confidence");
        // A vendor that disagrees with the stack lowers it, and is listed.
        let odd = guess(Some(Ttl(128)), None, &[], Some("Apple, Inc.")).unwrap();
        assert_eq!(odd.value, "windows");
        assert!(odd.evidence.iter().any(|e| e.contains("conflicting evidence: also macos-ios")));
        // A Raspberry Pi agrees with TTL 64 as Linux.
        assert_eq!(guess(Some(Ttl(64)), None, &[], Some("Raspberry Pi Foundation")).unwrap().value, "linux");
    }
}

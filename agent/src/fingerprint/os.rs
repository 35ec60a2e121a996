//! OS family from what the sweeps already collected.
//!
//! Each piece of evidence votes for a family with a weight: the initial TTL
//! inferred from the reply TTL (the strongest single signal a sweep gets),
//! and the SYN-ACK's TCP option order (Linux answers `M,S,T,N,W`, Windows
//! `M,N,W,N,N,S`). The winner's confidence is its share of the votes scaled
//! by how much evidence there was, so conflicting evidence lowers the
//! confidence instead of being ignored — and the conflict is listed.

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

/// Guess the OS family from a reply TTL, a SYN-ACK shape and service hints
/// (family, what said so — e.g. an SSH banner naming Debian), if any.
pub fn guess(
    ttl: Option<Ttl>,
    syn_ack: Option<&SynAckSignature>,
    hints: &[(&'static str, String)],
) -> Option<FingerprintGuess> {
    let mut votes: Vec<Vote> = [ttl.and_then(ttl_vote), syn_ack.and_then(synack_vote)].into_iter().flatten().collect();
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
        let g = guess(Some(Ttl(64)), Some(&sig("M,S,T,N,W")), &[]).unwrap();
        assert_eq!((g.value.as_str(), g.confidence), ("linux", 0.9));
        assert_eq!(g.evidence.len(), 2);
    }

    #[test]
    fn conflicting_evidence_lowers_confidence_and_is_listed() {
        // A Windows TTL with a Linux SYN-ACK: TTL wins, but less surely.
        let g = guess(Some(Ttl(127)), Some(&sig("M,S,T,N,W")), &[]).unwrap();
        assert_eq!(g.value, "windows");
        assert!(g.confidence < 0.9 && g.confidence > 0.5, "{}", g.confidence);
        assert!(g.evidence.iter().any(|e| e.contains("conflicting evidence: also linux")));
    }

    #[test]
    fn one_signal_or_none() {
        assert_eq!(guess(Some(Ttl(250)), None, &[]).unwrap().value, "network-os");
        assert!(guess(Some(Ttl(250)), None, &[]).unwrap().confidence <= 0.6);
        assert!(guess(None, None, &[]).is_none());
        assert!(guess(None, Some(&sig("?99")), &[]).is_none());
    }

    #[test]
    fn a_banner_backs_the_ttl_up() {
        let hint = [("linux", "an SSH banner naming debian".to_string())];
        let with = guess(Some(Ttl(64)), Some(&sig("M,S,T,N,W")), &hint).unwrap();
        let without = guess(Some(Ttl(64)), None, &[]).unwrap();
        assert!(with.confidence > without.confidence);
        assert!(with.evidence.iter().any(|e| e.contains("debian")));
    }
}

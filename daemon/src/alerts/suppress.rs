//! Suppression rules: "do not alert about X until Y, because Z".
//!
//! A rule names one or more criteria — kind, network (a CIDR the alert's
//! address is in), segment name (the agent's), vendor, MAC prefix, asset
//! tag — and matches a finding when every criterion it names does.
//! Every rule needs a reason and an expiry (at most a year), so nothing is
//! silenced forever by accident; an expired rule stops matching and the
//! alerts it held reopen at the next reconcile.

use serde::{Deserialize, Serialize};

use super::{Alert, AlertKind, Finding};

/// Longest a rule may last.
const MAX_DAYS: i64 = 366;

/// A stored suppression rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suppression {
    /// Id.
    pub id: i64,
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only alerts whose address is in this network.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub network: Option<ipnet::IpNet>,
    /// Only this segment (the agent's segment name).
    pub segment: Option<String>,
    /// Only devices of this vendor (case-insensitive substring of the IEEE name).
    pub vendor: Option<String>,
    /// Only MACs starting with this prefix (`aa:bb:cc`).
    pub mac_prefix: Option<String>,
    /// Only this asset.
    pub tag: Option<String>,
    /// Why.
    pub reason: String,
    /// Stops matching at (unix ms).
    pub expires_ms: i64,
    /// Who made it.
    pub created_by: String,
    /// When (unix ms).
    pub created_ms: i64,
}

/// A rule as an operator sends it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionInput {
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only addresses in this network (a CIDR).
    #[serde(default)]
    pub network: Option<String>,
    /// Only this segment name (the agent's).
    pub segment: Option<String>,
    /// Only this vendor.
    pub vendor: Option<String>,
    /// Only this MAC prefix.
    pub mac_prefix: Option<String>,
    /// Only this asset.
    pub tag: Option<String>,
    /// Why (required).
    pub reason: String,
    /// How long, e.g. `30d` (required, at most 366 days).
    pub expires_in: String,
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SuppressionInput {
    /// Check the rule; returns it ready to store, or the field at fault and why.
    pub fn validate(self, actor: &str, now_ms: i64) -> Result<Suppression, (String, String)> {
        let (segment, vendor, tag) = (clean(self.segment), clean(self.vendor), clean(self.tag));
        let mac_prefix = clean(self.mac_prefix).map(|m| m.trim_end_matches('*').trim_end_matches(':').to_lowercase());
        if let Some(m) = &mac_prefix
            && (m.is_empty() || m.len() > 17 || !m.chars().all(|c| c.is_ascii_hexdigit() || c == ':'))
        {
            return Err(("mac_prefix".into(), format!("`{m}` is not a MAC prefix such as aa:bb:cc")));
        }
        let network = match clean(self.network) {
            None => None,
            Some(n) => Some(
                crate::net::parse_net(&n, false)
                    .ok_or_else(|| ("network".to_string(), format!("`{n}` is not a CIDR such as 198.18.0.0/24")))?,
            ),
        };
        if let Some(seg) = &segment
            && (seg.parse::<ipnet::IpNet>().is_ok() || seg.parse::<std::net::IpAddr>().is_ok())
        {
            return Err((
                "segment".into(),
                format!("`{seg}` is an address; `segment` is the agent's segment name — give a CIDR as `network`"),
            ));
        }
        if self.kind.is_none()
            && network.is_none()
            && segment.is_none()
            && vendor.is_none()
            && mac_prefix.is_none()
            && tag.is_none()
        {
            return Err(("".into(), "name at least one of kind, network, segment, vendor, mac_prefix, tag".into()));
        }
        let reason = self.reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
            return Err(("reason".into(), "a reason of 1-500 printable characters is required".into()));
        }
        let d = census_proto::config::parse_duration(std::path::Path::new("request"), "expires_in", &self.expires_in)
            .map_err(|e| ("expires_in".to_string(), e.message))?;
        if d.is_zero() || d.as_secs() > MAX_DAYS as u64 * 86_400 {
            return Err(("expires_in".into(), format!("must be more than 0 and at most {MAX_DAYS} days")));
        }
        for (field, v) in [("segment", &segment), ("vendor", &vendor), ("tag", &tag)] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 200 || s.chars().any(char::is_control)) {
                return Err((field.into(), "must be at most 200 printable characters".into()));
            }
        }
        Ok(Suppression {
            id: 0,
            kind: self.kind,
            network,
            segment,
            vendor,
            mac_prefix,
            tag,
            reason,
            expires_ms: now_ms + d.as_millis() as i64,
            created_by: actor.to_string(),
            created_ms: now_ms,
        })
    }
}

/// What a rule looks at, from a finding or a stored alert.
struct Subject<'a> {
    kind: AlertKind,
    ip: Option<&'a str>,
    segment: Option<&'a str>,
    tag: Option<&'a str>,
    vendor: Option<&'a str>,
    mac: Option<&'a str>,
}

impl Suppression {
    /// Whether the rule holds back `f` at `now_ms`.
    pub fn matches(&self, f: &Finding, now_ms: i64) -> bool {
        self.matches_subject(
            &Subject {
                kind: f.kind,
                ip: f.ip.as_deref(),
                segment: f.segment.as_deref(),
                tag: f.tag.as_deref(),
                vendor: f.vendor.as_deref(),
                mac: f.mac.as_deref(),
            },
            now_ms,
        )
    }

    /// Whether the rule would hold back the stored alert `a` at `now_ms` (the preview of a new rule).
    pub fn matches_alert(&self, a: &Alert, now_ms: i64) -> bool {
        self.matches_subject(
            &Subject {
                kind: a.kind,
                ip: a.ip.as_deref(),
                segment: a.segment.as_deref(),
                tag: a.tag.as_deref(),
                vendor: a.vendor.as_deref(),
                mac: a.mac.as_deref(),
            },
            now_ms,
        )
    }

    fn matches_subject(&self, f: &Subject<'_>, now_ms: i64) -> bool {
        if now_ms >= self.expires_ms {
            return false;
        }
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_ref().is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        self.kind.is_none_or(|k| k == f.kind)
            && self.network.is_none_or(|n| {
                f.ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()).is_some_and(|ip| n.contains(&ip))
            })
            && eq(&self.segment, f.segment)
            && eq(&self.tag, f.tag)
            && self
                .vendor
                .as_ref()
                .is_none_or(|v| f.vendor.is_some_and(|fv| fv.to_lowercase().contains(&v.to_lowercase())))
            && self.mac_prefix.as_ref().is_none_or(|p| f.mac.is_some_and(|m| m.to_lowercase().starts_with(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Severity;

    fn finding() -> Finding {
        Finding {
            kind: AlertKind::UnknownAsset,
            subject: "device:mac:00:1b:21:00:00:01".into(),
            severity: Severity::Medium,
            tag: None,
            ip: Some("198.18.0.10".into()),
            mac: Some("00:1b:21:00:00:01".into()),
            vendor: Some("Intel Corporate".into()),
            segment: Some("lab".into()),
            agent: Some("a1".into()),
            summary: String::new(),
            evidence: crate::alerts::evidence::placeholder(AlertKind::UnknownAsset),
            first_seen_ms: 0,
            last_seen_ms: 0,
        }
    }

    fn rule(input: SuppressionInput) -> Suppression {
        input.validate("tester", 1_000).unwrap()
    }

    #[test]
    fn every_named_criterion_must_match_until_expiry() {
        let base = || SuppressionInput { reason: "lab kit".into(), expires_in: "1h".into(), ..Default::default() };
        let by_vendor = rule(SuppressionInput { vendor: Some("intel".into()), ..base() });
        assert!(by_vendor.matches(&finding(), 2_000));
        assert!(!by_vendor.matches(&finding(), 1_000 + 3_600_000), "expired rules stop matching");
        let by_mac = rule(SuppressionInput { mac_prefix: Some("00:1B:21:*".into()), ..base() });
        assert!(by_mac.matches(&finding(), 2_000));
        let both =
            rule(SuppressionInput { kind: Some(AlertKind::UnknownAsset), segment: Some("other".into()), ..base() });
        assert!(!both.matches(&finding(), 2_000), "segment differs");
        let by_tag = rule(SuppressionInput { tag: Some("SRV-1".into()), ..base() });
        assert!(!by_tag.matches(&finding(), 2_000), "an untagged finding never matches a tag rule");
        let by_net = rule(SuppressionInput { network: Some("198.18.0.0/24".into()), ..base() });
        assert!(by_net.matches(&finding(), 2_000));
        let other_net = rule(SuppressionInput { network: Some("198.18.1.0/24".into()), ..base() });
        assert!(!other_net.matches(&finding(), 2_000));
    }

    #[test]
    fn rules_without_criteria_reason_or_bounded_expiry_are_refused() {
        let none = SuppressionInput { reason: "x".into(), expires_in: "1d".into(), ..Default::default() };
        assert!(none.validate("t", 0).is_err());
        let no_reason =
            SuppressionInput { kind: Some(AlertKind::Missing), expires_in: "1d".into(), ..Default::default() };
        assert_eq!(no_reason.validate("t", 0).unwrap_err().0, "reason");
        let forever = SuppressionInput {
            kind: Some(AlertKind::Missing),
            reason: "r".into(),
            expires_in: "400d".into(),
            ..Default::default()
        };
        assert_eq!(forever.validate("t", 0).unwrap_err().0, "expires_in");
        let bad_mac = SuppressionInput {
            mac_prefix: Some("zz:zz".into()),
            reason: "r".into(),
            expires_in: "1d".into(),
            ..Default::default()
        };
        assert_eq!(bad_mac.validate("t", 0).unwrap_err().0, "mac_prefix");
        // One meaning per option: a CIDR is a network, never a segment name.
        let cidr_as_name = SuppressionInput {
            segment: Some("198.18.0.0/24".into()),
            reason: "r".into(),
            expires_in: "1d".into(),
            ..Default::default()
        };
        assert_eq!(cidr_as_name.validate("t", 0).unwrap_err().0, "segment");
    }
}

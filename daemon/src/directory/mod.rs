//! The directory: the people and teams who own assets.
//!
//! An asset's `owner` is free text in the register; the directory says who
//! that is and whether they are still here. It is filled from an HR or
//! identity export (`censusd people import FILE`, CSV or JSON) or from an
//! LDAP directory (`censusd people sync ldap`), each showing its plan first
//! as a register import does. The directory is not the console's accounts
//! (`censusd user`): those are who may use Census, these are who owns what.
//!
//! What reconciliation asks of it ([`standing::Directory::standing`]) is one
//! question per asset: is its owner an active person or team, someone who
//! left (and since when), or a name the directory does not know? The answer
//! raises or clears `owner-departed` (`reconcile::owners`).
//!
//! Nothing is ever deleted from the directory: a person who leaves is kept
//! with `status = left` and the leave date, so the alert can say who it was
//! and when they went; someone rehired becomes active again.

pub mod file;
pub mod ldap;
pub mod plan;
pub mod standing;

use serde::{Deserialize, Serialize};

use crate::register::Day;

crate::word_enum!(
    /// A person or a team.
    EntryKind { /// One person.
    Person => "person", /// A team (a group that owns assets as a whole).
    Team => "team" }
);

crate::word_enum!(
    /// Whether a person is still with the organisation (a team: still exists).
    PersonStatus { /// Here.
    Active => "active", /// Gone (for a team: disbanded).
    Left => "left" }
);

/// Where an entry last came from.
pub const SOURCE_FILE: &str = "file";
/// An entry kept by the LDAP sync (one it no longer finds is marked left).
pub const SOURCE_LDAP: &str = "ldap";

/// One person or team.
///
/// `id` is the stable key (an employee number, an LDAP `uid`): unique,
/// compared without regard to ASCII case. An asset's owner may name an
/// entry by its id, its email or — when no other entry has the same — its
/// name; a team may also be named by the `team` its people carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryEntry {
    /// Stable id (1–200 printable characters).
    pub id: String,
    /// Person or team.
    pub kind: EntryKind,
    /// Display name (the id when none was given).
    pub name: String,
    /// Email address, when known.
    #[serde(default)]
    pub email: String,
    /// The team a person belongs to.
    #[serde(default)]
    pub team: String,
    /// The manager's id (or name, as the source gives it).
    #[serde(default)]
    pub manager: String,
    /// Active or left.
    pub status: PersonStatus,
    /// The day they left (or leave: a date still to come keeps them active until it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_on: Option<Day>,
    /// `file` or `ldap`: the last import that wrote it.
    pub source: String,
}

impl DirectoryEntry {
    /// A new active person with this id and name, from `source`.
    pub fn person(id: &str, name: &str, source: &str) -> Self {
        DirectoryEntry {
            id: id.to_string(),
            kind: EntryKind::Person,
            name: name.to_string(),
            email: String::new(),
            team: String::new(),
            manager: String::new(),
            status: PersonStatus::Active,
            left_on: None,
            source: source.to_string(),
        }
    }

    /// Gone on `today`: marked left with a leave date on or before it.
    /// An entry marked left without a date is gone; one still active whose
    /// leave date has come is gone too (HR exports often keep the status
    /// until the leaver is processed).
    pub fn gone(&self, today: Day) -> bool {
        match (self.status, self.left_on) {
            (PersonStatus::Left, None) => true,
            (_, Some(d)) => d <= today,
            (PersonStatus::Active, None) => false,
        }
    }

    /// Check the invariants a file or a directory cannot be trusted with;
    /// returns each problem as (field, message).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut errs = Vec::new();
        let printable = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(hidden);
        if self.id.trim().is_empty() || !printable(&self.id, 200) || self.id.trim() != self.id {
            errs.push((
                "id",
                "must be 1-200 printable characters (no invisible or direction-changing ones) without leading or trailing spaces"
                    .into(),
            ));
        }
        for (f, v) in [("name", &self.name), ("email", &self.email), ("team", &self.team), ("manager", &self.manager)] {
            if !printable(v, 200) {
                errs.push((
                    f,
                    "must be at most 200 printable characters (no invisible or direction-changing ones)".into(),
                ));
            }
        }
        if !self.email.is_empty() && !plausible_email(&self.email) {
            errs.push((
                "email",
                format!("`{}` is not an email address", self.email.chars().take(80).collect::<String>()),
            ));
        }
        if let Some(problem) = self.left_on.and_then(Day::input_problem) {
            errs.push(("left_on", problem));
        }
        errs
    }
}

/// Characters that do not show, or reorder what does (Trojan Source,
/// CVE-2021-42574): control characters, zero-width and bidirectional
/// formatting characters, the byte-order mark, the soft hyphen. An id made
/// with them looks like another person's.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// One `@` with something on both sides and no spaces: enough to catch a
/// column mapped wrongly without pretending to validate RFC 5322.
fn plausible_email(s: &str) -> bool {
    let mut parts = s.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && !d.is_empty())
        && !s.contains(char::is_whitespace)
}

/// The key an id is stored and compared under.
pub fn id_key(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn gone_follows_the_status_and_the_leave_date() {
        let mut e = DirectoryEntry::person("u1", "Ada", SOURCE_FILE);
        assert!(!e.gone(day("2026-12-03")));
        e.left_on = Some(day("2026-12-10"));
        assert!(!e.gone(day("2026-12-03")), "a leave date to come keeps them here");
        assert!(e.gone(day("2026-12-10")), "gone on the day itself");
        e.status = PersonStatus::Left;
        e.left_on = None;
        assert!(e.gone(day("2026-12-03")));
        e.left_on = Some(day("2027-01-01"));
        assert!(!e.gone(day("2026-12-03")), "marked left ahead of the date");
    }

    #[test]
    fn check_names_each_bad_field() {
        let mut e = DirectoryEntry::person(" u1", "Ada\u{7}", SOURCE_FILE);
        e.email = "ada at example".into();
        e.left_on = Some(day("-2026-01-01"));
        let fields: Vec<&str> = e.check().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["id", "name", "email", "left_on"]);
        let mut lookalike = DirectoryEntry::person("x17\u{200B}", "Ann", SOURCE_FILE);
        lookalike.team = "\u{202E}live".into();
        let fields: Vec<&str> = lookalike.check().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["id", "team"], "zero-width and bidi characters are refused");
        let ok = DirectoryEntry { email: "ada@example.org".into(), ..DirectoryEntry::person("u1", "Ada", "file") };
        assert!(ok.check().is_empty());
    }
}

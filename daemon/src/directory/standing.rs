//! Who an asset's owner is, and whether they are still here.
//!
//! The register's `owner` is what people typed. It names a directory entry
//! when it equals (ignoring ASCII case and surrounding spaces), in this order:
//!
//! 1. an entry's id (`u1042`);
//! 2. an entry's email (`ada@example.org`);
//! 3. an entry's name, when exactly one entry has it (two `Sam Lee`s name nobody);
//! 4. a team carried by people (`network-ops`) that has no entry of its own:
//!    active while any of its people is.
//!
//! An owner matching none of these is unknown to the directory. An empty
//! directory (none imported yet) answers nothing, so an installation that
//! does not keep one never hears about owners.

use std::collections::HashMap;

use serde::Serialize;

use super::{DirectoryEntry, EntryKind, id_key};
use crate::register::Day;

/// How an owner stands on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing<'a> {
    /// No directory, or no owner recorded: nothing to say.
    NotChecked,
    /// An active person or team.
    Active(&'a DirectoryEntry),
    /// A team known only from its people, some of them active.
    ActiveTeam,
    /// The entry is gone (left, or a disbanded team).
    Left(&'a DirectoryEntry),
    /// A team known only from its people, all of whom have left; the latest leave date.
    TeamGone(Option<Day>),
    /// The owner names no entry and no team.
    Unknown,
}

/// Why an owner does not stand, for alert evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Departure {
    /// The person left (a team: disbanded, or every member left).
    Left,
    /// The directory does not know the owner.
    Unknown,
}

/// The directory, indexed for owner lookups.
#[derive(Debug, Default)]
pub struct Directory {
    entries: Vec<DirectoryEntry>,
    by_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    /// Names held by exactly one entry (`None`: more than one).
    by_name: HashMap<String, Option<usize>>,
    /// Teams carried by people: indices of their members.
    teams: HashMap<String, Vec<usize>>,
}

impl Directory {
    /// Index these entries.
    pub fn new(entries: Vec<DirectoryEntry>) -> Self {
        let mut d = Directory { entries, ..Directory::default() };
        for (i, e) in d.entries.iter().enumerate() {
            d.by_id.insert(id_key(&e.id), i);
            if !e.email.is_empty() {
                d.by_email.entry(id_key(&e.email)).or_insert(i);
            }
            d.by_name.entry(id_key(&e.name)).and_modify(|v| *v = None).or_insert(Some(i));
            if e.kind == EntryKind::Person && !e.team.trim().is_empty() {
                d.teams.entry(id_key(&e.team)).or_default().push(i);
            }
        }
        d
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries (no directory kept).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry an owner names, by id, email or unique name.
    pub fn entry(&self, owner: &str) -> Option<&DirectoryEntry> {
        let k = id_key(owner);
        self.by_id
            .get(&k)
            .or_else(|| self.by_email.get(&k))
            .or_else(|| self.by_name.get(&k).and_then(Option::as_ref))
            .map(|&i| &self.entries[i])
    }

    /// How `owner` stands on `today`.
    pub fn standing(&self, owner: &str, today: Day) -> Standing<'_> {
        if self.is_empty() || owner.trim().is_empty() {
            return Standing::NotChecked;
        }
        if let Some(e) = self.entry(owner) {
            return if e.gone(today) { Standing::Left(e) } else { Standing::Active(e) };
        }
        match self.teams.get(&id_key(owner)) {
            Some(members) if members.iter().any(|&i| !self.entries[i].gone(today)) => Standing::ActiveTeam,
            Some(members) => Standing::TeamGone(members.iter().filter_map(|&i| self.entries[i].left_on).max()),
            None => Standing::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{PersonStatus, SOURCE_FILE};

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    fn person(id: &str, name: &str, email: &str, team: &str) -> DirectoryEntry {
        DirectoryEntry { email: email.into(), team: team.into(), ..DirectoryEntry::person(id, name, SOURCE_FILE) }
    }

    fn directory() -> Directory {
        let mut left = person("u2", "Bob Stone", "bob@example.org", "ops");
        left.status = PersonStatus::Left;
        left.left_on = Some(day("2026-11-26"));
        let mut team = DirectoryEntry::person("t-old", "Old Team", SOURCE_FILE);
        team.kind = EntryKind::Team;
        team.status = PersonStatus::Left;
        Directory::new(vec![
            person("u1", "Ada Byron", "ada@example.org", "ops"),
            left,
            person("u3", "Sam Lee", "", "dev"),
            person("u4", "Sam Lee", "", "dev"),
            team,
        ])
    }

    #[test]
    fn owners_are_found_by_id_email_unique_name_and_team() {
        let d = directory();
        let today = day("2026-12-03");
        assert!(matches!(d.standing("U1", today), Standing::Active(e) if e.id == "u1"));
        assert!(matches!(d.standing(" ada@EXAMPLE.org ", today), Standing::Active(e) if e.id == "u1"));
        assert!(matches!(d.standing("ada byron", today), Standing::Active(e) if e.id == "u1"));
        assert!(matches!(d.standing("Bob Stone", today), Standing::Left(e) if e.id == "u2"));
        assert_eq!(d.standing("Sam Lee", today), Standing::Unknown, "two people share the name");
        assert_eq!(d.standing("ops", today), Standing::ActiveTeam);
        assert!(matches!(d.standing("Old Team", today), Standing::Left(e) if e.kind == EntryKind::Team));
        assert_eq!(d.standing("Carol", today), Standing::Unknown);
        assert_eq!(d.standing("", today), Standing::NotChecked);
        assert_eq!(Directory::new(vec![]).standing("anyone", today), Standing::NotChecked);
    }

    #[test]
    fn a_team_whose_people_all_left_is_gone_since_the_last_leave() {
        let mut a = person("u1", "A", "", "lab");
        a.status = PersonStatus::Left;
        a.left_on = Some(day("2026-10-01"));
        let mut b = person("u2", "B", "", "lab");
        b.left_on = Some(day("2026-11-15"));
        let d = Directory::new(vec![a, b]);
        assert_eq!(d.standing("lab", day("2026-11-01")), Standing::ActiveTeam);
        assert_eq!(d.standing("lab", day("2026-12-03")), Standing::TeamGone(Some(day("2026-11-15"))));
    }
}

//! The deployment checklist: what a deployed asset must have, and the
//! `deployment-incomplete` view listing what is missing per asset.
//!
//! | check | holds when |
//! |---|---|
//! | `owner` | the owner is an active person or team in the people directory (without a directory: an owner is recorded) |
//! | `services` | every expected service (EDR agent, monitoring) was found open — no live `coverage-gap` alert |
//! | `seen` | the asset is on the network now (seen, and not `missing`) |
//!
//! An asset whose checks all hold is complete and left out of the view.

use serde::Serialize;

use crate::directory::standing::{Directory, Standing};
use crate::register::{Asset, Day, Lifecycle};

/// One deployed asset with what it lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Incomplete {
    /// Asset tag.
    pub tag: String,
    /// Name.
    pub name: String,
    /// Owner as recorded.
    pub owner: String,
    /// What is missing, one line per check that does not hold.
    pub missing: Vec<String>,
}

/// What the view is judged on for one asset.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Expected services not found open (from a live `coverage-gap` alert).
    pub absent_services: Vec<String>,
    /// On the network now.
    pub present: bool,
    /// Last seen (unix ms), if ever.
    pub last_seen_ms: Option<i64>,
}

/// What a deployed asset lacks (`None`: complete, or not deployed).
pub fn incomplete(a: &Asset, f: &Facts, directory: &Directory, today: Day) -> Option<Incomplete> {
    if a.lifecycle != Lifecycle::Deployed {
        return None;
    }
    let mut missing = Vec::new();
    if a.owner.trim().is_empty() {
        missing.push("owner: none recorded".to_string());
    } else {
        match directory.standing(&a.owner, today) {
            Standing::Left(e) => missing.push(format!(
                "owner: {} has left{}",
                a.owner,
                e.left_on.map(|d| format!(" ({d})")).unwrap_or_default()
            )),
            Standing::TeamGone(_) => missing.push(format!("owner: team {} has nobody left", a.owner)),
            Standing::Unknown => missing.push(format!("owner: {} is not in the people directory", a.owner)),
            Standing::NotChecked | Standing::Active(_) | Standing::ActiveTeam => {}
        }
    }
    if !f.absent_services.is_empty() {
        missing.push(format!("services: {} not found open", f.absent_services.join(", ")));
    }
    if !f.present {
        missing.push(match f.last_seen_ms {
            Some(ms) => format!("seen: not on the network (last seen {})", crate::reconcile::assets::fmt_ms(ms)),
            None => "seen: never seen by a sweep".to_string(),
        });
    }
    (!missing.is_empty()).then(|| Incomplete {
        tag: a.tag.clone(),
        name: a.name.clone(),
        owner: a.owner.clone(),
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{DirectoryEntry, PersonStatus, SOURCE_FILE};

    fn asset(tag: &str, owner: &str, lifecycle: &str) -> Asset {
        crate::register::model::asset_from_json(serde_json::json!({
            "tag": tag, "name": tag, "type": "endpoint", "owner": owner, "lifecycle": lifecycle
        }))
        .unwrap()
    }

    #[test]
    fn each_missing_piece_is_named_and_complete_assets_are_left_out() {
        let mut bob = DirectoryEntry::person("bob", "Bob", SOURCE_FILE);
        bob.status = PersonStatus::Left;
        let dir = Directory::new(vec![DirectoryEntry::person("ada", "Ada", SOURCE_FILE), bob]);
        let today: Day = "2026-12-03".parse().unwrap();
        let ok = Facts { present: true, ..Facts::default() };
        assert_eq!(incomplete(&asset("A", "ada", "deployed"), &ok, &dir, today), None);
        assert_eq!(incomplete(&asset("B", "ada", "maintenance"), &Facts::default(), &dir, today), None);
        let bad = Facts { absent_services: vec!["4118/edr-agent".into()], present: false, last_seen_ms: None };
        let i = incomplete(&asset("C", "bob", "deployed"), &bad, &dir, today).unwrap();
        assert_eq!(
            i.missing,
            ["owner: bob has left", "services: 4118/edr-agent not found open", "seen: never seen by a sweep"]
        );
        let i = incomplete(&asset("D", "", "deployed"), &ok, &dir, today).unwrap();
        assert_eq!(i.missing, ["owner: none recorded"]);
        let i = incomplete(&asset("E", "carol", "deployed"), &ok, &Directory::new(vec![]), today);
        assert_eq!(i, None, "no directory: a recorded owner is enough");
    }
}

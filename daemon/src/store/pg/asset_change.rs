//! PostgreSQL: one change of the managed register, decided in memory and
//! written with a few array statements (see `store/pg/assets.rs`'s module
//! docs for why): [`Change::load`] reads the stored assets of the tags it
//! is given (in any case) and who records their MACs; `create`, `update`
//! and `record` take each decision in order as SQLite's statements do one
//! asset at a time (the shared decisions in `store::shared::assets`);
//! [`Change::write`] writes assets, their keys and history rows.

use std::collections::{BTreeSet, HashMap};

use postgres::types::Type;

use super::Tx;
use super::assets::{WRITE_CHUNK, bodies};
use crate::register::Asset;
use crate::store::shared::assets as shared;
use crate::store::{StoreError, now_ms};

/// An asset row to write: the asset, when it was last written and when it
/// was first (used only when the row is new).
struct Put {
    asset: Asset,
    updated_ms: i64,
    created_ms: i64,
}

/// A history row to write.
struct Record {
    tag: String,
    at_ms: i64,
    actor: String,
    action: String,
    fields: String,
    lifecycle: Option<(&'static str, &'static str)>,
}

/// One register change, decided in memory over the rows it read (see the
/// module docs), then written by [`Change::write`].
#[derive(Default)]
pub(super) struct Change {
    /// Per tag in ASCII lowercase, the stored tag answering it (the first in
    /// byte order) and its asset (`None`: its body does not decode) — for
    /// the tags [`Change::load`] was given, kept current by [`Change::put`].
    found: HashMap<String, (String, Option<Asset>)>,
    /// Per MAC (canonical text) given to `load`, the tags recording it.
    holders: HashMap<String, BTreeSet<String>>,
    /// Per tag, the MACs of `holders` it records.
    held: HashMap<String, Vec<String>>,
    /// Assets to write, in the order first written, and where each tag is.
    puts: Vec<Put>,
    put_at: HashMap<String, usize>,
    /// History rows to write, in order.
    records: Vec<Record>,
}

impl Change {
    /// Read what writing `assets` depends on: the stored assets of their
    /// tags in any case, and who records their MACs.
    pub(super) fn load(tx: &mut Tx<'_>, assets: &[&Asset]) -> Result<Self, StoreError> {
        let mut change = Change::default();
        let mut lowered: Vec<String> = assets.iter().map(|a| a.tag.to_ascii_lowercase()).collect();
        lowered.sort_unstable();
        lowered.dedup();
        let mut macs: Vec<String> = assets.iter().flat_map(|a| a.macs.iter().map(|m| m.to_string())).collect();
        macs.sort_unstable();
        macs.dedup();
        let mut stored: Vec<(String, String)> = Vec::new();
        for chunk in lowered.chunks(WRITE_CHUNK) {
            let rows = tx.query_typed(
                "SELECT tag, body FROM assets WHERE lower(tag) = ANY($1)",
                &[(&chunk, Type::TEXT_ARRAY)],
            )?;
            stored.extend(bodies(&rows)?);
        }
        // Byte order, so the first row of a case-blind tag is the one `one` finds.
        stored.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let assets = crate::reconcile::parallel_map(&stored, |(_, b)| shared::decode(b).ok());
        for ((tag, _), asset) in stored.into_iter().zip(assets) {
            change.found.entry(tag.to_ascii_lowercase()).or_insert((tag, asset));
        }
        for chunk in macs.chunks(WRITE_CHUNK) {
            let rows = tx.query_typed(
                "SELECT value, tag FROM asset_keys WHERE kind = 'mac' AND value = ANY($1)",
                &[(&chunk, Type::TEXT_ARRAY)],
            )?;
            for r in &rows {
                let (mac, tag): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                change.held.entry(tag.clone()).or_default().push(mac.clone());
                change.holders.entry(mac).or_default().insert(tag);
            }
        }
        Ok(change)
    }

    /// The asset `tag` (any case) as it stands in this change.
    pub(super) fn one(&self, tag: &str) -> Option<Asset> {
        self.found.get(&tag.to_ascii_lowercase()).and_then(|(_, a)| a.clone())
    }

    /// A MAC may be recorded on one asset only.
    fn check_macs(&self, a: &Asset) -> Result<(), StoreError> {
        // The first other holder in byte order, as SQLite's primary key gives it.
        shared::check_macs(a, |m| Ok(self.holders.get(m).and_then(|tags| tags.iter().find(|t| **t != a.tag)).cloned()))
    }

    /// Store `a` (inserted or replaced) with its keys.
    fn put(&mut self, a: &Asset) {
        let now = now_ms();
        let lower = a.tag.to_ascii_lowercase();
        match self.found.get_mut(&lower) {
            Some((first, asset)) if a.tag <= *first => {
                *first = a.tag.clone();
                *asset = Some(a.clone());
            }
            Some(_) => {}
            None => {
                self.found.insert(lower, (a.tag.clone(), Some(a.clone())));
            }
        }
        for mac in self.held.remove(&a.tag).unwrap_or_default() {
            if let Some(tags) = self.holders.get_mut(&mac) {
                tags.remove(&a.tag);
            }
        }
        let macs: Vec<String> = a.macs.iter().map(|m| m.to_string()).collect();
        for mac in &macs {
            self.holders.entry(mac.clone()).or_default().insert(a.tag.clone());
        }
        self.held.insert(a.tag.clone(), macs);
        match self.put_at.get(&a.tag) {
            Some(&i) => {
                self.puts[i].asset = a.clone();
                self.puts[i].updated_ms = now;
            }
            None => {
                self.put_at.insert(a.tag.clone(), self.puts.len());
                self.puts.push(Put { asset: a.clone(), updated_ms: now, created_ms: now });
            }
        }
    }

    pub(super) fn record(
        &mut self,
        tag: &str,
        actor: &str,
        action: &str,
        fields: &[String],
        lifecycle: Option<(&'static str, &'static str)>,
    ) {
        self.records.push(Record {
            tag: tag.to_string(),
            at_ms: now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            fields: shared::fields_json(fields),
            lifecycle,
        });
    }

    /// As [`create`].
    pub(super) fn create(&mut self, asset: &Asset, actor: &str, action: &str) -> Result<Asset, StoreError> {
        if let Some(existing) = self.one(&asset.tag) {
            return Err(shared::tag_taken(&existing.tag));
        }
        self.check_macs(asset)?;
        let a = shared::created(asset);
        self.put(&a);
        self.record(&a.tag, actor, action, &[], Some(shared::created_lifecycle(&a)));
        Ok(a)
    }

    /// As [`update`].
    pub(super) fn update(&mut self, old: &Asset, new: &Asset, actor: &str, action: &str) -> Result<Asset, StoreError> {
        let shared::Replacement { asset: a, fields, lifecycle } = shared::replacement(old, new);
        if fields.is_empty() {
            return Ok(a);
        }
        self.check_macs(&a)?;
        self.put(&a);
        self.record(&a.tag, actor, action, &fields, lifecycle);
        Ok(a)
    }

    /// Write what was decided: each asset written with its keys anew, then
    /// the history rows in order.
    pub(super) fn write(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        for puts in self.puts.chunks(WRITE_CHUNK) {
            let tags: Vec<&str> = puts.iter().map(|p| p.asset.tag.as_str()).collect();
            let bodies: Vec<String> = puts.iter().map(|p| shared::encode(&p.asset)).collect();
            let lifecycles: Vec<&str> = puts.iter().map(|p| p.asset.lifecycle.as_str()).collect();
            let updated: Vec<i64> = puts.iter().map(|p| p.updated_ms).collect();
            let created: Vec<i64> = puts.iter().map(|p| p.created_ms).collect();
            tx.execute_typed(
                "INSERT INTO assets (tag, body, lifecycle, updated_ms, created_ms)
                 SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[])
                 ON CONFLICT (tag) DO UPDATE
                 SET body = excluded.body, lifecycle = excluded.lifecycle, updated_ms = excluded.updated_ms",
                &[
                    (&tags, Type::TEXT_ARRAY),
                    (&bodies, Type::TEXT_ARRAY),
                    (&lifecycles, Type::TEXT_ARRAY),
                    (&updated, Type::INT8_ARRAY),
                    (&created, Type::INT8_ARRAY),
                ],
            )?;
            tx.execute_typed("DELETE FROM asset_keys WHERE tag = ANY($1)", &[(&tags, Type::TEXT_ARRAY)])?;
            let (mut kinds, mut values, mut owners) = (Vec::new(), Vec::new(), Vec::new());
            for p in puts {
                for (kind, value) in shared::keys(&p.asset) {
                    kinds.push(kind);
                    values.push(value);
                    owners.push(p.asset.tag.as_str());
                }
            }
            for at in (0..kinds.len()).step_by(WRITE_CHUNK) {
                let to = (at + WRITE_CHUNK).min(kinds.len());
                tx.execute_typed(
                    "INSERT INTO asset_keys (kind, value, tag)
                     SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) ON CONFLICT DO NOTHING",
                    &[
                        (&&kinds[at..to], Type::TEXT_ARRAY),
                        (&&values[at..to], Type::TEXT_ARRAY),
                        (&&owners[at..to], Type::TEXT_ARRAY),
                    ],
                )?;
            }
        }
        for records in self.records.chunks(WRITE_CHUNK) {
            let tags: Vec<&str> = records.iter().map(|r| r.tag.as_str()).collect();
            let at: Vec<i64> = records.iter().map(|r| r.at_ms).collect();
            let actors: Vec<&str> = records.iter().map(|r| r.actor.as_str()).collect();
            let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
            let fields: Vec<&str> = records.iter().map(|r| r.fields.as_str()).collect();
            let from: Vec<Option<&str>> = records.iter().map(|r| r.lifecycle.map(|l| l.0)).collect();
            let to: Vec<Option<&str>> = records.iter().map(|r| r.lifecycle.map(|l| l.1)).collect();
            // Ids in the order the changes were made.
            tx.execute_typed(
                "INSERT INTO asset_history (tag, at_ms, actor, action, fields, lifecycle_from, lifecycle_to)
                 SELECT tag, at_ms, actor, action, fields, lf, lt
                 FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[])
                      WITH ORDINALITY AS h(tag, at_ms, actor, action, fields, lf, lt, n)
                 ORDER BY n",
                &[
                    (&tags, Type::TEXT_ARRAY),
                    (&at, Type::INT8_ARRAY),
                    (&actors, Type::TEXT_ARRAY),
                    (&actions, Type::TEXT_ARRAY),
                    (&fields, Type::TEXT_ARRAY),
                    (&from, Type::TEXT_ARRAY),
                    (&to, Type::TEXT_ARRAY),
                ],
            )?;
        }
        Ok(())
    }
}

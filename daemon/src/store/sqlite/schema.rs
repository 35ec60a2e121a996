//! Schema migrations, versioned in code and applied at start.
//!
//! `PRAGMA user_version` holds the number of migrations applied. Each
//! migration runs in its own transaction; a database from a newer Census is
//! refused rather than guessed at.

use rusqlite::Connection;

use crate::store::StoreError;

/// Migrations in order; the index + 1 is the schema version they produce.
const MIGRATIONS: &[&str] = &[
    // 1: agents, batches, observation history, register.
    r#"
    CREATE TABLE agents (
        name TEXT PRIMARY KEY,
        token_hash BLOB NOT NULL UNIQUE,
        segments TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );
    CREATE TABLE batches (
        batch_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        segment TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        finished_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        complete INTEGER NOT NULL,
        completeness TEXT NOT NULL,
        hosts INTEGER NOT NULL,
        rejected INTEGER NOT NULL
    );
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        batch_id TEXT NOT NULL,
        ip TEXT NOT NULL,
        mac TEXT,
        seen_ms INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX observations_by_ip ON observations (ip, id);
    CREATE TABLE hosts (
        ip TEXT PRIMARY KEY,
        mac TEXT,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        last_agent TEXT NOT NULL,
        last_batch TEXT NOT NULL,
        latest_obs INTEGER NOT NULL,
        observations INTEGER NOT NULL,
        ports TEXT NOT NULL,
        names TEXT NOT NULL,
        fingerprint TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE host_changes (
        id INTEGER PRIMARY KEY,
        ip TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        batch_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        old TEXT,
        new TEXT NOT NULL
    );
    CREATE INDEX host_changes_by_ip ON host_changes (ip, id);
    CREATE TABLE mac_ip (
        mac TEXT NOT NULL,
        ip TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        last_agent TEXT NOT NULL,
        PRIMARY KEY (mac, ip)
    ) WITHOUT ROWID;
    CREATE TABLE assets (
        tag TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        lifecycle TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE asset_keys (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (kind, value, tag)
    ) WITHOUT ROWID;
    CREATE INDEX asset_keys_by_tag ON asset_keys (tag);
    CREATE TABLE asset_history (
        id INTEGER PRIMARY KEY,
        tag TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        fields TEXT NOT NULL,
        lifecycle_from TEXT,
        lifecycle_to TEXT
    );
    CREATE INDEX asset_history_by_tag ON asset_history (tag, id);
    "#,
    // 2: reconciliation — sightings and matches on hosts, sweep scopes,
    // device debounce, per-asset state, learned certificates, alerts,
    // suppressions and the notification outbox.
    r#"
    ALTER TABLE batches ADD COLUMN targets TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE batches ADD COLUMN excluded TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX batches_complete_by_finish ON batches (complete, finished_ms);
    ALTER TABLE hosts ADD COLUMN sighting TEXT;
    CREATE TABLE host_matches (
        ip TEXT PRIMARY KEY,
        tag TEXT,
        info TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX host_matches_by_tag ON host_matches (tag);
    CREATE INDEX hosts_by_last_seen ON hosts (last_seen_ms);
    CREATE TABLE host_names (
        name TEXT NOT NULL,
        ip TEXT NOT NULL,
        PRIMARY KEY (name, ip)
    ) WITHOUT ROWID;
    CREATE INDEX host_names_by_ip ON host_names (ip);
    ALTER TABLE assets ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE devices (
        key TEXT PRIMARY KEY,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        sightings INTEGER NOT NULL,
        last_batch TEXT NOT NULL,
        enriched INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE asset_state (
        tag TEXT PRIMARY KEY,
        body TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE learned_keys (
        value TEXT PRIMARY KEY,
        tag TEXT NOT NULL,
        learned_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        state TEXT NOT NULL,
        severity TEXT NOT NULL,
        tag TEXT,
        ip TEXT,
        mac TEXT,
        segment TEXT,
        agent TEXT,
        summary TEXT NOT NULL,
        evidence TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        opened_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        updates INTEGER NOT NULL DEFAULT 0,
        acked_by TEXT,
        acked_ms INTEGER,
        resolved_by TEXT,
        resolved_ms INTEGER,
        resolution TEXT,
        suppressed_by INTEGER
    );
    CREATE UNIQUE INDEX alerts_one_live ON alerts (kind, subject) WHERE state != 'resolved';
    CREATE INDEX alerts_by_state ON alerts (state, id);
    CREATE INDEX alerts_by_tag ON alerts (tag, state);
    CREATE INDEX alerts_by_ip ON alerts (ip, state);
    CREATE TABLE suppressions (
        id INTEGER PRIMARY KEY,
        body TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        sink TEXT NOT NULL,
        event TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_ms INTEGER NOT NULL,
        delivered_ms INTEGER,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox (sink, delivered_ms, id);
    "#,
    // 3: observation time and sweep cadence — sweep scopes (targets clipped
    // to the agent's segments), per-batch probed ports, schedule and clamping;
    // alert reopening, debounce and history; case-insensitive tags.
    r#"
    CREATE TABLE scopes (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        segment TEXT NOT NULL,
        targets TEXT NOT NULL,
        excluded TEXT NOT NULL,
        UNIQUE (agent, segment, targets, excluded)
    );
    INSERT OR IGNORE INTO scopes (agent, segment, targets, excluded)
        SELECT DISTINCT agent, segment, targets, excluded FROM batches;
    ALTER TABLE batches ADD COLUMN scope_id INTEGER;
    UPDATE batches SET scope_id = (SELECT s.id FROM scopes s WHERE s.agent = batches.agent
        AND s.segment = batches.segment AND s.targets = batches.targets AND s.excluded = batches.excluded);
    ALTER TABLE batches ADD COLUMN probed TEXT;
    ALTER TABLE batches ADD COLUMN clamped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN interval_ms INTEGER;
    ALTER TABLE batches ADD COLUMN next_due_ms INTEGER;
    ALTER TABLE batches ADD COLUMN reconciled INTEGER NOT NULL DEFAULT 1;
    -- A batch stored in parts is receiving until its last part; then it gets its
    -- arrival sequence (what the sweep index reads by).
    ALTER TABLE batches ADD COLUMN receiving INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN seq INTEGER;
    UPDATE batches SET seq = rowid;
    CREATE UNIQUE INDEX batches_by_seq ON batches (seq);
    -- Observations stored so far of a receiving batch: a resent delivery resumes after them.
    ALTER TABLE batches ADD COLUMN stored_rows INTEGER NOT NULL DEFAULT 0;
    -- The range of observation ids a batch's observations fall in (other
    -- batches' may interleave): its observations are read back by that range.
    ALTER TABLE batches ADD COLUMN first_obs INTEGER;
    ALTER TABLE batches ADD COLUMN last_obs INTEGER;
    -- Full runs read every host seen in the window (nearly all of them): a scan,
    -- cheaper than keeping this index up to date at every observation.
    DROP INDEX hosts_by_last_seen;
    CREATE INDEX batches_pending ON batches (reconciled) WHERE reconciled = 0;
    CREATE INDEX batches_by_scope ON batches (scope_id, complete, started_ms);
    ALTER TABLE alerts ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN absent_since_ms INTEGER;
    ALTER TABLE alerts ADD COLUMN clear_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN clear_batch TEXT;
    ALTER TABLE alerts ADD COLUMN vendor TEXT;
    ALTER TABLE alerts ADD COLUMN digest INTEGER;
    ALTER TABLE alerts ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    -- Evidence apart: the alert rows reconciliation reads on every batch stay small.
    CREATE TABLE alert_evidence (
        alert_id INTEGER PRIMARY KEY,
        evidence TEXT NOT NULL
    );
    INSERT INTO alert_evidence (alert_id, evidence) SELECT id, evidence FROM alerts;
    UPDATE alerts SET evidence = '';
    CREATE INDEX alerts_by_subject ON alerts (subject, id);
    CREATE INDEX alerts_by_agent_opened ON alerts (agent, opened_ms);
    CREATE TABLE alert_events (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        event TEXT NOT NULL,
        note TEXT
    );
    CREATE INDEX alert_events_by_alert ON alert_events (alert_id, id);
    INSERT INTO alert_events (alert_id, at_ms, actor, event) SELECT id, opened_ms, 'census', 'opened' FROM alerts;
    INSERT INTO alert_events (alert_id, at_ms, actor, event, note)
        SELECT id, acked_ms, acked_by, 'acknowledged', NULL FROM alerts WHERE acked_ms IS NOT NULL;
    INSERT INTO alert_events (alert_id, at_ms, actor, event, note)
        SELECT id, resolved_ms, resolved_by, 'resolved', resolution FROM alerts WHERE resolved_ms IS NOT NULL;
    CREATE INDEX assets_by_tag_nocase ON assets (tag COLLATE NOCASE);
    ALTER TABLE agents ADD COLUMN prev_token_hash BLOB;
    ALTER TABLE agents ADD COLUMN prev_valid_until_ms INTEGER;
    CREATE INDEX agents_by_prev_token ON agents (prev_token_hash);
    -- `censusd status` counts live alerts from this index alone.
    CREATE INDEX alerts_live_counts ON alerts (kind, state, severity) WHERE state != 'resolved';
    "#,
    // 4: people, their tokens and sessions, and the append-only audit log.
    r#"
    CREATE TABLE people (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
        password_hash TEXT,
        created_ms INTEGER NOT NULL,
        disabled_ms INTEGER,
        password_set_ms INTEGER
    );
    CREATE TABLE person_tokens (
        id INTEGER PRIMARY KEY,
        person TEXT NOT NULL REFERENCES people (name),
        kind TEXT NOT NULL CHECK (kind IN ('api', 'session')),
        label TEXT NOT NULL,
        token_hash BLOB NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        revoked_ms INTEGER
    );
    CREATE INDEX person_tokens_by_person ON person_tokens (person, id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE INDEX audit_by_subject ON audit (subject, action, at_ms);
    CREATE INDEX audit_by_actor ON audit (actor, id);
    CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 5: typed alert evidence (`crate::alerts::evidence`): each stored
    // evidence object gains its `kind` tag (the alert's kind), and an
    // identity conflict's its `conflict` (wrong-segment when it names the
    // expected segment, else address). The other fields kept their names.
    r#"
    UPDATE alert_evidence
        SET evidence = json_set(evidence, '$.kind', (SELECT kind FROM alerts WHERE alerts.id = alert_evidence.alert_id))
        WHERE json_valid(evidence) AND json_type(evidence) = 'object'
          AND EXISTS (SELECT 1 FROM alerts WHERE alerts.id = alert_evidence.alert_id);
    UPDATE alert_evidence
        SET evidence = json_set(evidence, '$.conflict',
            CASE WHEN json_type(evidence, '$.expected_segment') IS NOT NULL THEN 'wrong-segment' ELSE 'address' END)
        WHERE json_valid(evidence) AND json_extract(evidence, '$.kind') = 'identity-conflict';
    "#,
    // 6: people's saved searches in the console.
    r#"
    CREATE TABLE saved_queries (
        person TEXT NOT NULL,
        page TEXT NOT NULL,
        name TEXT NOT NULL,
        query TEXT NOT NULL,
        saved_ms INTEGER NOT NULL,
        PRIMARY KEY (person, page, name)
    );
    "#,
    // 7: the alert-flood count (device alerts an agent raised in the last
    // hour, read by every reconcile run) from an index alone: through
    // `alerts_by_agent_opened` it read every such alert's row for its kind,
    // a cost growing with the live alerts.
    r#"
    CREATE INDEX alerts_device_opened ON alerts (agent, opened_ms, kind, tag)
        WHERE kind = 'unknown-asset' OR (kind = 'identity-conflict' AND tag IS NULL);
    "#,
    // 8: bounded history (`rollup`, docs/data-retention.md): raw observations
    // older than the retention period become one row per address and day.
    r#"
    CREATE TABLE sightings_daily (
        ip TEXT NOT NULL,
        day INTEGER NOT NULL,
        count INTEGER NOT NULL,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        macs TEXT NOT NULL,
        PRIMARY KEY (ip, day)
    ) WITHOUT ROWID;
    ALTER TABLE batches ADD COLUMN rolled_up INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN rolled_to INTEGER;
    CREATE INDEX batches_to_roll_up ON batches (finished_ms) WHERE rolled_up = 0;
    "#,
    // 9: each agent's last delivery, for the metrics (`census_agent_last_batch_timestamp_seconds`):
    // one index entry per batch, so a scrape reads one row per agent.
    r#"
    CREATE INDEX batches_by_agent_received ON batches (agent, received_ms);
    "#,
    // 10: the people directory (owners: `censusd people import`, `people sync ldap`).
    r#"
    CREATE TABLE directory (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 11: licence entitlements (`censusd licences import`).
    r#"
    CREATE TABLE entitlements (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 12: retirement records (wipe attestations, verified and forced disposals).
    r#"
    CREATE TABLE retirements (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 13: the retired assets (retirement checklists, retired credentials)
    // without reading every asset: a partial index, small, untouched by
    // writes to assets in service.
    r#"
    CREATE INDEX assets_retired ON assets (tag) WHERE lifecycle IN ('decommissioned', 'disposed');
    "#,
    // 14: where and since when each TLS certificate is served: one row per
    // certificate, address and port, kept whatever the observation
    // retention (the certificate inventory's "first served"). Certificates
    // in the latest observations before this version start at that
    // observation.
    r#"
    CREATE TABLE served_certificates (
        sha256 TEXT NOT NULL,
        ip TEXT NOT NULL,
        port INTEGER NOT NULL,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        PRIMARY KEY (sha256, ip, port)
    ) WITHOUT ROWID;
    CREATE INDEX served_certificates_by_ip ON served_certificates (ip);
    INSERT OR IGNORE INTO served_certificates (sha256, ip, port, first_ms, last_ms)
      SELECT lower(json_extract(p.value, '$.service.tls.sha256')), h.ip, json_extract(p.value, '$.port'),
             o.seen_ms, o.seen_ms
        FROM hosts h JOIN observations o ON o.id = h.latest_obs, json_each(o.body, '$.ports') p
       WHERE instr(h.sighting, '"tls"') > 0 AND json_valid(o.body)
         AND json_extract(p.value, '$.state') = 'open'
         AND json_extract(p.value, '$.service.tls.sha256') IS NOT NULL;
    "#,
    // 15: coverage sources (`censusd source add`, `source load`): each with
    // its definition and its last loaded list.
    r#"
    CREATE TABLE sources (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 16: a suppression rule's id is never given again (review of
    // 2026-12-08: with a plain rowid, a rule added after the newest was
    // removed took its id, and alert histories and audit records naming
    // "rule 2" named two rules). AUTOINCREMENT, seeded past every id
    // an alert was ever held by.
    r#"
    CREATE TABLE suppressions_numbered (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        body TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    INSERT INTO suppressions_numbered (id, body, expires_ms) SELECT id, body, expires_ms FROM suppressions;
    DROP TABLE suppressions;
    ALTER TABLE suppressions_numbered RENAME TO suppressions;
    DELETE FROM sqlite_sequence WHERE name = 'suppressions';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'suppressions', max(coalesce((SELECT max(id) FROM suppressions), 0),
                                   coalesce((SELECT max(suppressed_by) FROM alerts), 0));
    "#,
];

/// Newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Bring `conn` up to the latest schema.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest() {
        return Err(StoreError::SchemaTooNew { found: current, known: latest() });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::store::prelude::*;

    /// Alerts stored before evidence was typed (schema 4: the same fields,
    /// no `kind`, no `conflict`) read back typed after migration 5, one of
    /// every kind — the documented examples with their tags taken out.
    #[test]
    fn evidence_stored_before_it_was_typed_reads_back_typed_after_migration_5() {
        let doc = include_str!("../../../../docs/alert-evidence.md");
        let examples: Vec<serde_json::Value> = doc
            .split("```json")
            .skip(1)
            .map(|b| serde_json::from_str(b.split("```").next().unwrap_or_default()).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.db");
        {
            let mut c = rusqlite::Connection::open(&path).unwrap();
            for (i, sql) in MIGRATIONS.iter().take(4).enumerate() {
                let tx = c.transaction().unwrap();
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
                tx.commit().unwrap();
            }
            for (i, e) in examples.iter().enumerate() {
                let mut old = e.clone();
                let kind = old.as_object_mut().unwrap().remove("kind").unwrap();
                old.as_object_mut().unwrap().remove("conflict");
                c.execute(
                    "INSERT INTO alerts (id, kind, subject, state, severity, summary, evidence, first_seen_ms,
                       last_seen_ms, opened_ms, updated_ms, updates)
                     VALUES (?1, ?2, ?3, 'open', 'high', 's', '', 0, 0, 0, 0, 0)",
                    rusqlite::params![i as i64 + 1, kind.as_str().unwrap(), format!("x:{i}")],
                )
                .unwrap();
                c.execute(
                    "INSERT INTO alert_evidence (alert_id, evidence) VALUES (?1, ?2)",
                    rusqlite::params![i as i64 + 1, old.to_string()],
                )
                .unwrap();
            }
        }
        let store = crate::store::SqliteStore::open(&path).unwrap();
        for (i, e) in examples.iter().enumerate() {
            let a = store.alert(i as i64 + 1).unwrap().unwrap();
            let typed = a.evidence.unwrap_or_else(|| panic!("alert {} lost its evidence", i + 1));
            assert_eq!(typed.kind(), a.kind);
            assert_eq!(&serde_json::to_value(&typed).unwrap(), e);
        }
    }

    /// Migration 14 starts "first served" for the certificates in each
    /// address's latest observation at that observation; a closed port's
    /// certificate, a body that is not JSON and a host without TLS add nothing.
    #[test]
    fn migration_14_starts_served_certificates_from_the_latest_observations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.db");
        {
            let mut c = rusqlite::Connection::open(&path).unwrap();
            for (i, sql) in MIGRATIONS.iter().take(13).enumerate() {
                let tx = c.transaction().unwrap();
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
                tx.commit().unwrap();
            }
            let tls = |sha: &str| serde_json::json!({ "tls": { "sha256": sha } });
            let bodies = [
                (
                    "198.18.0.1",
                    serde_json::json!({ "ports": [
                    { "port": 443, "state": "open", "service": tls(&"AB".repeat(32)) },
                    { "port": 8443, "state": "closed", "service": tls(&"cd".repeat(32)) },
                    { "port": 22, "state": "open" } ] })
                    .to_string(),
                ),
                ("198.18.0.2", "{\"tls\": not json".to_string()),
                ("198.18.0.3", serde_json::json!({ "ports": [{ "port": 22, "state": "open" }] }).to_string()),
            ];
            for (i, (ip, body)) in bodies.iter().enumerate() {
                let id = i as i64 + 1;
                c.execute(
                    "INSERT INTO observations (id, batch_id, ip, seen_ms, body) VALUES (?1, 'b', ?2, ?3, ?4)",
                    rusqlite::params![id, ip, 1000 * id, body],
                )
                .unwrap();
                let sighting = if *ip == "198.18.0.3" { "{}" } else { "{\"tls\":1}" };
                c.execute(
                    "INSERT INTO hosts (ip, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs,
                       observations, ports, names, fingerprint, sighting)
                     VALUES (?1, 0, 0, 'a', 'b', ?2, 1, '', '[]', '', ?3)",
                    rusqlite::params![ip, id, sighting],
                )
                .unwrap();
            }
        }
        let store = crate::store::SqliteStore::open(&path).unwrap();
        drop(store);
        let c = rusqlite::Connection::open(&path).unwrap();
        let rows: Vec<(String, String, i64, i64)> = c
            .prepare("SELECT sha256, ip, port, first_ms FROM served_certificates")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [("ab".repeat(32), "198.18.0.1".to_string(), 443, 1000)]);
    }

    /// A new database gets the page size chosen for ingest; one created
    /// with SQLite's default 4 KiB pages (every database before it) keeps
    /// them, opens, migrates and takes writes.
    #[test]
    fn new_databases_have_8_kib_pages_and_older_ones_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |p: &std::path::Path| -> i64 {
            let c = rusqlite::Connection::open(p).unwrap();
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()
        };
        let new = dir.path().join("new.db");
        drop(crate::store::SqliteStore::open(&new).unwrap());
        assert_eq!(page_size(&new), super::super::PAGE_SIZE);
        let old = dir.path().join("old.db");
        {
            let c = rusqlite::Connection::open(&old).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        assert_eq!(page_size(&old), 4096);
        let store = crate::store::SqliteStore::open(&old).unwrap();
        store.add_agent("a", &["198.18.0.0/24".parse().unwrap()], &[1; 32], &mut crate::store::unaudited()).unwrap();
        assert_eq!(store.agents().unwrap().len(), 1);
        drop(store);
        assert_eq!(page_size(&old), 4096);
    }

    /// Retired assets are read by every match index build and after every
    /// full reconcile (retirement checklists): never by scanning the register.
    #[test]
    fn retired_assets_are_read_through_their_partial_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.db");
        drop(crate::store::SqliteStore::open(&path).unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        for and in ["", "AND (instr(body, '\"certificates\"') > 0 OR tag IN (SELECT tag FROM learned_keys))"] {
            let sql = super::super::reconcile::retired_sql(and);
            let plan: Vec<String> = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(plan.iter().any(|p| p.contains("assets_retired")), "{plan:?}");
        }
    }

    /// Every reconcile run counts the device alerts each agent raised in
    /// the last hour (the alert-flood limit). Through the older index it
    /// read each alert's row for its kind, so runs slowed as live alerts
    /// grew; it must be answered from an index alone.
    #[test]
    fn the_alert_flood_count_reads_an_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.db");
        drop(crate::store::SqliteStore::open(&path).unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        let plan: Vec<String> = c
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::super::alerts::DEVICE_ALERTS_SINCE))
            .unwrap()
            .query_map(rusqlite::params!["lab-1", 0], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().any(|p| p.contains("COVERING INDEX alerts_device_opened")), "{plan:?}");
    }

    /// Migration 16 keeps every rule under its id and gives no id again that
    /// a rule or an alert's `suppressed_by` ever had (review of 2026-12-08).
    #[test]
    fn suppression_ids_survive_migration_16_and_are_never_given_again() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS.iter().take(15).enumerate() {
            let tx = c.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
            tx.commit().unwrap();
        }
        c.execute_batch("INSERT INTO suppressions VALUES (1, 'a', 0), (2, 'b', 0)").unwrap();
        c.execute(
            "INSERT INTO alerts (id, kind, subject, state, severity, summary, evidence, first_seen_ms,
               last_seen_ms, opened_ms, updated_ms, updates, suppressed_by)
             VALUES (1, 'unknown-asset', 'x', 'suppressed', 'low', 's', '', 0, 0, 0, 0, 0, 7)",
            [],
        )
        .unwrap();
        super::migrate(&mut c).unwrap();
        let rules: Vec<(i64, String)> = c
            .prepare("SELECT id, body FROM suppressions ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rules, [(1, "a".to_string()), (2, "b".to_string())]);
        c.execute("INSERT INTO suppressions (body, expires_ms) VALUES ('c', 0)", []).unwrap();
        assert_eq!(c.last_insert_rowid(), 8, "past the id alert 1 was held by");
        c.execute("DELETE FROM suppressions WHERE id = 8", []).unwrap();
        c.execute("INSERT INTO suppressions (body, expires_ms) VALUES ('d', 0)", []).unwrap();
        assert_eq!(c.last_insert_rowid(), 9, "a removed rule's id is not given again");
    }
}

//! PostgreSQL: agents and their token hashes (rotation with an overlap).

use ipnet::IpNet;

use super::{PostgresStore, Tx, audit};
use crate::auth::TokenHash;
use crate::store::{AgentRecord, AgentStore, AuditOf, StoreError, now_ms};

const COLUMNS: &str = "name, segments, created_ms, revoked_ms";

fn agent_row(r: &postgres::Row) -> AgentRecord {
    let segments: String = r.get(1);
    AgentRecord {
        name: r.get(0),
        segments: serde_json::from_str(&segments).unwrap_or_default(),
        created_ms: r.get(2),
        revoked_ms: r.get(3),
    }
}

fn agent_at(tx: &mut Tx<'_>, name: &str) -> Result<Option<AgentRecord>, StoreError> {
    Ok(tx.query_opt(&format!("SELECT {COLUMNS} FROM agents WHERE name = $1"), &[&name])?.as_ref().map(agent_row))
}

/// The agent whose current (or, within its overlap, previous) token hash is `token`.
fn by_token(tx: &mut Tx<'_>, token: &TokenHash) -> Result<Option<AgentRecord>, StoreError> {
    let hash: &[u8] = &token[..];
    if let Some(r) =
        tx.query_opt(&format!("SELECT {COLUMNS}, token_hash FROM agents WHERE token_hash = $1"), &[&hash])?
    {
        let agent = agent_row(&r);
        let stored: Option<TokenHash> = r.get::<_, Vec<u8>>(4).try_into().ok();
        return Ok(stored.filter(|s| crate::auth::same(s, token) && agent.revoked_ms.is_none()).map(|_| agent));
    }
    // A rotated token, within its overlap.
    let old = tx.query_opt(
        &format!(
            "SELECT {COLUMNS}, prev_token_hash FROM agents
             WHERE prev_token_hash = $1 AND prev_valid_until_ms > $2 AND revoked_ms IS NULL"
        ),
        &[&hash, &now_ms()],
    )?;
    Ok(old.and_then(|r| {
        let stored: TokenHash = r.get::<_, Vec<u8>>(4).try_into().ok()?;
        crate::auth::same(&stored, token).then(|| agent_row(&r))
    }))
}

impl AgentStore for PostgresStore {
    fn add_agent(
        &self,
        name: &str,
        segments: &[IpNet],
        token: &TokenHash,
        audit: AuditOf<'_, AgentRecord>,
    ) -> Result<(), StoreError> {
        let segs = serde_json::to_string(segments).unwrap_or_else(|_| "[]".into());
        let hash: &[u8] = &token[..];
        self.write(|tx| {
            if agent_at(tx, name)?.is_some() {
                return Err(StoreError::Conflict(format!("agent `{name}`")));
            }
            tx.execute(
                "INSERT INTO agents (name, token_hash, segments, created_ms) VALUES ($1, $2, $3, $4)",
                &[&name, &hash, &segs, &now_ms()],
            )?;
            let after = agent_at(tx, name)?;
            audit::append(tx, &audit(None, after.as_ref()))
        })
    }

    fn revoke_agent(&self, name: &str, audit: AuditOf<'_, AgentRecord>) -> Result<bool, StoreError> {
        self.write(|tx| {
            let before = agent_at(tx, name)?;
            let n = tx.execute(
                "UPDATE agents SET revoked_ms = $2, prev_token_hash = NULL, prev_valid_until_ms = NULL
                 WHERE name = $1 AND revoked_ms IS NULL",
                &[&name, &now_ms()],
            )?;
            if n > 0 {
                let after = agent_at(tx, name)?;
                audit::append(tx, &audit(before.as_ref(), after.as_ref()))?;
            }
            Ok(n > 0)
        })
    }

    fn rotate_agent(
        &self,
        name: &str,
        token: &TokenHash,
        old_valid_until_ms: i64,
        audit: AuditOf<'_, AgentRecord>,
    ) -> Result<bool, StoreError> {
        let hash: &[u8] = &token[..];
        self.write(|tx| {
            let before = agent_at(tx, name)?;
            let n = tx.execute(
                "UPDATE agents SET
                   prev_token_hash = CASE WHEN $3::BIGINT > $4::BIGINT AND revoked_ms IS NULL THEN token_hash ELSE NULL END,
                   prev_valid_until_ms = CASE WHEN $3::BIGINT > $4::BIGINT AND revoked_ms IS NULL THEN $3::BIGINT ELSE NULL END,
                   token_hash = $2, revoked_ms = NULL
                 WHERE name = $1",
                &[&name, &hash, &old_valid_until_ms, &now_ms()],
            )?;
            if n > 0 {
                let after = agent_at(tx, name)?;
                audit::append(tx, &audit(before.as_ref(), after.as_ref()))?;
            }
            Ok(n > 0)
        })
    }

    fn agent_by_token(&self, token: &TokenHash) -> Result<Option<AgentRecord>, StoreError> {
        self.read(|tx| by_token(tx, token))
    }

    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.read(|tx| {
            Ok(tx.query(&format!("SELECT {COLUMNS} FROM agents ORDER BY name"), &[])?.iter().map(agent_row).collect())
        })
    }

    fn agents_last_batch(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(|tx| {
            // One probe of `batches_by_agent_received` per agent.
            let rows = tx.query(
                "SELECT name, last FROM (SELECT name, (SELECT max(received_ms) FROM batches b WHERE b.agent = a.name) AS last
                   FROM agents a WHERE revoked_ms IS NULL) t WHERE last IS NOT NULL ORDER BY name",
                &[],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

//! Loading a whois answer: an IP, a MAC, an asset tag or a host name is
//! resolved through indexed lookups only (observed hosts, reconciliation's
//! matches, the register's keys, observed names), so the answer stays in
//! single-digit milliseconds with a million-asset register. The lookups are
//! here; which are made, in what order, and the answer made of them are in
//! [`crate::store::shared::whois`].

use rusqlite::{Connection, OptionalExtension};

use crate::alerts::Alert;
use crate::reconcile::AssetState;
use crate::register::Asset;
use crate::store::StoreError;
use crate::store::shared::whois::{CertificateHostRow, CertificateInventory, HostRow, HostsBy, Lookups, RegisterKey};
use crate::whois::WhoisData;

fn host_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HostRow> {
    Ok(HostRow {
        ip: r.get(0)?,
        mac: r.get(1)?,
        first_seen_ms: r.get(2)?,
        last_seen_ms: r.get(3)?,
        last_agent: r.get(4)?,
        info: r.get(5)?,
        body: r.get(6)?,
        tag: r.get(7)?,
    })
}

/// [`Lookups`] on one SQLite connection.
struct Sqlite<'a>(&'a Connection);

impl Lookups for Sqlite<'_> {
    fn hosts(&mut self, by: HostsBy<'_>) -> Result<Vec<HostRow>, StoreError> {
        let (sql, arg) = by.sql();
        Ok(self.0.prepare_cached(&sql)?.query_map([arg], host_row)?.collect::<Result<Vec<_>, _>>()?)
    }

    fn register_tags(&mut self, key: RegisterKey<'_>) -> Result<Vec<String>, StoreError> {
        let (sql, args) = key.tags_sql();
        Ok(self.0.prepare_cached(&sql)?.query_map(args, |r| r.get(0))?.collect::<Result<_, _>>()?)
    }

    fn register_count(&mut self, key: RegisterKey<'_>) -> Result<i64, StoreError> {
        let (sql, args) = key.count_sql();
        Ok(self.0.prepare_cached(&sql)?.query_row(args, |r| r.get(0))?)
    }

    fn tag_nocase(&mut self, tag: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT tag FROM assets WHERE tag = ?1 COLLATE NOCASE ORDER BY tag LIMIT 1")?
            .query_row([tag], |r| r.get(0))
            .optional()?)
    }

    fn asset(&mut self, tag: &str) -> Result<Option<Asset>, StoreError> {
        super::assets::one(self.0, tag)
    }

    fn asset_state(&mut self, tag: &str) -> Result<Option<AssetState>, StoreError> {
        super::reconcile::asset_state(self.0, tag)
    }

    fn live_alerts(&mut self, tag: Option<&str>, ips: &[String]) -> Result<Vec<Alert>, StoreError> {
        super::alerts::live_about(self.0, tag, ips)
    }
}

/// Load what is known about `query`; `None` when nothing at all is.
pub fn whois(c: &Connection, query: &str) -> Result<Option<WhoisData>, StoreError> {
    crate::store::shared::whois::whois(&mut Sqlite(c), query)
}

/// Addresses whose latest sighting served a certificate (`"tls"` is written
/// into the sighting only when one was), with their latest observations.
pub fn certificate_hosts(c: &Connection) -> Result<Vec<crate::certificates::HostTls>, StoreError> {
    let mut st_since = c.prepare_cached("SELECT ip, port, sha256, first_ms FROM served_certificates")?;
    let served =
        st_since.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<Vec<_>, _>>()?;
    let mut inventory = CertificateInventory::new(served);
    let mut st = c.prepare_cached(
        "SELECT h.ip, h.last_seen_ms, h.last_agent, m.tag, o.body FROM hosts h
           JOIN observations o ON o.id = h.latest_obs LEFT JOIN host_matches m ON m.ip = h.ip
          WHERE instr(h.sighting, '\"tls\"') > 0 ORDER BY h.ip",
    )?;
    let rows = st.query_map([], |r| {
        Ok(CertificateHostRow {
            ip: r.get(0)?,
            last_seen_ms: r.get(1)?,
            agent: r.get(2)?,
            asset: r.get(3)?,
            body: r.get(4)?,
        })
    })?;
    for row in rows {
        inventory.push(row?);
    }
    Ok(inventory.finish())
}

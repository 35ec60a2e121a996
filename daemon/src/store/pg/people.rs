//! PostgreSQL: people, their tokens and sessions.
//!
//! A token is found by its SHA-256 through the unique index on
//! `person_tokens.token_hash` (`BYTEA`) — one lookup, right or wrong — and
//! works only while it is unrevoked, unexpired and its person enabled;
//! disabling a person or setting their password revokes their sessions in
//! the same transaction, so the change holds from the next request on.
//! Lists are in byte order of names, as SQLite's are, whatever the
//! database's collation.

use super::{PostgresStore, Tx, audit};
use crate::auth::TokenHash;
use crate::people::{Person, Principal, Role, TokenInfo};
use crate::store::shared::people as shared;
use crate::store::{AuditOf, PeopleStore, StoreError, TokenGrant};

const PERSON: &str = "SELECT name, role, created_ms, disabled_ms, password_set_ms FROM people";
const TOKEN: &str = "SELECT id, person, kind, label, created_ms, expires_ms, revoked_ms FROM person_tokens";

fn person_row(r: &postgres::Row) -> Result<Person, StoreError> {
    let role: String = r.get(1);
    Ok(Person {
        name: r.get(0),
        role: role.parse().map_err(|e: String| StoreError::Db(format!("people.role: {e}")))?,
        created_ms: r.get(2),
        disabled_ms: r.get(3),
        password_set_ms: r.get(4),
    })
}

fn token_row(r: &postgres::Row) -> TokenInfo {
    TokenInfo {
        id: r.get(0),
        person: r.get(1),
        kind: r.get(2),
        label: r.get(3),
        created_ms: r.get(4),
        expires_ms: r.get(5),
        revoked_ms: r.get(6),
    }
}

fn person_at(tx: &mut Tx<'_>, name: &str) -> Result<Option<Person>, StoreError> {
    tx.query_opt(&format!("{PERSON} WHERE name = $1"), &[&name])?.as_ref().map(person_row).transpose()
}

fn token_at(tx: &mut Tx<'_>, id: i64) -> Result<Option<TokenInfo>, StoreError> {
    Ok(tx.query_opt(&format!("{TOKEN} WHERE id = $1"), &[&id])?.as_ref().map(token_row))
}

/// Change one person: `change` runs between reading them before and after;
/// the audit records of a change that happened go in too. `false` when
/// there is no such person (nothing written).
fn change_person(
    tx: &mut Tx<'_>,
    name: &str,
    change: impl FnOnce(&mut Tx<'_>) -> Result<(), StoreError>,
    audit: AuditOf<'_, Person>,
) -> Result<bool, StoreError> {
    let Some(before) = person_at(tx, name)? else { return Ok(false) };
    change(tx)?;
    let after = person_at(tx, name)?;
    audit::append(tx, &audit(Some(&before), after.as_ref()))?;
    Ok(true)
}

/// End the person's sign-in sessions (API tokens stay).
fn end_sessions(tx: &mut Tx<'_>, name: &str, now_ms: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE person_tokens SET revoked_ms = $2 WHERE person = $1 AND kind = 'session' AND revoked_ms IS NULL",
        &[&name, &now_ms],
    )?;
    Ok(())
}

/// Who holds the live token `hash` (only a sign-in session when `session_only`).
fn holder(tx: &mut Tx<'_>, hash: &TokenHash, now_ms: i64, session_only: bool) -> Result<Option<Principal>, StoreError> {
    let asked: &[u8] = &hash[..];
    let found = tx.query_opt(
        "SELECT t.token_hash, p.name, p.role FROM person_tokens t JOIN people p ON p.name = t.person
         WHERE t.token_hash = $1 AND t.revoked_ms IS NULL AND (t.expires_ms IS NULL OR t.expires_ms > $2)
           AND p.disabled_ms IS NULL AND (NOT $3 OR t.kind = 'session')",
        &[&asked, &now_ms, &session_only],
    )?;
    let Some(r) = found else { return Ok(None) };
    shared::holder(r.get(0), hash, r.get(1), r.get(2))
}

impl PeopleStore for PostgresStore {
    fn add_person(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        now_ms: i64,
        audit: AuditOf<'_, Person>,
    ) -> Result<Person, StoreError> {
        let password_set_ms = password_hash.map(|_| now_ms);
        self.write(|tx| {
            if person_at(tx, name)?.is_some() {
                return Err(shared::name_taken(name));
            }
            let row = tx.query_one(
                "INSERT INTO people (name, role, password_hash, created_ms, password_set_ms) VALUES ($1, $2, $3, $4, $5)
                 RETURNING name, role, created_ms, disabled_ms, password_set_ms",
                &[&name, &role.as_str(), &password_hash, &now_ms, &password_set_ms],
            )?;
            let added = person_row(&row)?;
            audit::append(tx, &audit(None, Some(&added)))?;
            Ok(added)
        })
    }

    fn people(&self) -> Result<Vec<Person>, StoreError> {
        self.read(|tx| {
            tx.query(&format!("{PERSON} ORDER BY name COLLATE \"C\""), &[])?.iter().map(person_row).collect()
        })
    }

    fn person(&self, name: &str) -> Result<Option<Person>, StoreError> {
        self.read(|tx| person_at(tx, name))
    }

    fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(|tx| {
            let row =
                tx.query_opt("SELECT password_hash FROM people WHERE name = $1 AND disabled_ms IS NULL", &[&name])?;
            Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }

    fn set_password(
        &self,
        name: &str,
        hash: &str,
        now_ms: i64,
        audit: AuditOf<'_, Person>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            change_person(
                tx,
                name,
                |tx| {
                    tx.execute(
                        "UPDATE people SET password_hash = $2, password_set_ms = $3 WHERE name = $1",
                        &[&name, &hash, &now_ms],
                    )?;
                    end_sessions(tx, name, now_ms)
                },
                audit,
            )
        })
    }

    fn set_disabled(
        &self,
        name: &str,
        disabled: bool,
        now_ms: i64,
        audit: AuditOf<'_, Person>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            change_person(
                tx,
                name,
                |tx| {
                    if disabled {
                        tx.execute(
                            "UPDATE people SET disabled_ms = coalesce(disabled_ms, $2) WHERE name = $1",
                            &[&name, &now_ms],
                        )?;
                        end_sessions(tx, name, now_ms)
                    } else {
                        tx.execute("UPDATE people SET disabled_ms = NULL WHERE name = $1", &[&name])?;
                        Ok(())
                    }
                },
                audit,
            )
        })
    }

    fn set_role(&self, name: &str, role: Role, audit: AuditOf<'_, Person>) -> Result<bool, StoreError> {
        self.write(|tx| {
            change_person(
                tx,
                name,
                |tx| {
                    tx.execute("UPDATE people SET role = $2 WHERE name = $1", &[&name, &role.as_str()])?;
                    Ok(())
                },
                audit,
            )
        })
    }

    fn add_token(
        &self,
        grant: &TokenGrant<'_>,
        now_ms: i64,
        audit: AuditOf<'_, TokenInfo>,
    ) -> Result<TokenInfo, StoreError> {
        let TokenGrant { person, kind, label, hash, expires_ms } = *grant;
        let hash: &[u8] = &hash[..];
        self.write(|tx| {
            if person_at(tx, person)?.is_none() {
                return Err(shared::no_such_person(person));
            }
            let row = tx.query_one(
                "INSERT INTO person_tokens (person, kind, label, token_hash, created_ms, expires_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING id, person, kind, label, created_ms, expires_ms, revoked_ms",
                &[&person, &kind, &label, &hash, &now_ms, &expires_ms],
            )?;
            let info = token_row(&row);
            audit::append(tx, &audit(None, Some(&info)))?;
            Ok(info)
        })
    }

    fn tokens(&self, person: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
        self.read(|tx| {
            let rows = match person {
                Some(p) => tx.query(&format!("{TOKEN} WHERE person = $1 ORDER BY id DESC"), &[&p])?,
                None => tx.query(&format!("{TOKEN} ORDER BY id DESC"), &[])?,
            };
            Ok(rows.iter().map(token_row).collect())
        })
    }

    fn revoke_token(&self, id: i64, now_ms: i64, audit: AuditOf<'_, TokenInfo>) -> Result<bool, StoreError> {
        self.write(|tx| {
            let before = token_at(tx, id)?;
            let n = tx.execute(
                "UPDATE person_tokens SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
                &[&id, &now_ms],
            )?;
            if n > 0 {
                let after = token_at(tx, id)?;
                audit::append(tx, &audit(before.as_ref(), after.as_ref()))?;
            }
            Ok(n > 0)
        })
    }

    fn revoke_token_hash(
        &self,
        hash: &TokenHash,
        now_ms: i64,
        audit: AuditOf<'_, TokenInfo>,
    ) -> Result<bool, StoreError> {
        let hash: &[u8] = &hash[..];
        self.write(|tx| {
            let found =
                tx.query_opt("SELECT id FROM person_tokens WHERE token_hash = $1 AND revoked_ms IS NULL", &[&hash])?;
            let Some(id) = found.map(|r| r.get::<_, i64>(0)) else { return Ok(false) };
            let before = token_at(tx, id)?;
            tx.execute("UPDATE person_tokens SET revoked_ms = $2 WHERE id = $1", &[&id, &now_ms])?;
            let after = token_at(tx, id)?;
            audit::append(tx, &audit(before.as_ref(), after.as_ref()))?;
            Ok(true)
        })
    }

    fn principal_by_token(&self, hash: &TokenHash, now_ms: i64) -> Result<Option<Principal>, StoreError> {
        self.read(|tx| holder(tx, hash, now_ms, false))
    }

    fn session_principal(&self, hash: &TokenHash, now_ms: i64) -> Result<Option<Principal>, StoreError> {
        self.read(|tx| holder(tx, hash, now_ms, true))
    }
}

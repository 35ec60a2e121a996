//! SQLite: people, their tokens and sessions.
//!
//! A token is found by its SHA-256 through a unique index — one lookup,
//! right or wrong — and works only while it is unrevoked, unexpired and its
//! person enabled; disabling a person or setting their password revokes
//! their sessions in the same transaction, so the change holds from the
//! next request on.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::auth::TokenHash;
use crate::people::{Person, Principal, Role, TokenInfo};
use crate::store::shared::people as shared;
use crate::store::{AuditOf, PeopleStore, StoreError, TokenGrant};

fn role_of(s: String) -> rusqlite::Result<Role> {
    s.parse().map_err(|e: String| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into()))
}

fn person_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Person> {
    Ok(Person {
        name: r.get(0)?,
        role: role_of(r.get(1)?)?,
        created_ms: r.get(2)?,
        disabled_ms: r.get(3)?,
        password_set_ms: r.get(4)?,
    })
}

const PERSON: &str = "SELECT name, role, created_ms, disabled_ms, password_set_ms FROM people";
const TOKEN: &str = "SELECT id, person, kind, label, created_ms, expires_ms, revoked_ms FROM person_tokens";

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.get(0)?,
        person: r.get(1)?,
        kind: r.get(2)?,
        label: r.get(3)?,
        created_ms: r.get(4)?,
        expires_ms: r.get(5)?,
        revoked_ms: r.get(6)?,
    })
}

fn person_at(c: &rusqlite::Connection, name: &str) -> Result<Option<Person>, StoreError> {
    Ok(c.query_row(&format!("{PERSON} WHERE name = ?1"), [name], person_row).optional()?)
}

fn token_at(c: &rusqlite::Connection, id: i64) -> Result<Option<TokenInfo>, StoreError> {
    Ok(c.query_row(&format!("{TOKEN} WHERE id = ?1"), [id], token_row).optional()?)
}

/// Change one person in a transaction: `change` runs between reading them
/// before and after; the audit records of a change that happened go in too.
fn change_person(
    c: &mut rusqlite::Connection,
    name: &str,
    change: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError>,
    audit: AuditOf<'_, Person>,
) -> Result<bool, StoreError> {
    let tx = c.transaction()?;
    let Some(before) = person_at(&tx, name)? else { return Ok(false) };
    change(&tx)?;
    let after = person_at(&tx, name)?;
    super::audit::append(&tx, &audit(Some(&before), after.as_ref()))?;
    tx.commit()?;
    Ok(true)
}

impl PeopleStore for SqliteStore {
    fn add_person(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        now_ms: i64,
        audit: AuditOf<'_, Person>,
    ) -> Result<Person, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            if person_at(&tx, name)?.is_some() {
                return Err(shared::name_taken(name));
            }
            tx.execute(
                "INSERT INTO people (name, role, password_hash, created_ms, password_set_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, role.as_str(), password_hash, now_ms, password_hash.map(|_| now_ms)],
            )?;
            let added = tx.query_row(&format!("{PERSON} WHERE name = ?1"), [name], person_row)?;
            super::audit::append(&tx, &audit(None, Some(&added)))?;
            tx.commit()?;
            Ok(added)
        })
    }

    fn people(&self) -> Result<Vec<Person>, StoreError> {
        self.read(|c| {
            Ok(c.prepare(&format!("{PERSON} ORDER BY name"))?.query_map([], person_row)?.collect::<Result<_, _>>()?)
        })
    }

    fn person(&self, name: &str) -> Result<Option<Person>, StoreError> {
        self.read(|c| person_at(c, name))
    }

    fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_row("SELECT password_hash FROM people WHERE name = ?1 AND disabled_ms IS NULL", [name], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten())
        })
    }

    fn set_password(
        &self,
        name: &str,
        hash: &str,
        now_ms: i64,
        audit: AuditOf<'_, Person>,
    ) -> Result<bool, StoreError> {
        self.write(|c| {
            change_person(
                c,
                name,
                |tx| {
                    tx.execute(
                        "UPDATE people SET password_hash = ?2, password_set_ms = ?3 WHERE name = ?1",
                        params![name, hash, now_ms],
                    )?;
                    tx.execute(
                        "UPDATE person_tokens SET revoked_ms = ?2
                         WHERE person = ?1 AND kind = 'session' AND revoked_ms IS NULL",
                        params![name, now_ms],
                    )?;
                    Ok(())
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
        self.write(|c| {
            change_person(
                c,
                name,
                |tx| {
                    if disabled {
                        tx.execute(
                            "UPDATE people SET disabled_ms = coalesce(disabled_ms, ?2) WHERE name = ?1",
                            params![name, now_ms],
                        )?;
                        tx.execute(
                            "UPDATE person_tokens SET revoked_ms = ?2
                             WHERE person = ?1 AND kind = 'session' AND revoked_ms IS NULL",
                            params![name, now_ms],
                        )?;
                    } else {
                        tx.execute("UPDATE people SET disabled_ms = NULL WHERE name = ?1", [name])?;
                    }
                    Ok(())
                },
                audit,
            )
        })
    }

    fn set_role(&self, name: &str, role: Role, audit: AuditOf<'_, Person>) -> Result<bool, StoreError> {
        self.write(|c| {
            change_person(
                c,
                name,
                |tx| {
                    tx.execute("UPDATE people SET role = ?2 WHERE name = ?1", params![name, role.as_str()])?;
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
        self.write(|c| {
            let tx = c.transaction()?;
            if person_at(&tx, person)?.is_none() {
                return Err(shared::no_such_person(person));
            }
            tx.execute(
                "INSERT INTO person_tokens (person, kind, label, token_hash, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![person, kind, label, &hash[..], now_ms, expires_ms],
            )?;
            let id = tx.last_insert_rowid();
            let info = tx.query_row(&format!("{TOKEN} WHERE id = ?1"), [id], token_row)?;
            super::audit::append(&tx, &audit(None, Some(&info)))?;
            tx.commit()?;
            Ok(info)
        })
    }

    fn tokens(&self, person: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(&format!("{TOKEN} WHERE ?1 IS NULL OR person = ?1 ORDER BY id DESC"))?;
            Ok(st.query_map([person], token_row)?.collect::<Result<_, _>>()?)
        })
    }

    fn revoke_token(&self, id: i64, now_ms: i64, audit: AuditOf<'_, TokenInfo>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let before = token_at(&tx, id)?;
            let n = tx.execute(
                "UPDATE person_tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now_ms],
            )?;
            if n > 0 {
                super::audit::append(&tx, &audit(before.as_ref(), token_at(&tx, id)?.as_ref()))?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn revoke_token_hash(
        &self,
        hash: &TokenHash,
        now_ms: i64,
        audit: AuditOf<'_, TokenInfo>,
    ) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM person_tokens WHERE token_hash = ?1 AND revoked_ms IS NULL",
                    params![&hash[..]],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            let before = token_at(&tx, id)?;
            tx.execute("UPDATE person_tokens SET revoked_ms = ?2 WHERE id = ?1", params![id, now_ms])?;
            super::audit::append(&tx, &audit(before.as_ref(), token_at(&tx, id)?.as_ref()))?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn principal_by_token(&self, hash: &TokenHash, now_ms: i64) -> Result<Option<Principal>, StoreError> {
        self.read(|c| holder(c, hash, now_ms, false))
    }

    fn session_principal(&self, hash: &TokenHash, now_ms: i64) -> Result<Option<Principal>, StoreError> {
        self.read(|c| holder(c, hash, now_ms, true))
    }
}

/// Who holds the live token `hash` (only a sign-in session when `session_only`).
fn holder(
    c: &rusqlite::Connection,
    hash: &TokenHash,
    now_ms: i64,
    session_only: bool,
) -> Result<Option<Principal>, StoreError> {
    let found: Option<(Vec<u8>, String, String)> = c
        .query_row(
            "SELECT t.token_hash, p.name, p.role FROM person_tokens t JOIN people p ON p.name = t.person
             WHERE t.token_hash = ?1 AND t.revoked_ms IS NULL AND (t.expires_ms IS NULL OR t.expires_ms > ?2)
               AND p.disabled_ms IS NULL AND (?3 = 0 OR t.kind = 'session')",
            params![&hash[..], now_ms, session_only],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((stored, name, role)) = found else { return Ok(None) };
    shared::holder(stored, hash, name, &role)
}

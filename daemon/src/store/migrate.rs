//! `censusd migrate-store --from sqlite:PATH --to postgres://…`: copy a
//! SQLite store whole into an empty PostgreSQL database, and verify it.
//!
//! **Everything.** Both schemas hold the same tables with the same columns
//! (`store/pg/schema.rs`), so the copy is table by table, column by column:
//! the register and its history, observations and their summaries, hosts,
//! sweeps, alerts with their history and evidence, suppressions, the
//! outbox, people and their tokens, the audit log, saved queries, the
//! directory, entitlements, retirements and coverage sources. A SQLite
//! table or column without its PostgreSQL counterpart stops the copy before
//! anything is written: nothing is left behind silently.
//!
//! **One snapshot, one transaction.** The SQLite file is read inside one
//! read transaction (one snapshot, even if a daemon still writes to it —
//! stop it first all the same, or what it stores after the snapshot is not
//! copied). Everything is written in one PostgreSQL transaction with
//! `COPY … FROM STDIN (FORMAT binary)`, row by row as read (memory stays
//! flat whatever the size), and committed only after every table's row
//! count matches the source's: a failed or interrupted copy leaves the
//! target as empty as it was.
//!
//! **Never over data.** The target must be empty (its schema is created or
//! migrated first); a database holding any row is refused, naming the table.

use std::path::Path;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::OpenFlags;

use super::StoreError;

/// What a copy did: rows per table (source and target counts are equal, or
/// the copy failed), and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrateReport {
    /// Rows copied per table, by table name.
    pub tables: Vec<(String, i64)>,
    /// Wall time (seconds).
    pub seconds: f64,
}

/// `Ok` when `src` is a Census store at this build's schema version.
fn check_source_version(src: &rusqlite::Connection, path: &Path) -> Result<(), StoreError> {
    let at = path.display();
    let found: i64 = src
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::Refused(format!("{at} is not a SQLite database ({e})")))?;
    let known = super::sqlite::schema::latest();
    match found {
        0 => Err(StoreError::Refused(format!("{at} is not a Census store (it holds no Census schema)"))),
        n if n > known => Err(StoreError::SchemaTooNew { found: n, known }),
        n if n < known => Err(StoreError::Refused(format!(
            "{at} was written by an older censusd (schema {n}; this one knows {known}): start this censusd on it once \
             (it migrates the file at start), stop it, then copy"
        ))),
        _ => Ok(()),
    }
}

/// One column of a target table.
struct Column {
    name: String,
    ty: Type,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Copy the SQLite store at `from` into the empty PostgreSQL database at `to`.
///
/// # Errors
/// [`StoreError::Refused`] when the target holds data or the two schemas
/// differ (naming the table or column); [`StoreError::Db`] when either
/// database fails; [`StoreError::Io`] for a source that is not a file.
/// Nothing is written to the target on any error.
pub fn sqlite_to_postgres(from: &Path, to: &str) -> Result<MigrateReport, StoreError> {
    let t = std::time::Instant::now();
    if !from.is_file() {
        let what = if from.exists() { "not a file" } else { "no such file" };
        return Err(StoreError::Io(format!("{}: {what}; --from names the daemon's SQLite database", from.display())));
    }
    // The source is only read: never migrated, never created.
    let src = rusqlite::Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check_source_version(&src, from)?;
    // The target's schema is created or brought to this version.
    drop(super::PostgresStore::open(to)?);
    src.execute_batch("BEGIN")?;
    let mut dst = super::pg::connect(to)?;
    let mut tx = dst.transaction()?;
    let tables = target_tables(&mut tx)?;
    check_same_tables(&src, &tables)?;
    for (table, _) in &tables {
        let n: i64 = tx.query_one(&format!("SELECT count(*) FROM {}", quoted(table)), &[])?.get(0);
        if n > 0 {
            return Err(StoreError::Refused(format!(
                "the target database already holds data ({n} rows in `{table}`); migrate-store copies into an empty database"
            )));
        }
    }
    let mut report = Vec::with_capacity(tables.len());
    for (table, columns) in &tables {
        let copied = copy_table(&src, &mut tx, table, columns)?;
        let source: i64 = src.query_row(&format!("SELECT count(*) FROM {}", quoted(table)), [], |r| r.get(0))?;
        let target: i64 = tx.query_one(&format!("SELECT count(*) FROM {}", quoted(table)), &[])?.get(0);
        if source != target || copied != target {
            return Err(StoreError::Db(format!(
                "`{table}`: {source} rows in SQLite, {target} in PostgreSQL after the copy; nothing committed"
            )));
        }
        tracing::info!(table, rows = target, "copied");
        report.push((table.clone(), target));
    }
    restart_sequences(&mut tx, &tables)?;
    tx.commit()?;
    src.execute_batch("COMMIT")?;
    Ok(MigrateReport { tables: report, seconds: t.elapsed().as_secs_f64() })
}

/// The target's tables (people first: tokens refer to them) and their
/// columns; not PostgreSQL's own bookkeeping (schema version, change
/// counts, the daemons' routes and turns), nor the columns the server
/// computes (`assets.match_keys`).
fn target_tables(tx: &mut postgres::Transaction<'_>) -> Result<Vec<(String, Vec<Column>)>, StoreError> {
    let rows = tx.query(
        "SELECT c.table_name::TEXT, c.column_name::TEXT, c.udt_name::TEXT FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
          WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name NOT IN ('census_schema', 'generations', 'daemon_routes', 'turns')
            AND c.is_generated = 'NEVER'
          ORDER BY c.table_name <> 'people', c.table_name, c.ordinal_position",
        &[],
    )?;
    let mut out: Vec<(String, Vec<Column>)> = Vec::new();
    for r in rows {
        let (table, name, udt): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let ty = match udt.as_str() {
            "int8" => Type::INT8,
            "text" => Type::TEXT,
            "bytea" => Type::BYTEA,
            other => {
                return Err(StoreError::Refused(format!(
                    "`{table}.{name}` has type {other}, which migrate-store does not copy"
                )));
            }
        };
        match out.last_mut() {
            Some((t, cols)) if *t == table => cols.push(Column { name, ty }),
            _ => out.push((table, vec![Column { name, ty }])),
        }
    }
    Ok(out)
}

/// Every SQLite table and column has its PostgreSQL counterpart, and back.
fn check_same_tables(src: &rusqlite::Connection, tables: &[(String, Vec<Column>)]) -> Result<(), StoreError> {
    let mut st =
        src.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?;
    let names: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for name in &names {
        let Some((_, columns)) = tables.iter().find(|(t, _)| t == name) else {
            return Err(StoreError::Refused(format!("SQLite table `{name}` has no PostgreSQL counterpart")));
        };
        let mut st = src.prepare(&format!("SELECT name FROM pragma_table_info('{}')", name.replace('\'', "''")))?;
        let source_columns: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        for c in &source_columns {
            if !columns.iter().any(|t| &t.name == c) {
                return Err(StoreError::Refused(format!("SQLite column `{name}.{c}` has no PostgreSQL counterpart")));
            }
        }
        for c in columns {
            if !source_columns.contains(&c.name) {
                return Err(StoreError::Refused(format!("PostgreSQL column `{name}.{}` is missing in SQLite", c.name)));
            }
        }
    }
    for (t, _) in tables {
        if !names.contains(t) {
            return Err(StoreError::Refused(format!("PostgreSQL table `{t}` is missing in SQLite")));
        }
    }
    Ok(())
}

/// One SQLite value as the PostgreSQL column's type; a value of another
/// type is refused, naming the table, column and row.
fn value(
    v: rusqlite::types::ValueRef<'_>,
    ty: &Type,
    at: impl Fn() -> String,
) -> Result<Box<dyn ToSql + Sync>, StoreError> {
    use rusqlite::types::ValueRef;
    Ok(match (v, ty) {
        (ValueRef::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (ValueRef::Null, t) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
        (ValueRef::Null, _) => Box::new(None::<String>),
        (ValueRef::Integer(i), t) if *t == Type::INT8 => Box::new(i),
        (ValueRef::Text(s), t) if *t == Type::TEXT => Box::new(String::from_utf8_lossy(s).into_owned()),
        (ValueRef::Blob(b), t) if *t == Type::BYTEA => Box::new(b.to_vec()),
        (v, t) => {
            return Err(StoreError::Refused(format!(
                "{}: a {:?} value where PostgreSQL expects {t}",
                at(),
                v.data_type()
            )));
        }
    })
}

fn copy_table(
    src: &rusqlite::Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<i64, StoreError> {
    let names: Vec<String> = columns.iter().map(|c| quoted(&c.name)).collect();
    let types: Vec<Type> = columns.iter().map(|c| c.ty.clone()).collect();
    let sink = tx.copy_in(&format!("COPY {} ({}) FROM STDIN (FORMAT binary)", quoted(table), names.join(", ")))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut st = src
        .prepare(&format!("SELECT {} FROM {} ORDER BY rowid", names.join(", "), quoted(table)))
        .or_else(|_| src.prepare(&format!("SELECT {} FROM {}", names.join(", "), quoted(table))))?;
    let mut rows = st.query([])?;
    let mut n = 0i64;
    while let Some(r) = rows.next()? {
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            values.push(value(r.get_ref(i)?, &c.ty, || format!("`{table}.{}`, row {}", c.name, n + 1))?);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        writer.write(&refs)?;
        n += 1;
    }
    writer.finish()?;
    Ok(n)
}

/// Identity columns and the batch sequence continue after the copied rows.
fn restart_sequences(tx: &mut postgres::Transaction<'_>, tables: &[(String, Vec<Column>)]) -> Result<(), StoreError> {
    for (table, columns) in tables {
        if columns.iter().any(|c| c.name == "id") {
            tx.query_one(
                &format!(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce((SELECT max(id) FROM {}), 0) + 1, false)",
                    quoted(table)
                ),
                &[table],
            )?;
        }
    }
    tx.query_one("SELECT setval('batch_arrival', coalesce((SELECT max(seq) FROM batches), 0) + 1, false)", &[])?;
    Ok(())
}

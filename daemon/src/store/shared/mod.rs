//! What both backends share that is not SQL: decisions, diffs and shapes a
//! store computes around its statements, so SQLite (`store/sqlite`) and
//! PostgreSQL (`store/pg`) do not each keep a copy.

pub mod alerts;
pub mod assets;
pub mod ingest;
pub mod people;
pub mod reconcile;
pub mod rollup;
pub mod whois;

//! The daemon's use cases, as plain functions over the store and the
//! reconciler: what the HTTP API, the CLI's daemon side and (later) the
//! console and connectors all call. Each returns its own error type and
//! performs its side effects (reconcile, wake the notifier) exactly once;
//! handlers only extract, call and map errors.

pub mod agents;
pub mod alerts;
pub mod audit;
pub mod background;
pub mod directory;
pub mod imports;
pub mod in_flight;
pub mod ingest;
pub mod licences;
pub mod people;
pub mod query;
pub mod register;
pub mod retirement;
pub mod sources;
pub mod sync;
pub mod timeline;

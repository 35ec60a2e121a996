//! The Census daemon: the system of record. It keeps the managed register
//! (what the organisation says it owns), stores what agents observed, and
//! reconciles the two into alerts.
//!
//! - [`config`]: the validated configuration;
//! - [`auth`]: bearer tokens, stored only as hashes;
//! - [`store`]: persistence behind the [`store::Store`] trait (SQLite);
//! - [`register`]: the managed register's model, import and export;
//! - [`ingest`]: a delivered batch checked and turned into rows;
//! - [`reconcile`]: identity matching and the alert rules, incremental and full;
//! - [`alerts`]: alert model, its lifecycle, suppression rules, webhook and JSON-lines delivery;
//! - [`whois`] and [`report`]: the responder's answer and the audit report;
//! - [`api`]: the HTTP API, [`api::serve`] for tests and the binary alike.

pub mod alerts;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod certificates;
pub mod client;
pub mod config;
pub mod connectors;
pub mod console;
pub mod deployment;
pub mod directory;
pub mod eol;
pub mod files;
pub mod host;
pub mod ingest;
pub mod licences;
pub mod metrics;
pub mod net;
pub mod output;
pub mod pem;
pub mod people;
pub mod reconcile;
pub mod register;
pub mod report;
pub mod retirement;
pub mod service;
pub mod sources;
pub mod store;
pub mod whois;

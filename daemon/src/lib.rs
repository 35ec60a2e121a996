//! The Census daemon: the system of record. It keeps the managed register
//! (what the organisation says it owns), stores what agents observed, and
//! reconciles the two into alerts.
//!
//! - [`config`]: the validated configuration.

pub mod config;

//! nmap's XML reports (`nmap -oX FILE`) as observation batches: read by
//! [`xml::parse`] (streaming, refusing truncated or malformed reports with
//! the element named), turned into a batch by [`batch::to_batch`] (whose
//! docs say when a report counts as a complete sweep), then ingested like
//! an agent's by [`crate::app::imports::nmap`].

pub mod batch;
pub mod scope;
pub mod xml;

pub use batch::{ImportSummary, to_batch};
pub use xml::{NmapError, NmapRun, parse};

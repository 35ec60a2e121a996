//! Connectors: other tools' data brought into Census through the same
//! paths as its own. Each reader is pure (bytes in, the wire model or
//! register rows out, errors naming the element or row at fault); the use
//! cases in [`crate::app`] store what they make.
//!
//! - [`nmap`]: an nmap `-oX` report as an observation batch.
//! - [`sync`]: Snipe-IT's and NetBox's records as register patches.

pub mod nmap;
pub mod sync;

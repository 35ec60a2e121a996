//! The managed register: the organisation's own record of what it owns.
//!
//! - [`model`]: the asset and its validation;
//! - [`csv`]: CSV and JSON import/export with row- and column-level errors;
//! - [`plan`]: what an import would add, change and retire.

pub mod csv;
pub mod model;
pub mod plan;

pub use model::{Asset, AssetType, Criticality, Day, ExpectedService, FieldError, Licence, Lifecycle};

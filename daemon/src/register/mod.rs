//! The managed register: the organisation's own record of what it owns.
//!
//! - [`model`]: the asset and its validation;
//! - [`csv`]: CSV and JSON import/export with row- and column-level errors;
//! - [`patch`]: an import merged into the register (never a loss of data);
//! - [`plan`]: what an import would add, change and retire;
//! - [`search`]: the search syntax shared by the API, the CLI and the console;
//! - [`strict_json`]: operator JSON that refuses duplicate keys.

pub mod csv;
pub mod ident;
pub mod model;
pub mod patch;
pub mod plan;
pub mod search;
pub mod strict_json;

pub use model::{Asset, AssetType, Criticality, Day, ExpectedService, FieldError, Licence, Lifecycle};

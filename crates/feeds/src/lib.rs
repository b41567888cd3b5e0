//! Feeds: how one agency's data becomes typed [`CadRecord`]s, described by a mapping file.
//!
//! A mapping file (TOML) names the agency, its time zone, and which columns hold the incident
//! number, the time, the call type and the location, plus a table from call types to Porchlight
//! categories. Reading a file never stops at a bad row: each one becomes a [`Problem`] that names
//! the line, the field and the reason, and the rest carries on. Problems never quote a location
//! or coordinate value, since those are raw addresses.
//!
//! [`CadRecord`]: porchlight_core::record::CadRecord

mod csv_source;
pub mod eido;
mod incoming;
mod json_source;
mod mapping;
pub mod portal;
mod projection;

pub use csv_source::{Problem, Records};
pub use incoming::{Incoming, IncomingLocation};
pub use json_source::JsonRecords;
pub use mapping::{Mapping, MappingError};

//! The pure core of Porchlight: domain types, the privacy stage and matching.
//!
//! Nothing here does IO, spawns tasks or knows about SQL, HTTP or files. Everything that crosses
//! the privacy boundary is typed: a [`record::CadRecord`] holds raw dispatch data and can only be
//! turned into a [`incident::PublicIncident`] by [`privacy::Policy::apply`], and the store accepts
//! nothing else.

pub mod address;
pub mod agency;
pub mod alert;
pub mod category;
pub mod channel;
pub mod gazetteer;
pub mod geo;
pub mod grid;
pub mod incident;
pub mod matcher;
pub mod pacing;
pub mod privacy;
pub mod record;
pub mod scrub;
pub mod signature;
pub mod subscription;
#[cfg(feature = "testing")]
pub mod testing;

//! Measurements of Porchlight's parts against labelled data and baselines. Nothing here is
//! linked into the `porchlight` binary.

pub mod locations;
pub mod presidio;
pub mod serve;
pub mod usaddress;
pub mod workload;

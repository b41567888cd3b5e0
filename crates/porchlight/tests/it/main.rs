//! The binary's black-box tests, in one test binary (one link instead of one per file):
//! `cli` (commands, the API, pushes, privacy on all six city files), `poll` (portals served
//! by a local server), `snapshots` (generalized locations of real rows).

mod cli;
mod common;
mod crash;
mod poll;
mod snapshots;

//! The binary's black-box tests, in one test binary (one link instead of one per file):
//! `channels` (webhooks, Web Push and e-mail against real receivers on loopback), `cli`
//! (commands, the API, pushes, privacy on all six city files), `crash`, `formats` (GeoJSON, CAP, Atom, exports, metrics), `gazetteer` (St. Louis's block-only calls placed by its table of blocks), `openapi` (the OpenAPI document covers every route), `poll`, `portal` (the video-request portal inside `serve`) (portals served
//! by a local server), `snapshots` (generalized locations of real rows), `transparency` (the
//! transparency log, its proofs and report, and `porchlight audit` against tampering), `web`
//! (the web app in headless Chromium).

mod authorization;
mod channels;
mod cli;
mod common;
mod crash;
mod formats;
mod gazetteer;
mod limits;
mod openapi;
mod poll;
mod portal;
mod processes;
mod snapshots;
mod transparency;
mod web;

//! Snapshots of what the default policy publishes for real rows of every city: the
//! generalized location (or why the row is withheld), line by line. A change to the parser or
//! the policy that changes any published location shows up here for review.

use std::{fmt::Write, path::Path};

use porchlight_core::privacy::{Decision, Policy};
use porchlight_feeds::Mapping;

fn published(mapping: &str, file: &str, every: usize, most: usize) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mapping = Mapping::parse(&std::fs::read_to_string(root.join(mapping)).unwrap()).unwrap();
    let data = std::fs::File::open(root.join(file)).unwrap();
    let policy = Policy::default();
    let mut out = String::new();
    for record in mapping.read_csv(std::io::BufReader::new(data)).unwrap().step_by(every).take(most) {
        let Ok(record) = record else { continue };
        let line = record.line;
        let shown = match policy.apply(record) {
            Decision::Publish(p) => format!("{:<12} {}", p.location().kind().as_str(), p.location().text()),
            Decision::Withhold(w) => format!("withheld     {}", w.reason),
        };
        writeln!(out, "{line:>6}  {shown}").unwrap();
    }
    out
}

#[test]
fn milwaukee() {
    insta::assert_snapshot!(published(
        "examples/milwaukee.toml",
        "examples/data/milwaukee-cfs/data.csv",
        167,
        200
    ));
}

#[test]
fn san_luis_obispo() {
    insta::assert_snapshot!(published(
        "examples/san-luis-obispo.toml",
        "examples/data/slo-pd-log/SLOPD_report.csv",
        97,
        200
    ));
}

#[test]
fn seattle() {
    insta::assert_snapshot!(published(
        "examples/seattle.toml",
        "examples/data/seattle-spd-911/Seattle_Police_Department_911_Incident_Response.csv",
        3,
        200
    ));
}

#[test]
fn dallas() {
    insta::assert_snapshot!(published(
        "examples/dallas.toml",
        "examples/data/dallas-active-calls/are8-xahz.csv",
        1,
        100
    ));
}

#[test]
fn st_louis() {
    insta::assert_snapshot!(published(
        "examples/st-louis.toml",
        "examples/data/stlouis-cfs/cfsraw.csv",
        1,
        100
    ));
}

#[test]
fn seattle_call_data() {
    insta::assert_snapshot!(published(
        "examples/seattle-calldata.toml",
        "examples/data/seattle-spd-calldata/db_call_data_2018-2023.csv",
        7,
        40
    ));
}

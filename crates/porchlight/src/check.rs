//! `porchlight feeds check`: what a mapping and a policy would do to a file, storing nothing.

use std::{collections::BTreeMap, fs::File, io::BufReader, path::PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use porchlight_core::{
    gazetteer::Gazetteer,
    privacy::{Decision, Policy, PolicyDocument},
};
use porchlight_feeds::Mapping;
use serde::Serialize;

use crate::{ingest::Summary, policy::read_policy_file};

#[derive(Subcommand)]
pub enum FeedsCommand {
    /// Run a data file through a mapping and a policy without storing anything, and print what
    /// would be published, withheld and rejected, with a sample of published locations.
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// The agency's mapping file (TOML).
    #[arg(long)]
    mapping: PathBuf,
    /// A policy file; the default policy if absent.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// How many published locations to show.
    #[arg(long, default_value_t = 15)]
    sample: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// A gazetteer file to place the rows that come without coordinates, as `porchlight
    /// gazetteer import` reads one: a table of points (CSV: location, lat, lon or lng) or
    /// street centrelines (GeoJSON, or CSV with a line column). May be given more than once.
    #[arg(long)]
    gazetteer: Vec<PathBuf>,
    /// The layout of the centreline files (TIGER/Line's by default).
    #[arg(long)]
    layout: Option<PathBuf>,
    /// The CSV file to check.
    file: PathBuf,
}

/// One published record as the public would see it; nothing of the raw text.
#[derive(Serialize)]
struct Sample {
    line: u64,
    category: String,
    call_type: String,
    kind: &'static str,
    location: String,
}

#[derive(Serialize)]
pub struct Report {
    agency: String,
    summary: Summary,
    location_kinds: BTreeMap<&'static str, u64>,
    sample: Vec<Sample>,
}

pub fn run(command: FeedsCommand) -> anyhow::Result<()> {
    let FeedsCommand::Check(args) = command;
    let text = std::fs::read_to_string(&args.mapping)
        .with_context(|| format!("reading the mapping file {}", args.mapping.display()))?;
    let mapping = Mapping::parse(&text).with_context(|| format!("in {}", args.mapping.display()))?;
    let document = match &args.policy {
        Some(path) => read_policy_file(path)?,
        None => PolicyDocument::default(),
    };
    let layout = match &args.layout {
        Some(path) => crate::gazetteer::Layout::load(path)?,
        None => crate::gazetteer::Layout::default(),
    };
    let gazetteer = if args.gazetteer.is_empty() {
        None
    } else {
        Some(std::sync::Arc::new(crate::gazetteer::load(&args.gazetteer, &layout)?))
    };
    let file = File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let report = check(&mapping, document, gazetteer, BufReader::new(file), args.sample)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} checked against {} for {} (nothing stored)",
        args.file.display(),
        args.mapping.display(),
        report.agency
    );
    print!("{}", report.summary.render());
    println!("published locations by kind:");
    for (kind, n) in &report.location_kinds {
        println!("  {kind:<34} {n:>6}");
    }
    println!("sample of published records:");
    for s in &report.sample {
        println!("  line {:<7} {:<16} {:<24} {}", s.line, s.category, truncate(&s.call_type, 24), s.location);
    }
    Ok(())
}

/// What `document` does to the records `reader` holds (CSV in the agency's own columns), with
/// up to `sample` published records as the public would see them. Stores nothing.
pub fn check(
    mapping: &Mapping,
    document: PolicyDocument,
    gazetteer: Option<std::sync::Arc<Gazetteer>>,
    reader: impl std::io::Read,
    sample: usize,
) -> anyhow::Result<Report> {
    let mut policy = crate::scrubber::equip(Policy::new(document, 0)?);
    if let Some(gazetteer) = gazetteer {
        policy = policy.with_gazetteer(gazetteer);
    }
    let mut records = mapping.read_csv(reader)?;
    let mut report = Report {
        agency: mapping.agency().to_string(),
        summary: Summary::default(),
        location_kinds: BTreeMap::new(),
        sample: Vec::new(),
    };
    for item in records.by_ref() {
        let record = match item {
            Ok(record) => record,
            Err(problem) => {
                report.summary.reject(&problem);
                continue;
            }
        };
        let line = record.line;
        let decision = policy.apply(record);
        report.summary.count_decision(&decision);
        if let Decision::Publish(p) = decision {
            *report.location_kinds.entry(p.location().kind().as_str()).or_default() += 1;
            if report.sample.len() < sample {
                report.sample.push(Sample {
                    line,
                    category: p.category().to_string(),
                    call_type: p.call_type().to_owned(),
                    kind: p.location().kind().as_str(),
                    location: p.location().text().to_owned(),
                });
            }
        }
    }
    report.summary.unmapped_call_types = records.unmapped_call_types().clone();
    Ok(report)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

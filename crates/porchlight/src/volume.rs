//! `porchlight alerts volume`: how many live alerts a resident would get on a busy day of a
//! city's calls with the quiet default profile, against "everything within 1 km".
//!
//! The day is the agency's local day with the most published calls. Residents are placed
//! where calls happen: one at each distinct (snapped) point of that day's published calls, up
//! to `--residents`, evenly through the day's list. That is the worst case for the calm
//! default, since nobody sits in an empty park. Calls without coordinates cannot be placed in
//! anyone's area and alert no one; a city whose feed has none says so.

use std::{collections::BTreeMap, fs::File, io::BufReader, path::PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use porchlight_core::{
    category::{Category, Severity},
    geo::Point,
    matcher::SubscriptionIndex,
    privacy::{Decision, Policy},
    subscription::{QUIET_RADIUS_M, Subscription, SubscriptionKey, quiet_default},
};
use serde::Serialize;

use crate::{ingest::read_mapping_file, policy::read_policy_file};

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// Live alerts per resident on a city's busiest day: the quiet default profile against
    /// "everything within 1 km".
    Volume(VolumeArgs),
}

#[derive(Args)]
pub struct VolumeArgs {
    /// The agency's mapping file (TOML).
    #[arg(long)]
    mapping: PathBuf,
    /// A policy file; the default policy if absent.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// How many residents to place.
    #[arg(long, default_value_t = 200)]
    residents: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The CSV file of calls.
    file: PathBuf,
}

/// The radius of the "everything" profile the default is compared with.
const EVERYTHING_RADIUS_M: f64 = 1000.0;

#[derive(Debug, Serialize)]
struct Profile {
    name: &'static str,
    radius_m: f64,
    /// Live alerts per resident over the day.
    mean: f64,
    median: u64,
    max: u64,
    /// Residents who got no alert at all that day.
    silent_residents: usize,
    /// Alerts per category, summed over residents.
    by_category: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
struct Volume {
    agency: String,
    day: Option<NaiveDate>,
    published_that_day: usize,
    with_coordinates: usize,
    residents: usize,
    profiles: Vec<Profile>,
}

pub fn run(command: AlertsCommand) -> anyhow::Result<()> {
    let AlertsCommand::Volume(args) = command;
    let volume = measure(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&volume)?);
        return Ok(());
    }
    println!("{}: busiest day {}", volume.agency, volume.day.map_or("none".into(), |d| d.to_string()));
    println!(
        "  {} calls published that day, {} with coordinates; {} residents placed where calls were",
        volume.published_that_day, volume.with_coordinates, volume.residents
    );
    for p in &volume.profiles {
        println!(
            "  {:<34} {:>6.1} alerts a day per resident (median {}, max {}, {} residents heard nothing)",
            format!("{} ({} m)", p.name, p.radius_m),
            p.mean,
            p.median,
            p.max,
            p.silent_residents
        );
    }
    if volume.with_coordinates == 0 {
        println!("  this feed gives no coordinates: its calls are listed but cannot alert anyone");
    }
    Ok(())
}

fn measure(args: &VolumeArgs) -> anyhow::Result<Volume> {
    let (_, mapping) = read_mapping_file(&args.mapping)?;
    let policy = match &args.policy {
        Some(path) => Policy::new(read_policy_file(path)?, 0)?,
        None => Policy::default(),
    };
    let file = File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    // Each incident once, as first published: later versions are updates, not new alerts.
    let mut first_seen: BTreeMap<String, (NaiveDate, Category, Option<Point>)> = BTreeMap::new();
    for record in mapping.read_csv(BufReader::new(file))?.flatten() {
        if let Decision::Publish(p) = policy.apply(record) {
            let day = p.received_at().with_timezone(&mapping.time_zone()).date_naive();
            first_seen.entry(p.source_id().to_owned()).or_insert((day, p.category(), p.point()));
        }
    }
    let mut per_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for (day, _, _) in first_seen.values() {
        *per_day.entry(*day).or_default() += 1;
    }
    let day = per_day.iter().max_by_key(|(d, n)| (**n, std::cmp::Reverse(**d))).map(|(d, _)| *d);
    let calls: Vec<(Category, Point)> = first_seen
        .values()
        .filter(|(d, _, _)| Some(*d) == day)
        .filter_map(|(_, c, p)| p.map(|p| (*c, p)))
        .collect();
    let published_that_day = day.map_or(0, |d| per_day[&d]);

    let mut places: Vec<Point> = Vec::new();
    for (_, p) in &calls {
        if !places.contains(p) {
            places.push(*p);
        }
    }
    let step = places.len().div_ceil(args.residents.max(1)).max(1);
    let residents: Vec<Point> = places.into_iter().step_by(step).take(args.residents).collect();

    let profiles = [
        ("quiet default", quiet_default(), QUIET_RADIUS_M),
        ("everything", (Default::default(), Severity::Low), EVERYTHING_RADIUS_M),
    ];
    let profiles = profiles
        .into_iter()
        .map(|(name, filter, radius_m)| {
            let mut index = SubscriptionIndex::new();
            let mut keys = Vec::new();
            for (i, at) in residents.iter().enumerate() {
                let s = Subscription::new(*at, radius_m, filter.clone(), chrono::Utc::now())?;
                let key = SubscriptionKey(i as u32);
                keys.push(key);
                index.insert(key, &s);
            }
            let mut counts: BTreeMap<SubscriptionKey, u64> = keys.iter().map(|key| (*key, 0)).collect();
            let mut by_category: BTreeMap<&'static str, u64> = BTreeMap::new();
            for (category, at) in &calls {
                for id in index.matches(*category, *at) {
                    *counts.entry(id).or_default() += 1;
                    *by_category.entry(category.as_str()).or_default() += 1;
                }
            }
            let mut per_resident: Vec<u64> = counts.into_values().collect();
            per_resident.sort_unstable();
            let total: u64 = per_resident.iter().sum();
            Ok(Profile {
                name,
                radius_m,
                mean: if per_resident.is_empty() { 0.0 } else { total as f64 / per_resident.len() as f64 },
                median: per_resident.get(per_resident.len() / 2).copied().unwrap_or(0),
                max: per_resident.last().copied().unwrap_or(0),
                silent_residents: per_resident.iter().filter(|n| **n == 0).count(),
                by_category,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Volume {
        agency: mapping.agency().to_string(),
        day,
        published_that_day,
        with_coordinates: calls.len(),
        residents: residents.len(),
        profiles,
    })
}

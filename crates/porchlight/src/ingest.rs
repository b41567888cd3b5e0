//! Ingest: records from a feed through the privacy stage into the store, with a summary that
//! accounts for every row (published, withheld with a reason, or rejected with a reason).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use porchlight_core::{
    privacy::{Decision, Policy, PolicyDocument, Withheld},
    record::CadRecord,
};
use porchlight_feeds::{Mapping, Problem};
use porchlight_store::{Applied, Store};
use serde::Serialize;

use crate::DataDir;

/// Records per database transaction.
const BATCH: usize = 1000;
/// Line numbers kept per rejection reason, to point at examples.
pub(crate) const EXAMPLE_LINES: usize = 5;

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataDir,
    /// The agency's id; must match the mapping file's `agency.id`.
    #[arg(long)]
    agency: String,
    /// The agency's mapping file (TOML), e.g. examples/milwaukee.toml.
    #[arg(long)]
    mapping: PathBuf,
    /// A policy file to put in force before importing (see examples/policies/default.toml);
    /// without it the agency's current policy applies, or the default for a new agency.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Who approved the `--policy` file: a name or an office, published with it in the
    /// transparency log.
    #[arg(long, requires = "policy", default_value = "the operator, at import")]
    approved_by: String,
    /// How to print the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    geocoder: crate::geocoder::GeocoderArgs,
    /// The CSV file to import.
    file: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Default, Serialize)]
pub struct Rejected {
    pub count: u64,
    pub first_lines: Vec<u64>,
}

/// What happened to every row of an input.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub rows: u64,
    /// New incidents.
    pub published: u64,
    /// Known incidents that came again with something new: a new version.
    pub updated: u64,
    /// Known incidents that came again unchanged.
    pub unchanged: u64,
    /// Rows that only added a responding unit to an incident of the same batch.
    pub units_merged: u64,
    pub withheld: BTreeMap<String, u64>,
    /// Keyed by "field: code".
    pub rejected: BTreeMap<String, Rejected>,
    /// Published rows by where their point came from: `feed`, `gazetteer` (the feed gave no
    /// coordinates; the agency's table knew the block or intersection), `centreline` (found on
    /// the agency's street centrelines), `geocoder` or `none`.
    pub placed: BTreeMap<&'static str, u64>,
    /// Call types that no rule of the mapping matched (published or withheld as `other`).
    pub unmapped_call_types: BTreeMap<String, u64>,
    /// Whether the records were stored (import) or only checked (`feeds check`), which alone
    /// can tell new incidents from new versions and repeats.
    #[serde(skip)]
    pub stored: bool,
}

impl Summary {
    pub fn reject(&mut self, problem: &Problem) {
        self.rows += 1;
        let entry = self.rejected.entry(format!("{}: {}", problem.field, problem.code)).or_default();
        entry.count += 1;
        if entry.first_lines.len() < EXAMPLE_LINES {
            entry.first_lines.push(problem.line);
        }
    }

    fn record_placed(&mut self, p: &porchlight_core::incident::PublicIncident) {
        let by = p.placed_by().map_or("none", porchlight_core::incident::PlacedBy::as_str);
        *self.placed.entry(by).or_default() += 1;
    }

    fn record_withheld(&mut self, w: &Withheld) {
        *self.withheld.entry(w.reason.to_string()).or_default() += 1;
    }

    /// Count a decision that will not be stored (`feeds check`).
    pub fn count_decision(&mut self, decision: &Decision) {
        self.rows += 1;
        match decision {
            Decision::Publish(p) => {
                self.published += 1;
                self.record_placed(p);
            }
            Decision::Withhold(w) => self.record_withheld(w),
        }
    }

    pub fn withheld_total(&self) -> u64 {
        self.withheld.values().sum()
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().map(|r| r.count).sum()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "rows read      {:>8}", self.rows);
        let published = self.published + self.updated + self.unchanged + self.units_merged;
        if self.stored {
            let _ = writeln!(
                out,
                "published      {published:>8}  (new {}, new versions {}, units merged {}, unchanged repeats {})",
                self.published, self.updated, self.units_merged, self.unchanged
            );
        } else {
            let _ = writeln!(out, "published      {published:>8}");
        }
        if !self.placed.is_empty() {
            let n = |by| self.placed.get(by).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "placed by      {:>8}  feed, {} gazetteer, {} centreline, {} geocoder, {} without a point",
                n("feed"),
                n("gazetteer"),
                n("centreline"),
                n("geocoder"),
                n("none")
            );
            let without = n("gazetteer") + n("centreline") + n("geocoder") + n("none");
            if without > 0 {
                let share = |by| 100.0 * n(by) as f64 / without as f64;
                let _ = writeln!(
                    out,
                    "without coordinates {without:>3}  of which placed by the gazetteer table {} ({:.0}%), by centrelines {} ({:.0}%), by the geocoder {} ({:.0}%)",
                    n("gazetteer"),
                    share("gazetteer"),
                    n("centreline"),
                    share("centreline"),
                    n("geocoder"),
                    share("geocoder")
                );
            }
        }
        let _ = writeln!(out, "withheld       {:>8}", self.withheld_total());
        for (reason, n) in &self.withheld {
            let _ = writeln!(out, "  {reason:<34} {n:>6}");
        }
        let _ = writeln!(out, "rejected       {:>8}", self.rejected_total());
        for (reason, r) in &self.rejected {
            let lines: Vec<String> = r.first_lines.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "  {reason:<34} {:>6}  (lines {}{})",
                r.count,
                lines.join(", "),
                if r.count > r.first_lines.len() as u64 { ", ..." } else { "" }
            );
        }
        if !self.unmapped_call_types.is_empty() {
            let rows: u64 = self.unmapped_call_types.values().sum();
            let _ = writeln!(
                out,
                "call types with no category rule: {} ({rows} rows, mapped to `other`)",
                self.unmapped_call_types.len()
            );
            let mut by_count: Vec<_> = self.unmapped_call_types.iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (call_type, n) in by_count.into_iter().take(10) {
                let _ = writeln!(out, "  {call_type:<34} {n:>6}");
            }
        }
        out
    }
}

/// The agency's policy in force with its gazetteer, and the geocoder if there is one, told the
/// place of the agency's streets from its stored mapping.
pub async fn ingest_for(
    store: &Store,
    agency: &porchlight_core::agency::AgencyId,
    geocoder: Option<&std::sync::Arc<crate::geocoder::Geocoder>>,
) -> anyhow::Result<Ingest> {
    let ingest = Ingest::new(store.clone(), crate::policy::policy_in_force(store, agency).await?);
    let Some(geocoder) = geocoder else { return Ok(ingest) };
    let context = match store.agency_mapping(agency).await? {
        Some(text) => Mapping::parse(&text)?.geocoder_context().to_owned(),
        None => store.agency(agency).await?.map_or_else(|| agency.to_string(), |a| a.name),
    };
    Ok(ingest.with_geocoder(geocoder.clone(), &context))
}

/// The privacy stage and the store, for one agency.
pub struct Ingest {
    store: Store,
    policy: Policy,
    /// A geocoder, and the place it is told the agency's streets are in.
    geocoder: Option<(std::sync::Arc<crate::geocoder::Geocoder>, String)>,
}

impl Ingest {
    pub fn new(store: Store, policy: Policy) -> Self {
        Self { store, policy, geocoder: None }
    }

    /// Ask `geocoder` where the calls that come unplaced are, in `context`.
    pub fn with_geocoder(
        mut self,
        geocoder: std::sync::Arc<crate::geocoder::Geocoder>,
        context: &str,
    ) -> Self {
        self.geocoder = Some((geocoder, context.to_owned()));
        self
    }

    /// Apply the policy to each record and store the outcome in one transaction. The raw
    /// records are consumed here; only their public form goes on. Returns, record by record,
    /// what was stored, and the reason of each withheld one.
    pub async fn batch(
        &self,
        records: Vec<CadRecord>,
        summary: &mut Summary,
    ) -> anyhow::Result<Vec<(Applied, Option<String>)>> {
        let mut decisions: Vec<Decision> = records.into_iter().map(|r| self.policy.apply(r)).collect();
        if let Some((geocoder, context)) = &self.geocoder {
            for decision in &mut decisions {
                let Decision::Publish(p) = decision else { continue };
                let Some(query) = p.geocoder_query() else { continue };
                if let Some(point) = geocoder.locate(&self.store, &query, context).await? {
                    self.policy.place(p, point);
                }
            }
        }
        let reasons: Vec<Option<String>> = decisions
            .iter()
            .map(|d| match d {
                Decision::Withhold(w) => {
                    summary.record_withheld(w);
                    Some(w.reason.to_string())
                }
                Decision::Publish(p) => {
                    summary.record_placed(p);
                    None
                }
            })
            .collect();
        let applied = self.store.apply(&decisions).await.context("storing a batch")?;
        // Under a mapping that learns, the blocks placed by the feed teach the gazetteer.
        let learned: Vec<(&str, porchlight_core::geo::Point)> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Publish(p) => p.gazetteer_entry(),
                Decision::Withhold(_) => None,
            })
            .collect();
        if let Some(Decision::Publish(first)) = decisions.iter().find(|d| matches!(d, Decision::Publish(_))) {
            self.store.learn_gazetteer(first.agency(), &learned).await.context("learning the gazetteer")?;
        }
        summary.stored = true;
        summary.rows += applied.len() as u64;
        for a in &applied {
            let outcome = match a {
                Applied::Published { .. } => {
                    summary.published += 1;
                    "published"
                }
                Applied::Updated { .. } => {
                    summary.updated += 1;
                    "updated"
                }
                Applied::Unchanged { .. } => {
                    summary.unchanged += 1;
                    "unchanged"
                }
                Applied::UnitsMerged { .. } => {
                    summary.units_merged += 1;
                    "units_merged"
                }
                Applied::Withheld => "withheld",
            };
            crate::metrics::ingested(outcome, 1);
        }
        Ok(applied.into_iter().zip(reasons).collect())
    }
}

/// A mapping file's text and its checked form.
pub fn read_mapping_file(path: &Path) -> anyhow::Result<(String, Mapping)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the mapping file {}", path.display()))?;
    let mapping = Mapping::parse(&text).with_context(|| format!("in {}", path.display()))?;
    Ok((text, mapping))
}

/// Open the data folder and put the agency in it: its name and time zone, its mapping text
/// (which pushes and pollers read), and a policy to put in force if one is given.
pub async fn register_agency(
    data: &DataDir,
    text: &str,
    mapping: &Mapping,
    policy: Option<(&PolicyDocument, &str)>,
) -> anyhow::Result<Store> {
    let store = data.store().await?;
    store.upsert_agency(mapping.agency(), mapping.agency_name(), mapping.time_zone().name()).await?;
    store.set_agency_mapping(mapping.agency(), text).await?;
    if let Some((document, approved_by)) = policy {
        store.set_policy(mapping.agency(), document, approved_by).await?;
    }
    Ok(store)
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let (text, mapping) = read_mapping_file(&args.mapping)?;
    if mapping.agency().as_str() != args.agency {
        bail!(
            "--agency {} does not match the mapping file, which is for agency {}",
            args.agency,
            mapping.agency()
        );
    }
    let policy_document = args.policy.as_deref().map(crate::policy::read_policy_file).transpose()?;
    let file = File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let progress = ProgressBar::new(file.metadata()?.len()).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta}")
            .expect("valid template"),
    );
    let store = register_agency(
        &args.data,
        &text,
        &mapping,
        policy_document.as_ref().map(|d| (d, args.approved_by.as_str())),
    )
    .await?;
    let ingest = ingest_for(&store, mapping.agency(), args.geocoder.build()?.as_ref()).await?;
    let mut summary = Summary::default();
    let mut records = mapping
        .read_csv(BufReader::new(progress.wrap_read(file)))
        .with_context(|| format!("reading {}", args.file.display()))?;
    let mut batch = Vec::with_capacity(BATCH);
    for item in records.by_ref() {
        match item {
            Ok(record) => batch.push(record),
            Err(problem) => summary.reject(&problem),
        }
        if batch.len() == BATCH {
            ingest.batch(std::mem::take(&mut batch), &mut summary).await?;
        }
    }
    ingest.batch(batch, &mut summary).await?;
    summary.unmapped_call_types = records.unmapped_call_types().clone();
    progress.finish_and_clear();
    store.close().await;
    match args.format {
        Format::Text => {
            println!("Imported {} for {} ({})", args.file.display(), mapping.agency(), mapping.agency_name());
            print!("{}", summary.render());
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
    }
    Ok(())
}

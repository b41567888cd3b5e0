//! Pushed records from a dispatch centre: the agency's stored mapping, its privacy policy and
//! the store, for the HTTP layer's push endpoint; and `porchlight agency key`.

use clap::{Args, Subcommand};
use porchlight_alerts::Alerts;
use porchlight_core::agency::AgencyId;
use porchlight_core::privacy::{Policy, PolicyDocument};
use porchlight_core::record::CadRecord;
use porchlight_feeds::{Mapping, Problem};
use porchlight_http::{IngestError, IngestFuture, Ingestor, PreviewFuture, PushedRecords, RecordOutcome};
use porchlight_store::{Applied, Store};

use crate::{DataDir, ingest::Summary};

pub struct PushIngestor {
    pub store: Store,
    pub alerts: Alerts,
    pub geocoder: Option<std::sync::Arc<crate::geocoder::Geocoder>>,
}

impl PushIngestor {
    async fn run(&self, agency: AgencyId, records: PushedRecords) -> Result<Vec<RecordOutcome>, IngestError> {
        let internal = |e: anyhow::Error| IngestError::Internal(format!("{e:#}"));
        let text = self.store.agency_mapping(&agency).await.map_err(|e| internal(e.into()))?;
        let mapping = Mapping::parse(&text.ok_or(IngestError::NoMapping)?).map_err(|e| internal(e.into()))?;
        let converted: Vec<Result<CadRecord, Problem>> = match records {
            PushedRecords::Incoming(records) => records
                .into_iter()
                .enumerate()
                .map(|(index, incoming)| mapping.record_from(index as u64, incoming))
                .collect(),
            PushedRecords::Mapped(values) => {
                let mut reader = mapping.read_json().map_err(|e| internal(e.into()))?;
                values.iter().enumerate().map(|(index, value)| reader.convert(index as u64, value)).collect()
            }
        };
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; converted.len()];
        let mut cad = Vec::new();
        let mut at = Vec::new();
        for (index, record) in converted.into_iter().enumerate() {
            match record {
                Ok(record) => {
                    cad.push(record);
                    at.push(index);
                }
                Err(problem) => {
                    outcomes[index] = Some(RecordOutcome {
                        index,
                        outcome: "rejected",
                        incident_id: None,
                        reason: Some(format!("{}: {}: {}", problem.field, problem.code, problem.detail)),
                    });
                }
            }
        }
        let ingest = crate::ingest::ingest_for(&self.store, &agency, self.geocoder.as_ref())
            .await
            .map_err(internal)?;
        let stored = ingest.batch(cad, &mut Summary::default()).await.map_err(internal)?;
        self.alerts.wake();
        for ((applied, reason), index) in stored.into_iter().zip(at) {
            let (outcome, incident_id) = match applied {
                Applied::Published { id } => ("published", Some(id)),
                Applied::Updated { id, .. } => ("updated", Some(id)),
                Applied::Unchanged { id } => ("unchanged", Some(id)),
                Applied::UnitsMerged { id } => ("units_merged", Some(id)),
                Applied::Withheld => ("withheld", None),
            };
            outcomes[index] = Some(RecordOutcome { index, outcome, incident_id, reason });
        }
        Ok(outcomes.into_iter().flatten().collect())
    }
}

impl Ingestor for PushIngestor {
    fn ingest(&self, agency: AgencyId, records: PushedRecords) -> IngestFuture<'_> {
        Box::pin(self.run(agency, records))
    }

    fn preview(&self, agency: AgencyId, document: serde_json::Value, csv: String) -> PreviewFuture<'_> {
        Box::pin(async move {
            let internal = |e: anyhow::Error| IngestError::Internal(format!("{e:#}"));
            let text = self.store.agency_mapping(&agency).await.map_err(|e| internal(e.into()))?;
            let mapping =
                Mapping::parse(&text.ok_or(IngestError::NoMapping)?).map_err(|e| internal(e.into()))?;
            let document: PolicyDocument =
                serde_json::from_value(document).map_err(|e| IngestError::Invalid(format!("policy: {e}")))?;
            Policy::new(document.clone(), 0).map_err(|e| IngestError::Invalid(e.to_string()))?;
            let toml = toml::to_string_pretty(&document).map_err(|e| internal(e.into()))?;
            // The sample is placed as the agency's own calls would be.
            let gazetteer = self.store.gazetteer(&agency).await.map_err(|e| internal(e.into()))?;
            let gazetteer = (!gazetteer.is_empty()).then_some(gazetteer);
            // Reading and generalizing thousands of rows is work for a blocking thread.
            let report = tokio::task::spawn_blocking(move || {
                crate::check::check(&mapping, document, gazetteer, csv.as_bytes(), 25)
            })
            .await
            .map_err(|e| internal(e.into()))?
            .map_err(|e| IngestError::Invalid(format!("the sample: {e:#}")))?;
            let mut answer = serde_json::to_value(report).map_err(|e| internal(e.into()))?;
            answer["toml"] = serde_json::Value::String(toml);
            Ok(answer)
        })
    }
}

#[derive(Subcommand)]
pub enum AgencyCommand {
    /// Add an agency, or update it, from its mapping file: its name, time zone, call-type table
    /// and, if the file has a `[source]`, the portal `porchlight serve` polls.
    Add(AddArgs),
    /// Make a new signing key for the agency's pushes and print it once. The key before it stays
    /// valid, so a dispatch centre can switch over; older keys stop working.
    Key(KeyArgs),
}

#[derive(Args)]
pub struct KeyArgs {
    #[command(flatten)]
    data: DataDir,
    /// The agency's id.
    #[arg(long)]
    agency: String,
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    data: DataDir,
    /// The agency's mapping file (TOML), e.g. examples/dallas-socrata.toml.
    #[arg(long)]
    mapping: std::path::PathBuf,
    /// A policy file to put in force (see examples/policies/default.toml); without it the
    /// agency's current policy stays, or the default applies to a new agency.
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// Who approved the `--policy` file: a name or an office, published with it in the
    /// transparency log.
    #[arg(long, requires = "policy", default_value = "the operator, at agency add")]
    approved_by: String,
}

pub async fn run(command: AgencyCommand) -> anyhow::Result<()> {
    let args = match command {
        AgencyCommand::Add(args) => return add(args).await,
        AgencyCommand::Key(args) => args,
    };
    let agency = AgencyId::parse(&args.agency)?;
    let store = args.data.store().await?;
    if store.agency(&agency).await?.is_none() {
        anyhow::bail!("no agency {agency} in {}: import its data first", args.data.path.display());
    }
    let (key_id, secret) = store.create_push_key(&agency).await?;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    println!("key {key_id}");
    println!("secret {hex}");
    eprintln!(
        "Sign each push: X-Porchlight-Timestamp: <unix seconds>, X-Porchlight-Signature: v1=<hex HMAC-SHA256(secret, \"<timestamp>.<body>\")>. The secret is shown only now."
    );
    Ok(())
}

async fn add(args: AddArgs) -> anyhow::Result<()> {
    let (text, mapping) = crate::ingest::read_mapping_file(&args.mapping)?;
    let policy = args.policy.as_deref().map(crate::policy::read_policy_file).transpose()?;
    let store = crate::ingest::register_agency(
        &args.data,
        &text,
        &mapping,
        policy.as_ref().map(|d| (d, args.approved_by.as_str())),
    )
    .await?;
    store.close().await;
    println!("agency {} ({})", mapping.agency(), mapping.agency_name());
    match mapping.source() {
        Some(source) => println!(
            "polls {} every {} s once `porchlight serve` runs; see /v1/agencies/{}/feed",
            source.url,
            source.every.as_secs(),
            mapping.agency()
        ),
        None => println!("no [source]: import its files or let its dispatch centre push"),
    }
    Ok(())
}

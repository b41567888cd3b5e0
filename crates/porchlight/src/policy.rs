//! `porchlight policy`: set and show an agency's privacy policy.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use porchlight_core::{
    agency::AgencyId,
    privacy::{Policy, PolicyDocument},
};
use porchlight_store::Store;

use crate::DataDir;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Make a policy file (TOML, see examples/policies/default.toml) the agency's policy; a
    /// changed policy becomes a new version.
    Set(SetArgs),
    /// Print the agency's policy in force and its version history.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct SetArgs {
    #[command(flatten)]
    data: DataDir,
    /// The agency's id.
    #[arg(long)]
    agency: String,
    /// Who approved this policy: a name or an office ("Chief of Police", "City Council
    /// resolution 2026-114"). Published with the policy in the transparency log.
    #[arg(long)]
    approved_by: String,
    /// The policy file.
    file: PathBuf,
}

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    data: DataDir,
    /// The agency's id.
    #[arg(long)]
    agency: String,
}

/// Read and check a policy file.
pub fn read_policy_file(path: &Path) -> anyhow::Result<PolicyDocument> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let document: PolicyDocument = toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    Policy::new(document.clone(), 0).with_context(|| format!("in {}", path.display()))?;
    Ok(document)
}

/// Who the transparency log names as approving Porchlight's default policy, which applies to
/// an agency until someone sets another.
pub const DEFAULT_APPROVER: &str = "Porchlight's default policy, applied until the agency sets its own";

/// The agency's policy in force, ready to apply; the default policy is stored as version 1 if
/// the agency has none.
pub async fn policy_in_force(store: &Store, agency: &AgencyId) -> anyhow::Result<Policy> {
    let policy = match store.policy(agency).await? {
        Some(policy) => policy,
        None => {
            store.set_policy(agency, &PolicyDocument::default(), DEFAULT_APPROVER).await?;
            store.policy(agency).await?.context("the policy just stored")?
        }
    };
    // Calls without coordinates are placed by the agency's gazetteer, where it has one; under a
    // mapping that says so, the calls with coordinates teach it.
    let gazetteer = store.gazetteer(agency).await?;
    let policy = if gazetteer.is_empty() { policy } else { policy.with_gazetteer(gazetteer) };
    let learns = match store.agency_mapping(agency).await? {
        Some(text) => porchlight_feeds::Mapping::parse(&text).is_ok_and(|m| m.learns_gazetteer()),
        None => false,
    };
    let policy = if learns { policy.learning_gazetteer() } else { policy };
    Ok(crate::scrubber::equip(policy))
}

async fn known_agency(data: &DataDir, agency: &str) -> anyhow::Result<(Store, AgencyId)> {
    let agency = AgencyId::parse(agency)?;
    let store = data.store().await?;
    if store.agency(&agency).await?.is_none() {
        bail!("no agency {agency} in {}: import its data first", data.path.display());
    }
    Ok((store, agency))
}

pub async fn run(command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Set(args) => {
            let document = read_policy_file(&args.file)?;
            let (store, agency) = known_agency(&args.data, &args.agency).await?;
            let version = store.set_policy(&agency, &document, &args.approved_by).await?;
            println!("policy version {version} is in force for {agency}");
        }
        PolicyCommand::Show(args) => {
            let (store, agency) = known_agency(&args.data, &args.agency).await?;
            let history = store.policy_history(&agency).await?;
            let Some(current) = history.last() else {
                println!("{agency} has no policy yet: the default applies at its next import");
                return Ok(());
            };
            println!(
                "# {agency}: policy version {} of {}, since {}",
                current.policy.version,
                history.len(),
                current.created_at
            );
            print!("{}", toml::to_string_pretty(current.policy.document())?);
        }
    }
    Ok(())
}

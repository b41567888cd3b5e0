//! `porchlight portal`: what only the operator of an installation can do, at its console.

use std::io::BufRead;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::DataDir;

#[derive(Subcommand)]
pub enum PortalCommand {
    /// Make an account a platform administrator (creating it if needed): the first one of an
    /// installation, who then verifies agencies and appoints the others over the API.
    Admin(AdminArgs),
}

#[derive(Args)]
pub struct AdminArgs {
    #[command(flatten)]
    data: DataDir,
    #[arg(long)]
    email: String,
    /// The name others see.
    #[arg(long, default_value = "Platform administrator")]
    name: String,
    /// The password, 12 characters or more; read from the first line of standard input
    /// when not set.
    #[arg(long, env = "PORCHLIGHT_ADMIN_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

pub async fn run(command: PortalCommand) -> anyhow::Result<()> {
    match command {
        PortalCommand::Admin(args) => {
            let password = match args.password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).context("reading the password")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let portal = porchlight_portal::Portal::connect(&args.data.path, &args.data.location()?)
                .await
                .with_context(|| format!("opening the portal in {}", args.data.path.display()))?;
            portal.make_platform_admin(&args.email, &args.name, &password).await?;
            println!("{} is a platform administrator", args.email.trim().to_lowercase());
            Ok(())
        }
    }
}

//! `censusd`: the command-line entry point.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for configuration and usage errors.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(name = "censusd", version, about = "Census daemon: managed register, ingest, reconciliation and alerts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match censusd::config::load(&file) {
            Ok(cfg) => {
                println!(
                    "{}: ok (listen {}{}, database {})",
                    file.display(),
                    cfg.listen,
                    if cfg.tls.is_some() { " with TLS" } else { "" },
                    cfg.database.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("censusd: configuration error: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
    }
}

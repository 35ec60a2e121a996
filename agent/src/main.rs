//! `census-agent`: the command-line entry point.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for configuration and usage errors.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(name = "census-agent", version, about = "Census agent: sweep a segment and report what answers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file and print what it would sweep.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match census_agent::config::load(&file) {
            Ok(cfg) => {
                println!("{}: ok (agent `{}`)", file.display(), cfg.agent_id);
                for s in &cfg.segments {
                    let techniques: Vec<&str> = s.techniques.iter().map(|t| t.as_str()).collect();
                    println!(
                        "  segment `{}`: {} addresses, techniques {}, {} ports, every {}s",
                        s.name,
                        s.targets.count(),
                        techniques.join("+"),
                        s.ports.len(),
                        s.interval.as_secs()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("census-agent: configuration error: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
    }
}

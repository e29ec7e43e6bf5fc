//! `switchboard-loadgen`: the benchmarks of BENCHMARKS.md. Each drives a fresh engine over
//! loopback and prints its report; it fails when any request or call failed.

use clap::{Parser, Subcommand};
use switchboard_loadgen::{call_log, campaign, claims, inbound, media, soak, tools};

#[derive(Parser)]
#[command(
    name = "switchboard-loadgen",
    version,
    about = "Switchboard benchmarks: drive a fresh engine over loopback and report"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signed Twilio voice webhooks at a fixed rate; routing decision latency.
    Inbound(inbound::Options),
    /// Concurrent calls streaming audio through the media bridge to a fake voice backend;
    /// per-frame latency, CPU and memory per call.
    Media(media::Options),
    /// The long run: thousands of whole inbound calls in a row, some at once, through the
    /// media bridge; the engine's memory, open files, threads and tasks every N calls, which
    /// must stay flat.
    Soak(soak::Options),
    /// A campaign over a large lead list against a fake carrier that answers at once; dial
    /// rate accuracy, CPU per dialed call and memory.
    Campaign(campaign::Options),
    /// Calls whose agent calls an HTTP tool round after round; the latency the engine adds
    /// to each round trip, beyond the tool's own time.
    Tools(tools::Options),
    /// A call log of a million calls with transcripts: pages of the log, filtered pages,
    /// transcript searches and the overview (30 and 90 days), one at a time; latency of each
    /// kind.
    CallLog(call_log::Options),
    /// Several stores (one per node) on one database claiming a campaign's leads at once;
    /// claim latency and claims a second, and no lead claimed twice.
    Claims(claims::Options),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The engine's log filter: an `--in-process` engine logs as `switchboard serve` would.
    tracing_subscriber::fmt()
        .with_env_filter(switchboard::config::log_filter())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Inbound(opts) => {
            let report = inbound::run(opts).await?;
            println!("{report}");
            anyhow::ensure!(report.errors == 0, "{} requests failed", report.errors);
        }
        Command::Media(opts) => {
            let report = media::run(opts).await?;
            println!("{report}");
            anyhow::ensure!(report.failed == 0, "{} calls failed", report.failed);
        }
        Command::Soak(opts) => {
            let report = soak::run(opts).await?;
            println!("{report}");
            let problems = report.problems();
            anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
        }
        Command::Tools(opts) => {
            let report = tools::run(opts).await?;
            println!("{report}");
            anyhow::ensure!(report.lost == 0, "{} round trips were lost", report.lost);
        }
        Command::Claims(opts) => {
            let report = claims::run(opts).await?;
            println!("{report}");
            anyhow::ensure!(
                report.twice == 0,
                "{} leads were claimed twice",
                report.twice
            );
        }
        Command::CallLog(opts) => {
            let report = call_log::run(opts).await?;
            println!("{report}");
            anyhow::ensure!(report.errors == 0, "{} requests failed", report.errors);
        }
        Command::Campaign(opts) => {
            let report = campaign::run(opts).await?;
            println!("{report}");
            anyhow::ensure!(
                report.callback_errors == 0,
                "{} status callbacks failed",
                report.callback_errors
            );
            if let Some(curve) = &report.curve {
                let grew = curve.growth();
                anyhow::ensure!(grew.is_empty(), "{}", grew.join("; "));
            }
        }
    }
    Ok(())
}

//! `switchboard`: the engine without a window. `serve` runs it; `token` prints the control
//! API token. (The load generators are their own binary: `switchboard-loadgen`.)

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::Config;
use switchboard::secrets::Secrets;
use switchboard::server::secrets_place;

mod cli;
use cli::backup::{BackupArgs, RestoreArgs};
use cli::test_call::{self, CallArgs};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: AI phone agents, headless"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine: the control API on loopback and the public listener for carriers.
    Serve(Config),
    /// Talk to an agent through this machine's microphone and speakers (Ctrl-C ends the call).
    /// Uses the engine already running, or runs one for the call.
    Call(CallArgs),
    /// Print the control API token (making one on first use).
    Token(Config),
    /// Print the URLs to paste into each carrier's console.
    WebhookUrls(Config),
    /// Print the control API's OpenAPI document (JSON).
    Openapi,
    /// Write a consistent, checked copy of the database to OUT, even while an engine runs.
    /// Credentials are not in it (they stay in the keyring).
    Backup(BackupArgs),
    /// Restore a backup: checked, then put in place of the database (kept beside it); while
    /// an engine runs on the data directory, staged for its next start.
    Restore(RestoreArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(switchboard::config::log_filter())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(config) => serve(config).await,
        Command::Call(args) => test_call::run(args).await,
        Command::Token(config) => token(config).await,
        Command::WebhookUrls(config) => webhook_urls(config).await,
        Command::Backup(args) => cli::backup::backup(args).await,
        Command::Restore(args) => cli::backup::restore(args).await,
        Command::Openapi => {
            println!("{}", switchboard::api::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = switchboard::start(config)
        .await
        .context("cannot start the engine")?;
    // Printed on stdout, one per line, so scripts and tests can find ports chosen by the OS.
    println!("control: http://{}", running.control_addr());
    println!("public: http://{}", running.public_addr());
    running.run_until(shutdown_signal()).await;
    Ok(())
}

pub(crate) async fn token_for(config: &Config) -> anyhow::Result<String> {
    if let Some(t) = config.token.as_deref().filter(|t| !t.trim().is_empty()) {
        return Ok(t.trim().to_owned());
    }
    let dir = config.resolved_data_dir()?;
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let secrets = Secrets::open(secrets_place(config, &dir), Default::default()).await;
    Ok(secrets.control_token(&dir).await?)
}

async fn token(config: Config) -> anyhow::Result<()> {
    if let Some(t) = config.token.as_deref().filter(|t| !t.trim().is_empty()) {
        println!("{}", t.trim());
        return Ok(());
    }
    let dir = config.resolved_data_dir()?;
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let secrets = Secrets::open(secrets_place(&config, &dir), Default::default()).await;
    println!("{}", secrets.control_token(&dir).await?);
    Ok(())
}

async fn webhook_urls(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    let base = match &config.public_url {
        Some(u) => Some(switchboard::config::normalise_public_url(u)?),
        None => {
            let dir = config.resolved_data_dir()?;
            tokio::fs::create_dir_all(&dir).await?;
            let store = switchboard::server::open_store(&config, &dir).await?;
            let saved = store
                .settings()
                .await?
                .remove(switchboard::settings::PUBLIC_URL);
            store.close().await;
            saved
        }
    };
    let Some(base) = base else {
        anyhow::bail!(
            "no public webhook base URL: set it in Settings, with --public-url or WEBHOOK_BASE_URL \
             (your tunnel's https:// address)"
        );
    };
    let urls = switchboard::telephony::WebhookUrls::from_base(&base);
    println!(
        "Twilio  A call comes in (HTTP POST):   {}",
        urls.twilio_voice
    );
    println!(
        "Twilio  Call status changes (POST):    {}",
        urls.twilio_status
    );
    println!("Telnyx  Call Control webhook URL:      {}", urls.telnyx);
    println!(
        "Media streams (set by Switchboard):    {}  {}",
        urls.twilio_media, urls.telnyx_media
    );
    Ok(())
}

/// Ctrl-C, or SIGTERM from a service manager.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

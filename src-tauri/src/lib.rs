//! The desktop shell: runs the Switchboard engine in-process (the same engine, configuration
//! and data directory as `switchboard serve`) and opens a window on the UI, which talks to the
//! engine's control API like any other client.

use std::sync::Mutex;

use clap::Parser;
use serde::Serialize;
use switchboard::{Config, Running};
use tauri::{Manager, RunEvent};

/// The desktop app takes the same flags and environment variables as `switchboard serve`.
#[derive(Parser)]
#[command(
    name = "switchboard-desktop",
    version,
    about = "Switchboard desktop app"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

/// How the UI reaches the embedded engine. Handed over through a Tauri command, so only this
/// app's own webview ever sees the token.
#[derive(Clone, Serialize)]
struct Connection {
    api_base: String,
    token: String,
}

struct EngineState {
    connection: Connection,
    running: Mutex<Option<Running>>,
}

#[tauri::command]
fn engine_connection(state: tauri::State<'_, EngineState>) -> Connection {
    state.connection.clone()
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(switchboard::config::log_filter())
        .init();
    let mut config = Cli::parse().config;
    // `tauri dev` shows the UI from vite's dev server (tauri.conf.json's devUrl).
    if cfg!(debug_assertions) {
        config.allow_origins.push("http://localhost:5173".into());
    }
    let app = tauri::Builder::default()
        .setup(move |app| {
            let running = tauri::async_runtime::block_on(switchboard::start(config))?;
            let connection = Connection {
                api_base: format!("http://{}", running.control_addr()),
                token: running.token().to_owned(),
            };
            tracing::info!(api = %connection.api_base, "engine running in the desktop app");
            app.manage(EngineState {
                connection,
                running: Mutex::new(Some(running)),
            });
            // Logout, shutdown and process managers end apps with SIGTERM: leave through the
            // same exit path as closing the window, so the database is closed cleanly.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                termination().await;
                tracing::info!("termination signal; closing");
                handle.exit(0);
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![engine_connection])
        .build(tauri::generate_context!())
        .expect("cannot build the Switchboard window");
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            // Finish in-flight requests and close the database before the process ends.
            let running = handle
                .try_state::<EngineState>()
                .and_then(|s| s.running.lock().ok()?.take());
            if let Some(running) = running {
                tauri::async_runtime::block_on(running.shutdown());
            }
        }
    });
}

async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

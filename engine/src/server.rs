//! Running an engine: `launch` assembles it (store, secrets, settings, the carrier adapters,
//! the clock) on two listeners it is handed, serves the control API and the public listener
//! until told to stop, then shuts down in order. `start` binds the configured addresses
//! first. Tests bind `127.0.0.1:0` themselves and hand the listeners in.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{BadPublicUrl, Config, ConfigError, normalise_public_url};
use crate::domain::SystemClock;
use crate::engine::{Engine, Parts};
use crate::events::EventBus;
use crate::secrets::{Secrets, SecretsError, SecretsPlace};
use crate::settings::Settings;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot get the control token: {0}")]
    Token(#[from] SecretsError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl From<BadPublicUrl> for StartError {
    fn from(e: BadPublicUrl) -> Self {
        Self::Config(e.into())
    }
}

/// A running engine: its addresses and the means to stop it.
pub struct Running {
    pub engine: Engine,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<std::io::Result<()>>,
}

impl Running {
    pub fn control_addr(&self) -> SocketAddr {
        self.engine.control_addr()
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.engine.public_addr()
    }

    /// The token clients must present to the control API.
    pub fn token(&self) -> &str {
        self.engine.token()
    }

    /// Stops accepting connections, lets in-flight requests finish, then closes the database.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.join().await;
    }

    /// Runs until `signal` completes (or the shutdown future given to `launch` does, or a
    /// listener fails), then shuts down gracefully.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) {
        let mut stop = self.shutdown.subscribe();
        tokio::select! {
            () = signal => tracing::info!("shutting down"),
            _ = stop.wait_for(|stop| *stop) => {}
        }
        let _ = self.shutdown.send(true);
        self.join().await;
    }

    /// Waits until both listeners have stopped (after `shutdown`, or if one fails).
    async fn join(&mut self) {
        while let Some(done) = self.tasks.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "listener failed"),
                Err(e) => tracing::error!(error = %e, "listener task panicked"),
            }
            // One listener gone means the engine is no longer whole: stop the other.
            let _ = self.shutdown.send(true);
        }
        // Live calls end themselves on shutdown (each hangs up at its carrier and records
        // why); give them a moment to finish writing before the database closes.
        let live = self.engine.live_calls();
        if tokio::time::timeout(Duration::from_secs(15), live.drained())
            .await
            .is_err()
        {
            tracing::error!(live = live.len(), "calls still live at shutdown");
        }
        self.engine.store().close().await;
        tracing::info!("engine stopped; database closed");
    }
}

/// Binds the configured addresses, then `launch`es on them.
pub async fn start(config: Config) -> Result<Running, StartError> {
    config.validate()?;
    let bind = |what, addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { what, addr, source })
    };
    let control = bind("control", config.control_addr).await?;
    let public = bind("public", config.public_addr).await?;
    launch(config, control, public, std::future::pending()).await
}

/// Opens the store and secrets, builds the engine on the two bound listeners (`control`: the
/// control API, loopback only; `public`: carriers' webhooks and media) and starts serving.
/// The engine shuts down when `shutdown` completes, or through the returned `Running`.
pub async fn launch(
    config: Config,
    control: TcpListener,
    public: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    // Recordings begun before this moment were cut short by the last run's end.
    let started = crate::domain::Timestamp::now();
    config.validate()?;
    let control_addr = control.local_addr().map_err(|source| StartError::Bind {
        what: "control",
        addr: config.control_addr,
        source,
    })?;
    if !control_addr.ip().is_loopback() {
        return Err(ConfigError::ControlNotLoopback(control_addr).into());
    }
    let public_addr = public.local_addr().map_err(|source| StartError::Bind {
        what: "public",
        addr: config.public_addr,
        source,
    })?;
    let data_dir = config.resolved_data_dir()?;
    tokio::fs::create_dir_all(&data_dir)
        .await
        .map_err(|source| StartError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    let store = open_store(&config, &data_dir).await?;
    let secrets = Secrets::open(
        secrets_place(&config, &data_dir),
        Secrets::env_from(std::env::vars().chain(config.credential_env.iter().cloned())),
    )
    .await;
    let token = match &config.token {
        Some(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => secrets.control_token(&data_dir).await?,
    };
    let configured_public_url = config
        .public_url
        .as_deref()
        .map(normalise_public_url)
        .transpose()?;
    let node_url = config
        .node_url
        .as_deref()
        .map(normalise_public_url)
        .transpose()?;
    let settings = Settings::load(store.clone(), configured_public_url, node_url).await?;
    let carriers = crate::carriers::adapters(&config, &secrets, &settings, &store);
    let clock = config
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let (stop, stopping) = watch::channel(false);
    let engine = Engine::new(Parts {
        config,
        data_dir,
        store,
        events: EventBus::new(),
        secrets,
        settings,
        carriers,
        clock,
        token,
        control_addr,
        public_addr,
        stopping: stopping.clone(),
    });
    if engine.config().insecure_skip_webhook_signatures {
        tracing::warn!(
            "INSECURE: carrier webhook signatures are NOT checked; anyone who reaches the public \
             listener can fake calls. Never run like this in production."
        );
    }
    if engine.public().is_none() {
        tracing::info!(
            "no public webhook base URL yet: carriers cannot reach this engine until one is set"
        );
    }

    let mut tasks = JoinSet::new();
    let app = crate::api::router(engine.clone());
    let stopped = wait_for(stopping.clone());
    tasks.spawn(async move {
        axum::serve(control, app.into_make_service())
            .with_graceful_shutdown(stopped)
            .await
    });
    let app = crate::public::router(engine.clone());
    let stopped = wait_for(stopping);
    let sockets = engine.config().public_limits().sockets;
    tasks.spawn(async move {
        crate::public::serve(public, app, sockets, stopped).await;
        Ok(())
    });
    // Watches the caller's shutdown future until the engine stops either way, so a future
    // that never completes (`start`'s) does not outlive the engine.
    let on_shutdown = stop.clone();
    let mut stopped = on_shutdown.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => {
                let _ = on_shutdown.send(true);
            }
            _ = stopped.wait_for(|stop| *stop) => {}
        }
    });
    // This node joins the others on the database (one, on SQLite); the leader runs the
    // campaigns: those that were running when the engine last stopped (or crashed) carry on,
    // after their unfinished attempts are squared with the carriers.
    crate::cluster::start(&engine).await;
    // "New agent with a number" setups a crash cut short are undone: no number left paid for
    // and unmanaged, no Retell object left behind. In the background: Retell or the carrier
    // may be slow to answer, and nothing else waits on it.
    // Recordings a stop cut short are made whole; old ones go, as the retention setting says.
    crate::recordings::upkeep::spawn(engine.clone(), started);
    // Carriers' recordings waiting to be fetched are fetched now, and each one as it is reported.
    crate::recordings::fetch::spawn(engine.clone());
    // Post-call analyses queued or cut short before this start carry on, off every call's path.
    tokio::spawn(crate::analysis::run(engine.clone()));
    let recovering = engine.clone();
    tokio::spawn(async move { crate::setup::recover(&recovering).await });
    // Webhook deliveries a restart left pending (or that are due) go out from here on.
    crate::webhooks::start(&engine);
    crate::webhooks::retention::start(&engine);
    tracing::info!(%control_addr, %public_addr, data_dir = %engine.data_dir().display(), "engine started");
    Ok(Running {
        engine,
        shutdown: stop,
        tasks,
    })
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The database the configuration names: PostgreSQL when given a URL, else the embedded
/// SQLite file in `data_dir`.
pub async fn open_store(
    config: &Config,
    data_dir: &Path,
) -> Result<Store, crate::store::StoreError> {
    match &config.database_url {
        Some(url) => {
            Store::open_postgres(&crate::store::PgSettings {
                url: url.clone(),
                schema: config.database_schema.clone(),
            })
            .await
        }
        None => Store::open(data_dir).await,
    }
}

/// Where an engine configured by `config`, with its data in `data_dir`, keeps secrets.
pub fn secrets_place(config: &Config, data_dir: &Path) -> SecretsPlace {
    if config.secrets_file {
        SecretsPlace::File(data_dir.join(crate::secrets::SECRETS_FILE))
    } else if config.no_keyring {
        SecretsPlace::Nowhere
    } else {
        SecretsPlace::Keyring(config.keyring_service.clone())
    }
}

//! The engine: one cheaply cloned value holding the store, the event bus and the secrets,
//! and `start`, which binds both listeners and runs until told to shut down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError, normalise_public_url};
use crate::events::EventBus;
use crate::secrets::{Secrets, SecretsError};
use crate::store::{Store, StoreError};

pub const SETTING_PUBLIC_URL: &str = "public_base_url";
pub const SETTING_DEFAULT_REGION: &str = "default_region";

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

/// Shared state of a running engine. Clone it freely: it is a handle.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    data_dir: PathBuf,
    store: Store,
    events: EventBus,
    secrets: Secrets,
    token: String,
    control_addr: SocketAddr,
    public_addr: SocketAddr,
    stopping: watch::Receiver<bool>,
    telnyx: crate::carriers::telnyx::TelnyxClient,
    twilio: crate::carriers::twilio::client::TwilioClient,
    livekit: crate::carriers::livekit::LiveKitClient,
    live: crate::media::live::LiveCalls,
    dialer: crate::campaigns::Dialer,
    /// `--public-url`, normalised once at start-up.
    configured_public_url: Option<String>,
    /// The settings table and what derives from it, loaded at start-up and refreshed by
    /// `write_settings`.
    settings: std::sync::RwLock<Settings>,
}

impl Engine {
    /// Completes once the engine begins shutting down; long-lived work (event streams, media
    /// sessions) selects on it to finish in step with the listeners.
    pub async fn stopping(&self) {
        wait_for(self.inner.stopping.clone()).await;
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.inner.stopping.borrow()
    }

    pub fn telnyx(&self) -> &crate::carriers::telnyx::TelnyxClient {
        &self.inner.telnyx
    }

    pub fn twilio(&self) -> &crate::carriers::twilio::client::TwilioClient {
        &self.inner.twilio
    }

    /// LiveKit's server API; the project it reaches comes from the credentials on each call.
    pub fn livekit(&self) -> &crate::carriers::livekit::LiveKitClient {
        &self.inner.livekit
    }

    /// Calls whose media is bridged right now.
    pub fn live(&self) -> &crate::media::live::LiveCalls {
        &self.inner.live
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    pub fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.data_dir
    }

    pub fn token_matches(&self, presented: &str) -> bool {
        crate::secrets::constant_time_eq(self.inner.token.as_bytes(), presented.as_bytes())
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.inner.control_addr
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.inner.public_addr
    }

    /// The public base URL in force (configuration wins over the saved setting) and the
    /// carrier URLs derived from it. Read on every webhook, so built once per settings change.
    pub fn public(&self) -> Option<Arc<PublicUrl>> {
        self.settings().public.clone()
    }

    /// A plain setting's stored value.
    pub fn setting(&self, key: &str) -> Option<String> {
        self.settings().values.get(key).cloned()
    }

    /// The campaign dialer.
    pub fn dialer(&self) -> &crate::campaigns::Dialer {
        &self.inner.dialer
    }

    pub fn default_region(&self) -> Option<String> {
        self.settings().values.get(SETTING_DEFAULT_REGION).cloned()
    }

    fn settings(&self) -> std::sync::RwLockReadGuard<'_, Settings> {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Saves settings (`None` removes one) and refreshes the in-memory copy from the database,
    /// so the copy is always what was stored. (Several nodes sharing one database would each
    /// need to refresh on a change notice; see DESIGN.md's scale-out notes.)
    pub async fn write_settings(
        &self,
        changes: &[(&str, Option<String>)],
    ) -> Result<(), StoreError> {
        self.store().write_settings(changes).await?;
        let fresh = Settings::new(
            self.store().settings().await?,
            self.inner.configured_public_url.as_deref(),
        );
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

/// The public base URL in force and the URLs carriers are given from it.
#[derive(Debug)]
pub struct PublicUrl {
    pub base: String,
    /// From `--public-url` / `WEBHOOK_BASE_URL` rather than Settings.
    pub from_config: bool,
    pub urls: crate::api::WebhookUrls,
}

/// The settings table as the engine reads it.
struct Settings {
    values: std::collections::BTreeMap<String, String>,
    public: Option<Arc<PublicUrl>>,
}

impl Settings {
    fn new(values: std::collections::BTreeMap<String, String>, configured: Option<&str>) -> Self {
        let base = match configured {
            Some(u) => Some((u.to_owned(), true)),
            None => values.get(SETTING_PUBLIC_URL).map(|u| (u.clone(), false)),
        };
        let public = base.map(|(base, from_config)| {
            Arc::new(PublicUrl {
                urls: crate::api::WebhookUrls::from_base(&base),
                base,
                from_config,
            })
        });
        Self { values, public }
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
        &self.engine.inner.token
    }

    /// Stops accepting connections, lets in-flight requests finish, then closes the database.
    pub async fn shutdown(mut self) {
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
        if tokio::time::timeout(Duration::from_secs(15), self.engine.live().drained())
            .await
            .is_err()
        {
            tracing::error!(
                live = self.engine.live().len(),
                "calls still live at shutdown"
            );
        }
        self.engine.store().close().await;
        tracing::info!("engine stopped; database closed");
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = signal => tracing::info!("shutting down"),
            () = wait_for(self.shutdown.subscribe()) => {}
        }
        let _ = self.shutdown.send(true);
        self.join().await;
    }
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Opens the store and secrets, binds both listeners and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    config.validate()?;
    let data_dir = config.resolved_data_dir()?;
    tokio::fs::create_dir_all(&data_dir)
        .await
        .map_err(|source| StartError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    let store = Store::open(&data_dir).await?;
    let secrets = Secrets::open(
        config.keyring_service(),
        Secrets::env_from(std::env::vars().chain(config.credential_env.iter().cloned())),
    )
    .await;
    let token = match &config.token {
        Some(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => secrets.control_token(&data_dir).await?,
    };

    let bind = |what, addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { what, addr, source })
    };
    let control = bind("control", config.control_addr).await?;
    let public = bind("public", config.public_addr).await?;
    let control_addr = control.local_addr().expect("bound socket has an address");
    let public_addr = public.local_addr().expect("bound socket has an address");

    let configured_public_url = config
        .public_url
        .as_deref()
        .map(normalise_public_url)
        .transpose()
        .map_err(|m| StartError::Config(ConfigError::PublicUrl(m)))?;
    let settings = std::sync::RwLock::new(Settings::new(
        store.settings().await?,
        configured_public_url.as_deref(),
    ));
    let (shutdown, rx) = watch::channel(false);
    let engine = Engine {
        inner: Arc::new(Inner {
            configured_public_url,
            settings,
            stopping: rx.clone(),
            telnyx: crate::carriers::telnyx::TelnyxClient::new(&config.telnyx_api_url),
            twilio: crate::carriers::twilio::client::TwilioClient::new(&config.twilio_api_url),
            livekit: crate::carriers::livekit::LiveKitClient::new(),
            live: crate::media::live::LiveCalls::default(),
            dialer: crate::campaigns::Dialer::new(config.clock.clone()),
            config,
            data_dir,
            store,
            events: EventBus::new(),
            secrets,
            token,
            control_addr,
            public_addr,
        }),
    };
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
    let stop = wait_for(rx.clone());
    tasks.spawn(async move {
        axum::serve(control, app.into_make_service())
            .with_graceful_shutdown(stop)
            .await
    });
    let app = crate::public::router(engine.clone());
    let stop = wait_for(rx);
    tasks.spawn(async move {
        // Media frames are small and latency-bound: never hold one back for Nagle.
        let public = axum::serve::ListenerExt::tap_io(public, |tcp: &mut tokio::net::TcpStream| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        axum::serve(public, app.into_make_service())
            .with_graceful_shutdown(stop)
            .await
    });
    // Campaigns that were running when the engine last stopped (or crashed) carry on, after
    // their unfinished attempts are squared with the carriers.
    engine.dialer().resume_all(&engine).await;
    tracing::info!(%control_addr, %public_addr, data_dir = %engine.data_dir().display(), "engine started");
    Ok(Running {
        engine,
        shutdown,
        tasks,
    })
}

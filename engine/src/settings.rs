//! The settings in force: the settings table as last written, and what derives from it (the
//! public base URL, where `--public-url` wins over the saved one, and the URLs carriers are
//! given). Read on every webhook, so kept in memory and refreshed by every write through here.
//! (Several nodes sharing one database would each need to refresh on a change notice; see
//! DESIGN.md's scale-out notes.)

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::store::{Store, StoreError};
use crate::telephony::PublicUrl;

/// The public base URL carriers reach this engine at.
pub const PUBLIC_URL: &str = "public_base_url";
/// The region numbers typed in national form are read in.
pub const DEFAULT_REGION: &str = "default_region";
/// The Telnyx Call Control application (connection) Telnyx calls are placed on.
pub const TELNYX_CONNECTION: &str = "telnyx_connection_id";
/// The microphone and speaker test calls and listen-in use (cpal device ids); unset means the
/// system's default device.
pub const AUDIO_INPUT: &str = "audio_input";
pub const AUDIO_OUTPUT: &str = "audio_output";
/// How a test call keeps the agent from hearing itself: `cancel`, `headphones`, `half_duplex`.
pub const ECHO_MODE: &str = "echo_mode";
/// Days a call's recording is kept after the call ends; unset keeps them.
pub const RECORDING_RETENTION_DAYS: &str = "recording_retention_days";

/// The calling-hours floor (`CallingHours` as JSON): unset means the legal 08:00–21:00.
pub const CALLING_HOURS: &str = "calling_hours";

/// A cheaply cloned handle on the settings.
#[derive(Clone)]
pub struct Settings {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// `--public-url`, normalised once at start-up.
    configured_public_url: Option<String>,
    /// `--node-url`: this node's own public base, where its calls' media go.
    node_url: Option<String>,
    snapshot: RwLock<Snapshot>,
}

/// The settings table as the engine reads it.
struct Snapshot {
    values: BTreeMap<String, String>,
    public: Option<Arc<PublicUrl>>,
}

impl Snapshot {
    fn new(values: BTreeMap<String, String>, configured: Option<&str>, node: Option<&str>) -> Self {
        let base = match configured {
            Some(u) => Some((u.to_owned(), true)),
            None => values.get(PUBLIC_URL).map(|u| (u.clone(), false)),
        };
        let public = base
            .map(|(base, from_config)| Arc::new(PublicUrl::new(base, from_config).with_node(node)));
        Self { values, public }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("keys", &self.snapshot().values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Settings {
    /// Reads the settings table. `configured_public_url` (already normalised) overrides the
    /// saved public base URL.
    /// `node_url` (normalised too) is this node's own base, for its calls' media streams.
    pub async fn load(
        store: Store,
        configured_public_url: Option<String>,
        node_url: Option<String>,
    ) -> Result<Self, StoreError> {
        let snapshot = Snapshot::new(
            store.settings().await?,
            configured_public_url.as_deref(),
            node_url.as_deref(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                configured_public_url,
                node_url,
                snapshot: RwLock::new(snapshot),
            }),
        })
    }

    /// Reads the settings again (another node changed them).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let fresh = Snapshot::new(
            self.inner.store.settings().await?,
            self.inner.configured_public_url.as_deref(),
            self.inner.node_url.as_deref(),
        );
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// This node's own public base (`--node-url`), when it has one.
    pub fn node_url(&self) -> Option<&str> {
        self.inner.node_url.as_deref()
    }

    fn snapshot(&self) -> RwLockReadGuard<'_, Snapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The public base URL in force and the carrier URLs derived from it.
    pub fn public(&self) -> Option<Arc<PublicUrl>> {
        self.snapshot().public.clone()
    }

    /// A plain setting's stored value.
    pub fn get(&self, key: &str) -> Option<String> {
        self.snapshot().values.get(key).cloned()
    }

    pub fn default_region(&self) -> Option<String> {
        self.get(DEFAULT_REGION)
    }

    /// The calling-hours floor in force (the legal default when unset or unreadable).
    pub fn calling_hours(&self) -> crate::domain::CallingHours {
        self.get(CALLING_HOURS)
            .and_then(|v| serde_json::from_str::<crate::domain::CallingHours>(&v).ok())
            .filter(|h| h.validate().is_ok())
            .unwrap_or_default()
    }

    /// Saves settings (`None` removes one) and refreshes the in-memory copy from the database,
    /// so the copy is always what was stored.
    pub async fn write(&self, changes: &[(&str, Option<String>)]) -> Result<(), StoreError> {
        self.inner.store.write_settings(changes).await?;
        let fresh = Snapshot::new(
            self.inner.store.settings().await?,
            self.inner.configured_public_url.as_deref(),
            self.inner.node_url.as_deref(),
        );
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

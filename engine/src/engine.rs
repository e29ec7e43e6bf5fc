//! The engine: one cheaply cloned handle over everything a request, a call or a campaign task
//! needs (configuration, store, events, secrets, settings, the carriers as [`CarrierApi`]s,
//! the live registries, the clock). It builds nothing above it: `server` assembles the parts
//! and hands them in, so this module imports only the layers below it.
//!
//! [`CarrierApi`]: crate::telephony::CarrierApi

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::domain::{SharedClock, Timestamp};
use crate::events::EventBus;
use crate::live::{LiveCalls, RunningCampaigns};
use crate::secrets::Secrets;
use crate::settings::Settings;
use crate::store::Store;
use crate::telephony::{Carriers, PublicUrl};

/// Shared state of a running engine. Clone it freely: it is a handle.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// What an engine is made of; `server` builds it.
pub struct Parts {
    pub config: Config,
    pub data_dir: PathBuf,
    pub store: Store,
    pub events: EventBus,
    pub secrets: Secrets,
    pub settings: Settings,
    pub carriers: Carriers,
    pub clock: SharedClock,
    pub token: String,
    pub control_addr: SocketAddr,
    pub public_addr: SocketAddr,
    /// Turns true when the engine begins shutting down.
    pub stopping: watch::Receiver<bool>,
}

struct Inner {
    parts: Parts,
    live_calls: LiveCalls,
    campaigns: RunningCampaigns,
    /// Whether this node runs the campaigns (`cluster`): on SQLite always, on PostgreSQL the
    /// one node holding the campaign lock.
    leads_campaigns: std::sync::atomic::AtomicBool,
    /// For the other nodes, about what they hold (`cluster` carries them).
    notices: crate::live::Notices,
    /// When this engine was built, for its uptime.
    started: std::time::Instant,
}

impl Engine {
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(Inner {
                parts,
                live_calls: LiveCalls::default(),
                campaigns: RunningCampaigns::default(),
                leads_campaigns: std::sync::atomic::AtomicBool::new(false),
                notices: crate::live::Notices::default(),
                started: std::time::Instant::now(),
            }),
        }
    }

    fn parts(&self) -> &Parts {
        &self.inner.parts
    }

    /// Completes once the engine begins shutting down; long-lived work (event streams, media
    /// sessions, campaign tasks) selects on it to finish in step with the listeners.
    pub async fn stopping(&self) {
        let _ = self.parts().stopping.clone().wait_for(|stop| *stop).await;
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.parts().stopping.borrow()
    }

    pub fn config(&self) -> &Config {
        &self.parts().config
    }

    pub fn data_dir(&self) -> &Path {
        &self.parts().data_dir
    }

    pub fn store(&self) -> &Store {
        &self.parts().store
    }

    pub fn events(&self) -> &EventBus {
        &self.parts().events
    }

    pub fn secrets(&self) -> &Secrets {
        &self.parts().secrets
    }

    pub fn settings(&self) -> &Settings {
        &self.parts().settings
    }

    /// Every carrier's API, each behind the same trait.
    pub fn carriers(&self) -> &Carriers {
        &self.parts().carriers
    }

    /// Calls whose media is bridged right now.
    pub fn live_calls(&self) -> &LiveCalls {
        &self.inner.live_calls
    }

    /// Campaigns whose dialer task runs right now.
    pub fn running_campaigns(&self) -> &RunningCampaigns {
        &self.inner.campaigns
    }

    /// Notices for the other nodes sharing the database (see `live::notices`).
    pub fn notices(&self) -> &crate::live::Notices {
        &self.inner.notices
    }

    /// How long this engine has been running.
    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// Whether this node runs the campaigns (see `cluster`).
    pub fn leads_campaigns(&self) -> bool {
        self.inner
            .leads_campaigns
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set_leads_campaigns(&self, leads: bool) {
        self.inner
            .leads_campaigns
            .store(leads, std::sync::atomic::Ordering::SeqCst);
    }

    /// The time campaigns read calling windows and retry times from.
    pub fn now(&self) -> Timestamp {
        self.parts().clock.now()
    }

    /// The public base URL in force and the carrier URLs derived from it.
    pub fn public(&self) -> Option<Arc<PublicUrl>> {
        self.settings().public()
    }

    pub fn default_region(&self) -> Option<String> {
        self.settings().default_region()
    }

    pub fn token(&self) -> &str {
        &self.parts().token
    }

    pub fn token_matches(&self, presented: &str) -> bool {
        crate::secrets::constant_time_eq(self.parts().token.as_bytes(), presented.as_bytes())
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.parts().control_addr
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.parts().public_addr
    }
}

//! The registry of running campaigns: one dialer task per campaign, reached through its
//! [`Signal`] (look again now; the campaign changed). An entry exists exactly while its task
//! runs: the task's [`CampaignRun`] removes it on drop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// How the engine reaches a campaign's task.
#[derive(Debug, Default)]
pub struct Signal {
    /// Look again now: a slot may be free, a lead due.
    wake: Notify,
    /// The campaign itself changed (settings, pool, status): read it again before dialing.
    changed: AtomicBool,
}

impl Signal {
    /// Completes at the next wake-up (one sent while nobody waited counts).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Whether the campaign changed since last asked.
    pub fn take_changed(&self) -> bool {
        self.changed.swap(false, Ordering::Relaxed)
    }

    fn wake(&self) {
        self.wake.notify_one();
    }

    fn change(&self) {
        self.changed.store(true, Ordering::Relaxed);
        self.wake();
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunningCampaigns {
    runs: Arc<Mutex<HashMap<String, Arc<Signal>>>>,
}

impl RunningCampaigns {
    /// Registers the task about to run `campaign_id`. `None` when one runs already: it is
    /// told the campaign changed instead, so it reads it again.
    pub fn register(&self, campaign_id: &str) -> Option<CampaignRun> {
        let mut runs = self.lock();
        if let Some(s) = runs.get(campaign_id) {
            s.change();
            return None;
        }
        let signal = Arc::new(Signal::default());
        runs.insert(campaign_id.to_owned(), signal.clone());
        Some(CampaignRun {
            runs: self.clone(),
            campaign_id: campaign_id.to_owned(),
            signal,
        })
    }

    /// Tells a campaign's task to look again now (a call ended, leads were added).
    pub fn wake(&self, campaign_id: &str) {
        if let Some(s) = self.lock().get(campaign_id) {
            s.wake();
        }
    }

    /// Tells a campaign's task the campaign changed (settings, pool, status): it reads it
    /// again before its next dial, so a pause stops dialing at once.
    pub fn changed(&self, campaign_id: &str) {
        if let Some(s) = self.lock().get(campaign_id) {
            s.change();
        }
    }

    pub fn is_running(&self, campaign_id: &str) -> bool {
        self.lock().contains_key(campaign_id)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Signal>>> {
        // A panic while holding this lock cannot leave the map half-changed.
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running campaign task's place in the registry; removes it when dropped.
#[derive(Debug)]
pub struct CampaignRun {
    runs: RunningCampaigns,
    campaign_id: String,
    signal: Arc<Signal>,
}

impl CampaignRun {
    pub fn signal(&self) -> &Signal {
        &self.signal
    }

    pub fn campaign_id(&self) -> &str {
        &self.campaign_id
    }
}

impl Drop for CampaignRun {
    fn drop(&mut self) {
        self.runs.lock().remove(&self.campaign_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_task_per_campaign_and_the_entry_goes_with_it() {
        let running = RunningCampaigns::default();
        let run = running.register("c1").expect("first task");
        assert!(
            running.register("c1").is_none(),
            "a second task for the same campaign is refused"
        );
        assert!(
            run.signal().take_changed(),
            "the refused start tells the running task to read the campaign again"
        );
        assert!(!run.signal().take_changed(), "told once");
        running.wake("c1");
        run.signal().woken().await;
        drop(run);
        assert!(!running.is_running("c1"));
        assert!(running.register("c1").is_some(), "a new task may start");
    }
}

//! Shared state that the simulators' background tasks update and tests wait on: a mutex plus
//! a change signal, so a wait wakes on every update instead of polling or sleeping.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

pub struct Observed<T> {
    value: Mutex<T>,
    changed: watch::Sender<()>,
}

impl<T> Observed<T> {
    pub fn new(value: T) -> Self {
        Self {
            value: Mutex::new(value),
            changed: watch::Sender::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        // A panicking test thread must not hide the state from the assertions that follow.
        self.value.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state and wakes every waiter.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.send_replace(());
        r
    }

    /// Waits until `f` returns `Some`, re-checking after every update; `None` on timeout.
    pub async fn wait<R>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&T) -> Option<R>,
    ) -> Option<R> {
        let mut changed = self.changed.subscribe();
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(r) = f(&self.lock()) {
                    return r;
                }
                // The sender lives as long as `self`, so this only returns Ok.
                let _ = changed.changed().await;
            }
        })
        .await
        .ok()
    }
}

//! The registry of calls whose media is bridged right now: how the rest of the engine reaches
//! a live session (a context edit, an operator's hang-up, a voicemail message) without knowing
//! where it runs. An entry exists exactly while its bridge runs: the bridge's `Registration`
//! removes it on drop, whatever way the bridge ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

/// What the rest of the engine may ask of a live session.
#[derive(Debug)]
pub enum Control {
    /// Apply new instructions now (the agent's or the call's context changed).
    Instructions(String),
    /// End the call: through the carrier, with this reason on the record.
    HangUp { reason: String },
    /// An answering machine took the call: speak `message`, then hang up.
    LeaveMessage { message: String },
    /// An operator takes the call: their voice (20 ms μ-law frames) goes to the caller, the
    /// agent stops speaking and answering. The operator hands back by `HandBack`, or by
    /// dropping the sender (their microphone went).
    TakeOver {
        voice: mpsc::Receiver<crate::media::G711>,
    },
    /// The agent has the call again, told what was said meanwhile.
    HandBack,
    /// News of a warm transfer's call to the person (`leg`: the carrier's id of that call).
    Transfer { leg: String, news: LegNews },
    /// The call's carrier opened its media stream again (it had to end it to play keys): the
    /// session goes on over the new one.
    Resume(NewStream),
}

/// A call's new media stream: the carrier's own `MediaSession`, which the call's bridge (of
/// that carrier) takes back out.
pub struct NewStream(pub Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for NewStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewStream")
    }
}

/// What became of the call to the person in a warm transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegNews {
    /// They picked up; they are hearing who is calling and why.
    Answered,
    /// They have heard who is calling and why: join them to the caller now.
    Ready,
    /// The call to them ended before that (no answer, busy, declined, hung up): why, in words.
    Gone(String),
}

/// Control messages a session may have queued; a full queue means it is wedged.
const CONTROL_QUEUE: usize = 16;

#[derive(Debug, Clone)]
pub struct LiveCall {
    pub call_id: String,
    pub agent_id: String,
    /// Both sides of the call mixed, for listen-in.
    pub tap: crate::media::tap::Tap,
    control: mpsc::Sender<Control>,
}

impl LiveCall {
    /// Hands `control` to the session. False when the session has just ended or is wedged.
    pub fn send(&self, control: Control) -> bool {
        self.control.try_send(control).is_ok()
    }
}

#[derive(Debug, Clone)]
pub struct LiveCalls {
    calls: Arc<Mutex<HashMap<String, LiveCall>>>,
    /// How many are live, for `drained`.
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for LiveCalls {
    fn default() -> Self {
        Self {
            calls: Arc::default(),
            count: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("call {0} already has a live media stream")]
pub struct AlreadyLive(pub String);

impl LiveCalls {
    /// Registers a session for `call_id`. One stream per call: a second is refused, so a
    /// replayed or forged stream cannot take a live call over.
    pub fn register(
        &self,
        call_id: &str,
        agent_id: &str,
    ) -> Result<
        (
            Registration,
            mpsc::Receiver<Control>,
            crate::media::tap::Tap,
        ),
        AlreadyLive,
    > {
        let mut calls = self.lock();
        if calls.contains_key(call_id) {
            return Err(AlreadyLive(call_id.to_owned()));
        }
        let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
        let tap = crate::media::tap::Tap::new();
        calls.insert(
            call_id.to_owned(),
            LiveCall {
                call_id: call_id.to_owned(),
                agent_id: agent_id.to_owned(),
                tap: tap.clone(),
                control: tx,
            },
        );
        self.count.send_replace(calls.len());
        let registration = Registration {
            calls: self.clone(),
            call_id: call_id.to_owned(),
        };
        Ok((registration, rx, tap))
    }

    pub fn get(&self, call_id: &str) -> Option<LiveCall> {
        self.lock().get(call_id).cloned()
    }

    pub fn for_agent(&self, agent_id: &str) -> Vec<LiveCall> {
        self.lock()
            .values()
            .filter(|c| c.agent_id == agent_id)
            .cloned()
            .collect()
    }

    /// Completes when no call is live (at shutdown, once every bridge has ended its call).
    pub async fn drained(&self) {
        let _ = self.count.subscribe().wait_for(|n| *n == 0).await;
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveCall>> {
        // A panic while holding this lock cannot leave the map half-changed.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes its call from the registry when dropped.
#[derive(Debug)]
pub struct Registration {
    calls: LiveCalls,
    call_id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut calls = self.calls.lock();
        calls.remove(&self.call_id);
        self.calls.count.send_replace(calls.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stream_per_call_and_the_entry_goes_with_its_bridge() {
        let live = LiveCalls::default();
        let (reg, mut rx, _tap) = live.register("c1", "a1").unwrap();
        assert!(
            live.register("c1", "a1").is_err(),
            "a second stream is refused"
        );
        let (_reg2, _rx2, _tap2) = live.register("c2", "a1").unwrap();
        assert_eq!(live.for_agent("a1").len(), 2);
        assert!(
            live.get("c1")
                .unwrap()
                .send(Control::HangUp { reason: "x".into() })
        );
        assert!(matches!(rx.try_recv(), Ok(Control::HangUp { .. })));
        drop(reg);
        assert!(live.get("c1").is_none());
        assert_eq!(live.len(), 1);
    }
}

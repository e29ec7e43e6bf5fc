//! The event bus: one broadcast channel carrying everything a live view is told. Publishing
//! never blocks; a subscriber that falls behind loses the oldest events and is told how many,
//! so it can reload instead of showing a silently stale picture.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::domain::{
    Agent, Call, CallAnalysis, CallTransfer, Campaign, DncEntry, PhoneNumber, TranscriptLine,
    WebhookDelivery,
};
use crate::secrets::Provider;

const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    AgentCreated {
        agent: Agent,
    },
    AgentUpdated {
        agent: Agent,
    },
    /// `cleared_numbers`: ids of the numbers whose assignments a forced delete removed (each
    /// also gets its own `phone_number_updated`).
    AgentDeleted {
        id: String,
        cleared_numbers: Vec<String>,
    },
    PhoneNumberCreated {
        phone_number: PhoneNumber,
    },
    PhoneNumberUpdated {
        phone_number: PhoneNumber,
    },
    PhoneNumberDeleted {
        id: String,
    },
    CallCreated {
        call: Call,
    },
    CallUpdated {
        call: Call,
    },
    /// A call was deleted with its record and recording.
    CallDeleted {
        id: String,
    },
    TranscriptLine {
        line: TranscriptLine,
    },
    /// An agent called a tool during a call: which, and how it went (what was asked and
    /// answered is in the transcript's `tool` lines).
    ToolCalled {
        call_id: String,
        agent_id: Option<String>,
        tool: String,
        ok: bool,
        ms: u64,
    },
    /// A call's post-call analysis was stored (done, failed, skipped) or queued again.
    CallAnalysis {
        analysis: CallAnalysis,
    },
    /// A transfer began or moved on (calling, answered, connected, failed).
    CallTransfer {
        transfer: CallTransfer,
    },
    /// A live call's voice session now runs on new instructions (after an agent's or the
    /// call's context changed).
    CallContextApplied {
        call_id: String,
    },
    CampaignCreated {
        campaign: Campaign,
    },
    CampaignUpdated {
        campaign: Campaign,
    },
    CampaignDeleted {
        id: String,
    },
    /// The dialer stopped a campaign on its own, for a reason an operator must act on.
    CampaignPaused {
        campaign: Campaign,
        reason: String,
    },
    CampaignProgress {
        progress: crate::domain::CampaignProgress,
    },
    SettingsChanged,
    /// A webhook delivery was attempted, delivered, given up or queued again (Settings'
    /// delivery log).
    WebhookDelivery {
        delivery: WebhookDelivery,
    },
    /// A number went onto a do-not-call list (by hand, the API, or an opt-out said in a call;
    /// an import's numbers are not told one by one).
    DoNotCallAdded {
        entry: DncEntry,
    },
    /// A number came off a do-not-call list.
    DoNotCallRemoved {
        id: i64,
    },
    CredentialsChanged {
        provider: Provider,
        set: bool,
    },
    /// Sent to a subscriber that fell behind: `missed` events were dropped for it.
    Lagged {
        missed: u64,
    },
    /// An event another node published, as it serialised it (`cluster` relays them), for
    /// live views: `/api/events` sends `json` as it is. The engine's own reactions (wake-ups)
    /// come from the events of the node that acts.
    #[serde(skip)]
    Relayed {
        json: Arc<str>,
    },
}

impl Event {
    /// The event as `/api/events` sends it.
    pub fn to_json(&self) -> String {
        match self {
            Event::Relayed { json } => json.to_string(),
            e => serde_json::to_string(e).expect("events serialise"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    /// Publishes to whoever listens now; with no listener the event is simply not needed.
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
        }
    }
}

pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
}

impl Subscription {
    /// The next event if one is waiting already.
    pub fn try_next(&mut self) -> Option<Arc<Event>> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                Some(Arc::new(Event::Lagged { missed }))
            }
            Err(_) => None,
        }
    }

    /// Drops the events waiting already: for a worker that, woken by one, looks at the store
    /// for everything they could mean at once.
    pub fn skip_waiting(&mut self) {
        while self.try_next().is_some() {}
    }

    /// The next event, a `Lagged` notice if some were missed, or `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        match self.rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Some(Arc::new(Event::Lagged { missed }))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_subscriber_is_told_what_it_missed() {
        let bus = EventBus::new();
        let mut sub = bus.subscribe();
        for _ in 0..CAPACITY + 5 {
            bus.publish(Event::SettingsChanged);
        }
        let first = sub.next().await.unwrap();
        assert!(matches!(*first, Event::Lagged { missed: 5 }), "{first:?}");
        assert!(matches!(*sub.next().await.unwrap(), Event::SettingsChanged));
    }

    #[test]
    fn events_serialise_with_a_type_tag() {
        let json = serde_json::to_value(Event::PhoneNumberDeleted { id: "x".into() }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "phone_number_deleted", "id": "x"})
        );
    }
}

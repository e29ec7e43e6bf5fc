//! What one node asks of another about what the other holds in memory: a live call's session
//! runs on the node that answered or placed the call, so an operator's action taken through
//! any other node is passed on to it (`cluster` carries these between nodes; on one node there
//! is nobody to tell).

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// A call's own context changed: its session is to read its instructions again.
    CallInstructions {
        call_id: String,
    },
    /// An agent's prompt or context changed: every live call of it is to.
    AgentInstructions {
        agent_id: String,
    },
    /// End the call, with this reason on its record.
    HangUp {
        call_id: String,
        reason: String,
    },
    /// An answering machine took the call: speak `message`, then hang up.
    LeaveMessage {
        call_id: String,
        message: String,
    },
    /// Someone listens in on the call through another node: its audio is to go to them, on
    /// the channel `listen_id` names, until `Unlisten` (or, renewed by this notice every few
    /// seconds, until renewals stop).
    Listen {
        call_id: String,
        listen_id: String,
    },
    Unlisten {
        listen_id: String,
    },
}

/// Where notices for the other nodes go; `cluster` takes them from here.
#[derive(Debug)]
pub struct Notices {
    tx: mpsc::UnboundedSender<Notice>,
    rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Notice>>>,
}

impl Default for Notices {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
        }
    }
}

impl Notices {
    /// Passes `notice` on to the other nodes (dropped when nobody carries them: one node).
    pub fn tell(&self, notice: Notice) {
        let _ = self.tx.send(notice);
    }

    /// The notices told, for the one task that carries them (`None` once taken).
    pub fn take(&self) -> Option<mpsc::UnboundedReceiver<Notice>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

//! What the dialing simulators (Twilio's, LiveKit's) share: how a destination's calls are to
//! go, and what a simulator counts of the calls it places, so tests judge the dialer's limits
//! from the carrier's side: the calls up now, each with the agent it is for, and the most it
//! ever had up at once, in all and per agent.

use std::collections::HashMap;
use std::time::Duration;

/// How a destination's calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Rings, is answered, and the callee hangs up after `talk`.
    Answer {
        talk: Duration,
    },
    Busy,
    NoAnswer,
    /// Answered by a machine; ends when Switchboard hangs up (or after `talk`). Twilio's AMD
    /// says it was a machine; LiveKit has no machine detection, so there it is an answer.
    Voicemail {
        talk: Duration,
    },
    /// The carrier refuses to place the call (like an unreachable number).
    Refuse,
    /// Rings, then fails.
    Fail,
}

#[derive(Debug, Default)]
pub struct CallTally {
    /// Calls up now: the carrier's call id → agent.
    up: HashMap<String, String>,
    max_up: usize,
    max_up_per_agent: HashMap<String, usize>,
}

impl CallTally {
    /// `call` is up (it was placed) for `agent`.
    pub fn start(&mut self, call: &str, agent: &str) {
        self.up.insert(call.to_owned(), agent.to_owned());
        self.max_up = self.max_up.max(self.up.len());
        let per_agent = self.up.values().filter(|a| *a == agent).count();
        let max = self.max_up_per_agent.entry(agent.to_owned()).or_insert(0);
        *max = (*max).max(per_agent);
    }

    /// `call` is over; whether it was up until now.
    pub fn end(&mut self, call: &str) -> bool {
        self.up.remove(call).is_some()
    }

    pub fn up_now(&self) -> usize {
        self.up.len()
    }

    pub fn max_up(&self) -> usize {
        self.max_up
    }

    pub fn max_up_per_agent(&self) -> HashMap<String, usize> {
        self.max_up_per_agent.clone()
    }
}

/// How many dials went to each destination number.
pub fn per_number<'a>(destinations: impl IntoIterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for to in destinations {
        *out.entry(to.to_owned()).or_insert(0) += 1;
    }
    out
}

//! What every carrier dialing simulator keeps, whatever its wire format: how each destination's
//! calls go (a `Script`), every dial Switchboard made with its time and agent, the calls up at
//! each instant (the most ever, in all and per agent: `CallTally`), and the requests that
//! broke the carrier's protocol notes. Tests judge the dialer from this log, never from the
//! engine's. (Twilio's and Telnyx's simulators keep it all in a `Ledger`; LiveKit's keeps its
//! own richer dial log around a `CallTally`.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a destination's calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Rings, is answered, and the callee hangs up after `talk`.
    Answer {
        talk: Duration,
    },
    Busy,
    NoAnswer,
    /// Answered by a machine; AMD says so; ends when Switchboard hangs up (or after `talk`).
    /// LiveKit has no machine detection, so there it is an answer.
    Voicemail {
        talk: Duration,
    },
    /// The carrier refuses to create the call (as for an unreachable number).
    Refuse,
    /// Rings, then fails.
    Fail,
}

/// One dial as the carrier received it.
#[derive(Debug, Clone)]
pub struct Dial {
    /// The carrier's id for the call (Twilio's `CallSid`, Telnyx's `call_control_id`).
    pub carrier_call_id: String,
    pub to: String,
    pub from: String,
    pub agent_id: String,
    /// Switchboard's own call id, as the dial carried it.
    pub call_id: String,
    /// Where the call's media stream was to go (a URL on the node that dialed it).
    pub media: String,
    pub at: Instant,
    /// How this call went (or was set to go).
    pub script: Script,
    /// Whether the dial asked the carrier to detect an answering machine.
    pub machine_detection: bool,
}

struct State {
    scripts: HashMap<String, Script>,
    default: Option<Script>,
    /// Draws every dial's outcome afresh, overriding the scripts.
    random: Option<rand::rngs::StdRng>,
    ring: Duration,
    mute: bool,
    /// Holds back only the reports of calls' ends.
    mute_ends: bool,
    dials: Vec<Dial>,
    tally: CallTally,
    violations: Vec<String>,
}

/// The calls a simulator has up, each with the agent it is for, and the most it ever had up
/// at once, in all and per agent.
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

/// A simulator's log and scripts; cheap to clone, shared with its request handlers.
#[derive(Clone)]
pub struct Ledger {
    state: Arc<Mutex<State>>,
}

impl Default for Ledger {
    /// Every call rings 50 ms and is answered for 200 ms unless scripted otherwise.
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                scripts: HashMap::new(),
                default: Some(Script::Answer {
                    talk: Duration::from_millis(200),
                }),
                random: None,
                ring: Duration::from_millis(50),
                mute: false,
                mute_ends: false,
                dials: Vec::new(),
                tally: CallTally::default(),
                violations: Vec::new(),
            })),
        }
    }
}

impl Ledger {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn script(&self, to: &str, script: Script) {
        self.state().scripts.insert(to.to_owned(), script);
    }

    pub fn default_script(&self, script: Script) {
        self.state().default = Some(script);
    }

    /// From now on each dial's outcome is drawn at random (seeded, so a failure can be
    /// replayed): answered after a random talk, busy, no answer, voicemail, failed or refused.
    /// Each dial's draw is in its log entry.
    pub fn randomize(&self, seed: u64) {
        use rand::SeedableRng as _;
        self.state().random = Some(rand::rngs::StdRng::seed_from_u64(seed));
    }

    pub fn ring_for(&self, d: Duration) {
        self.state().ring = d;
    }

    /// Holds back the carrier's reports from now on (the engine is down, say).
    pub fn mute(&self, mute: bool) {
        self.state().mute = mute;
    }

    pub fn dials(&self) -> Vec<Dial> {
        self.state().dials.clone()
    }

    pub fn up_now(&self) -> usize {
        self.state().tally.up_now()
    }

    pub fn max_up(&self) -> usize {
        self.state().tally.max_up()
    }

    pub fn max_up_per_agent(&self) -> HashMap<String, usize> {
        self.state().tally.max_up_per_agent()
    }

    /// Requests that broke the protocol notes; tests assert this is empty.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Dials per destination number.
    pub fn dials_per_number(&self) -> HashMap<String, usize> {
        per_number(self.state().dials.iter().map(|d| d.to.as_str()))
    }

    pub fn violation(&self, v: String) {
        self.state().violations.push(v);
    }

    pub fn muted(&self) -> bool {
        self.state().mute
    }

    /// Holds back only the reports of calls' ends from now on: the engine saw them
    /// answered, then lost sight of them.
    pub fn mute_ends(&self, mute: bool) {
        self.state().mute_ends = mute;
    }

    pub fn ends_muted(&self) -> bool {
        self.state().mute_ends
    }

    pub fn ring(&self) -> Duration {
        self.state().ring
    }

    /// How the next call to `to` goes; `None`: nobody scripted it and there is no default.
    pub fn script_for(&self, to: &str) -> Option<Script> {
        let mut state = self.state();
        match state.random.as_mut() {
            Some(rng) => Some(draw(rng)),
            None => state.scripts.get(to).copied().or(state.default),
        }
    }

    /// Logs a dial the carrier received (placed or refused).
    pub fn dialed(&self, dial: Dial) {
        self.state().dials.push(dial);
    }

    /// A call is up (ringing or talking) for `agent` until `end`.
    pub fn up(&self, carrier_call_id: &str, agent: &str) {
        self.state().tally.start(carrier_call_id, agent);
    }

    /// The call is over; false if it already was.
    pub fn end(&self, carrier_call_id: &str) -> bool {
        self.state().tally.end(carrier_call_id)
    }
}

/// One random outcome: about half answered, the rest spread over the ways a call fails.
fn draw(rng: &mut rand::rngs::StdRng) -> Script {
    use rand::Rng as _;
    let talk = Duration::from_millis(rng.random_range(50..600));
    match rng.random_range(0..20) {
        0..10 => Script::Answer { talk },
        10..13 => Script::Busy,
        13..16 => Script::NoAnswer,
        16..18 => Script::Voicemail { talk },
        18 => Script::Fail,
        _ => Script::Refuse,
    }
}

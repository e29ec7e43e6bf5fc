//! Test calls: this machine's microphone and speakers as one more carrier, `local`. A test
//! call is a call like any other (recorded, transcribed, on the Live page, reachable by every
//! control), bridged to its agent by the same bridge; only its media session is the sound
//! card instead of a carrier's stream, and there is nobody to dial or hang up at.

pub mod listen;
mod session;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use session::LocalSession;

use crate::audio::{AudioError, Duplex, DuplexConfig};
use crate::bridge::Opening;
use crate::domain::{
    Call, CallDirection, CallStatus, Carrier, EchoMode, Invalid, NewCall, TestCallInput, Timestamp,
};
use crate::engine::Engine;
use crate::events::Event;
use crate::settings::{AUDIO_INPUT, AUDIO_OUTPUT, ECHO_MODE};
use crate::store::StoreError;
use crate::telephony::{CarrierApi, CarrierError, Dial, Found};

/// What a test call's record shows for both ends.
const LOCAL_END: &str = "local";

/// The `local` carrier: nothing to dial, nothing to hang up (the bridge closes the devices).
pub struct LocalCarrier;

#[async_trait::async_trait]
impl CarrierApi for LocalCarrier {
    fn carrier(&self) -> Carrier {
        Carrier::Local
    }

    async fn place(&self, _dial: &Dial<'_>) -> Result<String, CarrierError> {
        Err(CarrierError::NotConfigured(
            "a test call is started with POST /api/test-calls, not dialed".into(),
        ))
    }

    async fn hang_up(&self, _call: &Call) -> Result<(), CarrierError> {
        Ok(())
    }

    /// A test call outlives no engine: one found live after a restart ended with it.
    async fn look_up(&self, call: &Call) -> Result<(Found, Option<String>), CarrierError> {
        Ok((Found::gone(call, "this computer"), None))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestCallError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("the microphone is in use ({0}); end that call or hand it back first")]
    Busy(String),
    #[error("the audio devices could not be opened: {0}")]
    Opening(String),
    #[error("call {0} is not a test call in progress")]
    NotRunning(String),
}

/// The test call that has the microphone: one at a time, as there is one microphone.
struct Active {
    call_id: String,
    muted: Arc<AtomicBool>,
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

fn active() -> std::sync::MutexGuard<'static, Option<Active>> {
    ACTIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Who holds the microphone while a test call is being started (its id is not known yet).
const CLAIMING: &str = "";

/// Claims the microphone for `owner` (a test call, or a phone call an operator takes over).
/// Refused, saying who holds it, when someone does.
fn claim_microphone(owner: &str) -> Result<Release, Held> {
    let mut active = active();
    if let Some(a) = active.as_ref() {
        return Err(Held(match a.call_id.as_str() {
            CLAIMING => "a test call is being started".to_owned(),
            id => format!("call {id}"),
        }));
    }
    *active = Some(Active {
        call_id: owner.to_owned(),
        muted: Arc::default(),
    });
    Ok(Release(owner.to_owned()))
}

/// Who holds the microphone, in words.
struct Held(String);

/// Frees the microphone when its holder is done with it, however that ends.
struct Release(String);

impl Drop for Release {
    fn drop(&mut self) {
        let mut active = active();
        if active.as_ref().is_some_and(|a| a.call_id == self.0) {
            *active = None;
        }
    }
}

/// Starts a test call with `input.agent_id` through the chosen (or default) microphone and
/// speakers. Returns the call once its audio runs; the bridge then connects the agent.
pub async fn start(engine: &Engine, input: TestCallInput) -> Result<Call, TestCallError> {
    let agent = engine.store().get_agent(&input.agent_id).await?;
    if !agent.active {
        return Err(Invalid::new("agent_id", format!("{} is switched off", agent.name)).into());
    }
    agent.check_bridged("agent_id")?;
    // Claim the microphone before opening it: two starts at once must not both open it. The
    // claim is freed if anything below fails.
    let claim = claim_microphone(CLAIMING).map_err(|h| TestCallError::Busy(h.0))?;
    let settings = engine.settings();
    let echo = input
        .echo_mode
        .or_else(|| settings.get(ECHO_MODE).and_then(|m| EchoMode::parse(&m)))
        .unwrap_or_default();
    let config = DuplexConfig {
        input: settings.get(AUDIO_INPUT),
        output: settings.get(AUDIO_OUTPUT),
        echo,
    };
    // Opening a device can take a while (a sound server waking up): off the async workers.
    let duplex = tokio::task::spawn_blocking(move || Duplex::open(config))
        .await
        .map_err(|e| TestCallError::Opening(e.to_string()))??;

    let new = NewCall {
        direction: CallDirection::Test,
        carrier: Carrier::Local,
        carrier_call_id: None,
        from_number: LOCAL_END.into(),
        to_number: LOCAL_END.into(),
        agent_id: Some(agent.id.clone()),
        number_id: None,
        status: CallStatus::InProgress,
        started_at: Timestamp::now(),
    };
    let store = engine.store();
    let mut call = store.create_call(new).await?;
    if let Some(context) = input.context.filter(|c| !c.is_empty()) {
        call = store.set_call_context(&call.id, context).await?;
    }
    let muted = Arc::new(AtomicBool::new(false));
    *active() = Some(Active {
        call_id: call.id.clone(),
        muted: muted.clone(),
    });
    // The claim is the call's now (`claim` names the empty id, so dropping it frees nothing).
    drop(claim);
    engine
        .events()
        .publish(Event::CallCreated { call: call.clone() });
    let opening = if input.agent_speaks_first.unwrap_or(true) {
        Opening::AgentFirst
    } else {
        Opening::OtherSideFirst
    };
    let release = Release(call.id.clone());
    let session = LocalSession::new(duplex, muted);
    let (engine, bridged) = (engine.clone(), call.clone());
    tokio::spawn(async move {
        let _release = release;
        crate::bridge::run_with(engine, bridged, agent, session, opening).await;
    });
    Ok(call)
}

/// Mutes or unmutes the microphone of the running test call `call_id`.
pub fn set_muted(call_id: &str, muted: bool) -> Result<(), TestCallError> {
    match active().as_ref() {
        Some(a) if a.call_id == call_id => {
            a.muted.store(muted, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(TestCallError::NotRunning(call_id.to_owned())),
    }
}

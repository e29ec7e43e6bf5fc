//! Listening in through this machine's speakers: a live call's two sides, mixed by its tap
//! (the agent's audio where the caller heard it, clocked by the caller's frames), played on
//! the speaker chosen in Settings. One call at a time, as there is one pair of ears: listening
//! to another call switches at once (the speaker stays open), and the call's path pays nothing
//! when nobody listens (the tap is free then).
//!
//! An operator listening may take the call over: the speaker gives way to a duplex stream
//! whose microphone (echo-cancelled against what the speaker plays) goes to the caller, and
//! the agent falls silent until they hand it back. Their microphone is the test calls' one:
//! one holder at a time.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use tokio::sync::mpsc;

use crate::audio::{AudioError, Duplex, DuplexConfig, Speaker};
use crate::domain::{CallDirection, EchoMode, Invalid};
use crate::engine::Engine;
use crate::live::{Control, LiveCall};
use crate::media::G711;
use crate::media::codec::pcm_to_mulaw;
use crate::media::frame::TELEPHONY_FRAME_SAMPLES;
use crate::media::tap::Listener;
use crate::settings::{AUDIO_INPUT, AUDIO_OUTPUT, ECHO_MODE};
use crate::store::{Conflict, StoreError};

/// Who is being listened to, and how loud.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Listening {
    /// The call playing through the speakers; `null` when none.
    pub call_id: Option<String>,
    /// 0 (silent) to 1 (as is).
    pub volume: f32,
    /// The operator has taken the call over: this computer's microphone goes to the caller and
    /// the agent is silent.
    pub taken_over: bool,
}

/// Listen to a call (or stop), at a volume.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenInput {
    /// The live call to hear; `null` stops listening.
    pub call_id: Option<String>,
    /// 0 (silent) to 1 (as is); the current volume when left out.
    #[schema(minimum = 0.0, maximum = 1.0)]
    // Read as f64: 1.0000000000000002 must be refused, not rounded to 1 on the way in.
    pub volume: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("volume must be between 0 and 1")]
    BadVolume,
    #[error("the microphone is in use ({0}); end that call or hand it back first")]
    MicrophoneBusy(String),
    #[error("call {0} is not being listened to here; listen to it first")]
    NotListening(String),
}

struct Current {
    call_id: String,
    speaker: Arc<Speaker>,
    /// The device it was opened on: a different choice in Settings means a new speaker.
    output: Option<String>,
    /// Plays the call: to the speaker, or, taken over, to the operator's duplex.
    pump: tokio::task::JoinHandle<()>,
    taken_over: bool,
}

/// The volume when nothing plays yet.
const DEFAULT_VOLUME: f32 = 0.8;

struct State {
    current: Option<Current>,
    volume: f32,
}

static STATE: Mutex<State> = Mutex::new(State {
    current: None,
    volume: DEFAULT_VOLUME,
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What plays now.
pub fn current() -> Listening {
    let s = state();
    Listening {
        call_id: s.current.as_ref().map(|c| c.call_id.clone()),
        volume: s.volume,
        taken_over: s.current.as_ref().is_some_and(|c| c.taken_over),
    }
}

/// Plays `input.call_id` through the speakers (stopping whatever played), or stops.
pub async fn listen(engine: &Engine, input: ListenInput) -> Result<Listening, ListenError> {
    if let Some(v) = input.volume {
        if !(0.0..=1.0).contains(&v) {
            return Err(ListenError::BadVolume);
        }
        let mut s = state();
        let v = v as f32;
        s.volume = v;
        if let Some(c) = &s.current {
            c.speaker.set_volume(v);
        }
    }
    let Some(call_id) = input.call_id else {
        let stopped = state().current.take();
        if let Some(c) = stopped {
            stop(engine, c);
        }
        return Ok(current());
    };
    let call = engine.store().get_call(&call_id).await?;
    let live = engine
        .live_calls()
        .get(&call_id)
        .filter(|_| call.ended_at.is_none())
        .ok_or_else(|| StoreError::from(Conflict::CallEnded(call_id.clone())))?;
    let output = engine.settings().get(AUDIO_OUTPUT);
    // Keep the open speaker when switching calls: switching is then instant.
    let reuse = {
        let mut s = state();
        match s.current.take() {
            Some(c) => {
                let keep = c.output == output && !c.speaker.is_lost();
                let speaker = c.speaker.clone();
                drop(s);
                stop(engine, c);
                keep.then_some(speaker)
            }
            None => None,
        }
    };
    let speaker = match reuse {
        Some(s) => s,
        None => {
            let (device, volume) = (output.clone(), state().volume);
            let opened =
                tokio::task::spawn_blocking(move || Speaker::open(device.as_deref(), volume))
                    .await
                    .map_err(|_| AudioError::Closed)??;
            Arc::new(opened)
        }
    };
    let pump = tokio::spawn(play_to_speaker(
        speaker.clone(),
        live.tap.listen(),
        call_id.clone(),
    ));
    let old = state().current.replace(Current {
        call_id,
        speaker,
        output,
        pump,
        taken_over: false,
    });
    if let Some(old) = old {
        // Another request switched meanwhile: the newest wins.
        stop(engine, old);
    }
    Ok(current())
}

/// Stops playing `c`; a call taken over is handed back to its agent first, so nobody leaves
/// a caller in silence by switching calls.
fn stop(engine: &Engine, c: Current) {
    c.pump.abort();
    if c.taken_over
        && let Some(live) = engine.live_calls().get(&c.call_id)
    {
        live.send(Control::HandBack);
    }
}

/// Plays the call through the speaker until it ends (or the speaker goes).
async fn play_to_speaker(speaker: Arc<Speaker>, listener: Listener, call_id: String) {
    while let Some(frame) = listener.recv().await {
        if speaker.is_lost() {
            tracing::warn!(%call_id, device = speaker.device(), "the speaker stopped; listening ended");
            break;
        }
        speaker.play(frame.data());
    }
    ended(&call_id);
}

/// The call ended (or its device went): nothing is listened to any more.
fn ended(call_id: &str) {
    let mut s = state();
    if s.current.as_ref().is_some_and(|c| c.call_id == call_id) {
        s.current = None;
    }
}

/// Takes over `call_id`, which is being listened to: this computer's microphone goes to the
/// caller (echo-cancelled per Settings), the agent falls silent and stops answering.
pub async fn take_over(engine: &Engine, call_id: &str) -> Result<Listening, ListenError> {
    let call = engine.store().get_call(call_id).await?;
    let live = live_call(engine, call_id, call.ended_at.is_none())?;
    if call.direction == CallDirection::Test {
        return Err(StoreError::from(Invalid::new(
            "call_id",
            "a test call is already on this computer's microphone",
        ))
        .into());
    }
    if state()
        .current
        .as_ref()
        .is_some_and(|c| c.call_id == call_id && c.taken_over)
    {
        return Ok(current());
    }
    if state()
        .current
        .as_ref()
        .is_none_or(|c| c.call_id != call_id)
    {
        return Err(ListenError::NotListening(call_id.to_owned()));
    }
    let claim = super::claim_microphone(call_id).map_err(|b| ListenError::MicrophoneBusy(b.0))?;
    let settings = engine.settings();
    let config = DuplexConfig {
        input: settings.get(AUDIO_INPUT),
        output: settings.get(AUDIO_OUTPUT),
        echo: settings
            .get(ECHO_MODE)
            .and_then(|m| EchoMode::parse(&m))
            .unwrap_or_default(),
    };
    let duplex = tokio::task::spawn_blocking(move || Duplex::open(config))
        .await
        .map_err(|_| AudioError::Closed)??;
    let (voice_tx, voice) = mpsc::channel(OPERATOR_QUEUE);
    if !live.send(Control::TakeOver { voice }) {
        return Err(StoreError::from(Conflict::CallEnded(call_id.to_owned())).into());
    }
    let listener = live.tap.listen();
    let id = call_id.to_owned();
    let pump = tokio::spawn(async move {
        let _microphone = claim;
        operate(duplex, listener, voice_tx, &id).await;
        ended_take_over(&id);
    });
    let mut s = state();
    match s.current.as_mut().filter(|c| c.call_id == call_id) {
        Some(c) => {
            c.pump.abort();
            c.pump = pump;
            c.taken_over = true;
        }
        None => {
            // Stopped listening meanwhile: let go at once.
            pump.abort();
            live.send(Control::HandBack);
        }
    }
    drop(s);
    Ok(current())
}

/// Hands a call taken over back to its agent; listening goes on through the speaker.
pub async fn hand_back(engine: &Engine, call_id: &str) -> Result<Listening, ListenError> {
    let call = engine.store().get_call(call_id).await?;
    let live = live_call(engine, call_id, call.ended_at.is_none())?;
    let taken = {
        let mut s = state();
        match s
            .current
            .as_mut()
            .filter(|c| c.call_id == call_id && c.taken_over)
        {
            Some(c) => {
                c.pump.abort();
                c.taken_over = false;
                let speaker = c.speaker.clone();
                c.pump = tokio::spawn(play_to_speaker(
                    speaker,
                    live.tap.listen(),
                    call_id.to_owned(),
                ));
                true
            }
            None => false,
        }
    };
    // Told even when this window did not hold it: hand back is what the operator wants.
    live.send(Control::HandBack);
    if !taken {
        tracing::debug!(%call_id, "hand back of a call not taken over here");
    }
    Ok(current())
}

fn live_call(engine: &Engine, call_id: &str, open: bool) -> Result<LiveCall, ListenError> {
    engine
        .live_calls()
        .get(call_id)
        .filter(|_| open)
        .ok_or_else(|| StoreError::from(Conflict::CallEnded(call_id.to_owned())).into())
}

/// Operator frames that may wait for the bridge: 1 s. Further behind, late speech is worse.
const OPERATOR_QUEUE: usize = 50;

/// The operator's ears and mouth: the call (caller, and nothing of the agent's, which is
/// silent) to the speaker, the microphone to the caller in 20 ms μ-law frames. Ends when the
/// call does, the devices fail, or the bridge lets go of the operator's voice.
async fn operate(mut duplex: Duplex, listener: Listener, voice: mpsc::Sender<G711>, call_id: &str) {
    let mut heard: Vec<i16> = Vec::with_capacity(2 * TELEPHONY_FRAME_SAMPLES);
    let mut mulaw = [0u8; TELEPHONY_FRAME_SAMPLES];
    loop {
        tokio::select! {
            frame = listener.recv() => {
                let Some(frame) = frame else { break };
                let volume = state().volume;
                let scaled: Vec<i16> = frame
                    .data()
                    .iter()
                    .map(|&x| (f32::from(x) * volume) as i16)
                    .collect();
                duplex.play(&scaled);
            }
            captured = duplex.capture(TELEPHONY_FRAME_SAMPLES) => match captured {
                Ok(more) => {
                    heard.extend_from_slice(&more);
                    while heard.len() >= TELEPHONY_FRAME_SAMPLES {
                        pcm_to_mulaw(&heard[..TELEPHONY_FRAME_SAMPLES], &mut mulaw);
                        heard.drain(..TELEPHONY_FRAME_SAMPLES);
                        match voice.try_send(G711::from_bytes(&mulaw)) {
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                            // The bridge is behind: this frame is lost, the call goes on.
                            Err(mpsc::error::TrySendError::Full(_)) | Ok(()) => {}
                        }
                    }
                }
                Err(e) => {
                    // Dropping `voice` hands the call back: the caller is not left in silence.
                    tracing::warn!(%call_id, error = %e, "the operator's microphone failed; the agent has the call back");
                    return;
                }
            },
        }
    }
}

/// The operator's devices are done (the call ended, or they failed): listening stops.
fn ended_take_over(call_id: &str) {
    let mut s = state();
    if s.current
        .as_ref()
        .is_some_and(|c| c.call_id == call_id && c.taken_over)
    {
        s.current = None;
    }
}

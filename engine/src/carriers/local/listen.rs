//! Listening in through this machine's speakers: a live call's two sides, mixed by its tap
//! (the agent's audio where the caller heard it, clocked by the caller's frames), played on
//! the speaker chosen in Settings. One call at a time, as there is one pair of ears: listening
//! to another call switches at once (the speaker stays open), and the call's path pays nothing
//! when nobody listens (the tap is free then).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audio::{AudioError, Speaker};
use crate::engine::Engine;
use crate::settings::AUDIO_OUTPUT;
use crate::store::{Conflict, StoreError};

/// Who is being listened to, and how loud.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Listening {
    /// The call playing through the speakers; `null` when none.
    pub call_id: Option<String>,
    /// 0 (silent) to 1 (as is).
    pub volume: f32,
}

/// Listen to a call (or stop), at a volume.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenInput {
    /// The live call to hear; `null` stops listening.
    pub call_id: Option<String>,
    /// 0 (silent) to 1 (as is); the current volume when left out.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub volume: Option<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("volume must be between 0 and 1")]
    BadVolume,
}

struct Current {
    call_id: String,
    speaker: Arc<Speaker>,
    /// The device it was opened on: a different choice in Settings means a new speaker.
    output: Option<String>,
    pump: tokio::task::JoinHandle<()>,
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
    }
}

/// Plays `input.call_id` through the speakers (stopping whatever played), or stops.
pub async fn listen(engine: &Engine, input: ListenInput) -> Result<Listening, ListenError> {
    if let Some(v) = input.volume {
        if !(0.0..=1.0).contains(&v) {
            return Err(ListenError::BadVolume);
        }
        let mut s = state();
        s.volume = v;
        if let Some(c) = &s.current {
            c.speaker.set_volume(v);
        }
    }
    let Some(call_id) = input.call_id else {
        if let Some(c) = state().current.take() {
            c.pump.abort();
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
                c.pump.abort();
                (c.output == output && !c.speaker.is_lost()).then_some(c.speaker)
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
    let listener = live.tap.listen();
    let (pumped, id) = (speaker.clone(), call_id.clone());
    let pump = tokio::spawn(async move {
        while let Some(frame) = listener.recv().await {
            if pumped.is_lost() {
                tracing::warn!(call_id = %id, device = pumped.device(), "the speaker stopped; listening ended");
                break;
            }
            pumped.play(frame.data());
        }
        // The call ended (or the speaker went): nothing is listened to any more.
        let mut s = state();
        if s.current.as_ref().is_some_and(|c| c.call_id == id) {
            s.current = None;
        }
    });
    let mut s = state();
    if let Some(old) = s.current.replace(Current {
        call_id,
        speaker,
        output,
        pump,
    }) {
        // Another request switched meanwhile: the newest wins.
        old.pump.abort();
    }
    drop(s);
    Ok(current())
}

//! An operator taking a call over from its agent, and handing it back. While the operator has
//! the call, their voice goes to the caller and the agent's session is paused (§7.6 of the
//! Realtime notes): it keeps hearing and transcribing the caller, but neither speaks nor
//! answers. The operator's own words are transcribed by a second session that only listens,
//! so the agent never hears them as if the caller had spoken; at hand back the agent is told,
//! as a system note, what both sides said meanwhile.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;

use super::backend::{connect, sleep_until_some};
use super::playback::SpokeAt;
use crate::domain::{Speaker, Timestamp};
use crate::engine::Engine;
use crate::media::G711;
use crate::media::codec::MULAW_SILENCE;
use crate::media::frame::TELEPHONY_FRAME_SAMPLES;
use crate::voice::{VoiceCommand, VoiceConfig, VoiceError, VoiceEvent, VoiceSession};

/// Operator frames held while their transcriber connects (5 s), then the oldest goes.
const TRANSCRIBER_BACKLOG: usize = 250;
/// Silence appended after the operator's last frame, so the backend's turn detection (500 ms
/// of silence by default) closes their last sentence and transcribes it.
const CLOSING_SILENCE_FRAMES: usize = 40;
/// How long, after hand back, the transcriber may take with the operator's last words.
const LAST_WORDS: Duration = Duration::from_secs(3);
/// After hand back with no sentence awaiting its transcript: time for one to begin.
const SETTLE: Duration = Duration::from_millis(700);

/// What the transcriber reports to the bridge.
pub(super) enum Heard {
    /// The operator said this, starting then.
    Line(String, Timestamp),
    /// Their words cannot be transcribed (the backend refused or is down): why.
    Unavailable(String),
}

/// The call while an operator has it.
pub(super) struct TakeOver {
    /// The operator's voice, 20 ms μ-law frames; `None` once they handed back.
    pub voice: Option<mpsc::Receiver<G711>>,
    /// To the transcriber; dropped at hand back, which tells it to finish.
    transcriber: Option<mpsc::Sender<G711>>,
    /// From the transcriber; closed once it has delivered the operator's last words.
    heard: mpsc::Receiver<Heard>,
    /// What both sides said meanwhile, with when each began, for the agent at hand back.
    said: Vec<(Timestamp, Speaker, String)>,
}

/// What happened on the operator's side.
pub(super) enum OperatorEvent {
    /// A frame of their voice; `None`: their microphone went (as good as handing back).
    Voice(Option<G711>),
    Heard(Heard),
    /// The transcriber has finished after hand back: the agent may have the call.
    Done,
}

impl TakeOver {
    pub fn start(
        engine: &Engine,
        call_id: &str,
        config: VoiceConfig,
        voice: mpsc::Receiver<G711>,
    ) -> Self {
        let (frames, frames_rx) = mpsc::channel(TRANSCRIBER_BACKLOG);
        let (heard_tx, heard) = mpsc::channel(64);
        tokio::spawn(transcribe(
            engine.clone(),
            call_id.to_owned(),
            config,
            frames_rx,
            heard_tx,
        ));
        Self {
            voice: Some(voice),
            transcriber: Some(frames),
            heard,
            said: Vec::new(),
        }
    }

    /// Another operator window took the call while one had it: the newest voice wins.
    pub fn replace_voice(&mut self, voice: mpsc::Receiver<G711>) {
        self.voice = Some(voice);
    }

    pub fn take_said(&mut self) -> Vec<(Timestamp, Speaker, String)> {
        std::mem::take(&mut self.said)
    }

    /// What was said in an earlier take over the agent has not been told of yet.
    pub fn inherit(&mut self, earlier: Vec<(Timestamp, Speaker, String)>) {
        let later = std::mem::replace(&mut self.said, earlier);
        self.said.extend(later);
    }

    pub fn is_handing_back(&self) -> bool {
        self.voice.is_none()
    }

    /// A frame for the transcriber; dropped (and the transcript poorer) if it is far behind.
    pub fn transcribe(&self, frame: G711) {
        if let Some(t) = &self.transcriber {
            let _ = t.try_send(frame);
        }
    }

    pub fn said(&mut self, at: Timestamp, speaker: Speaker, text: &str) {
        self.said.push((at, speaker, text.to_owned()));
    }

    /// Stops taking the operator's voice; the transcriber finishes their last words.
    pub fn hand_back(&mut self) {
        self.voice = None;
        self.transcriber = None;
    }

    /// The next thing from the operator's side. Cancel-safe.
    pub async fn next(&mut self) -> OperatorEvent {
        let voice = async {
            match &mut self.voice {
                Some(v) => v.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = voice => OperatorEvent::Voice(frame),
            heard = self.heard.recv() => match heard {
                Some(h) => OperatorEvent::Heard(h),
                // The transcriber ended: it does only after hand back (or if it could not
                // start, after telling why); until hand back there is nothing more to wait for.
                None if self.voice.is_none() => OperatorEvent::Done,
                None => std::future::pending().await,
            },
        }
    }

    /// The system note that brings the agent back: what was said while it was paused.
    pub fn note(&self) -> String {
        let mut note = String::from(
            "A person from this business (an operator) took the call over from you for a \
             while. You were paused: the caller did not hear you.",
        );
        if self.said.is_empty() {
            note.push_str(" Nothing that was said meanwhile could be transcribed.");
        } else {
            note.push_str(" What was said meanwhile, in order:");
            // The two sides are transcribed apart, and their lines arrive in either order.
            let mut said: Vec<_> = self.said.iter().collect();
            said.sort_by_key(|(at, ..)| *at);
            for (_, speaker, text) in said {
                let who = match speaker {
                    Speaker::Operator => "Operator",
                    Speaker::Caller => "Caller",
                    _ => "Agent",
                };
                note.push_str(&format!("\n{who}: {text}"));
            }
        }
        note.push_str(
            "\nYou have the call back now. Continue from where the operator left off, taking \
             account of what they said, without repeating it.",
        );
        note
    }
}

/// The operator's transcriber: a session of the same backend that only listens (it never
/// answers), fed the operator's frames, reporting each finished sentence. After the frames end
/// (hand back) it closes their last sentence with silence and waits for its transcript.
async fn transcribe(
    engine: Engine,
    call_id: String,
    config: VoiceConfig,
    mut frames: mpsc::Receiver<G711>,
    heard: mpsc::Sender<Heard>,
) {
    let connecting = connect(&engine, &config);
    tokio::pin!(connecting);
    // Frames keep coming while the session connects: hold the latest few seconds.
    let mut backlog = VecDeque::new();
    let mut frames_open = true;
    // Once handed back, everything here must end within `LAST_WORDS`: the agent waits for it.
    let mut last_words: Option<tokio::time::Instant> = None;
    let session = loop {
        tokio::select! {
            s = &mut connecting => break s,
            f = frames.recv(), if frames_open => match f {
                Some(f) => {
                    if backlog.len() == TRANSCRIBER_BACKLOG {
                        backlog.pop_front();
                    }
                    backlog.push_back(f);
                }
                None => {
                    frames_open = false;
                    last_words = Some(tokio::time::Instant::now() + LAST_WORDS);
                }
            },
            () = sleep_until_some(last_words) => {
                let _ = heard.send(Heard::Unavailable("the transcriber did not connect in time".into())).await;
                return;
            }
        }
    };
    let mut session = match session {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%call_id, error = %e, "the operator's words will not be transcribed");
            let _ = heard.send(Heard::Unavailable(e.to_string())).await;
            return;
        }
    };
    let mut ready = false;
    // Turns the backend has heard begin and not yet transcribed.
    let mut open_turns = 0usize;
    let mut spoke = SpokeAt::default();
    let mut closed_with_silence = false;
    let silence = G711::from_bytes(&[MULAW_SILENCE; TELEPHONY_FRAME_SAMPLES]);
    loop {
        let step: Result<(), VoiceError> = tokio::select! {
            f = frames.recv(), if frames_open && ready => match f {
                Some(f) => session.send(VoiceCommand::Audio(f)).await,
                None => {
                    frames_open = false;
                    Ok(())
                }
            },
            e = session.recv() => match e {
                Ok(VoiceEvent::Ready) => {
                    ready = true;
                    let mut sent = Ok(());
                    while let Some(f) = backlog.pop_front() {
                        sent = session.send(VoiceCommand::Audio(f)).await;
                        if sent.is_err() {
                            break;
                        }
                    }
                    sent
                }
                Ok(VoiceEvent::SpeechStarted { item_id }) => {
                    open_turns += 1;
                    if let Some(id) = item_id {
                        spoke.start(id);
                    }
                    Ok(())
                }
                Ok(VoiceEvent::CallerSaid { item_id, text }) => {
                    open_turns = open_turns.saturating_sub(1);
                    let at = spoke.take(item_id.as_deref());
                    let _ = heard.send(Heard::Line(text, at)).await;
                    Ok(())
                }
                // It was told never to answer; whatever else it says is not the operator's.
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            () = sleep_until_some(last_words) => break,
        };
        if let Err(e) = step {
            tracing::warn!(%call_id, error = %e, "the operator's transcriber stopped");
            let _ = heard.send(Heard::Unavailable(e.to_string())).await;
            return;
        }
        if frames_open {
            continue;
        }
        let now = tokio::time::Instant::now();
        let deadline = *last_words.get_or_insert(now + LAST_WORDS);
        if ready && !closed_with_silence {
            // Handed back: end the operator's last sentence, then wait for its transcript.
            closed_with_silence = true;
            for _ in 0..CLOSING_SILENCE_FRAMES {
                if session
                    .send(VoiceCommand::Audio(silence.clone()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        if open_turns == 0 {
            // No sentence awaits its transcript: give one just begun a moment, then stop.
            last_words = Some(deadline.min(now + SETTLE));
        }
    }
    session.close().await;
}

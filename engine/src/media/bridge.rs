//! The bridge: one task per call joining a carrier's media stream to a voice session. Caller
//! audio goes to the backend as it arrives; agent audio goes to the carrier as it arrives,
//! with marks between (see `Playback`), so the bridge knows how much the caller has heard.
//! When the caller speaks over the agent, the carrier's queued audio is cleared and the
//! backend's response is cut where the caller stopped hearing it.
//!
//! Nothing on this path waits on the database: transcript lines go to a writer task.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::mpsc;

use super::live::Control;
use super::tap::Tap;
use super::{CarrierMedia, G711, MediaError, MediaIn, MediaOut};
use crate::domain::{Agent, Call, CallDirection, CallStatus, Speaker, Timestamp};
use crate::engine::Engine;
use crate::events::Event;
use crate::secrets::Provider;
use crate::voice::openai_realtime::OpenAiRealtime;
use crate::voice::{VoiceCommand, VoiceConfig, VoiceError, VoiceEvent, VoiceSession};

/// Caller audio kept while the backend connects and configures: 2 s, then the oldest goes.
const EARLY_AUDIO_FRAMES: usize = 100;
/// How long a carrier's stream may stay quiet before the call is taken as lost.
const CARRIER_SILENCE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the backend may take to confirm the session's configuration.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// On a call Switchboard placed, the callee speaks first ("Hello?"); if they say nothing
/// for this long after the line opens, the agent greets them.
const OUTBOUND_GREETING_AFTER: std::time::Duration = std::time::Duration::from_millis(2500);
/// Transcript lines waiting for the database; beyond this a line is dropped and logged.
const TRANSCRIPT_QUEUE: usize = 256;

/// Why a bridged call ended, as the call record will say.
#[derive(Debug)]
enum End {
    /// The carrier stopped the stream: the caller hung up (the carrier's own report of the
    /// end, if it follows, fills in the cause).
    StreamStopped,
    Backend(VoiceError),
    /// Switchboard ends the call (an operator, shutdown, a silent carrier), for this reason.
    Ours(String),
}

/// Runs a call's bridge to the end. `call` is live and `agent` is its agent; the carrier
/// stream has started. Returns when both sides are closed and the record is complete.
pub async fn run<C: CarrierMedia>(engine: Engine, call: Call, agent: Agent, mut carrier: C) {
    let (_registration, mut control, tap) = match engine.live().register(&call.id, &agent.id) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(call_id = %call.id, "{e}; closing the new stream");
            carrier.close("this call already has a media stream").await;
            return;
        }
    };
    let started = Instant::now();
    let call = mark_answered(&engine, call).await;
    let config = VoiceConfig {
        model: agent.model.clone(),
        voice: agent.voice.clone(),
        instructions: super::live::instructions_for(&engine, &agent, &call).await,
    };

    // Connect while listening to the caller: keep their first words, notice a hang-up.
    let mut early = VecDeque::new();
    let connecting = connect(&engine, &config);
    tokio::pin!(connecting);
    let voice = loop {
        tokio::select! {
            v = &mut connecting => break v,
            m = carrier.recv() => match m {
                Ok(MediaIn::Audio(a)) => {
                    if early.len() == EARLY_AUDIO_FRAMES {
                        early.pop_front();
                    }
                    early.push_back(a);
                }
                Ok(MediaIn::Stop) | Err(MediaError::Closed(_)) => {
                    finish(&engine, &call, End::StreamStopped, None).await;
                    return;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(call_id = %call.id, error = %e, "skipped a media frame"),
            },
        }
    };
    let voice = match voice {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(call_id = %call.id, error = %e, "voice backend unavailable; ending the call");
            let reason = e.to_string();
            let failed = hang_up(&engine, &call).await;
            carrier.close(&reason).await;
            finish(&engine, &call, End::Backend(e), failed).await;
            return;
        }
    };
    let transcript = spawn_transcript_writer(&engine, &call.id);
    let greeting = match call.direction {
        CallDirection::Inbound => {
            (!agent.greeting.trim().is_empty()).then(|| Greeting::Now(agent.greeting.clone()))
        }
        CallDirection::Outbound => Some(Greeting::AfterSilence(agent.greeting.clone())),
    };
    let mut bridge = Bridge {
        carrier,
        voice,
        playback: Playback::default(),
        ready: false,
        early,
        greeting,
        greet_at: None,
        hang_up_when_heard: false,
        responding: false,
        pending_instructions: 0,
        transcript,
        spoke: SpokeAt::default(),
        tap,
    };
    let end = bridge.run(&engine, &call, &mut control).await;
    tracing::info!(call_id = %call.id, secs = started.elapsed().as_secs(), end = ?end, "bridge ended");
    let Bridge { carrier, voice, .. } = bridge;
    let hang_up_failed = match &end {
        End::StreamStopped => {
            voice.close().await;
            None
        }
        End::Backend(e) => {
            let failed = hang_up(&engine, &call).await;
            carrier.close(&e.to_string()).await;
            failed
        }
        End::Ours(reason) => {
            let failed = hang_up(&engine, &call).await;
            voice.close().await;
            carrier.close(reason).await;
            failed
        }
    };
    finish(&engine, &call, end, hang_up_failed).await;
}

async fn connect(engine: &Engine, config: &VoiceConfig) -> Result<OpenAiRealtime, VoiceError> {
    let credentials = engine
        .secrets()
        .credentials(Provider::Openai)
        .await
        .map_err(|e| VoiceError::Refused(format!("no OpenAI credentials: {e}")))?;
    OpenAiRealtime::connect(
        &engine.config().openai_realtime_url,
        credentials.get("api_key"),
        config,
    )
    .await
}

/// How the agent opens the conversation.
enum Greeting {
    /// Inbound: the agent speaks first, these words.
    Now(String),
    /// Outbound: the agent waits for the callee; after a silence it greets them (with these
    /// words, or in its own words when empty).
    AfterSilence(String),
}

struct Bridge<C, V> {
    carrier: C,
    voice: V,
    playback: Playback,
    ready: bool,
    /// Caller audio that arrived before the backend was ready.
    early: VecDeque<G711>,
    greeting: Option<Greeting>,
    /// An outbound call's greeting is due then, unless the callee speaks first.
    greet_at: Option<tokio::time::Instant>,
    /// A voicemail message is being left: end the call once the machine has heard it all.
    hang_up_when_heard: bool,
    /// A response is under way (so a keypad press must not ask for another).
    responding: bool,
    /// Instruction updates sent and not yet confirmed by the backend.
    pending_instructions: usize,
    transcript: mpsc::Sender<(Speaker, String, Timestamp)>,
    /// When each item's speech began, for its transcript line's time.
    spoke: SpokeAt,
    /// Listen-in: both sides mixed for whoever listens (free when nobody does).
    tap: Tap,
}

impl<C: CarrierMedia, V: VoiceSession> Bridge<C, V> {
    async fn run(
        &mut self,
        engine: &Engine,
        call: &Call,
        control: &mut mpsc::Receiver<Control>,
    ) -> End {
        // Made once: the loop turns for every frame.
        let stopping = engine.stopping();
        tokio::pin!(stopping);
        // A backend that accepts the socket but never confirms the session would leave the
        // caller in silence.
        let unready = tokio::time::sleep(READY_TIMEOUT);
        tokio::pin!(unready);
        // Carriers stream continuously (silence too) while a call is up; a stream that goes
        // quiet without a stop is a lost connection, and the backend session would run on.
        let mut watchdog = tokio::time::interval(CARRIER_SILENCE / 2);
        let mut heard_at = Instant::now();
        loop {
            let step = tokio::select! {
                m = self.carrier.recv() => {
                    heard_at = Instant::now();
                    self.on_carrier(call, m).await
                }
                _ = watchdog.tick() => {
                    if heard_at.elapsed() >= CARRIER_SILENCE {
                        Err(End::Ours(format!(
                            "the carrier sent nothing for {} s",
                            CARRIER_SILENCE.as_secs()
                        )))
                    } else {
                        Ok(())
                    }
                }
                v = self.voice.recv() => self.on_voice(engine, call, v).await,
                () = sleep_until_some(self.greet_at), if self.greet_at.is_some() => {
                    self.greet_at = None;
                    self.greet_after_silence().await
                }
                Some(c) = control.recv() => self.on_control(c).await,
                () = &mut stopping => Err(End::Ours("Switchboard was shut down".into())),
                () = &mut unready, if !self.ready => Err(End::Backend(VoiceError::Refused(
                    format!("the session was not confirmed within {} s", READY_TIMEOUT.as_secs()),
                ))),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_carrier(&mut self, call: &Call, m: Result<MediaIn, MediaError>) -> Result<(), End> {
        match m {
            Ok(MediaIn::Audio(audio)) => {
                // Decoding costs; with nobody listening in, the tap is skipped outright.
                if self.tap.listeners() > 0 {
                    self.tap.caller(&audio.bytes());
                }
                if self.ready {
                    self.voice
                        .send(VoiceCommand::Audio(audio))
                        .await
                        .map_err(End::Backend)?;
                } else {
                    if self.early.len() == EARLY_AUDIO_FRAMES {
                        self.early.pop_front();
                    }
                    self.early.push_back(audio);
                }
            }
            Ok(MediaIn::Mark(name)) => {
                self.playback.on_mark(&name, Instant::now());
                self.end_if_message_heard()?;
            }
            Ok(MediaIn::Dtmf(digit)) => {
                let text = format!("(The caller pressed {digit} on their keypad.)");
                self.voice
                    .send(VoiceCommand::CallerText(text))
                    .await
                    .map_err(End::Backend)?;
                if !self.responding {
                    self.voice
                        .send(VoiceCommand::Respond)
                        .await
                        .map_err(End::Backend)?;
                }
            }
            Ok(MediaIn::Stop) | Err(MediaError::Closed(_)) => return Err(End::StreamStopped),
            Err(e @ MediaError::Malformed(_)) => {
                tracing::warn!(call_id = %call.id, error = %e, "skipped a media frame");
            }
        }
        Ok(())
    }

    async fn on_voice(
        &mut self,
        engine: &Engine,
        call: &Call,
        v: Result<VoiceEvent, VoiceError>,
    ) -> Result<(), End> {
        match v.map_err(End::Backend)? {
            VoiceEvent::Ready => {
                self.ready = true;
                while let Some(a) = self.early.pop_front() {
                    self.voice
                        .send(VoiceCommand::Audio(a))
                        .await
                        .map_err(End::Backend)?;
                }
                match self.greeting.take() {
                    Some(Greeting::Now(words)) => {
                        self.voice
                            .send(VoiceCommand::Greet(words))
                            .await
                            .map_err(End::Backend)?;
                    }
                    Some(g @ Greeting::AfterSilence(_)) => {
                        self.greeting = Some(g);
                        self.greet_at = Some(tokio::time::Instant::now() + OUTBOUND_GREETING_AFTER);
                    }
                    None => {}
                }
            }
            VoiceEvent::Audio { item_id, .. } if self.playback.is_cut(&item_id) => {}
            VoiceEvent::Audio { item_id, audio } => {
                if !self.playback.is_current(&item_id) {
                    self.spoke.start(item_id.clone());
                }
                if self.tap.listeners() > 0 {
                    self.tap.agent(&audio.bytes());
                }
                let mark = self
                    .playback
                    .on_audio(&item_id, audio.duration_ms(), Instant::now());
                self.feed_carrier(MediaOut::Audio(audio)).await?;
                if let Some(mark) = mark {
                    self.feed_carrier(MediaOut::Mark(mark)).await?;
                }
                self.flush_carrier().await?;
            }
            VoiceEvent::AudioDone { item_id } => {
                if let Some(mark) = self.playback.on_audio_done(&item_id) {
                    self.feed_carrier(MediaOut::Mark(mark)).await?;
                    self.flush_carrier().await?;
                }
            }
            VoiceEvent::SpeechStarted { item_id } => {
                // The callee spoke first: the agent answers them instead of greeting.
                if self.greet_at.take().is_some() {
                    self.greeting = None;
                }
                if let Some(id) = item_id {
                    self.spoke.start(id);
                }
                if let Some((item_id, audio_end_ms)) = self.playback.interrupt(Instant::now()) {
                    self.tap.clear_agent();
                    self.feed_carrier(MediaOut::Clear).await?;
                    self.flush_carrier().await?;
                    self.voice
                        .send(VoiceCommand::Truncate {
                            item_id,
                            audio_end_ms,
                        })
                        .await
                        .map_err(End::Backend)?;
                    tracing::debug!(call_id = %call.id, audio_end_ms, "caller barged in");
                }
            }
            VoiceEvent::ResponseStarted => self.responding = true,
            VoiceEvent::ResponseDone => {
                self.responding = false;
                self.end_if_message_heard()?;
            }
            VoiceEvent::CallerSaid { item_id, text } => {
                let at = self.spoke.take(item_id.as_deref());
                self.transcribe(call, Speaker::Caller, text, at);
            }
            VoiceEvent::AgentSaid { item_id, text } => {
                let at = self.spoke.take(item_id.as_deref());
                self.transcribe(call, Speaker::Agent, text, at);
            }
            VoiceEvent::InstructionsApplied => {
                if self.pending_instructions > 0 {
                    self.pending_instructions -= 1;
                    engine.events().publish(Event::CallContextApplied {
                        call_id: call.id.clone(),
                    });
                }
            }
            VoiceEvent::Warning(message) => {
                tracing::warn!(call_id = %call.id, %message, "voice backend reported a problem");
            }
        }
        Ok(())
    }

    async fn on_control(&mut self, c: Control) -> Result<(), End> {
        match c {
            Control::Instructions(text) => {
                self.voice
                    .send(VoiceCommand::Instructions(text))
                    .await
                    .map_err(End::Backend)?;
                self.pending_instructions += 1;
                Ok(())
            }
            Control::HangUp { reason } => Err(End::Ours(reason)),
            Control::LeaveMessage { message } => {
                self.greet_at = None;
                self.greeting = None;
                self.voice
                    .send(VoiceCommand::Say(message))
                    .await
                    .map_err(End::Backend)?;
                self.hang_up_when_heard = true;
                self.responding = true;
                Ok(())
            }
        }
    }

    /// The agent's opening on a call it placed, once the callee stayed silent.
    async fn greet_after_silence(&mut self) -> Result<(), End> {
        let command = match self.greeting.take() {
            Some(Greeting::AfterSilence(words)) if !words.trim().is_empty() => {
                VoiceCommand::Greet(words)
            }
            Some(_) => VoiceCommand::Respond,
            None => return Ok(()),
        };
        self.voice.send(command).await.map_err(End::Backend)
    }

    /// After a voicemail message: the call ends once its last word has been played.
    fn end_if_message_heard(&self) -> Result<(), End> {
        if self.hang_up_when_heard && !self.responding && self.playback.all_heard() {
            return Err(End::Ours("left the campaign's voicemail message".into()));
        }
        Ok(())
    }

    async fn feed_carrier(&mut self, out: MediaOut) -> Result<(), End> {
        self.carrier.feed(out).await.map_err(|_| End::StreamStopped)
    }

    async fn flush_carrier(&mut self) -> Result<(), End> {
        self.carrier.flush().await.map_err(|_| End::StreamStopped)
    }

    fn transcribe(&self, call: &Call, speaker: Speaker, text: String, at: Timestamp) {
        if self.transcript.try_send((speaker, text, at)).is_err() {
            tracing::error!(call_id = %call.id, "transcript queue full; a line was dropped");
        }
    }
}

/// Sleeps until `at` (the select branch using it is disabled when there is none).
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes transcript lines in order, off the media path, and tells live views.
fn spawn_transcript_writer(
    engine: &Engine,
    call_id: &str,
) -> mpsc::Sender<(Speaker, String, Timestamp)> {
    let (tx, mut rx) = mpsc::channel::<(Speaker, String, Timestamp)>(TRANSCRIPT_QUEUE);
    let engine = engine.clone();
    let call_id = call_id.to_owned();
    tokio::spawn(async move {
        while let Some((speaker, text, at)) = rx.recv().await {
            match engine
                .store()
                .add_transcript_line(&call_id, speaker, &text, at)
                .await
            {
                Ok(line) => engine.events().publish(Event::TranscriptLine { line }),
                Err(e) => tracing::error!(%call_id, error = %e, "transcript line not saved"),
            }
        }
    });
    tx
}

/// A started stream means the call is answered (Twilio sends no separate answer report).
/// Returns the call as it now stands.
async fn mark_answered(engine: &Engine, call: Call) -> Call {
    match engine
        .store()
        .mark_call_answered(&call.id, Timestamp::now())
        .await
    {
        Ok(c) => {
            if c != call {
                engine
                    .events()
                    .publish(Event::CallUpdated { call: c.clone() });
            }
            c
        }
        Err(e) => {
            tracing::error!(call_id = %call.id, error = %e, "could not mark the call answered");
            call
        }
    }
}

/// Ends the call at the carrier. A failure is logged and returned for the record: closing
/// the stream may not end the call at every carrier, so an operator must be able to see it.
async fn hang_up(engine: &Engine, call: &Call) -> Option<String> {
    let e = crate::carriers::hang_up(engine, call).await.err()?;
    tracing::error!(call_id = %call.id, error = %e, "the carrier could not hang up the call");
    Some(format!("the carrier could not hang up: {e}"))
}

async fn finish(engine: &Engine, call: &Call, end: End, hang_up_failed: Option<String>) {
    let cause = match &end {
        End::StreamStopped => None,
        End::Backend(e) => Some(e.to_string()),
        End::Ours(reason) => Some(reason.clone()),
    };
    let cause = match (cause, hang_up_failed) {
        (Some(c), Some(f)) => Some(format!("{c}; {f}")),
        (c, f) => c.or(f),
    };
    let status = match end {
        End::Backend(_) => CallStatus::Failed,
        _ => CallStatus::Completed,
    };
    match engine
        .store()
        .mark_call_ended(&call.id, status, Timestamp::now(), cause.as_deref())
        .await
    {
        Ok(c) => engine.events().publish(Event::CallUpdated { call: c }),
        Err(e) => {
            tracing::error!(call_id = %call.id, error = %e, "could not record the call's end")
        }
    }
}

/// When each conversation item's speech began. A transcript line is timed by when it was
/// said, not when its text arrived: the caller's transcription often lands after the agent
/// has already answered, and the log should read in the order things were said.
#[derive(Debug, Default)]
struct SpokeAt {
    items: VecDeque<(String, Timestamp)>,
}

impl SpokeAt {
    /// Items whose transcript never comes must not pile up.
    const KEEP: usize = 32;

    fn start(&mut self, item_id: String) {
        if self.items.len() == Self::KEEP {
            self.items.pop_front();
        }
        self.items.push_back((item_id, Timestamp::now()));
    }

    /// When `item_id` began (now, if unknown), forgetting it.
    fn take(&mut self, item_id: Option<&str>) -> Timestamp {
        let found = item_id.and_then(|id| self.items.iter().position(|(i, _)| i == id));
        match found.and_then(|at| self.items.remove(at)) {
            Some((_, at)) => at,
            None => Timestamp::now(),
        }
    }
}

/// Agent audio between two marks. A mark per backend chunk (20 ms under load) would double
/// the messages to the carrier; between marks the heard position is interpolated anyway.
const MARK_EVERY_MS: u64 = 100;

/// What the caller has heard of the agent's current item. Agent audio sent to the carrier is
/// followed, every `MARK_EVERY_MS` and at the item's end, by a mark named `{item}.{end_ms}`;
/// the carrier returns it when playback reaches it. Between marks playback runs in real
/// time, so the heard position is the last returned mark plus the time since, never past the
/// next mark not yet returned.
#[derive(Debug, Default)]
struct Playback {
    item: Option<ItemPlayback>,
    items: u64,
    /// The item last cut by a barge-in: its stragglers (chunks the backend sent before it
    /// heard the truncate) must not reach the caller.
    cut: Option<String>,
}

#[derive(Debug)]
struct ItemPlayback {
    item_id: String,
    seq: u64,
    sent_ms: u64,
    /// Audio up to here is followed by a mark.
    marked_ms: u64,
    heard_ms: u64,
    heard_at: Instant,
    /// End positions of marks sent and not yet returned, in order.
    pending: VecDeque<u64>,
}

impl ItemPlayback {
    fn mark(&mut self) -> String {
        self.marked_ms = self.sent_ms;
        self.pending.push_back(self.sent_ms);
        format!("{}.{}", self.seq, self.sent_ms)
    }
}

impl Playback {
    /// Records `ms` of audio for `item_id` sent now; returns a mark to send after it, when
    /// one is due.
    fn on_audio(&mut self, item_id: &str, ms: u64, now: Instant) -> Option<String> {
        if self.item.as_ref().is_none_or(|i| i.item_id != item_id) {
            self.items += 1;
            self.item = Some(ItemPlayback {
                item_id: item_id.to_owned(),
                seq: self.items,
                sent_ms: 0,
                marked_ms: 0,
                heard_ms: 0,
                heard_at: now,
                pending: VecDeque::new(),
            });
        }
        let item = self.item.as_mut().expect("set above");
        if item.pending.is_empty() && item.marked_ms == item.sent_ms {
            // Everything sent was played: this chunk starts playing now.
            item.heard_ms = item.sent_ms;
            item.heard_at = now;
        }
        item.sent_ms += ms;
        (item.sent_ms - item.marked_ms >= MARK_EVERY_MS).then(|| item.mark())
    }

    /// The backend finished the item's audio: mark its end, if not marked yet.
    fn on_audio_done(&mut self, item_id: &str) -> Option<String> {
        let item = self.item.as_mut().filter(|i| i.item_id == item_id)?;
        (item.sent_ms > item.marked_ms).then(|| item.mark())
    }

    fn on_mark(&mut self, name: &str, now: Instant) {
        let Some((seq, end)) = name
            .split_once('.')
            .and_then(|(s, e)| Some((s.parse::<u64>().ok()?, e.parse::<u64>().ok()?)))
        else {
            return;
        };
        let Some(item) = self.item.as_mut().filter(|i| i.seq == seq) else {
            return; // a mark of an item already interrupted or finished
        };
        while item.pending.front().is_some_and(|&p| p <= end) {
            item.pending.pop_front();
        }
        item.heard_ms = end;
        item.heard_at = now;
    }

    /// Whether `item_id` is the item being played (its first chunk has been seen).
    /// Every mark sent has come back: the carrier has played all it was sent.
    fn all_heard(&self) -> bool {
        self.item
            .as_ref()
            .is_none_or(|i| i.pending.is_empty() && i.marked_ms == i.sent_ms)
    }

    fn is_current(&self, item_id: &str) -> bool {
        self.item.as_ref().is_some_and(|i| i.item_id == item_id)
    }

    /// Whether `item_id` was cut by a barge-in (its audio is dropped, not played).
    fn is_cut(&self, item_id: &str) -> bool {
        self.cut.as_deref() == Some(item_id)
    }

    /// The caller spoke. If agent audio may still be playing, returns the item and how much
    /// of it was heard (for the backend's truncate) and forgets the item.
    fn interrupt(&mut self, now: Instant) -> Option<(String, u64)> {
        let item = self.item.take()?;
        self.cut = Some(item.item_id.clone());
        let since = u64::try_from(now.saturating_duration_since(item.heard_at).as_millis())
            .unwrap_or(u64::MAX);
        let estimate = item.heard_ms.saturating_add(since).min(item.sent_ms);
        match item.pending.front() {
            // The carrier has not reached this mark: audio before it is still playing.
            Some(&next) => Some((item.item_id, estimate.min(next))),
            // Unmarked audio may still be playing, by the clock.
            None if estimate < item.sent_ms => Some((item.item_id, estimate)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn heard_position_follows_marks_and_real_time_between_them() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Playback::default();
        assert_eq!(p.on_audio("a", 200, t0).as_deref(), Some("1.200"));
        assert_eq!(p.on_audio("a", 200, t0).as_deref(), Some("1.400"));
        assert_eq!(p.on_audio("a", 200, t0).as_deref(), Some("1.600"));
        // 150 ms in, no mark back yet: 150 ms heard.
        let (item, heard) = {
            let mut q = Playback::default();
            q.on_audio("a", 200, t0);
            q.interrupt(t0 + ms(150)).unwrap()
        };
        assert_eq!((item.as_str(), heard), ("a", 150));
        // First mark back at 210 ms (playback runs a little late), interrupt 100 ms later.
        p.on_mark("1.200", t0 + ms(210));
        let (item, heard) = p.interrupt(t0 + ms(310)).unwrap();
        assert_eq!((item.as_str(), heard), ("a", 300));
        assert!(
            p.interrupt(t0 + ms(320)).is_none(),
            "the item is forgotten after a barge-in"
        );
    }

    #[test]
    fn heard_position_never_passes_a_mark_not_yet_returned() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_audio("a", 100, t0);
        // 500 ms later the carrier has returned nothing (playback stalled): at most 100 ms.
        assert_eq!(p.interrupt(t0 + Duration::from_millis(500)).unwrap().1, 100);
    }

    #[test]
    fn nothing_to_cut_once_everything_was_played() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_mark("1.100", t0 + Duration::from_millis(100));
        assert!(p.interrupt(t0 + Duration::from_millis(900)).is_none());
    }

    #[test]
    fn marks_of_an_earlier_item_are_ignored() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_audio("b", 300, t0);
        p.on_mark("1.100", t0 + Duration::from_millis(100));
        let (item, heard) = p.interrupt(t0 + Duration::from_millis(50)).unwrap();
        assert_eq!((item.as_str(), heard), ("b", 50));
    }

    #[test]
    fn small_chunks_share_a_mark_and_the_item_end_gets_one() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        let marks: Vec<Option<String>> = (0..8).map(|_| p.on_audio("a", 20, t0)).collect();
        assert_eq!(marks.iter().flatten().collect::<Vec<_>>(), ["1.100"]);
        assert_eq!(p.on_audio_done("a").as_deref(), Some("1.160"));
        assert_eq!(p.on_audio_done("a"), None, "already marked");
        assert_eq!(p.on_audio_done("b"), None, "not the current item");
    }

    #[test]
    fn an_unmarked_tail_still_playing_is_cut_by_the_clock() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_mark("1.100", t0 + Duration::from_millis(100));
        p.on_audio("a", 60, t0 + Duration::from_millis(100));
        let (_, heard) = p.interrupt(t0 + Duration::from_millis(130)).unwrap();
        assert_eq!(heard, 130, "30 ms into the unmarked tail");
    }

    #[test]
    fn an_item_cut_by_a_barge_in_stays_cut() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 500, t0);
        assert!(p.interrupt(t0 + Duration::from_millis(100)).is_some());
        assert!(p.is_cut("a"), "late chunks of the cut item are dropped");
        assert!(!p.is_cut("b"), "the next answer plays");
    }
}

//! The bridge: one task per call joining a carrier's media stream to a voice session. Caller
//! audio goes to the backend as it arrives; agent audio goes to the carrier as it arrives,
//! with marks between (see `Playback`), so the bridge knows how much the caller has heard.
//! When the caller speaks over the agent, the carrier's queued audio is cleared and the
//! backend's response is cut where the caller stopped hearing it.
//!
//! Nothing on this path waits on the database: transcript lines go to a writer task.
//!
//! A carrier's stream enters through `admission` (is it a live call of that carrier's?); the
//! bridge ends a call through the engine's carriers, like any other verb.

pub mod admission;
mod backend;
mod playback;
mod takeover;
mod tools;
mod transfer;

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::mpsc;

use backend::{connect, sleep_until_some};
use playback::{Playback, SpokeAt};
use takeover::{Heard, OperatorEvent, TakeOver};
use tools::{Called, ToolDesk};

use crate::domain::{
    Agent, BuiltinTool, Call, CallDirection, CallStatus, RecordingSource, Speaker, Timestamp,
};
use crate::engine::Engine;
use crate::events::Event;
use crate::live::{Control, NewStream};
use crate::media::tap::Tap;
use crate::media::{G711, MediaError, MediaIn, MediaOut, MediaSession};
use crate::recordings::CallRecording;
use crate::tools::ToolOutcome;
use crate::voice::{McpOutcome, VoiceCommand, VoiceConfig, VoiceError, VoiceEvent, VoiceSession};

/// Caller audio kept while the backend connects and configures: 2 s, then the oldest goes.
const EARLY_AUDIO_FRAMES: usize = 100;
/// How long a carrier's stream may stay quiet before the call is taken as lost.
const CARRIER_SILENCE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the backend may take to confirm the session's configuration.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// On a call Switchboard placed, the callee speaks first ("Hello?"); if they say nothing
/// for this long after the line opens, the agent greets them.
const OUTBOUND_GREETING_AFTER: std::time::Duration = std::time::Duration::from_millis(2500);
/// Agent audio (and marks) held while a carrier restarts the stream: 10 s of 20 ms frames.
const HELD_FRAMES: usize = 500;
/// Beyond the keys' own time, how long a carrier may take to stream a call again after
/// restarting its stream to press them.
const RESUME_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);
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
    /// The carrier took the caller to a transfer target (the reason says which): the call
    /// goes on there, so it is not hung up.
    Transferred(String),
}

/// What happens once the last thing said has been heard.
#[derive(Debug)]
enum AfterHeard {
    /// The call ends, for this reason.
    HangUp(String),
    /// The caller goes to this target (cold: at once; warm: once the person, told `summary`,
    /// is ready).
    Transfer {
        target: crate::domain::TransferTarget,
        summary: String,
    },
}

/// Who speaks first on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// The agent greets as soon as the session is ready (a call it answered).
    AgentFirst,
    /// The agent waits for the other side, and greets after a silence (a call it placed).
    OtherSideFirst,
}

/// Runs a call's bridge to the end. `call` is live and `agent` is its agent; the carrier
/// stream has started. Returns when both sides are closed and the record is complete.
pub async fn run<C: MediaSession + 'static>(engine: Engine, call: Call, agent: Agent, carrier: C) {
    let opening = match call.direction {
        CallDirection::Outbound => Opening::OtherSideFirst,
        CallDirection::Inbound | CallDirection::Test => Opening::AgentFirst,
    };
    run_with(engine, call, agent, carrier, opening).await;
}

/// `run`, with who speaks first chosen by the caller (a test call behaves as either).
pub async fn run_with<C: MediaSession + 'static>(
    engine: Engine,
    call: Call,
    agent: Agent,
    mut carrier: C,
    opening: Opening,
) {
    let (_registration, mut control, tap) = match engine.live_calls().register(&call.id, &agent.id)
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(call_id = %call.id, "{e}; closing the new stream");
            carrier.close("this call already has a media stream").await;
            return;
        }
    };
    let started = Instant::now();
    let call = mark_answered(&engine, call).await;
    let tool_secrets = tools::secrets_for(&engine, &agent).await;
    let (mcp, mcp_left_out) = tools::mcp_declared(&call, &agent, &tool_secrets);
    let mut recording = match (agent.record_calls, agent.recording_source) {
        (true, RecordingSource::Switchboard) => CallRecording::start(&engine, &call).await,
        (true, RecordingSource::Carrier) => {
            crate::calls::recording::start_at_carrier(&engine, &call);
            None
        }
        (false, _) => None,
    };
    // Said first when the call is recorded (a greeting starts with it; on a call where the
    // other side speaks first, the agent is told to).
    let disclosure = (agent.record_calls
        && (recording.is_some() || agent.recording_source == RecordingSource::Carrier))
        .then(|| agent.recording_disclosure.clone())
        .filter(|d| !d.is_empty());
    let mut instructions = crate::calls::context::instructions_for(&engine, &agent, &call).await;
    if let Some(d) = &disclosure {
        instructions.push_str(&format!(
            "\n\nThis call is recorded. Unless you have already said it, begin your first \
             reply with exactly: \"{d}\""
        ));
    }
    let config = VoiceConfig {
        model: agent.model.clone(),
        voice: agent.voice.clone(),
        instructions,
        replies: true,
        tools: tools::declared(&agent, call.direction == CallDirection::Outbound),
        mcp,
    };
    // The operator's transcriber, should someone take the call over: it only listens.
    let operator_config = VoiceConfig {
        instructions: "You are listening to a person from the business speaking on a phone \
                       call. Never respond."
            .into(),
        replies: false,
        tools: Vec::new(),
        mcp: Vec::new(),
        ..config.clone()
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
                    if let Some(r) = &mut recording {
                        r.caller(&a.bytes());
                    }
                    if early.len() == EARLY_AUDIO_FRAMES {
                        early.pop_front();
                    }
                    early.push_back(a);
                }
                Ok(MediaIn::Stop) | Err(MediaError::Closed(_)) => {
                    finish_recording(&engine, recording).await;
                    finish(&engine, &call, End::StreamStopped, None).await;
                    return;
                }
                Err(MediaError::Failed(why)) => {
                    carrier.close(&why).await;
                    finish_recording(&engine, recording).await;
                    finish(&engine, &call, End::Ours(why), None).await;
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
            finish_recording(&engine, recording).await;
            finish(&engine, &call, End::Backend(e), failed).await;
            return;
        }
    };
    let transcript = spawn_transcript_writer(&engine, &call.id);
    for label in mcp_left_out {
        let line = format!(
            "MCP server {label} was left out: a tool secret its headers name is not set \
             (Settings → Tool secrets)."
        );
        let _ = transcript.try_send((Speaker::System, line, Timestamp::now()));
    }
    let said_first = match &disclosure {
        Some(d) => format!("{d} {}", agent.greeting).trim().to_owned(),
        None => agent.greeting.clone(),
    };
    let greeting = match opening {
        Opening::AgentFirst => (!said_first.trim().is_empty()).then_some(Greeting::Now(said_first)),
        Opening::OtherSideFirst => Some(Greeting::AfterSilence(said_first)),
    };
    let mut bridge = Bridge {
        carrier,
        voice,
        playback: Playback::default(),
        ready: false,
        early,
        greeting,
        greet_at: None,
        after_heard: None,
        responding: false,
        tools: ToolDesk::new(
            &agent,
            &call.id,
            tool_secrets,
            (call.direction == CallDirection::Outbound).then(|| tools::OptOut {
                engine: engine.clone(),
                number: call.to_number.clone(),
                call_id: call.id.clone(),
            }),
        ),
        pending_instructions: 0,
        transcript,
        spoke: SpokeAt::default(),
        tap,
        operator: None,
        operator_config,
        warm: None,
        agent_name: agent.name.clone(),
        resuming: None,
        held: VecDeque::new(),
        recording,
    };
    let end = bridge.run(&engine, &call, &mut control).await;
    tracing::info!(call_id = %call.id, secs = started.elapsed().as_secs(), end = ?end, "bridge ended");
    if let Some(warm) = bridge.warm.take() {
        warm.abandon(&engine, &call, "the call ended first").await;
    }
    let Bridge {
        carrier,
        voice,
        recording,
        ..
    } = bridge;
    finish_recording(&engine, recording).await;
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
        // The call goes on at the carrier, with the person it was transferred to.
        End::Transferred(reason) => {
            voice.close().await;
            carrier.close(reason).await;
            None
        }
    };
    finish(&engine, &call, end, hang_up_failed).await;
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
    /// A last message is being said (a voicemail, the agent's goodbye, its word that it
    /// transfers the caller): what happens once it has all been heard.
    after_heard: Option<AfterHeard>,
    /// A response is under way (so a keypad press must not ask for another).
    responding: bool,
    /// The agent's tools for this call: requests under way, outputs not yet given.
    tools: ToolDesk,
    /// Instruction updates sent and not yet confirmed by the backend.
    pending_instructions: usize,
    transcript: mpsc::Sender<(Speaker, String, Timestamp)>,
    /// When each item's speech began, for its transcript line's time.
    spoke: SpokeAt,
    /// Listen-in: both sides mixed for whoever listens (free when nobody does).
    tap: Tap,
    /// Set while an operator has the call (and until the agent is told what was said).
    operator: Option<TakeOver>,
    operator_config: VoiceConfig,
    /// A warm transfer under way: the person is being called while the caller stays here.
    warm: Option<transfer::Warm>,
    /// The agent's name, as a warm transfer introduces it to the person.
    agent_name: String,
    /// Keys were pressed by a carrier that restarts the stream to do it: until then the new
    /// stream must come, and the old one is neither read nor fed.
    resuming: Option<tokio::time::Instant>,
    /// Agent audio waiting for the new stream.
    held: VecDeque<MediaOut>,
    /// The call's recording, when its agent records calls.
    recording: Option<CallRecording>,
}

impl<C: MediaSession + 'static, V: VoiceSession> Bridge<C, V> {
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
                m = self.carrier.recv(), if self.resuming.is_none() => {
                    heard_at = Instant::now();
                    self.on_carrier(engine, call, m).await
                }
                _ = watchdog.tick() => {
                    if heard_at.elapsed() >= CARRIER_SILENCE && self.resuming.is_none() {
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
                () = sleep_until_some(self.warm.as_ref().map(|w| w.deadline)), if self.warm.is_some() => {
                    match self.warm.take() {
                        Some(warm) => {
                            let next = warm.timed_out(engine, call).await;
                            self.transfer_next(call, next).await
                        }
                        None => Ok(()),
                    }
                }
                Some(c) = control.recv() => {
                    if matches!(c, Control::Resume(_)) {
                        heard_at = Instant::now();
                    }
                    self.on_control(engine, call, c).await
                }
                () = sleep_until_some(self.resuming), if self.resuming.is_some() => Err(End::Ours(
                    "the carrier did not stream the call again after pressing keys".into(),
                )),
                Some(done) = self.tools.next_done(), if self.tools.is_running() => match done {
                    Ok((call_id, name, outcome)) => {
                        self.on_tool_outcome(engine, call, call_id, &name, outcome).await
                    }
                    Err(e) => {
                        tracing::error!(call_id = %call.id, error = %e, "a tool request's task failed");
                        Ok(())
                    }
                },
                o = operator_event(&mut self.operator) => self.on_operator(call, o).await,
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

    async fn on_carrier(
        &mut self,
        engine: &Engine,
        call: &Call,
        m: Result<MediaIn, MediaError>,
    ) -> Result<(), End> {
        match m {
            Ok(MediaIn::Audio(audio)) => {
                // Decoding costs; with nobody listening in and no recording, it is skipped.
                let heard = self.tap.listeners() > 0;
                if heard || self.recording.is_some() {
                    let bytes = audio.bytes();
                    if heard {
                        self.tap.caller(&bytes);
                    }
                    if let Some(r) = &mut self.recording {
                        r.caller(&bytes);
                    }
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
                self.end_if_message_heard(engine, call).await?;
            }
            Ok(MediaIn::Dtmf(digit)) => {
                let text = format!("(The caller pressed {digit} on their keypad.)");
                self.voice
                    .send(VoiceCommand::CallerText(text))
                    .await
                    .map_err(End::Backend)?;
                if !self.responding && self.operator.is_none() {
                    self.voice
                        .send(VoiceCommand::Respond)
                        .await
                        .map_err(End::Backend)?;
                }
            }
            Ok(MediaIn::Stop) | Err(MediaError::Closed(_)) => return Err(End::StreamStopped),
            // The call's audio source itself failed (a local device lost): end the call and
            // say why on its record.
            Err(MediaError::Failed(why)) => return Err(End::Ours(why)),
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
            // While an operator has the call the agent is silent: a response cut short by the
            // take over may still send some.
            VoiceEvent::Audio { .. } | VoiceEvent::AudioDone { .. } if self.operator.is_some() => {}
            VoiceEvent::Audio { item_id, .. } if self.playback.is_cut(&item_id) => {}
            VoiceEvent::Audio { item_id, audio } => {
                let new_item = !self.playback.is_current(&item_id);
                if new_item {
                    self.spoke.start(item_id.clone());
                }
                let heard = self.tap.listeners() > 0;
                if heard || self.recording.is_some() {
                    let bytes = audio.bytes();
                    if heard {
                        self.tap.agent(&bytes);
                    }
                    if let Some(r) = &mut self.recording {
                        r.agent(&bytes, new_item);
                    }
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
                if self.operator.is_some() {
                    // Nothing of the agent's plays; a clear would cut the operator off.
                    return Ok(());
                }
                if let Some(audio_end_ms) = self.cut_agent().await? {
                    tracing::debug!(call_id = %call.id, audio_end_ms, "caller barged in");
                }
            }
            VoiceEvent::ResponseStarted => {
                self.responding = true;
                if self.operator.is_some() {
                    // Asked for before the pause took effect: the operator speaks now.
                    self.voice
                        .send(VoiceCommand::Cancel)
                        .await
                        .map_err(End::Backend)?;
                }
            }
            VoiceEvent::ResponseDone => {
                self.responding = false;
                self.hand_over_tool_outputs().await?;
                self.end_if_message_heard(engine, call).await?;
            }
            VoiceEvent::ToolCall {
                call_id,
                name,
                arguments,
            } => {
                self.on_tool_call(engine, call, call_id, name, arguments)
                    .await?
            }
            VoiceEvent::CallerSaid { item_id, text } => {
                let at = self.spoke.take(item_id.as_deref());
                if let Some(op) = &mut self.operator {
                    op.said(at, Speaker::Caller, &text);
                }
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
            VoiceEvent::McpCalled {
                server,
                name,
                arguments,
                outcome,
            } => {
                let tool = format!("{server}.{name}");
                let now = Timestamp::now();
                let asked = self.tools.masked(&format!("{tool}({})", arguments.trim()));
                self.transcribe(call, Speaker::Tool, asked, now);
                let (ok, line) = match &outcome {
                    McpOutcome::Answered(output) => (
                        true,
                        format!("{tool} → {}", crate::tools::summarize(output)),
                    ),
                    McpOutcome::Failed(why) => (false, format!("{tool} failed: {why}")),
                };
                let line = self.tools.masked(&line);
                tracing::info!(call_id = %call.id, %tool, ok, "the backend called an MCP tool");
                tools::record(engine, call, &tool, ok, std::time::Duration::ZERO);
                self.transcribe(call, Speaker::Tool, line, now);
            }
            VoiceEvent::McpUnavailable { server } => {
                tracing::warn!(call_id = %call.id, %server, "an MCP server's tools could not be listed");
                let line = format!(
                    "The tools of MCP server {server} could not be listed; the agent goes on without them."
                );
                self.transcribe(call, Speaker::System, line, Timestamp::now());
            }
            VoiceEvent::Warning(message) => {
                tracing::warn!(call_id = %call.id, %message, "voice backend reported a problem");
            }
        }
        Ok(())
    }

    async fn on_control(&mut self, engine: &Engine, call: &Call, c: Control) -> Result<(), End> {
        match c {
            Control::TakeOver { voice } => self.take_over(engine, call, voice).await,
            Control::HandBack => {
                self.hand_back(call);
                Ok(())
            }
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
                self.after_heard = Some(AfterHeard::HangUp(
                    "left the campaign's voicemail message".into(),
                ));
                self.responding = true;
                Ok(())
            }
            Control::Resume(NewStream(stream)) => {
                let Ok(stream) = stream.downcast::<C>() else {
                    tracing::warn!(call_id = %call.id, "a resumed stream of another carrier; dropped");
                    return Ok(());
                };
                if self.resuming.take().is_none() {
                    tracing::warn!(call_id = %call.id, "a resumed stream nobody waited for; closed");
                    stream.close("this call's stream was not restarted").await;
                    return Ok(());
                }
                let old = std::mem::replace(&mut self.carrier, *stream);
                old.close("the call's stream was restarted").await;
                tracing::info!(call_id = %call.id, held = self.held.len(), "the call's stream is back");
                while let Some(out) = self.held.pop_front() {
                    self.feed_carrier(out).await?;
                }
                self.flush_carrier().await
            }
            Control::Transfer { leg, news } => {
                let Some(warm) = self.warm.as_mut().filter(|w| w.concerns(&leg)) else {
                    tracing::info!(call_id = %call.id, %leg, ?news, "news of a transfer no longer under way");
                    if news == crate::live::LegNews::Ready {
                        transfer::drop_leg(engine, call, &leg, true).await;
                    }
                    return Ok(());
                };
                let next = warm.news(engine, call, news).await;
                if !matches!(next, transfer::Next::Goes(_)) {
                    self.warm = None;
                }
                self.transfer_next(call, next).await
            }
        }
    }

    /// Carries out what a transfer came to: a transcript line, the bridge's end (the caller
    /// is with the person), or the agent told it failed.
    async fn transfer_next(&mut self, call: &Call, next: transfer::Next) -> Result<(), End> {
        match next {
            transfer::Next::Goes(line) => {
                if let Some(line) = line {
                    self.transcribe(call, Speaker::System, line, Timestamp::now());
                }
                Ok(())
            }
            transfer::Next::Transferred { line, reason } => {
                self.transcribe(call, Speaker::System, line, Timestamp::now());
                Err(End::Transferred(reason))
            }
            transfer::Next::Failed { line, note } => {
                self.transcribe(call, Speaker::Tool, line, Timestamp::now());
                self.tools.note(note);
                self.hand_over_tool_outputs().await
            }
        }
    }

    /// Stops the agent's audio where the caller stopped hearing it: the carrier's queue and
    /// the tap are cleared and the backend is told how much was heard. Returns that (ms) when
    /// something was still playing.
    async fn cut_agent(&mut self) -> Result<Option<u64>, End> {
        let Some((item_id, audio_end_ms)) = self.playback.interrupt(Instant::now()) else {
            return Ok(None);
        };
        self.tap.clear_agent();
        if let Some(r) = &mut self.recording {
            r.cut(audio_end_ms);
        }
        self.feed_carrier(MediaOut::Clear).await?;
        self.flush_carrier().await?;
        self.voice
            .send(VoiceCommand::Truncate {
                item_id,
                audio_end_ms,
            })
            .await
            .map_err(End::Backend)?;
        Ok(Some(audio_end_ms))
    }

    /// An operator takes the call: the agent falls silent (what it was saying is cut where the
    /// caller stopped hearing it) and stops answering; the operator's voice goes to the caller.
    async fn take_over(
        &mut self,
        engine: &Engine,
        call: &Call,
        voice: mpsc::Receiver<G711>,
    ) -> Result<(), End> {
        if let Some(op) = &mut self.operator {
            if op.is_handing_back() {
                // Taken again before the agent was back: it stays paused, and will hear all.
                let earlier = op.take_said();
                let mut again =
                    TakeOver::start(engine, &call.id, self.operator_config.clone(), voice);
                again.inherit(earlier);
                self.operator = Some(again);
            } else {
                op.replace_voice(voice);
            }
            return Ok(());
        }
        self.greet_at = None;
        self.greeting = None;
        self.voice
            .send(VoiceCommand::Pause)
            .await
            .map_err(End::Backend)?;
        if self.responding {
            self.voice
                .send(VoiceCommand::Cancel)
                .await
                .map_err(End::Backend)?;
        }
        self.cut_agent().await?;
        self.operator = Some(TakeOver::start(
            engine,
            &call.id,
            self.operator_config.clone(),
            voice,
        ));
        tracing::info!(call_id = %call.id, "an operator took the call over");
        self.transcribe(
            call,
            Speaker::System,
            "An operator took the call over.".into(),
            Timestamp::now(),
        );
        Ok(())
    }

    /// The operator lets go; the agent resumes once their last words are transcribed.
    fn hand_back(&mut self, call: &Call) {
        if let Some(op) = &mut self.operator
            && !op.is_handing_back()
        {
            op.hand_back();
            tracing::info!(call_id = %call.id, "the operator handed the call back");
            self.transcribe(
                call,
                Speaker::System,
                "The operator handed the call back to the agent.".into(),
                Timestamp::now(),
            );
        }
    }

    async fn on_operator(&mut self, call: &Call, event: OperatorEvent) -> Result<(), End> {
        match event {
            OperatorEvent::Voice(Some(frame)) => {
                if let Some(op) = &self.operator {
                    op.transcribe(frame.clone());
                }
                if let Some(r) = &mut self.recording {
                    r.agent(&frame.bytes(), false);
                }
                self.feed_carrier(MediaOut::Audio(frame)).await?;
                self.flush_carrier().await?;
            }
            // Their microphone went: the agent takes the call back rather than leave silence.
            OperatorEvent::Voice(None) => self.hand_back(call),
            OperatorEvent::Heard(Heard::Line(text, at)) => {
                if let Some(op) = &mut self.operator {
                    op.said(at, Speaker::Operator, &text);
                }
                self.transcribe(call, Speaker::Operator, text, at);
            }
            OperatorEvent::Heard(Heard::Unavailable(why)) => self.transcribe(
                call,
                Speaker::System,
                format!("The operator's words could not be transcribed: {why}"),
                Timestamp::now(),
            ),
            OperatorEvent::Done => {
                let Some(op) = self.operator.take() else {
                    return Ok(());
                };
                for command in [
                    VoiceCommand::Resume,
                    VoiceCommand::Note(op.note()),
                    VoiceCommand::Respond,
                ] {
                    self.voice.send(command).await.map_err(End::Backend)?;
                }
            }
        }
        Ok(())
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

    /// The model calls a tool: a transcript line, then the request runs beside the call (its
    /// wait message said meanwhile), or Switchboard's own action is taken.
    async fn on_tool_call(
        &mut self,
        engine: &Engine,
        call: &Call,
        call_id: String,
        name: String,
        arguments: String,
    ) -> Result<(), End> {
        let line = self.tools.masked(&format!("{name}({})", arguments.trim()));
        self.transcribe(call, Speaker::Tool, line, Timestamp::now());
        match self.tools.call(call_id.clone(), name.clone(), &arguments) {
            Called::Refused(outcome) => {
                self.on_tool_outcome(engine, call, call_id, &name, outcome)
                    .await
            }
            Called::Running { wait } => {
                if let Some(words) = wait
                    && !self.responding
                    && self.operator.is_none()
                {
                    self.voice
                        .send(VoiceCommand::Hold(words))
                        .await
                        .map_err(End::Backend)?;
                    self.responding = true;
                }
                Ok(())
            }
            Called::Builtin(BuiltinTool::TransferCall) => {
                let target = if self.warm.is_some() || self.after_heard.is_some() {
                    Err(ToolOutcome::refused(
                        "a transfer is already under way: wait to be told how it went",
                    ))
                } else {
                    self.tools.transfer_target(&arguments)
                };
                match target {
                    Err(outcome) => {
                        self.on_tool_outcome(engine, call, call_id, &name, outcome)
                            .await
                    }
                    Ok((target, summary)) => {
                        tracing::info!(call_id = %call.id, to = %target.to, "the agent transfers the call");
                        tools::record(engine, call, &name, true, std::time::Duration::ZERO);
                        self.tools.output(call_id, tools::transfer_output(&target));
                        let line = format!("transfer_call → to {} ({})", target.name, target.to);
                        self.transcribe(call, Speaker::Tool, line, Timestamp::now());
                        self.after_heard = Some(AfterHeard::Transfer { target, summary });
                        self.hand_over_tool_outputs().await
                    }
                }
            }
            Called::Builtin(BuiltinTool::SendDtmf) => {
                let outcome = self.press_keys(engine, call, &arguments).await?;
                self.on_tool_outcome(engine, call, call_id, &name, outcome)
                    .await
            }
            Called::Builtin(BuiltinTool::EndCall) => {
                tracing::info!(call_id = %call.id, "the agent ends the call");
                tools::record(engine, call, "end_call", true, std::time::Duration::ZERO);
                self.tools.output(call_id, tools::end_call_output());
                // The goodbye is the last thing said: the call ends once it has been heard.
                self.after_heard = Some(AfterHeard::HangUp("the agent ended the call".into()));
                let line = "end_call → the call ends after the goodbye".to_owned();
                self.transcribe(call, Speaker::Tool, line, Timestamp::now());
                self.hand_over_tool_outputs().await
            }
        }
    }

    /// `send_dtmf`: the keys checked, then pressed through the carrier. A carrier that ends
    /// the stream to press them streams the call again: the session waits for the new stream
    /// (the old one is no longer read or fed).
    async fn press_keys(
        &mut self,
        engine: &Engine,
        call: &Call,
        arguments: &str,
    ) -> Result<ToolOutcome, End> {
        let started = Instant::now();
        let args: serde_json::Value = serde_json::from_str(arguments).unwrap_or_default();
        let digits =
            match crate::domain::tool::check_digits(args["digits"].as_str().unwrap_or_default()) {
                Ok(d) => d,
                Err(why) => return Ok(ToolOutcome::refused(format!("digits: {why}"))),
            };
        if self.resuming.is_some() {
            return Ok(ToolOutcome::refused(
                "the last keys are still being pressed: wait a moment",
            ));
        }
        let api = match engine.carriers().get(call.carrier) {
            Ok(api) => api,
            Err(e) => {
                return Ok(ToolOutcome::refused(format!(
                    "the keys could not be pressed: {e}"
                )));
            }
        };
        let Some(public) = engine.public() else {
            return Ok(ToolOutcome::refused(
                "the keys could not be pressed: no public URL is set",
            ));
        };
        match api.send_digits(call, &digits, &public).await {
            Ok(pressed) => {
                if pressed == crate::telephony::KeysPressed::StreamRestarts {
                    // The old stream is going: the agent's words wait for the new one, and
                    // what the old one had not played yet is cut (it is lost with it).
                    let pauses: u64 = digits
                        .chars()
                        .map(|c| match c {
                            'w' => 500,
                            'W' => 1_000,
                            _ => 300,
                        })
                        .sum();
                    self.resuming = Some(
                        tokio::time::Instant::now()
                            + RESUME_WITHIN
                            + std::time::Duration::from_millis(pauses),
                    );
                    self.cut_agent().await?;
                }
                tracing::info!(call_id = %call.id, %digits, "keys pressed");
                Ok(ToolOutcome::pressed(&digits, started))
            }
            Err(e) => {
                tracing::warn!(call_id = %call.id, error = %e, "keys not pressed");
                Ok(ToolOutcome::refused(format!(
                    "the keys could not be pressed: {e}"
                )))
            }
        }
    }

    async fn on_tool_outcome(
        &mut self,
        engine: &Engine,
        call: &Call,
        call_id: String,
        name: &str,
        outcome: ToolOutcome,
    ) -> Result<(), End> {
        let line = self
            .tools
            .masked(&tools::outcome_line(&call.id, name, &outcome));
        tools::record(engine, call, name, outcome.ok, outcome.elapsed);
        self.transcribe(call, Speaker::Tool, line, Timestamp::now());
        self.tools.output(call_id, outcome.output);
        self.hand_over_tool_outputs().await
    }

    /// Gives the model the tool outputs waiting, once no response is under way, and asks it
    /// to go on (unless an operator has the call: the agent stays quiet until handed back).
    async fn hand_over_tool_outputs(&mut self) -> Result<(), End> {
        if self.responding || !self.tools.has_outputs() {
            return Ok(());
        }
        for (call_id, output) in self.tools.take_outputs() {
            self.voice
                .send(VoiceCommand::ToolResult { call_id, output })
                .await
                .map_err(End::Backend)?;
        }
        for note in self.tools.take_notes() {
            self.voice
                .send(VoiceCommand::Note(note))
                .await
                .map_err(End::Backend)?;
        }
        if self.operator.is_none() {
            self.voice
                .send(VoiceCommand::Respond)
                .await
                .map_err(End::Backend)?;
            self.responding = true;
        }
        Ok(())
    }

    /// After a last message, once its last word has been played: the call ends, or the
    /// caller is transferred (a transfer the carrier refuses leaves the caller with the agent,
    /// told why).
    async fn end_if_message_heard(&mut self, engine: &Engine, call: &Call) -> Result<(), End> {
        // Checked on every mark: nothing pending is the common case, and the cheapest test.
        if self.after_heard.is_none() || self.responding || !self.playback.all_heard() {
            return Ok(());
        }
        match self.after_heard.take() {
            None => Ok(()),
            Some(AfterHeard::HangUp(reason)) => Err(End::Ours(reason)),
            Some(AfterHeard::Transfer { target, summary }) if target.warm => {
                match transfer::start_warm(engine, call, &target, &self.agent_name, &summary).await
                {
                    Ok((warm, line)) => {
                        self.warm = Some(warm);
                        self.transfer_next(call, transfer::Next::Goes(Some(line)))
                            .await
                    }
                    Err(next) => self.transfer_next(call, next).await,
                }
            }
            Some(AfterHeard::Transfer { target, .. }) => {
                let next = transfer::cold(engine, call, &target).await;
                self.transfer_next(call, next).await
            }
        }
    }

    async fn feed_carrier(&mut self, out: MediaOut) -> Result<(), End> {
        if self.resuming.is_some() {
            // The agent's words while the carrier restarts the stream: 10 s at most.
            if self.held.len() < HELD_FRAMES {
                self.held.push_back(out);
            }
            return Ok(());
        }
        self.carrier.feed(out).await.map_err(|_| End::StreamStopped)
    }

    async fn flush_carrier(&mut self) -> Result<(), End> {
        if self.resuming.is_some() {
            return Ok(());
        }
        self.carrier.flush().await.map_err(|_| End::StreamStopped)
    }

    fn transcribe(&self, call: &Call, speaker: Speaker, text: String, at: Timestamp) {
        if self.transcript.try_send((speaker, text, at)).is_err() {
            tracing::error!(call_id = %call.id, "transcript queue full; a line was dropped");
        }
    }
}

/// The operator's side of a call taken over; never ready when nobody has it.
async fn operator_event(operator: &mut Option<TakeOver>) -> OperatorEvent {
    match operator {
        Some(op) => op.next().await,
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
    let e = crate::calls::hang_up::at_carrier(engine, call)
        .await
        .err()?;
    tracing::error!(call_id = %call.id, error = %e, "the carrier could not hang up the call");
    Some(format!("the carrier could not hang up: {e}"))
}

async fn finish_recording(engine: &Engine, recording: Option<CallRecording>) {
    if let Some(r) = recording {
        r.finish(engine).await;
    }
}

async fn finish(engine: &Engine, call: &Call, end: End, hang_up_failed: Option<String>) {
    let cause = match &end {
        End::StreamStopped => None,
        End::Backend(e) => Some(e.to_string()),
        End::Ours(reason) | End::Transferred(reason) => Some(reason.clone()),
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

//! This machine's microphone and speakers as a call's media session, so a test call runs
//! through the very bridge a phone call does. What the microphone hears (echo-cancelled,
//! phone band) goes to the agent as μ-law frames, as a caller's would; the agent's audio goes
//! to the speakers, and the marks the bridge sends come back when the speakers have actually
//! played up to them, so a barge-in cuts the agent where the user stopped hearing it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::audio::Duplex;
use crate::media::codec::{MULAW_SILENCE, mulaw_to_pcm, pcm_to_mulaw};
use crate::media::frame::TELEPHONY_FRAME_SAMPLES;
use crate::media::{G711, MediaError, MediaIn, MediaOut, MediaSession};

pub struct LocalSession {
    duplex: Duplex,
    muted: Arc<AtomicBool>,
    /// Marks not yet reached, with the playback position (agent samples) each stands at.
    marks: VecDeque<(u64, String)>,
    /// Messages fed and not yet flushed.
    out: Vec<MediaOut>,
    /// Microphone audio read and not yet sent as a whole frame.
    heard: Vec<i16>,
}

impl LocalSession {
    pub fn new(duplex: Duplex, muted: Arc<AtomicBool>) -> Self {
        Self {
            duplex,
            muted,
            marks: VecDeque::new(),
            out: Vec::new(),
            heard: Vec::with_capacity(2 * TELEPHONY_FRAME_SAMPLES),
        }
    }

    /// The first mark the speakers have played up to, if any.
    fn reached_mark(&mut self) -> Option<String> {
        let played = self.duplex.played();
        if self.marks.front().is_some_and(|(at, _)| *at <= played) {
            let (at, name) = self.marks.pop_front()?;
            tracing::trace!(%name, at, played, "the speakers reached a mark");
            return Some(name);
        }
        None
    }

    fn frame(&mut self) -> G711 {
        let mut mulaw = [MULAW_SILENCE; TELEPHONY_FRAME_SAMPLES];
        if !self.muted.load(Ordering::Relaxed) {
            pcm_to_mulaw(&self.heard[..TELEPHONY_FRAME_SAMPLES], &mut mulaw);
        }
        self.heard.drain(..TELEPHONY_FRAME_SAMPLES);
        G711::from_bytes(&mulaw)
    }
}

impl MediaSession for LocalSession {
    async fn recv(&mut self) -> Result<MediaIn, MediaError> {
        if let Some(mark) = self.reached_mark() {
            return Ok(MediaIn::Mark(mark));
        }
        while self.heard.len() < TELEPHONY_FRAME_SAMPLES {
            // Cancel-safe: what `capture` returned is kept in `heard` before the next await.
            let more = self
                .duplex
                .capture(TELEPHONY_FRAME_SAMPLES - self.heard.len())
                .await
                .map_err(|e| MediaError::Failed(e.to_string()))?;
            self.heard.extend_from_slice(&more);
        }
        Ok(MediaIn::Audio(self.frame()))
    }

    async fn feed(&mut self, out: MediaOut) -> Result<(), MediaError> {
        self.out.push(out);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), MediaError> {
        for out in std::mem::take(&mut self.out) {
            match out {
                MediaOut::Audio(audio) => {
                    let mulaw = audio.bytes();
                    let mut pcm = vec![0i16; mulaw.len()];
                    mulaw_to_pcm(&mulaw, &mut pcm);
                    self.duplex.play(&pcm);
                }
                MediaOut::Mark(name) => {
                    // Where playback will be once everything queued so far has been played.
                    let at = self.duplex.played() + self.duplex.pending();
                    tracing::trace!(%name, at, "mark queued");
                    self.marks.push_back((at, name));
                }
                MediaOut::Clear => {
                    self.duplex.clear();
                    // As a carrier does: cleared audio's marks come back at once. The bridge
                    // has already taken the heard position, so they only settle its books.
                    let played = self.duplex.played();
                    for (at, _) in &mut self.marks {
                        *at = played;
                    }
                }
            }
        }
        Ok(())
    }

    async fn close(self, _reason: &str) {
        // Dropping the duplex stops both streams and its worker.
        drop(self.duplex);
    }
}

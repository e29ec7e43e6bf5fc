//! What is done about the speaker being heard by the microphone: WebRTC echo cancellation
//! (sonora, default), nothing (headphones), or half duplex (the microphone is gated while the
//! agent speaks). The canceller runs on the worker thread, never in a device callback.

use sonora::config::{EchoCanceller, HighPassFilter, NoiseSuppression, NoiseSuppressionLevel};
use sonora::{AudioProcessing, Config, StreamConfig};

/// The choices (echo cancellation, headphones, half duplex) are the domain's: a setting and
/// a test call's option.
pub use crate::domain::EchoMode;

/// How long the half-duplex gate stays shut after the agent stops: the room's and the
/// device's tail of the last syllable.
pub const HALF_DUPLEX_HANGOVER_MS: u32 = 150;

/// The half-duplex gate: open (pass the microphone) only once agent audio has been silent for
/// the hangover.
#[derive(Debug, Clone)]
pub struct HalfDuplexGate {
    hangover: usize,
    /// Samples still to wait (at the capture rate) before the gate opens.
    closed_for: usize,
}

impl HalfDuplexGate {
    pub fn new(rate: u32) -> Self {
        Self {
            hangover: (rate as usize) * HALF_DUPLEX_HANGOVER_MS as usize / 1000,
            closed_for: 0,
        }
    }

    /// One capture frame of `len` samples: `agent_playing` says whether agent audio is being
    /// played now. Returns whether this frame may pass.
    pub fn pass(&mut self, agent_playing: bool, len: usize) -> bool {
        if agent_playing {
            self.closed_for = self.hangover;
            return false;
        }
        if self.closed_for == 0 {
            return true;
        }
        self.closed_for = self.closed_for.saturating_sub(len);
        false
    }
}

/// sonora's processor at the devices' rates, one 10 ms mono frame at a time.
pub struct Canceller {
    apm: AudioProcessing,
    capture_frame: usize,
    render_frame: usize,
    scratch: Vec<f32>,
}

impl Canceller {
    pub fn new(capture_rate: u32, render_rate: u32) -> Self {
        let apm = AudioProcessing::builder()
            .config(Config {
                echo_canceller: Some(EchoCanceller::default()),
                noise_suppression: Some(NoiseSuppression {
                    level: NoiseSuppressionLevel::Moderate,
                    ..Default::default()
                }),
                high_pass_filter: Some(HighPassFilter::default()),
                ..Default::default()
            })
            .capture_config(StreamConfig::new(capture_rate, 1))
            .render_config(StreamConfig::new(render_rate, 1))
            .build();
        let render_frame = (render_rate / 100) as usize;
        Self {
            apm,
            capture_frame: (capture_rate / 100) as usize,
            render_frame,
            scratch: vec![0.0; render_frame],
        }
    }

    pub fn capture_frame(&self) -> usize {
        self.capture_frame
    }

    pub fn render_frame(&self) -> usize {
        self.render_frame
    }

    /// The far end: 10 ms about to be played (`render_frame` samples).
    pub fn render(&mut self, frame: &[f32]) {
        let out = &mut self.scratch[..self.render_frame];
        // Errors are about rates and channel counts, fixed at construction; sonora fills
        // the output anyway, so there is nothing to do but carry on.
        let _ = self.apm.process_render_f32(&[frame], &mut [out]);
    }

    /// The near end: 10 ms of microphone (`capture_frame` samples) cleaned into `out`, given
    /// the render-to-capture delay.
    pub fn capture(&mut self, frame: &[f32], out: &mut [f32], delay_ms: u32) {
        // Clamping (beyond 500 ms) is reported as an error but processing goes on.
        let _ = self
            .apm
            .set_stream_delay_ms(i32::try_from(delay_ms).unwrap_or(500));
        let _ = self.apm.process_capture_f32(&[frame], &mut [out]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_shuts_while_the_agent_plays_and_for_the_hangover_after() {
        let mut gate = HalfDuplexGate::new(8_000);
        assert!(gate.pass(false, 80), "open before the agent speaks");
        assert!(!gate.pass(true, 80), "shut while the agent speaks");
        // 150 ms at 8 kHz = 1200 samples = 15 frames of 10 ms after the agent stops.
        let shut = (0..40).take_while(|_| !gate.pass(false, 80)).count();
        assert_eq!(shut, 15, "the hangover is 150 ms");
        assert!(gate.pass(false, 80));
        assert!(!gate.pass(true, 80), "shuts again at once");
    }

    #[test]
    fn the_canceller_takes_rates_devices_offer() {
        for (capture, render) in [(48_000, 48_000), (44_100, 48_000), (16_000, 44_100)] {
            let mut c = Canceller::new(capture, render);
            let far = vec![0.1; c.render_frame()];
            let near = vec![0.1; c.capture_frame()];
            let mut out = vec![0.0; c.capture_frame()];
            for _ in 0..10 {
                c.render(&far);
                c.capture(&near, &mut out, 40);
            }
            assert!(out.iter().all(|s| s.is_finite()), "{capture}/{render}");
        }
    }
}

//! The one audio frame type on the media path: interleaved 16-bit PCM with its sample rate and
//! channel count. Invariant: the sample buffer holds a whole number of samples per channel.

use std::time::Duration;

/// The telephone network's rate: G.711 is 8000 samples a second.
pub const TELEPHONY_RATE: u32 = 8000;

/// Samples in one 20 ms telephony frame, the packetisation every carrier uses for G.711.
pub const TELEPHONY_FRAME_SAMPLES: usize = 160;

/// A block of audio. Samples are interleaved when there is more than one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    data: Vec<i16>,
    sample_rate: u32,
    channels: u16,
}

impl AudioFrame {
    /// # Panics
    /// If `sample_rate` or `channels` is zero, or `data` does not hold a whole number of samples per channel:
    /// either would be a bug in the code building the frame, not bad input from outside.
    pub fn new(data: Vec<i16>, sample_rate: u32, channels: u16) -> Self {
        assert!(sample_rate > 0, "a frame has a sample rate");
        assert!(channels > 0, "a frame has at least one channel");
        assert_eq!(
            data.len() % usize::from(channels),
            0,
            "a frame holds the same number of samples in every channel"
        );
        Self {
            data,
            sample_rate,
            channels,
        }
    }

    /// A mono 8 kHz frame, as telephony audio is once decoded.
    pub fn telephony(data: Vec<i16>) -> Self {
        Self::new(data, TELEPHONY_RATE, 1)
    }

    pub fn data(&self) -> &[i16] {
        &self.data
    }

    pub fn into_data(self) -> Vec<i16> {
        self.data
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn channels(&self) -> u16 {
        self.channels
    }

    pub fn samples_per_channel(&self) -> usize {
        self.data.len() / usize::from(self.channels)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples_per_channel() as f64 / f64::from(self.sample_rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_telephony_frame_is_twenty_milliseconds() {
        let frame = AudioFrame::telephony(vec![0; TELEPHONY_FRAME_SAMPLES]);
        assert_eq!(frame.samples_per_channel(), 160);
        assert_eq!(frame.duration(), Duration::from_millis(20));
    }

    #[test]
    fn stereo_counts_samples_per_channel() {
        let frame = AudioFrame::new(vec![0; 1920], 48_000, 2);
        assert_eq!(frame.samples_per_channel(), 960);
        assert_eq!(frame.duration(), Duration::from_millis(20));
    }

    #[test]
    #[should_panic(expected = "same number of samples in every channel")]
    fn a_ragged_frame_is_refused() {
        AudioFrame::new(vec![0; 3], 48_000, 2);
    }
}

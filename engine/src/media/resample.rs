//! Sample-rate conversion for mono 16-bit audio between the rates the media path meets: 8 kHz
//! (telephony), 16 and 24 kHz (voice backends) and 44.1 and 48 kHz (sound cards). It takes a stream in
//! chunks of any length and appends output as each 20 ms block completes. Invariant: the output
//! is aligned with the input (the filter's start-up delay is trimmed, never emitted), so once
//! [`Resampler::flush`] has run, `n` input samples have produced exactly
//! `ceil(n * to / from)` output samples.
//!
//! The work is rubato's [`Fft`] resampler with both sides fixed ([`FixedSync::Both`]):
//! - our ratios are fixed and exact (1:2, 1:3, 1:6, 2:3, ...), so nothing needs the
//!   asynchronous resamplers' adjustable ratio, and the synchronous one is the cheapest of
//!   rubato's resamplers at the same (best) quality;
//! - with both sides fixed, one block is exactly one 20 ms frame of input and one 20 ms frame of
//!   output, so rubato keeps no input of its own between calls and the only buffering is ours;
//! - one FFT block of 20 ms puts the anti-aliasing cutoff at about 3.66 kHz for 8 kHz audio
//!   (G.711 carries up to 3.4 kHz) and costs a fixed delay of half a block: 10 ms of output.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// The rates [`Resampler::new`] accepts, in Hz.
pub const SUPPORTED_RATES: [u32; 5] = [8_000, 16_000, 24_000, 44_100, 48_000];

/// One processing block: 20 ms, the frame length of the whole media path.
const BLOCKS_PER_SECOND: u32 = 50;
/// [`Resampler::low_delay`]'s block: 10 ms, the sound devices' period.
const LOW_DELAY_BLOCKS_PER_SECOND: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error(
        "unsupported sample rate {0} Hz: the media path resamples between 8, 16, 24, 44.1 and 48 kHz"
    )]
    UnsupportedRate(u32),
    #[error("could not build the resampler: {0}")]
    Build(#[from] rubato::ResamplerConstructionError),
}

/// A streaming mono resampler from one supported rate to another.
#[derive(Debug)]
pub struct Resampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when both rates are the same: samples pass straight through.
    fft: Option<Fft<f32>>,
    /// Input gathered towards the next block; always `block_in` long, `filled` of it valid.
    block: Vec<f32>,
    filled: usize,
    /// Rubato's output for one block; always `block_out` long.
    output: Vec<f32>,
    /// Output samples still to drop before anything is emitted: the filter's start-up delay.
    to_trim: usize,
    consumed: u64,
    produced: u64,
}

impl Resampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        Self::with_blocks(from_hz, to_hz, BLOCKS_PER_SECOND)
    }

    /// 10 ms blocks: half the delay (5 ms of output) and output every 10 ms, for the speaker,
    /// where the delay is heard. The price is a wider filter transition (rubato's filter is one
    /// block long): from 8 kHz, 3 kHz passes at -0.1 dB and 3.4 kHz, the telephone band's top
    /// edge, at -10 dB (measured; 20 ms blocks put the cutoff at about 3.66 kHz).
    pub fn low_delay(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        Self::with_blocks(from_hz, to_hz, LOW_DELAY_BLOCKS_PER_SECOND)
    }

    fn with_blocks(
        from_hz: u32,
        to_hz: u32,
        blocks_per_second: u32,
    ) -> Result<Self, ResampleError> {
        for rate in [from_hz, to_hz] {
            if !SUPPORTED_RATES.contains(&rate) {
                return Err(ResampleError::UnsupportedRate(rate));
            }
        }
        let mut resampler = Self {
            from_hz,
            to_hz,
            fft: None,
            block: Vec::new(),
            filled: 0,
            output: Vec::new(),
            to_trim: 0,
            consumed: 0,
            produced: 0,
        };
        if from_hz != to_hz {
            let block_in = (from_hz / blocks_per_second) as usize;
            let fft = Fft::<f32>::new(
                from_hz as usize,
                to_hz as usize,
                block_in,
                1,
                FixedSync::Both,
            )?;
            // A 10 or 20 ms block of any supported rate is a whole number of rubato's minimum
            // blocks on both sides (8k:44.1k is 80:441, 48k:44.1k is 160:147, and 10 ms is
            // once or three times those), so rubato keeps the size asked for.
            debug_assert_eq!(fft.input_frames_next(), block_in);
            debug_assert_eq!(
                fft.output_frames_next(),
                (to_hz / blocks_per_second) as usize
            );
            resampler.block = vec![0.0; fft.input_frames_next()];
            resampler.output = vec![0.0; fft.output_frames_next()];
            resampler.to_trim = fft.output_delay();
            resampler.fft = Some(fft);
        }
        Ok(resampler)
    }

    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// How far the output lags the input, in output samples, before [`Resampler::flush`]:
    /// half a block (10 ms, or 5 ms for [`Resampler::low_delay`]) whenever the rates differ,
    /// none when they are the same. On top of it, input short of a whole block waits for the
    /// rest of the block.
    pub fn delay(&self) -> usize {
        self.fft.as_ref().map_or(0, |fft| fft.output_delay())
    }

    /// Feeds `input` and appends to `out` every output sample that is ready.
    ///
    /// Allocates nothing itself; `out` grows only if its capacity is short.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        if self.fft.is_none() {
            out.extend_from_slice(input);
            return;
        }
        let mut rest = input;
        while !rest.is_empty() {
            let take = (self.block.len() - self.filled).min(rest.len());
            for (slot, &sample) in self.block[self.filled..self.filled + take]
                .iter_mut()
                .zip(&rest[..take])
            {
                *slot = f32::from(sample);
            }
            self.filled += take;
            self.consumed += take as u64;
            rest = &rest[take..];
            if self.filled == self.block.len() {
                self.run_block();
                self.emit(out, u64::MAX);
            }
        }
    }

    /// Ends the stream: pushes the buffered input and the filter's tail through, padded with
    /// silence, and appends the rest of the output to `out`, so that the whole stream's output
    /// is exactly `ceil(input * to / from)` samples long. The resampler is then ready for a
    /// new stream.
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        if self.fft.is_some() {
            let expected =
                (self.consumed * u64::from(self.to_hz)).div_ceil(u64::from(self.from_hz));
            while self.produced < expected {
                self.block[self.filled..].fill(0.0);
                self.run_block();
                self.emit(out, expected);
            }
        }
        self.reset();
    }

    /// Forgets the stream so far without emitting it.
    pub fn reset(&mut self) {
        if let Some(fft) = &mut self.fft {
            fft.reset();
            self.to_trim = fft.output_delay();
        }
        self.filled = 0;
        self.consumed = 0;
        self.produced = 0;
    }

    /// Resamples the (full or zero-padded) block into `self.output`.
    fn run_block(&mut self) {
        let Some(fft) = &mut self.fft else {
            return;
        };
        // The adapters cannot fail (the buffers are exactly one mono block, sized from the
        // resampler itself when it was built), nor can `process_into_buffer`, which only checks
        // those sizes: an error here is a bug in this module.
        let input = InterleavedSlice::new(&self.block, 1, self.block.len())
            .expect("the input block is one mono block");
        let frames_out = self.output.len();
        let mut output = InterleavedSlice::new_mut(&mut self.output, 1, frames_out)
            .expect("the output block is one mono block");
        let (read, written) = fft
            .process_into_buffer(&input, &mut output, None)
            .expect("blocks are sized from the resampler's own chunk sizes");
        debug_assert_eq!((read, written), (self.block.len(), frames_out));
        self.filled = 0;
    }

    /// Appends `self.output` to `out`, less the start-up delay still to trim, stopping once
    /// `limit` samples have been produced in all.
    fn emit(&mut self, out: &mut Vec<i16>, limit: u64) {
        let skip = self.to_trim.min(self.output.len());
        self.to_trim -= skip;
        let room = usize::try_from(limit - self.produced).unwrap_or(usize::MAX);
        let ready = &self.output[skip..];
        let ready = &ready[..ready.len().min(room)];
        // `as` saturates, which is the clipping wanted for a filter's overshoot at full scale.
        out.extend(ready.iter().map(|&sample| sample.round() as i16));
        self.produced += ready.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_signal::zero_crossings;

    const TONE_HZ: f64 = 1000.0;
    const AMPLITUDE: f64 = 10_000.0;

    fn sine(frequency: f64, rate: u32, len: usize) -> Vec<i16> {
        crate::media::test_signal::sine(frequency, AMPLITUDE, rate, len)
    }

    fn rms(signal: &[i16]) -> f64 {
        let power: f64 = signal.iter().map(|&s| f64::from(s).powi(2)).sum();
        (power / signal.len() as f64).sqrt()
    }

    /// Resamples a whole signal in 20 ms chunks, as the media path does, then flushes.
    fn resample(from_hz: u32, to_hz: u32, input: &[i16]) -> Vec<i16> {
        let mut resampler = Resampler::new(from_hz, to_hz).expect("supported rates");
        let mut out = Vec::new();
        for chunk in input.chunks((from_hz / 50) as usize) {
            resampler.process(chunk, &mut out);
        }
        resampler.flush(&mut out);
        out
    }

    fn all_pairs() -> impl Iterator<Item = (u32, u32)> {
        SUPPORTED_RATES
            .into_iter()
            .flat_map(|from| SUPPORTED_RATES.into_iter().map(move |to| (from, to)))
    }

    #[test]
    fn unsupported_rates_are_refused() {
        for (from, to, bad) in [
            (22_050, 8_000, 22_050),
            (8_000, 96_000, 96_000),
            (0, 8_000, 0),
        ] {
            let error = Resampler::new(from, to).expect_err("not a media path rate");
            assert!(
                matches!(error, ResampleError::UnsupportedRate(rate) if rate == bad),
                "{from} -> {to}: {error}"
            );
        }
        assert!(
            Resampler::new(22_050, 8_000)
                .unwrap_err()
                .to_string()
                .contains("22050 Hz")
        );
    }

    #[test]
    fn one_second_in_gives_one_second_out() {
        for (from, to) in all_pairs() {
            let input = sine(TONE_HZ, from, from as usize);
            let mut resampler = Resampler::new(from, to).unwrap();
            let mut out = Vec::new();
            for chunk in input.chunks((from / 50) as usize) {
                resampler.process(chunk, &mut out);
            }
            let delay = resampler.delay();
            let expected_delay = if from == to { 0 } else { (to / 100) as usize };
            assert_eq!(delay, expected_delay, "{from} -> {to}: half a 20 ms block");
            assert_eq!(
                out.len(),
                to as usize - delay,
                "{from} -> {to}: whole blocks in, all but the trimmed delay out"
            );
            resampler.flush(&mut out);
            assert_eq!(
                out.len(),
                to as usize,
                "{from} -> {to}: flush gives the tail"
            );
        }
    }

    #[test]
    fn every_pair_keeps_a_tone_pitch_and_level() {
        for (from, to) in all_pairs() {
            let out = resample(from, to, &sine(TONE_HZ, from, from as usize));
            // 1 kHz crosses zero 2000 times a second; the ends may gain or lose one.
            let crossings = zero_crossings(&out);
            assert!(
                crossings.abs_diff(2000) <= 2,
                "{from} -> {to}: {crossings} zero crossings, a 1 kHz tone has 2000"
            );
            // Away from the edges (where the filter rings on the abrupt start and end), the
            // level is the tone's: well inside the passband, the filter is flat.
            let middle = &out[out.len() / 4..out.len() * 3 / 4];
            let level = rms(middle) / (AMPLITUDE / 2f64.sqrt());
            assert!(
                (0.97..=1.03).contains(&level),
                "{from} -> {to}: level {level:.3} of the input's"
            );
        }
    }

    #[test]
    fn up_and_back_down_returns_the_same_signal() {
        let original = sine(TONE_HZ, 8_000, 8_000);
        let up = resample(8_000, 48_000, &original);
        assert_eq!(up.len(), 48_000);
        let back = resample(48_000, 8_000, &up);
        assert_eq!(back.len(), 8_000);

        assert_eq!(zero_crossings(&back), zero_crossings(&original));
        // Trimming the delay on both legs keeps the samples aligned with the original, not
        // just the pitch: in the steady state every sample is within 1% of full amplitude.
        let worst = original[400..7_600]
            .iter()
            .zip(&back[400..7_600])
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
            .max()
            .unwrap();
        assert!(
            f64::from(worst) < AMPLITUDE * 0.01,
            "worst sample error {worst} after 8k -> 48k -> 8k"
        );
        let level = rms(&back[2_000..6_000]) / rms(&original[2_000..6_000]);
        assert!((0.97..=1.03).contains(&level), "level {level:.3}");
    }

    #[test]
    fn downsampling_filters_out_what_the_lower_rate_cannot_carry() {
        // A 6 kHz tone is above 8 kHz's Nyquist limit: without the anti-aliasing filter it
        // would fold back to 2 kHz at nearly full level.
        let out = resample(48_000, 8_000, &sine(6_000.0, 48_000, 48_000));
        let middle = &out[2_000..6_000];
        let level = rms(middle) / (AMPLITUDE / 2f64.sqrt());
        assert!(
            level < 0.01,
            "6 kHz leaked through at {level:.4} of its level"
        );
    }

    #[test]
    fn low_delay_halves_the_delay_and_keeps_the_telephone_band() {
        for to in [44_100, 48_000] {
            let mut resampler = Resampler::low_delay(8_000, to).unwrap();
            assert_eq!(resampler.delay(), (to / 200) as usize, "8000 -> {to}: 5 ms");
            let mut out = Vec::new();
            resampler.process(&sine(TONE_HZ, 8_000, 80), &mut out);
            assert_eq!(
                out.len(),
                (to / 100) as usize - resampler.delay(),
                "8000 -> {to}: one 10 ms block gives its output at once, less the delay"
            );
            for (tone, min_ratio) in [(TONE_HZ, 0.97), (3_000.0, 0.95)] {
                let mut resampler = Resampler::low_delay(8_000, to).unwrap();
                let mut out = Vec::new();
                for chunk in sine(tone, 8_000, 8_000).chunks(80) {
                    resampler.process(chunk, &mut out);
                }
                let steady = &out[(to / 10) as usize..(to / 2) as usize];
                let ratio = rms(steady) / (AMPLITUDE / 2f64.sqrt());
                let hz =
                    zero_crossings(steady) as f64 / 2.0 / (steady.len() as f64 / f64::from(to));
                eprintln!("8000 -> {to}: {tone} Hz at {ratio:.3} of its level, {hz:.0} Hz");
                assert!(
                    ratio > min_ratio && ratio < 1.03,
                    "8000 -> {to}: {tone} Hz kept at {ratio:.3} of its level"
                );
                assert!(
                    (hz - tone).abs() < tone * 0.01,
                    "8000 -> {to}: {tone} Hz came out at {hz:.0} Hz"
                );
            }
        }
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        // The bridge hands over whatever a WebSocket message held; 20 ms or 37 samples at a
        // time must give the same stream.
        for (from, to) in [(8_000, 24_000), (24_000, 16_000), (48_000, 8_000)] {
            let input = sine(TONE_HZ, from, from as usize / 2 + 13);
            let reference = resample(from, to, &input);

            let mut resampler = Resampler::new(from, to).unwrap();
            let mut out = Vec::new();
            for chunk in input.chunks(37) {
                resampler.process(chunk, &mut out);
            }
            resampler.flush(&mut out);
            assert_eq!(out, reference, "{from} -> {to}");
            let expected = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from));
            assert_eq!(
                out.len() as u64,
                expected,
                "{from} -> {to}: ceil(n * to / from)"
            );
        }
    }

    #[test]
    fn flush_leaves_the_resampler_ready_for_a_new_stream() {
        let input = sine(TONE_HZ, 16_000, 5_000);
        let mut resampler = Resampler::new(16_000, 24_000).unwrap();
        let mut first = Vec::new();
        resampler.process(&input, &mut first);
        resampler.flush(&mut first);
        let mut second = Vec::new();
        resampler.process(&input, &mut second);
        resampler.flush(&mut second);
        assert_eq!(first, second, "no state carried over from the first stream");
        assert_eq!(first, resample(16_000, 24_000, &input));
    }

    #[test]
    fn full_scale_clips_instead_of_wrapping() {
        // A full-scale square wave makes the filter overshoot past i16's range (Gibbs); the
        // overshoot must clip at the rails, not wrap to the opposite sign.
        let square: Vec<i16> = (0..8_000)
            .map(|n| {
                if (n / 40) % 2 == 0 {
                    i16::MAX
                } else {
                    i16::MIN
                }
            })
            .collect();
        let out = resample(8_000, 48_000, &square);
        let middle = &out[6_000..42_000];
        assert!(middle.contains(&i16::MAX) && middle.contains(&i16::MIN));
        for pair in middle.windows(2) {
            let jump = (i32::from(pair[0]) - i32::from(pair[1])).abs();
            assert!(
                jump < 40_000,
                "a wrap-around would jump by ~65536: {pair:?}"
            );
        }
    }

    #[test]
    fn the_resampler_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Resampler>();
    }
}

//! Sample conversion at the device edge: whatever the device speaks (any sample format, any
//! channel count) becomes mono f32 in [-1, 1] on the way in, and mono f32 is written to every
//! channel on the way out. Pure and allocation-free, so the callbacks can call it.

use cpal::{FromSample, Sample};

/// Averages each interleaved frame of `data` (`channels` samples) to one mono sample, handing
/// each to `sink` in order.
pub fn downmix<T>(data: &[T], channels: usize, mut sink: impl FnMut(f32))
where
    T: Sample,
    f32: FromSample<T>,
{
    let channels = channels.max(1);
    let scale = 1.0 / channels as f32;
    for frame in data.chunks_exact(channels) {
        let sum: f32 = frame.iter().map(|&s| f32::from_sample(s)).sum();
        sink(sum * scale);
    }
}

/// Fills `data` (interleaved, `channels` per frame) with mono samples from `source`, the same
/// sample on every channel. `source` returns `None` when it runs dry: the rest is silence.
/// Returns how many frames came from `source`.
pub fn upmix<T>(data: &mut [T], channels: usize, mut source: impl FnMut() -> Option<f32>) -> usize
where
    T: Sample + FromSample<f32>,
{
    let channels = channels.max(1);
    let mut from_source = 0;
    for frame in data.chunks_exact_mut(channels) {
        let value = match source() {
            Some(v) => {
                from_source += 1;
                v
            }
            None => 0.0,
        };
        frame.fill(T::from_sample(value));
    }
    from_source
}

/// f32 in [-1, 1] to i16, clipping (AEC and filters may overshoot a little).
pub fn to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

pub fn from_i16(x: i16) -> f32 {
    f32::from(x) / 32768.0
}

/// Level of `samples` (f32, full scale 1.0) in dBFS: (RMS, peak). A full-scale sine has an RMS
/// of -3 dBFS. Silence is reported as -120 dBFS rather than minus infinity.
pub fn level_dbfs(samples: impl IntoIterator<Item = f32>) -> (f32, f32) {
    let (mut power, mut peak, mut n) = (0.0f64, 0.0f32, 0usize);
    for s in samples {
        power += f64::from(s) * f64::from(s);
        peak = peak.max(s.abs());
        n += 1;
    }
    let rms = if n == 0 {
        0.0
    } else {
        (power / n as f64).sqrt() as f32
    };
    (dbfs(rms), dbfs(peak))
}

pub fn dbfs(amplitude: f32) -> f32 {
    (20.0 * amplitude.max(1e-6).log10()).max(-120.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_i16_downmixes_to_the_mean() {
        let data: [i16; 6] = [16384, 0, -16384, -16384, 32767, 32767];
        let mut out = Vec::new();
        downmix(&data, 2, |s| out.push(s));
        assert_eq!(out.len(), 3, "one mono sample per stereo frame");
        assert!((out[0] - 0.25).abs() < 1e-4, "{out:?}");
        assert!((out[1] + 0.5).abs() < 1e-4, "{out:?}");
        assert!((out[2] - 1.0).abs() < 1e-3, "{out:?}");
    }

    #[test]
    fn i32_and_u16_convert_to_the_same_scale() {
        let mut out = Vec::new();
        downmix(&[i32::MAX / 2], 1, |s| out.push(s));
        downmix(&[u16::MAX], 1, |s| out.push(s));
        assert!((out[0] - 0.5).abs() < 1e-4, "{out:?}");
        assert!((out[1] - 1.0).abs() < 1e-3, "{out:?}");
    }

    #[test]
    fn upmix_writes_every_channel_and_pads_with_silence() {
        let mut data = [1i16; 8];
        let mut src = [0.5f32, -0.5].into_iter();
        let got = upmix(&mut data, 2, || src.next());
        assert_eq!(got, 2);
        assert_eq!(data, [16384, 16384, -16384, -16384, 0, 0, 0, 0]);
        let mut floats = [1.0f32; 3];
        upmix(&mut floats, 3, || Some(0.25));
        assert_eq!(floats, [0.25; 3]);
    }

    #[test]
    fn i16_round_trip_and_clipping() {
        assert_eq!(to_i16(from_i16(1234)), 1234);
        assert_eq!(to_i16(1.5), i16::MAX);
        assert_eq!(to_i16(-1.5), i16::MIN);
    }

    #[test]
    fn a_full_scale_sine_is_minus_three_dbfs() {
        let sine = (0..4800).map(|n| (n as f32 * 0.1).sin());
        let (rms, peak) = level_dbfs(sine);
        assert!((rms + 3.01).abs() < 0.1, "rms {rms}");
        assert!(peak.abs() < 0.1, "peak {peak}");
        assert_eq!(level_dbfs(std::iter::empty()).0, -120.0);
    }
}

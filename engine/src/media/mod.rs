//! Call audio, carrier- and backend-independent: the media session a carrier's stream (or any
//! other source of call audio) offers the bridge, and the audio primitives (codecs, frames,
//! resampling, the listen-in tap, a call's stereo recording). Audio inside is G.711 μ-law at 8 kHz, the format carriers
//! and OpenAI Realtime share, so the bridge forwards it without transcoding. Nothing here
//! imports another module of the engine.

pub mod codec;
pub mod frame;
pub mod record;
pub mod resample;
pub mod tap;

use std::future::Future;

use base64::Engine as _;

/// The read buffer of a WebSocket carrying call audio (a carrier's media stream, a voice
/// backend's session). Media frames are a few hundred bytes, and the WebSocket library
/// zero-fills its whole read buffer on every read (128 KiB by default), which at 50 frames a
/// second per call was a quarter of the engine's CPU; 4 KiB holds any frame in one read.
pub const WS_READ_BUFFER: usize = 4 * 1024;

/// G.711 μ-law audio (8 kHz mono, 8 bytes per ms), kept in the base64 form carriers and
/// backends both speak: the bridge passes it through without decoding. Decode only when the
/// samples themselves are needed (the listen-in tap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct G711(String);

impl G711 {
    /// Checks that `b64` is standard-alphabet base64 of at least one byte. Padding may be
    /// left off (some senders do); it is added, so what goes on is always canonical.
    pub fn from_base64(mut b64: String) -> Result<Self, MediaError> {
        let body = b64.trim_end_matches('=');
        let (body_len, pad) = (body.len(), b64.len() - body.len());
        let valid = body_len > 1
            && pad <= 2
            && body_len % 4 != 1
            && (pad == 0 || b64.len().is_multiple_of(4))
            && body
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/');
        if !valid {
            return Err(MediaError::Malformed("audio payload is not base64".into()));
        }
        while !b64.len().is_multiple_of(4) {
            b64.push('=');
        }
        Ok(Self(b64))
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn base64(&self) -> &str {
        &self.0
    }

    pub fn into_base64(self) -> String {
        self.0
    }

    pub fn bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.0)
            .unwrap_or_default()
    }

    /// Decoded length, from the base64 length alone.
    pub fn len(&self) -> usize {
        let pad = self.0.bytes().rev().take_while(|&c| c == b'=').count();
        self.0.len() / 4 * 3 - pad
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Playing time in ms (μ-law at 8 kHz: 8 bytes per ms).
    pub fn duration_ms(&self) -> u64 {
        self.len() as u64 / 8
    }
}

/// What a carrier's media stream tells the bridge.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaIn {
    /// About 20 ms of the caller's voice.
    Audio(G711),
    /// A mark the bridge sent has been reached: the audio before it was played (or cleared).
    Mark(String),
    /// The caller pressed a key.
    Dtmf(char),
    /// The stream ended (the call hung up or the carrier stopped the stream).
    Stop,
}

/// What the bridge tells a carrier's media stream.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaOut {
    /// Agent audio, queued by the carrier and played in order.
    Audio(G711),
    /// Tell me when playback reaches this point.
    Mark(String),
    /// Drop all queued agent audio now (barge-in); pending marks come back.
    Clear,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("malformed media frame: {0}")]
    Malformed(String),
    #[error("media stream closed: {0}")]
    Closed(String),
    /// The source of the call's audio broke (a microphone unplugged): the call cannot go on.
    #[error("{0}")]
    Failed(String),
}

/// One side of a call's audio as the bridge sees it: a carrier's media stream once it has
/// started (the call and agent are known), or any other source and sink of call audio.
pub trait MediaSession: Send {
    /// The next message. `Ok(Stop)` ends the stream; a malformed frame is an `Err` the bridge
    /// logs and skips. Cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Result<MediaIn, MediaError>> + Send;
    /// Queues `out`; nothing is written until `flush`, so several messages leave together.
    fn feed(&mut self, out: MediaOut) -> impl Future<Output = Result<(), MediaError>> + Send;
    fn flush(&mut self) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Closes the stream from our side, saying why.
    fn close(self, reason: &str) -> impl Future<Output = ()> + Send;
}

/// Test signals the audio modules' tests share.
#[cfg(test)]
pub(crate) mod test_signal {
    /// `len` samples of a sine at `frequency` Hz, sampled at `rate` Hz.
    pub fn sine(frequency: f64, amplitude: f64, rate: u32, len: usize) -> Vec<i16> {
        (0..len)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * frequency * n as f64 / f64::from(rate);
                (amplitude * phase.sin()).round() as i16
            })
            .collect()
    }

    /// Sign changes: a tone's frequency, read without an FFT.
    pub fn zero_crossings(signal: &[i16]) -> usize {
        signal
            .windows(2)
            .filter(|pair| (pair[0] < 0) != (pair[1] < 0))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_length_and_duration_come_from_the_base64_alone() {
        for n in [1usize, 2, 3, 160, 161, 800] {
            let a = G711::from_bytes(&vec![0xFF; n]);
            assert_eq!(a.len(), n);
            assert_eq!(a.bytes().len(), n);
            assert_eq!(G711::from_base64(a.base64().to_owned()).unwrap(), a);
        }
        assert_eq!(G711::from_bytes(&[0; 160]).duration_ms(), 20);
    }

    #[test]
    fn g711_refuses_what_is_not_base64() {
        for bad in [
            "", "a", "abcde", "ab=c", "a*bc", "====", "%%%%", "ab=", "abcd===",
        ] {
            assert!(G711::from_base64(bad.into()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn g711_takes_unpadded_base64_and_pads_it() {
        let a = G711::from_base64("//8".into()).unwrap();
        assert_eq!(a.base64(), "//8=");
        assert_eq!((a.len(), a.bytes()), (2, vec![0xFF, 0xFF]));
        assert_eq!(G711::from_base64("/w".into()).unwrap().base64(), "/w==");
    }
}

//! Local sound devices: the microphone and speakers of the machine Switchboard runs on, for
//! test calls and device checks. Devices are driven in whatever format they offer and
//! converted at the edge; inside, audio is mono, and what leaves is 8 kHz i16 (the phone band
//! the rest of the media path speaks). Device callbacks never lock, allocate or block. Every
//! failure (no sound server, missing or busy device, a device lost mid-stream) is an
//! `AudioError` worded for the user; nothing here panics on a machine without sound.
//! Imports only `media` (the resampler, the telephony rate) and `domain` (the echo choices).

mod check;
mod convert;
pub mod devices;
pub mod duplex;
pub mod echo;
mod error;
mod playout;
mod queue;
mod speaker;
mod stamps;
mod stream;

pub use check::{Level, MAX_MEASURE, measure_level, play_tone};
pub use devices::{DeviceInfo, Devices, devices};
pub use duplex::{AudioStats, Duplex, DuplexConfig, EchoMode, LatencyProbe, Played, Stamp};
pub use error::AudioError;
pub use speaker::Speaker;

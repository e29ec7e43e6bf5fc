//! The virtual sound card of `scripts/audio-rig.sh` (a private PulseAudio): play into the
//! microphone, record the speaker, and judge a signal by frequency and level. Tests that use
//! it fail, never skip, when the rig is not running.

use std::process::Stdio;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// The rate the helpers play and record at.
pub const RATE: u32 = 16_000;

/// One sound card: tests that use it take turns (nextest's `sound-card` group does the same
/// across processes, see .config/nextest.toml).
static CARD: Mutex<()> = Mutex::const_new(());

/// Holds the sound card for one test; panics with what to do when the rig is not running.
pub async fn card() -> MutexGuard<'static, ()> {
    assert!(
        std::env::var_os("PULSE_SERVER").is_some(),
        "no sound server: start the virtual sound card with \
         `eval \"$(scripts/audio-rig.sh start)\"` (scripts/test.sh does)"
    );
    let guard = CARD.lock().await;
    let status = std::process::Command::new("pactl")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("pactl runs (apt-get install pulseaudio-utils)");
    assert!(
        status.success(),
        "the sound server at $PULSE_SERVER does not answer: run scripts/audio-rig.sh start"
    );
    guard
}

fn pa(program: &str, device: &str) -> Command {
    let mut c = Command::new(program);
    c.args([
        &format!("--device={device}"),
        "--format=s16le",
        &format!("--rate={RATE}"),
        "--channels=1",
        "--raw",
        "--latency-msec=20",
    ]);
    c.kill_on_drop(true);
    c
}

/// Plays `samples` (mono, `RATE`) into the virtual microphone; returns once played.
pub async fn speak(samples: &[i16]) {
    let mut child = pa("pacat", "micin")
        .arg("--playback")
        .stdin(Stdio::piped())
        .spawn()
        .expect("pacat runs");
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes).await.unwrap();
    drop(stdin);
    let status = child.wait().await.unwrap();
    assert!(status.success(), "pacat could not play into the microphone");
}

/// A recording of the virtual speaker, running until `stop`. Read as it comes: a pipe left
/// unread fills after two seconds, and the sound server drops what follows.
pub struct Recording {
    child: Child,
    read: tokio::task::JoinHandle<Vec<u8>>,
}

/// Starts recording what the speaker plays.
pub fn record_speaker() -> Recording {
    let mut child = pa("parec", "spk.monitor")
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec runs");
    let mut out = child.stdout.take().unwrap();
    let read = tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes).await;
        bytes
    });
    Recording { child, read }
}

impl Recording {
    /// Stops the recording; what was recorded, mono at `RATE`.
    pub async fn stop(mut self) -> Vec<i16> {
        // SIGINT, not SIGKILL: parec then writes out what it still holds.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        let _ = self.child.wait().await;
        let bytes = self.read.await.unwrap();
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

/// `ms` of a sine at `hz`, at `dbfs` peak, mono at `rate`.
pub fn tone(hz: f64, dbfs: f64, ms: u64, rate: u32) -> Vec<i16> {
    let amplitude = 32767.0 * 10f64.powf(dbfs / 20.0);
    let n = (u64::from(rate) * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

/// RMS level in dBFS (full-scale sine: -3 dBFS).
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let mean = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64;
    10.0 * mean.max(1e-20).log10()
}

/// The dominant frequency, from zero crossings (a clean tone's).
pub fn frequency(samples: &[i16], rate: u32) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / f64::from(rate))
}

/// The loud part of a recording: from the first to the last 20 ms window above `floor_dbfs`,
/// less a margin of `trim_ms` at each end (the tone's edges).
pub fn loud_part(samples: &[i16], rate: u32, floor_dbfs: f64, trim_ms: u32) -> &[i16] {
    let win = (rate / 50) as usize;
    let loud: Vec<usize> = samples
        .chunks(win)
        .enumerate()
        .filter(|(_, w)| rms_dbfs(w) > floor_dbfs)
        .map(|(i, _)| i)
        .collect();
    let (Some(&first), Some(&last)) = (loud.first(), loud.last()) else {
        return &[];
    };
    let trim = (rate * trim_ms / 1000) as usize;
    let (start, end) = (first * win + trim, ((last + 1) * win).min(samples.len()));
    if end <= start + trim {
        return &[];
    }
    &samples[start..end - trim]
}

/// How long the loud part lasts, in ms.
pub fn loud_ms(samples: &[i16], rate: u32, floor_dbfs: f64) -> u64 {
    loud_part(samples, rate, floor_dbfs, 0).len() as u64 * 1000 / u64::from(rate)
}

/// Waits `d` (the sound card runs in real time).
pub async fn wait(d: Duration) {
    tokio::time::sleep(d).await;
}

/// The power of `samples` at `hz` relative to a full-scale sine there, in dB (Goertzel): how
/// much of a mix is one tone.
pub fn tone_dbfs(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    // A full-scale sine gives power (n/2)^2.
    10.0 * (power / (n * n / 4.0)).max(1e-20).log10()
}

/// Runs `scripts/audio-rig.sh CMD` on the rig in use (`stop`, then `start` again, brings the
/// same socket back).
pub fn rig(cmd: &str) {
    let server = std::env::var("PULSE_SERVER").unwrap();
    let dir = server
        .strip_prefix("unix:")
        .and_then(|s| s.strip_suffix("/native"))
        .expect("PULSE_SERVER from scripts/audio-rig.sh");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/audio-rig.sh");
    let out = std::process::Command::new("bash")
        .args([script, cmd, dir])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audio-rig.sh {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

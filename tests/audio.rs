//! Local audio through the real sound stack: cpal's ALSA host → the ALSA pulse plugin → a
//! private headless PulseAudio (scripts/audio-rig.sh) with a null-sink speaker `spk` and a
//! microphone `mic` fed from null sink `micin`. The tests drive and record with paplay and
//! parec and judge the signal itself: its frequency (zero crossings) and level (RMS dBFS).
//!
//! Run: `eval "$(scripts/audio-rig.sh start)"` then `cargo nextest run -p switchboard --test
//! audio`. Without the rig the tests fail (they do not skip). They share the rig, so they
//! hold one lock (cargo test) and form one nextest test group (.config/nextest.toml).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use switchboard::audio::{self, AudioError, Duplex, DuplexConfig, EchoMode};

static RIG: Mutex<()> = Mutex::new(());
/// parec records at this rate, mono.
const REC_RATE: u32 = 16_000;

struct Rig {
    dir: String,
    _lock: MutexGuard<'static, ()>,
}

fn rig() -> Rig {
    let lock = RIG.lock().unwrap_or_else(|e| e.into_inner());
    let server = std::env::var("PULSE_SERVER").unwrap_or_default();
    let dir = server
        .strip_prefix("unix:")
        .and_then(|socket| socket.strip_suffix("/native"))
        .unwrap_or_else(|| {
            panic!(
                "PULSE_SERVER is {server:?}: these tests need the audio rig; run \
                 `eval \"$(scripts/audio-rig.sh start)\"` first"
            )
        })
        .to_owned();
    let ok = Command::new("pactl")
        .arg("info")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no sound server at {server}: run `eval \"$(scripts/audio-rig.sh start)\"`"
    );
    let rig = Rig { dir, _lock: lock };
    rig.script("echo-off");
    rig
}

impl Rig {
    fn script(&self, cmd: &str) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/audio-rig.sh");
        let status = Command::new(script)
            .args([cmd, &self.dir])
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/audio-rig.sh");
        assert!(status.success(), "audio-rig.sh {cmd} failed");
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.script("echo-off");
    }
}

/// A wav of `samples` (mono i16) at `rate`, written for paplay.
fn wav(name: &str, rate: u32, samples: &[i16]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "switchboard-audio-{}-{name}.wav",
        std::process::id()
    ));
    let data_len = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(&path, bytes).expect("write wav");
    path
}

fn sine(frequency: f64, amplitude: f64, rate: u32, seconds: f64) -> Vec<i16> {
    let n = (seconds * f64::from(rate)) as usize;
    (0..n)
        .map(|i| {
            (amplitude * (std::f64::consts::TAU * frequency * i as f64 / f64::from(rate)).sin())
                as i16
        })
        .collect()
}

/// Plays a wav into a sink (paplay), in the background.
fn paplay(sink: &str, file: &PathBuf) -> Child {
    Command::new("paplay")
        .args(["-d", sink])
        .arg(file)
        .spawn()
        .expect("paplay")
}

/// Records a source (parec, mono s16le at REC_RATE) until stopped.
struct Recording {
    child: Child,
    path: PathBuf,
}

fn parec(source: &str) -> Recording {
    let path = std::env::temp_dir().join(format!(
        "switchboard-audio-{}-{source}.raw",
        std::process::id()
    ));
    let file = std::fs::File::create(&path).expect("recording file");
    let child = Command::new("parec")
        .args([
            "-d",
            source,
            "--raw",
            "--format=s16le",
            "--channels=1",
            "--latency-msec=20",
        ])
        .arg(format!("--rate={REC_RATE}"))
        .stdout(file)
        .spawn()
        .expect("parec");
    // parec connects asynchronously; let the stream start before anything is played.
    std::thread::sleep(Duration::from_millis(300));
    Recording { child, path }
}

impl Recording {
    fn stop(mut self) -> Vec<i16> {
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let bytes = std::fs::read(&self.path).expect("read recording");
        let _ = std::fs::remove_file(&self.path);
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

fn rms_dbfs(signal: &[i16]) -> f64 {
    let power: f64 = signal
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    10.0 * (power / signal.len().max(1) as f64).max(1e-12).log10()
}

/// A tone's frequency from its zero crossings.
fn frequency(signal: &[i16], rate: u32) -> f64 {
    let crossings = signal
        .windows(2)
        .filter(|p| (p[0] < 0) != (p[1] < 0))
        .count();
    crossings as f64 * f64::from(rate) / (2.0 * signal.len() as f64)
}

/// The span of `signal` louder than -30 dBFS in 10 ms windows: (start, end) sample indices.
fn loud_span(signal: &[i16], rate: u32) -> Option<(usize, usize)> {
    let window = (rate / 100) as usize;
    let loud: Vec<usize> = signal
        .chunks(window)
        .enumerate()
        .filter(|(_, w)| rms_dbfs(w) > -30.0)
        .map(|(i, _)| i)
        .collect();
    Some((*loud.first()? * window, (*loud.last()? + 1) * window))
}

/// The steady middle of the loud part: its first and last `trim` seconds cut.
fn steady(signal: &[i16], rate: u32, trim: f64) -> &[i16] {
    let (start, end) = loud_span(signal, rate).expect("the recording has a loud part");
    let trim = (trim * f64::from(rate)) as usize;
    assert!(
        end - start > 2 * trim,
        "the loud part is only {} samples",
        end - start
    );
    &signal[start + trim..end - trim]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Captures from `duplex` for `duration`.
fn capture_for(duplex: &mut Duplex, duration: Duration) -> Vec<i16> {
    runtime().block_on(async {
        let mut all = Vec::new();
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            // Well above the rig's slowest stream start (an idle null-sink monitor takes ~2 s).
            let chunk = tokio::time::timeout(Duration::from_secs(5), duplex.capture(160))
                .await
                .expect("capture delivers 20 ms within 5 s")
                .expect("capture works");
            all.extend(chunk);
        }
        all
    })
}

/// Waits until the speaker has started taking agent audio (the rig's null sink can take a
/// second or two to start a new stream, longer right after the server started); returns how
/// long that took.
fn until_playing(duplex: &Duplex) -> Duration {
    let started = Instant::now();
    while duplex.played() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the speaker took no agent audio in 5 s: {:?}",
            duplex.stats()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

fn open(echo: EchoMode) -> Duplex {
    Duplex::open(DuplexConfig {
        input: None,
        output: None,
        echo,
    })
    .expect("the rig's default devices open")
}

#[test]
fn a_tone_spoken_into_the_microphone_reaches_capture_at_8_khz() {
    let _rig = rig();
    // -6 dBFS peak: an RMS of -9 dBFS.
    let tone = wav("mic440", 48_000, &sine(440.0, 16_384.0, 48_000, 2.0));
    let mut duplex = open(EchoMode::Headphones);
    let mut player = paplay("micin", &tone);
    let heard = capture_for(&mut duplex, Duration::from_millis(2_800));
    player.wait().unwrap();
    let middle = steady(&heard, 8_000, 0.3);
    let (f, level) = (frequency(middle, 8_000), rms_dbfs(middle));
    println!(
        "mic → capture: {f:.1} Hz, {level:.1} dBFS RMS over {} samples; stats {:?}",
        middle.len(),
        duplex.stats()
    );
    assert!(
        (f - 440.0).abs() <= 10.0,
        "captured {f:.1} Hz, the tone is 440 Hz"
    );
    assert!(
        (level + 9.0).abs() <= 3.0,
        "captured {level:.1} dBFS, the tone is -9 dBFS RMS"
    );
}

#[test]
fn played_agent_audio_comes_out_of_the_speaker_in_real_time() {
    let _rig = rig();
    let recording = parec("spk.monitor");
    let duplex = open(EchoMode::Cancel);
    duplex.play(&sine(1_000.0, 16_384.0, 8_000, 2.0));
    let startup = until_playing(&duplex);
    let started = Instant::now();
    println!("the speaker started taking audio after {startup:?}");
    std::thread::sleep(Duration::from_millis(1_000));
    let (played, elapsed) = (duplex.played(), started.elapsed());
    let real_time = elapsed.as_secs_f64() * 8_000.0;
    println!(
        "after {elapsed:?}: played {played} samples ({real_time:.0} in real time), pending {}",
        duplex.pending()
    );
    // The output queue runs ~40 ms ahead of the speaker, plus the device's buffer.
    assert!(
        (played as f64) <= real_time + 8.0 * 80.0,
        "played {played} after {elapsed:?}: faster than real time"
    );
    assert!(
        played as f64 >= real_time - 8.0 * 300.0,
        "played {played} after {elapsed:?}: stalled"
    );
    assert_eq!(
        duplex.played() + duplex.pending(),
        16_000,
        "every queued sample is played or pending"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while duplex.pending() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(duplex.played(), 16_000, "all 2 s were played");
    let stats = duplex.stats();
    drop(duplex);
    let heard = recording.stop();
    let middle = steady(&heard, REC_RATE, 0.2);
    let (f, level) = (frequency(middle, REC_RATE), rms_dbfs(middle));
    let (start, end) = loud_span(&heard, REC_RATE).unwrap();
    let seconds = (end - start) as f64 / f64::from(REC_RATE);
    println!(
        "play → spk.monitor: {f:.1} Hz, {level:.1} dBFS RMS, {seconds:.2} s long; stats {stats:?}"
    );
    assert!(
        (f - 1_000.0).abs() <= 10.0,
        "recorded {f:.1} Hz, the tone is 1 kHz"
    );
    assert!(
        (level + 9.0).abs() <= 2.0,
        "recorded {level:.1} dBFS, the tone is -9 dBFS RMS"
    );
    assert!(
        (seconds - 2.0).abs() < 0.15,
        "the tone lasted {seconds:.2} s, 2 s were played"
    );
}

#[test]
fn clear_stops_the_speaker_at_once() {
    let _rig = rig();
    let recording = parec("spk.monitor");
    let duplex = open(EchoMode::Cancel);
    duplex.play(&sine(1_000.0, 16_384.0, 8_000, 4.0));
    until_playing(&duplex);
    std::thread::sleep(Duration::from_millis(1_000));
    duplex.clear();
    let at_clear = duplex.played();
    assert_eq!(duplex.pending(), 0, "nothing is pending once cleared");
    std::thread::sleep(Duration::from_millis(800));
    let after = duplex.played();
    drop(duplex);
    let heard = recording.stop();
    let (start, end) = loud_span(&heard, REC_RATE).expect("the tone was heard");
    let seconds = (end - start) as f64 / f64::from(REC_RATE);
    println!(
        "clear after 1 s: played {at_clear} at the cut, {after} 0.8 s later; heard {seconds:.2} s of tone"
    );
    assert!(
        after - at_clear <= 8 * 20,
        "played() ran on by {} samples after clear",
        after - at_clear
    );
    assert!(
        (7_000..=9_000).contains(&at_clear),
        "played {at_clear} by the cut at 1 s"
    );
    assert!(
        (0.85..=1.2).contains(&seconds),
        "heard {seconds:.2} s of a 4 s tone cleared after 1 s"
    );
}

/// Speech-like agent audio: a voiced buzz (120–220 Hz fundamental and harmonics) in
/// syllables, with a noise burst in each: the spectrum and the stops of speech.
fn speechlike(seconds: f64) -> Vec<i16> {
    let rate = 8_000.0;
    let mut seed = 0x1234_5678u32;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        f64::from(seed >> 8) / f64::from(1u32 << 24) * 2.0 - 1.0
    };
    let mut phase = 0.0f64;
    (0..(seconds * rate) as usize)
        .map(|n| {
            let t = n as f64 / rate;
            let f0 = 170.0 + 50.0 * (std::f64::consts::TAU * 0.7 * t).sin();
            phase += std::f64::consts::TAU * f0 / rate;
            let voiced: f64 = (1..=12).map(|h| (phase * h as f64).sin() / h as f64).sum();
            let syllable = (std::f64::consts::TAU * 4.0 * t).sin().max(0.0);
            let burst = if (t * 4.0).fract() > 0.8 {
                noise() * 0.5
            } else {
                0.0
            };
            (8_000.0 * (voiced * syllable + burst)) as i16
        })
        .collect()
}

/// RMS of the microphone's capture over the last 3 s of 8 s of agent speech with the echo
/// path on.
fn echo_level(echo: EchoMode) -> (f64, Duplex) {
    let mut duplex = open(echo);
    duplex.play(&speechlike(8.0));
    let heard = capture_for(&mut duplex, Duration::from_secs(8));
    let tail = &heard[heard.len() - 3 * 8_000..];
    (rms_dbfs(tail), duplex)
}

#[test]
fn echo_cancellation_removes_the_speaker_from_the_microphone() {
    let rig = rig();
    rig.script("echo-on");
    let (raw, _) = echo_level(EchoMode::Headphones);
    let (cancelled, duplex) = echo_level(EchoMode::Cancel);
    let reduction = raw - cancelled;
    println!(
        "echo at the microphone: {raw:.1} dBFS unprocessed, {cancelled:.1} dBFS cancelled: {reduction:.1} dB less; stats {:?}",
        duplex.stats()
    );
    assert!(
        raw > -40.0,
        "the echo path carries the agent ({raw:.1} dBFS): is echo-on loaded?"
    );
    assert!(
        reduction >= 20.0,
        "echo cancelled by {reduction:.1} dB, at least 20 dB expected"
    );
}

#[test]
fn half_duplex_sends_silence_while_the_agent_speaks() {
    let rig = rig();
    rig.script("echo-on");
    let (level, _) = echo_level(EchoMode::HalfDuplex);
    println!("half duplex, agent speaking with the echo path on: {level:.1} dBFS");
    assert!(
        level < -80.0,
        "the microphone was open while the agent spoke: {level:.1} dBFS"
    );
}

#[test]
fn devices_are_listed_and_checked() {
    let _rig = rig();
    let devices = audio::devices().expect("devices");
    println!("{devices:#?}");
    // With a PulseAudio server (or PipeWire's) the engine talks to it directly: the rig's
    // own devices are listed, its defaults marked.
    assert_eq!(devices.host, "PulseAudio");
    for (list, default_id, other) in [
        (
            &devices.inputs,
            "pulseaudio:mic",
            "pulseaudio:micin.monitor",
        ),
        (&devices.outputs, "pulseaudio:spk", "pulseaudio:micin"),
    ] {
        let default = list
            .iter()
            .find(|d| d.is_default)
            .expect("a default device");
        assert_eq!(default.id, default_id);
        assert!(
            list.iter().any(|d| d.id == other && !d.is_default),
            "{other} is listed too"
        );
    }

    let recording = parec("spk.monitor");
    audio::play_tone(None, 1_000.0, Duration::from_secs(1), -6.0).expect("play_tone");
    let heard = recording.stop();
    let middle = steady(&heard, REC_RATE, 0.1);
    let (f, level) = (frequency(middle, REC_RATE), rms_dbfs(middle));
    println!("play_tone → spk.monitor: {f:.1} Hz, {level:.1} dBFS RMS");
    assert!((f - 1_000.0).abs() <= 10.0, "recorded {f:.1} Hz");
    assert!(
        (level + 9.0).abs() <= 2.0,
        "recorded {level:.1} dBFS; -6 dBFS peak is -9 RMS"
    );

    // The rig's null-sink monitor takes up to ~1.6 s to deliver a new recording's first
    // audio (measured: 0.75-1.6 s to the first callback); measure_level's window starts when
    // audio flows, so the tone runs long enough to cover that.
    let tone = wav("level440", 48_000, &sine(440.0, 16_384.0, 48_000, 4.0));
    let mut player = paplay("micin", &tone);
    std::thread::sleep(Duration::from_millis(300));
    let measured = audio::measure_level(None, Duration::from_millis(1_000)).expect("measure_level");
    player.wait().unwrap();
    println!("measure_level of a -6 dBFS-peak tone: {measured:?}");
    assert!((measured.rms_dbfs + 9.0).abs() <= 2.0, "{measured:?}");
    assert!((measured.peak_dbfs + 6.0).abs() <= 2.0, "{measured:?}");
    let silence = audio::measure_level(None, Duration::from_millis(300)).expect("measure_level");
    assert!(
        silence.rms_dbfs < -60.0,
        "nothing played into micin now: {silence:?}"
    );
}

#[test]
fn a_missing_device_is_named_in_the_error() {
    let _rig = rig();
    let error = Duplex::open(DuplexConfig {
        input: Some("alsa:no-such-mic".into()),
        ..Default::default()
    })
    .err()
    .expect("no such device");
    assert_eq!(
        error.to_string(),
        "the microphone 'alsa:no-such-mic' is not available"
    );
    let error = audio::play_tone(
        Some("Nonexistent Speaker"),
        440.0,
        Duration::from_millis(10),
        -20.0,
    )
    .expect_err("no such device");
    assert!(matches!(error, AudioError::NoSuchDevice { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "the speaker 'Nonexistent Speaker' is not available"
    );
}

/// Runs in a child process of this test binary whose PULSE_SERVER points nowhere: the machine
/// as it is with no sound server. The environment cannot be changed inside the test process.
const NO_SERVER_CHILD: &str = "SWITCHBOARD_AUDIO_NO_SERVER_CHILD";

#[test]
fn no_sound_server_is_reported_clearly() {
    if std::env::var_os(NO_SERVER_CHILD).is_some() {
        let open = Duplex::open(DuplexConfig::default())
            .err()
            .expect("no server, no duplex");
        let tone = audio::play_tone(None, 440.0, Duration::from_millis(50), -20.0)
            .expect_err("no server, no tone");
        let level =
            audio::measure_level(None, Duration::from_millis(50)).expect_err("no server, no level");
        for error in [&open, &tone, &level] {
            println!("without a sound server: {error}");
            assert!(
                matches!(error, AudioError::NoSoundServer(_)),
                "{error:?} should say there is no sound server"
            );
        }
        // Listing opens nothing, so it still works (ALSA's configured PCMs are listed).
        audio::devices().expect("devices() without a server");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_sound_server_is_reported_clearly",
            "--nocapture",
        ])
        .env(NO_SERVER_CHILD, "1")
        .env(
            "PULSE_SERVER",
            format!("unix:{}/native", dir.path().display()),
        )
        .env("PULSE_RUNTIME_PATH", dir.path())
        .output()
        .expect("run the child test");
    let text = String::from_utf8_lossy(&output.stdout);
    println!("{text}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the child test failed: see above");
    assert!(
        text.contains("without a sound server"),
        "the child ran the checks"
    );
}

#[test]
fn losing_the_sound_server_fails_capture_promptly() {
    let rig = rig();
    let mut duplex = open(EchoMode::Headphones);
    capture_for(&mut duplex, Duration::from_millis(300));
    rig.script("stop");
    let lost_at = Instant::now();
    let result = runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Err(error) = duplex.capture(160).await {
                    return error;
                }
            }
        })
        .await
    });
    let took = lost_at.elapsed();
    // Dropping must not hang even though a stream may be stuck in the dead server's plugin.
    let dropping = Instant::now();
    drop(duplex);
    let drop_took = dropping.elapsed();
    // Bring the rig back for the tests after this one (same directory, same socket).
    rig.script("start");
    println!("server gone: capture returned {result:?} after {took:?}");
    let error: AudioError = result.expect("capture returns once the server is gone");
    assert!(matches!(error, AudioError::DeviceLost { .. }), "{error:?}");
    assert!(took < Duration::from_secs(3), "noticed after {took:?}");
    assert!(
        drop_took < Duration::from_secs(3),
        "dropping took {drop_took:?}"
    );
}

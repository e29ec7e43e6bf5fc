//! Test calls end to end through the real audio stack: the engine opens the virtual sound
//! card of `scripts/audio-rig.sh` (a private PulseAudio), the test speaks into its microphone
//! and records its speaker, and a fake OpenAI Realtime server plays the agent. Judged by the
//! signal (frequency, level, timing), over real sockets.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::realtime::{FakeRealtime, Script, TEST_API_KEY};
use common::sound::{self, RATE};
use common::{TestEngine, config, pcmu};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const WAIT: Duration = Duration::from_secs(5);

struct World {
    engine: TestEngine,
    realtime: FakeRealtime,
    agent: String,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start(script: Script) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let realtime = FakeRealtime::start(script).await;
        let mut cfg = config(tmp.path());
        cfg.openai_realtime_url = realtime.url();
        cfg.credential_env = vec![("OPENAI_API_KEY".into(), TEST_API_KEY.into())];
        let engine = TestEngine::start_with(cfg).await;
        let (s, agent) = engine
            .api
            .post(
                "/api/agents",
                json!({
                    "name": "Receptionist",
                    "system_prompt": "You answer for Acme Plumbing. The caller is {name}.",
                    "greeting": "Acme Plumbing, how can I help?",
                    "voice": "cedar",
                    "model": "gpt-realtime",
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{agent}");
        let agent = agent["id"].as_str().unwrap().to_owned();
        Self {
            engine,
            realtime,
            agent,
            _tmp: tmp,
        }
    }

    async fn start_call(&self, body: Value) -> Value {
        let (s, call) = self.engine.api.post("/api/test-calls", body).await;
        assert_eq!(s, StatusCode::CREATED, "{call}");
        call
    }

    async fn call(&self, id: &str) -> Value {
        let (s, call) = self.engine.api.get(&format!("/api/calls/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{call}");
        call
    }

    async fn hang_up(&self, id: &str) -> Value {
        let (s, body) = self
            .engine
            .api
            .post(&format!("/api/calls/{id}/hangup"), json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        self.ended(id).await
    }

    /// Waits until the call's record says it ended; returns it with its transcript.
    async fn ended(&self, id: &str) -> Value {
        let until = Instant::now() + WAIT;
        loop {
            let detail = self.call(id).await;
            if !detail["ended_at"].is_null() {
                return detail;
            }
            assert!(Instant::now() < until, "the call did not end: {detail}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the engine has appended to the backend's input buffer, decoded to 8 kHz.
    fn heard_by_agent(&self) -> Vec<i16> {
        self.realtime
            .appended_audio(None)
            .into_iter()
            .map(pcmu::decode)
            .collect()
    }
}

#[tokio::test]
async fn the_microphone_reaches_the_agent_and_the_agent_comes_out_of_the_speaker() {
    let _card = sound::card().await;
    let w = World::start(Script::new()).await;
    let speaker = sound::record_speaker();
    let call = w
        .start_call(json!({"agent_id": w.agent, "context": {"name": "Dana"}}))
        .await;
    assert_eq!(call["direction"], "test");
    assert_eq!(call["carrier"], "local");
    assert_eq!(call["status"], "in_progress");
    let id = call["id"].as_str().unwrap();

    // The agent greets first: one second of a 440 Hz tone at -12 dBFS peak from the fake.
    w.realtime.wait_for_event("response.create", WAIT).await;
    assert!(
        w.realtime.session()["instructions"]
            .as_str()
            .unwrap()
            .contains("The caller is Dana"),
        "the call's context reaches the agent"
    );
    sound::wait(Duration::from_millis(1800)).await;
    let played = speaker.stop().await;
    let greeting = sound::loud_part(&played, RATE, -40.0, 60);
    let (hz, level) = (sound::frequency(greeting, RATE), sound::rms_dbfs(greeting));
    println!(
        "speaker: {hz:.1} Hz at {level:.1} dBFS for {} ms",
        sound::loud_ms(&played, RATE, -40.0)
    );
    assert!((hz - 440.0).abs() < 10.0, "the agent's tone: {hz} Hz");
    assert!((level + 15.0).abs() < 3.0, "its level: {level} dBFS");
    let ms = sound::loud_ms(&played, RATE, -40.0);
    assert!((850..=1150).contains(&ms), "one second of it: {ms} ms");

    // A 1 kHz tone into the microphone reaches the agent as phone audio of that frequency.
    let before = w.heard_by_agent().len();
    sound::speak(&sound::tone(1000.0, -6.0, 1000, RATE)).await;
    sound::wait(Duration::from_millis(300)).await;
    let heard = w.heard_by_agent();
    let spoken = sound::loud_part(&heard[before..], 8000, -30.0, 60);
    let (hz, level) = (sound::frequency(spoken, 8000), sound::rms_dbfs(spoken));
    println!(
        "agent heard: {hz:.1} Hz at {level:.1} dBFS for {} ms",
        spoken.len() / 8
    );
    assert!((hz - 1000.0).abs() < 15.0, "the caller's tone: {hz} Hz");
    assert!(
        spoken.len() >= 8 * 700,
        "most of the second: {} ms",
        spoken.len() / 8
    );
    // Played at -9 dBFS RMS; echo cancellation's noise suppression takes some of a steady
    // tone (it is not speech), so only require it clearly there.
    assert!(level > -30.0, "its level: {level} dBFS");

    let detail = w.hang_up(id).await;
    assert_eq!(detail["status"], "completed");
    assert_eq!(detail["hangup_cause"], "ended by an operator");
    assert_eq!(detail["transcript"][0]["speaker"], "agent");
    assert_eq!(
        detail["transcript"][0]["text"], "Hello, how can I help?",
        "the agent's words are on the record"
    );
    // The microphone is free again.
    let second = w.start_call(json!({"agent_id": w.agent})).await;
    w.hang_up(second["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn speaking_over_the_agent_cuts_it_where_the_speaker_had_got_to() {
    let _card = sound::card().await;
    let w = World::start(Script::new()).await;
    // The agent waits: nothing plays until it is made to speak.
    let call = w
        .start_call(
            json!({"agent_id": w.agent, "agent_speaks_first": false, "echo_mode": "headphones"}),
        )
        .await;
    let id = call["id"].as_str().unwrap();
    w.realtime.wait_for_event("session.update", WAIT).await;
    let speaker = sound::record_speaker();
    sound::wait(Duration::from_millis(200)).await;
    // Five seconds of speech, sent at once (backends send faster than real time).
    w.realtime.agent_says(40_000, "A long answer about pipes.");
    let sent = Instant::now();
    sound::wait(Duration::from_millis(1500)).await;
    w.realtime.speech_started(0);
    let at_barge_in = sent.elapsed().as_millis() as i64;
    let truncate = w
        .realtime
        .wait_for_event("conversation.item.truncate", WAIT)
        .await;
    sound::wait(Duration::from_millis(800)).await;
    let played = speaker.stop().await;
    let cut_at = truncate["audio_end_ms"].as_i64().unwrap();
    let loud = sound::loud_ms(&played, RATE, -40.0) as i64;
    println!("barge-in after {at_barge_in} ms; truncated at {cut_at} ms; speaker played {loud} ms");
    assert!(
        (cut_at - loud).abs() <= 200,
        "truncated at what was played ({cut_at} ms vs {loud} ms heard)"
    );
    assert!(
        (1200..=1800).contains(&cut_at),
        "the cut is where playback was, not where sending was (5000 ms): {cut_at}"
    );
    w.hang_up(id).await;
}

#[tokio::test]
async fn a_test_call_that_cannot_start_says_why_and_leaves_nothing_behind() {
    let _card = sound::card().await;
    let w = World::start(Script::new()).await;
    let api = &w.engine.api;

    let (s, e) = api
        .post("/api/test-calls", json!({"agent_id": "no-such-agent"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");

    // A microphone that is not there: a clear refusal naming it, and no call on the record.
    let (s, _) = api
        .put("/api/settings", json!({"audio_input": "alsa:no-such-mic"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = api
        .post("/api/test-calls", json!({"agent_id": w.agent}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "audio_unavailable");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no-such-mic"),
        "names the device: {message}"
    );
    let (_, calls) = api.get("/api/calls").await;
    assert_eq!(calls["total"], 0, "nothing recorded: {calls}");
    assert_eq!(
        w.realtime.connection_count(),
        0,
        "no agent session was opened"
    );

    // Back on the default microphone: one test call at a time.
    let (s, _) = api.put("/api/settings", json!({"audio_input": null})).await;
    assert_eq!(s, StatusCode::OK);
    let first = w.start_call(json!({"agent_id": w.agent})).await;
    let id = first["id"].as_str().unwrap();
    let (s, e) = api
        .post("/api/test-calls", json!({"agent_id": w.agent}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains(id), "{e}");

    // Mute answers for the running test call only.
    let (s, m) = api
        .put(
            &format!("/api/test-calls/{id}/mute"),
            json!({"muted": true}),
        )
        .await;
    assert_eq!((s, m), (StatusCode::OK, json!({"muted": true})));
    let (s, _) = api
        .put("/api/test-calls/other/mute", json!({"muted": true}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    w.hang_up(id).await;
}

#[tokio::test]
async fn a_muted_microphone_sends_the_agent_silence() {
    let _card = sound::card().await;
    let w = World::start(Script::new()).await;
    let call = w
        .start_call(
            json!({"agent_id": w.agent, "agent_speaks_first": false, "echo_mode": "headphones"}),
        )
        .await;
    let id = call["id"].as_str().unwrap();
    w.realtime.wait_for_event("session.update", WAIT).await;
    let (s, _) = w
        .engine
        .api
        .put(
            &format!("/api/test-calls/{id}/mute"),
            json!({"muted": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let before = w.heard_by_agent().len();
    sound::speak(&sound::tone(1000.0, -6.0, 600, RATE)).await;
    sound::wait(Duration::from_millis(300)).await;
    let heard = w.heard_by_agent();
    assert!(
        heard.len() - before >= 8 * 600,
        "audio still flows while muted"
    );
    let level = sound::rms_dbfs(&heard[before..]);
    assert!(level < -60.0, "but it is silence: {level} dBFS");
    w.hang_up(id).await;
}

#[tokio::test]
async fn switchboard_call_talks_to_an_agent_from_the_terminal_and_ctrl_c_ends_it() {
    let _card = sound::card().await;
    let w = World::start(Script::new()).await;
    let control = w.engine.api.base.trim_start_matches("http://").to_owned();
    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "call",
            "--agent",
            "receptionist",
            "--control-addr",
            &control,
        ])
        .args(["--token", &w.engine.api.token])
        .arg("--data-dir")
        .arg(w.engine.dir.as_os_str())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(cli.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    let mut read_until = async |lines: &mut Vec<String>, want: &str| {
        while let Some(line) = out.next_line().await.unwrap() {
            lines.push(line.clone());
            if line.contains(want) {
                return;
            }
        }
        panic!("`switchboard call` ended before printing {want:?}: {lines:?}");
    };
    tokio::time::timeout(
        WAIT,
        read_until(&mut lines, "Receptionist: Hello, how can I help?"),
    )
    .await
    .unwrap_or_else(|_| panic!("no greeting printed: {lines:?}"));
    assert!(
        lines[0].starts_with("Test call with Receptionist"),
        "{lines:?}"
    );
    let (_, live) = w.engine.api.get("/api/calls?status=live").await;
    assert_eq!(live["items"][0]["direction"], "test", "{live}");

    let pid = cli.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::timeout(
        WAIT,
        read_until(&mut lines, "Call ended: ended by an operator."),
    )
    .await
    .unwrap_or_else(|_| panic!("the end was not printed: {lines:?}"));
    let status = tokio::time::timeout(WAIT, cli.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");

    // An unknown agent is named back with the ones there are.
    // (Not std's Command: this test's runtime also runs the engine the CLI talks to.)
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["call", "--agent", "Nobody", "--control-addr", &control])
        .args(["--token", &w.engine.api.token])
        .arg("--data-dir")
        .arg(w.engine.dir.as_os_str())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no agent named \"Nobody\"") && err.contains("Receptionist"),
        "{err}"
    );
}

#[tokio::test]
async fn losing_the_sound_server_ends_the_test_call_and_says_why() {
    let _card = sound::card().await;
    let w = World::start(Script::new()).await;
    let call = w
        .start_call(
            json!({"agent_id": w.agent, "agent_speaks_first": false, "echo_mode": "headphones"}),
        )
        .await;
    let id = call["id"].as_str().unwrap();
    w.realtime.wait_for_event("session.update", WAIT).await;
    sound::rig("stop");
    let ended = tokio::time::timeout(WAIT, w.ended(id)).await;
    sound::rig("start");
    let detail = ended.expect("the call ends when its audio does");
    let cause = detail["hangup_cause"].as_str().unwrap_or_default();
    println!("ended: {cause}");
    assert!(
        cause.contains("stopped working") || cause.contains("not available"),
        "the record says the audio went: {detail}"
    );
    let ended = w.realtime.wait_for_disconnect(WAIT).await;
    println!("the agent's session: {ended:?}");
    // The microphone is free again, for when the sound is back.
    let (s, body) = w.engine.api.get("/api/listen").await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

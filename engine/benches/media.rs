//! Media hot-path costs per 20 ms frame: G.711 transcoding, resampling for a voice backend, and
//! the listen-in tap with and without a listener (the unheard case must stay near free), and a
//! call's recording: laying both sides down and writing them to the file.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::media::codec::{mulaw_to_pcm, pcm_to_mulaw};
use switchboard::media::record::Recorder;
use switchboard::media::resample::Resampler;
use switchboard::media::tap::Tap;
use switchboard::recordings::file::WavFile;

const FRAME: usize = 160;

fn speech_like_frame() -> [u8; FRAME] {
    // A spread of codes rather than one value, so every segment of the encoder is exercised.
    std::array::from_fn(|n| (n * 37 % 256) as u8)
}

fn codec(c: &mut Criterion) {
    let codes = speech_like_frame();
    let mut pcm = [0i16; FRAME];
    let mut back = [0u8; FRAME];
    c.bench_function("mulaw decode+encode 160 samples", |b| {
        b.iter(|| {
            mulaw_to_pcm(black_box(&codes), &mut pcm);
            pcm_to_mulaw(black_box(&pcm), &mut back);
            black_box(&back);
        })
    });
}

fn resample(c: &mut Criterion) {
    let mut resampler = Resampler::new(8_000, 24_000).expect("supported rates");
    let input: Vec<i16> = (0..FRAME)
        .map(|n| ((n as f64 * 0.785).sin() * 10_000.0) as i16)
        .collect();
    let mut out = Vec::with_capacity(480);
    c.bench_function("resample 20 ms 8k -> 24k", |b| {
        b.iter(|| {
            out.clear();
            resampler.process(black_box(&input), &mut out);
            black_box(&out);
        })
    });
}

fn tap(c: &mut Criterion) {
    let frame = speech_like_frame();

    let unheard = Tap::new();
    c.bench_function("tap caller+agent, no listener", |b| {
        b.iter(|| {
            unheard.caller(black_box(&frame));
            unheard.agent(black_box(&frame));
        })
    });

    let heard = Tap::new();
    let listener = heard.listen();
    c.bench_function("tap caller+agent, one listener", |b| {
        b.iter(|| {
            heard.caller(black_box(&frame));
            heard.agent(black_box(&frame));
            // Take the frame as a playing listener would, so the queue does not sit full.
            black_box(listener.try_recv());
        })
    });
}

/// A recorded call's work for one second of it: 50 caller frames clocking out the agent's
/// audio (sent as one burst, as backends do), then the second written and flushed to the file
/// (the header rewritten), as the recording's writer does once a second. Per call, the CPU a
/// recording costs is this time per second of call.
fn recording(c: &mut Criterion) {
    let frame = speech_like_frame();
    let burst = [0x55u8; FRAME * 50];
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.wav");
    let mut recorder = Recorder::new();
    c.bench_function("recording: lay down and write 1 s of a call", |b| {
        b.iter_custom(|iters| {
            let mut spent = std::time::Duration::ZERO;
            let mut file = WavFile::create(&path).expect("a recording file");
            for i in 0..iters {
                // A new file every ten minutes of call, untimed, so the disk does not fill.
                if i % 600 == 599 {
                    file = WavFile::create(&path).expect("a recording file");
                }
                let started = std::time::Instant::now();
                recorder.agent(black_box(&burst), true);
                for _ in 0..50 {
                    recorder.caller(black_box(&frame));
                }
                file.append(&recorder.take()).expect("written");
                spent += started.elapsed();
            }
            spent
        })
    });
}

criterion_group!(benches, codec, resample, tap, recording);
criterion_main!(benches);

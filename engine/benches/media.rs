//! Media hot-path costs per 20 ms frame: G.711 transcoding, resampling for a voice backend, and
//! the listen-in tap with and without a listener (the unheard case must stay near free).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::media::codec::{mulaw_to_pcm, pcm_to_mulaw};
use switchboard::media::resample::Resampler;
use switchboard::media::tap::Tap;

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

criterion_group!(benches, codec, resample, tap);
criterion_main!(benches);

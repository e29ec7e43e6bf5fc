//! Local audio's worker cost per 10 ms at 48 kHz, what `Duplex` does for every 10 ms of
//! real time: render (8 kHz agent audio → 48 kHz, far end into the echo canceller) and capture
//! (48 kHz microphone through the canceller → 8 kHz). The figure to watch is the time per
//! iteration as a share of 10 ms; it is printed too.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::audio::echo::Canceller;
use switchboard::media::resample::Resampler;

const RATE: u32 = 48_000;
const FRAME: usize = (RATE / 100) as usize;

/// One worker period: the render tick then the capture tick, as `Duplex`'s worker runs them.
struct Period {
    canceller: Canceller,
    from_8k: Resampler,
    to_8k: Resampler,
    agent: Vec<i16>,
    mic: Vec<f32>,
    render: Vec<i16>,
    render_f32: Vec<f32>,
    clean: Vec<f32>,
    clean_i16: Vec<i16>,
    out: Vec<i16>,
    n: usize,
}

impl Period {
    fn new() -> Self {
        Self {
            canceller: Canceller::new(RATE, RATE),
            from_8k: Resampler::low_delay(8_000, RATE).unwrap(),
            to_8k: Resampler::new(RATE, 8_000).unwrap(),
            agent: (0..80)
                .map(|n| ((n as f64 * 0.7).sin() * 8_000.0) as i16)
                .collect(),
            mic: (0..FRAME).map(|n| (n as f32 * 0.05).sin() * 0.1).collect(),
            render: Vec::with_capacity(2 * FRAME),
            render_f32: vec![0.0; FRAME],
            clean: vec![0.0; FRAME],
            clean_i16: vec![0; FRAME],
            out: Vec::with_capacity(160),
            n: 0,
        }
    }

    fn run(&mut self) {
        // Render: the 20 ms resampler emits every other period; the worker's FIFO evens it.
        self.render.clear();
        self.from_8k
            .process(black_box(&self.agent), &mut self.render);
        for (dst, &s) in self.render_f32.iter_mut().zip(&self.render) {
            *dst = f32::from(s) / 32768.0;
        }
        self.canceller.render(&self.render_f32);
        // Capture.
        self.canceller
            .capture(black_box(&self.mic), &mut self.clean, 60);
        for (dst, &s) in self.clean_i16.iter_mut().zip(&self.clean) {
            *dst = (s * 32767.0) as i16;
        }
        self.out.clear();
        self.to_8k.process(&self.clean_i16, &mut self.out);
        self.n += self.out.len();
        black_box(&self.out);
    }
}

fn duplex_period(c: &mut Criterion) {
    let mut period = Period::new();
    // Let the canceller's adaptive state settle before timing it.
    for _ in 0..200 {
        period.run();
    }
    let start = Instant::now();
    let periods = 1_000;
    for _ in 0..periods {
        period.run();
    }
    let per = start.elapsed() / periods;
    println!(
        "local audio: {per:?} of CPU per 10 ms of duplex audio at 48 kHz with echo cancellation: {:.1}% of one core in real time",
        per.as_secs_f64() / Duration::from_millis(10).as_secs_f64() * 100.0
    );
    c.bench_function(
        "duplex 10 ms at 48 kHz (AEC render+capture, 8k <-> 48k)",
        |b| b.iter(|| period.run()),
    );
}

criterion_group!(benches, duplex_period);
criterion_main!(benches);

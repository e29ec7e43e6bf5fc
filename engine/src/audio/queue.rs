//! The wait-free queue between a device callback and the worker, with its drop count.
//! rtrb is single-producer/single-consumer: the producer cannot discard the oldest samples
//! (only the consumer may move the read end), so a full queue drops the *newest* samples and
//! counts them. A full queue means the worker stalled for the whole queue length (a second of
//! audio); the worker then skips the backlog itself (see `Duplex`), so latency stays bounded.

use std::sync::atomic::{AtomicU64, Ordering};

/// Pushes one sample, counting it as dropped when the queue is full.
pub fn push_one(producer: &mut rtrb::Producer<f32>, sample: f32, dropped: &AtomicU64) {
    if producer.push(sample).is_err() {
        dropped.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_newest_and_counts_them() {
        let (mut producer, mut consumer) = rtrb::RingBuffer::<f32>::new(4);
        let dropped = AtomicU64::new(0);
        for sample in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0] {
            push_one(&mut producer, sample, &dropped);
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        let mut out = [0.0; 4];
        consumer.pop_entire_slice(&mut out).unwrap();
        assert_eq!(
            out,
            [1.0, 2.0, 3.0, 4.0],
            "the oldest samples are kept, in order"
        );
        push_one(&mut producer, 8.0, &dropped);
        assert_eq!(
            consumer.pop(),
            Ok(8.0),
            "room again once the worker has read"
        );
    }
}

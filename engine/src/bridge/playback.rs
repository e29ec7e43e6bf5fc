//! What the caller has heard of the agent, from the marks the carrier returns, and when each
//! conversation item's speech began: the bridge's bookkeeping, pure and unit-tested.

use std::collections::VecDeque;
use std::time::Instant;

use crate::domain::Timestamp;

/// When each conversation item's speech began. A transcript line is timed by when it was
/// said, not when its text arrived: the caller's transcription often lands after the agent
/// has already answered, and the log should read in the order things were said.
#[derive(Debug, Default)]
pub(super) struct SpokeAt {
    items: VecDeque<(String, Timestamp)>,
}

impl SpokeAt {
    /// Items whose transcript never comes must not pile up.
    const KEEP: usize = 32;

    pub(super) fn start(&mut self, item_id: String) {
        if self.items.len() == Self::KEEP {
            self.items.pop_front();
        }
        self.items.push_back((item_id, Timestamp::now()));
    }

    /// When `item_id` began (now, if unknown), forgetting it.
    pub(super) fn take(&mut self, item_id: Option<&str>) -> Timestamp {
        let found = item_id.and_then(|id| self.items.iter().position(|(i, _)| i == id));
        match found.and_then(|at| self.items.remove(at)) {
            Some((_, at)) => at,
            None => Timestamp::now(),
        }
    }
}

/// Agent audio between two marks. A mark per backend chunk (20 ms under load) would double
/// the messages to the carrier; between marks the heard position is interpolated anyway.
const MARK_EVERY_MS: u64 = 100;

/// What the caller has heard of the agent's current item. Agent audio sent to the carrier is
/// followed, every `MARK_EVERY_MS` and at the item's end, by a mark named `{item}.{end_ms}`;
/// the carrier returns it when playback reaches it. Between marks playback runs in real
/// time, so the heard position is the last returned mark plus the time since, never past the
/// next mark not yet returned.
#[derive(Debug, Default)]
pub(super) struct Playback {
    item: Option<ItemPlayback>,
    items: u64,
    /// The item last cut by a barge-in: its stragglers (chunks the backend sent before it
    /// heard the truncate) must not reach the caller.
    cut: Option<String>,
}

#[derive(Debug)]
struct ItemPlayback {
    item_id: String,
    seq: u64,
    sent_ms: u64,
    /// Audio up to here is followed by a mark.
    marked_ms: u64,
    heard_ms: u64,
    heard_at: Instant,
    /// End positions of marks sent and not yet returned, in order.
    pending: VecDeque<u64>,
}

impl ItemPlayback {
    fn mark(&mut self) -> String {
        self.marked_ms = self.sent_ms;
        self.pending.push_back(self.sent_ms);
        format!("{}.{}", self.seq, self.sent_ms)
    }
}

impl Playback {
    /// Records `ms` of audio for `item_id` sent now; returns a mark to send after it, when
    /// one is due.
    pub(super) fn on_audio(&mut self, item_id: &str, ms: u64, now: Instant) -> Option<String> {
        if self.item.as_ref().is_none_or(|i| i.item_id != item_id) {
            self.items += 1;
            self.item = Some(ItemPlayback {
                item_id: item_id.to_owned(),
                seq: self.items,
                sent_ms: 0,
                marked_ms: 0,
                heard_ms: 0,
                heard_at: now,
                pending: VecDeque::new(),
            });
        }
        let item = self.item.as_mut().expect("set above");
        if item.pending.is_empty() && item.marked_ms == item.sent_ms {
            // Everything sent was played: this chunk starts playing now.
            item.heard_ms = item.sent_ms;
            item.heard_at = now;
        }
        item.sent_ms += ms;
        (item.sent_ms - item.marked_ms >= MARK_EVERY_MS).then(|| item.mark())
    }

    /// The backend finished the item's audio: mark its end, if not marked yet.
    pub(super) fn on_audio_done(&mut self, item_id: &str) -> Option<String> {
        let item = self.item.as_mut().filter(|i| i.item_id == item_id)?;
        (item.sent_ms > item.marked_ms).then(|| item.mark())
    }

    pub(super) fn on_mark(&mut self, name: &str, now: Instant) {
        let Some((seq, end)) = name
            .split_once('.')
            .and_then(|(s, e)| Some((s.parse::<u64>().ok()?, e.parse::<u64>().ok()?)))
        else {
            return;
        };
        let Some(item) = self.item.as_mut().filter(|i| i.seq == seq) else {
            return; // a mark of an item already interrupted or finished
        };
        while item.pending.front().is_some_and(|&p| p <= end) {
            item.pending.pop_front();
        }
        item.heard_ms = end;
        item.heard_at = now;
    }

    /// Whether `item_id` is the item being played (its first chunk has been seen).
    /// Every mark sent has come back: the carrier has played all it was sent.
    pub(super) fn all_heard(&self) -> bool {
        self.item
            .as_ref()
            .is_none_or(|i| i.pending.is_empty() && i.marked_ms == i.sent_ms)
    }

    pub(super) fn is_current(&self, item_id: &str) -> bool {
        self.item.as_ref().is_some_and(|i| i.item_id == item_id)
    }

    /// Whether `item_id` was cut by a barge-in (its audio is dropped, not played).
    pub(super) fn is_cut(&self, item_id: &str) -> bool {
        self.cut.as_deref() == Some(item_id)
    }

    /// The caller spoke. If agent audio may still be playing, returns the item and how much
    /// of it was heard (for the backend's truncate) and forgets the item.
    pub(super) fn interrupt(&mut self, now: Instant) -> Option<(String, u64)> {
        let item = self.item.take()?;
        self.cut = Some(item.item_id.clone());
        let since = u64::try_from(now.saturating_duration_since(item.heard_at).as_millis())
            .unwrap_or(u64::MAX);
        let estimate = item.heard_ms.saturating_add(since).min(item.sent_ms);
        match item.pending.front() {
            // The carrier has not reached this mark: audio before it is still playing.
            Some(&next) => Some((item.item_id, estimate.min(next))),
            // Unmarked audio may still be playing, by the clock.
            None if estimate < item.sent_ms => Some((item.item_id, estimate)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn heard_position_follows_marks_and_real_time_between_them() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Playback::default();
        assert_eq!(p.on_audio("a", 200, t0).as_deref(), Some("1.200"));
        assert_eq!(p.on_audio("a", 200, t0).as_deref(), Some("1.400"));
        assert_eq!(p.on_audio("a", 200, t0).as_deref(), Some("1.600"));
        // 150 ms in, no mark back yet: 150 ms heard.
        let (item, heard) = {
            let mut q = Playback::default();
            q.on_audio("a", 200, t0);
            q.interrupt(t0 + ms(150)).unwrap()
        };
        assert_eq!((item.as_str(), heard), ("a", 150));
        // First mark back at 210 ms (playback runs a little late), interrupt 100 ms later.
        p.on_mark("1.200", t0 + ms(210));
        let (item, heard) = p.interrupt(t0 + ms(310)).unwrap();
        assert_eq!((item.as_str(), heard), ("a", 300));
        assert!(
            p.interrupt(t0 + ms(320)).is_none(),
            "the item is forgotten after a barge-in"
        );
    }

    #[test]
    fn heard_position_never_passes_a_mark_not_yet_returned() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_audio("a", 100, t0);
        // 500 ms later the carrier has returned nothing (playback stalled): at most 100 ms.
        assert_eq!(p.interrupt(t0 + Duration::from_millis(500)).unwrap().1, 100);
    }

    #[test]
    fn nothing_to_cut_once_everything_was_played() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_mark("1.100", t0 + Duration::from_millis(100));
        assert!(p.interrupt(t0 + Duration::from_millis(900)).is_none());
    }

    #[test]
    fn marks_of_an_earlier_item_are_ignored() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_audio("b", 300, t0);
        p.on_mark("1.100", t0 + Duration::from_millis(100));
        let (item, heard) = p.interrupt(t0 + Duration::from_millis(50)).unwrap();
        assert_eq!((item.as_str(), heard), ("b", 50));
    }

    #[test]
    fn small_chunks_share_a_mark_and_the_item_end_gets_one() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        let marks: Vec<Option<String>> = (0..8).map(|_| p.on_audio("a", 20, t0)).collect();
        assert_eq!(marks.iter().flatten().collect::<Vec<_>>(), ["1.100"]);
        assert_eq!(p.on_audio_done("a").as_deref(), Some("1.160"));
        assert_eq!(p.on_audio_done("a"), None, "already marked");
        assert_eq!(p.on_audio_done("b"), None, "not the current item");
    }

    #[test]
    fn an_unmarked_tail_still_playing_is_cut_by_the_clock() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 100, t0);
        p.on_mark("1.100", t0 + Duration::from_millis(100));
        p.on_audio("a", 60, t0 + Duration::from_millis(100));
        let (_, heard) = p.interrupt(t0 + Duration::from_millis(130)).unwrap();
        assert_eq!(heard, 130, "30 ms into the unmarked tail");
    }

    #[test]
    fn an_item_cut_by_a_barge_in_stays_cut() {
        let t0 = Instant::now();
        let mut p = Playback::default();
        p.on_audio("a", 500, t0);
        assert!(p.interrupt(t0 + Duration::from_millis(100)).is_some());
        assert!(p.is_cut("a"), "late chunks of the cut item are dropped");
        assert!(!p.is_cut("b"), "the next answer plays");
    }
}

//! Agent selection for outbound calls: which agent of a campaign's pool takes the next call.
//! An agent is eligible only while active and below its maximum of concurrent calls, counting
//! every live call it has, inbound included. When none is eligible, nobody is chosen and the
//! lead waits.

use crate::domain::SelectionStrategy;

/// One agent of a pool as selection sees it, in pool order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: String,
    pub primary: bool,
    pub active: bool,
    /// Live calls now, all directions.
    pub live: u32,
    pub max: u32,
}

impl Candidate {
    pub fn eligible(&self) -> bool {
        self.active && self.live < self.max
    }
}

/// Chooses from `pool` by `strategy`; returns the index of the chosen candidate.
/// `cursor` is the pool's round-robin position (kept by the caller between calls);
/// `pick` returns a uniformly random index below its argument (injectable for tests).
pub fn choose(
    strategy: SelectionStrategy,
    pool: &[Candidate],
    cursor: &mut usize,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Option<usize> {
    let eligible = |i: &usize| pool[*i].eligible();
    match strategy {
        SelectionStrategy::PrimaryFirst => (0..pool.len())
            .filter(|i| pool[*i].primary)
            .chain((0..pool.len()).filter(|i| !pool[*i].primary))
            .find(eligible),
        SelectionStrategy::RoundRobin => {
            let n = pool.len();
            let found = (0..n).map(|k| (*cursor + k) % n.max(1)).find(eligible);
            if let Some(i) = found {
                *cursor = (i + 1) % n;
            }
            found
        }
        SelectionStrategy::LeastLoaded => (0..pool.len())
            .filter(eligible)
            // Fewest calls for its size first; primaries win ties, then pool order.
            .min_by(|a, b| {
                let load = |c: &Candidate| f64::from(c.live) / f64::from(c.max.max(1));
                load(&pool[*a])
                    .total_cmp(&load(&pool[*b]))
                    .then(pool[*b].primary.cmp(&pool[*a].primary))
                    .then(a.cmp(b))
            }),
        SelectionStrategy::Random => {
            let open: Vec<usize> = (0..pool.len()).filter(eligible).collect();
            (!open.is_empty()).then(|| open[pick(open.len())])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, primary: bool, live: u32, max: u32) -> Candidate {
        Candidate {
            agent_id: id.into(),
            primary,
            active: true,
            live,
            max,
        }
    }

    fn no_random(_: usize) -> usize {
        unreachable!("only the random strategy draws")
    }

    #[test]
    fn primary_first_fills_primaries_before_backups() {
        // Backups listed first in the pool still wait for the primaries.
        let mut pool = vec![agent("b1", false, 0, 1), agent("p", true, 0, 2)];
        let mut cursor = 0;
        let mut chosen = |pool: &[Candidate]| {
            choose(
                SelectionStrategy::PrimaryFirst,
                pool,
                &mut cursor,
                &mut no_random,
            )
        };
        assert_eq!(chosen(&pool), Some(1));
        pool[1].live = 2;
        assert_eq!(chosen(&pool), Some(0), "primary full: the backup");
        pool[0].live = 1;
        assert_eq!(chosen(&pool), None, "everyone full: the lead waits");
        pool[1].active = false;
        pool[1].live = 0;
        assert_eq!(chosen(&pool), None, "an inactive agent is never chosen");
    }

    #[test]
    fn round_robin_takes_turns_and_skips_the_full() {
        let mut pool = vec![
            agent("a", true, 0, 5),
            agent("b", true, 0, 5),
            agent("c", true, 0, 5),
        ];
        let mut cursor = 0;
        let mut turns = Vec::new();
        for _ in 0..4 {
            turns.push(choose(
                SelectionStrategy::RoundRobin,
                &pool,
                &mut cursor,
                &mut no_random,
            ));
        }
        assert_eq!(turns, [Some(0), Some(1), Some(2), Some(0)]);
        pool[1].live = 5;
        assert_eq!(
            choose(
                SelectionStrategy::RoundRobin,
                &pool,
                &mut cursor,
                &mut no_random
            ),
            Some(2),
            "b is full, so its turn passes to c"
        );
    }

    #[test]
    fn least_loaded_compares_load_for_size() {
        let pool = vec![
            agent("a", false, 2, 4),
            agent("b", false, 1, 4),
            agent("c", true, 1, 4),
        ];
        let mut cursor = 0;
        assert_eq!(
            choose(
                SelectionStrategy::LeastLoaded,
                &pool,
                &mut cursor,
                &mut no_random
            ),
            Some(2),
            "b and c tie on load; the primary wins"
        );
    }

    #[test]
    fn random_draws_only_among_the_eligible() {
        let pool = vec![
            agent("a", true, 1, 1),
            agent("b", true, 0, 1),
            agent("c", true, 0, 1),
        ];
        let mut cursor = 0;
        let mut drawn_from = None;
        let mut pick = |n: usize| {
            drawn_from = Some(n);
            n - 1
        };
        assert_eq!(
            choose(SelectionStrategy::Random, &pool, &mut cursor, &mut pick),
            Some(2)
        );
        assert_eq!(drawn_from, Some(2), "a is full, so the draw is among two");
    }
}

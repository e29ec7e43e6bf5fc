//! Refused requests, logged once per kind and source rather than once per request: a page or a
//! host that keeps trying would otherwise fill the log, and the line that says why is the one
//! an operator needs. The first refusal of a kind from a source is logged at once; the ones
//! after it within a minute are counted, and said with the next one logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long refusals of one kind from one source stay quiet after one is logged.
const QUIET_FOR: Duration = Duration::from_secs(60);
/// Sources remembered at most; past it the oldest are dropped (a flood from many addresses
/// must not grow this without bound).
const REMEMBERED: usize = 4096;

#[derive(Debug, Default)]
pub struct Refusals {
    seen: Mutex<HashMap<(&'static str, String), Seen>>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    logged_at: Instant,
    since: u64,
}

impl Refusals {
    /// Notes a refusal of `kind` from `source` (an address, an origin), logging it with `why`
    /// unless one like it was logged less than a minute ago.
    pub fn refused(&self, kind: &'static str, source: &str, why: &str) {
        let now = Instant::now();
        let quiet = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() >= REMEMBERED {
                seen.retain(|_, s| now.duration_since(s.logged_at) < QUIET_FOR);
                if seen.len() >= REMEMBERED {
                    seen.clear();
                }
            }
            match seen.get_mut(&(kind, source.to_owned())) {
                Some(s) if now.duration_since(s.logged_at) < QUIET_FOR => {
                    s.since += 1;
                    return;
                }
                Some(s) => {
                    let since = s.since;
                    *s = Seen {
                        logged_at: now,
                        since: 0,
                    };
                    since
                }
                None => {
                    seen.insert(
                        (kind, source.to_owned()),
                        Seen {
                            logged_at: now,
                            since: 0,
                        },
                    );
                    0
                }
            }
        };
        tracing::warn!(
            kind,
            source,
            more_since_last = quiet,
            "request refused: {why}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_refusal_is_counted_not_logged_again() {
        let r = Refusals::default();
        r.refused("host", "evil.test", "not loopback");
        r.refused("host", "evil.test", "not loopback");
        r.refused("host", "evil.test", "not loopback");
        r.refused("host", "other.test", "not loopback");
        let seen = r.seen.lock().unwrap();
        assert_eq!(seen[&("host", "evil.test".to_owned())].since, 2);
        assert_eq!(seen[&("host", "other.test".to_owned())].since, 0);
    }
}

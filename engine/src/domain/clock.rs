//! The clock campaigns read the time of day and retry times from: the system's, or one a
//! test sets (calling windows and retries are then checked without waiting for real hours).

use std::sync::Arc;

use super::time::Timestamp;

/// What campaigns read the time from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

pub type SharedClock = Arc<dyn Clock>;

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

//! What follows an analysis being stored: the live views are told. (The `call.analyzed`
//! webhook is not sent from here: the store enqueues it in the write that settles the
//! analysis, `store/call_analyses.rs`, so a crash cannot keep one without the other.)

use crate::domain::CallAnalysis;
use crate::engine::Engine;
use crate::events::Event;

/// Called once a call's analysis is stored as done, failed or skipped.
pub fn stored(engine: &Engine, analysis: &CallAnalysis) {
    engine.events().publish(Event::CallAnalysis {
        analysis: analysis.clone(),
    });
}

/// Called when a call's analysis was queued again: the views show it pending, and the worker
/// (which listens for this event) wakes up for it.
pub fn queued(engine: &Engine, analysis: &CallAnalysis) {
    engine.events().publish(Event::CallAnalysis {
        analysis: analysis.clone(),
    });
}

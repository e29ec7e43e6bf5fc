//! Post-call analysis (issue 16): after an answered call of an agent with analysis on ends, a
//! language model reads its transcript and fills the agent's strict JSON Schema (a summary,
//! whether the goal was met, the caller's sentiment, custom fields); the answer is checked
//! against the same schema before it is stored on the call.
//!
//! Nothing here is on a call's end path: the database queues the job in the write that ends
//! the call (`store/call_analyses.rs`), and one background task (`worker`, started by
//! `server`) works the queue, retrying with backoff and resuming after a restart. `openai`
//! speaks Chat Completions; `stored` is what happens once an analysis is stored (the event,
//! and the place outgoing webhooks hook in).

mod openai;
mod stored;
mod worker;

pub use stored::{queued, stored};
pub use worker::{MAX_ATTEMPTS, run};

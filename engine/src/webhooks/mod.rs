//! Webhooks to the user's own systems (docs/WEBHOOKS.md): the outbox's delivery task
//! (`delivery`), started by `server` and resuming whatever a restart left pending, the log's
//! 30 days (`retention`), and how a body is signed (`signature`). Endpoints and the outbox are in `store/webhooks.rs`; events
//! are enqueued there, in the transaction that causes them.

pub mod delivery;
pub mod retention;
pub mod signature;

pub use delivery::start;
pub use signature::new_secret;

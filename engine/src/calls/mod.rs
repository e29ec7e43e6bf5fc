//! Verbs on one call, each written once and used by the API, the dialer, the bridge and the
//! carriers alike: place it, hang it up, change its context, square it with its carrier, and
//! apply what its carrier reports. Carrier-free: carriers are reached through the engine's
//! `CarrierApi`s.

pub mod context;
pub mod hang_up;
pub mod place;
pub mod reconcile;
pub mod recording;
pub mod report;

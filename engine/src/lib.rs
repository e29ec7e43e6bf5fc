//! Switchboard's engine: the store, the event bus, secrets, the carriers, the media bridge,
//! the campaign dialer and the two listeners (the control API on loopback, the public
//! listener for carriers). The desktop shell and the headless `switchboard serve` both run
//! exactly this; nothing here knows about Tauri.
//!
//! Modules are layered, and the groups below go from the bottom up: a module imports only
//! from lower layers. docs/ARCHITECTURE.md gives each module's layer and imports, and
//! `scripts/check-layers.py` holds the code to that map.

// The foundation: pure types and primitives, configuration, secrets, the event bus.
pub mod audio;
pub mod config;
pub mod domain;
pub mod events;
pub mod media;
pub mod secrets;
pub mod tools;
pub mod voice;
// State, the carriers as the rest of the engine sees them, and what both listeners share.
pub mod live;
pub mod settings;
pub mod store;
pub mod telephony;
pub mod web;
// The handle over all of the above.
pub mod engine;
// What the engine does: verbs on a call, routing, the bridge, the dialer, the Retell hand-off,
// post-call analysis, recordings, webhooks to the user's systems.
pub mod analysis;
pub mod bridge;
pub mod calls;
pub mod campaigns;
pub mod numbers;
pub mod recordings;
pub mod retell;
pub mod routing;
pub mod setup;
pub mod webhooks;
// At the edges: the carrier adapters, the control API, the public listener, and the server
// that runs them.
pub mod api;
pub mod carriers;
pub mod cluster;
pub mod public;
pub mod server;
// Above everything it reads; in fuzz builds, and in the tests' smoke run of it.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use config::Config;
pub use engine::Engine;
pub use server::{Running, StartError, launch, start};

//! Switchboard's engine: the store, the event bus, secrets and the two listeners (the control
//! API on loopback, the public listener for carriers). The desktop shell and the headless
//! `switchboard serve` both run exactly this; nothing here knows about Tauri.

pub mod api;
pub mod campaigns;
pub mod carriers;
pub mod config;
pub mod domain;
pub mod engine;
pub mod events;
pub mod loadgen;
pub mod media;
pub mod public;
pub mod routing;
pub mod secrets;
pub mod store;
pub mod voice;

pub use config::Config;
pub use engine::{Engine, Running, StartError, start};

//! Retell as a voice backend (protocols/retell.md): the REST client (`client`), an agent's
//! Retell objects kept in step with it (`provision`), handing an inbound call over by
//! dial-to-SIP (`hand_off`), and Retell's signed call webhooks applied to the call record
//! (`webhook`, checked by `signature`). Not a carrier: carriers still own the call and hand it
//! here; Retell only ever sees a SIP leg and reports back.

pub mod client;
mod errors;
pub mod hand_off;
pub mod provision;
pub mod signature;
pub mod webhook;

pub use client::RetellError;
pub use provision::ProvisionError;

//! Telephony, carrier-free: the [`CarrierApi`] every carrier adapter implements (place a
//! call, hang it up, look it up, transfer it cold or warm; the account's numbers: list, search, buy, point,
//! release), the errors those fail with, the URLs of the public listener
//! that carriers are given, and the rule by which carriers' REST APIs are called. Nothing
//! here knows a carrier's wire format; the adapters in `carriers/` do.

pub mod carrier;
pub mod rest;
pub mod urls;

pub use carrier::{
    AccountAddress, AccountNumber, AvailableNumber, Bundle, CarrierApi, CarrierError, Carriers,
    Consult, Dial, Found, KeysPressed, NumberKind, NumberQuery, Purchase, PurchaseRequirements,
};
pub use rest::CarrierApiError;
pub use urls::{PublicUrl, WebhookUrls};

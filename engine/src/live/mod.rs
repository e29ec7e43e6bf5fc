//! What runs right now, in memory: calls whose media is bridged and campaigns whose dialer
//! task is running. Both registries are derived state: rebuilt as bridges and campaign tasks
//! start, never persisted.

pub mod calls;
pub mod campaigns;
pub mod notices;

pub use calls::{AlreadyLive, Control, LegNews, LiveCall, LiveCalls, NewStream, Registration};
pub use campaigns::{CampaignRun, RunningCampaigns, Signal};
pub use notices::{Notice, Notices};

//! Pure domain types: phone numbers, agents, managed numbers, calls, campaigns, leads and the
//! lead-list importer, campaign progress, the clock. No I/O lives here, so every rule in this
//! module is unit-tested without a database or a socket. This file is the folder's index: the
//! files import each other directly, never through it.

pub mod agent;
pub mod analysis;
pub mod call;
pub mod campaign;
pub mod clock;
pub mod cost;
pub mod do_not_call;
pub mod input;
pub mod lead;
pub mod lead_import;
pub mod overview;
pub mod phone;
pub mod phone_number;
pub mod progress;
pub mod test_call;
pub mod time;
pub mod time_zones;
pub mod tool;
pub mod webhook;

pub use agent::{Agent, AgentInput, RecordingSource, VoiceBackend};
pub use analysis::{AnalysisSettings, AnalysisStatus, CallAnalysis, Sentiment};
pub use call::{
    Call, CallDirection, CallEvent, CallStatus, NewCall, OutboundRequest, Recording, RejectReason,
    Speaker, TranscriptLine,
};
pub use campaign::{
    CallingHours, Campaign, CampaignAction, CampaignInput, CampaignSettings, CampaignStatus,
    LeadHours, LeadStatus, Outcome, PoolAgent, SelectionStrategy,
};
pub use clock::{Clock, SharedClock, SystemClock};
pub use cost::{CallCost, CostFacts, CostRates};
pub use do_not_call::{DncEntry, DncSource, NewDncEntry};
pub use input::Invalid;
pub use lead::{Lead, NewLead};
pub use lead_import::{
    DuplicateRow, LeadCsvError, LeadImport, LeadRow, RejectedRow, parse_leads_csv,
};
pub use phone::{E164, PhoneError};
pub use phone_number::{Carrier, NumberStatus, PhoneNumber, PhoneNumberInput};
pub use progress::{CampaignProgress, LeadCounts};
pub use test_call::{EchoMode, Mute, TestCallInput};
pub use time::Timestamp;
pub use tool::{
    BuiltinTool, CallTransfer, HttpMethod, HttpTool, HttpToolInput, McpServer, ToolHeader,
    TransferState, TransferTarget,
};
pub use webhook::{
    DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEventType, WebhookFields, WebhookInput,
};

//! Names for the control API's schemas, all taken from the generated OpenAPI types.
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Agent = Schemas["Agent"];
export type AgentInput = Schemas["AgentInput"];
export type HttpTool = Schemas["HttpTool"];
export type HttpToolInput = Schemas["HttpToolInput"];
export type HttpMethod = Schemas["HttpMethod"];
export type ToolSecret = Schemas["ToolSecret"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type WebhookInput = Schemas["WebhookInput"];
export type WebhookCreated = Schemas["WebhookCreated"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type WebhookEventType = Schemas["WebhookEventType"];
export type DeliveryPage = Schemas["DeliveryPage"];
export type AgentStats = Schemas["AgentStats"];
export type Overview = Schemas["Overview"];
export type OverviewTotals = Schemas["Totals"];
export type Funnel = Schemas["Funnel"];
export type PhoneNumber = Schemas["PhoneNumber"];
export type PhoneNumberInput = Schemas["PhoneNumberInput"];
export type Carrier = Schemas["Carrier"];
/** The carriers a number can be on (`Carrier` less `local`, which only test calls use). */
export type NumberCarrier = Schemas["NumberCarrier"];
export type NumberStatus = Schemas["NumberStatus"];
export type Call = Schemas["Call"];
export type CallDetail = Schemas["CallDetail"];
export type CallTransfer = Schemas["CallTransfer"];
export type TranscriptMatch = Schemas["TranscriptMatch"];
export type McpServer = Schemas["McpServer"];
export type AnalysisSettings = Schemas["AnalysisSettings"];
export type AnalysisInput = Schemas["AnalysisInput"];
export type AnalysisField = Schemas["AnalysisField"];
export type FieldType = Schemas["FieldType"];
export type CallAnalysis = Schemas["CallAnalysis"];
export type AnalysisStatus = Schemas["AnalysisStatus"];
export type Sentiment = Schemas["Sentiment"];
export type SummaryMatch = Schemas["SummaryMatch"];
export type CallPage = Schemas["CallPage"];
export type CallStatus = Schemas["CallStatus"];
export type CallDirection = Schemas["CallDirection"];
export type RejectReason = Schemas["RejectReason"];
export type TranscriptLine = Schemas["TranscriptLine"];
export type Speaker = Schemas["Speaker"];
export type Settings = Schemas["Settings"];
export type ClusterView = Schemas["ClusterView"];
export type BackupStatus = Schemas["BackupStatus"];
export type RestoreStaged = Schemas["RestoreStaged"];
export type CostRates = Schemas["CostRates"];
export type CostRatesView = Schemas["CostRatesView"];
export type CallCost = Schemas["CallCost"];
export type SettingsInput = Schemas["SettingsInput"];
export type WebhookUrls = Schemas["WebhookUrls"];
export type CredentialsOverview = Schemas["CredentialsOverview"];
export type CredentialStatus = Schemas["CredentialStatus"];
export type Provider = Schemas["Provider"];
export type ErrorCode = Schemas["ErrorCode"];
export type ErrorBody = Schemas["ErrorBody"];
export type EngineEvent = Schemas["Event"];
export type ContextUpdated = Schemas["ContextUpdated"];
export type AgentLoad = Schemas["AgentLoad"];
export type OutboundRequest = Schemas["OutboundRequest"];
export type Campaign = Schemas["Campaign"];
export type CampaignView = Schemas["CampaignView"];
export type CampaignInput = Schemas["CampaignInput"];
export type CampaignSettings = Schemas["CampaignSettings"];
export type CampaignStatus = Schemas["CampaignStatus"];
export type CampaignProgress = Schemas["CampaignProgress"];
export type CallingWindow = Schemas["CallingWindow"];
export type PoolAgent = Schemas["PoolAgent"];
export type SelectionStrategy = Schemas["SelectionStrategy"];
export type Outcome = Schemas["Outcome"];
export type Lead = Schemas["Lead"];
export type LeadPage = Schemas["LeadPage"];
export type LeadStatus = Schemas["LeadStatus"];
export type LeadCounts = Schemas["LeadCounts"];
export type DncEntry = Schemas["DncEntry"];
export type DncPage = Schemas["DncPage"];
export type DncInput = Schemas["DncInput"];
export type DncImportReport = Schemas["DncImportReport"];
export type AudioDevices = Schemas["AudioDevices"];
export type DeviceInfo = Schemas["DeviceInfo"];
export type EchoMode = Schemas["EchoMode"];
export type Level = Schemas["Level"];
export type TonePlayed = Schemas["TonePlayed"];
export type TestCallInput = Schemas["TestCallInput"];
export type Listening = Schemas["Listening"];
export type AccountSync = Schemas["AccountSync"];
export type AccountNumberView = Schemas["AccountNumberView"];
export type Pointing = Schemas["Pointing"];
export type Pointed = Schemas["Pointed"];
export type AvailableNumber = Schemas["AvailableNumber"];
export type NumberKind = "local" | "mobile" | "toll_free";
export type BuyInput = Schemas["BuyInput"];
export type PurchaseRequirements = Schemas["PurchaseRequirements"];
export type SetupInput = Schemas["SetupInput"];
export type SetupDone = Schemas["SetupDone"];

/**
 * The answer of `POST /api/campaigns/{id}/leads/import` (a `text/csv` body; `?dry_run=true`
 * checks without storing). Written here from the agreed contract until the engine's OpenAPI
 * document describes the route; then it comes from `Schemas` like the rest.
 */
export interface LeadImportResult {
  /** Leads stored (or, on a dry run, that would be). */
  imported: number;
  rejected: { line: number; reason: string; raw: string }[];
  /** `first_line` null: the number is already in the campaign. */
  duplicates: { line: number; phone: string; first_line: number | null }[];
  /** Data rows in the file (the header and blank rows do not count). */
  total_rows: number;
}

export const LEAD_STATUSES: readonly LeadStatus[] = ["pending", "dialing", "done", "failed"];
export const CARRIERS: readonly NumberCarrier[] = ["twilio", "telnyx", "livekit"];
/** Statuses of a call still under way (the API's `status=live`). */
export const LIVE_STATUSES: readonly CallStatus[] = ["queued", "ringing", "in_progress"];
export const CALL_STATUSES: readonly CallStatus[] = [
  "queued",
  "ringing",
  "in_progress",
  "completed",
  "busy",
  "no_answer",
  "failed",
  "rejected",
  "canceled",
];

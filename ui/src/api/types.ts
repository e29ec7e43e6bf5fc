//! Names for the control API's schemas, all taken from the generated OpenAPI types.
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Agent = Schemas["Agent"];
export type AgentInput = Schemas["AgentInput"];
export type AgentStats = Schemas["AgentStats"];
export type PhoneNumber = Schemas["PhoneNumber"];
export type PhoneNumberInput = Schemas["PhoneNumberInput"];
export type Carrier = Schemas["Carrier"];
export type NumberStatus = Schemas["NumberStatus"];
export type Call = Schemas["Call"];
export type CallDetail = Schemas["CallDetail"];
export type CallPage = Schemas["CallPage"];
export type CallStatus = Schemas["CallStatus"];
export type CallDirection = Schemas["CallDirection"];
export type RejectReason = Schemas["RejectReason"];
export type TranscriptLine = Schemas["TranscriptLine"];
export type Settings = Schemas["Settings"];
export type SettingsInput = Schemas["SettingsInput"];
export type WebhookUrls = Schemas["WebhookUrls"];
export type CredentialsOverview = Schemas["CredentialsOverview"];
export type CredentialStatus = Schemas["CredentialStatus"];
export type Provider = Schemas["Provider"];
export type ErrorCode = Schemas["ErrorCode"];
export type ErrorBody = Schemas["ErrorBody"];
export type EngineEvent = Schemas["Event"];
export type ContextUpdated = Schemas["ContextUpdated"];

export const CARRIERS: readonly Carrier[] = ["twilio", "telnyx", "livekit"];
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

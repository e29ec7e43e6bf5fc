//! The control API client: openapi-fetch typed by the generated `paths`, plus the one place
//! where HTTP failures become `ApiError`s (the engine's `{error: {code, message, field}}`).
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import type {
  AccountSync,
  AvailableNumber,
  PurchaseRequirements,
  SetupDone,
  SetupInput,
  BuyInput,
  Agent,
  AgentInput,
  AgentLoad,
  AgentStats,
  AudioDevices,
  Call,
  CallAnalysis,
  CallDetail,
  CallPage,
  BackupStatus,
  ClusterView,
  CampaignInput,
  CampaignView,
  ContextUpdated,
  CredentialsOverview,
  ErrorCode,
  Funnel,
  Overview,
  LeadImportResult,
  DncEntry,
  DncImportReport,
  DncInput,
  DncPage,
  LeadPage,
  Level,
  NumberCarrier,
  NumberKind,
  OutboundRequest,
  PhoneNumber,
  PhoneNumberInput,
  Pointed,
  RestoreStaged,
  Provider,
  Settings,
  CostRates,
  CostRatesView,
  SettingsInput,
  Listening,
  TestCallInput,
  TonePlayed,
  ToolSecret,
  DeliveryPage,
  WebhookCreated,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookInput,
} from "./types";

/** Where the engine's control API is and the bearer token it wants. */
export interface Connection {
  apiBase: string;
  token: string;
}

/** A failed request. `offline` means the engine could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "offline",
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** A message to show for anything thrown by an API call. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

export interface ApiHooks {
  /** The engine refused the token (HTTP 401). */
  unauthorized(): void;
  /** The engine could not be reached. */
  offline(): void;
}

/** The call log's filters and paging, as the API defines them. */
export type CallQuery = NonNullable<paths["/api/calls"]["get"]["parameters"]["query"]>;
/** A campaign's leads: status filter and paging. */
export type LeadQuery = NonNullable<paths["/api/campaigns/{id}/leads"]["get"]["parameters"]["query"]>;
export type CampaignAction = "start" | "pause" | "resume" | "stop";

const ERROR_CODES: readonly string[] = [
  "malformed",
  "unauthorized",
  "not_found",
  "duplicate_number",
  "duplicate_name",
  "agent_in_use",
  "conflict",
  "do_not_call",
  "invalid",
  "keyring_unavailable",
  "carrier_error",
  "audio_unavailable",
  "internal",
];

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && ERROR_CODES.includes(code);
}

/** Turns an error response body into an `ApiError`, keeping the engine's own message. */
export function toApiError(status: number, body: unknown): ApiError {
  if (typeof body === "object" && body !== null && "error" in body) {
    const detail: unknown = body.error;
    if (typeof detail === "object" && detail !== null && "code" in detail && "message" in detail) {
      const code = isErrorCode(detail.code) ? detail.code : "internal";
      const message = typeof detail.message === "string" ? detail.message : `HTTP ${status}`;
      const field = "field" in detail && typeof detail.field === "string" ? detail.field : null;
      return new ApiError(status, code, message, field);
    }
  }
  const text = typeof body === "string" && body.trim() !== "" ? `: ${body.trim().slice(0, 200)}` : "";
  return new ApiError(
    status,
    status === 401 ? "unauthorized" : "internal",
    `The engine answered HTTP ${status}${text}`,
  );
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export class Api {
  private readonly client;

  constructor(
    readonly connection: Connection,
    private readonly hooks: ApiHooks,
  ) {
    this.client = createClient<paths>({ baseUrl: connection.apiBase });
    this.client.use({
      onRequest: ({ request }) => {
        request.headers.set("Authorization", `Bearer ${connection.token}`);
        return request;
      },
    });
  }

  /** Awaits an openapi-fetch call: the data on success, an `ApiError` thrown otherwise. */
  private async run<T>(request: Promise<Outcome<T>>): Promise<T> {
    let outcome: Outcome<T>;
    try {
      outcome = await request;
    } catch {
      throw this.unreachable();
    }
    const { response } = outcome;
    if (!response.ok) throw this.refused(response.status, outcome.error);
    return outcome.data as T;
  }

  /** The engine could not be reached: the hooks are told, and the error to throw returned. */
  private unreachable(): ApiError {
    this.hooks.offline();
    return new ApiError(0, "offline", `Cannot reach the engine at ${this.connection.apiBase}. Is Switchboard running?`);
  }

  /** The engine answered with a failure: a 401 is reported to the hooks, and the error returned. */
  private refused(status: number, body: unknown): ApiError {
    if (status === 401) this.hooks.unauthorized();
    return toApiError(status, body);
  }

  /**
   * Uploads a body to a route the generated types do not describe yet, with the same
   * authorization and error handling as every other request. XMLHttpRequest rather than
   * fetch: only it reports how much of the body has been sent (`onUpload`, in bytes).
   */
  private send(
    path: string,
    body: Blob | string,
    contentType: string,
    onUpload?: (sent: number, total: number) => void,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.connection.apiBase}${path}`);
      xhr.setRequestHeader("Authorization", `Bearer ${this.connection.token}`);
      xhr.setRequestHeader("Content-Type", contentType);
      if (onUpload) {
        xhr.upload.onprogress = (e) => {
          onUpload(e.loaded, e.lengthComputable ? e.total : 0);
        };
      }
      xhr.onerror = () => {
        reject(this.unreachable());
      };
      xhr.onabort = xhr.onerror;
      xhr.onload = () => {
        const text = xhr.responseText;
        let answer: unknown = text;
        try {
          answer = text === "" ? null : JSON.parse(text);
        } catch {
          // Not JSON: keep the text for the error message.
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
        else reject(this.refused(xhr.status, answer));
      };
      xhr.send(body);
    });
  }

  listAgents(): Promise<Agent[]> {
    return this.run(this.client.GET("/api/agents"));
  }
  /** A new agent and a new number for it, in one step (undone whole if a step fails). */
  createAgentWithNumber(body: SetupInput): Promise<SetupDone> {
    return this.run(this.client.POST("/api/agents/with-number", { body }));
  }
  createAgent(body: AgentInput): Promise<Agent> {
    return this.run(this.client.POST("/api/agents", { body }));
  }
  updateAgent(id: string, body: AgentInput): Promise<Agent> {
    return this.run(this.client.PUT("/api/agents/{id}", { params: { path: { id } }, body }));
  }
  async deleteAgent(id: string, force = false): Promise<void> {
    await this.run(
      this.client.DELETE("/api/agents/{id}", { params: { path: { id }, query: force ? { force: true } : {} } }),
    );
  }
  agentStats(id: string): Promise<AgentStats> {
    return this.run(this.client.GET("/api/agents/{id}/stats", { params: { path: { id } } }));
  }
  /** Replaces an agent's context; its live calls get the new instructions at once. */
  putAgentContext(id: string, context: Record<string, unknown>): Promise<ContextUpdated> {
    return this.run(this.client.PUT("/api/agents/{id}/context", { params: { path: { id } }, body: context }));
  }

  /** The numbers at a glance over local days `from..=to` in a time zone. */
  overview(query: {
    from: string;
    to: string;
    tz: string;
    agent_id?: string;
    campaign_id?: string;
  }): Promise<Overview> {
    return this.run(this.client.GET("/api/overview", { params: { query } }));
  }
  /** A campaign's calls from dialed to goal met. */
  campaignFunnel(id: string): Promise<Funnel> {
    return this.run(this.client.GET("/api/campaigns/{id}/funnel", { params: { path: { id } } }));
  }

  /** Live calls per agent against each one's maximum. */
  agentLoadStats(): Promise<AgentLoad[]> {
    return this.run(this.client.GET("/api/agents/load-stats"));
  }

  listNumbers(): Promise<PhoneNumber[]> {
    return this.run(this.client.GET("/api/phone-numbers"));
  }
  createNumber(body: PhoneNumberInput): Promise<PhoneNumber> {
    return this.run(this.client.POST("/api/phone-numbers", { body }));
  }
  updateNumber(id: string, body: PhoneNumberInput): Promise<PhoneNumber> {
    return this.run(this.client.PUT("/api/phone-numbers/{id}", { params: { path: { id } }, body }));
  }
  /** The carrier account's numbers, where each points, and ours it no longer has. */
  syncNumbers(carrier: NumberCarrier): Promise<AccountSync> {
    return this.run(this.client.GET("/api/carriers/{carrier}/numbers", { params: { path: { carrier } } }));
  }
  /** Takes an account's number into Switchboard and points it here. */
  importNumber(
    carrier: NumberCarrier,
    carrierNumberId: string,
    body: { inbound_agent_id?: string; point?: boolean },
  ): Promise<PhoneNumber> {
    return this.run(
      this.client.POST("/api/carriers/{carrier}/numbers/{carrier_number_id}/import", {
        params: { path: { carrier, carrier_number_id: carrierNumberId } },
        body,
      }),
    );
  }
  /** Numbers the carrier offers. */
  searchNumbers(
    carrier: NumberCarrier,
    query: { country: string; kind: NumberKind; area_code?: string; contains?: string },
  ): Promise<AvailableNumber[]> {
    return this.run(
      this.client.GET("/api/carriers/{carrier}/available-numbers", { params: { path: { carrier }, query } }),
    );
  }
  /** The account's addresses and approved bundles for buying numbers of `kind` in `country`. */
  purchaseRequirements(
    carrier: NumberCarrier,
    query: { country: string; kind: NumberKind },
  ): Promise<PurchaseRequirements> {
    return this.run(
      this.client.GET("/api/carriers/{carrier}/available-numbers/requirements", {
        params: { path: { carrier }, query },
      }),
    );
  }
  /** Buys a number, pointed here and managed. */
  buyNumber(carrier: NumberCarrier, body: BuyInput): Promise<PhoneNumber> {
    return this.run(
      this.client.POST("/api/carriers/{carrier}/available-numbers/buy", { params: { path: { carrier } }, body }),
    );
  }
  /** Points a managed number's calls at this engine. */
  pointNumber(id: string): Promise<PhoneNumber> {
    return this.run(this.client.POST("/api/phone-numbers/{id}/point", { params: { path: { id } } }));
  }
  /** Re-points the numbers that send calls to an old public URL: each one's result. */
  pointAllNumbers(): Promise<Pointed[]> {
    return this.run(this.client.POST("/api/phone-numbers/point", { body: {} }));
  }
  /** `release`: also give the number back to its carrier (the account stops paying for it). */
  async deleteNumber(id: string, release = false): Promise<void> {
    await this.run(
      this.client.DELETE("/api/phone-numbers/{id}", { params: { path: { id }, query: release ? { release } : {} } }),
    );
  }

  listCalls(query: CallQuery): Promise<CallPage> {
    return this.run(this.client.GET("/api/calls", { params: { query } }));
  }
  /** The call log as CSV (every call the filters match; `limit` and `offset` do not apply),
   * with the file name the engine suggests. */
  async exportCalls(query: CallQuery): Promise<{ blob: Blob; name: string }> {
    let outcome;
    try {
      outcome = await this.client.GET("/api/calls/export", { params: { query }, parseAs: "blob" });
    } catch {
      throw this.unreachable();
    }
    const { response } = outcome;
    if (!response.ok) throw this.refused(response.status, outcome.error);
    const disposition = response.headers.get("content-disposition") ?? "";
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? "calls.csv";
    const blob = outcome.data;
    if (blob === undefined) throw new ApiError(0, "internal", "The export came back empty.");
    return { blob, name };
  }
  getCall(id: string): Promise<CallDetail> {
    return this.run(this.client.GET("/api/calls/{id}", { params: { path: { id } } }));
  }
  /** The call's recording (stereo WAV: the caller left, the agent right), whole: a player
   * seeks in it locally. */
  async getCallRecording(id: string): Promise<Blob> {
    let outcome;
    try {
      outcome = await this.client.GET("/api/calls/{id}/recording", {
        params: { path: { id } },
        parseAs: "blob",
      });
    } catch {
      throw this.unreachable();
    }
    const { response } = outcome;
    if (!response.ok) throw this.refused(response.status, outcome.error);
    if (outcome.data === undefined) throw new ApiError(0, "internal", "The recording came back empty.");
    return outcome.data;
  }
  /** Deletes an ended call with its transcript and recording. */
  async deleteCall(id: string): Promise<void> {
    await this.run(this.client.DELETE("/api/calls/{id}", { params: { path: { id } } }));
  }
  /** Replaces a call's own context; a live call gets the new instructions at once. */
  putCallContext(id: string, context: Record<string, unknown>): Promise<ContextUpdated> {
    return this.run(this.client.PUT("/api/calls/{id}/context", { params: { path: { id } }, body: context }));
  }
  /** Runs a call's post-call analysis again (202: queued; its result arrives as an event). */
  analyzeCall(id: string): Promise<CallAnalysis> {
    return this.run(this.client.POST("/api/calls/{id}/analysis", { params: { path: { id } } }));
  }
  /** Asks the engine to end a call (202: under way; the call's end arrives as an event). */
  async hangUpCall(id: string): Promise<void> {
    await this.run(this.client.POST("/api/calls/{id}/hangup", { params: { path: { id } } }));
  }
  /** Places one call now (201: the carrier is placing it). */
  placeCall(body: OutboundRequest): Promise<Call> {
    return this.run(this.client.POST("/api/calls/outbound", { body }));
  }
  async liveCallCount(): Promise<number> {
    const page = await this.listCalls({ status: "live", limit: 1 });
    return page.total;
  }

  listCampaigns(): Promise<CampaignView[]> {
    return this.run(this.client.GET("/api/campaigns"));
  }
  getCampaign(id: string): Promise<CampaignView> {
    return this.run(this.client.GET("/api/campaigns/{id}", { params: { path: { id } } }));
  }
  createCampaign(body: CampaignInput): Promise<CampaignView> {
    return this.run(this.client.POST("/api/campaigns", { body }));
  }
  updateCampaign(id: string, body: CampaignInput): Promise<CampaignView> {
    return this.run(this.client.PUT("/api/campaigns/{id}", { params: { path: { id } }, body }));
  }
  async deleteCampaign(id: string): Promise<void> {
    await this.run(this.client.DELETE("/api/campaigns/{id}", { params: { path: { id } } }));
  }
  campaignAction(id: string, action: CampaignAction): Promise<CampaignView> {
    const params = { params: { path: { id } } };
    switch (action) {
      case "start":
        return this.run(this.client.POST("/api/campaigns/{id}/start", params));
      case "pause":
        return this.run(this.client.POST("/api/campaigns/{id}/pause", params));
      case "resume":
        return this.run(this.client.POST("/api/campaigns/{id}/resume", params));
      case "stop":
        return this.run(this.client.POST("/api/campaigns/{id}/stop", params));
    }
  }
  listLeads(id: string, query: LeadQuery): Promise<LeadPage> {
    return this.run(this.client.GET("/api/campaigns/{id}/leads", { params: { path: { id }, query } }));
  }
  /**
   * Sends a lead list (CSV, as a file or pasted text) to a campaign. `dryRun` checks every
   * row and reports what would happen without storing anything. `onUpload` follows the
   * upload; once it reports every byte sent, the engine is reading the list.
   */
  async importLeads(
    id: string,
    csv: Blob | string,
    dryRun: boolean,
    onUpload?: (sent: number, total: number) => void,
  ): Promise<LeadImportResult> {
    const body = await this.send(
      `/api/campaigns/${encodeURIComponent(id)}/leads/import?dry_run=${dryRun ? "true" : "false"}`,
      csv,
      "text/csv",
      onUpload,
    );
    return toLeadImport(body);
  }

  /** A do-not-call list: the global one, or `campaignId`'s. `q`: digits the number contains. */
  listDoNotCall(query: { campaign_id?: string; q?: string; limit: number; offset: number }): Promise<DncPage> {
    return this.run(this.client.GET("/api/do-not-call", { params: { query } }));
  }
  addDoNotCall(body: DncInput): Promise<DncEntry> {
    return this.run(this.client.POST("/api/do-not-call", { body }));
  }
  async removeDoNotCall(id: number): Promise<void> {
    await this.run(this.client.DELETE("/api/do-not-call/{id}", { params: { path: { id } } }));
  }
  /** Numbers from a CSV file (a phone column, an optional note) onto a list. */
  async importDoNotCall(csv: Blob | string, campaignId: string | null): Promise<DncImportReport> {
    const scope = campaignId === null ? "" : `?campaign_id=${encodeURIComponent(campaignId)}`;
    const body = await this.send(`/api/do-not-call/import${scope}`, csv, "text/csv");
    if (typeof body === "object" && body !== null && "added" in body && "rejected" in body) {
      return body as DncImportReport;
    }
    throw new ApiError(200, "internal", "The engine's answer to the import is not in the expected form.");
  }

  getSettings(): Promise<Settings> {
    return this.run(this.client.GET("/api/settings"));
  }
  updateSettings(body: SettingsInput): Promise<Settings> {
    return this.run(this.client.PUT("/api/settings", { body }));
  }

  /** The rates call costs are estimated at, and where the defaults come from. */
  /** What backups can do here (none on PostgreSQL), and whether a restore waits for a restart. */
  getBackupStatus(): Promise<BackupStatus> {
    return this.run(this.client.GET("/api/backup/status"));
  }
  /** A consistent copy of the database, checked, with the file name the engine suggests. */
  async downloadBackup(): Promise<{ blob: Blob; name: string }> {
    let outcome;
    try {
      outcome = await this.client.GET("/api/backup", { parseAs: "blob" });
    } catch {
      throw this.unreachable();
    }
    const { response } = outcome;
    if (!response.ok) throw this.refused(response.status, outcome.error);
    const disposition = response.headers.get("content-disposition") ?? "";
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? "switchboard-backup.sqlite";
    const blob = outcome.data;
    if (blob === undefined) throw new ApiError(0, "internal", "The backup came back empty.");
    return { blob, name };
  }
  /** Checks a backup file and stages it: it takes effect when Switchboard restarts. */
  async restoreBackup(file: Blob, onUpload?: (sent: number, total: number) => void): Promise<RestoreStaged> {
    return (await this.send("/api/backup/restore", file, "application/octet-stream", onUpload)) as RestoreStaged;
  }
  getCluster(): Promise<ClusterView> {
    return this.run(this.client.GET("/api/cluster"));
  }
  getCostRates(): Promise<CostRatesView> {
    return this.run(this.client.GET("/api/cost-rates"));
  }
  putCostRates(body: CostRates): Promise<CostRatesView> {
    return this.run(this.client.PUT("/api/cost-rates", { body }));
  }
  resetCostRates(): Promise<CostRatesView> {
    return this.run(this.client.DELETE("/api/cost-rates"));
  }

  /** This machine's microphones and speakers, and the ones chosen in Settings. */
  audioDevices(): Promise<AudioDevices> {
    return this.run(this.client.GET("/api/audio"));
  }
  /** Plays a one-second tone through `output` (the chosen speaker when left out); resolves
   * once it has played. */
  playTestTone(output?: string): Promise<TonePlayed> {
    return this.run(this.client.POST("/api/audio/tone", { body: output === undefined ? {} : { output } }));
  }
  /** The microphone's level over a quarter of a second (`input`: the chosen one when left out). */
  audioLevel(input?: string): Promise<Level> {
    return this.run(this.client.POST("/api/audio/level", { body: input === undefined ? {} : { input } }));
  }

  /** Starts a test call through this machine's microphone and speakers (201: it is up). */
  startTestCall(body: TestCallInput): Promise<Call> {
    return this.run(this.client.POST("/api/test-calls", { body }));
  }
  /** Which call plays through this computer's speakers, and how loud. */
  getListening(): Promise<Listening> {
    return this.run(this.client.GET("/api/listen"));
  }
  /** Plays a live call through this computer's speakers (`null` stops), at a volume (0–1). */
  putListening(callId: string | null, volume?: number): Promise<Listening> {
    return this.run(
      this.client.PUT("/api/listen", {
        body: volume === undefined ? { call_id: callId } : { call_id: callId, volume },
      }),
    );
  }
  /** Takes over a call being listened to here: this computer's microphone goes to the caller. */
  takeOver(id: string): Promise<Listening> {
    return this.run(this.client.POST("/api/calls/{id}/take-over", { params: { path: { id } } }));
  }
  /** Hands a call taken over back to its agent (listening goes on). */
  handBack(id: string): Promise<Listening> {
    return this.run(this.client.POST("/api/calls/{id}/hand-back", { params: { path: { id } } }));
  }
  /** A note to a live call's agent that the caller does not hear. */
  whisper(id: string, text: string): Promise<ContextUpdated> {
    return this.run(this.client.POST("/api/calls/{id}/whisper", { params: { path: { id } }, body: { text } }));
  }
  /** Mutes or unmutes a running test call's microphone. */
  async muteTestCall(id: string, muted: boolean): Promise<boolean> {
    const res = await this.run(
      this.client.PUT("/api/test-calls/{id}/mute", { params: { path: { id } }, body: { muted } }),
    );
    return res.muted;
  }

  getCredentials(): Promise<CredentialsOverview> {
    return this.run(this.client.GET("/api/credentials"));
  }
  async putCredentials(provider: Provider, values: Record<string, string>): Promise<void> {
    await this.run(this.client.PUT("/api/credentials/{provider}", { params: { path: { provider } }, body: values }));
  }
  async deleteCredentials(provider: Provider): Promise<void> {
    await this.run(this.client.DELETE("/api/credentials/{provider}", { params: { path: { provider } } }));
  }
  /** Tool secrets by name, with the tools that use them; values are never returned. */
  listToolSecrets(): Promise<ToolSecret[]> {
    return this.run(this.client.GET("/api/tool-secrets"));
  }
  async putToolSecret(name: string, value: string): Promise<void> {
    await this.run(this.client.PUT("/api/tool-secrets/{name}", { params: { path: { name } }, body: { value } }));
  }
  async deleteToolSecret(name: string): Promise<void> {
    await this.run(this.client.DELETE("/api/tool-secrets/{name}", { params: { path: { name } } }));
  }

  /** Endpoints of the user's systems told about calls (docs/WEBHOOKS.md). */
  listWebhooks(): Promise<WebhookEndpoint[]> {
    return this.run(this.client.GET("/api/webhooks"));
  }
  /** Adds an endpoint; the answer carries its signing secret, shown once. */
  createWebhook(input: WebhookInput): Promise<WebhookCreated> {
    return this.run(this.client.POST("/api/webhooks", { body: input }));
  }
  updateWebhook(id: string, input: WebhookInput): Promise<WebhookEndpoint> {
    return this.run(this.client.PUT("/api/webhooks/{id}", { params: { path: { id } }, body: input }));
  }
  async deleteWebhook(id: string): Promise<void> {
    await this.run(this.client.DELETE("/api/webhooks/{id}", { params: { path: { id } } }));
  }
  async rotateWebhookSecret(id: string): Promise<string> {
    const res = await this.run(this.client.POST("/api/webhooks/{id}/secret/rotate", { params: { path: { id } } }));
    return res.secret;
  }
  /** An endpoint's delivery log, newest first. */
  webhookDeliveries(id: string, limit: number, offset: number): Promise<DeliveryPage> {
    return this.run(
      this.client.GET("/api/webhooks/{id}/deliveries", { params: { path: { id }, query: { limit, offset } } }),
    );
  }
  /** Sends a delivery again (same event id and body). */
  redeliverWebhook(deliveryId: number): Promise<WebhookDelivery> {
    return this.run(
      this.client.POST("/api/webhooks/deliveries/{id}/redeliver", { params: { path: { id: String(deliveryId) } } }),
    );
  }

  /** The events WebSocket URL (browsers cannot set headers on a WebSocket, hence the query). */
  eventsUrl(): string {
    return this.socketUrl("/api/events");
  }
  /** A live call's audio WebSocket: 20 ms messages of 16-bit LE mono PCM at 8 kHz. */
  callAudioUrl(id: string): string {
    return this.socketUrl(`/api/calls/${encodeURIComponent(id)}/audio`);
  }
  private socketUrl(path: string): string {
    const base = new URL(this.connection.apiBase);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    base.pathname = path;
    base.search = new URLSearchParams({ access_token: this.connection.token }).toString();
    return base.toString();
  }
}

/** Reads an import answer, refusing one that does not have the agreed shape. */
function toLeadImport(body: unknown): LeadImportResult {
  if (typeof body === "object" && body !== null) {
    const b = body as Partial<Record<keyof LeadImportResult, unknown>>;
    if (
      typeof b.imported === "number" &&
      typeof b.total_rows === "number" &&
      Array.isArray(b.rejected) &&
      Array.isArray(b.duplicates)
    ) {
      return body as LeadImportResult;
    }
  }
  throw new ApiError(200, "internal", "The engine's answer to the import is not in the expected form.");
}

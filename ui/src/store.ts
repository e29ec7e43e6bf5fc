//! The app's one state value: the connection, the lists every page shares (agents, numbers,
//! campaigns, settings, credentials), the calls live now and their count, kept current by the
//! event stream.
//! Pages read it through `useAppState`; only this module writes it.
import { useEffect, useState } from "preact/hooks";
import { Api, ApiError, isApiError } from "./api/client";
import { checkToken, discoverEngine, forgetToken, saveToken } from "./api/connection";
import { EventStream } from "./api/events";
import {
  LIVE_STATUSES,
  type Agent,
  type Call,
  type Campaign,
  type CampaignProgress,
  type CampaignView,
  type CredentialsOverview,
  type EngineEvent,
  type PhoneNumber,
  type Settings,
  type TranscriptLine,
} from "./api/types";

/** Data fetched from the engine: the last good value is kept while reloading or after an error. */
export interface Remote<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
}

export type Phase =
  | { kind: "starting" }
  | { kind: "signin"; rejected: boolean }
  | { kind: "ready" }
  | { kind: "failed"; message: string };

export type EngineLink = "connecting" | "online" | "offline";

export interface AppState {
  phase: Phase;
  desktop: boolean;
  apiBase: string;
  engine: EngineLink;
  /** When the next reconnection attempt happens, while offline. */
  retryAt: number | null;
  agents: Remote<Agent[]>;
  numbers: Remote<PhoneNumber[]>;
  /** Newest first, each with its progress (kept current by `campaign_progress` events). */
  campaigns: Remote<CampaignView[]>;
  /** Why the dialer paused a campaign by itself, by campaign id, until it runs again. The
   * reason only travels in the `campaign_paused` event, so it is kept here for every page. */
  campaignPauses: Record<string, string>;
  settings: Remote<Settings>;
  credentials: Remote<CredentialsOverview>;
  /** Calls live now (queued, ringing, in progress), longest-running first. */
  live: Remote<Call[]>;
  liveCalls: number | null;
  /** Bumped whenever a call is created or changes, so views of calls refetch. */
  callsRevision: number;
}

const idle = <T>(): Remote<T> => ({ data: null, error: null, loading: true });

/** What is loaded from the engine: nothing yet, at start and on every (re)connection. */
const unloaded = (): Pick<
  AppState,
  "agents" | "numbers" | "campaigns" | "settings" | "credentials" | "live" | "liveCalls"
> => ({
  agents: idle(),
  numbers: idle(),
  campaigns: idle(),
  settings: idle(),
  credentials: idle(),
  live: idle(),
  liveCalls: null,
});

let state: AppState = {
  phase: { kind: "starting" },
  desktop: false,
  apiBase: "",
  engine: "connecting",
  retryAt: null,
  ...unloaded(),
  campaignPauses: {},
  callsRevision: 0,
};

const listeners = new Set<() => void>();
const transcriptListeners = new Set<(line: TranscriptLine) => void>();
const eventListeners = new Set<(e: EngineEvent) => void>();
let api: Api | null = null;
let stream: EventStream | null = null;
let liveTimer: number | undefined;
/** Counts call events, so a live-list load that raced one is redone rather than trusted. */
let callEvents = 0;
/** The same for campaign events and the campaign list. */
let campaignEvents = 0;

/** The most calls one request lists (the API's maximum page). */
const LIVE_PAGE = 500;

function set(patch: Partial<AppState>): void {
  state = { ...state, ...patch };
  for (const l of listeners) l();
}

export function getState(): AppState {
  return state;
}

export function useAppState(): AppState {
  const [, setTick] = useState(0);
  const rendered = state;
  useEffect(() => {
    const l = () => {
      setTick((t) => t + 1);
    };
    listeners.add(l);
    // Effects run after paint: catch up with changes made since this component rendered.
    if (state !== rendered) l();
    return () => {
      listeners.delete(l);
    };
  }, []);
  return state;
}

/** The API client; only valid once the phase is `ready`. */
export function useApi(): Api {
  if (!api) throw new Error("the engine connection is not ready");
  return api;
}

/** Subscribes to transcript lines as they arrive; returns the unsubscribe function. */
export function onTranscriptLine(listener: (line: TranscriptLine) => void): () => void {
  transcriptListeners.add(listener);
  return () => {
    transcriptListeners.delete(listener);
  };
}

export type EventOf<T extends EngineEvent["type"]> = Extract<EngineEvent, { type: T }>;

/** Subscribes to one kind of engine event, after the shared state has taken it in; returns
 * the unsubscribe function. */
export function onEvent<T extends EngineEvent["type"]>(type: T, listener: (e: EventOf<T>) => void): () => void {
  const l = (e: EngineEvent) => {
    if (e.type === type) listener(e as EventOf<T>);
  };
  eventListeners.add(l);
  return () => {
    eventListeners.delete(l);
  };
}

async function load<K extends "agents" | "numbers" | "settings" | "credentials">(
  key: K,
  fetcher: (a: Api) => Promise<NonNullable<AppState[K]["data"]>>,
): Promise<void> {
  const a = api;
  if (!a) return;
  set({ [key]: { ...state[key], loading: true } });
  try {
    const data = await fetcher(a);
    if (api !== a) return;
    set({ [key]: { data, error: null, loading: false } });
  } catch (e) {
    if (api !== a) return;
    const error = isApiError(e) ? e : new ApiError(0, "internal", String(e));
    set({ [key]: { ...state[key], error, loading: false } });
  }
}

export const reload = {
  agents: () => load("agents", (a) => a.listAgents()),
  numbers: () => load("numbers", (a) => a.listNumbers()),
  async campaigns(): Promise<void> {
    const a = api;
    if (!a) return;
    const seen = campaignEvents;
    set({ campaigns: { ...state.campaigns, loading: true } });
    try {
      const data = await a.listCampaigns();
      if (api !== a) return;
      // Progress that arrived while the request was out is newer than the answer: ask again.
      if (campaignEvents !== seen) {
        void reload.campaigns();
        return;
      }
      set({ campaigns: { data, error: null, loading: false } });
    } catch (e) {
      if (api !== a) return;
      const error = isApiError(e) ? e : new ApiError(0, "internal", String(e));
      set({ campaigns: { ...state.campaigns, error, loading: false } });
    }
  },
  /** One campaign again (after its leads changed, say); gone from the list if deleted. */
  async campaign(id: string): Promise<void> {
    const a = api;
    if (!a) return;
    const seen = campaignEvents;
    try {
      const view = await a.getCampaign(id);
      if (api !== a) return;
      // A campaign event while the request was out may be newer than the answer (a rename
      // the answer predates would be undone): ask again.
      if (campaignEvents !== seen) {
        void reload.campaign(id);
        return;
      }
      takeCampaign(view);
    } catch (e) {
      if (api === a && isApiError(e) && e.code === "not_found") dropCampaign(id);
    }
  },
  settings: () => load("settings", (a) => a.getSettings()),
  credentials: () => load("credentials", (a) => a.getCredentials()),
  async live(): Promise<void> {
    const a = api;
    if (!a) return;
    const seen = callEvents;
    set({ live: { ...state.live, loading: true } });
    try {
      const page = await a.listCalls({ status: "live", limit: LIVE_PAGE });
      if (api !== a) return;
      // A call event while the request was out may be newer than the answer: ask again.
      if (callEvents !== seen) {
        void reload.live();
        return;
      }
      set({ live: { data: byStart(page.items), error: null, loading: false } });
    } catch (e) {
      if (api !== a) return;
      const error = isApiError(e) ? e : new ApiError(0, "internal", String(e));
      set({ live: { ...state.live, error, loading: false } });
    }
  },
  async liveCalls(): Promise<void> {
    const a = api;
    if (!a) return;
    try {
      const n = await a.liveCallCount();
      if (api === a) set({ liveCalls: n });
    } catch {
      // The strip shows the last count; the offline state is reported elsewhere.
    }
  },
  all(): void {
    void reload.agents();
    void reload.numbers();
    void reload.campaigns();
    void reload.settings();
    void reload.credentials();
    void reload.live();
    void reload.liveCalls();
  },
};

/** Takes in a campaign as an action or a fetch returned it (its events may come later). */
export function takeCampaign(view: CampaignView): void {
  if (!state.campaigns.data) return;
  set({ campaigns: { ...state.campaigns, data: campaignsWith(state.campaigns.data, view) } });
  unpauseUnlessPaused(view);
}

function dropCampaign(id: string): void {
  const data = state.campaigns.data?.filter((c) => c.id !== id) ?? null;
  set({ campaigns: { ...state.campaigns, data }, campaignPauses: without(state.campaignPauses, id) });
}

/** A pause reason stands while the campaign stays paused. */
function unpauseUnlessPaused(c: Campaign): void {
  if (c.status !== "paused" && c.id in state.campaignPauses) {
    set({ campaignPauses: without(state.campaignPauses, c.id) });
  }
}

function without(record: Record<string, string>, key: string): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => k !== key));
}

/** The list with one campaign put in (events carry it without progress: keep the last known). */
function campaignsWith(list: CampaignView[], campaign: Campaign | CampaignView): CampaignView[] {
  const old = list.find((c) => c.id === campaign.id);
  const progress: CampaignProgress =
    "progress" in campaign
      ? campaign.progress
      : (old?.progress ?? {
          campaign_id: campaign.id,
          leads: { total: 0, pending: 0, dialing: 0, done: 0, failed: 0, do_not_call: 0 },
          active_calls: 0,
          cost_usd: 0,
        });
  const view: CampaignView = { ...campaign, progress };
  const rest = list.filter((c) => c.id !== campaign.id);
  return [...rest, view].sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id));
}

function liveCallsSoon(): void {
  window.clearTimeout(liveTimer);
  liveTimer = window.setTimeout(() => void reload.liveCalls(), 250);
}

/** Keeps the shared lists in step with one engine event. */
function apply(e: EngineEvent): void {
  switch (e.type) {
    case "agent_created":
    case "agent_updated": {
      const agents = upsert(state.agents.data, e.agent, (a, b) => a.name.localeCompare(b.name));
      // Numbers show their agents' names: carry a rename over without a refetch.
      const numbers = state.numbers.data?.map((n) => ({
        ...n,
        inbound_agent_name: n.inbound_agent_id === e.agent.id ? e.agent.name : n.inbound_agent_name,
        outbound_agent_name: n.outbound_agent_id === e.agent.id ? e.agent.name : n.outbound_agent_name,
      }));
      set({
        agents: { ...state.agents, data: agents },
        numbers: numbers ? { ...state.numbers, data: numbers } : state.numbers,
      });
      break;
    }
    case "agent_deleted":
      set({ agents: { ...state.agents, data: state.agents.data?.filter((a) => a.id !== e.id) ?? null } });
      if (e.cleared_numbers.length > 0) void reload.numbers();
      break;
    case "phone_number_created":
    case "phone_number_updated":
      set({
        numbers: {
          ...state.numbers,
          data: upsert(state.numbers.data, e.phone_number, (a, b) => a.number.localeCompare(b.number)),
        },
      });
      break;
    case "phone_number_deleted":
      set({ numbers: { ...state.numbers, data: state.numbers.data?.filter((n) => n.id !== e.id) ?? null } });
      break;
    case "campaign_created":
    case "campaign_updated":
      campaignEvents += 1;
      if (state.campaigns.data) {
        set({ campaigns: { ...state.campaigns, data: campaignsWith(state.campaigns.data, e.campaign) } });
      }
      unpauseUnlessPaused(e.campaign);
      break;
    case "campaign_paused":
      campaignEvents += 1;
      set({
        campaigns: state.campaigns.data
          ? { ...state.campaigns, data: campaignsWith(state.campaigns.data, e.campaign) }
          : state.campaigns,
        campaignPauses: { ...state.campaignPauses, [e.campaign.id]: e.reason },
      });
      break;
    case "campaign_deleted":
      campaignEvents += 1;
      dropCampaign(e.id);
      break;
    case "campaign_progress": {
      campaignEvents += 1;
      const list = state.campaigns.data;
      const { progress } = e;
      if (list?.some((c) => c.id === progress.campaign_id)) {
        set({
          campaigns: {
            ...state.campaigns,
            data: list.map((c) => (c.id === progress.campaign_id ? { ...c, progress } : c)),
          },
        });
      }
      break;
    }
    case "call_created":
    case "call_updated":
      callEvents += 1;
      set({ callsRevision: state.callsRevision + 1, live: { ...state.live, data: liveWith(state.live.data, e.call) } });
      liveCallsSoon();
      // A number's `calls_received` counts change with its calls.
      if (e.type === "call_created") void reload.numbers();
      break;
    case "call_deleted":
      callEvents += 1;
      set({
        callsRevision: state.callsRevision + 1,
        live: { ...state.live, data: state.live.data?.filter((c) => c.id !== e.id) ?? null },
      });
      break;
    case "transcript_line":
      for (const l of transcriptListeners) l(e.line);
      break;
    case "call_analysis":
      // The log's filters and the open call's Summary panel read it.
      set({ callsRevision: state.callsRevision + 1 });
      break;
    case "settings_changed":
      void reload.settings();
      break;
    case "credentials_changed":
      void reload.credentials();
      break;
    case "lagged":
      reload.all();
      set({ callsRevision: state.callsRevision + 1 });
      break;
  }
  for (const l of eventListeners) l(e);
}

/** The live list after a call changed: in it while its status is live, out once it is not. */
function liveWith(list: Call[] | null, call: Call): Call[] | null {
  if (!list) return list;
  const rest = list.filter((c) => c.id !== call.id);
  return LIVE_STATUSES.includes(call.status) ? byStart([...rest, call]) : rest;
}

/** Oldest first: a new call joins at the end, so the rows an operator watches stay put. */
function byStart(calls: Call[]): Call[] {
  return [...calls].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at) || a.id.localeCompare(b.id));
}

function upsert<T extends { id: string }>(list: T[] | null, item: T, order: (a: T, b: T) => number): T[] | null {
  if (!list) return list;
  const rest = list.filter((x) => x.id !== item.id);
  return [...rest, item].sort(order);
}

async function streamClosed(retryAt: number): Promise<void> {
  const a = api;
  if (!a) return;
  // A socket that will not open can mean a refused token or a stopped engine: ask plainly.
  const verdict = await checkToken(a.connection.apiBase, a.connection.token);
  if (api !== a) return;
  if (verdict === "rejected") {
    unauthorized();
    return;
  }
  // With the API answering but no event stream, the lists still work: call it connected.
  set({ engine: verdict === "ok" ? "online" : "offline", retryAt: verdict === "ok" ? null : retryAt });
}

function unauthorized(): void {
  if (state.desktop) {
    set({ phase: { kind: "failed", message: "The engine refused the desktop app's token. Restart Switchboard." } });
    return;
  }
  disconnect();
  forgetToken();
  set({ phase: { kind: "signin", rejected: true } });
}

function disconnect(): void {
  stream?.stop();
  stream = null;
  api = null;
}

function connect(apiBase: string, token: string): void {
  disconnect();
  const client = new Api(
    { apiBase, token },
    {
      unauthorized: () => {
        if (api === client) unauthorized();
      },
      offline: () => {
        if (api === client && state.engine !== "offline") set({ engine: "offline" });
      },
    },
  );
  api = client;
  set({ phase: { kind: "ready" }, engine: "connecting", retryAt: null, ...unloaded() });
  stream = new EventStream(client.eventsUrl(), {
    open: () => {
      set({ engine: "online", retryAt: null, callsRevision: state.callsRevision + 1 });
      reload.all();
    },
    event: apply,
    closed: (retryAt) => void streamClosed(retryAt),
  });
  reload.all();
  stream.start();
}

/** Reconnects now instead of waiting out the backoff. */
export function retryNow(): void {
  set({ engine: "connecting", retryAt: null });
  stream?.retryNow();
  reload.all();
}

export async function start(): Promise<void> {
  let found;
  try {
    found = await discoverEngine();
  } catch (e) {
    set({
      phase: { kind: "failed", message: `Could not get the engine's address from the desktop shell: ${String(e)}` },
    });
    return;
  }
  set({ desktop: found.desktop, apiBase: found.apiBase });
  if (found.token) connect(found.apiBase, found.token);
  else set({ phase: { kind: "signin", rejected: false } });
}

/** Signs in with a token (browser only). Resolves to an error message, or null on success. */
export async function signIn(token: string): Promise<string | null> {
  const t = token.trim();
  if (t === "") return "Enter the control API token.";
  const verdict = await checkToken(state.apiBase, t);
  if (verdict === "rejected") return "The engine did not accept that token. Check it and try again.";
  if (verdict === "offline") return `Cannot reach the engine at ${state.apiBase}. Is Switchboard running?`;
  saveToken(t);
  connect(state.apiBase, t);
  return null;
}

export function signOut(): void {
  disconnect();
  forgetToken();
  set({ phase: { kind: "signin", rejected: false } });
}

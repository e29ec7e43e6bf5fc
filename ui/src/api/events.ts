//! The engine's live event stream (`/api/events`): one WebSocket, reconnected with backoff.
//! Consumers refetch on every (re)open, since events sent while disconnected are lost.
import type { EngineEvent } from "./types";

export interface StreamHandlers {
  open(): void;
  event(e: EngineEvent): void;
  /** The socket closed or never opened; a retry is scheduled at `retryAt` (ms since epoch). */
  closed(retryAt: number): void;
}

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

export class EventStream {
  private socket: WebSocket | null = null;
  private timer: number | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly handlers: StreamHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.close();
    }
  }

  /** Skips the rest of the backoff wait. */
  retryNow(): void {
    if (this.stopped || this.socket) return;
    window.clearTimeout(this.timer);
    this.connect();
  }

  private connect(): void {
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.failures = 0;
      this.handlers.open();
    };
    socket.onmessage = (m: MessageEvent) => {
      if (typeof m.data !== "string") return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(m.data);
      } catch {
        return;
      }
      if (typeof parsed === "object" && parsed !== null && "type" in parsed) {
        this.handlers.event(parsed as EngineEvent);
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.failures);
    this.failures += 1;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.timer = window.setTimeout(() => {
      this.connect();
    }, delay);
    this.handlers.closed(Date.now() + delay);
  }
}

//! Finding the engine: the desktop shell hands over its address and token; in a browser the
//! page's own origin serves the API and the operator signs in with the token once.
import { invoke, isTauri } from "@tauri-apps/api/core";
import type { Connection } from "./client";

const TOKEN_KEY = "switchboard.token";

export interface Discovered {
  /** Running inside the desktop window (the token comes from the shell, no sign-in). */
  desktop: boolean;
  apiBase: string;
  /** The token to try first, if any. */
  token: string | null;
}

interface ShellConnection {
  api_base: string;
  token: string;
}

export async function discoverEngine(): Promise<Discovered> {
  if (isTauri()) {
    const c = await invoke<ShellConnection>("engine_connection");
    return { desktop: true, apiBase: c.api_base.replace(/\/+$/, ""), token: c.token };
  }
  // `vite dev` runs on its own port: point it at an engine with VITE_SWITCHBOARD_API.
  const configured = import.meta.env.VITE_SWITCHBOARD_API as string | undefined;
  const apiBase = (configured ?? window.location.origin).replace(/\/+$/, "");
  return { desktop: false, apiBase, token: readToken() };
}

export function readToken(): string | null {
  try {
    const t = localStorage.getItem(TOKEN_KEY);
    return t === null || t.trim() === "" ? null : t;
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage can be disabled; the session still works until reload.
  }
}

export function forgetToken(): void {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing stored to forget.
  }
}

/** Checks a token against the engine without touching any state. */
export async function checkToken(apiBase: string, token: string): Promise<"ok" | "rejected" | "offline"> {
  try {
    const r = await fetch(`${apiBase}/api/settings`, { headers: { Authorization: `Bearer ${token}` } });
    if (r.status === 401) return "rejected";
    return r.ok ? "ok" : "offline";
  } catch {
    return "offline";
  }
}

export type { Connection };

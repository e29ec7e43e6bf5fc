//! The status strip: what an operator must know at a glance.
import type { CredentialStatus } from "./api/types";
import { atOldUrl } from "./pages/numbers";
import { href } from "./router";
import { retryNow, type AppState } from "./store";
import { useEffect, useState } from "preact/hooks";

export const PROVIDER_NAMES: Record<CredentialStatus["provider"], string> = {
  twilio: "Twilio",
  telnyx: "Telnyx",
  openai: "OpenAI",
  livekit: "LiveKit",
  retell: "Retell",
};

function useSecondsUntil(at: number | null): number | null {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (at === null) return;
    const t = window.setInterval(() => {
      setNow(Date.now());
    }, 500);
    return () => {
      window.clearInterval(t);
    };
  }, [at]);
  return at === null ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

export function StatusStrip(props: { state: AppState }) {
  const { engine, settings, credentials, liveCalls, retryAt, numbers } = props.state;
  const stale = numbers.data && settings.data ? atOldUrl(numbers.data, settings.data).length : 0;
  const seconds = useSecondsUntil(engine === "offline" ? retryAt : null);
  const publicUrl = settings.data?.public_base_url ?? null;
  const missing = credentials.data?.providers.filter((p) => !p.set).map((p) => PROVIDER_NAMES[p.provider]) ?? null;

  return (
    <footer class="status-strip" aria-label="Status">
      <div class={`status-item engine-${engine}`} role="status" aria-live="polite" data-testid="engine-status">
        <span class="dot" aria-hidden="true" />
        {engine === "online" && <span>Engine connected</span>}
        {engine === "connecting" && <span>Connecting to the engine…</span>}
        {engine === "offline" && (
          <>
            <span>Engine offline{seconds !== null ? ` · retrying in ${seconds} s` : ""}</span>
            <button type="button" class="link-button" onClick={retryNow}>
              Retry now
            </button>
          </>
        )}
      </div>
      <div class="status-item">
        {settings.data === null ? (
          <span class="muted">Public URL …</span>
        ) : publicUrl ? (
          <span class="truncate" title={publicUrl}>
            Public URL <strong>{publicUrl}</strong>
          </span>
        ) : (
          <a class="warn-text" href={href("settings")}>
            Public URL not set
          </a>
        )}
      </div>
      {stale > 0 && (
        <div class="status-item">
          <a
            class="warn-text"
            href={href("numbers")}
            title="The public URL changed: these numbers still send calls to the old one"
          >
            {stale === 1 ? "1 number points" : `${String(stale)} numbers point`} at an old URL
          </a>
        </div>
      )}
      {settings.data?.webhook_signatures_checked === false && (
        <div class="status-item">
          <span
            class="bad-text"
            title="Started with --insecure-skip-webhook-signatures: anyone who reaches the public listener can fake calls. Development only."
          >
            Webhook signatures OFF
          </span>
        </div>
      )}
      <div class="status-item status-credentials">
        {missing === null ? (
          <span class="muted">Credentials …</span>
        ) : missing.length === 0 ? (
          <span>All credentials set</span>
        ) : (
          <a class="warn-text truncate" href={href("settings")} title={`Missing credentials: ${missing.join(", ")}`}>
            Credentials missing: {missing.join(", ")}
          </a>
        )}
      </div>
      <div class="status-item status-live" data-testid="live-calls">
        <span class={`live-dot ${liveCalls ? "on" : ""}`} aria-hidden="true" />
        {liveCalls === null ? "Live calls …" : `${liveCalls} live ${liveCalls === 1 ? "call" : "calls"}`}
      </div>
    </footer>
  );
}

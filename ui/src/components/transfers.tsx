//! A call's transfers to a person: where each stands (the Live page shows the one under way,
//! the call log every one), kept current by `call_transfer` events.
import { useEffect, useState } from "preact/hooks";
import type { CallTransfer } from "../api/types";
import { onEvent } from "../store";
import { formatNumber } from "../validate";
import { Badge } from "./ui";

const STATE_NAMES: Record<CallTransfer["state"], string> = {
  calling: "Calling",
  answered: "Telling them who is calling",
  connected: "Connected",
  failed: "Did not happen",
};

const TONES: Record<CallTransfer["state"], "info" | "good" | "bad"> = {
  calling: "info",
  answered: "info",
  connected: "good",
  failed: "bad",
};

/** `initial` (as loaded with the call), then each `call_transfer` event of call `callId`. */
export function useTransfers(callId: string, initial: CallTransfer[] | undefined): CallTransfer[] {
  const [transfers, setTransfers] = useState<CallTransfer[]>(initial ?? []);
  useEffect(() => {
    if (initial) setTransfers((current) => merge(initial, current));
  }, [initial]);
  useEffect(
    () =>
      onEvent("call_transfer", (e) => {
        if (e.transfer.call_id === callId) setTransfers((current) => merge(current, [e.transfer]));
      }),
    [callId],
  );
  return transfers;
}

/** By id, the later word winning unless it moves a finished transfer back. */
function merge(a: CallTransfer[], b: CallTransfer[]): CallTransfer[] {
  const byId = new Map(a.map((t) => [t.id, t]));
  for (const t of b) {
    const had = byId.get(t.id);
    if (!had || !(had.ended_at && !t.ended_at)) byId.set(t.id, t);
  }
  return [...byId.values()].sort((x, y) => x.started_at.localeCompare(y.started_at));
}

function where(t: CallTransfer): string {
  return `${t.target.replace(/_/g, " ")} (${formatNumber(t.to)})`;
}

/** The transfer under way, as a banner over the live transcript. */
export function TransferUnderWay(props: { transfers: CallTransfer[] }) {
  const t = props.transfers.find((x) => !x.ended_at);
  if (!t) return null;
  return (
    <div class="live-transfer" role="status">
      <strong>{t.warm ? "Warm transfer" : "Transfer"}</strong> to {where(t)}:{" "}
      <Badge tone={TONES[t.state]}>{STATE_NAMES[t.state]}</Badge>
      {t.state === "calling" && <span class="muted"> — the caller stays with the agent meanwhile</span>}
    </div>
  );
}

/** Every transfer of a call, for its record. */
export function TransferList(props: { transfers: CallTransfer[] }) {
  if (props.transfers.length === 0) return null;
  return (
    <ul class="transfer-list">
      {props.transfers.map((t) => (
        <li key={t.id}>
          <span>
            {t.warm ? "Warm transfer" : "Transfer"} to <strong>{where(t)}</strong>{" "}
            <Badge tone={TONES[t.state]}>{STATE_NAMES[t.state]}</Badge>
          </span>
          {t.state === "failed" && t.detail ? <span class="muted"> — {t.detail}</span> : null}
          {t.warm && t.summary ? (
            <p class="muted transfer-summary">
              {t.state === "calling" || t.state === "failed" ? "Summary for them" : "Said to them"}: “{t.summary}”
            </p>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

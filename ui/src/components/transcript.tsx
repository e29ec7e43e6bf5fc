//! A call's transcript, line by line, as the call log and the Live page show it.
import type { Call, Speaker, TranscriptLine } from "../api/types";

const SPEAKERS: Record<Speaker, string> = {
  caller: "Caller",
  agent: "Agent",
  system: "System",
  operator: "Operator",
  tool: "Tool",
};

/** Who is who on `call`: on a test call the caller is the person at this computer, and the
 * agent goes by its name. */
export function speakerNames(call: Pick<Call, "direction" | "agent_name">): Partial<Record<Speaker, string>> {
  return call.direction === "test" ? { caller: "You", agent: call.agent_name ?? "Agent" } : {};
}

/** The lines, each with its speaker and how far into the call (from `started`, ms) it came.
 * `names` renames speakers (see `speakerNames`). */
export function Transcript(props: {
  lines: TranscriptLine[];
  started: number;
  names?: Partial<Record<Speaker, string>>;
}) {
  return (
    <ol class="transcript">
      {props.lines.map((l) => (
        <li key={l.id} class={`line line-${l.speaker}`}>
          <span class="speaker">{props.names?.[l.speaker] ?? SPEAKERS[l.speaker]}</span>
          <span class="at muted">{offset(Date.parse(l.at) - props.started)}</span>
          <p>{l.text}</p>
        </li>
      ))}
    </ol>
  );
}

/**
 * Both sets of lines, once each, in the order they were said: by `at` (when the speech
 * began; a caller's words are often transcribed after the agent has answered), then id.
 */
export function mergeLines(a: TranscriptLine[], b: TranscriptLine[]): TranscriptLine[] {
  const byId = new Map<number, TranscriptLine>();
  for (const l of [...a, ...b]) byId.set(l.id, l);
  return [...byId.values()].sort((x, y) => Date.parse(x.at) - Date.parse(y.at) || x.id - y.id);
}

function offset(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

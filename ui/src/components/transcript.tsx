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

/** Where a recording of the call is, for the lines to follow it: when it began (ms since the
 * epoch), how far it has played (ms into it, null when not playing), and how to play from a
 * line. */
export interface Following {
  started: number;
  position: number | null;
  playFrom: (ms: number) => void;
}

/** The lines, each with its speaker and how far into the call (from `started`, ms) it came.
 * `names` renames speakers (see `speakerNames`). With a recording, the line being heard is
 * marked and each line's time plays the recording from it. */
export function Transcript(props: {
  lines: TranscriptLine[];
  started: number;
  names?: Partial<Record<Speaker, string>>;
  recording?: Following;
}) {
  const rec = props.recording;
  const current = rec ? playingLine(props.lines, rec) : -1;
  return (
    <ol class="transcript">
      {props.lines.map((l, i) => {
        const at = offset(Date.parse(l.at) - props.started);
        const into = rec ? Math.max(0, Date.parse(l.at) - rec.started) : 0;
        return (
          <li
            key={l.id}
            class={`line line-${l.speaker}${i === current ? " line-playing" : ""}`}
            aria-current={i === current ? "true" : undefined}
          >
            <span class="speaker">{props.names?.[l.speaker] ?? SPEAKERS[l.speaker]}</span>
            {rec ? (
              <button
                type="button"
                class="at at-play"
                title="Play the recording from here"
                aria-label={`Play from ${at}`}
                onClick={() => {
                  rec.playFrom(into);
                }}
              >
                {at}
              </button>
            ) : (
              <span class="at muted">{at}</span>
            )}
            <p>{l.text}</p>
          </li>
        );
      })}
    </ol>
  );
}

/** The index of the line being heard: the last one begun by the playback position. */
function playingLine(lines: TranscriptLine[], rec: Following): number {
  if (rec.position === null) return -1;
  let found = -1;
  lines.forEach((l, i) => {
    if (Date.parse(l.at) - rec.started <= (rec.position ?? 0)) found = i;
  });
  return found;
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

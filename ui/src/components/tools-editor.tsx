//! An agent's tools in its form: HTTP tools the model may call during a call (each a card:
//! name, what it is for, the request, the JSON Schema of its arguments), and the built-in
//! actions. Drafts are plain strings so that the form can tell what was edited; they become
//! the API's tool inputs only when they read as such, with the problem said otherwise.
import { useEffect, useRef } from "preact/hooks";
import type { HttpMethod, HttpTool, HttpToolInput } from "../api/types";
import { Banner, Field, messageId } from "./ui";

export interface ToolDraft {
  name: string;
  description: string;
  method: HttpMethod;
  url: string;
  /** JSON Schema text. */
  parameters: string;
  /** One `Name: value` per line. */
  headers: string;
  timeout_ms: string;
  wait_message: string;
}

const METHODS: HttpMethod[] = ["POST", "GET", "PUT", "PATCH", "DELETE"];
const EMPTY_SCHEMA = '{\n  "type": "object",\n  "properties": {}\n}';

export function draftsOf(tools: HttpTool[]): ToolDraft[] {
  return tools.map((t) => ({
    name: t.name,
    description: t.description,
    method: t.method,
    url: t.url,
    parameters: JSON.stringify(t.parameters, null, 2),
    headers: headersText(t.headers),
    timeout_ms: String(t.timeout_ms),
    wait_message: t.wait_message ?? "",
  }));
}

/** Headers written one `Name: value` a line, or `null` when a line is not one. */
export function headersOf(text: string): { name: string; value: string }[] | null {
  const headers = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return headers;
}

/** Headers as the form writes them: one `Name: value` a line. */
export function headersText(headers: { name: string; value: string }[]): string {
  return headers.map((h) => `${h.name}: ${h.value}`).join("\n");
}

/** The drafts as the API takes them, or the first problem, naming the tool. */
export function toolsOf(drafts: ToolDraft[]): { ok: true; value: HttpToolInput[] } | { ok: false; message: string } {
  const value: HttpToolInput[] = [];
  for (const [i, d] of drafts.entries()) {
    const which = `Tool ${i + 1}${d.name.trim() ? ` (${d.name.trim()})` : ""}`;
    if (d.name.trim() === "") return { ok: false, message: `${which}: give it a name.` };
    if (d.url.trim() === "") return { ok: false, message: `${which}: give it a URL.` };
    let parameters: unknown;
    try {
      parameters = JSON.parse(d.parameters.trim() === "" ? EMPTY_SCHEMA : d.parameters);
    } catch (e) {
      return { ok: false, message: `${which}: the arguments' schema is not JSON (${(e as Error).message}).` };
    }
    const headers = headersOf(d.headers);
    if (headers === null) return { ok: false, message: `${which}: write each header as “Name: value”.` };
    const timeout = Number(d.timeout_ms);
    if (!Number.isInteger(timeout)) return { ok: false, message: `${which}: the timeout is a whole number of ms.` };
    value.push({
      name: d.name.trim(),
      description: d.description.trim(),
      method: d.method,
      url: d.url.trim(),
      parameters: parameters as HttpToolInput["parameters"],
      headers,
      timeout_ms: timeout,
      wait_message: d.wait_message.trim() === "" ? null : d.wait_message.trim(),
    });
  }
  return { ok: true, value };
}

/** The HTTP tools' cards, with Add and Remove. `error` (the form's or the engine's, "Tool 2
 * …" or "tool 2: …") is shown in the card it names; the engine's refusal of a save is brought
 * into view (a card can be long), the form's own check is not (it would move what is typed). */
export function ToolsEditor(props: {
  drafts: ToolDraft[];
  error: string | null;
  refused: boolean;
  onChange: (drafts: ToolDraft[]) => void;
}) {
  const set = (i: number, patch: Partial<ToolDraft>) => {
    props.onChange(props.drafts.map((d, j) => (j === i ? { ...d, ...patch } : d)));
  };
  const named = props.error ? /^(?:tools: )?tool (\d+)\b/i.exec(props.error) : null;
  const at = named ? Number(named[1]) - 1 : -1;
  const shown = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (props.refused) shown.current?.scrollIntoView({ block: "nearest" });
  }, [props.error, props.refused]);
  const message = (
    <div ref={shown}>
      <Banner tone="bad" role={props.refused ? "alert" : undefined}>
        {props.error}
      </Banner>
    </div>
  );
  return (
    <>
      {props.error !== null && (at < 0 || at >= props.drafts.length) && message}
      {props.drafts.map((d, i) => {
        const id = `tool-${i}`;
        return (
          <section key={i} class="tool-card" aria-label={`Tool ${i + 1}`}>
            {i === at && message}
            <div class="tool-card-head">
              <strong>{d.name.trim() || `Tool ${i + 1}`}</strong>
              <button
                type="button"
                class="btn btn-sm"
                onClick={() => {
                  props.onChange(props.drafts.filter((_, j) => j !== i));
                }}
              >
                Remove
              </button>
            </div>
            <div class="field-row">
              <Field id={`${id}-name`} label="Name" hint="What the model calls it: letters, digits, _ and -.">
                <input
                  id={`${id}-name`}
                  value={d.name}
                  maxLength={64}
                  onInput={(e) => {
                    set(i, { name: e.currentTarget.value });
                  }}
                  aria-describedby={messageId(`${id}-name`)}
                />
              </Field>
              <Field id={`${id}-method`} label="Method">
                <select
                  id={`${id}-method`}
                  value={d.method}
                  onChange={(e) => {
                    set(i, { method: e.currentTarget.value as HttpMethod });
                  }}
                >
                  {METHODS.map((m) => (
                    <option key={m} value={m}>
                      {m}
                    </option>
                  ))}
                </select>
              </Field>
            </div>
            <Field
              id={`${id}-description`}
              label="What it is for"
              hint="Told to the model: when to use it, and what to ask the caller first."
            >
              <textarea
                id={`${id}-description`}
                rows={2}
                value={d.description}
                onInput={(e) => {
                  set(i, { description: e.currentTarget.value });
                }}
                aria-describedby={messageId(`${id}-description`)}
              />
            </Field>
            <Field
              id={`${id}-url`}
              label="URL"
              hint="GET and DELETE send the arguments as the query; the others as a JSON body. The answer must be JSON."
            >
              <input
                id={`${id}-url`}
                type="url"
                value={d.url}
                placeholder="https://crm.example.com/orders"
                onInput={(e) => {
                  set(i, { url: e.currentTarget.value });
                }}
                aria-describedby={messageId(`${id}-url`)}
              />
            </Field>
            <Field
              id={`${id}-parameters`}
              label="Arguments (JSON Schema)"
              hint="The model's arguments are checked against it before the request is sent."
            >
              <textarea
                id={`${id}-parameters`}
                class="code"
                rows={6}
                value={d.parameters}
                onInput={(e) => {
                  set(i, { parameters: e.currentTarget.value });
                }}
                aria-describedby={messageId(`${id}-parameters`)}
              />
            </Field>
            <Field
              id={`${id}-headers`}
              label="Headers"
              optional
              hint="One “Name: value” per line. A key goes by reference: “Authorization: Bearer {{secret:NAME}}”, its value saved in Settings → Tool secrets."
            >
              <textarea
                id={`${id}-headers`}
                class="code"
                rows={2}
                value={d.headers}
                onInput={(e) => {
                  set(i, { headers: e.currentTarget.value });
                }}
                aria-describedby={messageId(`${id}-headers`)}
              />
            </Field>
            <div class="field-row">
              <Field id={`${id}-timeout`} label="Timeout (ms)" hint="100 to 30000.">
                <input
                  id={`${id}-timeout`}
                  class="input-short"
                  inputMode="numeric"
                  value={d.timeout_ms}
                  onInput={(e) => {
                    set(i, { timeout_ms: e.currentTarget.value });
                  }}
                  aria-describedby={messageId(`${id}-timeout`)}
                />
              </Field>
              <Field id={`${id}-wait`} label="Said while it runs" optional>
                <input
                  id={`${id}-wait`}
                  value={d.wait_message}
                  placeholder="One moment while I check."
                  onInput={(e) => {
                    set(i, { wait_message: e.currentTarget.value });
                  }}
                />
              </Field>
            </div>
          </section>
        );
      })}
      <div>
        <button
          type="button"
          class="btn btn-sm"
          onClick={() => {
            props.onChange([
              ...props.drafts,
              {
                name: "",
                description: "",
                method: "POST",
                url: "",
                parameters: EMPTY_SCHEMA,
                headers: "",
                timeout_ms: "5000",
                wait_message: "",
              },
            ]);
          }}
        >
          Add a tool
        </button>
      </div>
    </>
  );
}

//! An agent's remote MCP servers in its form: the voice backend lists and calls their tools
//! itself during a call. Each is a card (label, URL, what it is for, which of its tools,
//! headers with keys by reference); drafts are strings until they read as the API's input.
import type { McpServer } from "../api/types";
import { headersOf, headersText } from "./tools-editor";
import { Banner, Field, messageId } from "./ui";

export interface McpDraft {
  label: string;
  url: string;
  description: string;
  /** Comma-separated tool names; empty: all. */
  allowed_tools: string;
  /** One `Name: value` per line. */
  headers: string;
}

export function mcpDraftsOf(servers: McpServer[]): McpDraft[] {
  return servers.map((m) => ({
    label: m.label,
    url: m.url,
    description: m.description ?? "",
    allowed_tools: (m.allowed_tools ?? []).join(", "),
    headers: headersText(m.headers ?? []),
  }));
}

/** The drafts as the API takes them, or the first problem, naming the server. */
export function mcpServersOf(drafts: McpDraft[]): { ok: true; value: McpServer[] } | { ok: false; message: string } {
  const value: McpServer[] = [];
  for (const [i, d] of drafts.entries()) {
    const which = `Server ${i + 1}${d.label.trim() ? ` (${d.label.trim()})` : ""}`;
    if (d.label.trim() === "") return { ok: false, message: `${which}: give it a label.` };
    if (d.url.trim() === "") return { ok: false, message: `${which}: give it a URL.` };
    const headers = headersOf(d.headers);
    if (headers === null) return { ok: false, message: `${which}: write each header as “Name: value”.` };
    value.push({
      label: d.label.trim(),
      url: d.url.trim(),
      description: d.description.trim(),
      allowed_tools: d.allowed_tools
        .split(",")
        .map((t) => t.trim())
        .filter((t) => t !== ""),
      headers,
    });
  }
  return { ok: true, value };
}

/** The MCP servers' cards, with Add and Remove; `error` shows above them. */
export function McpEditor(props: { drafts: McpDraft[]; error: string | null; onChange: (drafts: McpDraft[]) => void }) {
  const set = (i: number, patch: Partial<McpDraft>) => {
    props.onChange(props.drafts.map((d, j) => (j === i ? { ...d, ...patch } : d)));
  };
  return (
    <>
      {props.error !== null && <Banner tone="bad">{props.error}</Banner>}
      {props.drafts.map((d, i) => {
        const id = `mcp-${i}`;
        return (
          <section key={i} class="tool-card" aria-label={`MCP server ${i + 1}`}>
            <div class="tool-card-head">
              <strong>{d.label.trim() || `MCP server ${i + 1}`}</strong>
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
              <Field id={`${id}-label`} label="Label" hint="How calls name it: letters, digits, _ and -.">
                <input
                  id={`${id}-label`}
                  value={d.label}
                  maxLength={64}
                  placeholder="crm"
                  onInput={(e) => {
                    set(i, { label: e.currentTarget.value });
                  }}
                  aria-describedby={messageId(`${id}-label`)}
                />
              </Field>
              <Field id={`${id}-url`} label="Server URL">
                <input
                  id={`${id}-url`}
                  type="url"
                  value={d.url}
                  placeholder="https://mcp.example.com/mcp"
                  onInput={(e) => {
                    set(i, { url: e.currentTarget.value });
                  }}
                  aria-describedby={messageId(`${id}-url`)}
                />
              </Field>
            </div>
            <Field id={`${id}-description`} label="What it is for" optional>
              <input
                id={`${id}-description`}
                value={d.description}
                placeholder="Customer records"
                onInput={(e) => {
                  set(i, { description: e.currentTarget.value });
                }}
              />
            </Field>
            <Field
              id={`${id}-allowed`}
              label="Only these tools"
              optional
              hint="Comma-separated names; left empty, the agent may use all of the server's tools."
            >
              <input
                id={`${id}-allowed`}
                value={d.allowed_tools}
                placeholder="lookup_customer, list_orders"
                onInput={(e) => {
                  set(i, { allowed_tools: e.currentTarget.value });
                }}
                aria-describedby={messageId(`${id}-allowed`)}
              />
            </Field>
            <Field
              id={`${id}-headers`}
              label="Headers"
              optional
              hint="One “Name: value” per line; a key by reference: “Authorization: Bearer {{secret:NAME}}” (Settings → Tool secrets)."
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
          </section>
        );
      })}
      <div>
        <button
          type="button"
          class="btn btn-sm"
          onClick={() => {
            props.onChange([...props.drafts, { label: "", url: "", description: "", allowed_tools: "", headers: "" }]);
          }}
        >
          Add an MCP server
        </button>
      </div>
    </>
  );
}

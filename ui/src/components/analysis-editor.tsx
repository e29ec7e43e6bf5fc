//! An agent's post-call analysis in its form: on or off, the goal a call should reach, the
//! model, and the custom fields read from each call (name, type, description, a list's
//! options). Drafts are strings until they read as the API's input; the engine checks them
//! again and names the broken field.
import type { AnalysisField, AnalysisInput, AnalysisSettings, FieldType } from "../api/types";
import { Banner, Field, FieldSet, messageId } from "./ui";

export interface FieldDraft {
  name: string;
  type: FieldType;
  description: string;
  /** Comma-separated, for a `one_of` field. */
  options: string;
}

export interface AnalysisDraft {
  enabled: boolean;
  goal: string;
  model: string;
  fields: FieldDraft[];
}

const TYPES: { value: FieldType; label: string }[] = [
  { value: "text", label: "Text" },
  { value: "number", label: "Number" },
  { value: "yes_no", label: "Yes / no" },
  { value: "one_of", label: "One of a list" },
];
const SNAKE = /^[a-z][a-z0-9_]*$/;

export function analysisDraftOf(a: AnalysisSettings | undefined): AnalysisDraft {
  return {
    enabled: a?.enabled ?? false,
    goal: a?.goal ?? "",
    model: a?.model ?? "gpt-4.1-mini",
    fields: (a?.fields ?? []).map((f) => ({
      name: f.name,
      type: f.type,
      description: f.description ?? "",
      options: (f.options ?? []).join(", "),
    })),
  };
}

/** The draft as the API takes it, or the first problem, naming the field. */
export function analysisOf(d: AnalysisDraft): { ok: true; value: AnalysisInput } | { ok: false; message: string } {
  const fields: AnalysisField[] = [];
  for (const [i, f] of d.fields.entries()) {
    const name = f.name.trim();
    const which = `Field ${i + 1}${name ? ` (${name})` : ""}`;
    if (!SNAKE.test(name))
      return { ok: false, message: `${which}: name it in snake_case (lower-case letters, digits and _).` };
    if (fields.some((o) => o.name === name)) return { ok: false, message: `${which}: another field has this name.` };
    const options = f.options
      .split(",")
      .map((o) => o.trim())
      .filter((o) => o !== "");
    if (f.type === "one_of" && options.length === 0)
      return { ok: false, message: `${which}: list its options, separated by commas.` };
    fields.push({
      name,
      type: f.type,
      description: f.description.trim(),
      options: f.type === "one_of" ? options : [],
    });
  }
  if (d.model.trim() === "") return { ok: false, message: "Give the analysis a model." };
  return { ok: true, value: { enabled: d.enabled, goal: d.goal.trim(), model: d.model.trim(), fields } };
}

export function AnalysisEditor(props: {
  draft: AnalysisDraft;
  error: string | null;
  onChange: (draft: AnalysisDraft) => void;
}) {
  const d = props.draft;
  const set = (patch: Partial<AnalysisDraft>) => {
    props.onChange({ ...d, ...patch });
  };
  const setField = (i: number, patch: Partial<FieldDraft>) => {
    set({ fields: d.fields.map((f, j) => (j === i ? { ...f, ...patch } : f)) });
  };
  return (
    <FieldSet
      id="agent-analysis"
      legend="After the call"
      hint="A language model reads each answered call's transcript and writes a summary, whether the goal was met, the caller's sentiment and the fields below. Shown in Calls."
    >
      {props.error !== null && (
        <Banner tone="bad" role="alert">
          {props.error}
        </Banner>
      )}
      <label class="check">
        <input
          type="checkbox"
          name="analysis_enabled"
          checked={d.enabled}
          onChange={(e) => {
            set({ enabled: e.currentTarget.checked });
          }}
        />
        <span>
          Summarise each answered call <span class="muted">— with OpenAI, using the key in Settings</span>
        </span>
      </label>
      {d.enabled && (
        <>
          <Field
            id="analysis-goal"
            label="Goal"
            optional
            hint="What a successful call achieves, in a sentence. Each call is marked as meeting it or not."
          >
            <input
              id="analysis-goal"
              value={d.goal}
              maxLength={1000}
              placeholder="The caller books a visit."
              onInput={(e) => {
                set({ goal: e.currentTarget.value });
              }}
              aria-describedby={messageId("analysis-goal")}
            />
          </Field>
          <Field id="analysis-model" label="Model" hint="An OpenAI model that supports structured output.">
            <input
              id="analysis-model"
              class="input-short"
              value={d.model}
              maxLength={100}
              onInput={(e) => {
                set({ model: e.currentTarget.value });
              }}
              aria-describedby={messageId("analysis-model")}
            />
          </Field>
          {d.fields.map((f, i) => {
            const id = `analysis-field-${i}`;
            return (
              <section key={i} class="tool-card" aria-label={`Analysis field ${i + 1}`}>
                <div class="tool-card-head">
                  <strong>{f.name.trim() || `Field ${i + 1}`}</strong>
                  <button
                    type="button"
                    class="btn btn-sm"
                    onClick={() => {
                      set({ fields: d.fields.filter((_, j) => j !== i) });
                    }}
                  >
                    Remove
                  </button>
                </div>
                <div class="field-row">
                  <Field id={`${id}-name`} label="Name" hint="snake_case, e.g. caller_name.">
                    <input
                      id={`${id}-name`}
                      value={f.name}
                      maxLength={64}
                      placeholder="caller_name"
                      onInput={(e) => {
                        setField(i, { name: e.currentTarget.value });
                      }}
                      aria-describedby={messageId(`${id}-name`)}
                    />
                  </Field>
                  <Field id={`${id}-type`} label="Type">
                    <select
                      id={`${id}-type`}
                      value={f.type}
                      onChange={(e) => {
                        setField(i, { type: e.currentTarget.value as FieldType });
                      }}
                    >
                      {TYPES.map((t) => (
                        <option key={t.value} value={t.value}>
                          {t.label}
                        </option>
                      ))}
                    </select>
                  </Field>
                </div>
                <Field id={`${id}-description`} label="What to put there" optional>
                  <input
                    id={`${id}-description`}
                    value={f.description}
                    maxLength={500}
                    placeholder="The caller's full name"
                    onInput={(e) => {
                      setField(i, { description: e.currentTarget.value });
                    }}
                  />
                </Field>
                {f.type === "one_of" && (
                  <Field id={`${id}-options`} label="Options" hint="Separated by commas.">
                    <input
                      id={`${id}-options`}
                      value={f.options}
                      placeholder="low, medium, high"
                      onInput={(e) => {
                        setField(i, { options: e.currentTarget.value });
                      }}
                      aria-describedby={messageId(`${id}-options`)}
                    />
                  </Field>
                )}
              </section>
            );
          })}
          <div>
            <button
              type="button"
              class="btn btn-sm"
              onClick={() => {
                set({ fields: [...d.fields, { name: "", type: "text", description: "", options: "" }] });
              }}
            >
              Add a field
            </button>
          </div>
        </>
      )}
    </FieldSet>
  );
}

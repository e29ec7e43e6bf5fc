//! The JSON-object editor for an agent's or a call's context: checked as the operator types
//! (the same rule the engine applies), with a Format button; and how its text compares with
//! the stored context it started from.
import type { ComponentChildren } from "preact";
import { same } from "../forms";
import { checkContext } from "../validate";
import { Field, messageId } from "./ui";

/** A context as the editor shows it: indented JSON. */
export function formatContext(context: Record<string, unknown>): string {
  return JSON.stringify(context, null, 2);
}

/**
 * Whether the editor's text says something other than `stored`: another object once parsed,
 * or, while it does not parse, other text than the stored context formatted.
 */
export function contextEdited(text: string, stored: Record<string, unknown>): boolean {
  const check = checkContext(text);
  return check.ok ? !same(check.value, stored) : text !== formatContext(stored);
}

export function ContextEditor(props: {
  id: string;
  label: string;
  help: ComponentChildren;
  value: string;
  onChange: (v: string) => void;
  serverError: string | null;
  rows?: number;
  disabled?: boolean;
}) {
  const check = checkContext(props.value);
  const keys = check.ok ? Object.keys(check.value).length : 0;
  return (
    <Field
      id={props.id}
      label={props.label}
      error={props.serverError ?? (check.ok ? null : check.message)}
      success={
        check.ok
          ? keys === 0
            ? "Valid JSON object (empty)."
            : `Valid JSON object with ${keys} ${keys === 1 ? "key" : "keys"}.`
          : undefined
      }
    >
      <p class="field-help muted">{props.help}</p>
      <div class="code-editor">
        <textarea
          id={props.id}
          name="context"
          class="mono"
          rows={props.rows ?? 8}
          spellcheck={false}
          autoCapitalize="off"
          autoComplete="off"
          value={props.value}
          disabled={props.disabled}
          onInput={(e) => {
            props.onChange(e.currentTarget.value);
          }}
          aria-invalid={!check.ok}
          aria-describedby={messageId(props.id)}
        />
        <button
          type="button"
          class="btn btn-ghost btn-sm code-format"
          disabled={!check.ok || props.disabled}
          onClick={() => {
            if (check.ok) props.onChange(formatContext(check.value));
          }}
        >
          Format
        </button>
      </div>
    </Field>
  );
}

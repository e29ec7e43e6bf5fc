//! Building blocks shared by the pages: fields, list rows, the side panel, dialogs, copy buttons and
//! the loading / empty / error / offline screens.
import type { ComponentChildren, TargetedEvent } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { ApiError } from "../api/client";
import { href, navigate, type Page } from "../router";
import { retryNow, type Remote } from "../store";
import { Icon, type IconName } from "./icons";

export function PageHeader(props: { title: string; summary?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div class="page-title">
        <h1>{props.title}</h1>
        {props.summary !== undefined && <p class="muted">{props.summary}</p>}
      </div>
      {props.actions !== undefined && <div class="page-actions">{props.actions}</div>}
    </header>
  );
}

/** A list page's header button that opens the side panel for a new item ("New agent"). */
export function NewButton(props: { page: Page; label: string }) {
  return (
    <button
      type="button"
      class="btn btn-primary"
      onClick={() => {
        navigate(props.page, "new");
      }}
    >
      <Icon name="plus" /> {props.label}
    </button>
  );
}

/** The id of a field's message element, for `aria-describedby`. */
export const messageId = (id: string) => `${id}-message`;

/** What a field says under it: its error, else a success note, else a warning, else its hint. */
function FieldMessage(props: {
  id: string;
  hint?: ComponentChildren;
  error?: string | null;
  success?: ComponentChildren;
  warning?: string | null;
}) {
  if (props.error != null) {
    return (
      <p class="field-message error" id={messageId(props.id)}>
        <Icon name="alert" size={14} />
        <span>{props.error}</span>
      </p>
    );
  }
  if (props.success != null) {
    return (
      <p class="field-message success" id={messageId(props.id)}>
        <Icon name="check" size={14} />
        <span>{props.success}</span>
      </p>
    );
  }
  if (props.warning != null) {
    return (
      <p class="field-message warning" id={messageId(props.id)}>
        <Icon name="alert" size={14} />
        <span>{props.warning}</span>
      </p>
    );
  }
  if (props.hint != null) {
    return (
      <p class="field-message" id={messageId(props.id)}>
        <span>{props.hint}</span>
      </p>
    );
  }
  return null;
}

export function Field(props: {
  id: string;
  label: string;
  hint?: ComponentChildren;
  error?: string | null;
  success?: ComponentChildren;
  warning?: string | null;
  optional?: boolean;
  children: ComponentChildren;
}) {
  return (
    <div class="field">
      <label for={props.id}>
        {props.label}
        {props.optional && <span class="optional"> (optional)</span>}
      </label>
      {props.children}
      <FieldMessage
        id={props.id}
        hint={props.hint}
        error={props.error}
        success={props.success}
        warning={props.warning}
      />
    </div>
  );
}

/** A group of controls under one legend (checkboxes, radios, a list editor), with a message. */
export function FieldSet(props: {
  id: string;
  legend: string;
  hint?: ComponentChildren;
  error?: string | null;
  warning?: string | null;
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <fieldset class={`fieldset ${props.class ?? ""}`} id={props.id} aria-describedby={messageId(props.id)}>
      <legend>{props.legend}</legend>
      {props.children}
      <FieldMessage id={props.id} hint={props.hint} error={props.error} warning={props.warning} />
    </fieldset>
  );
}

export function Badge(props: { tone: "good" | "warn" | "bad" | "neutral" | "info"; children: ComponentChildren }) {
  return <span class={`badge badge-${props.tone}`}>{props.children}</span>;
}

export function Loading(props: { label: string }) {
  return (
    <div class="state state-loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      <p>{props.label}</p>
    </div>
  );
}

export function EmptyState(props: {
  icon: IconName;
  title: string;
  children?: ComponentChildren;
  action?: ComponentChildren;
}) {
  return (
    <div class="state">
      <div class="state-icon">
        <Icon name={props.icon} size={22} />
      </div>
      <h2>{props.title}</h2>
      {props.children !== undefined && <p class="muted">{props.children}</p>}
      {props.action}
    </div>
  );
}

export function ErrorState(props: { error: ApiError; what: string; onRetry: () => void }) {
  if (props.error.code === "offline") {
    return (
      <div class="state" role="alert">
        <div class="state-icon state-icon-bad">
          <Icon name="plug" size={22} />
        </div>
        <h2>Engine offline</h2>
        <p class="muted">{props.error.message}</p>
        <button type="button" class="btn" onClick={retryNow}>
          Retry now
        </button>
      </div>
    );
  }
  return (
    <div class="state" role="alert">
      <div class="state-icon state-icon-bad">
        <Icon name="alert" size={22} />
      </div>
      <h2>Could not load {props.what}</h2>
      <p class="muted">{props.error.message}</p>
      <button type="button" class="btn" onClick={props.onRetry}>
        Try again
      </button>
    </div>
  );
}

/** Shows remote data, or the screen for its loading or error state. */
export function RemoteView<T>(props: {
  remote: Remote<T>;
  what: string;
  onRetry: () => void;
  children: (data: T) => ComponentChildren;
}) {
  const { data, error } = props.remote;
  if (data !== null) {
    return (
      <>
        {error && error.code !== "offline" && (
          <div class="banner banner-warn" role="status">
            <Icon name="alert" />
            <span>
              Showing the last {props.what} loaded: {error.message}
            </span>
          </div>
        )}
        {props.children(data)}
      </>
    );
  }
  if (error) return <ErrorState error={error} what={props.what} onRetry={props.onRetry} />;
  return <Loading label={`Loading ${props.what}…`} />;
}

export function Banner(props: {
  tone: "warn" | "bad" | "info" | "good";
  children: ComponentChildren;
  role?: "alert" | "status";
}) {
  return (
    <div class={`banner banner-${props.tone}`} role={props.role}>
      <Icon name={props.tone === "good" ? "check" : "alert"} />
      <div>{props.children}</div>
    </div>
  );
}

export function CopyButton(props: { text: string; what: string; iconOnly?: boolean }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const timer = useRef<number | undefined>(undefined);
  useEffect(
    () => () => {
      window.clearTimeout(timer.current);
    },
    [],
  );
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setState("copied");
    } catch {
      setState("failed");
    }
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      setState("idle");
    }, 1800);
  };
  return (
    <button
      type="button"
      class={`btn btn-ghost btn-sm copy ${props.iconOnly ? "btn-icon-sm" : ""}`}
      onClick={() => void copy()}
      aria-label={`Copy ${props.what}`}
      title={state === "failed" ? "Copying is blocked here: select the text and copy it" : `Copy ${props.what}`}
    >
      <Icon name={state === "copied" ? "check" : "copy"} size={14} />
      <span aria-live="polite" class={props.iconOnly ? "visually-hidden" : undefined}>
        {state === "copied" ? "Copied" : state === "failed" ? "Select & copy" : "Copy"}
      </span>
    </button>
  );
}

/** A URL or other value to paste elsewhere, with its copy button. */
export function CopyValue(props: { value: string; what: string; compact?: boolean }) {
  return (
    <div class={`copy-value ${props.compact ? "compact" : ""}`}>
      <code title={props.value}>{props.compact ? urlTail(props.value) : props.value}</code>
      <CopyButton text={props.value} what={props.what} iconOnly={props.compact} />
    </div>
  );
}

/** The distinctive end of a URL (its path), for narrow table cells; the tooltip has it all. */
function urlTail(value: string): string {
  try {
    const segments = new URL(value).pathname.split("/").filter((p) => p !== "");
    return segments.length > 0 ? `…/${segments.slice(-2).join("/")}` : value;
  } catch {
    return value;
  }
}

function isInDialog(): boolean {
  return document.querySelector("dialog[open]") !== null;
}

/** A refresh that failed while older data stays on screen. */
export function RefreshError(props: { error: ApiError | null }) {
  if (!props.error) return null;
  return (
    <p class="field-message error" role="alert">
      <Icon name="alert" size={14} /> <span>Could not refresh: {props.error.message}</span>
    </p>
  );
}

/** Previous/next paging of a server-side list: "1–50 of 120" and two buttons. */
export function Pager(props: {
  label: string;
  offset: number;
  shown: number;
  total: number;
  pageSize: number;
  onOffset: (offset: number) => void;
  previous: string;
  next: string;
}) {
  const { offset, pageSize, onOffset } = props;
  return (
    <nav class="pager" aria-label={props.label}>
      <span class="muted">
        {offset + 1}–{offset + props.shown} of {props.total}
      </span>
      <button
        type="button"
        class="btn btn-sm"
        disabled={offset === 0}
        onClick={() => {
          onOffset(Math.max(0, offset - pageSize));
        }}
      >
        <Icon name="chevronLeft" size={14} /> {props.previous}
      </button>
      <button
        type="button"
        class="btn btn-sm"
        disabled={offset + pageSize >= props.total}
        onClick={() => {
          onOffset(offset + pageSize);
        }}
      >
        {props.next} <Icon name="chevronRight" size={14} />
      </button>
    </nav>
  );
}

/**
 * A list table's row for one item: a click anywhere on it selects the item (opens its side
 * panel). The keyboard reaches the item through the row's `RowLink`, a real link, so the row
 * itself is not focusable and has no role of its own.
 */
export function ItemRow(props: { page: Page; id: string; selected: string | null; children: ComponentChildren }) {
  return (
    <tr
      class={props.selected === props.id ? "selected" : ""}
      onClick={() => {
        navigate(props.page, props.id);
      }}
    >
      {props.children}
    </tr>
  );
}

/** The link to an `ItemRow`'s item, in one of its cells; the row does not handle its click again. */
export function RowLink(props: {
  page: Page;
  id: string;
  /** Classes besides `row-link`. */
  class?: string;
  title?: string;
  children: ComponentChildren;
}) {
  return (
    <a
      href={href(props.page, props.id)}
      class={props.class === undefined ? "row-link" : `row-link ${props.class}`}
      title={props.title}
      onClick={(e) => e.stopPropagation()}
    >
      {props.children}
    </a>
  );
}

/**
 * A side panel's footer: Delete (when the item exists), a "Saved" note once the last change
 * is stored, Close or Cancel, and the submit button.
 */
export function PanelFooter(props: {
  onDelete?: () => void;
  saved?: boolean;
  onClose: () => void;
  closeLabel: string;
  /** No submit button when left out (a panel view with nothing to save). */
  submitLabel?: string;
  submitDisabled?: boolean;
}) {
  return (
    <>
      {props.onDelete && (
        <button type="button" class="btn btn-danger-ghost" onClick={props.onDelete}>
          Delete
        </button>
      )}
      <span class="spacer" />
      {props.saved === true && (
        <span class="save-note" role="status">
          <Icon name="check" size={14} /> Saved
        </span>
      )}
      <button type="button" class="btn" onClick={props.onClose}>
        {props.closeLabel}
      </button>
      {props.submitLabel !== undefined && (
        <button type="submit" class="btn btn-primary" disabled={props.submitDisabled}>
          {props.submitLabel}
        </button>
      )}
    </>
  );
}

/**
 * A form that submits on Enter, and on Ctrl/Cmd+Enter in a text area too. The browser's own
 * validation is off: fields say what is wrong as it is typed.
 */
export function SubmitForm(props: { class?: string; onSubmit: () => void; children: ComponentChildren }) {
  return (
    <form
      class={props.class}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
      onKeyDown={(e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          e.currentTarget.requestSubmit();
        }
      }}
    >
      {props.children}
    </form>
  );
}

/**
 * The side panel for the selected item. Esc closes it (unless a dialog is open above it);
 * focus moves into it on open and back to where it was on close.
 */
export function SidePanel(props: {
  title: ComponentChildren;
  subtitle?: ComponentChildren;
  onClose: () => void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  /** Focus the first field instead of the heading when the panel opens. */
  focusFirstField?: boolean;
  /** Makes the body and footer one form (Enter submits; so does Ctrl/Cmd+Enter in a text area). */
  onSubmit?: () => void;
  /** Room for tables in the panel (campaigns: leads, import preview). */
  wide?: boolean;
}) {
  const ref = useRef<HTMLElement>(null);
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  const focusFirst = props.focusFirstField ?? false;
  const body = (
    <>
      <div class="panel-body">{props.children}</div>
      {props.footer !== undefined && <footer class="panel-footer">{props.footer}</footer>}
    </>
  );

  useEffect(() => {
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const panel = ref.current;
    const first = focusFirst ? panel?.querySelector<HTMLElement>("input, select, textarea") : null;
    (first ?? panel?.querySelector<HTMLElement>("h2"))?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape" || e.defaultPrevented || isInDialog()) return;
      e.preventDefault();
      onClose.current();
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      if (previous?.isConnected) previous.focus();
    };
  }, [focusFirst]);

  return (
    <aside class={`panel ${props.wide ? "panel-wide" : ""}`} ref={ref} aria-labelledby="panel-title">
      <header class="panel-header">
        <div class="panel-heading">
          <h2 id="panel-title" tabIndex={-1}>
            {props.title}
          </h2>
          {props.subtitle !== undefined && <p class="muted">{props.subtitle}</p>}
        </div>
        <button
          type="button"
          class="btn btn-ghost btn-icon"
          onClick={props.onClose}
          aria-label="Close panel"
          title="Close (Esc)"
        >
          <Icon name="close" />
        </button>
      </header>
      {props.onSubmit ? (
        <SubmitForm class="panel-form" onSubmit={props.onSubmit}>
          {body}
        </SubmitForm>
      ) : (
        body
      )}
    </aside>
  );
}

/**
 * A modal dialog (the native `<dialog>`: Esc cancels it, focus stays inside, and goes back to
 * where it was once the dialog goes).
 */
export function Dialog(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  actions: ComponentChildren;
  tone?: "danger";
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // A layout effect: its cleanup runs before the dialog leaves the page (a passive one runs
  // after), and only a dialog closed while still there hands the focus back to where it was.
  useLayoutEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => {
      if (d?.open) d.close();
    };
  }, []);
  const cancel = (e: TargetedEvent<HTMLDialogElement>) => {
    e.preventDefault();
    props.onClose();
  };
  return (
    <dialog
      ref={ref}
      class={`dialog ${props.tone === "danger" ? "dialog-danger" : ""}`}
      onCancel={cancel}
      aria-labelledby="dialog-title"
    >
      <h2 id="dialog-title">{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      <div class="dialog-actions">{props.actions}</div>
    </dialog>
  );
}

/**
 * Asks before an action that cannot be taken back: Cancel has the focus (Esc cancels too),
 * the action is the red button.
 */
export function ConfirmDialog(props: {
  title: string;
  confirmLabel: string;
  busy?: boolean;
  onCancel: () => void;
  onConfirm: () => void;
  children: ComponentChildren;
}) {
  return (
    <Dialog
      title={props.title}
      tone="danger"
      onClose={props.onCancel}
      actions={
        <>
          <button type="button" class="btn" onClick={props.onCancel} autoFocus>
            Cancel
          </button>
          <button type="button" class="btn btn-danger" disabled={props.busy} onClick={props.onConfirm}>
            {props.confirmLabel}
          </button>
        </>
      }
    >
      {props.children}
    </Dialog>
  );
}

/** Relative time for tables ("3 min ago"), with the full timestamp as a tooltip by the caller. */
export function relativeTime(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  return new Date(t).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function dateTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function duration(secs: number | null | undefined): string {
  if (secs === null || secs === undefined) return "—";
  const m = Math.floor(secs / 60);
  const s = secs % 60;
  return m > 0 ? `${m}:${String(s).padStart(2, "0")}` : `${s}s`;
}

/** Dollars with as many places as a per-minute rate needs (at least two). */
export function usd(v: number): string {
  const places = v !== 0 && Math.abs(v) < 0.1 ? 4 : v !== 0 && Math.abs(v) < 10 ? 3 : 2;
  return `$${v.toFixed(places)}`;
}

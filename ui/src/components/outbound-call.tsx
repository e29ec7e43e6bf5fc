//! "Call a number": one outbound call from a managed number, its outbound agent (or another)
//! speaking once the callee answers. On success the Live page opens on the new call; the
//! engine's refusals (no agent, a bad number, the agent busy, the carrier) stay in the dialog.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { OutboundRequest, PhoneNumber } from "../api/types";
import { fieldMessage } from "../forms";
import { href, navigate } from "../router";
import { useApi, useAppState } from "../store";
import { showToast } from "../toast";
import { checkPhoneNumber, formatNumber, regionName } from "../validate";
import { Banner, Dialog, Field, messageId } from "./ui";

const FIELDS = ["to", "from_number_id", "agent_id", "context", "machine_detection.message"];
const MESSAGE_MAX = 2000;

/** What happens when an answering machine picks up: nothing asked, hang up, or leave a message. */
type Machine = "off" | "hang_up" | "leave_message";

/** The number to offer first: the one asked for, else an active one with an outbound agent. */
function firstChoice(numbers: PhoneNumber[], wanted: string | null | undefined): string {
  if (wanted && numbers.some((n) => n.id === wanted)) return wanted;
  const active = numbers.filter((n) => n.status === "active");
  return (active.find((n) => n.outbound_agent_id) ?? active.at(0) ?? numbers.at(0))?.id ?? "";
}

function refusal(e: ApiError): ComponentChildren {
  const message = fieldMessage(e.message, e.field);
  if (e.code === "do_not_call") {
    return (
      <>
        <strong>Not called: the number is on a do-not-call list.</strong> {message.replace(/^not called: /i, "")}{" "}
        <a href={href("settings")}>Open the list</a>
      </>
    );
  }
  switch (e.status) {
    case 409:
      return <>The agent cannot take another call now: {message}</>;
    case 502:
      return (
        <>
          <strong>The carrier did not place the call.</strong> {message}
        </>
      );
    case 422:
      return /public (base )?url|credential|account|api key/i.test(e.message) ? (
        <>
          {message} <a href={href("settings")}>Open Settings</a>
        </>
      ) : (
        message
      );
    default:
      return message;
  }
}

export function OutboundCallDialog(props: { fromNumberId?: string | null; onClose: () => void }) {
  const api = useApi();
  const { numbers, agents, settings } = useAppState();
  const list = numbers.data ?? [];
  const [from, setFrom] = useState(() => firstChoice(list, props.fromNumberId));
  const [to, setTo] = useState("");
  const [agentId, setAgentId] = useState("");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [machine, setMachine] = useState<Machine>("off");
  const [message, setMessage] = useState("");
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const number = list.find((n) => n.id === from) ?? null;
  const region = settings.data?.default_region ?? null;
  const check = checkPhoneNumber(to, region);
  const serverError = (field: string) => (error?.field === field ? fieldMessage(error.message, error.field) : null);
  const toError = serverError("to") ?? (!check.ok && (touched || to.trim() !== "") ? check.message : null);
  const fromError =
    serverError("from_number_id") ??
    (list.length === 0
      ? "No managed numbers yet: add one on the Phone Numbers page."
      : number?.status === "disabled"
        ? "This number is disabled: enable it on the Phone Numbers page, or choose another."
        : null);
  const agentError =
    serverError("agent_id") ??
    (number && !number.outbound_agent_id && agentId === ""
      ? "This number has no outbound agent: choose the agent who speaks."
      : null);
  const emailText = email.trim();
  const emailError = emailText !== "" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(emailText) ? "Not an email address." : null;
  const messageText = message.trim();
  const messageError =
    serverError("machine_detection.message") ??
    (machine === "leave_message" && touched && messageText === ""
      ? "Write the message the agent leaves."
      : messageText.length > MESSAGE_MAX
        ? `At most ${MESSAGE_MAX} characters.`
        : null);
  const ready =
    check.ok &&
    number !== null &&
    fromError === null &&
    agentError === null &&
    emailError === null &&
    messageError === null &&
    (machine !== "leave_message" || messageText !== "");

  const call = async () => {
    setTouched(true);
    if (!ready || busy) return;
    setBusy(true);
    setError(null);
    const context: Record<string, string> = {};
    if (name.trim() !== "") context.name = name.trim();
    if (emailText !== "") context.email = emailText;
    const body: OutboundRequest = { from_number_id: number.id, to: check.e164 };
    if (agentId !== "") body.agent_id = agentId;
    if (Object.keys(context).length > 0) body.context = context;
    if (machine === "hang_up") body.machine_detection = { action: "hang_up" };
    if (machine === "leave_message") body.machine_detection = { action: "leave_message", message: messageText };
    try {
      const placed = await api.placeCall(body);
      showToast(`Calling ${formatNumber(placed.to_number)}`);
      props.onClose();
      navigate("live", placed.id);
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(false);
    }
  };

  const clearFieldError = (field: string) => {
    if (error?.field === field) setError(null);
  };
  const general = error && (error.field === null || !FIELDS.includes(error.field)) ? error : null;
  const outboundName = number?.outbound_agent_id
    ? (number.outbound_agent_name ?? agents.data?.find((a) => a.id === number.outbound_agent_id)?.name ?? "unknown")
    : null;

  return (
    <Dialog
      title="Call a number"
      onClose={props.onClose}
      actions={
        <>
          <button type="button" class="btn" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" form="outbound-form" class="btn btn-primary" disabled={busy || !ready}>
            {busy ? "Calling…" : "Call"}
          </button>
        </>
      }
    >
      <form
        id="outbound-form"
        class="outbound-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void call();
        }}
      >
        <p class="muted">The agent speaks for you once the callee answers.</p>
        {general && (
          <Banner tone="bad" role="alert">
            <span data-testid="outbound-error">{refusal(general)}</span>
          </Banner>
        )}
        <Field
          id="outbound-to"
          label="Number to call"
          error={toError}
          success={check.ok ? check.display : undefined}
          hint={
            region ? `E.164, or a ${regionName(region)} number.` : "E.164: + then the country code, e.g. +14155552671."
          }
        >
          <input
            id="outbound-to"
            name="to"
            type="tel"
            autoComplete="off"
            placeholder="+14155552671"
            autoFocus
            value={to}
            onInput={(e) => {
              setTo(e.currentTarget.value);
              clearFieldError("to");
            }}
            onBlur={() => {
              if (to.trim() !== "") setTouched(true);
            }}
            aria-invalid={toError !== null}
            aria-describedby={messageId("outbound-to")}
          />
        </Field>
        <Field id="outbound-from" label="Call from" error={fromError}>
          <select
            id="outbound-from"
            name="from_number_id"
            value={from}
            onChange={(e) => {
              setFrom(e.currentTarget.value);
              clearFieldError("from_number_id");
              clearFieldError("agent_id");
            }}
            aria-describedby={messageId("outbound-from")}
          >
            {list.map((n) => (
              <option key={n.id} value={n.id}>
                {formatNumber(n.number)}
                {n.label !== "" ? ` · ${n.label}` : ""}
                {n.status === "disabled" ? " (disabled)" : ""}
              </option>
            ))}
          </select>
        </Field>
        <Field id="outbound-agent" label="Agent" error={agentError}>
          <select
            id="outbound-agent"
            name="agent_id"
            value={agentId}
            onChange={(e) => {
              setAgentId(e.currentTarget.value);
              clearFieldError("agent_id");
            }}
            aria-describedby={messageId("outbound-agent")}
          >
            <option value="">
              {outboundName !== null ? `The number’s outbound agent (${outboundName})` : "Choose an agent…"}
            </option>
            {(agents.data ?? []).map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
                {a.active ? "" : " (inactive)"}
              </option>
            ))}
          </select>
        </Field>
        <div class="field-row">
          <Field id="outbound-name" label="Their name" optional>
            <input
              id="outbound-name"
              name="name"
              autoComplete="off"
              value={name}
              onInput={(e) => {
                setName(e.currentTarget.value);
              }}
            />
          </Field>
          <Field id="outbound-email" label="Their email" optional error={emailError}>
            <input
              id="outbound-email"
              name="email"
              type="email"
              autoComplete="off"
              value={email}
              onInput={(e) => {
                setEmail(e.currentTarget.value);
              }}
              aria-invalid={emailError !== null}
              aria-describedby={messageId("outbound-email")}
            />
          </Field>
        </div>
        <p class="muted small">
          The name and email fill the agent’s {"{name}"} and {"{email}"} placeholders.
        </p>
        <Field
          id="outbound-machine"
          label="Answering machines"
          hint="Detection asks the carrier to tell a person from a machine; the call shows who answered."
        >
          <select
            id="outbound-machine"
            name="machine_detection"
            value={machine}
            onChange={(e) => {
              setMachine(e.currentTarget.value as Machine);
              clearFieldError("machine_detection.message");
            }}
            aria-describedby={messageId("outbound-machine")}
          >
            <option value="off">Don’t detect</option>
            <option value="hang_up">Detect, and hang up on a machine</option>
            <option value="leave_message">Detect, and leave a message</option>
          </select>
        </Field>
        {machine === "leave_message" && (
          <Field id="outbound-message" label="Message to leave after the beep" error={messageError}>
            <textarea
              id="outbound-message"
              name="machine_message"
              rows={3}
              maxLength={MESSAGE_MAX}
              value={message}
              placeholder="Hi, this is Acme about your order. Please call us back."
              onInput={(e) => {
                setMessage(e.currentTarget.value);
                clearFieldError("machine_detection.message");
              }}
              aria-invalid={messageError !== null}
              aria-describedby={messageId("outbound-message")}
            />
          </Field>
        )}
      </form>
    </Dialog>
  );
}

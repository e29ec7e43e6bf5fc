//! Phone numbers: add one (checked as you type), list them with their agents and webhook URL,
//! and assign inbound and outbound agents in the side panel.
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import {
  CARRIERS,
  type AccountSync,
  type Agent,
  type AvailableNumber,
  type NumberKind,
  type Carrier,
  type NumberCarrier,
  type NumberStatus,
  type PhoneNumber,
  type PhoneNumberInput,
  type Pointing,
  type PurchaseRequirements,
  type Settings,
} from "../api/types";
import { Icon } from "../components/icons";
import { OutboundCallDialog } from "../components/outbound-call";
import {
  Badge,
  Banner,
  CopyValue,
  ConfirmDialog,
  EmptyState,
  Field,
  FieldSet,
  ItemRow,
  messageId,
  NewButton,
  PageHeader,
  RemoteView,
  RowLink,
  PanelFooter,
  SidePanel,
} from "../components/ui";
import { href, navigate } from "../router";
import { reload, useApi, useAppState } from "../store";
import { showToast } from "../toast";
import { checkPhoneNumber, formatNumber, regionName } from "../validate";
import { rebase } from "../forms";
import { limits } from "../api/limits";

/** The engine's bound on a label, as its OpenAPI document states it. */
const LABEL_MAX = limits.PhoneNumberInput.label.maxLength;

export const CARRIER_NAMES: Record<Carrier, string> = {
  twilio: "Twilio",
  telnyx: "Telnyx",
  livekit: "LiveKit SIP",
  local: "This computer",
};

/** The URL to paste into the carrier's console for this number, if the carrier takes one. */
export function webhookFor(
  carrier: Carrier,
  settings: Settings | null,
): { url: string; what: string } | null | "unset" {
  if (carrier === "livekit") return null;
  const urls = settings?.webhook_urls;
  if (!urls) return "unset";
  return carrier === "twilio"
    ? { url: urls.twilio_voice, what: "Twilio voice webhook URL" }
    : { url: urls.telnyx, what: "Telnyx webhook URL" };
}

export function NumbersPage(props: { selected: string | null }) {
  const { numbers, agents, settings } = useAppState();
  const list = numbers.data;
  const creating = props.selected === "new";
  const selected = props.selected && !creating ? (list?.find((n) => n.id === props.selected) ?? null) : null;
  const close = () => {
    navigate("numbers");
  };
  const publicUnset = settings.data !== null && settings.data.webhook_urls == null;
  // The carrier whose account's numbers are shown, if any.
  const [syncing, setSyncing] = useState<NumberCarrier | null>(null);
  const [buying, setBuying] = useState(false);
  const stale = list && settings.data ? atOldUrl(list, settings.data) : [];

  return (
    <div class="page">
      <PageHeader
        title="Phone Numbers"
        summary={
          list
            ? `${list.length} ${list.length === 1 ? "number" : "numbers"}`
            : "The numbers your agents answer and call from"
        }
        actions={
          <>
            {ACCOUNT_CARRIERS.map((c) => (
              <button
                key={c}
                type="button"
                class="btn"
                onClick={() => {
                  // One side panel at a time: each would cover the other.
                  setBuying(false);
                  setSyncing(c);
                }}
                title={`See the numbers on your ${CARRIER_NAMES[c]} account, import them and point them here`}
              >
                <Icon name="numbers" /> Your {CARRIER_NAMES[c]} numbers
              </button>
            ))}
            <button
              type="button"
              class="btn"
              onClick={() => {
                setSyncing(null);
                setBuying(true);
              }}
              title="Search Twilio's or Telnyx's numbers for sale and buy one, pointed here"
            >
              <Icon name="plus" /> Buy a number
            </button>
            <NewButton page="numbers" label="Add number" />
          </>
        }
      />
      <div class="page-content">
        <div class="table-area">
          {publicUnset && list !== null && list.length > 0 && (
            <Banner tone="warn">
              Carriers cannot reach Switchboard until its public URL is set.{" "}
              <a href={href("settings")}>Set it in Settings</a> to get each number's webhook URL.
            </Banner>
          )}
          {stale.length > 0 && <RepointBanner count={stale.length} />}
          <RemoteView remote={numbers} what="phone numbers" onRetry={() => void reload.numbers()}>
            {(data) =>
              data.length === 0 ? (
                <EmptyState
                  icon="numbers"
                  title="No phone numbers yet"
                  action={
                    <a class="btn btn-primary" href={href("numbers", "new")}>
                      <Icon name="plus" /> Add a number
                    </a>
                  }
                >
                  Add a number you own at Twilio, Telnyx or LiveKit, import one with “Your Twilio numbers” or “Your
                  Telnyx numbers”, or buy one; then choose which agent answers it and which calls from it.
                </EmptyState>
              ) : (
                <NumbersTable numbers={data} settings={settings.data} selected={props.selected} />
              )
            }
          </RemoteView>
        </div>
        {buying && (
          <BuyPanel
            agents={agents.data ?? []}
            onClose={() => {
              setBuying(false);
            }}
          />
        )}
        {syncing && (
          <AccountPanel
            key={syncing}
            carrier={syncing}
            agents={agents.data ?? []}
            onClose={() => {
              setSyncing(null);
            }}
          />
        )}
        {creating && <AddNumberPanel defaultRegion={settings.data?.default_region ?? null} onClose={close} />}
        {selected && (
          <NumberPanel
            key={selected.id}
            number={selected}
            agents={agents.data ?? []}
            settings={settings.data}
            onClose={close}
          />
        )}
        {props.selected && !creating && !selected && list && (
          <SidePanel title="Number not found" onClose={close}>
            <p class="muted">This number no longer exists. It may have been deleted elsewhere.</p>
          </SidePanel>
        )}
      </div>
    </div>
  );
}

function AgentName(props: { name: string | null | undefined; id: string | null | undefined }) {
  if (!props.id) return <span class="muted">None</span>;
  return <span>{props.name ?? <span class="muted">Unknown agent</span>}</span>;
}

function NumbersTable(props: { numbers: PhoneNumber[]; settings: Settings | null; selected: string | null }) {
  return (
    <table class="table" aria-label="Phone numbers">
      <thead>
        <tr>
          <th scope="col">Number</th>
          <th scope="col">Carrier</th>
          <th scope="col">Inbound agent</th>
          <th scope="col">Outbound agent</th>
          <th scope="col" class="num">
            Calls
          </th>
          <th scope="col" class="col-webhook">
            Webhook URL
          </th>
        </tr>
      </thead>
      <tbody>
        {props.numbers.map((n) => {
          const hook = webhookFor(n.carrier, props.settings);
          return (
            <ItemRow key={n.id} page="numbers" id={n.id} selected={props.selected}>
              <td class="cell-main">
                <RowLink page="numbers" id={n.id} class="nowrap">
                  {formatNumber(n.number)}
                </RowLink>
                {n.label !== "" && <div class="sub truncate">{n.label}</div>}
              </td>
              <td>
                <div class="nowrap">{CARRIER_NAMES[n.carrier]}</div>
                {n.status === "active" ? <Badge tone="good">Active</Badge> : <Badge tone="neutral">Disabled</Badge>}
              </td>
              <td data-col="inbound">
                <AgentName id={n.inbound_agent_id} name={n.inbound_agent_name} />
              </td>
              <td data-col="outbound">
                <AgentName id={n.outbound_agent_id} name={n.outbound_agent_name} />
              </td>
              <td class="num">{n.calls_received}</td>
              <td class="col-webhook" onClick={(e) => e.stopPropagation()}>
                {hook === null ? (
                  <span class="muted">No webhook (SIP)</span>
                ) : hook === "unset" ? (
                  <a
                    href={href("settings")}
                    class="warn-text nowrap"
                    title="Set the public URL in Settings to get this number's webhook URL"
                  >
                    Needs public URL
                  </a>
                ) : (
                  <>
                    <CopyValue compact value={hook.url} what={`${hook.what} for ${n.number}`} />
                    {ACCOUNT_CARRIERS.includes(n.carrier) && <PointState number={n} voiceUrl={hook.url} />}
                  </>
                )}
              </td>
            </ItemRow>
          );
        })}
      </tbody>
    </table>
  );
}

function AddNumberPanel(props: { defaultRegion: string | null; onClose: () => void }) {
  const api = useApi();
  const [number, setNumber] = useState("");
  const [carrier, setCarrier] = useState<NumberCarrier>("twilio");
  const [label, setLabel] = useState("");
  const [carrierId, setCarrierId] = useState("");
  const [touched, setTouched] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const check = checkPhoneNumber(number, props.defaultRegion);
  const numberError =
    error?.field === "number" ? error.message : !check.ok && (touched || number.trim() !== "") ? check.message : null;

  const save = async () => {
    setTouched(true);
    if (!check.ok || saving) return;
    setSaving(true);
    setError(null);
    try {
      const created = await api.createNumber({
        number: check.e164,
        carrier,
        label: label.trim(),
        carrier_number_id: carrierId.trim() === "" ? null : carrierId.trim(),
      });
      showToast(`${formatNumber(created.number)} added`);
      navigate("numbers", created.id);
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };

  const regionHint = props.defaultRegion
    ? `E.164 (+14155552671), or a ${regionName(props.defaultRegion)} number in national form.`
    : "E.164: + then the country code and number, e.g. +14155552671.";

  return (
    <SidePanel
      title="Add a phone number"
      subtitle="A number you already own at your carrier."
      onClose={props.onClose}
      focusFirstField
      onSubmit={() => void save()}
      footer={
        <PanelFooter
          onClose={props.onClose}
          closeLabel="Cancel"
          submitLabel={saving ? "Adding…" : "Add number"}
          submitDisabled={saving || !check.ok}
        />
      }
    >
      {error && error.field !== "number" && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
      <Field
        id="number-value"
        label="Phone number"
        hint={regionHint}
        error={numberError}
        success={
          check.ok
            ? `${check.display}${check.region ? ` · ${regionName(check.region)}` : ""} — saved as ${check.e164}`
            : undefined
        }
      >
        <input
          id="number-value"
          name="number"
          type="tel"
          autoComplete="off"
          placeholder="+14155552671"
          value={number}
          onInput={(e) => {
            setNumber(e.currentTarget.value);
            if (error?.field === "number") setError(null);
          }}
          onBlur={() => {
            if (number.trim() !== "") setTouched(true);
          }}
          aria-invalid={numberError !== null}
          aria-describedby={messageId("number-value")}
        />
      </Field>
      <Field id="number-carrier" label="Carrier" error={error?.field === "carrier" ? error.message : null}>
        <select
          id="number-carrier"
          name="carrier"
          value={carrier}
          onChange={(e) => {
            setCarrier(e.currentTarget.value as NumberCarrier);
          }}
        >
          {CARRIERS.map((c) => (
            <option key={c} value={c}>
              {CARRIER_NAMES[c]}
            </option>
          ))}
        </select>
      </Field>
      <Field
        id="number-label"
        label="Label"
        optional
        hint="What this number is for, e.g. “Front desk”."
        error={error?.field === "label" ? error.message : null}
      >
        <input
          id="number-label"
          name="label"
          value={label}
          maxLength={LABEL_MAX}
          onInput={(e) => {
            setLabel(e.currentTarget.value);
          }}
          aria-describedby={messageId("number-label")}
        />
      </Field>
      <Field
        id="number-carrier-id"
        label="Carrier's number ID"
        optional
        hint="Twilio's PN… SID or Telnyx's number ID, if you have it."
        error={error?.field === "carrier_number_id" ? error.message : null}
      >
        <input
          id="number-carrier-id"
          name="carrier_number_id"
          value={carrierId}
          autoComplete="off"
          onInput={(e) => {
            setCarrierId(e.currentTarget.value);
          }}
          aria-describedby={messageId("number-carrier-id")}
        />
      </Field>
    </SidePanel>
  );
}

interface NumberForm {
  inbound: string;
  outbound: string;
  label: string;
  carrier: NumberCarrier;
  carrierId: string;
  status: NumberStatus;
}

function formOf(n: PhoneNumber): NumberForm {
  return {
    inbound: n.inbound_agent_id ?? "",
    outbound: n.outbound_agent_id ?? "",
    label: n.label,
    carrier: n.carrier,
    carrierId: n.carrier_number_id ?? "",
    status: n.status,
  };
}

function changes(form: NumberForm, n: PhoneNumber): PhoneNumberInput {
  const base = formOf(n);
  const body: PhoneNumberInput = {};
  if (form.inbound !== base.inbound) body.inbound_agent_id = form.inbound === "" ? null : form.inbound;
  if (form.outbound !== base.outbound) body.outbound_agent_id = form.outbound === "" ? null : form.outbound;
  if (form.label.trim() !== base.label) body.label = form.label.trim();
  if (form.carrier !== base.carrier) body.carrier = form.carrier;
  if (form.carrierId.trim() !== base.carrierId)
    body.carrier_number_id = form.carrierId.trim() === "" ? null : form.carrierId.trim();
  if (form.status !== base.status) body.status = form.status;
  return body;
}

function AgentSelect(props: {
  id: string;
  name?: string;
  label: string;
  hint?: string;
  /** What choosing no agent is called. */
  none?: string;
  /** Choices after the agents (value, label). */
  more?: [string, string][];
  value: string;
  agents: Agent[];
  onChange: (id: string) => void;
  error?: string | null;
}) {
  const missing = props.value !== "" && !props.agents.some((a) => a.id === props.value);
  return (
    <Field id={props.id} label={props.label} hint={props.hint} error={props.error ?? null}>
      <select
        id={props.id}
        name={props.name}
        value={props.value}
        onChange={(e) => {
          props.onChange(e.currentTarget.value);
        }}
        aria-describedby={messageId(props.id)}
      >
        <option value="">{props.none ?? "None"}</option>
        {missing && <option value={props.value}>Unknown agent</option>}
        {props.agents.map((a) => (
          <option key={a.id} value={a.id}>
            {a.name}
            {a.active ? "" : " (inactive)"}
          </option>
        ))}
        {props.more?.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
    </Field>
  );
}

function NumberPanel(props: { number: PhoneNumber; agents: Agent[]; settings: Settings | null; onClose: () => void }) {
  const api = useApi();
  const n = props.number;
  // `base` is the stored number the form started from; edits are what differ from it.
  const [base, setBase] = useState(n);
  const [form, setForm] = useState(() => formOf(n));
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [calling, setCalling] = useState(false);

  // Only what the operator changed is sent, so edits made elsewhere meanwhile are kept.
  const body = changes(form, base);
  const dirty = Object.keys(body).length > 0;
  // Someone else changed the number: take their values for the fields not edited here.
  useEffect(() => {
    if (n === base) return;
    setForm((f) => rebase(f, formOf(base), formOf(n)));
    setBase(n);
  }, [n]);

  const update = <K extends keyof NumberForm>(key: K, value: NumberForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setSaved(false);
  };
  const fieldError = (field: string) => (error?.field === field ? error.message : null);

  const save = async () => {
    if (!dirty || saving) return;
    setSaving(true);
    setError(null);
    try {
      const updated = await api.updateNumber(n.id, body);
      setBase(updated);
      setForm(formOf(updated));
      setSaved(true);
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };

  const hook = webhookFor(form.carrier, props.settings);
  const urls = props.settings?.webhook_urls;
  const knownFields = ["inbound_agent_id", "outbound_agent_id", "label", "carrier", "carrier_number_id", "status"];

  return (
    <>
      <SidePanel
        title={formatNumber(n.number)}
        subtitle={`${n.label !== "" ? `${n.label} · ` : ""}${CARRIER_NAMES[n.carrier]} · ${n.calls_received} ${n.calls_received === 1 ? "call" : "calls"} received`}
        onClose={props.onClose}
        onSubmit={() => void save()}
        footer={
          <PanelFooter
            onDelete={() => {
              setDeleting(true);
            }}
            saved={saved && !dirty}
            onClose={props.onClose}
            closeLabel="Close"
            submitLabel={saving ? "Saving…" : "Save changes"}
            submitDisabled={!dirty || saving}
          />
        }
      >
        {error && (error.field === null || !knownFields.includes(error.field)) && (
          <Banner tone="bad" role="alert">
            {error.message}
          </Banner>
        )}
        <div class="panel-actions">
          <button
            type="button"
            class="btn"
            onClick={() => {
              setCalling(true);
            }}
          >
            <Icon name="outgoing" /> Call a number from this one…
          </button>
        </div>
        <section class="panel-section first" aria-labelledby="number-agents">
          <h3 id="number-agents">Agents</h3>
          {props.agents.length === 0 && (
            <p class="muted">
              No agents yet. <a href={href("agents", "new")}>Create one</a> to answer this number.
            </p>
          )}
          <AgentSelect
            id="number-inbound"
            name="inbound_agent_id"
            label="Inbound agent"
            hint="Answers calls to this number."
            value={form.inbound}
            agents={props.agents}
            error={fieldError("inbound_agent_id")}
            onChange={(v) => {
              update("inbound", v);
            }}
          />
          <AgentSelect
            id="number-outbound"
            name="outbound_agent_id"
            label="Outbound agent"
            hint="Speaks on calls placed from this number."
            value={form.outbound}
            agents={props.agents}
            error={fieldError("outbound_agent_id")}
            onChange={(v) => {
              update("outbound", v);
            }}
          />
        </section>
        <section class="panel-section" aria-labelledby="number-details">
          <h3 id="number-details">Details</h3>
          <Field id="number-edit-label" label="Label" optional error={fieldError("label")}>
            <input
              id="number-edit-label"
              name="label"
              value={form.label}
              maxLength={LABEL_MAX}
              onInput={(e) => {
                update("label", e.currentTarget.value);
              }}
            />
          </Field>
          <div class="field-row">
            <Field id="number-edit-carrier" label="Carrier" error={fieldError("carrier")}>
              <select
                id="number-edit-carrier"
                name="carrier"
                value={form.carrier}
                onChange={(e) => {
                  update("carrier", e.currentTarget.value as NumberCarrier);
                }}
              >
                {CARRIERS.map((c) => (
                  <option key={c} value={c}>
                    {CARRIER_NAMES[c]}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="number-edit-status" label="Status" error={fieldError("status")}>
              <select
                id="number-edit-status"
                name="status"
                value={form.status}
                onChange={(e) => {
                  update("status", e.currentTarget.value as NumberStatus);
                }}
              >
                <option value="active">Active</option>
                <option value="disabled">Disabled (calls refused)</option>
              </select>
            </Field>
          </div>
          <Field
            id="number-edit-carrier-id"
            label="Carrier's number ID"
            optional
            error={fieldError("carrier_number_id")}
          >
            <input
              id="number-edit-carrier-id"
              name="carrier_number_id"
              value={form.carrierId}
              autoComplete="off"
              onInput={(e) => {
                update("carrierId", e.currentTarget.value);
              }}
            />
          </Field>
        </section>
        <section class="panel-section" aria-labelledby="number-webhook">
          <h3 id="number-webhook">Carrier setup</h3>
          {hook === null ? (
            <p class="muted">LiveKit SIP numbers need no webhook: calls arrive through your LiveKit SIP trunk.</p>
          ) : hook === "unset" || !urls ? (
            <p class="muted">
              <a href={href("settings")}>Set the public URL</a> to get the URL to paste into{" "}
              {CARRIER_NAMES[form.carrier]}.
            </p>
          ) : form.carrier === "twilio" ? (
            <>
              <p class="field-label">A call comes in (Webhook, HTTP POST)</p>
              <CopyValue value={urls.twilio_voice} what="Twilio voice webhook URL" />
              <p class="field-label">Call status changes (HTTP POST)</p>
              <CopyValue value={urls.twilio_status} what="Twilio status callback URL" />
            </>
          ) : (
            <>
              <p class="field-label">Call Control application · Webhook URL (API v2)</p>
              <CopyValue value={urls.telnyx} what="Telnyx webhook URL" />
            </>
          )}
        </section>
        {deleting && (
          <DeleteNumberDialog
            number={n}
            onClose={() => {
              setDeleting(false);
            }}
          />
        )}
      </SidePanel>
      {/* Outside the panel: the panel is a form, and the dialog has its own. */}
      {calling && (
        <OutboundCallDialog
          fromNumberId={n.id}
          onClose={() => {
            setCalling(false);
          }}
        />
      )}
    </>
  );
}

function DeleteNumberDialog(props: { number: PhoneNumber; onClose: () => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [release, setRelease] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const shown = formatNumber(props.number.number);
  const carrier = CARRIER_NAMES[props.number.carrier];
  // Numbers on an account Switchboard reads can be given back from here.
  const releasable = ACCOUNT_CARRIERS.includes(props.number.carrier);
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteNumber(props.number.id, releasable && release);
      showToast(release ? `${shown} released and removed` : `${shown} removed`);
      props.onClose();
      navigate("numbers");
    } catch (e) {
      setError(isApiError(e) ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <ConfirmDialog
      title={`Remove ${shown}?`}
      confirmLabel={busy ? (release ? "Releasing…" : "Removing…") : release ? "Release and remove" : "Remove number"}
      busy={busy}
      onCancel={props.onClose}
      onConfirm={() => void remove()}
    >
      <p>Switchboard stops answering this number; its past calls stay in the call log.</p>
      {releasable && (
        <FieldSet id="number-release" legend={`At ${carrier}`}>
          <label class="check">
            <input
              type="radio"
              name="release"
              value="keep"
              checked={!release}
              onChange={() => {
                setRelease(false);
              }}
            />
            <span>Keep it on the {carrier} account (still paid for; it can be imported again)</span>
          </label>
          <label class="check">
            <input
              type="radio"
              name="release"
              value="release"
              checked={release}
              onChange={() => {
                setRelease(true);
              }}
            />
            <span>Release it: the account stops paying for it, and the number may not be got back</span>
          </label>
        </FieldSet>
      )}
      {!releasable && <p>The number stays yours at {carrier}.</p>}
      {error !== null && (
        <Banner tone="bad" role="alert">
          {error}
        </Banner>
      )}
    </ConfirmDialog>
  );
}

/** Numbers Switchboard pointed at a public URL that is no longer the one in force. */
export function atOldUrl(numbers: PhoneNumber[], settings: Settings): PhoneNumber[] {
  return numbers.filter((n) => {
    const hook = webhookFor(n.carrier, settings);
    return n.pointed_url != null && hook !== null && (hook === "unset" || n.pointed_url !== hook.url);
  });
}

/** Where a managed number's calls go, as Switchboard set it, with a way to point it here. */
function PointState(props: { number: PhoneNumber; voiceUrl: string }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const n = props.number;
  if (n.pointed_url === props.voiceUrl) {
    return (
      <div class="point-state">
        <Badge tone="good">Points here</Badge>
      </div>
    );
  }
  const point = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.pointNumber(n.id);
      showToast(`${formatNumber(n.number)} now sends its calls to Switchboard.`);
    } catch (e) {
      setError(isApiError(e) ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="point-state">
      {n.pointed_url != null && <Badge tone="warn">Old URL</Badge>}
      <button type="button" class="btn btn-sm" disabled={busy} onClick={() => void point()}>
        {busy ? "Pointing…" : "Point here"}
      </button>
      {error && (
        <span class="bad-text small" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/** Numbers still send calls to an old public URL: re-point them all in one step. */
function RepointBanner(props: { count: number }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<{ number: string; error: string }[]>([]);
  const repoint = async () => {
    setBusy(true);
    setFailed([]);
    try {
      const results = await api.pointAllNumbers();
      const bad = results.filter((r) => r.error != null).map((r) => ({ number: r.number, error: r.error ?? "" }));
      setFailed(bad);
      const good = results.length - bad.length;
      if (good > 0) showToast(`${good} ${good === 1 ? "number points" : "numbers point"} at the new URL.`);
      await reload.numbers();
    } catch (e) {
      setFailed([{ number: "all", error: isApiError(e) ? e.message : String(e) }]);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Banner tone="warn">
      {props.count === 1 ? "1 number still sends" : `${String(props.count)} numbers still send`} calls to an old public
      URL.{" "}
      <button type="button" class="btn btn-sm" disabled={busy} onClick={() => void repoint()}>
        {busy ? "Re-pointing…" : "Re-point all here"}
      </button>
      {failed.length > 0 && (
        <ul class="repoint-failed" role="alert">
          {failed.map((f) => (
            <li key={f.number}>
              {f.number === "all" ? "" : `${formatNumber(f.number)}: `}
              {f.error}
            </li>
          ))}
        </ul>
      )}
    </Banner>
  );
}

const POINTING: Record<Pointing, { tone: "good" | "warn" | "neutral" | "info"; text: string }> = {
  here: { tone: "good", text: "Points here" },
  old_url: { tone: "warn", text: "Old Switchboard URL" },
  elsewhere: { tone: "info", text: "Points elsewhere" },
  nowhere: { tone: "neutral", text: "Not pointed" },
};

/** The carriers whose accounts' numbers Switchboard can list and point. */
const ACCOUNT_CARRIERS: NumberCarrier[] = ["twilio", "telnyx"];

/** A carrier account's numbers: which are Switchboard's, where each sends its calls, and
 * importing one (pointed here at once). */
function AccountPanel(props: { carrier: NumberCarrier; agents: Agent[]; onClose: () => void }) {
  const name = CARRIER_NAMES[props.carrier];
  const api = useApi();
  const [sync, setSync] = useState<AccountSync | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [agent, setAgent] = useState("");
  const load = async () => {
    setError(null);
    try {
      setSync(await api.syncNumbers(props.carrier));
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    }
  };
  useEffect(() => {
    void load();
  }, []);
  const act = async (key: string, run: () => Promise<unknown>) => {
    setBusy(key);
    setError(null);
    try {
      await run();
      await load();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(null);
    }
  };
  return (
    <SidePanel
      title={`Your ${name} numbers`}
      subtitle={`On your ${name} account, read just now`}
      onClose={props.onClose}
      wide
    >
      {error && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
      {sync === null && error === null && <p class="muted">Reading your {name} account…</p>}
      {sync && (
        <>
          {sync.voice_url == null && (
            <Banner tone="warn">
              Set the public URL in <a href={href("settings")}>Settings</a> before pointing numbers here.
            </Banner>
          )}
          {sync.missing.length > 0 && (
            <Banner tone="warn">
              Not on your {name} account any more (released, or moved), kept here until you delete them:{" "}
              {sync.missing.map((m) => formatNumber(m.number)).join(", ")}
            </Banner>
          )}
          <AgentSelect
            id="import-agent"
            label="Inbound agent for imported numbers"
            none="None yet"
            value={agent}
            agents={props.agents}
            onChange={setAgent}
          />
          {sync.numbers.length === 0 ? (
            <p class="muted">Your {name} account has no numbers yet.</p>
          ) : (
            <table class="table" aria-label={`${name} account numbers`}>
              <thead>
                <tr>
                  <th scope="col">Number</th>
                  <th scope="col">Calls go</th>
                  <th scope="col" />
                </tr>
              </thead>
              <tbody>
                {sync.numbers.map((n) => {
                  const p = POINTING[n.pointing];
                  return (
                    <tr key={n.carrier_number_id}>
                      <td class="cell-main">
                        <span class="nowrap">{formatNumber(n.number)}</span>
                        {n.friendly_name !== "" && n.friendly_name !== n.number && (
                          <div class="sub truncate">{n.friendly_name}</div>
                        )}
                      </td>
                      <td>
                        <span title={n.voice_url ?? "No Voice URL"}>
                          <Badge tone={p.tone}>{p.text}</Badge>
                        </span>
                      </td>
                      <td class="num">
                        {n.managed_id == null ? (
                          <button
                            type="button"
                            class="btn btn-sm btn-primary"
                            disabled={busy !== null || sync.voice_url == null}
                            onClick={() =>
                              void act(n.carrier_number_id, () =>
                                api.importNumber(
                                  props.carrier,
                                  n.carrier_number_id,
                                  agent ? { inbound_agent_id: agent } : {},
                                ),
                              )
                            }
                          >
                            {busy === n.carrier_number_id ? "Importing…" : "Import"}
                          </button>
                        ) : n.pointing === "here" ? (
                          <span class="muted small">In Switchboard</span>
                        ) : (
                          <button
                            type="button"
                            class="btn btn-sm"
                            disabled={busy !== null || sync.voice_url == null}
                            onClick={() => {
                              const id = n.managed_id;
                              if (id != null) void act(n.carrier_number_id, () => api.pointNumber(id));
                            }}
                          >
                            {busy === n.carrier_number_id ? "Pointing…" : "Point here"}
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </>
      )}
    </SidePanel>
  );
}

/** The inbound-agent choice that makes the agent with the number (`/api/agents/with-number`). */
const NEW_RETELL_AGENT = "new-retell-agent";

const KINDS: Record<NumberKind, string> = { local: "Local", mobile: "Mobile", toll_free: "Toll-free" };

/** Search a carrier's numbers for sale and buy one: it is pointed here and managed at once. */
function BuyPanel(props: { agents: Agent[]; onClose: () => void }) {
  const api = useApi();
  const [carrier, setCarrier] = useState<NumberCarrier>("twilio");
  const name = CARRIER_NAMES[carrier];
  // What the regulator's paperwork is called at each carrier.
  const bundleWord = carrier === "telnyx" ? "requirement group" : "regulatory bundle";
  const [country, setCountry] = useState("US");
  const [kind, setKind] = useState<NumberKind>("local");
  const [areaCode, setAreaCode] = useState("");
  const [contains, setContains] = useState("");
  const [agent, setAgent] = useState("");
  const [newAgent, setNewAgent] = useState({ name: "", prompt: "", greeting: "", voice: "retell-Cimo" });
  const [addressId, setAddressId] = useState("");
  const [bundleId, setBundleId] = useState("");
  const [results, setResults] = useState<AvailableNumber[] | null>(null);
  // What the account has for the country and type last searched: the pickers' choices.
  const [needs, setNeeds] = useState<(PurchaseRequirements & { country: string; kind: NumberKind }) | null>(null);
  const [needsError, setNeedsError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const search = async () => {
    setBusy("search");
    setError(null);
    try {
      // The pickers' choices are fetched alongside; without them a search still works.
      const [found, has] = await Promise.all([
        api.searchNumbers(carrier, {
          country,
          kind,
          ...(areaCode.trim() ? { area_code: areaCode.trim() } : {}),
          ...(contains.trim() ? { contains: contains.trim() } : {}),
        }),
        api.purchaseRequirements(carrier, { country, kind }).catch((e: unknown) => {
          if (isApiError(e)) return e;
          throw e;
        }),
      ]);
      setResults(found);
      const known = isApiError(has) ? null : has;
      setNeeds(known && { ...known, country, kind });
      setNeedsError(isApiError(has) ? has.message : null);
      // The first of each is the one to use when in doubt; passing one a number does not
      // need does no harm.
      setAddressId(known?.addresses[0]?.id ?? "");
      setBundleId(known?.bundles[0]?.id ?? "");
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(null);
    }
  };
  const buy = async (n: AvailableNumber) => {
    setBusy(n.number);
    setError(null);
    try {
      if (agent === NEW_RETELL_AGENT) {
        const done = await api.createAgentWithNumber({
          agent: {
            name: newAgent.name.trim(),
            backend: "retell",
            retell_voice_id: newAgent.voice.trim(),
            system_prompt: newAgent.prompt,
            greeting: newAgent.greeting,
          },
          carrier,
          number: n.number,
          ...(addressId ? { address_id: addressId } : {}),
          ...(bundleId ? { bundle_id: bundleId } : {}),
        });
        showToast(
          done.warning ?? `${done.agent.name} is on Retell and answers ${formatNumber(done.phone_number.number)}.`,
        );
        await Promise.all([reload.agents(), reload.numbers()]);
        props.onClose();
        return;
      }
      const bought = await api.buyNumber(carrier, {
        number: n.number,
        ...(agent ? { inbound_agent_id: agent } : {}),
        ...(addressId ? { address_id: addressId } : {}),
        ...(bundleId ? { bundle_id: bundleId } : {}),
      });
      showToast(`${formatNumber(bought.number)} is yours, and sends its calls to Switchboard.`);
      await reload.numbers();
      props.onClose();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(null);
    }
  };
  return (
    <SidePanel
      title="Buy a number"
      subtitle={`From ${name}, pointed at Switchboard as it is bought`}
      onClose={props.onClose}
      onSubmit={() => void search()}
      wide
      focusFirstField
    >
      <div class="buy-search">
        <Field id="buy-carrier" label="Carrier">
          <select
            id="buy-carrier"
            value={carrier}
            onChange={(e) => {
              // Another account: its results and its paperwork are not this one's.
              setCarrier(e.currentTarget.value as NumberCarrier);
              setResults(null);
              setNeeds(null);
              setNeedsError(null);
              setAddressId("");
              setBundleId("");
              setError(null);
            }}
          >
            {ACCOUNT_CARRIERS.map((c) => (
              <option key={c} value={c}>
                {CARRIER_NAMES[c]}
              </option>
            ))}
          </select>
        </Field>
        <Field id="buy-country" label="Country">
          <input
            id="buy-country"
            value={country}
            maxLength={2}
            onInput={(e) => {
              setCountry(e.currentTarget.value.toUpperCase());
            }}
          />
        </Field>
        <Field id="buy-kind" label="Type">
          <select
            id="buy-kind"
            value={kind}
            onChange={(e) => {
              setKind(e.currentTarget.value as NumberKind);
            }}
          >
            {(Object.keys(KINDS) as NumberKind[]).map((k) => (
              <option key={k} value={k}>
                {KINDS[k]}
              </option>
            ))}
          </select>
        </Field>
        <Field id="buy-area" label="Area code (US, CA)">
          <input
            id="buy-area"
            value={areaCode}
            inputMode="numeric"
            maxLength={3}
            onInput={(e) => {
              setAreaCode(e.currentTarget.value);
            }}
          />
        </Field>
        <Field id="buy-contains" label="Contains digits">
          <input
            id="buy-contains"
            value={contains}
            inputMode="numeric"
            maxLength={16}
            onInput={(e) => {
              setContains(e.currentTarget.value);
            }}
          />
        </Field>
        <button type="submit" class="btn btn-primary" disabled={busy !== null}>
          {busy === "search" ? "Searching…" : "Search"}
        </button>
      </div>
      {needsError !== null && (
        <Banner tone="warn">
          Could not list the {name} account's {carrier === "telnyx" ? "requirement groups" : "addresses and bundles"}:{" "}
          {needsError}
        </Banner>
      )}
      <div class="buy-options">
        <AgentSelect
          id="buy-agent"
          label="Inbound agent"
          none="None yet"
          more={[[NEW_RETELL_AGENT, "A new agent on Retell…"]]}
          value={agent}
          agents={props.agents}
          onChange={setAgent}
        />
        {needs !== null && (
          <>
            {/* Telnyx takes no address with an order: only its requirement groups apply. */}
            {carrier === "twilio" && (
              <Field
                id="buy-address"
                label="Address"
                hint={
                  needs.addresses.length === 0
                    ? `Your Twilio account has no address in ${needs.country}: a number that needs one cannot be bought until one is added (Twilio Console, Addresses).`
                    : "For numbers that need an address on file."
                }
              >
                <select
                  id="buy-address"
                  value={addressId}
                  onChange={(e) => {
                    setAddressId(e.currentTarget.value);
                  }}
                  aria-describedby={messageId("buy-address")}
                >
                  <option value="">None</option>
                  {needs.addresses.map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.name || a.id}
                      {a.summary ? ` (${a.summary})` : ""}
                    </option>
                  ))}
                </select>
              </Field>
            )}
            <Field
              id="buy-bundle"
              label={carrier === "telnyx" ? "Requirement group" : "Regulatory bundle"}
              hint={
                needs.bundles.length === 0
                  ? `No approved ${bundleWord} for ${KINDS[needs.kind].toLowerCase()} numbers in ${needs.country}. Countries that regulate numbers (Australia among them) need one, approved in the ${carrier === "telnyx" ? "Telnyx portal" : "Twilio Console"}.`
                  : `Approved by ${name}; needed where the country regulates numbers.`
              }
            >
              <select
                id="buy-bundle"
                value={bundleId}
                onChange={(e) => {
                  setBundleId(e.currentTarget.value);
                }}
                aria-describedby={messageId("buy-bundle")}
              >
                <option value="">None</option>
                {needs.bundles.map((b) => (
                  <option key={b.id} value={b.id}>
                    {b.name || b.id}
                    {b.valid_until ? ` (valid until ${b.valid_until.slice(0, 10)})` : ""}
                  </option>
                ))}
              </select>
            </Field>
          </>
        )}
      </div>
      {agent === NEW_RETELL_AGENT && (
        <FieldSet
          id="buy-new-agent"
          legend="The new agent"
          hint="Made on Retell with the number, in one step: if any step fails, everything before it is undone and nothing is bought."
        >
          <div class="buy-options">
            <Field id="new-agent-name" label="Name">
              <input
                id="new-agent-name"
                value={newAgent.name}
                maxLength={limits.AgentInput.name.maxLength}
                onInput={(e) => {
                  setNewAgent({ ...newAgent, name: e.currentTarget.value });
                }}
              />
            </Field>
            <Field id="new-agent-greeting" label="Greeting" optional>
              <input
                id="new-agent-greeting"
                value={newAgent.greeting}
                onInput={(e) => {
                  setNewAgent({ ...newAgent, greeting: e.currentTarget.value });
                }}
              />
            </Field>
            <Field id="new-agent-voice" label="Retell voice">
              <input
                id="new-agent-voice"
                value={newAgent.voice}
                onInput={(e) => {
                  setNewAgent({ ...newAgent, voice: e.currentTarget.value });
                }}
              />
            </Field>
          </div>
          <Field id="new-agent-prompt" label="Instructions">
            <textarea
              id="new-agent-prompt"
              rows={3}
              value={newAgent.prompt}
              onInput={(e) => {
                setNewAgent({ ...newAgent, prompt: e.currentTarget.value });
              }}
            />
          </Field>
        </FieldSet>
      )}
      {/* Here, not at the top: it answers Search or Buy, and Buy is down by the results. */}
      {error && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
      {results !== null &&
        (results.length === 0 ? (
          <p class="muted">No numbers match. Try fewer digits or another type.</p>
        ) : (
          <table class="table" aria-label="Numbers for sale">
            <thead>
              <tr>
                <th scope="col">Number</th>
                <th scope="col">Where</th>
                {carrier === "twilio" ? <th scope="col">Needs</th> : <th scope="col">Price</th>}
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {results.map((n) => (
                <tr key={n.number}>
                  <td class="nowrap">{formatNumber(n.number)}</td>
                  <td>{[n.locality, n.region, n.iso_country].filter(Boolean).join(", ")}</td>
                  {carrier === "twilio" ? (
                    <td>{n.address_requirements === "none" ? "Nothing" : "An address"}</td>
                  ) : (
                    <td>{price(n)}</td>
                  )}
                  <td class="num">
                    <button
                      type="button"
                      class="btn btn-sm btn-primary"
                      disabled={busy !== null || (agent === NEW_RETELL_AGENT && newAgent.name.trim() === "")}
                      title={`Buys it on your ${name} account: it is charged monthly until released`}
                      onClick={() => void buy(n)}
                    >
                      {busy === n.number ? "Buying…" : "Buy"}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </SidePanel>
  );
}

/** What a number for sale costs, as the carrier says ("1.50 USD now, then 1.00 USD a month"). */
function price(n: AvailableNumber): string {
  const monthly = n.monthly_price ? `${n.monthly_price} a month` : null;
  if (n.upfront_price && n.upfront_price !== "0.00 USD") {
    return monthly ? `${n.upfront_price} now, then ${monthly}` : `${n.upfront_price} now`;
  }
  return monthly ?? "Not given";
}

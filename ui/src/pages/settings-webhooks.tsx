//! Settings → Webhooks: endpoints of the user's own systems (a CRM) told about calls, each
//! with its signing secret (shown once when made, or after a rotation) and its delivery log,
//! kept live by `webhook_delivery` events, with Redeliver.
import { useEffect, useRef, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { WebhookDelivery, WebhookEndpoint, WebhookEventType } from "../api/types";
import {
  Badge,
  Banner,
  ConfirmDialog,
  CopyValue,
  dateTime,
  Field,
  messageId,
  Pager,
  relativeTime,
} from "../components/ui";
import { onEvent, reload, useApi, useAppState } from "../store";
import { showToast } from "../toast";

const EVENTS: { type: WebhookEventType; label: string }[] = [
  { type: "call.started", label: "Call started (answered)" },
  { type: "call.ended", label: "Call ended" },
  { type: "call.analyzed", label: "Call analyzed" },
];
const PAGE = 20;

/** A secret just made or rotated, shown until dismissed. */
interface Shown {
  endpoint: WebhookEndpoint;
  secret: string;
}

export function WebhookEndpointsCard(props: { keyringAvailable: boolean }) {
  const api = useApi();
  const { campaigns } = useAppState();
  const [list, setList] = useState<WebhookEndpoint[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [shown, setShown] = useState<Shown | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [removing, setRemoving] = useState<WebhookEndpoint | null>(null);

  const refresh = async () => {
    try {
      setList(await api.listWebhooks());
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    }
  };
  useEffect(() => {
    void refresh();
    if (campaigns.data === null) void reload.campaigns();
  }, [api]);

  const act = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      await refresh();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    }
  };
  const openEndpoint = list?.find((w) => w.id === open);
  const campaignName = (id: string | null | undefined) =>
    id ? (campaigns.data?.find((c) => c.id === id)?.name ?? "A campaign") : "All calls";

  return (
    <section class="card" aria-labelledby="settings-webhook-endpoints">
      <h2 id="settings-webhook-endpoints">Webhooks to your systems</h2>
      <p class="muted">
        Your CRM or scripts are sent signed JSON when a call starts, ends or is analyzed, retried for about a day until
        they answer 2xx. How to check the signature: docs/WEBHOOKS.md.
      </p>
      {!props.keyringAvailable && (
        <p class="muted">
          Webhooks sign with a secret kept in the OS keyring, which this machine does not have: none can be added here
          (on a server, start the engine with <code>--secrets-file</code>).
        </p>
      )}
      {shown !== null && (
        <Banner tone="good" role="status">
          <p>
            Signing secret for <code>{shown.endpoint.url}</code>. Copy it now: it is not shown again (rotate it to get a
            new one).
          </p>
          <CopyValue value={shown.secret} what="signing secret" />
          <button
            type="button"
            class="btn btn-sm"
            onClick={() => {
              setShown(null);
            }}
          >
            Done
          </button>
        </Banner>
      )}
      {list !== null && list.length === 0 && <p class="muted">No webhooks yet: add your system's URL below.</p>}
      {list !== null && list.length > 0 && (
        <table class="table" aria-label="Webhooks">
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Calls</th>
              <th scope="col">Events</th>
              <th scope="col">State</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {list.map((w) => (
              <tr key={w.id}>
                <td class="webhook-url">
                  <code>{w.url}</code>
                  {w.description !== "" && <div class="muted">{w.description}</div>}
                </td>
                <td>{campaignName(w.campaign_id)}</td>
                <td>{w.events.join(", ")}</td>
                <td>{w.enabled ? <Badge tone="good">On</Badge> : <Badge tone="neutral">Off</Badge>}</td>
                <td class="num">
                  <div class="webhook-actions">
                    <button
                      type="button"
                      class="btn btn-sm"
                      aria-expanded={open === w.id}
                      onClick={() => {
                        setOpen(open === w.id ? null : w.id);
                      }}
                    >
                      {open === w.id ? "Hide deliveries" : "Deliveries"}
                    </button>
                    <button
                      type="button"
                      class="btn btn-sm"
                      onClick={() => void act(() => api.updateWebhook(w.id, { enabled: !w.enabled }))}
                    >
                      {w.enabled ? "Turn off" : "Turn on"}
                    </button>
                    <button
                      type="button"
                      class="btn btn-sm"
                      disabled={!props.keyringAvailable}
                      onClick={() =>
                        void act(async () => {
                          setShown({ endpoint: w, secret: await api.rotateWebhookSecret(w.id) });
                        })
                      }
                    >
                      Rotate secret
                    </button>
                    <button
                      type="button"
                      class="btn btn-sm"
                      onClick={() => {
                        setRemoving(w);
                      }}
                    >
                      Remove
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {openEndpoint !== undefined && <DeliveryLog endpoint={openEndpoint} onError={setError} />}
      <AddWebhook
        keyringAvailable={props.keyringAvailable}
        onAdded={(created) => {
          setShown(created);
          setOpen(created.endpoint.id);
          void refresh();
        }}
      />
      {error !== null && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
      {removing !== null && (
        <ConfirmDialog
          title="Remove this webhook?"
          confirmLabel="Remove"
          onCancel={() => {
            setRemoving(null);
          }}
          onConfirm={() => {
            const w = removing;
            setRemoving(null);
            if (open === w.id) setOpen(null);
            void act(async () => {
              await api.deleteWebhook(w.id);
              showToast("Webhook removed");
            });
          }}
        >
          <p>
            <code>{removing.url}</code> will be sent nothing more, and its delivery log and secret are deleted.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function AddWebhook(props: { keyringAvailable: boolean; onAdded: (s: Shown) => void }) {
  const api = useApi();
  const { campaigns } = useAppState();
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [campaign, setCampaign] = useState("");
  const [events, setEvents] = useState<WebhookEventType[]>(EVENTS.map((e) => e.type));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const urlOk = /^https?:\/\/\S+$/i.test(url.trim());
  const add = async () => {
    setBusy(true);
    setError(null);
    try {
      const created = await api.createWebhook({
        url: url.trim(),
        description: description.trim(),
        campaign_id: campaign === "" ? null : campaign,
        events,
      });
      showToast("Webhook added");
      setUrl("");
      setDescription("");
      props.onAdded({ endpoint: created, secret: created.secret });
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (name: string) => (error?.field === name ? error.message : null);
  return (
    <form
      class="webhook-form"
      aria-label="Add a webhook"
      onSubmit={(e) => {
        e.preventDefault();
        void add();
      }}
    >
      <h3>Add a webhook</h3>
      <Field
        id="webhook-url"
        label="URL"
        error={fieldError("url") ?? (url.trim() !== "" && !urlOk ? "Starts with https:// (or http://)." : null)}
      >
        <input
          id="webhook-url"
          type="url"
          value={url}
          maxLength={2048}
          spellcheck={false}
          placeholder="https://crm.example.com/hooks/switchboard"
          aria-describedby={messageId("webhook-url")}
          onInput={(e) => {
            setUrl(e.currentTarget.value);
          }}
        />
      </Field>
      <div class="field-row">
        <Field id="webhook-campaign" label="Calls" error={fieldError("campaign_id")}>
          <select
            id="webhook-campaign"
            value={campaign}
            aria-describedby={messageId("webhook-campaign")}
            onChange={(e) => {
              setCampaign(e.currentTarget.value);
            }}
          >
            <option value="">All calls</option>
            {(campaigns.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                Campaign: {c.name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="webhook-description" label="Description (optional)" error={fieldError("description")}>
          <input
            id="webhook-description"
            value={description}
            maxLength={200}
            aria-describedby={messageId("webhook-description")}
            onInput={(e) => {
              setDescription(e.currentTarget.value);
            }}
          />
        </Field>
      </div>
      <fieldset class="fieldset webhook-events" id="webhook-events" aria-describedby={messageId("webhook-events")}>
        <legend>Events</legend>
        {EVENTS.map((ev) => (
          <label class="check" key={ev.type}>
            <input
              type="checkbox"
              checked={events.includes(ev.type)}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setEvents(EVENTS.map((x) => x.type).filter((t) => (t === ev.type ? on : events.includes(t))));
              }}
            />
            <span>
              {ev.label} <code class="muted">{ev.type}</code>
            </span>
          </label>
        ))}
        {(fieldError("events") ?? events.length === 0) && (
          <p class="field-message error" id={messageId("webhook-events")}>
            {fieldError("events") ?? "Choose at least one event."}
          </p>
        )}
      </fieldset>
      <div class="form-actions">
        <button
          type="submit"
          class="btn btn-primary"
          disabled={busy || !urlOk || events.length === 0 || !props.keyringAvailable}
        >
          {busy ? "Adding…" : "Add webhook"}
        </button>
      </div>
      {error !== null && error.field === null && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
    </form>
  );
}

/** When a delivery's state was made, and whether an attempt made it: an attempt is later
 * than the queueing it follows when both fall in the same millisecond. */
function stamp(d: WebhookDelivery): [number, number] {
  const queued = d.status === "pending" && d.attempts === 0;
  const at = queued ? d.next_attempt_at : d.last_attempt_at;
  return [Date.parse(at ?? d.created_at), queued ? 0 : 1];
}

/** The newer of two states of one delivery. The answer to Redeliver and the worker's event
 * race on the way to the page; whichever arrives last must not put back an older state. */
function latest(shown: WebhookDelivery, incoming: WebhookDelivery): WebhookDelivery {
  const [a, b] = [stamp(shown), stamp(incoming)];
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]) ? shown : incoming;
}

function DeliveryLog(props: { endpoint: WebhookEndpoint; onError: (e: ApiError) => void }) {
  const api = useApi();
  const id = props.endpoint.id;
  const [items, setItems] = useState<WebhookDelivery[] | null>(null);
  const [total, setTotal] = useState(0);
  const [offset, setOffset] = useState(0);
  const [revision, setRevision] = useState(0);
  const shownRef = useRef(items);
  shownRef.current = items;
  useEffect(() => {
    let current = true;
    api
      .webhookDeliveries(id, PAGE, offset)
      .then((page) => {
        if (!current) return;
        setItems(page.items);
        setTotal(page.total);
      })
      .catch((e: unknown) => {
        if (isApiError(e)) props.onError(e);
        else throw e;
      });
    return () => {
      current = false;
    };
  }, [api, id, offset, revision]);
  // Live: an attempt's outcome replaces its line; a delivery not shown yet reloads the page.
  useEffect(
    () =>
      onEvent("webhook_delivery", (e) => {
        if (e.delivery.endpoint_id !== id) return;
        if (shownRef.current?.some((d) => d.id === e.delivery.id)) {
          setItems((list) => list?.map((d) => (d.id === e.delivery.id ? latest(d, e.delivery) : d)) ?? list);
        } else {
          setRevision((r) => r + 1);
        }
      }),
    [id],
  );
  const redeliver = async (d: WebhookDelivery) => {
    try {
      const queued = await api.redeliverWebhook(d.id);
      setItems((list) => list?.map((x) => (x.id === queued.id ? latest(x, queued) : x)) ?? list);
      showToast("Redelivery queued");
    } catch (e) {
      if (isApiError(e)) props.onError(e);
      else throw e;
    }
  };
  return (
    <div class="webhook-log">
      <h3>
        Deliveries to <code>{props.endpoint.url}</code>
      </h3>
      <p class="muted small">The last 30 days; deliveries still owed are kept until they are sent or given up.</p>
      {items === null && <p class="muted">Loading deliveries…</p>}
      {items !== null && items.length === 0 && (
        <p class="muted">Nothing sent yet: each call's events appear here as they are delivered.</p>
      )}
      {items !== null && items.length > 0 && (
        <>
          <table class="table" aria-label="Deliveries">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Last response</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.id}>
                  <td title={dateTime(d.created_at)}>{relativeTime(d.created_at)}</td>
                  <td>
                    <code>{d.event_type}</code>
                  </td>
                  <td>
                    <DeliveryBadge delivery={d} />
                  </td>
                  <td class="num">{d.attempts}</td>
                  <td class="webhook-response">
                    {d.error ?? (d.response_status != null ? `HTTP ${d.response_status}` : "—")}
                    {d.status === "pending" && d.next_attempt_at != null && d.attempts > 0 && (
                      <div class="muted">Next try {relativeTime(d.next_attempt_at).replace(" ago", "")}</div>
                    )}
                  </td>
                  <td class="num">
                    <button
                      type="button"
                      class="btn btn-sm"
                      disabled={!props.endpoint.enabled}
                      title={props.endpoint.enabled ? "Send it again, same event id" : "Turn the webhook on first"}
                      onClick={() => void redeliver(d)}
                    >
                      Redeliver
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {total > PAGE && (
            <Pager
              label="Delivery pages"
              offset={offset}
              shown={items.length}
              total={total}
              pageSize={PAGE}
              onOffset={setOffset}
              previous="Newer"
              next="Older"
            />
          )}
        </>
      )}
    </div>
  );
}

function DeliveryBadge(props: { delivery: WebhookDelivery }) {
  switch (props.delivery.status) {
    case "delivered":
      return <Badge tone="good">Delivered</Badge>;
    case "failed":
      return <Badge tone="bad">Failed</Badge>;
    default:
      return <Badge tone="warn">{props.delivery.attempts === 0 ? "Sending" : "Retrying"}</Badge>;
  }
}

//! Settings: the public URL and default region, the URLs to paste into each carrier's
//! console, this computer's audio for test calls (`#/settings/audio` opens at it),
//! write-only credentials per provider, the secrets agents' tools send by reference, and
//! webhooks to the user's own systems (`settings-webhooks`).
import type { TargetedEvent } from "preact";
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { CredentialStatus, CredentialsOverview, Settings, ToolSecret } from "../api/types";
import { Icon } from "../components/icons";
import { Badge, Banner, CopyValue, Field, messageId, PageHeader, RemoteView } from "../components/ui";
import { reload, signOut, useApi, useAppState } from "../store";
import { PROVIDER_NAMES } from "../status";
import { showToast } from "../toast";
import { AudioCard } from "./settings-audio";
import { WebhookEndpointsCard } from "./settings-webhooks";
import { CallingHoursCard } from "./settings-calling-hours";
import { RecordingsCard } from "./settings-recordings";
import { CostRatesCard } from "./settings-costs";
import { ClusterCard } from "./settings-cluster";
import { DoNotCallList } from "../components/do-not-call";
import { BackupCard } from "./settings-backup";
import { checkPublicUrl, phoneRegions } from "../validate";

/** `section`: the part of the page to show first (`audio`), from the route. */
export function SettingsPage(props: { section?: string | null }) {
  const { settings, credentials, desktop, apiBase } = useAppState();
  return (
    <div class="page">
      <PageHeader title="Settings" summary="Where carriers reach Switchboard, and the keys it uses" />
      <div class="page-content">
        <div class="table-area settings">
          <RemoteView remote={settings} what="settings" onRetry={() => void reload.settings()}>
            {(s) => (
              <>
                <GeneralCard settings={s} />
                <WebhooksCard settings={s} />
                <AudioCard settings={s} focus={props.section === "audio"} />
                <RecordingsCard settings={s} />
                <CallingHoursCard settings={s} />
                <CostRatesCard />
              </>
            )}
          </RemoteView>
          <RemoteView remote={credentials} what="credentials" onRetry={() => void reload.credentials()}>
            {(c) => (
              <>
                <CredentialsCard overview={c} />
                <ToolSecretsCard keyringAvailable={c.keyring.available} secretsFile={c.keyring.file} />
                <WebhookEndpointsCard keyringAvailable={c.keyring.available} />
              </>
            )}
          </RemoteView>
          <DoNotCallCard />
          <BackupCard />
          <EngineCard settings={settings.data} desktop={desktop} apiBase={apiBase} />
          <ClusterCard />
        </div>
      </div>
    </div>
  );
}

/** The global do-not-call list: numbers no campaign and no single call dials. */
function DoNotCallCard() {
  return (
    <section class="card" aria-labelledby="settings-do-not-call" id="do-not-call">
      <h2 id="settings-do-not-call">Do not call</h2>
      <p class="muted">
        Numbers Switchboard never dials: no campaign calls them and a single call to one is refused, saying why. A
        person who asks an agent not to be called again is added here during the call. A campaign's own list is in its
        panel.
      </p>
      <DoNotCallList campaignId={null} idPrefix="settings-dnc" />
    </section>
  );
}

function GeneralCard(props: { settings: Settings }) {
  const api = useApi();
  const s = props.settings;
  const [url, setUrl] = useState(s.public_base_url ?? "");
  const [region, setRegion] = useState(s.default_region ?? "");
  const [connection, setConnection] = useState(s.telnyx_connection_id ?? "");
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [regions] = useState(phoneRegions);

  // Follow changes made elsewhere while the form is untouched.
  const savedUrl = s.public_base_url ?? "";
  const savedRegion = s.default_region ?? "";
  const savedConnection = s.telnyx_connection_id ?? "";
  const [base, setBase] = useState({ url: savedUrl, region: savedRegion, connection: savedConnection });
  useEffect(() => {
    if (url === base.url) setUrl(savedUrl);
    if (region === base.region) setRegion(savedRegion);
    if (connection === base.connection) setConnection(savedConnection);
    setBase({ url: savedUrl, region: savedRegion, connection: savedConnection });
  }, [savedUrl, savedRegion, savedConnection]);

  const fromConfig = s.public_base_url_from_config;
  const check = checkPublicUrl(url);
  const urlChanged = !fromConfig && check.ok && check.value !== (s.public_base_url ?? null);
  const regionChanged = region !== savedRegion;
  const connectionChanged = connection.trim() !== savedConnection;
  const dirty =
    urlChanged || regionChanged || connectionChanged || (!fromConfig && url.trim() !== savedUrl && !check.ok);

  const save = async () => {
    if (!check.ok || saving) return;
    setSaving(true);
    setError(null);
    try {
      const body: {
        public_base_url?: string | null;
        default_region?: string | null;
        telnyx_connection_id?: string | null;
      } = {};
      if (urlChanged) body.public_base_url = check.value;
      if (regionChanged) body.default_region = region === "" ? null : region;
      if (connectionChanged) body.telnyx_connection_id = connection.trim() === "" ? null : connection.trim();
      const updated = await api.updateSettings(body);
      setUrl(updated.public_base_url ?? "");
      setRegion(updated.default_region ?? "");
      setConnection(updated.telnyx_connection_id ?? "");
      showToast("Settings saved");
      void reload.settings();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };

  const urlError = error?.field === "public_base_url" ? error.message : check.ok ? null : check.message;
  return (
    <section class="card" aria-labelledby="settings-general">
      <h2 id="settings-general">Public URL, region and placing calls</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
        noValidate
      >
        {error && !["public_base_url", "default_region", "telnyx_connection_id"].includes(error.field ?? "") && (
          <Banner tone="bad" role="alert">
            {error.message}
          </Banner>
        )}
        <Field
          id="settings-url"
          label="Public base URL"
          error={urlError}
          hint={
            fromConfig
              ? "Set by --public-url / WEBHOOK_BASE_URL when the engine started; it overrides the saved value."
              : check.ok && check.warning
                ? check.warning
                : "The https:// address carriers reach this engine's public listener at, e.g. your ngrok or cloudflared tunnel."
          }
        >
          <input
            id="settings-url"
            name="public_base_url"
            type="url"
            placeholder="https://abc.ngrok.app"
            value={url}
            disabled={fromConfig}
            autoComplete="off"
            spellcheck={false}
            onInput={(e) => {
              setUrl(e.currentTarget.value);
              if (error?.field === "public_base_url") setError(null);
            }}
            aria-invalid={urlError !== null}
            aria-describedby={messageId("settings-url")}
          />
        </Field>
        <Field
          id="settings-region"
          label="Default region"
          error={error?.field === "default_region" ? error.message : null}
          hint="Lets you type numbers in that country's national form (e.g. (415) 555-2671). Without it, numbers must be E.164."
        >
          <select
            id="settings-region"
            name="default_region"
            value={region}
            onChange={(e) => {
              setRegion(e.currentTarget.value);
            }}
            aria-describedby={messageId("settings-region")}
          >
            <option value="">None — E.164 only</option>
            {regions.map((r) => (
              <option key={r.code} value={r.code}>
                {r.name} ({r.code})
              </option>
            ))}
          </select>
        </Field>
        <Field
          id="settings-telnyx-connection"
          label="Telnyx connection id"
          optional
          error={error?.field === "telnyx_connection_id" ? error.message : null}
          hint="The id of your Telnyx Call Control application, used to place calls from Telnyx numbers. Inbound calls need none."
        >
          <input
            id="settings-telnyx-connection"
            name="telnyx_connection_id"
            type="text"
            placeholder="1494404757140276705"
            value={connection}
            autoComplete="off"
            spellcheck={false}
            onInput={(e) => {
              setConnection(e.currentTarget.value);
              if (error?.field === "telnyx_connection_id") setError(null);
            }}
            aria-invalid={error?.field === "telnyx_connection_id"}
            aria-describedby={messageId("settings-telnyx-connection")}
          />
        </Field>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" disabled={!dirty || !check.ok || saving}>
            {saving ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </section>
  );
}

function UrlRow(props: { label: string; help: string; value: string; what: string }) {
  return (
    <div class="url-row">
      <div class="url-label">
        <strong>{props.label}</strong>
        <span class="muted">{props.help}</span>
      </div>
      <CopyValue value={props.value} what={props.what} />
    </div>
  );
}

function WebhooksCard(props: { settings: Settings }) {
  const urls = props.settings.webhook_urls;
  return (
    <section class="card" aria-labelledby="settings-webhooks">
      <h2 id="settings-webhooks">Carrier console URLs</h2>
      {!urls ? (
        <p class="muted">Set the public base URL above: the exact URLs to paste into Twilio and Telnyx appear here.</p>
      ) : (
        <>
          <h3>Twilio</h3>
          <p class="muted small">Phone Numbers → your number → Voice configuration.</p>
          <UrlRow
            label="A call comes in"
            help="Webhook, HTTP POST"
            value={urls.twilio_voice}
            what="Twilio voice webhook URL"
          />
          <UrlRow
            label="Call status changes"
            help="HTTP POST"
            value={urls.twilio_status}
            what="Twilio status callback URL"
          />
          <UrlRow
            label="Media stream"
            help="Handed to Twilio on answer; your tunnel must pass WebSockets"
            value={urls.twilio_media}
            what="Twilio media stream URL"
          />
          <h3>Telnyx</h3>
          <p class="muted small">Call Control → your application → Webhook URL (API v2).</p>
          <UrlRow label="Webhook URL" help="API v2" value={urls.telnyx} what="Telnyx webhook URL" />
          <UrlRow
            label="Media stream"
            help="Handed to Telnyx on answer"
            value={urls.telnyx_media}
            what="Telnyx media stream URL"
          />
          <p class="muted small">LiveKit SIP needs no webhook: calls arrive through your LiveKit SIP trunk.</p>
        </>
      )}
    </section>
  );
}

function CredentialsCard(props: { overview: CredentialsOverview }) {
  const { keyring, providers } = props.overview;
  return (
    <section class="card" aria-labelledby="settings-credentials">
      <h2 id="settings-credentials">Credentials</h2>
      {keyring.available ? (
        <p class="muted">
          {keyring.file
            ? "Saved in the engine's secrets file (in its data directory, readable by its own user only)"
            : "Saved in the operating system's keyring"}{" "}
          and never shown again: type new values to replace them.
        </p>
      ) : (
        <Banner tone="warn" role="status">
          <strong>{keyring.file ? "The secrets file is unusable" : "The OS keyring is unavailable"}</strong>
          {keyring.problem ? `: ${keyring.problem.replace(/\.$/, "")}.` : "."} Credentials cannot be saved from here.
          Set them as environment variables for the engine instead (names below), or on a server start it with{" "}
          <code>--secrets-file</code>, then restart it.
        </Banner>
      )}
      <div class="providers">
        {providers.map((p) => (
          <ProviderForm key={p.provider} status={p} keyringAvailable={keyring.available} secretsFile={keyring.file} />
        ))}
      </div>
    </section>
  );
}

const WORDS: Record<string, string> = { sid: "SID", api: "API", url: "URL", id: "ID" };

function fieldLabel(name: string): string {
  const words = name.split("_").map((w) => WORDS[w] ?? w);
  const first = words[0] ?? "";
  return [
    first === first.toUpperCase() ? first : first.charAt(0).toUpperCase() + first.slice(1),
    ...words.slice(1),
  ].join(" ");
}

function ProviderForm(props: { status: CredentialStatus; keyringAvailable: boolean; secretsFile: boolean }) {
  const api = useApi();
  const p = props.status;
  const name = PROVIDER_NAMES[p.provider];
  const empty = () => Object.fromEntries(p.fields.map((f) => [f, ""]));
  const [values, setValues] = useState<Record<string, string>>(empty);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const filled = p.fields.filter((f) => (values[f] ?? "").trim() !== "").length;
  const complete = filled === p.fields.length;
  const disabled = !props.keyringAvailable;

  const save = async () => {
    if (!complete || busy || disabled) return;
    setBusy(true);
    setError(null);
    try {
      await api.putCredentials(p.provider, Object.fromEntries(p.fields.map((f) => [f, (values[f] ?? "").trim()])));
      setValues(empty());
      showToast(`${name} credentials saved`);
      void reload.credentials();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteCredentials(p.provider);
      showToast(`${name} credentials removed`);
      void reload.credentials();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(false);
    }
  };

  const id = (f: string) => `cred-${p.provider}-${f}`;
  return (
    <form
      class="provider"
      aria-label={`${name} credentials`}
      data-provider={p.provider}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <div class="provider-head">
        <h3>{name}</h3>
        {p.set ? <Badge tone="good">Set</Badge> : <Badge tone="warn">Not set</Badge>}
        {p.source && (
          <span class="muted small">
            from{" "}
            {p.source === "environment" ? "the environment" : props.secretsFile ? "the secrets file" : "the keyring"}
          </span>
        )}
      </div>
      {error && (error.field === null || !p.fields.includes(error.field)) && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
      <div class="provider-fields">
        {p.fields.map((f) => (
          <Field key={f} id={id(f)} label={fieldLabel(f)} error={error?.field === f ? error.message : null}>
            <SecretInput
              id={id(f)}
              url={f === "url"}
              disabled={disabled}
              placeholder={p.set ? "Saved — type to replace" : ""}
              value={values[f] ?? ""}
              invalid={error?.field === f}
              onInput={(v) => {
                setValues((old) => ({ ...old, [f]: v }));
              }}
            />
          </Field>
        ))}
      </div>
      <div class="provider-foot">
        <p class="muted small env-vars">
          Environment:{" "}
          {p.env_vars.map((v, i) => (
            <span key={v}>
              {i > 0 && ", "}
              <code>{v}</code>
            </span>
          ))}
        </p>
        <span class="spacer" />
        {p.set && p.source === "keyring" && (
          <button
            type="button"
            class="btn btn-danger-ghost btn-sm"
            disabled={busy || disabled}
            onClick={() => void remove()}
          >
            Remove
          </button>
        )}
        <button
          type="submit"
          class="btn btn-sm"
          disabled={busy || disabled || !complete}
          title={complete ? undefined : `Fill in all ${p.fields.length} fields to save`}
        >
          {busy ? "Saving…" : p.set ? "Replace" : "Save"}
        </button>
      </div>
      {filled > 0 && !complete && (
        <p class="muted small">
          <Icon name="alert" size={12} /> Fill in all {p.fields.length} fields to save.
        </p>
      )}
    </form>
  );
}

/** A write-only credential input: never prefilled, never autocompleted. */
function SecretInput(props: {
  id: string;
  url: boolean;
  disabled: boolean;
  placeholder: string;
  value: string;
  invalid: boolean;
  onInput: (value: string) => void;
}) {
  const common = {
    id: props.id,
    name: props.id,
    autoComplete: "off",
    spellcheck: false,
    disabled: props.disabled,
    placeholder: props.placeholder,
    value: props.value,
    "aria-invalid": props.invalid,
    "aria-describedby": messageId(props.id),
    onInput: (e: TargetedEvent<HTMLInputElement>) => {
      props.onInput(e.currentTarget.value);
    },
  };
  return props.url ? <input type="url" {...common} /> : <input type="password" {...common} />;
}

/** Secrets agents' tools send in their headers, written `{{secret:NAME}}` there: kept in the
 * keyring, listed by name with the tools that use them, never shown again. */
function ToolSecretsCard(props: { keyringAvailable: boolean; secretsFile: boolean }) {
  const api = useApi();
  const [list, setList] = useState<ToolSecret[] | null>(null);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const refresh = async () => {
    try {
      setList(await api.listToolSecrets());
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    }
  };
  useEffect(() => {
    void refresh();
  }, [api]);
  const nameOk = /^[A-Za-z0-9_-]{1,64}$/.test(name);
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.putToolSecret(name, value);
      showToast(`Tool secret ${name} saved`);
      setName("");
      setValue("");
      await refresh();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(false);
    }
  };
  const remove = async (secret: string) => {
    setError(null);
    try {
      await api.deleteToolSecret(secret);
      showToast(`Tool secret ${secret} removed`);
      await refresh();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    }
  };
  return (
    <section class="card" aria-labelledby="settings-tool-secrets">
      <h2 id="settings-tool-secrets">Tool secrets</h2>
      <p class="muted">
        Keys your agents' tools send to your systems. Write <code>{"{{secret:NAME}}"}</code> in a tool's header (
        <code>{"Authorization: Bearer {{secret:NAME}}"}</code>); the value is kept in{" "}
        {props.secretsFile ? "the engine's secrets file" : "the keyring"} and never shown again.
      </p>
      {!props.keyringAvailable && (
        <p class="muted">
          Tool secrets need the OS keyring, which this machine does not have: none can be saved here (on a server, start
          the engine with <code>--secrets-file</code>).
        </p>
      )}
      {list !== null && list.length > 0 && (
        <table class="table" aria-label="Tool secrets">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Used by</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.name}>
                <td>
                  <code>{s.name}</code>
                </td>
                <td>{s.used_by.length === 0 ? <span class="muted">No tool yet</span> : s.used_by.join(", ")}</td>
                <td class="num">
                  <button
                    type="button"
                    class="btn btn-sm"
                    disabled={s.used_by.length > 0}
                    title={s.used_by.length > 0 ? "Change the tools that use it first" : undefined}
                    onClick={() => void remove(s.name)}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="tool-secret-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <div class="field-row">
          <Field
            id="tool-secret-name"
            label="Name"
            error={name !== "" && !nameOk ? "Letters, digits, _ and - only (64 at most)." : null}
          >
            <input
              id="tool-secret-name"
              value={name}
              maxLength={64}
              spellcheck={false}
              onInput={(e) => {
                setName(e.currentTarget.value);
              }}
              aria-describedby={messageId("tool-secret-name")}
            />
          </Field>
          <Field id="tool-secret-value" label="Value" error={error?.field === "value" ? error.message : null}>
            <SecretInput
              id="tool-secret-value"
              url={false}
              disabled={!props.keyringAvailable}
              placeholder="Pasted once, never shown again"
              value={value}
              invalid={false}
              onInput={setValue}
            />
          </Field>
        </div>
        <div class="form-actions">
          <button
            type="submit"
            class="btn btn-primary"
            disabled={busy || !nameOk || value.trim() === "" || !props.keyringAvailable}
          >
            {busy ? "Saving…" : "Save secret"}
          </button>
        </div>
      </form>
      {error !== null && error.field !== "value" && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
    </section>
  );
}

function EngineCard(props: { settings: Settings | null; desktop: boolean; apiBase: string }) {
  return (
    <section class="card" aria-labelledby="settings-engine">
      <h2 id="settings-engine">Engine</h2>
      <dl class="details">
        <div>
          <dt>Control API</dt>
          <dd>
            <code>{props.settings?.control_addr ?? props.apiBase}</code>
          </dd>
        </div>
        <div>
          <dt>Public listener</dt>
          <dd>
            <code>{props.settings?.public_addr ?? "—"}</code>
          </dd>
        </div>
      </dl>
      {!props.desktop && (
        <div class="form-actions">
          <button type="button" class="btn" onClick={signOut}>
            Sign out of this browser
          </button>
        </div>
      )}
    </section>
  );
}

//! Campaigns: the list with each one's progress, and for the selected one its controls (start,
//! pause, resume, stop), live progress from `campaign_progress` events, the reason when the
//! dialer paused it by itself, its leads, the lead import, and its settings. `new` opens the
//! create form.
import type { TargetedKeyboardEvent } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { isApiError, type ApiError, type CampaignAction } from "../api/client";
import type { Agent, CampaignStatus, CampaignView, LeadCounts, PhoneNumber } from "../api/types";
import { CampaignFunnel } from "../components/campaign-funnel";
import { DoNotCallList } from "../components/do-not-call";
import { Icon } from "../components/icons";
import {
  Badge,
  Banner,
  ConfirmDialog,
  EmptyState,
  ItemRow,
  NewButton,
  PageHeader,
  PanelFooter,
  RemoteView,
  RowLink,
  SidePanel,
  dateTime,
  relativeTime,
  usd,
} from "../components/ui";
import { fieldMessage, rebase } from "../forms";
import { href, navigate } from "../router";
import { reload, takeCampaign, useApi, useAppState } from "../store";
import { showToast } from "../toast";
import {
  CampaignFields,
  FORM_FIELDS,
  changes,
  check,
  LEGAL_FLOOR,
  engineField,
  formOf,
  isDirty,
  type CampaignForm,
} from "./campaign-form";
import { ImportLeads, LeadsView, plural } from "./campaign-leads";

const STATUS_LABELS: Record<CampaignStatus, string> = {
  draft: "Draft",
  running: "Running",
  paused: "Paused",
  stopped: "Stopped",
  completed: "Completed",
};
const STATUS_TONES: Record<CampaignStatus, "neutral" | "info" | "warn" | "good"> = {
  draft: "neutral",
  running: "info",
  paused: "warn",
  stopped: "neutral",
  completed: "good",
};

export function CampaignStatusBadge(props: { status: CampaignStatus }) {
  return <Badge tone={STATUS_TONES[props.status]}>{STATUS_LABELS[props.status]}</Badge>;
}

export function CampaignsPage(props: { selected: string | null }) {
  const { campaigns, agents, numbers, settings, campaignPauses } = useAppState();
  const list = campaigns.data;
  const creating = props.selected === "new";
  const selected = props.selected && !creating ? (list?.find((c) => c.id === props.selected) ?? null) : null;
  const running = list?.filter((c) => c.status === "running").length ?? 0;
  const close = () => {
    navigate("campaigns");
  };

  return (
    <div class="page">
      <PageHeader
        title="Campaigns"
        summary={
          list
            ? `${list.length} ${list.length === 1 ? "campaign" : "campaigns"} · ${running} running`
            : "Outbound calls over lead lists"
        }
        actions={<NewButton page="campaigns" label="New campaign" />}
      />
      <div class="page-content">
        <div class="table-area" aria-busy={campaigns.loading}>
          <RemoteView remote={campaigns} what="campaigns" onRetry={() => void reload.campaigns()}>
            {(data) =>
              data.length === 0 ? (
                <EmptyState
                  icon="campaigns"
                  title="No campaigns yet"
                  action={
                    <a class="btn btn-primary" href={href("campaigns", "new")}>
                      <Icon name="plus" /> Create a campaign
                    </a>
                  }
                >
                  A campaign calls a list of leads with your agents, from your numbers, at the pace and hours you set.
                </EmptyState>
              ) : (
                <CampaignsTable campaigns={data} pauses={campaignPauses} selected={props.selected} />
              )
            }
          </RemoteView>
        </div>
        {creating && (
          <NewCampaignPanel
            agents={agents.data ?? []}
            numbers={numbers.data ?? []}
            defaultRegion={settings.data?.default_region ?? null}
            onClose={close}
          />
        )}
        {selected && (
          <CampaignPanel
            key={selected.id}
            view={selected}
            pauseReason={campaignPauses[selected.id] ?? null}
            agents={agents.data ?? []}
            numbers={numbers.data ?? []}
            onClose={close}
          />
        )}
        {props.selected && !creating && !selected && list && (
          <SidePanel title="Campaign not found" onClose={close}>
            <p class="muted">This campaign no longer exists. It may have been deleted elsewhere.</p>
          </SidePanel>
        )}
      </div>
    </div>
  );
}

function CampaignsTable(props: { campaigns: CampaignView[]; pauses: Record<string, string>; selected: string | null }) {
  return (
    <table class="table" aria-label="Campaigns">
      <thead>
        <tr>
          <th scope="col">Campaign</th>
          <th scope="col">Status</th>
          <th scope="col" class="col-progress">
            Progress
          </th>
          <th scope="col" class="num" title="Calls under way">
            Active
          </th>
          <th scope="col" class="num" title="Time left at the current pace">
            ETA
          </th>
        </tr>
      </thead>
      <tbody>
        {props.campaigns.map((c) => {
          const reason = props.pauses[c.id];
          return (
            <ItemRow key={c.id} page="campaigns" id={c.id} selected={props.selected}>
              <td class="cell-main">
                <RowLink page="campaigns" id={c.id}>
                  {c.name}
                </RowLink>
                <div class="sub nowrap">
                  {c.agents.length} {c.agents.length === 1 ? "agent" : "agents"} · {c.number_ids.length}{" "}
                  {c.number_ids.length === 1 ? "number" : "numbers"}
                </div>
              </td>
              <td>
                <CampaignStatusBadge status={c.status} />
                {c.status === "paused" && reason && (
                  <div class="warn-text small truncate cell-reason" title={reason}>
                    {reason}
                  </div>
                )}
              </td>
              <td class="col-progress">
                <ProgressBar leads={c.progress.leads} />
              </td>
              <td class="num">{c.progress.active_calls}</td>
              <td class="num nowrap">
                {c.status === "running" || c.status === "paused" ? (
                  eta(c.progress.eta_secs)
                ) : (
                  <span class="muted">—</span>
                )}
              </td>
            </ItemRow>
          );
        })}
      </tbody>
    </table>
  );
}

/** Leads finished (done, then failed) of all, with those dialing now after them. */
function ProgressBar(props: { leads: LeadCounts; large?: boolean }) {
  const { total, done, failed, dialing } = props.leads;
  const pct = (n: number) => (total === 0 ? "0%" : `${((n / total) * 100).toFixed(2)}%`);
  const finished = done + failed;
  const label =
    total === 0
      ? "No leads"
      : `${finished.toLocaleString()} of ${total.toLocaleString()} called${failed > 0 ? ` · ${failed.toLocaleString()} failed` : ""}`;
  return (
    <div class={`progress-cell ${props.large ? "progress-large" : ""}`}>
      <div
        class="progress"
        role="progressbar"
        aria-label="Leads called"
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={finished}
        aria-valuetext={label}
      >
        <span class="progress-done" style={{ width: pct(done) }} />
        <span class="progress-failed" style={{ width: pct(failed) }} />
        <span class="progress-dialing" style={{ width: pct(dialing) }} />
      </div>
      <div class="sub nowrap">{label}</div>
    </div>
  );
}

/** Time left, roughly: "45 s", "12 min", "3 h 20 min", "2 d 4 h". */
function eta(secs: number | null | undefined): string {
  if (secs === null || secs === undefined) return "—";
  if (secs < 60) return `${Math.max(1, Math.round(secs))} s`;
  const min = Math.round(secs / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function rate(r: number): string {
  return r >= 1 ? r.toFixed(1) : r.toFixed(2);
}

function NewCampaignPanel(props: {
  agents: Agent[];
  numbers: PhoneNumber[];
  defaultRegion: string | null;
  onClose: () => void;
}) {
  const api = useApi();
  const [form, setForm] = useState(() => formOf(null, props.defaultRegion));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const floor = useAppState().settings.data?.calling_hours ?? LEGAL_FLOOR;
  const checked = check(form, floor);

  const update = <K extends keyof CampaignForm>(key: K, value: CampaignForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    if (error?.field === engineField(key)) setError(null);
  };

  const save = async () => {
    setSubmitted(true);
    if (!checked.input || saving) return;
    setSaving(true);
    setError(null);
    try {
      const created = await api.createCampaign(checked.input);
      takeCampaign(created);
      showToast(`Campaign “${created.name}” created`);
      navigate("campaigns", created.id);
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };

  const generalError = error && (error.field === null || !FORM_FIELDS.includes(error.field)) ? error : null;
  return (
    <SidePanel
      title="New campaign"
      subtitle="Saved as a draft: nothing is dialed until you start it."
      onClose={props.onClose}
      focusFirstField
      wide
      onSubmit={() => void save()}
      footer={
        <PanelFooter
          onClose={props.onClose}
          closeLabel="Cancel"
          submitLabel={saving ? "Creating…" : "Create campaign"}
          submitDisabled={saving || checked.input === null}
        />
      }
    >
      {generalError && (
        <Banner tone="bad" role="alert">
          {fieldMessage(generalError.message, generalError.field)}
        </Banner>
      )}
      <CampaignFields
        form={form}
        update={update}
        checked={checked}
        serverError={error}
        agents={props.agents}
        numbers={props.numbers}
        showAll={submitted}
        floor={floor}
      />
    </SidePanel>
  );
}

type Tab = "leads" | "import" | "do-not-call" | "settings";
const TABS: { id: Tab; label: string }[] = [
  { id: "leads", label: "Leads" },
  { id: "import", label: "Import leads" },
  { id: "do-not-call", label: "Do not call" },
  { id: "settings", label: "Settings" },
];

function CampaignPanel(props: {
  view: CampaignView;
  pauseReason: string | null;
  agents: Agent[];
  numbers: PhoneNumber[];
  onClose: () => void;
}) {
  const api = useApi();
  const { view } = props;
  const [tab, setTab] = useState<Tab>(() => (view.progress.leads.total === 0 ? "import" : "leads"));
  // `base` is the stored campaign the form started from; edits are what differ from it.
  const [base, setBase] = useState(view);
  const [form, setForm] = useState(() => formOf(view, null));
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [deleting, setDeleting] = useState(false);

  const baseForm = formOf(base, null);
  const dirty = isDirty(form, baseForm);
  const floor = useAppState().settings.data?.calling_hours ?? LEGAL_FLOOR;
  const checked = check(form, floor);
  // Changed elsewhere (another window, a script): take the new values for the fields not
  // edited here. Progress events change `view` twice a second; only a new revision counts.
  useEffect(() => {
    if (view.updated_at === base.updated_at) return;
    setForm((f) => rebase(f, formOf(base, null), formOf(view, null)));
    setBase(view);
  }, [view.updated_at]);

  const update = <K extends keyof CampaignForm>(key: K, value: CampaignForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setSaved(false);
    if (error?.field === engineField(key)) setError(null);
  };

  const save = async () => {
    if (tab !== "settings" || !checked.input || !dirty || saving) return;
    setSaving(true);
    setError(null);
    try {
      const updated = await api.updateCampaign(view.id, changes(form, baseForm, checked.input));
      takeCampaign(updated);
      setBase(updated);
      setForm(formOf(updated, null));
      setSaved(true);
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };

  const generalError = error && (error.field === null || !FORM_FIELDS.includes(error.field)) ? error : null;
  const total = view.progress.leads.total;

  return (
    <SidePanel
      title={view.name}
      subtitle={
        <span title={dateTime(view.created_at)}>
          Created {relativeTime(view.created_at)} · {view.agents.length} {view.agents.length === 1 ? "agent" : "agents"}{" "}
          · {view.number_ids.length} {view.number_ids.length === 1 ? "number" : "numbers"}
        </span>
      }
      onClose={props.onClose}
      wide
      onSubmit={() => void save()}
      footer={
        <PanelFooter
          onDelete={() => {
            setDeleting(true);
          }}
          saved={tab === "settings" && saved && !dirty}
          onClose={props.onClose}
          closeLabel="Close"
          submitLabel={tab === "settings" ? (saving ? "Saving…" : "Save changes") : undefined}
          submitDisabled={!dirty || saving || checked.input === null}
        />
      }
    >
      <CampaignControls view={view} pauseReason={props.pauseReason} onFix={setTab} />
      <CampaignProgressView view={view} />
      <CampaignFunnel campaignId={view.id} />
      <Tabs
        current={tab}
        onChange={setTab}
        labels={{
          leads: `Leads (${total.toLocaleString()})`,
          import: "Import leads",
          "do-not-call": "Do not call",
          settings: dirty ? "Settings •" : "Settings",
        }}
      />
      <div class="tab-panel" role="tabpanel" id="campaign-tabpanel" aria-labelledby={`campaign-tab-${tab}`}>
        {tab === "leads" && (
          <LeadsView
            campaign={view}
            onImport={() => {
              setTab("import");
            }}
          />
        )}
        {tab === "import" && <ImportLeads campaign={view} />}
        {tab === "do-not-call" && (
          <>
            <p class="muted">
              Numbers this campaign never dials, besides the global list in Settings. Leads with a listed number are
              passed by without a call ({view.progress.leads.do_not_call.toLocaleString()} so far).
            </p>
            <DoNotCallList campaignId={view.id} idPrefix="campaign-dnc" />
          </>
        )}
        {tab === "settings" && (
          <>
            {generalError && (
              <Banner tone="bad" role="alert">
                {fieldMessage(generalError.message, generalError.field)}
              </Banner>
            )}
            {view.status === "running" && (
              <Banner tone="info">The campaign is running: saved changes apply within a second.</Banner>
            )}
            <CampaignFields
              form={form}
              update={update}
              checked={checked}
              serverError={error}
              agents={props.agents}
              numbers={props.numbers}
              showAll
              floor={floor}
            />
          </>
        )}
      </div>
      {deleting && (
        <DeleteCampaignDialog
          view={view}
          onClose={() => {
            setDeleting(false);
          }}
        />
      )}
    </SidePanel>
  );
}

/** Tabs with arrow-key movement between them (the ARIA tabs pattern). */
function Tabs(props: { current: Tab; onChange: (t: Tab) => void; labels: Record<Tab, string> }) {
  const list = useRef<HTMLDivElement>(null);
  const onKey = (e: TargetedKeyboardEvent<HTMLDivElement>) => {
    const i = TABS.findIndex((t) => t.id === props.current);
    const next =
      e.key === "ArrowRight"
        ? TABS[(i + 1) % TABS.length]
        : e.key === "ArrowLeft"
          ? TABS[(i + TABS.length - 1) % TABS.length]
          : e.key === "Home"
            ? TABS[0]
            : e.key === "End"
              ? TABS[TABS.length - 1]
              : undefined;
    if (!next) return;
    e.preventDefault();
    props.onChange(next.id);
    window.requestAnimationFrame(() => {
      list.current?.querySelector<HTMLElement>(`#campaign-tab-${next.id}`)?.focus();
    });
  };
  return (
    <div class="tabs" role="tablist" aria-label="Campaign" ref={list} onKeyDown={onKey}>
      {TABS.map((t) => (
        <button
          key={t.id}
          type="button"
          role="tab"
          id={`campaign-tab-${t.id}`}
          aria-selected={props.current === t.id}
          aria-controls="campaign-tabpanel"
          tabIndex={props.current === t.id ? 0 : -1}
          onClick={() => {
            props.onChange(t.id);
          }}
        >
          {props.labels[t.id]}
        </button>
      ))}
    </div>
  );
}

const ACTIONS: Record<CampaignStatus, CampaignAction[]> = {
  draft: ["start"],
  stopped: ["start"],
  completed: ["start"],
  running: ["pause", "stop"],
  paused: ["resume", "stop"],
};
const ACTION_LABELS: Record<CampaignAction, [string, string]> = {
  start: ["Start", "Starting…"],
  pause: ["Pause", "Pausing…"],
  resume: ["Resume", "Resuming…"],
  stop: ["Stop", "Stopping…"],
};
const ACTION_ICONS = { start: "play", pause: "pause", resume: "play", stop: "stop" } as const;

/**
 * Start, pause, resume and stop, as the campaign's status allows; the engine's refusals shown.
 * Stop asks first.
 */
function CampaignControls(props: { view: CampaignView; pauseReason: string | null; onFix: (tab: Tab) => void }) {
  const api = useApi();
  const { view } = props;
  const [busy, setBusy] = useState<CampaignAction | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [confirmingStop, setConfirmingStop] = useState(false);
  const controls = useRef<HTMLElement>(null);
  useEffect(() => {
    setError(null);
  }, [view.status]);

  const act = async (action: CampaignAction) => {
    setBusy(action);
    setError(null);
    try {
      takeCampaign(await api.campaignAction(view.id, action));
      // The button pressed gives way to the next status's (Pause to Resume, Stop to Start):
      // keep the keyboard in the controls rather than lost on the page.
      window.requestAnimationFrame(() => {
        if (document.activeElement === null || document.activeElement === document.body) {
          controls.current?.querySelector<HTMLElement>("button:not([disabled])")?.focus();
        }
      });
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(null);
    }
  };

  const fix =
    error?.field === "agents" || error?.field === "number_ids" ? (
      <button
        type="button"
        class="link-button"
        onClick={() => {
          props.onFix("settings");
        }}
      >
        Open Settings
      </button>
    ) : error?.field === "leads" ? (
      <button
        type="button"
        class="link-button"
        onClick={() => {
          props.onFix("import");
        }}
      >
        Import leads
      </button>
    ) : null;

  return (
    <section class="campaign-controls" aria-label="Dialing" ref={controls}>
      <div class="campaign-controls-row">
        <CampaignStatusBadge status={view.status} />
        <span class="muted small">{statusNote(view)}</span>
        <span class="spacer" />
        {ACTIONS[view.status].map((a) => (
          <button
            key={a}
            type="button"
            class={`btn ${a === "start" || a === "resume" ? "btn-primary" : ""}`}
            disabled={busy !== null}
            onClick={() => {
              if (a === "stop") setConfirmingStop(true);
              else void act(a);
            }}
          >
            <Icon name={ACTION_ICONS[a]} size={14} /> {busy === a ? ACTION_LABELS[a][1] : ACTION_LABELS[a][0]}
          </button>
        ))}
      </div>
      {view.status === "paused" && props.pauseReason !== null && (
        <Banner tone="warn" role="alert">
          <strong>The dialer paused this campaign:</strong> {props.pauseReason}
        </Banner>
      )}
      {error && (
        <Banner tone="bad" role="alert">
          <span data-testid="campaign-action-error">{fieldMessage(error.message, error.field)}</span>
          {fix && <> · {fix}</>}
        </Banner>
      )}
      {confirmingStop && (
        <StopCampaignDialog
          view={view}
          onCancel={() => {
            setConfirmingStop(false);
          }}
          onStop={() => {
            setConfirmingStop(false);
            void act("stop");
          }}
        />
      )}
    </section>
  );
}

/**
 * Stopping ends the campaign's run: the dialer places no new call, calls under way are left
 * to end by themselves (the engine hangs none up), and only Start, not Resume, dials again.
 */
function StopCampaignDialog(props: { view: CampaignView; onCancel: () => void; onStop: () => void }) {
  const { name, progress } = props.view;
  const pending = progress.leads.pending;
  const active = progress.active_calls;
  return (
    <ConfirmDialog
      title={`Stop “${name}”?`}
      confirmLabel="Stop campaign"
      onCancel={props.onCancel}
      onConfirm={props.onStop}
    >
      <p>
        No new calls are placed
        {pending > 0 ? (
          <>
            , so the <strong>{plural(pending, "pending lead", "pending leads")}</strong> {pending === 1 ? "is" : "are"}{" "}
            not dialed.
          </>
        ) : (
          "."
        )}
      </p>
      <p>
        Calls under way are not hung up: they go on until they end, and their outcomes are recorded.
        {active > 0 && (
          <>
            {" "}
            <strong>{plural(active, "call", "calls")}</strong> {active === 1 ? "is" : "are"} under way now.
          </>
        )}
      </p>
      <p class="muted">
        A stopped campaign cannot be resumed: to call its pending leads later, start it again. To hold dialing for a
        while, pause instead.
      </p>
    </ConfirmDialog>
  );
}

function statusNote(view: CampaignView): string {
  switch (view.status) {
    case "draft":
      return "Nothing is dialed until you start.";
    case "running":
      return "Dialing leads.";
    case "paused":
      return "No new calls; calls under way go on.";
    case "stopped":
      return view.progress.leads.pending > 0 ? "Stopped; start again to call the leads left." : "Stopped.";
    case "completed":
      return "Every lead has been called.";
  }
}

function CampaignProgressView(props: { view: CampaignView }) {
  const { progress, status, settings } = props.view;
  const { leads } = progress;
  const running = status === "running";
  return (
    <section class="campaign-progress" aria-label="Progress" data-testid="campaign-progress">
      <ProgressBar leads={leads} large />
      <dl class="stats lead-stats">
        <div>
          <dt>Pending</dt>
          <dd data-testid="count-pending">{leads.pending.toLocaleString()}</dd>
        </div>
        <div>
          <dt>Dialing</dt>
          <dd data-testid="count-dialing">{leads.dialing.toLocaleString()}</dd>
        </div>
        <div>
          <dt>Done</dt>
          <dd data-testid="count-done">{leads.done.toLocaleString()}</dd>
        </div>
        <div>
          <dt>Failed</dt>
          <dd data-testid="count-failed">{leads.failed.toLocaleString()}</dd>
        </div>
        {leads.do_not_call > 0 && (
          <div>
            <dt>Do not call</dt>
            <dd data-testid="count-do-not-call" title="Passed by without a call: the number is on a do-not-call list">
              {leads.do_not_call.toLocaleString()}
            </dd>
          </div>
        )}
      </dl>
      <p class="progress-meta small">
        <span>
          <strong>{progress.active_calls}</strong> {progress.active_calls === 1 ? "call" : "calls"} under way
        </span>
        <span>
          <strong>{usd(progress.cost_usd)}</strong> estimated cost
        </span>
        <span>
          {running && progress.dial_rate != null ? (
            <>
              <strong>{rate(progress.dial_rate)}</strong> calls/s
            </>
          ) : (
            <span class="muted">
              up to {settings.calls_per_second} {settings.calls_per_second === 1 ? "call" : "calls"}/s
            </span>
          )}
        </span>
        <span>
          {progress.eta_secs == null ? (
            <span class="muted">nothing waiting</span>
          ) : running || status === "paused" ? (
            <>
              about <strong>{eta(progress.eta_secs)}</strong> left
            </>
          ) : (
            <span class="muted">about {eta(progress.eta_secs)} once started</span>
          )}
        </span>
      </p>
    </section>
  );
}

function DeleteCampaignDialog(props: { view: CampaignView; onClose: () => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { view } = props;
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteCampaign(view.id);
      showToast(`Campaign “${view.name}” deleted`);
      props.onClose();
      navigate("campaigns");
    } catch (e) {
      setError(isApiError(e) ? fieldMessage(e.message, e.field) : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <ConfirmDialog
      title={`Delete “${view.name}”?`}
      confirmLabel={busy ? "Deleting…" : "Delete campaign"}
      busy={busy}
      onCancel={props.onClose}
      onConfirm={() => void remove()}
    >
      <p>
        The campaign and its {view.progress.leads.total.toLocaleString()}{" "}
        {view.progress.leads.total === 1 ? "lead" : "leads"} are deleted for good. Calls it made stay in the call log.
      </p>
      {view.status === "running" && <p class="warn-text">It is running: stop it first, or the engine refuses.</p>}
      {error !== null && (
        <Banner tone="bad" role="alert">
          {error}
        </Banner>
      )}
    </ConfirmDialog>
  );
}

//! A campaign's leads: the paged, filterable table, and importing a CSV list (a dry run shows
//! what would be imported, rejected and skipped as duplicate; then the same body is sent for real).
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, isApiError } from "../api/client";
import {
  LEAD_STATUSES,
  type CampaignView,
  type Lead,
  type LeadImportResult,
  type LeadPage,
  type LeadStatus,
  type Outcome,
} from "../api/types";
import { Icon } from "../components/icons";
import {
  Badge,
  Banner,
  EmptyState,
  ErrorState,
  Loading,
  Pager,
  RefreshError,
  dateTime,
  messageId,
} from "../components/ui";
import { fieldMessage } from "../forms";
import { reload, useApi, useAppState } from "../store";
import { showToast } from "../toast";
import { formatNumber, regionName } from "../validate";

const PAGE_SIZE = 25;
/** Rows of a preview's rejected or duplicate lists shown at once; the rest are counted. */
const PREVIEW_ROWS = 100;

export const LEAD_STATUS_LABELS: Record<LeadStatus, string> = {
  pending: "Pending",
  dialing: "Dialing",
  done: "Done",
  failed: "Failed",
};
const LEAD_TONES: Record<LeadStatus, "neutral" | "info" | "good" | "bad"> = {
  pending: "neutral",
  dialing: "info",
  done: "good",
  failed: "bad",
};
const OUTCOME_LABELS: Record<Outcome, string> = {
  answered: "Answered",
  busy: "Busy",
  no_answer: "No answer",
  voicemail: "Voicemail",
  failed: "Failed",
  not_placed: "Not placed",
  unknown: "Unknown",
  do_not_call: "Do not call",
};

export function LeadsView(props: { campaign: CampaignView; onImport: () => void }) {
  const api = useApi();
  const { engine } = useAppState();
  const { campaign } = props;
  const counts = campaign.progress.leads;
  const [status, setStatus] = useState<"" | LeadStatus>("");
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<LeadPage | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [attempt, setAttempt] = useState(0);

  // Leads change as the dialer works: refetch when the counts move (progress events), at
  // most a few times a second.
  const countsKey = JSON.stringify(counts);
  useEffect(() => {
    let live = true;
    setLoading(true);
    const t = window.setTimeout(
      () => {
        api.listLeads(campaign.id, { limit: PAGE_SIZE, offset, ...(status === "" ? {} : { status }) }).then(
          (p) => {
            if (!live) return;
            setPage(p);
            setError(null);
            setLoading(false);
          },
          (e: unknown) => {
            if (!live) return;
            setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
            setLoading(false);
          },
        );
      },
      page === null ? 0 : 300,
    );
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, campaign.id, status, offset, countsKey, attempt, engine === "online"]);

  if (counts.total === 0 && status === "") {
    return (
      <EmptyState
        icon="inbox"
        title="No leads yet"
        action={
          <button type="button" class="btn btn-primary" onClick={props.onImport}>
            <Icon name="upload" /> Import leads
          </button>
        }
      >
        Import a CSV list of the people to call: a phone number each, with a name and an email if you have them.
      </EmptyState>
    );
  }

  return (
    <div class="leads">
      <div class="filters leads-filters">
        <label>
          <span>Status</span>
          <select
            value={status}
            onChange={(e) => {
              const v = e.currentTarget.value;
              setStatus(LEAD_STATUSES.find((s) => s === v) ?? "");
              setOffset(0);
            }}
          >
            <option value="">All ({counts.total})</option>
            {LEAD_STATUSES.map((s) => (
              <option key={s} value={s}>
                {LEAD_STATUS_LABELS[s]} ({counts[s]})
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && !page ? (
        <ErrorState
          error={error}
          what="leads"
          onRetry={() => {
            setAttempt((n) => n + 1);
          }}
        />
      ) : !page ? (
        <Loading label="Loading leads…" />
      ) : page.items.length === 0 ? (
        <p class="muted leads-none">No {status === "" ? "" : LEAD_STATUS_LABELS[status].toLowerCase()} leads.</p>
      ) : (
        <>
          <RefreshError error={error} />
          <LeadsTable leads={page.items} busy={loading} />
          <Pager
            label="Lead pages"
            offset={page.offset}
            shown={page.items.length}
            total={page.total}
            pageSize={PAGE_SIZE}
            onOffset={setOffset}
            previous="Previous"
            next="Next"
          />
        </>
      )}
    </div>
  );
}

function LeadsTable(props: { leads: Lead[]; busy: boolean }) {
  return (
    <table class="table table-compact table-static" aria-label="Leads" aria-busy={props.busy}>
      <thead>
        <tr>
          <th scope="col">Lead</th>
          <th scope="col" title="The lead's time zone (its own, else its number's) is under its number">
            Phone · time zone
          </th>
          <th scope="col">Status</th>
          <th scope="col" class="num" title="Attempts made">
            Tries
          </th>
          <th scope="col">Last outcome</th>
        </tr>
      </thead>
      <tbody>
        {props.leads.map((l) => (
          <tr key={l.id}>
            <td class="cell-main">
              <div class="truncate" title={l.name}>
                {l.name === "" ? <span class="muted">No name</span> : l.name}
              </div>
              {l.email ? (
                <div class="sub truncate" title={l.email}>
                  {l.email}
                </div>
              ) : null}
            </td>
            <td>
              <div class="nowrap">{formatNumber(l.phone)}</div>
              <LeadZone lead={l} />
            </td>
            <td>
              <Badge tone={LEAD_TONES[l.status]}>{LEAD_STATUS_LABELS[l.status]}</Badge>
              {l.waiting_for_local_hours && (
                <div
                  class="sub"
                  title={
                    l.local_hours_open_at
                      ? `Outside its local calling hours until ${dateTime(l.local_hours_open_at)}`
                      : "Its time zones share no allowed calling hour"
                  }
                >
                  {l.local_hours_open_at ? `waits till ${shortTime(l.local_hours_open_at)}` : "no shared hours"}
                </div>
              )}
              {l.status === "pending" && l.attempts > 0 && (
                <div class="sub nowrap" title={dateTime(l.next_attempt_at)}>
                  next {shortTime(l.next_attempt_at)}
                </div>
              )}
            </td>
            <td class="num">{l.attempts}</td>
            <td>{l.last_outcome ? OUTCOME_LABELS[l.last_outcome] : <span class="muted">—</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const ZONE_SOURCES = {
  lead: "from the lead’s list",
  number: "from its number",
  campaign: "unknown: the campaign’s window zone stands in",
} as const;

/** A lead's zone(s), the first shown and the rest counted, with where they came from. */
function LeadZone(props: { lead: Lead }) {
  const { zones, zone_source } = props.lead;
  const title = `${zones.join(", ") || "Unknown"} (${ZONE_SOURCES[zone_source]})`;
  const [first, ...rest] = zones;
  return (
    <div class="sub" title={title} data-testid="lead-zone">
      {zones.length === 0 ? "campaign’s zone" : first.replace(/_/g, " ")}
      {rest.length > 0 && ` +${rest.length}`}
      {zone_source === "number" && " · by number"}
    </div>
  );
}

function shortTime(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const today = new Date().toDateString() === t.toDateString();
  return today
    ? t.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" })
    : t.toLocaleString(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** "1 lead", "3,000 leads". */
export const plural = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** Why an import was refused, in words for the operator. */
function importError(e: ApiError): string {
  if (e.status === 404) {
    return /no route/i.test(e.message)
      ? "This engine cannot import leads yet (it has no import route). Update Switchboard and try again."
      : "This campaign no longer exists.";
  }
  if (e.status === 413) return "The file is too large for the engine to take in one go. Split it and import each part.";
  return fieldMessage(e.message, e.field);
}

/** What the import is doing: its label, and how much of the body has gone up (total 0: not known yet). */
interface Work {
  label: string;
  sent: number;
  total: number;
}

interface Preview {
  /** The exact body checked, sent again unchanged to import. */
  source: Blob | string;
  what: string;
  result: LeadImportResult;
}

export function ImportLeads(props: { campaign: CampaignView }) {
  const api = useApi();
  const { campaign } = props;
  const [mode, setMode] = useState<"file" | "paste">("file");
  const [file, setFile] = useState<File | null>(null);
  const [text, setText] = useState("");
  const [preview, setPreview] = useState<Preview | null>(null);
  const [busy, setBusy] = useState<Work | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<LeadImportResult | null>(null);
  // The file input is cleared by remounting it.
  const [fileKey, setFileKey] = useState(0);

  const region = campaign.settings.default_region;

  /** Sends `source`, following its upload in `busy` under `label`. */
  const send = (label: string, source: Blob | string, dryRun: boolean) => {
    setBusy({ label, sent: 0, total: 0 });
    return api.importLeads(campaign.id, source, dryRun, (sent, total) => {
      setBusy({ label, sent, total });
    });
  };

  const checkRows = async (source: Blob | string, what: string) => {
    setError(null);
    setDone(null);
    setPreview(null);
    try {
      const label = source instanceof Blob && source.size > 0 ? `Checking ${what} (${size(source.size)})` : "Checking";
      const result = await send(label, source, true);
      setPreview({ source, what, result });
    } catch (e) {
      setError(isApiError(e) ? importError(e) : String(e));
    } finally {
      setBusy(null);
    }
  };

  const importRows = async () => {
    if (!preview) return;
    setError(null);
    try {
      const result = await send(`Importing ${plural(preview.result.imported, "lead", "leads")}`, preview.source, false);
      setDone(result);
      setPreview(null);
      setFile(null);
      setFileKey((k) => k + 1);
      setText("");
      showToast(`${plural(result.imported, "lead", "leads")} imported`);
      void reload.campaign(campaign.id);
    } catch (e) {
      setError(isApiError(e) ? importError(e) : String(e));
    } finally {
      setBusy(null);
    }
  };

  const startOver = () => {
    setPreview(null);
    setError(null);
    setFile(null);
    setFileKey((k) => k + 1);
  };

  return (
    <div class="import">
      <p class="muted small">
        A CSV file with a header row: a <strong>phone</strong> column (or mobile, number, tel), and if you have them{" "}
        <strong>name</strong> (or first and last name) and <strong>email</strong>. Other columns stay with each lead.{" "}
        {region
          ? `Numbers without a country code are read as ${regionName(region)} numbers.`
          : "Numbers need their country code (+1…): this campaign has no default region."}
      </p>
      <div class="segmented import-mode" role="group" aria-label="Where the leads come from">
        <button
          type="button"
          aria-pressed={mode === "file"}
          onClick={() => {
            setMode("file");
            setPreview(null);
            setError(null);
          }}
        >
          Upload a file
        </button>
        <button
          type="button"
          aria-pressed={mode === "paste"}
          onClick={() => {
            setMode("paste");
            setPreview(null);
            setError(null);
          }}
        >
          Paste rows
        </button>
      </div>
      {mode === "file" ? (
        <div class="field">
          <label for="import-file">CSV file</label>
          <input
            key={fileKey}
            id="import-file"
            type="file"
            accept=".csv,.tsv,.txt,text/csv,text/plain"
            disabled={busy !== null}
            onChange={(e) => {
              const f = e.currentTarget.files?.[0] ?? null;
              setFile(f);
              setDone(null);
              if (f) void checkRows(f, f.name);
              else setPreview(null);
            }}
            aria-describedby={messageId("import-file")}
          />
          <p class="field-message" id={messageId("import-file")}>
            Choosing a file checks it first: nothing is imported until you confirm.
          </p>
        </div>
      ) : (
        <div class="field">
          <label for="import-paste">CSV rows</label>
          <textarea
            id="import-paste"
            class="mono"
            rows={6}
            spellcheck={false}
            placeholder={"name,phone,email\nAda Lovelace,+14155550100,ada@example.com"}
            value={text}
            disabled={busy !== null}
            onInput={(e) => {
              setText(e.currentTarget.value);
              setPreview(null);
              setDone(null);
            }}
          />
        </div>
      )}
      <div class="import-actions">
        {mode === "file" ? (
          file &&
          !preview &&
          busy === null && (
            <button type="button" class="btn" onClick={() => void checkRows(file, file.name)}>
              Check again
            </button>
          )
        ) : (
          <button
            type="button"
            class="btn"
            disabled={busy !== null || text.trim() === "" || preview !== null}
            onClick={() => void checkRows(text, "the pasted rows")}
          >
            Check rows
          </button>
        )}
      </div>
      {busy !== null && <UploadProgress work={busy} />}
      {error !== null && (
        <Banner tone="bad" role="alert">
          {error}
        </Banner>
      )}
      {done && (
        <Banner tone="good" role="status">
          <strong>{plural(done.imported, "lead", "leads")} imported.</strong>
          {done.rejected.length + done.duplicates.length > 0 &&
            ` ${plural(done.rejected.length, "row was", "rows were")} rejected and ${plural(done.duplicates.length, "duplicate", "duplicates")} skipped.`}
        </Banner>
      )}
      {preview && (
        <ImportPreview preview={preview} busy={busy !== null} onImport={() => void importRows()} onCancel={startOver} />
      )}
    </div>
  );
}

/**
 * An import under way: the share of the list uploaded, then "processing" while the engine
 * reads it (a big list takes a while on both legs). The phase is announced; the percentage
 * is left to the progress bar.
 */
function UploadProgress(props: { work: Work }) {
  const { label, sent, total } = props.work;
  const box = useRef<HTMLDivElement>(null);
  // It appears under the file field, often below the panel's fold: brought into view once.
  useEffect(() => {
    box.current?.scrollIntoView({ block: "nearest" });
  }, []);
  const uploaded = total > 0 && sent >= total;
  const pct = total > 0 ? Math.min(100, Math.floor((sent / total) * 100)) : 0;
  return (
    <div class={`upload-progress ${uploaded ? "upload-processing" : ""}`} data-testid="import-progress" ref={box}>
      <div class="upload-progress-line">
        <span class="spinner" aria-hidden="true" />
        <span role="status">
          {label}: {uploaded ? "processing…" : "uploading…"}
        </span>
        <span class="spacer" />
        <span class="upload-progress-pct" aria-hidden="true">
          {uploaded ? `${size(total)} sent` : `${pct}%`}
        </span>
      </div>
      <div
        class="progress"
        role="progressbar"
        aria-label="Upload"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-valuetext={uploaded ? "Uploaded; the engine is processing the list" : `${pct}% uploaded`}
      >
        <span class="progress-upload" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function ImportPreview(props: { preview: Preview; busy: boolean; onImport: () => void; onCancel: () => void }) {
  const { result, what } = props.preview;
  const n = result.imported;
  return (
    <section class="import-preview" aria-labelledby="import-preview-title">
      <h3 id="import-preview-title">Check before importing: {what}</h3>
      <dl class="stats import-stats" aria-label="Import preview">
        <div class="stat-good">
          <dt>To import</dt>
          <dd data-testid="import-count">{n.toLocaleString()}</dd>
        </div>
        <div class={result.rejected.length > 0 ? "stat-bad" : ""}>
          <dt>Rejected</dt>
          <dd data-testid="import-rejected">{result.rejected.length.toLocaleString()}</dd>
        </div>
        <div class={result.duplicates.length > 0 ? "stat-warn" : ""}>
          <dt>Duplicates</dt>
          <dd data-testid="import-duplicates">{result.duplicates.length.toLocaleString()}</dd>
        </div>
        <div>
          <dt>Rows in file</dt>
          <dd data-testid="import-total">{result.total_rows.toLocaleString()}</dd>
        </div>
      </dl>
      <div class="import-actions">
        <button type="button" class="btn btn-primary" disabled={props.busy || n === 0} onClick={props.onImport}>
          <Icon name="upload" /> {n === 0 ? "Nothing to import" : `Import ${plural(n, "lead", "leads")}`}
        </button>
        <button type="button" class="btn" disabled={props.busy} onClick={props.onCancel}>
          Cancel
        </button>
      </div>
      {result.rejected.length > 0 && (
        <>
          <h4>Rejected rows</h4>
          <table class="table table-compact table-static" aria-label="Rejected rows">
            <thead>
              <tr>
                <th scope="col" class="num">
                  Line
                </th>
                <th scope="col">Why</th>
                <th scope="col">Row</th>
              </tr>
            </thead>
            <tbody>
              {result.rejected.slice(0, PREVIEW_ROWS).map((r) => (
                <tr key={r.line}>
                  <td class="num">{r.line}</td>
                  <td>{r.reason}</td>
                  <td>
                    <code class="raw-row" title={r.raw}>
                      {r.raw}
                    </code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {result.rejected.length > PREVIEW_ROWS && (
            <p class="muted small">…and {(result.rejected.length - PREVIEW_ROWS).toLocaleString()} more.</p>
          )}
        </>
      )}
      {result.duplicates.length > 0 && (
        <>
          <h4>Duplicates (skipped)</h4>
          <table class="table table-compact table-static" aria-label="Duplicate rows">
            <thead>
              <tr>
                <th scope="col" class="num">
                  Line
                </th>
                <th scope="col">Phone</th>
                <th scope="col">Same number as</th>
              </tr>
            </thead>
            <tbody>
              {result.duplicates.slice(0, PREVIEW_ROWS).map((d) => (
                <tr key={d.line}>
                  <td class="num">{d.line}</td>
                  <td class="nowrap">{formatNumber(d.phone)}</td>
                  <td>{d.first_line === null ? "Already in the campaign" : `Line ${d.first_line}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {result.duplicates.length > PREVIEW_ROWS && (
            <p class="muted small">…and {(result.duplicates.length - PREVIEW_ROWS).toLocaleString()} more.</p>
          )}
        </>
      )}
    </section>
  );
}

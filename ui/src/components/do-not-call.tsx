//! A do-not-call list: the global one (Settings) or a campaign's (its panel). Search, add a
//! number with a note, remove, import a CSV file with the engine's report of every row.
//! Lists change by opt-outs during calls too: `do_not_call_added` events refresh it.
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { DncEntry, DncImportReport } from "../api/types";
import { Badge, Banner, dateTime, Field, messageId, Pager } from "./ui";
import { onEvent, useApi } from "../store";
import { showToast } from "../toast";

const PAGE = 20;

const SOURCE: Record<DncEntry["source"], string> = {
  manual: "By hand",
  import: "Imported",
  opt_out: "Opted out in a call",
  api: "API",
};

/** `campaignId`: the campaign whose list, or null for the global list. */
export function DoNotCallList(props: { campaignId: string | null; idPrefix: string }) {
  const api = useApi();
  const { campaignId, idPrefix } = props;
  const [search, setSearch] = useState("");
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ items: DncEntry[]; total: number } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    const q = search.replace(/\D/g, "");
    api
      .listDoNotCall({
        ...(campaignId === null ? {} : { campaign_id: campaignId }),
        ...(q === "" ? {} : { q }),
        limit: PAGE,
        offset,
      })
      .then((p) => {
        if (live) setPage(p);
      })
      .catch((e: unknown) => {
        if (live && isApiError(e)) setError(e);
      });
    return () => {
      live = false;
    };
  }, [api, campaignId, search, offset, tick]);
  useEffect(() => {
    const bump = () => {
      setTick((t) => t + 1);
    };
    const offAdded = onEvent("do_not_call_added", bump);
    const offRemoved = onEvent("do_not_call_removed", bump);
    return () => {
      offAdded();
      offRemoved();
    };
  }, []);
  const refresh = () => {
    setTick((t) => t + 1);
  };

  const remove = async (entry: DncEntry) => {
    setError(null);
    try {
      await api.removeDoNotCall(entry.id);
      showToast(`${entry.number} may be called again`);
      refresh();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    }
  };

  return (
    <div class="dnc">
      <div class="dnc-search">
        <Field id={`${idPrefix}-search`} label="Search" optional hint="Digits of the number">
          <input
            id={`${idPrefix}-search`}
            type="search"
            inputMode="tel"
            placeholder="415 555"
            value={search}
            onInput={(e) => {
              setSearch(e.currentTarget.value);
              setOffset(0);
            }}
            aria-describedby={messageId(`${idPrefix}-search`)}
          />
        </Field>
      </div>
      {page !== null && page.total === 0 && (
        <p class="muted">{search.trim() === "" ? "No numbers on this list." : "No number matches."}</p>
      )}
      {page !== null && page.items.length > 0 && (
        <table class="table" aria-label={campaignId === null ? "Do-not-call list" : "Campaign do-not-call list"}>
          <thead>
            <tr>
              <th scope="col">Number</th>
              <th scope="col">How</th>
              <th scope="col">Added</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {page.items.map((e) => (
              <tr key={e.id}>
                <td>
                  <code>{e.number}</code>
                  {e.note !== "" && <div class="muted">{e.note}</div>}
                </td>
                <td>
                  <Badge tone={e.source === "opt_out" ? "warn" : "neutral"}>{SOURCE[e.source]}</Badge>
                </td>
                <td>{dateTime(e.added_at)}</td>
                <td class="num">
                  <button
                    type="button"
                    class="btn btn-sm"
                    aria-label={`Remove ${e.number}`}
                    onClick={() => void remove(e)}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page !== null && page.total > PAGE && (
        <Pager
          label="Do-not-call pages"
          offset={offset}
          shown={page.items.length}
          total={page.total}
          pageSize={PAGE}
          onOffset={setOffset}
          previous="Newer"
          next="Older"
        />
      )}
      {error !== null && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
      <AddNumber campaignId={campaignId} idPrefix={idPrefix} onAdded={refresh} />
      <ImportNumbers campaignId={campaignId} idPrefix={idPrefix} onImported={refresh} />
    </div>
  );
}

function AddNumber(props: { campaignId: string | null; idPrefix: string; onAdded: () => void }) {
  const api = useApi();
  const id = `${props.idPrefix}-number`;
  const [number, setNumber] = useState("");
  const [note, setNote] = useState("");
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const add = async () => {
    if (saving || number.trim() === "") return;
    setSaving(true);
    setError(null);
    try {
      const e = await api.addDoNotCall({
        number,
        note,
        source: "manual",
        campaign_id: props.campaignId,
      });
      showToast(`${e.number} will not be called`);
      setNumber("");
      setNote("");
      props.onAdded();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };
  const numberError = error !== null && error.field !== "note" ? error.message : null;
  return (
    <form
      class="dnc-add"
      onSubmit={(e) => {
        e.preventDefault();
        void add();
      }}
      noValidate
    >
      <Field
        id={id}
        label="Add a number"
        error={numberError}
        hint="E.164 (+14155550123), or national in the default region"
      >
        <input
          id={id}
          type="tel"
          autoComplete="off"
          value={number}
          onInput={(e) => {
            setNumber(e.currentTarget.value);
            setError(null);
          }}
          aria-invalid={numberError !== null}
          aria-describedby={messageId(id)}
        />
      </Field>
      <Field
        id={`${id}-note`}
        label="Note"
        optional
        error={error?.field === "note" ? error.message : null}
        hint="Why, for whoever reads the list"
      >
        <input
          id={`${id}-note`}
          type="text"
          maxLength={500}
          value={note}
          onInput={(e) => {
            setNote(e.currentTarget.value);
          }}
          aria-describedby={messageId(`${id}-note`)}
        />
      </Field>
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" disabled={saving || number.trim() === ""}>
          {saving ? "Adding…" : "Add to the list"}
        </button>
      </div>
    </form>
  );
}

function ImportNumbers(props: { campaignId: string | null; idPrefix: string; onImported: () => void }) {
  const api = useApi();
  const id = `${props.idPrefix}-import`;
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<DncImportReport | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [fileKey, setFileKey] = useState(0);
  const send = async (file: File) => {
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      setReport(await api.importDoNotCall(file, props.campaignId));
      props.onImported();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(false);
      setFileKey((k) => k + 1);
    }
  };
  return (
    <div class="dnc-import">
      <Field
        id={id}
        label="Import a CSV file"
        optional
        error={error?.message ?? null}
        hint="A header row with a phone column, and a note column if you like. Rows that are not numbers are listed below and change nothing."
      >
        <input
          key={fileKey}
          id={id}
          type="file"
          accept=".csv,.tsv,.txt,text/csv,text/plain"
          disabled={busy}
          onChange={(e) => {
            const f = e.currentTarget.files?.[0];
            if (f) void send(f);
          }}
          aria-describedby={messageId(id)}
        />
      </Field>
      {busy && <p class="muted">Importing…</p>}
      {report !== null && (
        <div class="dnc-report" role="status">
          <p>
            {report.added} added · {report.duplicates.length} already listed · {report.rejected.length} not imported (of{" "}
            {report.total_rows} rows)
          </p>
          {report.rejected.length > 0 && (
            <table class="table" aria-label="Rows not imported">
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Why</th>
                  <th scope="col">Row</th>
                </tr>
              </thead>
              <tbody>
                {report.rejected.slice(0, 50).map((r) => (
                  <tr key={r.line}>
                    <td class="num">{r.line}</td>
                    <td>{r.reason}</td>
                    <td>
                      <code>{r.raw}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </div>
  );
}

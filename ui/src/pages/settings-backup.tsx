//! Settings → Backup: a consistent copy of the database to download while Switchboard runs,
//! and a backup restored, which takes effect when Switchboard restarts. On PostgreSQL the
//! card says to use pg_dump and pg_restore instead.
import { useEffect, useRef, useState } from "preact/hooks";
import { isApiError } from "../api/client";
import type { BackupStatus } from "../api/types";
import { Banner } from "../components/ui";
import { useApi } from "../store";
import { showToast } from "../toast";

export function BackupCard() {
  const api = useApi();
  const [status, setStatus] = useState<BackupStatus | null>(null);
  const [busy, setBusy] = useState<"download" | "restore" | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [staged, setStaged] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  useEffect(() => {
    let live = true;
    api.getBackupStatus().then(
      (s) => {
        if (live) setStatus(s);
      },
      (e: unknown) => {
        if (live) setFailed(`Cannot read the backup status: ${isApiError(e) ? e.message : String(e)}`);
      },
    );
    return () => {
      live = false;
    };
  }, [api]);

  const download = () => {
    setBusy("download");
    setFailed(null);
    api.downloadBackup().then(
      ({ blob, name }) => {
        const url = URL.createObjectURL(blob);
        const a = document.createElement("a");
        a.href = url;
        a.download = name;
        a.click();
        window.setTimeout(() => {
          URL.revokeObjectURL(url);
        }, 1000);
        showToast(`Backup saved as ${name}`);
        setBusy(null);
      },
      (e: unknown) => {
        setFailed(`The backup failed: ${isApiError(e) ? e.message : String(e)}`);
        setBusy(null);
      },
    );
  };
  const restore = (file: File) => {
    setBusy("restore");
    setFailed(null);
    setStaged(null);
    api.restoreBackup(file).then(
      () => {
        setStaged(`${file.name} is checked and staged.`);
        setBusy(null);
      },
      (e: unknown) => {
        setFailed(`${file.name} cannot be restored: ${isApiError(e) ? e.message : String(e)}`);
        setBusy(null);
      },
    );
  };

  const pending = staged !== null || status?.restore_staged === true;
  return (
    <section class="card" aria-labelledby="settings-backup">
      <h2 id="settings-backup">Backup</h2>
      {status && !status.supported ? (
        <p class="muted">{status.message}</p>
      ) : (
        <>
          <p class="muted">
            Download a copy of everything Switchboard keeps: agents, numbers, calls and transcripts, campaigns and their
            leads, webhooks and settings. It is taken while Switchboard runs, and checked before it is saved.
          </p>
          <p class="muted">
            A backup holds no credentials: carrier and OpenAI keys, tool and webhook secrets stay in this computer’s
            keyring. Recordings are files of their own in the data folder.
          </p>
          {failed && (
            <Banner tone="bad" role="alert">
              {failed}
            </Banner>
          )}
          {pending && (
            <Banner tone="info" role="status">
              {staged ?? "A restored backup is waiting."} It takes effect when Switchboard restarts: restart Switchboard
              to use it. The database in use now is kept beside it.
            </Banner>
          )}
          <div class="form-actions">
            <button type="button" class="btn btn-primary" disabled={busy !== null || !status} onClick={download}>
              {busy === "download" ? "Backing up…" : "Download backup"}
            </button>
            <button
              type="button"
              class="btn"
              disabled={busy !== null || !status}
              onClick={() => picker.current?.click()}
            >
              {busy === "restore" ? "Checking…" : "Restore from file…"}
            </button>
            <input
              ref={picker}
              type="file"
              accept=".sqlite,.db,application/vnd.sqlite3"
              class="visually-hidden"
              tabIndex={-1}
              aria-label="Backup file to restore"
              onChange={(e) => {
                const file = e.currentTarget.files?.[0];
                e.currentTarget.value = "";
                if (file) restore(file);
              }}
            />
          </div>
        </>
      )}
    </section>
  );
}

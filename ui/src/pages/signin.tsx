//! Sign-in for a browser session: the control API token, asked once and kept in localStorage.
import { useState } from "preact/hooks";
import { Icon } from "../components/icons";
import { messageId } from "../components/ui";
import { signIn } from "../store";

export function SignInScreen(props: { rejected: boolean; apiBase: string }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(
    props.rejected ? "The engine no longer accepts the saved token. Sign in again." : null,
  );
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const problem = await signIn(token);
    setBusy(false);
    setError(problem);
  };

  return (
    <div class="fullscreen signin">
      <form class="signin-card" onSubmit={(e) => void submit(e)} aria-labelledby="signin-title">
        <div class="brand brand-large">
          <span class="brand-mark" aria-hidden="true">
            S
          </span>
          <span class="brand-name">Switchboard</span>
        </div>
        <h1 id="signin-title">Sign in to the engine</h1>
        <p class="muted">
          Paste the control API token of the engine at <code>{props.apiBase}</code>. Run <code>switchboard token</code>{" "}
          on the server to print it.
        </p>
        <div class="field">
          <label for="token">Control API token</label>
          <input
            id="token"
            type="password"
            autoComplete="current-password"
            value={token}
            onInput={(e) => {
              setToken(e.currentTarget.value);
            }}
            aria-invalid={error !== null}
            aria-describedby={error !== null ? messageId("token") : undefined}
            autoFocus
          />
          {error !== null && (
            <p class="field-message error" id={messageId("token")} role="alert">
              <Icon name="alert" size={14} />
              <span>{error}</span>
            </p>
          )}
        </div>
        <button type="submit" class="btn btn-primary btn-block" disabled={busy || token.trim() === ""}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p class="fine-print muted">The token is kept in this browser only, until you sign out or it stops working.</p>
      </form>
    </div>
  );
}

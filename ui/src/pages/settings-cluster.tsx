//! Settings → Nodes: the `switchboard serve` processes sharing this engine's database, so an
//! operator of several servers sees each one up and which leads the campaigns. On the
//! embedded database there is one node, this one.
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { ClusterView } from "../api/types";
import { Badge, Banner, relativeTime } from "../components/ui";
import { useApi } from "../store";

/** How often the nodes are read again: heartbeats come every second. */
const REFRESH_MS = 5_000;

export function ClusterCard() {
  const api = useApi();
  const [view, setView] = useState<ClusterView | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let live = true;
    const read = () =>
      api.getCluster().then(
        (v) => {
          if (!live) return;
          setView(v);
          setError(null);
        },
        (e: unknown) => {
          if (!live) return;
          if (isApiError(e)) setError(e);
          else throw e;
        },
      );
    void read();
    const timer = setInterval(() => void read(), REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api]);
  return (
    <section class="card" aria-labelledby="settings-cluster">
      <h2 id="settings-cluster">Nodes</h2>
      {error && <Banner tone="bad">Cannot read the nodes: {error.message}</Banner>}
      {view && (
        <>
          <p class="muted">
            {view.store === "postgresql"
              ? "These servers share one PostgreSQL database: any of them takes the carriers' webhooks, each bridges the calls it answered or placed, and one at a time runs the campaigns."
              : "This computer keeps everything in its own database: it is the only node."}
          </p>
          <table class="table" aria-label="Nodes">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Media URL</th>
                <th scope="col">Started</th>
                <th scope="col">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {view.nodes.map((n) => (
                <tr key={n.id}>
                  <td>
                    <code title={n.id}>{n.id.slice(-12)}</code> {n.this_node && <Badge tone="info">this node</Badge>}{" "}
                    {n.this_node && view.leads_campaigns && <Badge tone="good">runs the campaigns</Badge>}
                  </td>
                  <td>{n.url ? <code>{n.url}</code> : <span class="muted">the public URL</span>}</td>
                  <td>{relativeTime(n.started_at)}</td>
                  <td>{relativeTime(n.seen_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

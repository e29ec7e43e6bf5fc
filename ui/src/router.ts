//! Hash routes (`#/agents/<id>`): they work the same in the desktop webview and in a browser.
import { useEffect, useState } from "preact/hooks";

export type Page = "overview" | "live" | "agents" | "numbers" | "campaigns" | "calls" | "test-call" | "settings";

export interface Route {
  page: Page;
  /** The selected item (an id, or `new`), shown in the side panel. */
  item: string | null;
}

const PAGES: readonly Page[] = ["overview", "live", "agents", "numbers", "campaigns", "calls", "test-call", "settings"];

export function parseRoute(hash: string): Route {
  const [page = "", item = ""] = hash.replace(/^#\/?/, "").split("/");
  const known = PAGES.find((p) => p === page);
  return { page: known ?? "overview", item: known && item !== "" ? decodeURIComponent(item) : null };
}

export function href(page: Page, item?: string | null): string {
  return item ? `#/${page}/${encodeURIComponent(item)}` : `#/${page}`;
}

/** Goes to a page. `replace` swaps the current history entry (for a selection the page made
 * itself, so Back does not land on a page that would only make it again). */
export function navigate(page: Page, item?: string | null, options: { replace?: boolean } = {}): void {
  const target = href(page, item);
  if (window.location.hash === target) return;
  if (options.replace) window.location.replace(target);
  else window.location.hash = target;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => {
      setRoute(parseRoute(window.location.hash));
    };
    window.addEventListener("hashchange", onChange);
    return () => {
      window.removeEventListener("hashchange", onChange);
    };
  }, []);
  return route;
}

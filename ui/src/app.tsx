//! The window: sidebar, the current page, and the status strip; or the sign-in screen.
import type { ComponentChildren } from "preact";
import { Icon, type IconName } from "./components/icons";
import { Loading } from "./components/ui";
import { AgentsPage } from "./pages/agents";
import { CallsPage } from "./pages/calls";
import { CampaignsPage } from "./pages/campaigns";
import { LivePage } from "./pages/live";
import { NumbersPage } from "./pages/numbers";
import { OverviewPage } from "./pages/overview";
import { SettingsPage } from "./pages/settings";
import { SignInScreen } from "./pages/signin";
import { TestCallPage } from "./pages/test-call";
import { href, useRoute, type Page, type Route } from "./router";
import { retryNow, useAppState, type AppState } from "./store";
import { StatusStrip } from "./status";
import { Toasts } from "./toast";

export function App() {
  const state = useAppState();
  const route = useRoute();
  switch (state.phase.kind) {
    case "starting":
      return (
        <div class="fullscreen">
          <Loading label="Connecting to the engine…" />
        </div>
      );
    case "failed":
      return (
        <div class="fullscreen">
          <div class="state" role="alert">
            <div class="state-icon state-icon-bad">
              <Icon name="plug" size={22} />
            </div>
            <h2>Switchboard cannot start its window</h2>
            <p class="muted">{state.phase.message}</p>
          </div>
        </div>
      );
    case "signin":
      return <SignInScreen rejected={state.phase.rejected} apiBase={state.apiBase} />;
    case "ready":
      return <Shell state={state} route={route} />;
  }
}

function Shell(props: { state: AppState; route: Route }) {
  const { route } = props;
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Sidebar current={route.page} live={props.state.live.data?.length ?? null} />
      <main id="main" class="main" tabIndex={-1}>
        {props.state.engine === "offline" && <OfflineBanner />}
        {route.page === "overview" && <OverviewPage />}
        {route.page === "live" && <LivePage selected={route.item} />}
        {route.page === "agents" && <AgentsPage selected={route.item} />}
        {route.page === "numbers" && <NumbersPage selected={route.item} />}
        {route.page === "campaigns" && <CampaignsPage selected={route.item} />}
        {route.page === "calls" && <CallsPage selected={route.item} />}
        {route.page === "test-call" && <TestCallPage selected={route.item} />}
        {route.page === "settings" && <SettingsPage section={route.item} />}
      </main>
      <StatusStrip state={props.state} />
      <Toasts />
    </div>
  );
}

function OfflineBanner() {
  return (
    <div class="offline-banner" role="alert">
      <Icon name="plug" />
      <span>
        <strong>Engine offline.</strong> This may be out of date; changes wait until it is back.
      </span>
      <button type="button" class="btn btn-sm" onClick={retryNow}>
        Retry now
      </button>
    </div>
  );
}

interface NavItem {
  label: string;
  icon: IconName;
  page?: Page;
}

/** The design's order; pages that come with later work are shown, disabled. */
const NAV: readonly NavItem[] = [
  { label: "Overview", icon: "overview", page: "overview" },
  { label: "Live", icon: "live", page: "live" },
  { label: "Agents", icon: "agents", page: "agents" },
  { label: "Phone Numbers", icon: "numbers", page: "numbers" },
  { label: "Campaigns", icon: "campaigns", page: "campaigns" },
  { label: "Calls", icon: "calls", page: "calls" },
  { label: "Test Call", icon: "mic", page: "test-call" },
  { label: "Settings", icon: "settings", page: "settings" },
];

function Sidebar(props: { current: Page; live: number | null }) {
  return (
    <nav class="sidebar" aria-label="Sections">
      <div class="brand">
        <span class="brand-mark" aria-hidden="true">
          S
        </span>
        <span class="brand-name">Switchboard</span>
      </div>
      <ul class="nav">
        {NAV.map((item) => (
          <li key={item.label}>
            {item.page ? (
              <NavLink
                page={item.page}
                current={props.current === item.page}
                icon={item.icon}
                count={item.page === "live" ? props.live : null}
              >
                {item.label}
              </NavLink>
            ) : (
              <span class="nav-link disabled" aria-disabled="true" title={`${item.label} comes in a later release`}>
                <Icon name={item.icon} />
                <span>{item.label}</span>
                <span class="soon">Soon</span>
              </span>
            )}
          </li>
        ))}
      </ul>
    </nav>
  );
}

function NavLink(props: {
  page: Page;
  current: boolean;
  icon: IconName;
  /** A count shown beside the label (the live calls), when above zero. */
  count?: number | null;
  children: ComponentChildren;
}) {
  return (
    <a
      class={`nav-link ${props.current ? "active" : ""}`}
      href={href(props.page)}
      aria-current={props.current ? "page" : undefined}
    >
      <Icon name={props.icon} />
      <span>{props.children}</span>
      {props.count ? (
        <>
          <span class="nav-count" aria-hidden="true">
            {props.count}
          </span>
          <span class="visually-hidden">
            , {props.count} {props.count === 1 ? "call" : "calls"} now
          </span>
        </>
      ) : null}
    </a>
  );
}

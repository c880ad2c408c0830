import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useMemo, useState } from "react";
import { ApiClient } from "../api/client";
import { ApiContext, useApi } from "../api/context";
import { TokenDialog } from "../components/TokenDialog";

// Each page is its own chunk: the first screen loads the shell and one page, not every chart
// and form of the app.
const QueuePage = lazy(() => import("../features/queue/QueuePage").then((m) => ({ default: m.QueuePage })));
const NewExperimentPage = lazy(() => import("../features/experiments/NewExperimentPage").then((m) => ({ default: m.NewExperimentPage })));
const ComparePage = lazy(() => import("../features/compare/ComparePage").then((m) => ({ default: m.ComparePage })));
const InfrastructurePage = lazy(() => import("../features/infrastructure/InfrastructurePage").then((m) => ({ default: m.InfrastructurePage })));
const ResultsPage = lazy(() => import("../features/results/ResultsPage").then((m) => ({ default: m.ResultsPage })));
import { Link, matchRoute, useLocation } from "./router";

const NAV = [
  { to: "/", label: "Queue & history" },
  { to: "/new", label: "New experiment" },
  { to: "/compare", label: "Compare" },
  { to: "/infrastructure", label: "Infrastructure" },
];

export function App() {
  const [prompt, setPrompt] = useState<{ reason: string; resolve: (t: string | null) => void } | null>(null);
  const api = useMemo(
    () =>
      new ApiClient({
        storage: window.sessionStorage,
        askToken: (reason) => new Promise((resolve) => setPrompt({ reason, resolve })),
      }),
    [],
  );
  const queryClient = useMemo(
    () => new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } } }),
    [],
  );
  return (
    <ApiContext.Provider value={api}>
      <QueryClientProvider client={queryClient}>
        <Shell />
        {prompt && (
          <TokenDialog
            reason={prompt.reason}
            onDone={(token) => {
              prompt.resolve(token);
              setPrompt(null);
            }}
          />
        )}
      </QueryClientProvider>
    </ApiContext.Provider>
  );
}

function Shell() {
  const { pathname, search } = useLocation();
  const page = route(pathname, search);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand" aria-label="dec home">
          dec
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => {
              const current = item.to === "/" ? pathname === "/" : pathname.startsWith(item.to);
              return (
                <li key={item.to}>
                  <Link to={item.to} aria-current={current ? "page" : undefined}>
                    {item.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <ServerStatus />
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p role="status">Loading…</p>}>{page}</Suspense>
      </main>
    </>
  );
}

function route(pathname: string, search: string) {
  if (pathname === "/") return <QueuePage />;
  if (pathname === "/new") return <NewExperimentPage search={search} />;
  if (pathname === "/compare") return <ComparePage search={search} />;
  if (pathname === "/infrastructure") return <InfrastructurePage />;
  const experiment = matchRoute("/experiments/:id", pathname);
  if (experiment) return <ResultsPage id={experiment.id} />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page at <code>{pathname}</code>. <Link to="/">Back to the queue</Link>.
      </p>
    </section>
  );
}

function ServerStatus() {
  const api = useApi();
  const health = useQuery({ queryKey: ["health"], queryFn: api.health, refetchInterval: 2000 });
  if (health.isError) return <span className="server-status bad" role="status">server unreachable</span>;
  if (!health.data) return <span className="server-status" role="status">…</span>;
  const { draining, running, queued } = health.data;
  return (
    <span className={`server-status ${draining ? "warn" : "ok"}`} role="status" title="GET /api/health">
      {draining ? "draining: shutting down after the running experiment" : running ? "running" : "idle"}
      {queued > 0 ? ` · ${queued} queued` : ""}
    </span>
  );
}

// What dec has running now (kept runs, their resources, orphans) and reconcile, dry run first.
import { useMutation, useQuery } from "@tanstack/react-query";
import { ApiError, type ReconcileReport } from "../../api/client";
import { useApi } from "../../api/context";

export function InfrastructurePage() {
  const api = useApi();
  const infra = useQuery({ queryKey: ["infrastructure"], queryFn: api.infrastructure, retry: false });
  const dryRun = useMutation({ mutationFn: () => api.reconcile(true) });
  const apply = useMutation({ mutationFn: () => api.reconcile(false), onSuccess: () => void infra.refetch() });
  const notAvailable = (error: unknown) => error instanceof ApiError && (error.status === 404 || error.status === 405);

  return (
    <section aria-labelledby="infra-title">
      <h1 id="infra-title">Infrastructure</h1>
      <h2>What exists now</h2>
      {infra.isLoading && <p role="status">Loading…</p>}
      {infra.isError &&
        (notAvailable(infra.error) ? (
          <p className="notice" role="status">
            Not available on this server: it has no <code>GET /api/infrastructure</code>. Use <code>dec reconcile --dry-run</code> on its machine.
          </p>
        ) : (
          <p className="error" role="alert">{(infra.error as Error).message}</p>
        ))}
      {infra.data && <InfrastructureView data={infra.data} />}
      {infra.data && <DestroyRuns runs={infra.data.runs ?? []} onDone={() => void infra.refetch()} />}
      <h2>Reconcile</h2>
      <p>Reconcile destroys interrupted runs, repairs kept ones and deletes orphans. See what it would do first.</p>
      <div className="actions">
        <button type="button" onClick={() => dryRun.mutate()} disabled={dryRun.isPending}>
          {dryRun.isPending ? "Checking…" : "Dry run"}
        </button>
        <button
          type="button"
          className="danger"
          disabled={!dryRun.isSuccess || apply.isPending}
          title={dryRun.isSuccess ? "" : "run the dry run first"}
          onClick={() => {
            if (window.confirm("Reconcile now: destroy and repair as the dry run showed?")) apply.mutate();
          }}
        >
          {apply.isPending ? "Reconciling…" : "Reconcile"}
        </button>
      </div>
      {dryRun.isError &&
        (notAvailable(dryRun.error) ? (
          <p className="notice" role="status">
            Not available on this server: it has no <code>POST /api/reconcile</code>.
          </p>
        ) : (
          <p className="error" role="alert">{(dryRun.error as Error).message}</p>
        ))}
      {dryRun.data && <ReconcileView title="Dry run: what reconcile would do" report={dryRun.data} />}
      {apply.data && <ReconcileView title="Reconcile done" report={apply.data} />}
      {apply.isError && <p className="error" role="alert">{(apply.error as Error).message}</p>}
    </section>
  );
}

function InfrastructureView({ data }: { data: Record<string, unknown> }) {
  const sections = Object.entries(data).filter(([, v]) => Array.isArray(v)) as [string, unknown[]][];
  return (
    <>
      {sections.map(([key, items]) => (
        <div key={key}>
          <h3>
            {key.replace(/_/g, " ")} ({items.length})
          </h3>
          {items.length === 0 ? (
            <p className="muted">none</p>
          ) : (
            <ul className="infra-list">
              {items.map((item, i) => (
                <li key={i}>
                  <Item value={item} />
                </li>
              ))}
            </ul>
          )}
        </div>
      ))}
    </>
  );
}

// Shapes are read loosely: a name and an one-line summary of the rest.
function Item({ value }: { value: unknown }) {
  if (typeof value !== "object" || value === null) return <code>{String(value)}</code>;
  const record = value as Record<string, unknown>;
  const name = record.run ?? record.id ?? record.name ?? record.address ?? "";
  const rest = Object.entries(record).filter(([k, v]) => !["run", "id", "name"].includes(k) && (typeof v !== "object" || v === null));
  const nested = Object.entries(record).filter(([, v]) => Array.isArray(v)) as [string, unknown[]][];
  return (
    <>
      <strong>{String(name)}</strong> {rest.map(([k, v]) => `${k}: ${String(v)}`).join(" · ")}
      {nested.map(([k, items]) => (
        <details key={k}>
          <summary>
            {k} ({items.length})
          </summary>
          <ul>
            {items.map((item, i) => (
              <li key={i}>
                <Item value={item} />
              </li>
            ))}
          </ul>
        </details>
      ))}
    </>
  );
}

function ReconcileView({ title, report }: { title: string; report: ReconcileReport }) {
  const lines = (report.actions ?? report.lines ?? report.log) as unknown;
  return (
    <div className="card" role="region" aria-label={title}>
      <h3>{title}</h3>
      {Array.isArray(lines) ? (
        lines.length === 0 ? (
          <p>Nothing to do: what exists matches what dec recorded.</p>
        ) : (
          <ul>
            {lines.map((line, i) => (
              <li key={i}>{typeof line === "string" ? line : JSON.stringify(line)}</li>
            ))}
          </ul>
        )
      ) : (
        <pre className="log">{JSON.stringify(report, null, 2)}</pre>
      )}
    </div>
  );
}

// A kept run (dec apply) or an interrupted one can be destroyed here; one in progress cannot.
function DestroyRuns({ runs, onDone }: { runs: NonNullable<import("../../api/client").Infrastructure["runs"]>; onDone: () => void }) {
  const api = useApi();
  const destroy = useMutation({ mutationFn: (run: string) => api.destroyRun(run), onSettled: onDone });
  const destroyable = runs.filter((r) => typeof r.run === "string" && r.owner_alive === false);
  if (destroyable.length === 0) return null;
  return (
    <div className="actions" role="group" aria-label="Destroy recorded runs">
      {destroyable.map((r) => (
        <button
          key={String(r.run)}
          type="button"
          className="danger"
          disabled={destroy.isPending}
          onClick={() => {
            if (window.confirm(`Destroy ${String(r.run)} and everything it created?`)) destroy.mutate(String(r.run));
          }}
        >
          Destroy {String(r.run)}
        </button>
      ))}
      {destroy.isError && <p className="error" role="alert">{(destroy.error as Error).message}</p>}
      {destroy.isSuccess && <p role="status">Destroyed {destroy.data.destroyed}.</p>}
    </div>
  );
}

// Runs from any experiments side by side: one table, overlaid charts; the URL names the runs.
import { useQueries, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { useApi } from "../../api/context";
import type { PercentileCurves, Results, Run } from "../../api/types";
import { Link, navigate } from "../../app/router";
import { curvesByRun } from "../results/chartData";
import { RunCharts } from "../results/RunCharts";
import { RunsTable } from "../results/RunsTable";
import { compareSearch, parseCompareRuns, sameRun, toggleRun, type RunRef } from "./compareUrl";

// Module level, so useQueries keeps the combined map while no answer changes.
const combineCurves = (answers: { data?: PercentileCurves }[]) => curvesByRun(answers.map((a) => a.data));

export function ComparePage({ search }: { search: string }) {
  const api = useApi();
  const refs = useMemo(() => parseCompareRuns(search), [search]);
  // The picker lists experiments by their summaries; only the experiments whose runs are picked
  // are loaded whole (timelines and histograms are large).
  const list = useQuery({ queryKey: ["experiments", "compare"], queryFn: () => api.experiments("", 1000) });
  const withRuns = useMemo(() => (list.data ?? []).filter((e) => (e.summary?.runs.length ?? 0) > 0), [list.data]);
  const ids = useMemo(() => [...new Set(refs.map((r) => r.experimentId))], [refs]);
  const loaded = useQueries({
    queries: ids.map((id) => ({ queryKey: ["results", id], queryFn: () => api.results(id), staleTime: 60_000 })),
  });
  const [filter, setFilter] = useState("");

  // Cheap (a few runs): worked out on every render, so it follows each query as it lands.
  const chosen = (() => {
    const found: { ref: RunRef; run: Run | null; experiment: { id: string; name: string; results: Results } | null; pending: boolean }[] = [];
    for (const ref of refs) {
      const index = ids.indexOf(ref.experimentId);
      const query = loaded[index];
      const summary = list.data?.find((e) => e.id === ref.experimentId);
      const results = query?.data ?? null;
      const experiment = results ? { id: ref.experimentId, name: summary?.name ?? ref.experimentId, results } : null;
      const run = results?.runs.find((r) => r.run_id === ref.runId) ?? null;
      found.push({ ref, run, experiment, pending: query?.isPending ?? true });
    }
    return found;
  })();
  const runs = chosen.filter((c) => c.run).map((c) => c.run!);
  const labels = chosen.filter((c) => c.run).map((c) => `${c.experiment!.name} ${c.experiment!.id.slice(-4)}: ${c.run!.system}${(c.experiment!.results.points?.length ?? 0) > 1 || (c.experiment!.results.repeats ?? 1) > 1 ? ` p${c.run!.point ?? 0} r${c.run!.repeat ?? 0}` : ""}`);
  const missing = chosen.filter((c) => !c.run && !c.pending);
  // Each compared experiment's curves (one request per experiment, cached with the results page's).
  const curves = useQueries({
    queries: ids.map((id) => ({ queryKey: ["percentiles", id], queryFn: () => api.percentiles(id), retry: false })),
    combine: combineCurves,
  });

  const setRefs = (next: RunRef[]) => navigate(`/compare${compareSearch(next)}`, { replace: true });
  const experiments = withRuns.filter((e) => !filter || e.name.toLowerCase().includes(filter.toLowerCase()) || e.id.includes(filter));

  return (
    <section aria-labelledby="compare-title">
      <h1 id="compare-title">Compare runs</h1>
      <p className="muted">Pick runs from any experiments. The address of this page names them: copy it to share the comparison.</p>
      {missing.length > 0 && (
        <p role="alert" className="error">
          Not found: {missing.map((m) => `${m.ref.experimentId}:${m.ref.runId}`).join(", ")}
        </p>
      )}
      {runs.length > 0 ? (
        <>
          <RunsTable runs={runs} labels={labels} caption={`${runs.length} run(s) compared`} />
          <RunCharts runs={runs} labels={labels} curves={curves} />
        </>
      ) : (
        <p>No runs picked yet.</p>
      )}
      <details className="picker" open={runs.length < 2}>
        <summary>Pick runs ({refs.length} picked)</summary>
        <label>
          Filter experiments <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="name or id" />
        </label>
        {list.isLoading && <p role="status">Loading…</p>}
        {experiments.map((e) => (
          <fieldset key={e.id}>
            <legend>
              <Link to={`/experiments/${e.id}`}>{e.name}</Link> <span className="muted small">{e.id}</span>
            </legend>
            {e.summary!.runs.map((run) => {
              const ref = { experimentId: e.id, runId: run.run_id };
              return (
                <label key={run.run_id} className="pick">
                  <input type="checkbox" checked={refs.some((r) => sameRun(r, ref))} onChange={() => setRefs(toggleRun(refs, ref))} />{" "}
                  {run.system}
                  {e.summary!.points > 1 ? ` p${run.point}` : ""}
                  {e.summary!.repeats > 1 ? ` r${run.repeat}` : ""} <span className="muted small">({run.status})</span>
                </label>
              );
            })}
          </fieldset>
        ))}
      </details>
    </section>
  );
}

// Runs from any experiments side by side: one table, overlaid charts; the URL names the runs.
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { useApi } from "../../api/context";
import type { Results, Run } from "../../api/types";
import { Link, navigate } from "../../app/router";
import { RunCharts } from "../results/RunCharts";
import { RunsTable } from "../results/RunsTable";
import { compareSearch, parseCompareRuns, sameRun, toggleRun, type RunRef } from "./compareUrl";

interface StoredResults {
  id: string;
  name: string;
  state: string;
  results: Results;
}

export function ComparePage({ search }: { search: string }) {
  const api = useApi();
  const refs = useMemo(() => parseCompareRuns(search), [search]);
  const all = useQuery({ queryKey: ["all-results"], queryFn: () => api.json<{ results: StoredResults[] }>("/api/results").then((r) => r.results) });
  const [filter, setFilter] = useState("");

  const chosen = useMemo(() => {
    const found: { ref: RunRef; run: Run | null; experiment: StoredResults | null }[] = [];
    for (const ref of refs) {
      const experiment = all.data?.find((e) => e.id === ref.experimentId) ?? null;
      const run = experiment?.results.runs.find((r) => r.run_id === ref.runId) ?? null;
      found.push({ ref, run, experiment });
    }
    return found;
  }, [refs, all.data]);
  const runs = chosen.filter((c) => c.run).map((c) => c.run!);
  const labels = chosen.filter((c) => c.run).map((c) => `${c.experiment!.name} ${c.experiment!.id.slice(-4)}: ${c.run!.system}${(c.experiment!.results.points?.length ?? 0) > 1 || (c.experiment!.results.repeats ?? 1) > 1 ? ` p${c.run!.point ?? 0} r${c.run!.repeat ?? 0}` : ""}`);
  const missing = all.data ? chosen.filter((c) => !c.run) : [];

  const setRefs = (next: RunRef[]) => navigate(`/compare${compareSearch(next)}`, { replace: true });
  const experiments = (all.data ?? []).filter((e) => !filter || e.name.toLowerCase().includes(filter.toLowerCase()) || e.id.includes(filter));

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
          <RunCharts runs={runs} labels={labels} />
        </>
      ) : (
        <p>No runs picked yet.</p>
      )}
      <details className="picker" open={runs.length < 2}>
        <summary>Pick runs ({refs.length} picked)</summary>
        <label>
          Filter experiments <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="name or id" />
        </label>
        {all.isLoading && <p role="status">Loading…</p>}
        {experiments.map((e) => (
          <fieldset key={e.id}>
            <legend>
              <Link to={`/experiments/${e.id}`}>{e.name}</Link> <span className="muted small">{e.id}</span>
            </legend>
            {e.results.runs.map((run) => {
              const ref = { experimentId: e.id, runId: run.run_id };
              return (
                <label key={run.run_id} className="pick">
                  <input type="checkbox" checked={refs.some((r) => sameRun(r, ref))} onChange={() => setRefs(toggleRun(refs, ref))} />{" "}
                  {run.system}
                  {run.point !== undefined && (e.results.points?.length ?? 0) > 1 ? ` p${run.point}` : ""}
                  {(e.results.repeats ?? 1) > 1 ? ` r${run.repeat}` : ""} <span className="muted small">({run.status})</span>
                </label>
              );
            })}
          </fieldset>
        ))}
      </details>
    </section>
  );
}

// One experiment: live while it runs; then its systems side by side, charts, sweeps, find-max
// curves, faults, cost and the downloads.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import type uPlot from "uplot";
import { ApiError } from "../../api/client";
import { useApi } from "../../api/context";
import type { Results, Run } from "../../api/types";
import { isFinal } from "../../api/types";
import { Link, navigate } from "../../app/router";
import { Chart, seriesColor } from "../../components/Chart";
import { formatLatencyUs, formatRate, formatTimestamp, formatUsd } from "../../components/format";
import { StateBadge } from "../../components/StateBadge";
import { compareSearch } from "../compare/compareUrl";
import { formatSpec } from "../experiments/specText";
import { LiveCharts } from "../queue/QueuePage";
import { useExperimentEvents } from "../queue/useExperimentEvents";
import { curvesByRun } from "./chartData";
import { RunCharts } from "./RunCharts";
import { RunsTable } from "./RunsTable";
import { runLabel } from "./runFacts";
import { SweepSection } from "./SweepSection";
import { TableScroll } from "../../components/TableScroll";

export function ResultsPage({ id }: { id: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const experiment = useQuery({ queryKey: ["experiment", id], queryFn: () => api.experiment(id) });
  const state = experiment.data?.state;
  const finished = state !== undefined && isFinal(state);
  const live = useExperimentEvents(experiment.data && !finished ? id : null, () => {
    void queryClient.invalidateQueries({ queryKey: ["experiment", id] });
    void queryClient.invalidateQueries({ queryKey: ["results", id] });
    void queryClient.invalidateQueries({ queryKey: ["percentiles", id] });
  });
  const results = useQuery({
    queryKey: ["results", id],
    queryFn: () => api.results(id),
    enabled: finished,
    retry: false,
  });

  if (experiment.isError) {
    const error = experiment.error as ApiError;
    return (
      <section>
        <h1>Experiment {id}</h1>
        <p role="alert" className="error">
          {error.status === 404 ? `No experiment with id ${id}.` : error.message}
        </p>
      </section>
    );
  }
  if (!experiment.data) return <p role="status">Loading…</p>;
  const e = experiment.data;
  const base = `/api/experiments/${encodeURIComponent(id)}`;
  const specHref = `data:application/yaml;charset=utf-8,${encodeURIComponent(formatSpec(e.spec ?? {}, "yaml"))}`;
  return (
    <section aria-labelledby="results-title">
      <div className="page-head">
        <h1 id="results-title">{e.name}</h1>
        <StateBadge state={live.state ?? e.state} />
      </div>
      <p className="muted">
        <code>{e.id}</code> · created {formatTimestamp(e.created_at)}
        {e.finished_at ? ` · finished ${formatTimestamp(e.finished_at)}` : ""}
      </p>
      {e.error && <p className="error" role="alert">{e.error}</p>}
      <nav aria-label="Downloads" className="downloads">
        {/* Links cannot send the Authorization header: the token rides in their query. */}
        <a href={api.authorizedUrl(`${base}/results`)} download={`${id}.json`}>Results JSON</a>
        <a href={api.authorizedUrl(`${base}/results.csv`)} download={`${id}.csv`}>CSV</a>
        <a href={api.authorizedUrl(`${base}/export?format=hdr`)} download={`${id}.hlog`}>HdrHistogram log</a>
        <a href={api.authorizedUrl(`${base}/report.html`)}>HTML report</a>
        <a href={specHref} download={`${e.name}.yaml`}>Spec (YAML)</a>
        <Link to={`/new?from=${encodeURIComponent(id)}`}>Run again (edit spec)</Link>
      </nav>
      {!finished && (
        <div className="card">
          <h2>Live</h2>
          {Object.entries(live.progress).map(([system, p]) => (
            <p key={system}>
              <strong>{system}</strong> {live.systemStates[system] ?? p.phase}: {p.elapsed_s.toFixed(1)}/{p.total_s.toFixed(1)} s, {formatRate(p.consumed_per_s)} msg/s, p99{" "}
              {formatLatencyUs(p.p99_us)}
            </p>
          ))}
          {Object.keys(live.series).length > 0 && <LiveCharts series={live.series} />}
          {live.log.length > 0 && <pre className="log">{live.log.slice(-15).join("\n")}</pre>}
        </div>
      )}
      {finished && results.isError && <p className="muted">{(results.error as ApiError).message}</p>}
      {results.data && <ResultsBody results={results.data} />}
    </section>
  );
}

function ResultsBody({ results }: { results: Results }) {
  const api = useApi();
  // The percentile chart's curves, decoded by the server from the histograms; until they arrive
  // (or if the server cannot give them) the chart shows the table's percentiles.
  const percentiles = useQuery({ queryKey: ["percentiles", results.id], queryFn: () => api.percentiles(results.id), retry: false });
  const curves = useMemo(() => curvesByRun([percentiles.data]), [percentiles.data]);
  const runs = results.runs;
  const labels = useMemo(() => runs.map((r) => runLabel(r, results)), [runs, results]);
  const [picked, setPicked] = useState<string[]>([]);
  const sweep = (results.stats?.length ?? 0) > 0;
  return (
    <>
      {(results.warnings?.length ?? 0) > 0 && (
        <ul className="warnings" aria-label="Spec warnings">
          {results.warnings!.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
      <h2>Systems side by side</h2>
      <RunsTable runs={runs} labels={labels} caption={`${runs.length} run(s) of ${results.experiment}`} />
      <fieldset className="compare-pick">
        <legend>Compare runs</legend>
        {runs.map((run, i) => (
          <label key={run.run_id}>
            <input
              type="checkbox"
              checked={picked.includes(run.run_id)}
              onChange={() => setPicked((p) => (p.includes(run.run_id) ? p.filter((x) => x !== run.run_id) : [...p, run.run_id]))}
            />{" "}
            {labels[i]}
          </label>
        ))}
        <button
          type="button"
          disabled={picked.length === 0}
          onClick={() => navigate(`/compare${compareSearch(picked.map((runId) => ({ experimentId: results.id, runId })))}`)}
        >
          Compare selected
        </button>
      </fieldset>
      <h2>Over time and by percentile</h2>
      <RunCharts runs={runs} labels={labels} curves={curves} />
      <PublishVsEndToEnd runs={runs} labels={labels} />
      {sweep && <SweepSection results={results} />}
      {runs.some((r) => r.search) && <FindMaxSection runs={runs} labels={labels} />}
      {runs.some((r) => (r.faults?.length ?? 0) > 0) && <FaultsSection runs={runs} labels={labels} />}
      {runs.some((r) => r.cost) && <CostSection runs={runs} labels={labels} />}
    </>
  );
}

function PublishVsEndToEnd({ runs, labels }: { runs: Run[]; labels: string[] }) {
  const rows = runs.filter((r) => r.latency_us?.count || r.publish_latency_us?.count);
  if (rows.length === 0) return null;
  return (
    <TableScroll label="Publish vs end-to-end latency">
      <table>
        <caption>Publish (intended send → acknowledged) vs end-to-end (intended send → received)</caption>
        <thead>
          <tr>
            <th scope="col">run</th>
            {["p50", "p99", "p99.9", "max"].map((p) => (
              <th scope="col" key={p}>
                publish / e2e {p}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.run_id}>
              <th scope="row">{labels[runs.indexOf(r)]}</th>
              {(["p50", "p99", "p999", "max"] as const).map((k) => (
                <td key={k}>
                  {formatLatencyUs(r.publish_latency_us?.[k])} / {formatLatencyUs(r.latency_us?.[k])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

function FindMaxSection({ runs, labels }: { runs: Run[]; labels: string[] }) {
  const searched = runs.filter((r) => r.search);
  const series = searched.map((r) => {
    const steps = [...r.search!.steps].filter((s) => s.achieved_per_s > 0).sort((a, b) => a.achieved_per_s - b.achieved_per_s);
    return { x: steps.map((s) => s.achieved_per_s), y: steps.map((s) => s.p99_us / 1000) };
  });
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const data = [xs, ...series.map((s) => xs.map((x) => s.y[s.x.indexOf(x)] ?? null))] as uPlot.AlignedData;
  const options: Omit<uPlot.Options, "width" | "height"> = {
    series: [{ label: "achieved msg/s" }, ...searched.map((r, i) => ({ label: labels[runs.indexOf(r)], stroke: seriesColor(i), spanGaps: true, points: { show: true, size: 7 } }))],
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: "achieved rate (msg/s)" }, { label: "p99 (ms)", size: 70 }],
  };
  return (
    <>
      <h2>Find-max: latency against rate</h2>
      <ul>
        {searched.map((r) => (
          <li key={r.run_id}>
            <strong>{labels[runs.indexOf(r)]}</strong>: max sustainable rate {r.search!.max_rate === null ? "none passed" : `${formatRate(r.search!.max_rate)} msg/s`}
            {r.search!.stopped ? ` (${r.search!.stopped})` : ""}
          </li>
        ))}
      </ul>
      <Chart title="p99 latency by achieved rate (every search step)" summary={`${searched.length} search(es)`} data={data} options={options} />
    </>
  );
}

function FaultsSection({ runs, labels }: { runs: Run[]; labels: string[] }) {
  return (
    <TableScroll label="Faults table">
      <table>
        <caption>Faults and their impact</caption>
        <thead>
          <tr>
            {["run", "fault", "applied at", "dip", "recovery", "lost", "undelivered", "duplicated"].map((h) => (
              <th scope="col" key={h}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {runs.flatMap((r) =>
            (r.faults ?? []).map((f, i) => (
              <tr key={`${r.run_id}-${i}`}>
                <th scope="row">{labels[runs.indexOf(r)]}</th>
                <td>
                  {f.action} {f.target}
                </td>
                <td>{f.applied_at_s === null ? "not applied" : `${f.applied_at_s} s`}</td>
                <td>{f.dip_pct === undefined ? "–" : `${f.dip_pct.toFixed(1)} %`}</td>
                <td>{f.recovery_s === undefined ? "–" : f.recovery_s === null ? "not recovered" : `${f.recovery_s} s`}</td>
                <td>{f.lost ?? "–"}</td>
                <td>{f.undelivered ?? "–"}</td>
                <td>{f.duplicated ?? "–"}</td>
              </tr>
            )),
          )}
        </tbody>
      </table>
    </TableScroll>
  );
}

function CostSection({ runs, labels }: { runs: Run[]; labels: string[] }) {
  return (
    <>
      <h2>Cost (estimates)</h2>
      {runs
        .filter((r) => r.cost)
        .map((r) => (
          <details key={r.run_id}>
            <summary>
              {labels[runs.indexOf(r)]}: {formatUsd(r.cost!.per_hour_usd)}/hour, {formatUsd(r.cost!.per_million_messages_usd)}/1M msgs ({r.cost!.model}, at {formatRate(r.cost!.messages_per_s)} msg/s)
            </summary>
            <ul>
              {(r.cost!.items ?? []).map((item) => (
                <li key={item.item}>
                  {item.item}: {item.quantity_per_hour} {item.unit} × {formatUsd(item.unit_price_usd)} = {formatUsd(item.usd_per_hour)}/hour
                </li>
              ))}
              {(r.cost!.notes ?? []).map((n) => (
                <li key={n} className="muted">
                  {n}
                </li>
              ))}
            </ul>
          </details>
        ))}
    </>
  );
}

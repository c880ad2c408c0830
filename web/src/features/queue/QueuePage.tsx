// Home: the running experiment live, the queue with positions and cancel, and the history.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import type uPlot from "uplot";
import { ApiError } from "../../api/client";
import { useApi } from "../../api/context";
import type { ExperimentSummary } from "../../api/types";
import { isFinal } from "../../api/types";
import { Link } from "../../app/router";
import { Chart, seriesColor } from "../../components/Chart";
import { durationBetween, formatLatencyUs, formatRate, formatSeconds, formatTimestamp } from "../../components/format";
import { StateBadge } from "../../components/StateBadge";
import { useExperimentEvents } from "./useExperimentEvents";
import type { LiveSeries } from "./liveEvents";
import { TableScroll } from "../../components/TableScroll";

const STATE_FILTERS = ["", "queued", "running", "succeeded", "failed", "cancelled"];

export function QueuePage() {
  const api = useApi();
  const queryClient = useQueryClient();
  const experiments = useQuery({ queryKey: ["experiments"], queryFn: () => api.experiments(), refetchInterval: 5000 });
  const list = experiments.data ?? [];
  const running = list.filter((e) => e.state !== "queued" && !isFinal(e.state));
  const queued = list.filter((e) => e.state === "queued").sort((a, b) => (a.queue_position ?? 0) - (b.queue_position ?? 0));
  const finished = list.filter((e) => isFinal(e.state));

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["experiments"] });
    void queryClient.invalidateQueries({ queryKey: ["health"] });
  };

  return (
    <section aria-labelledby="queue-title">
      <div className="page-head">
        <h1 id="queue-title">Queue and history</h1>
        <Link to="/new" className="button primary">
          New experiment
        </Link>
      </div>
      {experiments.isError && <p role="alert" className="error">Could not load experiments: {(experiments.error as Error).message}</p>}
      <h2>Running</h2>
      {running.length === 0 ? <p className="muted">Nothing is running.</p> : running.map((e) => <RunningExperiment key={e.id} experiment={e} onFinished={refresh} />)}
      <h2>Queued</h2>
      {queued.length === 0 ? (
        <p className="muted">The queue is empty.</p>
      ) : (
        <ol className="queue">
          {queued.map((e) => (
            <li key={e.id}>
              <span className="position" aria-label={`position ${e.queue_position}`}>#{e.queue_position}</span>
              <Link to={`/experiments/${e.id}`}>{e.name}</Link> <code>{e.id}</code>
              <CancelButton id={e.id} name={e.name} onDone={refresh} />
            </li>
          ))}
        </ol>
      )}
      <History finished={finished} />
    </section>
  );
}

function CancelButton({ id, name, onDone }: { id: string; name: string; onDone: () => void }) {
  const api = useApi();
  const cancel = useMutation({ mutationFn: () => api.cancel(id), onSettled: onDone });
  return (
    <>
      <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending} aria-label={`Cancel ${name}`}>
        {cancel.isPending ? "Cancelling…" : "Cancel"}
      </button>
      {cancel.isError && <span className="error" role="alert">{(cancel.error as ApiError).message}</span>}
    </>
  );
}

function RunningExperiment({ experiment, onFinished }: { experiment: ExperimentSummary; onFinished: () => void }) {
  const live = useExperimentEvents(experiment.id, onFinished);
  const state = live.state ?? experiment.state;
  const systems = Object.keys(live.progress);
  return (
    <article className="card running" aria-label={`Running: ${experiment.name}`}>
      <header>
        <h3>
          <Link to={`/experiments/${experiment.id}`}>{experiment.name}</Link>
        </h3>
        <StateBadge state={state} />
        <code>{experiment.id}</code>
        <CancelButton id={experiment.id} name={experiment.name} onDone={onFinished} />
      </header>
      {systems.length === 0 && <p className="muted">Waiting for the first progress report…</p>}
      {systems.map((system) => {
        const p = live.progress[system];
        const fraction = p.total_s > 0 ? Math.min(1, p.elapsed_s / p.total_s) : 0;
        return (
          <div key={system} className="progress-row">
            <strong>{system}</strong> <span>{live.systemStates[system] ?? p.phase}</span>
            <progress value={fraction} max={1} aria-label={`${system} progress`} />
            <span className="figures">
              {p.elapsed_s.toFixed(1)}/{p.total_s.toFixed(1)} s · {formatRate(p.consumed_per_s)} msg/s consumed · p99 {formatLatencyUs(p.p99_us)}
            </span>
          </div>
        );
      })}
      {systems.length > 0 && <LiveCharts series={live.series} />}
      {live.log.length > 0 && (
        <details>
          <summary>Log ({live.log.length} lines)</summary>
          <pre className="log" aria-live="polite">{live.log.slice(-30).join("\n")}</pre>
        </details>
      )}
    </article>
  );
}

export function LiveCharts({ series }: { series: Record<string, LiveSeries> }) {
  const systems = Object.keys(series);
  const { throughput, latency } = useMemo(() => {
    // One x axis for all systems: the union of their times, gaps where a system has no point.
    const times = [...new Set(systems.flatMap((s) => series[s].t))].sort((a, b) => a - b);
    const column = (s: string, key: "consumed" | "p99_ms") => {
      const at = new Map(series[s].t.map((t, i) => [t, series[s][key][i]]));
      return times.map((t) => at.get(t) ?? null);
    };
    const build = (key: "consumed" | "p99_ms", label: string) => ({
      data: [times, ...systems.map((s) => column(s, key))] as uPlot.AlignedData,
      options: {
        series: [{ label: "s" }, ...systems.map((s, i) => ({ label: `${s} ${label}`, stroke: seriesColor(i), spanGaps: true }))],
        axes: [{ label: "seconds" }, { label }],
        scales: { x: { time: false }, y: { range: (_u: uPlot, _min: number, max: number) => [0, max > 0 ? max * 1.1 : 1] } },
      } as Omit<uPlot.Options, "width" | "height">,
    });
    return { throughput: build("consumed", "msg/s"), latency: build("p99_ms", "p99 ms") };
  }, [series, systems.join(",")]);
  return (
    <div className="chart-grid">
      <Chart title="Live throughput (consumed msg/s)" summary={`${systems.join(", ")}, last value ${systems.map((s) => formatRate(series[s].consumed.at(-1))).join(", ")}`} {...throughput} height={200} />
      <Chart title="Live p99 latency (ms)" summary={`${systems.join(", ")}`} {...latency} height={200} />
    </div>
  );
}

function History({ finished }: { finished: ExperimentSummary[] }) {
  const [state, setState] = useState("");
  const [search, setSearch] = useState("");
  const shown = finished.filter((e) => (!state || e.state === state) && (!search || e.name.toLowerCase().includes(search.toLowerCase()) || e.id.includes(search)));
  return (
    <>
      <h2 id="history-title">History</h2>
      <div className="filters" role="search" aria-label="Filter history">
        <label>
          State{" "}
          <select value={state} onChange={(e) => setState(e.target.value)}>
            {STATE_FILTERS.filter((s) => s !== "queued" && s !== "running").map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search by name <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="name or id" />
        </label>
      </div>
      {shown.length === 0 ? (
        <p className="muted">No finished experiments{state || search ? " match" : " yet"}.</p>
      ) : (
        <TableScroll label="History table">
          <table aria-labelledby="history-title">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Finished</th>
                <th scope="col">Duration</th>
                <th scope="col">Verdict</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.id}>
                  <td>
                    <Link to={`/experiments/${e.id}`}>{e.name}</Link>
                    <div className="muted small">{e.id}</div>
                  </td>
                  <td>
                    <StateBadge state={e.state} />
                  </td>
                  <td>{formatTimestamp(e.finished_at)}</td>
                  <td>{formatSeconds(durationBetween(e.started_at || e.created_at, e.finished_at))}</td>
                  <td>{e.error ? <span className="error">{e.error}</span> : e.summary?.verdict ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </>
  );
}

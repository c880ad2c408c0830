// A sweep's metric against the varied value: each point and system's mean with its 95 %
// confidence interval as whiskers, and the comparisons' verdicts (the results page and report.html).
import { useState } from "react";
import type uPlot from "uplot";
import type { Results } from "../../api/types";
import { Chart, seriesColor } from "../../components/Chart";
import { sweepSeries, whiskers } from "./chartData";

const SWEEP_METRICS = [
  ["consumed_msgs_per_s", "consumed msg/s"],
  ["produced_msgs_per_s", "produced msg/s"],
  ["latency_p99_us", "latency p99 (us)"],
  ["latency_p50_us", "latency p50 (us)"],
  ["latency_p999_us", "latency p99.9 (us)"],
  ["publish_p99_us", "publish p99 (us)"],
  ["max_rate_per_s", "max sustainable rate (msg/s)"],
  ["cost_per_hour_usd", "cost/hour (estimate, USD)"],
] as const;

export function SweepSection({ results }: { results: Results }) {
  const stats = results.stats ?? [];
  const available = SWEEP_METRICS.filter(([key]) => stats.some((s) => s.metrics[key]));
  const [metric, setMetric] = useState<string>(available[0]?.[0] ?? "consumed_msgs_per_s");
  const points = results.points ?? [];
  const varied = Object.keys(points[0]?.values ?? {});
  const [axis, setAxis] = useState(varied[0] ?? "");
  const values = points.map((p) => p.values[axis]);
  const numeric = values.every((v) => v !== undefined && !Number.isNaN(Number(v)));
  const xOfPoint = (point: number) => (numeric && axis ? Number(points[point]?.values[axis]) : point);
  const series = sweepSeries(stats, metric, xOfPoint);
  const colors = series.map((_, i) => seriesColor(i));
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const data = [xs, ...series.map((s) => xs.map((x) => s.mean[s.x.indexOf(x)] ?? null))] as uPlot.AlignedData;
  const label = available.find(([key]) => key === metric)?.[1] ?? metric;
  const options: Omit<uPlot.Options, "width" | "height"> = {
    series: [{ label: axis || "point" }, ...series.map((s, i) => ({ label: s.system, stroke: colors[i], width: 1.5, points: { show: true, size: 8 } }))],
    scales: { x: { time: false } },
    axes: [{ label: axis || "point", values: (_u, splits) => splits.map((x) => (numeric ? String(x) : (points[x]?.values[axis] ?? (Number.isInteger(x) ? `p${x}` : "")))) }, { label, size: 80 }],
    plugins: [whiskers(series, colors)],
  };
  return (
    <>
      <h2>Sweep: {label} against the varied value</h2>
      <div className="filters">
        <label>
          Metric{" "}
          <select value={metric} onChange={(e) => setMetric(e.target.value)}>
            {available.map(([key, text]) => (
              <option key={key} value={key}>
                {text}
              </option>
            ))}
          </select>
        </label>
        {varied.length > 1 && (
          <label>
            Varied value{" "}
            <select value={axis} onChange={(e) => setAxis(e.target.value)}>
              {varied.map((v) => (
                <option key={v}>{v}</option>
              ))}
            </select>
          </label>
        )}
      </div>
      <Chart
        title={`${label} by ${axis || "point"} (mean, whiskers: 95 % confidence interval)`}
        summary={series.map((s) => `${s.system}: ${s.x.map((x, i) => `${x} → ${s.mean[i] ?? "–"}`).join(", ")}`).join("; ")}
        data={data}
        options={options}
      />
      {(results.comparisons?.length ?? 0) > 0 && (
        <details>
          <summary>Comparisons (Welch's t-test, α = 0.05): {results.comparisons!.length}</summary>
          <ul>
            {results.comparisons!.map((c, i) => (
              <li key={i}>
                {c.metric}: {c.verdict}
              </li>
            ))}
          </ul>
        </details>
      )}
    </>
  );
}

// The charts of a set of runs (one experiment's, or the compare page's): throughput and p99 over
// time with fault markers, and the latency percentile distribution (end-to-end and publish): each
// run's curve decoded from its histogram when `curves` has it, else the table's percentiles.
import { useMemo } from "react";
import type uPlot from "uplot";
import type { Run, RunPercentiles } from "../../api/types";
import { Chart, seriesColor } from "../../components/Chart";
import { formatLatencyUs } from "../../components/format";
import { faultMarkers, faultsOf, percentileAxis, percentileData, timelineData } from "./chartData";

type Options = Omit<uPlot.Options, "width" | "height">;

const NO_CURVES = new Map<string, RunPercentiles>();

export function RunCharts({ runs, labels, curves = NO_CURVES }: { runs: Run[]; labels: string[]; curves?: Map<string, RunPercentiles> }) {
  const charts = useMemo(() => {
    const faults = faultsOf(runs);
    const plugins = faults.length > 0 ? [faultMarkers(faults)] : [];
    // Throughput and latency axes start at zero: a dip must not look deeper than it is.
    const fromZero: uPlot.Range.Function = (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1];
    const timeSeries = (unit: string): Options => ({
      series: [{ label: "t (s)" }, ...runs.map((_, i) => ({ label: labels[i], stroke: seriesColor(i), width: 1.5, spanGaps: false }))],
      axes: [{ label: "seconds since warm-up start" }, { label: unit, size: 70 }],
      scales: { x: { time: false }, y: { range: fromZero } },
      plugins,
    });
    const percentiles = percentileData(runs, labels, curves);
    const maxX = Math.max(1, ...(percentiles.data[0] as number[]));
    const percentileOptions: Options = {
      series: [
        { label: "percentile", value: (_u, x) => (x === null ? "–" : `${(100 * (1 - Math.pow(10, -x))).toPrecision(6)}%`) },
        ...percentiles.labels.map((label, i) => ({
          label,
          stroke: seriesColor(percentiles.colorIndex[i]),
          dash: percentiles.dashed[i] ? [6, 4] : undefined,
          width: 1.5,
          spanGaps: true,
          points: { show: !percentiles.fromHistogram[i] },
        })),
      ],
      scales: { x: { time: false, range: [0, Math.ceil(maxX - 1e-6)] }, y: { distr: 3 } },
      axes: [percentileAxis(maxX), { label: "latency (ms)", size: 70 }],
    };
    return {
      faults,
      throughput: { data: timelineData(runs, "consumed_per_s"), options: timeSeries("consumed msg/s") },
      produced: { data: timelineData(runs, "produced_per_s"), options: timeSeries("produced msg/s") },
      p99: { data: timelineData(runs, "p99_us"), options: timeSeries("p99 latency (ms)") },
      percentiles: { data: percentiles.data, options: percentileOptions },
      fromHistogram: percentiles.fromHistogram.some(Boolean),
    };
  }, [runs, labels, curves]);

  const hasTimeline = runs.some((r) => (r.timeline?.length ?? 0) > 0);
  const hasConsumers = runs.some((r) => (r.throughput?.consumed_msgs_per_s ?? 0) > 0);
  const faultNote = charts.faults.length > 0 ? ` Dashed red lines: faults (${charts.faults.map((f) => `${f.label} at ${f.at} s`).join(", ")}).` : "";
  return (
    <div className="chart-grid">
      {hasTimeline && (
        <Chart
          title={hasConsumers ? "Throughput over time (consumed msg/s)" : "Throughput over time (produced msg/s)"}
          summary={`one line per run, ${labels.join(", ")}.${faultNote}`}
          {...(hasConsumers ? charts.throughput : charts.produced)}
        />
      )}
      {hasTimeline && <Chart title="p99 latency over time (ms)" summary={`p99 of the messages received each second.${faultNote}`} {...charts.p99} />}
      {charts.percentiles.data[0].length > 0 && (
        <Chart
          title="Latency by percentile (end-to-end solid, publish dashed)"
          summary={
            (charts.fromHistogram ? "every percentile from the latency histograms; " : "the table's percentiles; ") +
            runs
              .map((r, i) => `${labels[i]}: p50 ${formatLatencyUs(r.latency_us?.p50)}, p99 ${formatLatencyUs(r.latency_us?.p99)}, p99.99 ${formatLatencyUs(r.latency_us?.p9999)}, max ${formatLatencyUs(r.latency_us?.max)}`)
              .join("; ")
          }
          {...charts.percentiles}
          height={320}
          wide
        />
      )}
    </div>
  );
}

// Turns results into uPlot's columns: one shared x column, one y column per series, null where a
// series has no value at that x.
import type uPlot from "uplot";
import type { PercentileCurves, Run, RunPercentiles, StatMetric } from "../../api/types";
import { curvePoints, percentilePoints, percentileTicks, percentileLabel, summaryLowerBoundFrom, xToPercentile } from "./percentileAxis";

export function alignSeries(series: { x: number[]; y: (number | null)[] }[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const columns = series.map((s) => {
    const at = new Map(s.x.map((x, i) => [x, s.y[i]]));
    return xs.map((x) => at.get(x) ?? null);
  });
  return [xs, ...columns] as uPlot.AlignedData;
}

export function timelineData(runs: Run[], key: "consumed_per_s" | "produced_per_s" | "p99_us"): uPlot.AlignedData {
  return alignSeries(
    runs.map((run) => {
      const points = run.timeline ?? [];
      return { x: points.map((p) => p.t_s), y: points.map((p) => (key === "p99_us" ? p[key] / 1000 : p[key])) };
    }),
  );
}

// Vertical dashed lines at each fault's applied_at_s, labelled with its action.
export function faultMarkers(faults: { at: number; label: string }[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#b91c1c";
        ctx.fillStyle = "#b91c1c";
        ctx.setLineDash([5, 4]);
        ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
        for (const fault of faults) {
          const x = u.valToPos(fault.at, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.fillText(fault.label, x + 4, u.bbox.top + 14 * devicePixelRatio);
        }
        ctx.restore();
      },
    },
  };
}

export function faultsOf(runs: Run[]): { at: number; label: string }[] {
  const seen = new Map<string, { at: number; label: string }>();
  for (const run of runs) {
    for (const fault of run.faults ?? []) {
      if (fault.applied_at_s === null || fault.applied_at_s === undefined) continue;
      const label = `${fault.action ?? fault.kind ?? "fault"}${runs.length > 1 ? ` (${run.system})` : ""}`;
      seen.set(`${fault.applied_at_s}:${label}`, { at: fault.applied_at_s, label });
    }
  }
  return [...seen.values()];
}

// Runs' decoded curves by run id, from one or several experiments' GET .../percentiles answers.
export function curvesByRun(answers: (PercentileCurves | null | undefined)[]): Map<string, RunPercentiles> {
  const byRun = new Map<string, RunPercentiles>();
  for (const answer of answers) {
    for (const run of answer?.runs ?? []) byRun.set(run.run_id, run);
  }
  return byRun;
}

// Percentile distribution: end-to-end (solid) and publish (dashed) per run on the 1/(1-p) axis.
// A run's curve decoded from its histogram when `curves` has it, else the summary's percentiles.
// A series whose tail is only a lower bound (messages missing at the deadline) says from where.
export function percentileData(
  runs: Run[],
  runLabels: string[] = runs.map((r) => r.system),
  curves: Map<string, RunPercentiles> = new Map(),
): { data: uPlot.AlignedData; labels: string[]; dashed: boolean[]; colorIndex: number[]; fromHistogram: boolean[] } {
  const series: { x: number[]; y: number[] }[] = [];
  const labels: string[] = [];
  const dashed: boolean[] = [];
  const colorIndex: number[] = [];
  const fromHistogram: boolean[] = [];
  runs.forEach((run, index) => {
    const decoded = curves.get(run.run_id);
    for (const [kind, summary, curve] of [
      ["end-to-end", run.latency_us, decoded?.end_to_end],
      ["publish", run.publish_latency_us, decoded?.publish],
    ] as const) {
      const fromCurve = curvePoints(curve);
      const points = fromCurve.length > 0 ? fromCurve : percentilePoints(summary);
      if (points.length === 0) continue;
      const lowerFrom = fromCurve.length > 0 ? (curve!.lower_bound_from === null ? null : curve!.lower_bound_from / 100) : summaryLowerBoundFrom(summary);
      series.push({ x: points.map((p) => p.x), y: points.map((p) => p.us / 1000) });
      labels.push(`${runLabels[index]} ${kind}${lowerFrom === null ? "" : ` (≥ from ${percentileLabel(lowerFrom)}: messages missing at the deadline)`}`);
      dashed.push(kind === "publish");
      colorIndex.push(index);
      fromHistogram.push(fromCurve.length > 0);
    }
  });
  return { data: alignSeries(series), labels, dashed, colorIndex, fromHistogram };
}

export function percentileAxis(maxX: number): uPlot.Axis {
  return {
    label: "percentile",
    splits: () => percentileTicks(maxX),
    values: (_u: uPlot, splits: number[]) => splits.map((x) => percentileLabel(xToPercentile(x))),
  };
}

// Sweep points: the metric's mean per point and system, with its 95 % interval as whiskers.
export interface SweepSeries {
  system: string;
  x: number[];
  mean: (number | null)[];
  low: (number | null)[];
  high: (number | null)[];
}

export function sweepSeries(
  stats: { point: number; system: string; metrics: Record<string, StatMetric> }[],
  metric: string,
  xOfPoint: (point: number) => number,
): SweepSeries[] {
  const systems = [...new Set(stats.map((s) => s.system))];
  return systems.map((system) => {
    const rows = stats.filter((s) => s.system === system).sort((a, b) => xOfPoint(a.point) - xOfPoint(b.point));
    return {
      system,
      x: rows.map((r) => xOfPoint(r.point)),
      mean: rows.map((r) => r.metrics[metric]?.mean ?? null),
      low: rows.map((r) => r.metrics[metric]?.ci95_low ?? null),
      high: rows.map((r) => r.metrics[metric]?.ci95_high ?? null),
    };
  });
}

// Draws each point's interval as a whisker (a vertical bar with caps) in its series' colour.
export function whiskers(series: SweepSeries[], colors: string[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.lineWidth = 1.5 * devicePixelRatio;
        series.forEach((s, index) => {
          ctx.strokeStyle = colors[index];
          s.x.forEach((x, i) => {
            const low = s.low[i];
            const high = s.high[i];
            if (low === null || high === null) return;
            const cx = u.valToPos(x, "x", true);
            const y0 = u.valToPos(low, "y", true);
            const y1 = u.valToPos(high, "y", true);
            const cap = 5 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(cx, y0);
            ctx.lineTo(cx, y1);
            ctx.moveTo(cx - cap, y0);
            ctx.lineTo(cx + cap, y0);
            ctx.moveTo(cx - cap, y1);
            ctx.lineTo(cx + cap, y1);
            ctx.stroke();
          });
        });
        ctx.restore();
      },
    },
  };
}

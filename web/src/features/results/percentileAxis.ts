// HdrHistogram's percentile plot: x = log10(1 / (1 − p)), so 90 %, 99 %, 99.9 %, 99.99 % are
// evenly spaced and the tail gets the room it deserves.
import type { LatencySummary, PercentileCurve } from "../../api/types";

export const percentileToX = (p: number) => Math.log10(1 / (1 - Math.min(p, 1 - 1e-12)));
export const xToPercentile = (x: number) => 1 - Math.pow(10, -x);

// "99.9%" for x = 3; "50%" for p = 0.5.
export function percentileLabel(p: number): string {
  const percent = p * 100;
  const text = percent.toFixed(6).replace(/\.?0+$/, "");
  return `${text}%`;
}

// Ticks at 0 %, 90 %, 99 %, … up to the largest x shown.
export function percentileTicks(maxX: number): number[] {
  const ticks = [0];
  for (let x = 1; x <= Math.ceil(maxX - 1e-6); x++) ticks.push(x);
  return ticks;
}

const SUMMARY_PERCENTILES: [keyof LatencySummary, number][] = [
  ["p50", 0.5],
  ["p90", 0.9],
  ["p95", 0.95],
  ["p99", 0.99],
  ["p999", 0.999],
  ["p9999", 0.9999],
];

// Where the maximum (100 %) goes on the axis, which cannot show 100 %: at the last sample's
// percentile 1 − 1/count, never before p99.999.
const maxPercentile = (count: number) => Math.max(0.99999, 1 - 1 / count);

// The points of a latency summary on that axis; max sits at 1 − 1/count (the last sample's
// percentile), never before p99.99.
export function percentilePoints(summary: LatencySummary | undefined): { p: number; x: number; us: number }[] {
  if (!summary || !summary.count) return [];
  const points: { p: number; x: number; us: number }[] = [];
  for (const [key, p] of SUMMARY_PERCENTILES) {
    const value = summary[key];
    if (typeof value === "number") points.push({ p, x: percentileToX(p), us: value });
  }
  if (typeof summary.max === "number") {
    const p = maxPercentile(summary.count);
    points.push({ p, x: percentileToX(p), us: summary.max });
  }
  return points;
}


// The points of a curve decoded from a histogram (GET /api/experiments/{id}/percentiles). Its
// 100 % point is the maximum, placed as percentilePoints places it; when the curve's last level
// is already further right, the maximum replaces that point (they share the last bucket).
export function curvePoints(curve: PercentileCurve | null | undefined): { p: number; x: number; us: number }[] {
  if (!curve || !curve.count || curve.points.length === 0) return [];
  const points: { p: number; x: number; us: number }[] = [];
  for (const point of curve.points) {
    if (point.percentile >= 100) {
      const p = maxPercentile(curve.count);
      while (points.length > 0 && points[points.length - 1].p >= p) points.pop();
      points.push({ p, x: percentileToX(p), us: point.value_us });
    } else {
      const p = point.percentile / 100;
      points.push({ p, x: percentileToX(p), us: point.value_us });
    }
  }
  return points;
}

// The first percentile (0..1) whose figure is only a lower bound because messages were missing
// at the deadline, from a summary's counts (as the table decides); null when none is.
export function summaryLowerBoundFrom(summary: LatencySummary | undefined): number | null {
  if (!summary || !summary.count || !summary.censored) return null;
  const { count, censored } = summary;
  for (const [key, p] of SUMMARY_PERCENTILES) {
    // The rank as the table takes it (report/results.cpp is_lower_bound), in integers.
    const per10000 = Math.round(p * 10000);
    const rank = Math.floor((per10000 * count + 9999) / 10000);
    if (typeof summary[key] === "number" && rank > count - censored) return p;
  }
  return maxPercentile(count);
}

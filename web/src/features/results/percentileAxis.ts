// HdrHistogram's percentile plot: x = log10(1 / (1 − p)), so 90 %, 99 %, 99.9 %, 99.99 % are
// evenly spaced and the tail gets the room it deserves.
import type { LatencySummary } from "../../api/types";

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
    const p = Math.max(0.99999, 1 - 1 / summary.count);
    points.push({ p, x: percentileToX(p), us: summary.max });
  }
  return points;
}

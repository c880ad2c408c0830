import { describe, expect, it } from "vitest";
import type { PercentileCurve, PercentileCurves, Run } from "../../api/types";
import { alignSeries, curvesByRun, faultsOf, percentileData, sweepSeries, timelineData } from "./chartData";

const run = (system: string, extra: Partial<Run> = {}): Run => ({ run_id: `e.${system}`, system, driver: "redis", status: "succeeded", ...extra });

describe("chart data", () => {
  it("aligns series on one x column with gaps", () => {
    expect(alignSeries([{ x: [1, 2], y: [10, 20] }, { x: [2, 3], y: [5, 6] }])).toEqual([[1, 2, 3], [10, 20, null], [null, 5, 6]]);
  });

  it("takes each run's timeline, p99 in ms", () => {
    const a = run("a", { timeline: [{ t_s: 1, produced_per_s: 9, consumed_per_s: 10, p99_us: 2500 }] });
    expect(timelineData([a], "p99_us")).toEqual([[1], [2.5]]);
    expect(timelineData([a, run("b")], "consumed_per_s")).toEqual([[1], [10], [null]]);
  });

  it("puts end-to-end and publish percentiles of each run on the 1/(1-p) axis", () => {
    const summary = { count: 100000, mean: 1, p50: 100, p99: 1000, p999: 2000, p9999: 3000, max: 4000 };
    const { data, labels, dashed, colorIndex } = percentileData([run("a", { latency_us: summary, publish_latency_us: summary })], ["A"]);
    expect(labels).toEqual(["A end-to-end", "A publish"]);
    expect(dashed).toEqual([false, true]);
    expect(colorIndex).toEqual([0, 0]);
    expect((data[0] as number[]).map((x) => Math.round(x * 1000) / 1000)).toEqual([0.301, 2, 3, 4, 5]);
    expect(data[1]).toEqual([0.1, 1, 2, 3, 4]);
  });

  // A curve as GET /api/experiments/{id}/percentiles gives it (values in µs, percentile in %).
  const curve = (count: number, points: [number, number][], lowerFrom: number | null = null): PercentileCurve => ({
    count,
    censored: lowerFrom === null ? 0 : 1,
    lower_bound_from: lowerFrom,
    points: points.map(([percentile, value_us]) => ({ percentile, value_us, count, lower_bound: lowerFrom !== null && percentile >= lowerFrom })),
  });
  const answer = (runs: PercentileCurves["runs"]): PercentileCurves => ({ id: "e", contains: "", unit: "us", ticks_per_half_distance: 5, runs });

  it("plots a run's decoded curve rather than its summary, publish dashed, max at the last sample", () => {
    const summary = { count: 1000, mean: 1, p50: 100, p99: 1000, p999: 2000, p9999: 3000, max: 4000 };
    const e2e = curve(1000, [[0, 1], [50, 500], [90, 900], [99, 990], [99.90234375, 999], [100, 1000]]);
    const curves = curvesByRun([answer([{ run_id: "e.a", system: "a", end_to_end: e2e, publish: null }]), undefined]);
    const { data, labels, dashed, fromHistogram } = percentileData([run("a", { latency_us: summary, publish_latency_us: summary })], ["A"], curves);
    expect(labels).toEqual(["A end-to-end", "A publish"]);
    expect(dashed).toEqual([false, true]);
    expect(fromHistogram).toEqual([true, false]); // no publish curve: the summary's points
    const xs = (data[0] as number[]).map((x) => Math.round(x * 1000) / 1000);
    // The curve's levels 0, 50, 90, 99, 99.9023 %, and the max at p99.999 (1 - 1/1000 is before it);
    // the summary's 50, 99, 99.9, 99.99 % and its max at p99.999 too.
    expect(xs).toEqual([0, 0.301, 1, 2, 3, 3.01, 4, 5]);
    expect(data[1]).toEqual([0.001, 0.5, 0.9, 0.99, null, 0.999, null, 1]);
    expect(data[2]).toEqual([null, 0.1, null, 1, 2, null, 3, 4]);
  });

  it("lets the maximum replace a curve's last level when that level is further right", () => {
    // 10^6 samples: the last level (99.99990463 %) is past 1 - 1/10^6, where the max goes.
    const curves = curvesByRun([answer([{ run_id: "e.a", system: "a", end_to_end: curve(1_000_000, [[0, 1], [50, 5], [99.99990463256836, 10], [100, 12]]), publish: null }])]);
    const { data } = percentileData([run("a")], ["A"], curves);
    expect((data[0] as number[]).map((x) => Math.round(x * 1000) / 1000)).toEqual([0, 0.301, 6]);
    expect(data[1]).toEqual([0.001, 0.005, 0.012]);
  });

  it("says from which percentile a series is only a lower bound", () => {
    const curves = curvesByRun([answer([{ run_id: "e.a", system: "a", end_to_end: curve(1000, [[0, 1], [98.125, 981], [100, 5000]], 98.125), publish: null }])]);
    expect(percentileData([run("a")], ["A"], curves).labels).toEqual(["A end-to-end (≥ from 98.125%: messages missing at the deadline)"]);
    // Without a curve, the summary's censored count decides the same way as the table.
    const censored = { count: 1000, censored: 5, mean: 1, p50: 100, p99: 1000, p999: 2000, p9999: 3000, max: 4000 };
    expect(percentileData([run("b", { latency_us: censored })], ["B"]).labels).toEqual(["B end-to-end (≥ from 99.9%: messages missing at the deadline)"]);
  });

  it("marks applied faults only", () => {
    const faults = faultsOf([run("a", { faults: [{ at_s: 2, applied_at_s: 2.1, action: "kill" }, { at_s: 3, applied_at_s: null, action: "resume" }] })]);
    expect(faults).toEqual([{ at: 2.1, label: "kill" }]);
  });

  it("gives a sweep's mean and interval per point and system", () => {
    const metric = (mean: number) => ({ n: 3, mean, sd: 1, ci95: 2, ci95_low: mean - 2, ci95_high: mean + 2 });
    const stats = [
      { point: 1, system: "redis", metrics: { consumed_msgs_per_s: metric(20) } },
      { point: 0, system: "redis", metrics: { consumed_msgs_per_s: metric(10) } },
    ];
    expect(sweepSeries(stats, "consumed_msgs_per_s", (p) => [1, 16][p])).toEqual([{ system: "redis", x: [1, 16], mean: [10, 20], low: [8, 18], high: [12, 22] }]);
  });
});

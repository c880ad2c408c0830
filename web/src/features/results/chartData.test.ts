import { describe, expect, it } from "vitest";
import type { Run } from "../../api/types";
import { alignSeries, faultsOf, percentileData, sweepSeries, timelineData } from "./chartData";

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

import { describe, expect, it } from "vitest";
import { percentileLabel, percentilePoints, percentileTicks, percentileToX, xToPercentile } from "./percentileAxis";

describe("percentile axis, log 1/(1-p)", () => {
  it("spaces 90 %, 99 %, 99.9 % evenly", () => {
    expect(percentileToX(0)).toBe(0);
    expect(percentileToX(0.9)).toBeCloseTo(1, 10);
    expect(percentileToX(0.99)).toBeCloseTo(2, 10);
    expect(percentileToX(0.999)).toBeCloseTo(3, 10);
    expect(percentileToX(0.5)).toBeCloseTo(Math.log10(2), 10);
    expect(Number.isFinite(percentileToX(1))).toBe(true);
  });

  it("inverts", () => {
    for (const p of [0.5, 0.9, 0.99, 0.9999]) expect(xToPercentile(percentileToX(p))).toBeCloseTo(p, 10);
  });

  it("labels ticks as HdrHistogram plots do", () => {
    expect(percentileTicks(3.2)).toEqual([0, 1, 2, 3, 4]);
    expect(percentileTicks(4).map((x) => percentileLabel(xToPercentile(x)))).toEqual(["0%", "90%", "99%", "99.9%", "99.99%"]);
  });

  it("places a summary's percentiles, max at the last sample's rank", () => {
    const points = percentilePoints({ count: 4000, mean: 450, p50: 157, p90: 682, p99: 6111, p999: 8749, p9999: 9666, max: 9692 });
    expect(points.map((p) => p.us)).toEqual([157, 682, 6111, 8749, 9666, 9692]);
    expect(points.at(-1)!.p).toBeCloseTo(0.99999, 10); // 1 - 1/4000 is below p99.99: never before it
    const many = percentilePoints({ count: 1_000_000, mean: 1, p50: 1, p99: 2, p999: 3, p9999: 4, max: 5 });
    expect(many.at(-1)!.x).toBeCloseTo(6, 6);
    expect(percentilePoints({ count: 0, mean: 0, p50: 0, p99: 0, p999: 0, p9999: 0, max: 0 })).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { compareSearch, parseCompareRuns, toggleRun } from "./compareUrl";

describe("compare URL", () => {
  it("parses experiment:run pairs, skipping malformed and repeated ones", () => {
    expect(parseCompareRuns("?runs=20261202-023156-672d:20261202-023156-672d.redis-a,e2:e2.p1.r0.kafka,bad,:x,y:,e2:e2.p1.r0.kafka")).toEqual([
      { experimentId: "20261202-023156-672d", runId: "20261202-023156-672d.redis-a" },
      { experimentId: "e2", runId: "e2.p1.r0.kafka" },
    ]);
    expect(parseCompareRuns("")).toEqual([]);
    expect(parseCompareRuns("?other=1")).toEqual([]);
  });

  it("round-trips, readable", () => {
    const refs = [
      { experimentId: "a", runId: "a.redis" },
      { experimentId: "b", runId: "b.p0.r1.nats" },
    ];
    expect(compareSearch(refs)).toBe("?runs=a:a.redis,b:b.p0.r1.nats");
    expect(parseCompareRuns(compareSearch(refs))).toEqual(refs);
    expect(compareSearch([])).toBe("");
  });

  it("toggles a run in and out", () => {
    const a = { experimentId: "a", runId: "a.x" };
    expect(toggleRun([], a)).toEqual([a]);
    expect(toggleRun([a], { ...a })).toEqual([]);
  });
});

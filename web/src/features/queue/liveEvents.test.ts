import { act, renderHook } from "@testing-library/react";
import { createElement, type ReactNode } from "react";
import { describe, expect, it, vi } from "vitest";
import { ApiClient, TOKEN_KEY } from "../../api/client";
import { ApiContext } from "../../api/context";
import { applyEvent, initialLiveState } from "./liveEvents";
import { useExperimentEvents } from "./useExperimentEvents";

const progress = (system: string, consumed: number, p99: number) => ({
  system,
  phase: "running",
  elapsed_s: 1,
  total_s: 5,
  sent: 10,
  received: 10,
  produced_per_s: consumed,
  consumed_per_s: consumed,
  p99_us: p99,
});

describe("experiment events (SSE)", () => {
  it("tracks the experiment's and each system's state, progress series and log", () => {
    let live = applyEvent(initialLiveState, "state", { system: "", state: "provisioning" }, 0);
    live = applyEvent(live, "state", { system: "redis", state: "running" }, 0.5);
    live = applyEvent(live, "progress", progress("redis", 1000, 2500), 1);
    live = applyEvent(live, "progress", progress("redis", 1200, 3000), 2);
    live = applyEvent(live, "log", { line: "==> redis: running" }, 2);
    expect(live.state).toBe("running");
    expect(live.systemStates).toEqual({ redis: "running" });
    expect(live.progress.redis.consumed_per_s).toBe(1200);
    expect(live.series.redis).toEqual({ t: [1, 2], produced: [1000, 1200], consumed: [1000, 1200], p99_ms: [2.5, 3] });
    expect(live.log).toEqual(["==> redis: running"]);
    expect(live.finished).toBe(false);
    live = applyEvent(live, "state", { system: "", state: "failed", error: "broker did not start" }, 3);
    expect(live).toMatchObject({ state: "failed", error: "broker did not start", finished: true });
    expect(applyEvent(live, "unknown", {}, 4)).toBe(live);
  });

  it("opens the stream, follows it and closes it at a final state", () => {
    const listeners = new Map<string, (e: MessageEvent) => void>();
    const source = {
      addEventListener: (type: string, fn: (e: MessageEvent) => void) => listeners.set(type, fn),
      removeEventListener: vi.fn(),
      close: vi.fn(),
    };
    const makeSource = vi.fn(() => source as unknown as EventSource);
    const onFinished = vi.fn();
    const { result, unmount } = renderHook(() => useExperimentEvents("exp-1", onFinished, makeSource));
    expect(makeSource).toHaveBeenCalledWith("/api/experiments/exp-1/events");
    const send = (type: string, data: unknown) => act(() => listeners.get(type)!(new MessageEvent(type, { data: JSON.stringify(data) })));
    send("state", { system: "", state: "running" });
    send("progress", progress("redis", 500, 1000));
    send("log", { line: "hello" });
    expect(result.current.state).toBe("running");
    expect(result.current.progress.redis.consumed_per_s).toBe(500);
    expect(result.current.log).toEqual(["hello"]);
    expect(source.close).not.toHaveBeenCalled();
    send("state", { system: "", state: "succeeded", error: "" });
    expect(source.close).toHaveBeenCalled();
    expect(onFinished).toHaveBeenCalledWith("succeeded");
    unmount();
  });

  it("ignores data that is not JSON", () => {
    const listeners = new Map<string, (e: MessageEvent) => void>();
    const source = { addEventListener: (t: string, fn: (e: MessageEvent) => void) => listeners.set(t, fn), removeEventListener: () => {}, close: () => {} };
    const { result } = renderHook(() => useExperimentEvents("x", undefined, () => source as unknown as EventSource));
    act(() => listeners.get("log")!(new MessageEvent("log", { data: "not json" })));
    expect(result.current.log).toEqual([]);
  });

  it("sends the token in the stream's URL and opens it again once refused", () => {
    vi.useFakeTimers();
    const data = new Map<string, string>([[TOKEN_KEY, "s3cret"]]);
    const api = new ApiClient({ storage: { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) } });
    const sources: { url: string; readyState: number; onerror: (() => void) | null; close: () => void }[] = [];
    const makeSource = vi.fn((url: string) => {
      const source = { url, readyState: 0, onerror: null, addEventListener: () => {}, removeEventListener: () => {}, close: vi.fn() };
      sources.push(source);
      return source as unknown as EventSource;
    });
    const wrapper = ({ children }: { children: ReactNode }) => createElement(ApiContext.Provider, { value: api }, children);
    const { unmount } = renderHook(() => useExperimentEvents("exp-1", undefined, makeSource), { wrapper });
    expect(makeSource).toHaveBeenLastCalledWith("/api/experiments/exp-1/events?access_token=s3cret");
    // Refused (a wrong token): the user types another, and the stream is opened again with it.
    data.set(TOKEN_KEY, "right");
    sources[0].readyState = 2;
    act(() => sources[0].onerror!());
    act(() => void vi.advanceTimersByTime(2500));
    expect(makeSource).toHaveBeenCalledTimes(2);
    expect(makeSource).toHaveBeenLastCalledWith("/api/experiments/exp-1/events?access_token=right");
    unmount();
    vi.useRealTimers();
  });
});

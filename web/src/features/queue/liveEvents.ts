// What an experiment's event stream (GET /api/experiments/{id}/events) has said so far:
// `state` {system, state, error?} (system "" = the experiment), `progress` {system, phase,
// elapsed_s, total_s, sent, received, produced_per_s, consumed_per_s, p99_us} once a second, and
// `log` {line}. Each system's progress accumulates into a series for the live charts.
import type { Progress } from "../../api/types";
import { isFinal } from "../../api/types";

export interface LiveSeries {
  t: number[]; // seconds since the stream opened
  produced: number[];
  consumed: number[];
  p99_ms: number[];
}

export interface LiveState {
  state: string | null;
  error: string;
  systemStates: Record<string, string>;
  progress: Record<string, Progress>;
  series: Record<string, LiveSeries>;
  log: string[];
  finished: boolean;
}

export const initialLiveState: LiveState = {
  state: null,
  error: "",
  systemStates: {},
  progress: {},
  series: {},
  log: [],
  finished: false,
};

const MAX_LOG_LINES = 200;
const MAX_POINTS = 3600;

export function applyEvent(live: LiveState, type: string, data: unknown, nowS: number): LiveState {
  const event = (data ?? {}) as Record<string, unknown>;
  switch (type) {
    case "state": {
      const system = String(event.system ?? "");
      const state = String(event.state ?? "");
      // A system's phase is the experiment's phase while it runs (the server announces the
      // experiment's own state only when queued and at the end).
      if (system) {
        return {
          ...live,
          state: live.finished ? live.state : state,
          systemStates: { ...live.systemStates, [system]: state },
        };
      }
      return {
        ...live,
        state,
        error: typeof event.error === "string" ? event.error : live.error,
        finished: isFinal(state),
      };
    }
    case "progress": {
      const progress = event as unknown as Progress;
      const system = String(progress.system ?? "");
      const old = live.series[system] ?? { t: [], produced: [], consumed: [], p99_ms: [] };
      const keep = (values: number[], value: number) => [...values, value].slice(-MAX_POINTS);
      const series: LiveSeries = {
        t: keep(old.t, nowS),
        produced: keep(old.produced, progress.produced_per_s),
        consumed: keep(old.consumed, progress.consumed_per_s),
        p99_ms: keep(old.p99_ms, progress.p99_us / 1000),
      };
      return {
        ...live,
        progress: { ...live.progress, [system]: progress },
        series: { ...live.series, [system]: series },
      };
    }
    case "log":
      return { ...live, log: [...live.log, String(event.line ?? "")].slice(-MAX_LOG_LINES) };
    default:
      return live;
  }
}

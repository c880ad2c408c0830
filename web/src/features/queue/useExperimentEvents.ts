// Follows an experiment's server-sent events with EventSource (no polling) until it ends.
import { useEffect, useReducer } from "react";
import { applyEvent, initialLiveState, type LiveState } from "./liveEvents";

type Action = { type: string; data: unknown; nowS: number } | { type: "reset" };

function reducer(live: LiveState, action: Action): LiveState {
  if (action.type === "reset") return initialLiveState;
  const { type, data, nowS } = action as { type: string; data: unknown; nowS: number };
  return applyEvent(live, type, data, nowS);
}

export function useExperimentEvents(
  id: string | null,
  onFinished?: (state: string) => void,
  makeSource: (url: string) => EventSource = (url) => new EventSource(url),
): LiveState {
  const [live, dispatch] = useReducer(reducer, initialLiveState);
  useEffect(() => {
    dispatch({ type: "reset" });
    if (!id) return;
    const source = makeSource(`/api/experiments/${encodeURIComponent(id)}/events`);
    const opened = Date.now();
    const listener = (type: string) => (event: MessageEvent) => {
      let data: unknown = null;
      try {
        data = JSON.parse(event.data as string);
      } catch {
        return;
      }
      dispatch({ type, data, nowS: (Date.now() - opened) / 1000 });
      if (type === "state") {
        const state = (data as { system?: string; state?: string }) ?? {};
        if (!state.system && state.state && ["succeeded", "failed", "cancelled"].includes(state.state)) {
          // The server ends the stream at a final state; don't let EventSource reconnect.
          source.close();
          onFinished?.(state.state);
        }
      }
    };
    const handlers = ["state", "progress", "log"].map((type) => [type, listener(type)] as const);
    for (const [type, handler] of handlers) source.addEventListener(type, handler as EventListener);
    return () => {
      for (const [type, handler] of handlers) source.removeEventListener(type, handler as EventListener);
      source.close();
    };
    // onFinished and makeSource are callbacks of the caller; a new id is a new stream.
  }, [id]);
  return live;
}

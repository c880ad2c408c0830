// Follows an experiment's server-sent events with EventSource (no polling) until it ends.
import { useEffect, useReducer } from "react";
import { useApi } from "../../api/context";
import { applyEvent, initialLiveState, type LiveState } from "./liveEvents";

type Action = { type: string; data: unknown; nowS: number } | { type: "reset" };

function reducer(live: LiveState, action: Action): LiveState {
  if (action.type === "reset") return initialLiveState;
  const { type, data, nowS } = action as { type: string; data: unknown; nowS: number };
  return applyEvent(live, type, data, nowS);
}

// EventSource cannot send an Authorization header: the token goes in the URL (?access_token=).
// A stream refused for good (401 before the token was typed, the server restarting) is opened
// again after a pause, with the token as it is then.
const REOPEN_AFTER_MS = 2000;
const CLOSED = 2; // EventSource.CLOSED

export function useExperimentEvents(
  id: string | null,
  onFinished?: (state: string) => void,
  makeSource: (url: string) => EventSource = (url) => new EventSource(url),
): LiveState {
  const api = useApi();
  const [live, dispatch] = useReducer(reducer, initialLiveState);
  useEffect(() => {
    dispatch({ type: "reset" });
    if (!id) return;
    let source: EventSource | null = null;
    let reopen: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
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
          ended = true;
          source?.close();
          onFinished?.(state.state);
        }
      }
    };
    const handlers = ["state", "progress", "log"].map((type) => [type, listener(type)] as const);
    const open = () => {
      const current = makeSource(api.authorizedUrl(`/api/experiments/${encodeURIComponent(id)}/events`));
      source = current;
      for (const [type, handler] of handlers) current.addEventListener(type, handler as EventListener);
      current.onerror = () => {
        if (ended || current.readyState !== CLOSED) return;
        for (const [type, handler] of handlers) current.removeEventListener(type, handler as EventListener);
        reopen = setTimeout(() => {
          // The server sends the whole story again from its start.
          dispatch({ type: "reset" });
          open();
        }, REOPEN_AFTER_MS);
      };
    };
    open();
    return () => {
      ended = true;
      clearTimeout(reopen);
      if (!source) return;
      for (const [type, handler] of handlers) source.removeEventListener(type, handler as EventListener);
      source.close();
    };
    // onFinished and makeSource are callbacks of the caller; a new id is a new stream.
  }, [id]);
  return live;
}

// /compare?runs=<experimentId>:<runId>,… — the shareable list of runs the compare page shows.
export interface RunRef {
  experimentId: string;
  runId: string;
}

export function parseCompareRuns(search: string): RunRef[] {
  const value = new URLSearchParams(search).get("runs") ?? "";
  const refs: RunRef[] = [];
  for (const item of value.split(",")) {
    const colon = item.indexOf(":");
    if (colon <= 0 || colon === item.length - 1) continue;
    const ref = { experimentId: item.slice(0, colon).trim(), runId: item.slice(colon + 1).trim() };
    if (ref.experimentId && ref.runId && !refs.some((r) => sameRun(r, ref))) refs.push(ref);
  }
  return refs;
}

export function compareSearch(refs: RunRef[]): string {
  if (refs.length === 0) return "";
  // Ids and run ids are [A-Za-z0-9._-]; keep ":" and "," readable in the shared URL.
  const runs = refs.map((r) => `${encodeURIComponent(r.experimentId)}:${encodeURIComponent(r.runId)}`).join(",");
  return `?runs=${runs}`;
}

export const sameRun = (a: RunRef, b: RunRef) => a.experimentId === b.experimentId && a.runId === b.runId;

export function toggleRun(refs: RunRef[], ref: RunRef): RunRef[] {
  return refs.some((r) => sameRun(r, ref)) ? refs.filter((r) => !sameRun(r, ref)) : [...refs, ref];
}

// Words for a run's figures, as the CLI table puts them (src/report/results.cpp).
import type { Results, Run } from "../../api/types";

const FAILURES: [keyof NonNullable<Run["delivery"]>, string][] = [
  ["lost", "lost"],
  ["duplicated", "dup"],
  ["reordered", "reordered"],
  ["corrupt", "corrupt"],
  ["send_errors", "send errors"],
];

// "ok", "ok, 120 redelivered", "incomplete: 24 undelivered at deadline", "FAILED: 3 lost".
export function deliveryText(run: Run): string {
  const d = run.delivery;
  if (!d) return "–";
  const failures = FAILURES.filter(([key]) => (d[key] ?? 0) > 0).map(([key, label]) => `${(d[key] ?? 0).toLocaleString("en-US")} ${label}`);
  const undelivered = d.undelivered ?? 0;
  let text = failures.length > 0 ? `FAILED: ${failures.join(", ")}` : undelivered > 0 ? `incomplete: ${undelivered.toLocaleString("en-US")} undelivered at deadline` : "ok";
  if (failures.length > 0 && undelivered > 0) text += `, ${undelivered.toLocaleString("en-US")} undelivered`;
  if ((d.redelivered ?? 0) > 0) text += `, ${d.redelivered!.toLocaleString("en-US")} redelivered`;
  return text;
}

export const deliveryOk = (run: Run) => deliveryText(run).startsWith("ok");

export function targetText(met: boolean | null | undefined): string {
  if (met === undefined) return "–";
  if (met === null) return "not measured";
  return met ? "met" : "MISSED";
}

export function runLabel(run: Run, results: Results): string {
  const sweep = (results.points?.length ?? 0) > 1 || (results.repeats ?? 1) > 1;
  return sweep ? `${run.system} p${run.point ?? 0} r${run.repeat ?? 0}` : run.system;
}

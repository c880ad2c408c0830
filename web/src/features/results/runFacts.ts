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

// One line for the history list: how the experiment's runs went.
export function verdictOf(results: Results | null | undefined): string {
  if (!results || results.runs.length === 0) return "";
  const runs = results.runs;
  const failed = runs.filter((r) => r.status !== "succeeded").length;
  const badDelivery = runs.filter((r) => r.status === "succeeded" && !deliveryOk(r)).length;
  const targets = runs.flatMap((r) => [r.targets?.p99_latency_met, r.targets?.min_throughput_met]).filter((t) => t !== undefined);
  const missed = targets.filter((t) => t === false).length;
  const parts = [`${runs.length - failed}/${runs.length} runs succeeded`];
  if (badDelivery > 0) parts.push(`${badDelivery} with delivery problems`);
  if (targets.length > 0) parts.push(missed > 0 ? `${missed} target(s) missed` : "targets met");
  return parts.join(", ");
}

export function runLabel(run: Run, results: Results): string {
  const sweep = (results.points?.length ?? 0) > 1 || (results.repeats ?? 1) > 1;
  return sweep ? `${run.system} p${run.point ?? 0} r${run.repeat ?? 0}` : run.system;
}

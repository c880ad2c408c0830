// Systems side by side: the figures of the CLI table, one column per run.
import type { Run } from "../../api/types";
import { formatLatencyUs, formatRate, formatUsd } from "../../components/format";
import { deliveryText, targetText } from "./runFacts";
import { TableScroll } from "../../components/TableScroll";

interface Row {
  label: string;
  metric: string; // data-metric, for tests and for people reading the DOM
  cell: (run: Run) => string;
  bad?: (run: Run) => boolean;
}

const lat = (run: Run, key: "p50" | "p90" | "p99" | "p999" | "p9999" | "max", publish = false) => {
  const summary = publish ? run.publish_latency_us : run.latency_us;
  if (!summary || !summary.count || run.status !== "succeeded") return "–";
  return formatLatencyUs(summary[key]);
};

const ROWS: Row[] = [
  { label: "driver", metric: "driver", cell: (r) => r.driver },
  { label: "served by", metric: "served_by", cell: (r) => r.served_by ?? "–" },
  { label: "status", metric: "status", cell: (r) => r.status + (r.error ? `: ${r.error}` : ""), bad: (r) => r.status !== "succeeded" },
  { label: "offered msg/s", metric: "offered_per_s", cell: (r) => (r.window?.offered_per_s ? formatRate(r.window.offered_per_s) : "max") },
  { label: "produced msg/s", metric: "produced_msgs_per_s", cell: (r) => formatRate(r.throughput?.produced_msgs_per_s) },
  { label: "consumed msg/s", metric: "consumed_msgs_per_s", cell: (r) => formatRate(r.throughput?.consumed_msgs_per_s) },
  { label: "produced MB/s", metric: "produced_mb_per_s", cell: (r) => r.throughput?.produced_mb_per_s?.toFixed(2) ?? "–" },
  { label: "consumed MB/s", metric: "consumed_mb_per_s", cell: (r) => r.throughput?.consumed_mb_per_s?.toFixed(2) ?? "–" },
  {
    label: "offered / sent late / unsent",
    metric: "window",
    cell: (r) => (r.window ? `${formatRate(r.window.offered)} / ${formatRate(r.window.sent_late)} / ${formatRate(r.window.unsent)}` : "–"),
  },
  {
    label: "rate sustained",
    metric: "rate_sustained",
    cell: (r) => (r.window?.rate_sustained === null || r.window?.rate_sustained === undefined ? "–" : r.window.rate_sustained ? "yes" : "NO"),
    bad: (r) => r.window?.rate_sustained === false,
  },
  { label: "latency p50", metric: "latency_p50", cell: (r) => lat(r, "p50") },
  { label: "latency p90", metric: "latency_p90", cell: (r) => lat(r, "p90") },
  { label: "latency p99", metric: "latency_p99", cell: (r) => lat(r, "p99") },
  { label: "latency p99.9", metric: "latency_p999", cell: (r) => lat(r, "p999") },
  { label: "latency p99.99", metric: "latency_p9999", cell: (r) => lat(r, "p9999") },
  { label: "latency max", metric: "latency_max", cell: (r) => lat(r, "max") },
  { label: "publish p50", metric: "publish_p50", cell: (r) => lat(r, "p50", true) },
  { label: "publish p99", metric: "publish_p99", cell: (r) => lat(r, "p99", true) },
  { label: "sent / received", metric: "sent_received", cell: (r) => (r.delivery ? `${formatRate(r.delivery.sent)} / ${formatRate(r.delivery.received)}` : "–") },
  { label: "delivery check", metric: "delivery", cell: deliveryText, bad: (r) => !deliveryText(r).startsWith("ok") && deliveryText(r) !== "–" },
  { label: "target p99", metric: "target_p99", cell: (r) => targetText(r.targets?.p99_latency_met), bad: (r) => r.targets?.p99_latency_met === false },
  { label: "target throughput", metric: "target_throughput", cell: (r) => targetText(r.targets?.min_throughput_met), bad: (r) => r.targets?.min_throughput_met === false },
  { label: "cost/hour (estimate)", metric: "cost_per_hour", cell: (r) => (r.cost ? formatUsd(r.cost.per_hour_usd) : "–") },
  { label: "cost/1M msgs (estimate)", metric: "cost_per_million", cell: (r) => (r.cost ? formatUsd(r.cost.per_million_messages_usd) : "–") },
];

export function RunsTable({ runs, labels, caption }: { runs: Run[]; labels: string[]; caption: string }) {
  const rows = ROWS.filter((row) => runs.some((r) => row.cell(r) !== "–"));
  return (
    <TableScroll label={caption}>
      <table className="runs">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">figure</th>
            {runs.map((run, i) => (
              <th scope="col" key={run.run_id}>
                {labels[i]}
                {run.emulated && (
                  <span className="badge emulated" title="served by a local stand-in: its figures are not the product's">
                    EMULATED
                  </span>
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.metric}>
              <th scope="row">{row.label}</th>
              {runs.map((run) => (
                <td key={run.run_id} data-metric={row.metric} data-run={run.run_id} className={row.bad?.(run) ? "bad" : undefined}>
                  {row.cell(run)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

// The interactive part of report.html: the web app's table and charts, drawn from the results and
// percentile curves the page embeds (no server, no network), so a report file opened from disk
// shows what the results page shows.
import { useMemo } from "react";
import { curvesByRun } from "../features/results/chartData";
import { RunCharts } from "../features/results/RunCharts";
import { RunsTable } from "../features/results/RunsTable";
import { runLabel } from "../features/results/runFacts";
import { SweepSection } from "../features/results/SweepSection";
import type { EmbeddedReport } from "./embedded";

export function ReportApp({ results, percentiles }: EmbeddedReport) {
  const runs = results.runs;
  const labels = useMemo(() => runs.map((r) => runLabel(r, results)), [runs, results]);
  const curves = useMemo(() => curvesByRun([percentiles]), [percentiles]);
  const sweep = (results.stats?.length ?? 0) > 0;
  return (
    <section aria-label="Interactive table and charts" className="report">
      <h2>Systems side by side</h2>
      <RunsTable runs={runs} labels={labels} caption={`${runs.length} run(s) of ${results.experiment}`} />
      <h2>Over time and by percentile</h2>
      <RunCharts runs={runs} labels={labels} curves={curves} />
      {sweep && <SweepSection results={results} />}
    </section>
  );
}

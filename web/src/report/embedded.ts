// The data report.html embeds for its interactive part: the results document and every run's
// percentile curves, as the server renders them (src/server/report_html.cpp).
import type { PercentileCurves, Results } from "../api/types";

export const EMBEDDED_ID = "dec-results";

export interface EmbeddedReport {
  results: Results;
  percentiles: PercentileCurves | null;
  state?: string;
  error?: string;
}

// The page's <script type="application/json" id="dec-results">; null when it is missing or is
// not a results document (the page then keeps its SVG-free text table only).
export function readEmbedded(doc: Document): EmbeddedReport | null {
  const text = doc.getElementById(EMBEDDED_ID)?.textContent;
  if (!text) return null;
  try {
    const parsed = JSON.parse(text) as Partial<EmbeddedReport>;
    if (!parsed.results || !Array.isArray(parsed.results.runs)) return null;
    return { results: parsed.results, percentiles: parsed.percentiles ?? null, state: parsed.state, error: parsed.error };
  } catch {
    return null;
  }
}

// Entry of the report bundle (vite.report.config.ts → dist/report/report.js): report.html inlines
// it after its embedded data and an empty #dec-report, which it fills.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { readEmbedded } from "./embedded";
import { ReportApp } from "./ReportApp";
import "../styles.css";

const root = document.getElementById("dec-report");
const embedded = readEmbedded(document);
if (root && embedded) {
  createRoot(root).render(
    <StrictMode>
      <ReportApp {...embedded} />
    </StrictMode>,
  );
}

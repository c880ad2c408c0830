// The report bundle: one self-contained script (IIFE, styles inside, no chunks) that report.html
// inlines, so a report opened from disk draws the web app's charts with no network. Built after
// the app by `npm run build` into dist/report/report.js; `dec serve --web dist` finds it there.
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

// Moves the emitted CSS into the script, which adds it to the page as a <style> element.
function stylesIntoScript(): Plugin {
  return {
    name: "dec-styles-into-script",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      let css = "";
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type === "asset" && name.endsWith(".css")) {
          css += typeof item.source === "string" ? item.source : new TextDecoder().decode(item.source);
          delete bundle[name];
        }
      }
      if (!css) return;
      for (const item of Object.values(bundle)) {
        if (item.type === "chunk" && item.isEntry) {
          item.code = `(function(){var s=document.createElement("style");s.textContent=${JSON.stringify(css)};document.head.appendChild(s)})();\n${item.code}`;
        }
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), stylesIntoScript()],
  // A library build leaves process.env alone; React reads NODE_ENV.
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  publicDir: false,
  build: {
    outDir: "dist/report",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    lib: { entry: "src/report/main.tsx", formats: ["iife"], name: "decReport", fileName: () => "report.js" },
  },
});

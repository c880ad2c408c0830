import { describe, expect, it } from "vitest";
import { readEmbedded } from "./embedded";

const page = (json: string) => {
  const doc = document.implementation.createHTMLDocument("report");
  doc.body.innerHTML = `<div id="dec-report"></div><script type="application/json" id="dec-results">${json}</script>`;
  return doc;
};

describe("report.html's embedded data", () => {
  it("reads the results and curves, \\u-escaped text included", () => {
    // As the server writes it: '<' and '>' escaped, so a name holding </script> stays inside.
    const json = '{"results":{"id":"e","experiment":"x\\u003c/script\\u003e","runs":[]},"percentiles":null,"state":"succeeded","error":""}';
    const embedded = readEmbedded(page(json));
    expect(embedded?.results.experiment).toBe("x</script>");
    expect(embedded?.percentiles).toBeNull();
    expect(embedded?.state).toBe("succeeded");
  });

  it("is null for a page without results", () => {
    expect(readEmbedded(page("not json"))).toBeNull();
    expect(readEmbedded(page('{"results":{}}'))).toBeNull();
    expect(readEmbedded(document.implementation.createHTMLDocument("empty"))).toBeNull();
  });
});

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ApiClient } from "../../api/client";
import { ApiContext } from "../../api/context";
import { NewExperimentPage } from "./NewExperimentPage";

const drivers = {
  drivers: [
    { name: "redis", label: "Redis Streams", emulated: false, config_keys: [{ name: "pipeline", description: "XADDs in flight", default: "1" }], variants: [] },
    { name: "kinesis", label: "Amazon Kinesis", emulated: true, config_keys: [], variants: [] },
  ],
};

function renderPage(handler: (url: string, init?: RequestInit) => Response) {
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => handler(String(url), init));
  const api = new ApiClient({ fetch: fetch as typeof globalThis.fetch });
  render(
    <ApiContext.Provider value={api}>
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <NewExperimentPage search="" />
      </QueryClientProvider>
    </ApiContext.Provider>,
  );
  return fetch;
}
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });

describe("New experiment page", () => {
  it("shows each API error next to the field its path names, and all at the top", async () => {
    const fetch = renderPage((url) => {
      if (url === "/api/drivers") return json(200, drivers);
      if (url === "/api/experiments") return json(400, {
        error: "invalid spec: workload.rate: expected a rate",
        errors: [
          { path: "workload.rate", message: "expected a rate such as 1000 or 5k/s" },
          { path: "systems[redis].config.pipeline", message: "expected an integer ≥ 1" },
        ],
      });
      return json(404, { error: "no such endpoint" });
    });
    await screen.findByRole("option", { name: "Redis Streams" });
    fireEvent.change(screen.getByLabelText("Rate"), { target: { value: "fast" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit" }));
    const summary = await screen.findByRole("alert");
    expect(within(summary).getByText("workload.rate")).toBeTruthy();
    const rate = screen.getByLabelText("Rate");
    expect(rate.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(rate.getAttribute("aria-describedby")!.split(" ").at(-1)!)!.textContent).toContain("expected a rate such as 1000");
    const pipeline = screen.getByLabelText("pipeline");
    expect(pipeline.getAttribute("aria-invalid")).toBe("true");
    const body = JSON.parse(fetch.mock.calls.find(([u]) => u === "/api/experiments")![1]!.body as string);
    expect(body.workload.rate).toBe("fast");
    expect(screen.queryByLabelText("Start from an example")).toBeNull(); // /api/examples is 404 here
  });

  it("keeps the form and the YAML editor in sync", async () => {
    renderPage((url) => (url === "/api/drivers" ? json(200, drivers) : json(404, { error: "no" })));
    fireEvent.change(screen.getByLabelText("Producers"), { target: { value: "4" } });
    fireEvent.click(screen.getByRole("tab", { name: "YAML / JSON" }));
    const editor = screen.getByLabelText(/Spec \(YAML\)/) as HTMLTextAreaElement;
    expect(editor.value).toContain("producers: 4");
    fireEvent.change(editor, { target: { value: editor.value.replace("producers: 4", "producers: 6") } });
    fireEvent.click(screen.getByRole("tab", { name: "Form" }));
    expect((screen.getByLabelText("Producers") as HTMLInputElement).value).toBe("6");
    fireEvent.click(screen.getByRole("tab", { name: "YAML / JSON" }));
    fireEvent.click(screen.getByLabelText("JSON"));
    expect((screen.getByLabelText(/Spec \(JSON\)/) as HTMLTextAreaElement).value).toContain('"producers": 6');
    fireEvent.change(screen.getByLabelText(/Spec \(JSON\)/), { target: { value: "{ broken" } });
    expect(screen.getByRole("alert").textContent).toMatch(/JSON/);
    expect((screen.getByRole("button", { name: "Submit" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows the plan preview", async () => {
    renderPage((url) => {
      if (url === "/api/drivers") return json(200, drivers);
      if (url === "/api/plan") return json(200, { runs: 2, estimated_s: 30, headline: "2 systems, 1 point", warnings: ["workload.keys: few keys"], systems: [{ name: "redis", point: null, plan: "+ service.redis.0" }] });
      return json(404, { error: "no" });
    });
    fireEvent.click(screen.getByRole("button", { name: "Plan" }));
    const plan = await screen.findByRole("region", { name: "Plan" });
    expect(plan.textContent).toContain("2 run(s)");
    expect(plan.textContent).toContain("30 s");
    expect(plan.textContent).toContain("+ service.redis.0");
    expect(plan.textContent).toContain("workload.keys: few keys");
  });

  it("adds faults to the spec, with a bandwidth only for throttle, and shows their errors in place", async () => {
    const fetch = renderPage((url) => {
      if (url === "/api/drivers") return json(200, drivers);
      if (url === "/api/experiments") return json(400, { error: "invalid spec", errors: [{ path: "faults[0].at", message: "75s is not inside the run" }] });
      return json(404, { error: "no" });
    });
    await screen.findByRole("option", { name: "Redis Streams" });
    fireEvent.click(screen.getByRole("button", { name: "Add a fault" }));
    expect(screen.queryByLabelText("Fault 1 bandwidth")).toBeNull();
    fireEvent.change(screen.getByLabelText("Fault 1 action"), { target: { value: "throttle" } });
    fireEvent.change(screen.getByLabelText("Fault 1 bandwidth"), { target: { value: "10Mbit" } });
    fireEvent.change(screen.getByLabelText("Fault 1 at"), { target: { value: "75s" } });
    fireEvent.change(screen.getByLabelText("Fault 1 system"), { target: { value: "redis" } });
    fireEvent.click(screen.getByRole("tab", { name: "YAML / JSON" }));
    const editor = screen.getByLabelText(/Spec \(YAML\)/) as HTMLTextAreaElement;
    expect(editor.value).toMatch(/faults:\n\s+- at: 75s\n\s+action: throttle\n\s+target: 0\n\s+bandwidth: 10Mbit\n\s+system: redis/);
    fireEvent.click(screen.getByRole("tab", { name: "Form" }));
    fireEvent.change(screen.getByLabelText("Fault 1 action"), { target: { value: "kill" } });
    expect(screen.queryByLabelText("Fault 1 bandwidth")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Submit" }));
    await screen.findByRole("alert");
    expect(screen.getByLabelText("Fault 1 at").getAttribute("aria-invalid")).toBe("true");
    const body = JSON.parse(fetch.mock.calls.find(([u]) => u === "/api/experiments")![1]!.body as string);
    expect(body.faults).toEqual([{ at: "75s", action: "kill", target: 0, system: "redis" }]);
    fireEvent.click(screen.getByRole("button", { name: "Remove fault 1" }));
    expect(screen.queryByLabelText("Fault 1 at")).toBeNull();
  });
});

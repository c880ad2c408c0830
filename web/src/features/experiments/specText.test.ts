import { describe, expect, it } from "vitest";
import { fieldValue, formatSpec, getPath, matrixRows, parseSpecText, setPath, withMatrixRows } from "./specText";

const spec = {
  name: "sync",
  workload: { message_size: "512B", producers: 2, rate: "find-max" },
  systems: [{ name: "a", driver: "redis", config: { pipeline: 16 } }],
  faults: [{ at: "3s", action: "kill" }],
};

describe("spec text (YAML/JSON editor)", () => {
  it("round-trips YAML and JSON without losing fields the form does not show", () => {
    for (const format of ["yaml", "json"] as const) {
      const parsed = parseSpecText(formatSpec(spec, format), format);
      expect(parsed).toEqual({ ok: true, spec });
    }
  });

  it("a form edit shows in the editor text, an editor edit in the form", () => {
    const edited = setPath(spec, "systems[0].deploy.nodes", fieldValue("3"));
    expect(formatSpec(edited, "yaml")).toContain("nodes: 3");
    expect(edited.faults).toEqual(spec.faults);
    const parsed = parseSpecText(formatSpec(edited, "yaml").replace("producers: 2", "producers: 8"), "yaml");
    expect(parsed.ok && getPath(parsed.spec, "workload.producers")).toBe(8);
  });

  it("reports the line of a syntax error and keeps the spec", () => {
    const yaml = parseSpecText("name: x\nworkload: {producers: 2\nsystems: []\n", "yaml");
    expect(yaml.ok).toBe(false);
    expect(!yaml.ok && yaml.line).toBeGreaterThanOrEqual(2);
    const json = parseSpecText('{\n  "name": "x",\n  "workload": \n}', "json");
    expect(json.ok).toBe(false);
    expect(!json.ok && json.message).toMatch(/^JSON: /);
    expect(parseSpecText("- a\n- b\n", "yaml")).toMatchObject({ ok: false, message: expect.stringContaining("mapping") });
  });

  it("clears a field (and empty parents) when its input is emptied", () => {
    const withNodes = setPath(spec, "systems[0].deploy.nodes", 3);
    const cleared = setPath(withNodes, "systems[0].deploy.nodes", fieldValue(""));
    expect(cleared.systems[0]).toEqual(spec.systems[0]);
    expect(setPath(spec, "targets.p99_latency", "10ms").targets).toEqual({ p99_latency: "10ms" });
    expect(setPath(spec, "systems[0]", undefined).systems).toEqual([]);
  });

  it("keeps units as text and numbers as numbers", () => {
    expect(fieldValue("10")).toBe(10);
    expect(fieldValue("0.5")).toBe(0.5);
    expect(fieldValue(" 1KiB ")).toBe("1KiB");
    expect(fieldValue("find-max")).toBe("find-max");
    expect(fieldValue("")).toBeUndefined();
  });

  it("edits the matrix as path = comma list", () => {
    const swept = withMatrixRows(spec, [{ path: "systems[a].config.pipeline", values: "1, 16,64" }, { path: " ", values: "x" }]);
    expect(swept.matrix).toEqual({ "systems[a].config.pipeline": [1, 16, 64] });
    expect(matrixRows(swept)).toEqual([{ path: "systems[a].config.pipeline", values: "1, 16, 64" }]);
    expect(withMatrixRows(swept, []).matrix).toBeUndefined();
  });
});

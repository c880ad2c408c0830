import { describe, expect, it } from "vitest";
import { assignErrors, normalizeErrorPath, parentPath } from "./fieldErrors";

const spec = { systems: [{ name: "kafka-a", driver: "kafka" }, { name: "redis", driver: "redis" }] };
const fields = ["name", "workload.rate", "systems[0]", "systems[0].deploy.nodes", "systems[1]", "systems[1].config.pipeline", "systems"];

describe("API field errors to form fields", () => {
  it("maps a system named in the path to its index", () => {
    expect(normalizeErrorPath("systems[redis].config.pipeline", spec)).toBe("systems[1].config.pipeline");
    expect(normalizeErrorPath("systems[0].deploy.nodes", spec)).toBe("systems[0].deploy.nodes");
    expect(normalizeErrorPath("systems[nope].x", spec)).toBe("systems[nope].x");
  });

  it("puts each error next to its field, or the nearest enclosing one, else at the top", () => {
    const { byField, general } = assignErrors(
      [
        { path: "workload.rate", message: "expected a rate" },
        { path: "systems[redis].config.pipeline", message: "expected an integer" },
        { path: "systems[0].deploy.settings.hosts", message: "expected auto, true or false" },
        { path: "faults[0].at", message: "after the run" },
      ],
      fields,
      spec,
    );
    expect(byField.get("workload.rate")).toEqual(["expected a rate"]);
    expect(byField.get("systems[1].config.pipeline")).toEqual(["systems[redis].config.pipeline: expected an integer"]);
    expect(byField.get("systems[0]")).toEqual(["systems[0].deploy.settings.hosts: expected auto, true or false"]);
    expect(general).toEqual([{ path: "faults[0].at", message: "after the run" }]);
  });

  it("walks up paths", () => {
    expect(parentPath("systems[0].deploy.nodes")).toBe("systems[0].deploy");
    expect(parentPath("systems[0]")).toBe("systems");
    expect(parentPath("name")).toBe("");
  });
});

// The spec's `faults`: what goes wrong during each system's run (docs/spec.md, faults[i]). One
// row per fault; the time, node and bandwidth are plain fields (the API checks them and its
// errors land next to them), the action and the system are picked from what exists.
import type { ReactNode } from "react";
import type { Spec } from "../../api/types";
import type { AssignedErrors } from "./fieldErrors";
import { fieldId } from "./fieldErrors";
import { setPath } from "./specText";

export const FAULT_ACTIONS: [string, string][] = [
  ["kill", "kill: SIGKILL the node's broker"],
  ["pause", "pause: freeze the node"],
  ["resume", "resume: thaw it"],
  ["disconnect", "disconnect: take its link down"],
  ["reconnect", "reconnect: bring the link back"],
  ["throttle", "throttle: shape its link to a bandwidth"],
];

export function faultFieldPaths(spec: Spec): string[] {
  const faults: Spec[] = Array.isArray(spec.faults) ? spec.faults : [];
  return ["faults", ...faults.flatMap((_, i) => ["at", "action", "target", "bandwidth", "system"].map((key) => `faults[${i}].${key}`).concat(`faults[${i}]`))];
}

interface Props {
  spec: Spec;
  assigned: AssignedErrors;
  field: (path: string, label: string, hint?: string, props?: { placeholder?: string }) => ReactNode;
  onChange: (spec: Spec) => void;
}

export function FaultsEditor({ spec, assigned, field, onChange }: Props) {
  const faults: Spec[] = Array.isArray(spec.faults) ? spec.faults : [];
  const systemNames: string[] = (Array.isArray(spec.systems) ? spec.systems : []).map((s: Spec) => s?.name).filter((n: unknown): n is string => typeof n === "string" && n !== "");
  const remove = (i: number) => {
    const next = setPath(spec, `faults[${i}]`, undefined);
    onChange(Array.isArray(next.faults) && next.faults.length === 0 ? setPath(next, "faults", undefined) : next);
  };
  const select = (path: string, label: string, value: string, options: [string, string][], set: (value: string) => void) => {
    const id = fieldId(path);
    const errors = assigned.byField.get(path);
    return (
      <div className={`field${errors ? " invalid" : ""}`}>
        <label htmlFor={id}>{label}</label>
        <select id={id} value={value} aria-invalid={errors ? true : undefined} onChange={(e) => set(e.target.value)}>
          {options.map(([v, text]) => (
            <option key={v} value={v}>
              {text}
            </option>
          ))}
        </select>
        {errors && (
          <ul className="field-errors">
            {errors.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        )}
      </div>
    );
  };
  return (
    <>
      <p className="hint">
        Every system gets the same faults at the same moments, counted from the start of warm-up; the results show how far throughput fell, how long it took to
        recover, and what was lost meanwhile.
      </p>
      {faults.map((fault, i) => {
        const base = `faults[${i}]`;
        const action = typeof fault?.action === "string" ? fault.action : "kill";
        const known = FAULT_ACTIONS.some(([a]) => a === action);
        return (
          <div className="fault-row" role="group" aria-label={`Fault ${i + 1}`} key={i}>
            <div className="grid">
              {field(`${base}.at`, `Fault ${i + 1} at`, "from warm-up start, e.g. 5s")}
              {select(`${base}.action`, `Fault ${i + 1} action`, action, known ? FAULT_ACTIONS : [[action, action], ...FAULT_ACTIONS], (value) => {
                // Only throttle takes a bandwidth: drop it with any other action.
                let next = setPath(spec, `${base}.action`, value);
                if (value !== "throttle") next = setPath(next, `${base}.bandwidth`, undefined);
                onChange(next);
              })}
              {field(`${base}.target`, `Fault ${i + 1} node`, "node index, 0 = first", { placeholder: "0" })}
              {action === "throttle" && field(`${base}.bandwidth`, `Fault ${i + 1} bandwidth`, "e.g. 10Mbit")}
              {select(
                `${base}.system`,
                `Fault ${i + 1} system`,
                typeof fault?.system === "string" ? fault.system : "",
                [["", "every system"], ...systemNames.map((n): [string, string] => [n, n]), ...(typeof fault?.system === "string" && fault.system && !systemNames.includes(fault.system) ? [[fault.system, fault.system] as [string, string]] : [])],
                (value) => onChange(setPath(spec, `${base}.system`, value === "" ? undefined : value)),
              )}
            </div>
            <button type="button" aria-label={`Remove fault ${i + 1}`} onClick={() => remove(i)}>
              Remove
            </button>
          </div>
        );
      })}
      <button type="button" onClick={() => onChange(setPath(spec, `faults[${faults.length}]`, { at: "5s", action: "kill", target: 0 }))}>
        Add a fault
      </button>
    </>
  );
}

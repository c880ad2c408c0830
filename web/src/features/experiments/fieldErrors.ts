// Puts the API's field errors ({path, message}) next to the form field their path names.
// The server may name a system by index (systems[1].config.acks) or by name
// (systems[redis].config.pipeline); the form's fields use indexes. An error whose path names no
// field goes to the nearest enclosing field that exists, else stays general (shown at the top).
import type { FieldError, Spec } from "../../api/types";

export function normalizeErrorPath(path: string, spec: Spec): string {
  const systems: { name?: string }[] = Array.isArray(spec.systems) ? spec.systems : [];
  return path.replace(/^systems\[([^\]]+)\]/, (whole, key: string) => {
    if (/^\d+$/.test(key)) return whole;
    const index = systems.findIndex((s) => s?.name === key);
    return index >= 0 ? `systems[${index}]` : whole;
  });
}

export interface AssignedErrors {
  byField: Map<string, string[]>;
  general: FieldError[];
}

export function assignErrors(errors: FieldError[], fields: Iterable<string>, spec: Spec): AssignedErrors {
  const known = new Set(fields);
  const byField = new Map<string, string[]>();
  const general: FieldError[] = [];
  for (const error of errors) {
    let path = normalizeErrorPath(error.path, spec);
    while (path && !known.has(path)) path = parentPath(path);
    if (path) {
      const list = byField.get(path) ?? [];
      list.push(error.path === path ? error.message : `${error.path}: ${error.message}`);
      byField.set(path, list);
    } else {
      general.push(error);
    }
  }
  return { byField, general };
}

// "systems[0].deploy.nodes" → "systems[0].deploy" → "systems[0]" → "systems" → "".
export function parentPath(path: string): string {
  const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return cut > 0 ? path.slice(0, cut) : "";
}

// A DOM id for a field path (ids with [ ] . need no escaping this way).
export const fieldId = (path: string) => "field-" + path.replace(/[^a-zA-Z0-9_-]/g, "_");

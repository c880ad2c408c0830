// The spec as text in the editor tab, YAML or JSON, and back. The spec object is the one source
// of truth: the form edits it by path, the editor re-renders it, and text that parses becomes it.
import YAML from "yaml";
import type { Spec } from "../../api/types";

export type SpecFormat = "yaml" | "json";

export function formatSpec(spec: Spec, format: SpecFormat): string {
  return format === "json" ? JSON.stringify(spec, null, 2) + "\n" : YAML.stringify(spec, { lineWidth: 0 });
}

export type ParsedSpec = { ok: true; spec: Spec } | { ok: false; message: string; line?: number };

export function parseSpecText(text: string, format: SpecFormat): ParsedSpec {
  if (format === "json") {
    try {
      const value: unknown = JSON.parse(text);
      return asSpec(value);
    } catch (error) {
      const message = (error as Error).message;
      const position = /position (\d+)/.exec(message);
      const line = position ? text.slice(0, Number(position[1])).split("\n").length : undefined;
      return { ok: false, message: `JSON: ${message}`, line };
    }
  }
  const document = YAML.parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    return { ok: false, message: `YAML: ${first.message.split("\n")[0]}`, line: first.linePos?.[0].line };
  }
  return asSpec(document.toJS());
}

function asSpec(value: unknown): ParsedSpec {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, message: "a spec is a mapping (name:, workload:, systems:, …)" };
  }
  return { ok: true, spec: value as Spec };
}

// "systems[0].deploy.nodes" → ["systems", 0, "deploy", "nodes"].
export function splitPath(path: string): (string | number)[] {
  const parts: (string | number)[] = [];
  for (const match of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    parts.push(match[2] !== undefined ? Number(match[2]) : match[1]);
  }
  return parts;
}

export function getPath(spec: Spec, path: string): unknown {
  let value: unknown = spec;
  for (const part of splitPath(path)) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[part];
  }
  return value;
}

// A copy of `spec` with `path` set; `undefined` or "" removes the field (and empty parents).
export function setPath(spec: Spec, path: string, value: unknown): Spec {
  const parts = splitPath(path);
  const set = (node: unknown, index: number): unknown => {
    const key = parts[index];
    const container: Record<string | number, unknown> | unknown[] = Array.isArray(node)
      ? [...node]
      : node !== null && typeof node === "object"
        ? { ...(node as object) }
        : typeof key === "number"
          ? []
          : {};
    const record = container as Record<string | number, unknown>;
    if (index === parts.length - 1) {
      if (value === undefined || value === "") {
        if (Array.isArray(container)) container.splice(key as number, 1);
        else delete record[key];
      } else {
        record[key] = value;
      }
    } else {
      const child = set(record[key], index + 1);
      const empty = child !== null && typeof child === "object" && !Array.isArray(child) && Object.keys(child).length === 0;
      if (empty) delete record[key];
      else record[key] = child;
    }
    return container;
  };
  return set(spec, 0) as Spec;
}

// Form inputs hold text; numbers go into the spec as numbers, units ("512B", "10s") as text.
export function fieldValue(text: string): string | number | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  return /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

// The matrix as the form shows it: one "path = a, b, c" per row.
export function matrixRows(spec: Spec): { path: string; values: string }[] {
  const matrix = (spec.matrix ?? {}) as Record<string, unknown[]>;
  return Object.entries(matrix).map(([path, values]) => ({
    path,
    values: Array.isArray(values) ? values.join(", ") : String(values),
  }));
}

export function withMatrixRows(spec: Spec, rows: { path: string; values: string }[]): Spec {
  const matrix: Record<string, (string | number)[]> = {};
  for (const row of rows) {
    if (!row.path.trim()) continue;
    matrix[row.path.trim()] = row.values
      .split(",")
      .map((v) => fieldValue(v))
      .filter((v): v is string | number => v !== undefined);
  }
  const copy = { ...spec };
  if (Object.keys(matrix).length > 0) copy.matrix = matrix;
  else delete copy.matrix;
  return copy;
}

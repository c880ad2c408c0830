// Design an experiment: a form for the common fields and a YAML/JSON editor for all of them,
// both over one spec object; plan preview, submit, field errors where their path points.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError } from "../../api/client";
import { useApi } from "../../api/context";
import type { Driver, FieldError, Plan, Spec } from "../../api/types";
import { navigate } from "../../app/router";
import { formatSeconds } from "../../components/format";
import { FaultsEditor, faultFieldPaths } from "./FaultsEditor";
import { assignErrors, fieldId, type AssignedErrors } from "./fieldErrors";
import { fieldValue, formatSpec, getPath, matrixRows, parseSpecText, setPath, withMatrixRows, type SpecFormat } from "./specText";

export const DEFAULT_SPEC: Spec = {
  name: "my-experiment",
  workload: { message_size: "1KiB", producers: 1, consumers: 1, rate: 1000, warmup: "2s", duration: "10s", partitions: 1 },
  systems: [{ name: "redis", driver: "redis" }],
};

const WORKLOAD_FIELDS: [string, string, string][] = [
  ["message_size", "Message size", "e.g. 512B, 1KiB"],
  ["producers", "Producers", "producer threads"],
  ["consumers", "Consumers", "0 = publish only"],
  ["rate", "Rate", 'msg/s over all producers, 0 = as fast as possible, or "find-max"'],
  ["duration", "Duration", "measured window, e.g. 10s"],
  ["warmup", "Warm-up", "e.g. 2s"],
  ["partitions", "Partitions", "per topic"],
];

// Every path the form has a field for: errors go to the nearest one.
export function formFieldPaths(spec: Spec, drivers: Driver[]): string[] {
  const paths = ["name", "description", "workload", "systems", "targets", "targets.p99_latency", "targets.min_throughput", "slo", "slo.p99", "slo.max_loss", "repeats", "matrix"];
  for (const [key] of WORKLOAD_FIELDS) paths.push(`workload.${key}`);
  const systems: Spec[] = Array.isArray(spec.systems) ? spec.systems : [];
  systems.forEach((system, i) => {
    const base = `systems[${i}]`;
    paths.push(base, `${base}.name`, `${base}.driver`, `${base}.config`, `${base}.deploy.nodes`, `${base}.deploy.cpus`, `${base}.deploy.memory`);
    const driver = drivers.find((d) => d.name === system?.driver);
    for (const key of driver?.config_keys ?? []) paths.push(`${base}.config.${key.name}`);
    for (const key of Object.keys(system?.config ?? {})) paths.push(`${base}.config.${key}`);
  });
  paths.push(...faultFieldPaths(spec));
  return paths;
}

export function NewExperimentPage({ search }: { search: string }) {
  const api = useApi();
  const [spec, setSpec] = useState<Spec>(DEFAULT_SPEC);
  const [tab, setTab] = useState<"form" | "editor">("form");
  const [format, setFormat] = useState<SpecFormat>("yaml");
  const [text, setText] = useState(() => formatSpec(DEFAULT_SPEC, "yaml"));
  const [textError, setTextError] = useState<{ message: string; line?: number } | null>(null);
  const [errors, setErrors] = useState<{ message: string; fields: FieldError[] } | null>(null);
  const [plan, setPlan] = useState<Plan | null>(null);

  const drivers = useQuery({ queryKey: ["drivers"], queryFn: api.drivers, staleTime: Infinity, retry: false });
  const examples = useQuery({ queryKey: ["examples"], queryFn: api.examples, staleTime: Infinity, retry: false });
  const past = useQuery({ queryKey: ["experiments"], queryFn: () => api.experiments() });
  const driverList = drivers.data ?? [];

  // The one place the spec changes: the editor text follows, a plan or errors no longer apply.
  const updateSpec = (next: Spec, fromText = false) => {
    setSpec(next);
    if (!fromText) {
      setText(formatSpec(next, format));
      setTextError(null);
    }
    setPlan(null);
  };

  const from = new URLSearchParams(search).get("from");
  useEffect(() => {
    if (!from) return;
    api.experiment(from).then(
      (e) => updateSpec(e.spec),
      () => setErrors({ message: `Could not load experiment ${from}`, fields: [] }),
    );
    // Loading once per ?from= is the point.
  }, [from]);

  const assigned: AssignedErrors = useMemo(
    () => assignErrors(errors?.fields ?? [], formFieldPaths(spec, driverList), spec),
    [errors, spec, driverList],
  );

  const showError = (error: unknown) => {
    if (error instanceof ApiError) setErrors({ message: error.message, fields: error.errors });
    else setErrors({ message: (error as Error).message, fields: [] });
  };
  const planMutation = useMutation({
    mutationFn: () => api.plan(spec),
    onMutate: () => setErrors(null),
    onSuccess: setPlan,
    onError: (error) => {
      if (error instanceof ApiError && error.status === 404) setErrors({ message: "Plan preview is not available on this server.", fields: [] });
      else showError(error);
    },
  });
  const submitMutation = useMutation({
    mutationFn: () => api.submit(spec),
    onMutate: () => setErrors(null),
    onSuccess: (answer) => navigate(`/experiments/${encodeURIComponent(answer.id)}`),
    onError: showError,
  });

  const changeText = (value: string) => {
    setText(value);
    const parsed = parseSpecText(value, format);
    if (parsed.ok) {
      setTextError(null);
      updateSpec(parsed.spec, true);
    } else {
      setTextError({ message: parsed.message, line: parsed.line });
    }
  };
  const changeFormat = (next: SpecFormat) => {
    setFormat(next);
    setText(formatSpec(spec, next));
    setTextError(null);
  };

  const field = (path: string, label: string, hint?: string, props: { placeholder?: string; inputMode?: "numeric" | "decimal" } = {}) => (
    <Field
      key={path}
      path={path}
      label={label}
      hint={hint}
      value={getPath(spec, path)}
      errors={assigned.byField.get(path)}
      onChange={(v) => updateSpec(setPath(spec, path, fieldValue(v)))}
      {...props}
    />
  );
  const systems: Spec[] = Array.isArray(spec.systems) ? spec.systems : [];

  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">New experiment</h1>
      <div className="start-from">
        {examples.isSuccess && examples.data.length > 0 && (
          <label>
            Start from an example{" "}
            <select
              value=""
              onChange={(e) => {
                const example = examples.data.find((x) => x.name === e.target.value);
                if (!example) return;
                const parsed = typeof example.spec === "string" ? parseSpecText(example.spec, "yaml") : { ok: true as const, spec: example.spec };
                if (parsed.ok) updateSpec(parsed.spec);
              }}
            >
              <option value="">choose…</option>
              {examples.data.map((x) => (
                <option key={x.name}>{x.name}</option>
              ))}
            </select>
          </label>
        )}
        {(past.data?.length ?? 0) > 0 && (
          <label>
            Start from a past experiment{" "}
            <select value="" onChange={(e) => e.target.value && navigate(`/new?from=${encodeURIComponent(e.target.value)}`, { replace: true })}>
              <option value="">choose…</option>
              {past.data!.slice(0, 50).map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name} ({x.id})
                </option>
              ))}
            </select>
          </label>
        )}
      </div>

      {errors && (
        <div className="error-summary" role="alert" aria-labelledby="error-summary-title">
          <h2 id="error-summary-title">{errors.fields.length > 0 ? `The spec has ${errors.fields.length} error(s)` : "The server refused"}</h2>
          <p>{errors.message}</p>
          {errors.fields.length > 0 && (
            <ul>
              {errors.fields.map((e, i) => (
                <li key={i}>
                  <a href={`#${fieldId(nearestField(e.path, assigned))}`} onClick={() => setTab("form")}>
                    <code>{e.path}</code>
                  </a>
                  : {e.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}

      <div role="tablist" aria-label="Spec view" className="tabs">
        <button role="tab" type="button" id="tab-form" aria-selected={tab === "form"} aria-controls="panel-form" onClick={() => setTab("form")}>
          Form
        </button>
        <button
          role="tab"
          type="button"
          id="tab-editor"
          aria-selected={tab === "editor"}
          aria-controls="panel-editor"
          onClick={() => {
            setText(formatSpec(spec, format));
            setTextError(null);
            setTab("editor");
          }}
        >
          YAML / JSON
        </button>
      </div>

      <form
        onSubmit={(e) => {
          e.preventDefault();
          submitMutation.mutate();
        }}
        noValidate
      >
        <div role="tabpanel" id="panel-form" aria-labelledby="tab-form" hidden={tab !== "form"}>
          <fieldset>
            <legend>Experiment</legend>
            <div className="grid">
              {field("name", "Name")}
              {field("description", "Description", "what question it answers")}
              {field("repeats", "Repeats", "runs per point and system (1–100)", { inputMode: "numeric" })}
            </div>
          </fieldset>

          <fieldset>
            <legend>Systems</legend>
            <FieldErrors path="systems" assigned={assigned} />
            {drivers.isError && <p className="muted">The server does not list its drivers; type the driver's name.</p>}
            {systems.map((system, i) => (
              <SystemCard
                key={i}
                index={i}
                spec={spec}
                system={system}
                drivers={driverList}
                assigned={assigned}
                field={field}
                onChange={updateSpec}
              />
            ))}
            <button
              type="button"
              onClick={() => {
                const driver = driverList[0]?.name ?? "redis";
                const taken = new Set(systems.map((s) => s?.name));
                let n = systems.length + 1;
                while (taken.has(`${driver}-${n}`)) n++;
                updateSpec(setPath(spec, `systems[${systems.length}]`, { name: `${driver}-${n}`, driver }));
              }}
            >
              Add a system
            </button>
          </fieldset>

          <fieldset>
            <legend>Workload</legend>
            <FieldErrors path="workload" assigned={assigned} />
            <div className="grid">{WORKLOAD_FIELDS.map(([key, label, hint]) => field(`workload.${key}`, label, hint))}</div>
          </fieldset>

          <fieldset>
            <legend>Targets and SLO</legend>
            <div className="grid">
              {field("targets.p99_latency", "Target p99 latency", "e.g. 10ms")}
              {field("targets.min_throughput", "Target min throughput", "msg/s consumed")}
              {field("slo.p99", "SLO p99 (find-max)", "e.g. 20ms")}
              {field("slo.max_loss", "SLO max loss (find-max)", "fraction, e.g. 0")}
            </div>
          </fieldset>

          <fieldset>
            <legend>Faults</legend>
            <FieldErrors path="faults" assigned={assigned} />
            <FaultsEditor spec={spec} assigned={assigned} field={field} onChange={updateSpec} />
          </fieldset>

          <fieldset>
            <legend>Matrix (sweep)</legend>
            <FieldErrors path="matrix" assigned={assigned} />
            <MatrixEditor spec={spec} onChange={updateSpec} />
          </fieldset>
        </div>

        <div role="tabpanel" id="panel-editor" aria-labelledby="tab-editor" hidden={tab !== "editor"}>
          <fieldset className="format">
            <legend>Format</legend>
            {(["yaml", "json"] as const).map((f) => (
              <label key={f}>
                <input type="radio" name="format" value={f} checked={format === f} onChange={() => changeFormat(f)} /> {f.toUpperCase()}
              </label>
            ))}
          </fieldset>
          <label htmlFor="spec-text">Spec ({format.toUpperCase()}): every field, docs/spec.md</label>
          <textarea
            id="spec-text"
            className="spec-text"
            spellCheck={false}
            value={text}
            onChange={(e) => changeText(e.target.value)}
            aria-invalid={textError ? true : undefined}
            aria-describedby={textError ? "spec-text-error" : undefined}
            rows={24}
          />
          {textError && (
            <p id="spec-text-error" className="error" role="alert">
              {textError.line ? `Line ${textError.line}: ` : ""}
              {textError.message} — the form keeps the last valid spec.
            </p>
          )}
        </div>

        <div className="actions form-actions">
          <button type="button" onClick={() => planMutation.mutate()} disabled={planMutation.isPending || !!textError}>
            {planMutation.isPending ? "Planning…" : "Plan"}
          </button>
          <button type="submit" className="primary" disabled={submitMutation.isPending || !!textError}>
            {submitMutation.isPending ? "Submitting…" : "Submit"}
          </button>
        </div>
      </form>
      {plan && <PlanView plan={plan} />}
    </section>
  );
}

function nearestField(path: string, assigned: AssignedErrors): string {
  for (const [field, messages] of assigned.byField) {
    if (messages.some((m) => m.startsWith(`${path}:`)) || path === field || path.endsWith(field)) return field;
  }
  return path;
}

function FieldErrors({ path, assigned }: { path: string; assigned: AssignedErrors }) {
  const messages = assigned.byField.get(path);
  if (!messages) return null;
  return (
    <ul className="field-errors" id={fieldId(path)}>
      {messages.map((m) => (
        <li key={m}>{m}</li>
      ))}
    </ul>
  );
}

interface FieldProps {
  path: string;
  label: string;
  hint?: string;
  value: unknown;
  errors?: string[];
  onChange: (value: string) => void;
  placeholder?: string;
  inputMode?: "numeric" | "decimal";
  children?: ReactNode;
}

function Field({ path, label, hint, value, errors, onChange, placeholder, inputMode }: FieldProps) {
  const id = fieldId(path);
  const described = [hint ? `${id}-hint` : "", errors ? `${id}-errors` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`field${errors ? " invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={path}
        value={value === undefined || value === null ? "" : String(value)}
        placeholder={placeholder}
        inputMode={inputMode}
        aria-invalid={errors ? true : undefined}
        aria-describedby={described}
        onChange={(e) => onChange(e.target.value)}
      />
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
      {errors && (
        <ul id={`${id}-errors`} className="field-errors">
          {errors.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function SystemCard({
  index,
  spec,
  system,
  drivers,
  assigned,
  field,
  onChange,
}: {
  index: number;
  spec: Spec;
  system: Spec;
  drivers: Driver[];
  assigned: AssignedErrors;
  field: (path: string, label: string, hint?: string, props?: { placeholder?: string }) => ReactNode;
  onChange: (spec: Spec) => void;
}) {
  const base = `systems[${index}]`;
  const driver = drivers.find((d) => d.name === system?.driver);
  const driverId = fieldId(`${base}.driver`);
  const driverErrors = assigned.byField.get(`${base}.driver`);
  const extraKeys = Object.keys(system?.config ?? {}).filter((k) => !driver?.config_keys.some((c) => c.name === k));
  return (
    <div className="system-card" role="group" aria-labelledby={`${fieldId(base)}-title`}>
      <div className="system-head">
        <h3 id={`${fieldId(base)}-title`}>
          System {index + 1}
          {driver?.emulated && <span className="badge emulated">EMULATED</span>}
        </h3>
        <button
          type="button"
          aria-label={`Remove system ${index + 1} (${system?.name ?? ""})`}
          onClick={() => onChange(setPath(spec, base, undefined))}
          disabled={(spec.systems?.length ?? 0) <= 1}
        >
          Remove
        </button>
      </div>
      <FieldErrors path={base} assigned={assigned} />
      <div className="grid">
        {field(`${base}.name`, "Name")}
        <div className={`field${driverErrors ? " invalid" : ""}`}>
          <label htmlFor={driverId}>Driver</label>
          {drivers.length > 0 ? (
            <select
              id={driverId}
              value={system?.driver ?? ""}
              aria-invalid={driverErrors ? true : undefined}
              onChange={(e) => {
                // Another driver's config keys would be errors: start its config afresh.
                const next = setPath(setPath(spec, `${base}.driver`, e.target.value), `${base}.config`, undefined);
                onChange(next);
              }}
            >
              {!driver && <option value={system?.driver ?? ""}>{system?.driver || "choose…"}</option>}
              {drivers.map((d) => (
                <option key={d.name} value={d.name}>
                  {d.label || d.name}
                  {d.emulated ? " (EMULATED)" : ""}
                </option>
              ))}
            </select>
          ) : (
            <input id={driverId} value={system?.driver ?? ""} onChange={(e) => onChange(setPath(spec, `${base}.driver`, e.target.value))} />
          )}
          {driverErrors && (
            <ul className="field-errors">
              {driverErrors.map((m) => (
                <li key={m}>{m}</li>
              ))}
            </ul>
          )}
        </div>
        {field(`${base}.deploy.nodes`, "Nodes", "broker nodes")}
        {field(`${base}.deploy.cpus`, "CPUs per node", "cores, e.g. 0.5; needs root")}
        {field(`${base}.deploy.memory`, "Memory per node", "e.g. 512MiB; needs root")}
      </div>
      {(driver?.config_keys.length ?? 0) + extraKeys.length > 0 && (
        <details open={Object.keys(system?.config ?? {}).length > 0 || !!assigned.byField.get(`${base}.config`)}>
          <summary>Driver config{driver?.variants?.length ? ` (variants: ${driver.variants.join(", ")})` : ""}</summary>
          <FieldErrors path={`${base}.config`} assigned={assigned} />
          <div className="grid">
            {driver?.config_keys.map((key) => field(`${base}.config.${key.name}`, key.name, key.description, { placeholder: key.default ? `default ${key.default}` : undefined }))}
            {extraKeys.map((key) => field(`${base}.config.${key}`, key))}
          </div>
        </details>
      )}
    </div>
  );
}

function MatrixEditor({ spec, onChange }: { spec: Spec; onChange: (spec: Spec) => void }) {
  const rows = matrixRows(spec);
  const [draft, setDraft] = useState<{ path: string; values: string }[]>(rows);
  useEffect(() => setDraft(matrixRows(spec)), [JSON.stringify(spec.matrix ?? {})]);
  const commit = (next: { path: string; values: string }[]) => {
    setDraft(next);
    onChange(withMatrixRows(spec, next));
  };
  return (
    <>
      <p className="hint">A field path and the values it takes, comma separated: every combination runs (e.g. systems[redis].config.pipeline = 1, 16, 64).</p>
      {draft.map((row, i) => (
        <div className="matrix-row" key={i}>
          <label>
            Path {i + 1}
            <input value={row.path} onChange={(e) => setDraft(draft.map((r, j) => (j === i ? { ...r, path: e.target.value } : r)))} onBlur={() => commit(draft)} />
          </label>
          <label>
            Values {i + 1}
            <input value={row.values} onChange={(e) => setDraft(draft.map((r, j) => (j === i ? { ...r, values: e.target.value } : r)))} onBlur={() => commit(draft)} />
          </label>
          <button type="button" aria-label={`Remove matrix row ${i + 1}`} onClick={() => commit(draft.filter((_, j) => j !== i))}>
            Remove
          </button>
        </div>
      ))}
      <button type="button" onClick={() => setDraft([...draft, { path: "", values: "" }])}>
        Add a matrix row
      </button>
    </>
  );
}

function PlanView({ plan }: { plan: Plan }) {
  return (
    <section className="card plan" aria-labelledby="plan-title">
      <h2 id="plan-title">Plan</h2>
      <p>
        <strong>{plan.runs}</strong> run(s), about <strong>{formatSeconds(plan.estimated_s)}</strong>. {plan.headline}
      </p>
      {plan.search && <p>{plan.search}</p>}
      {plan.warnings.length > 0 && (
        <ul className="warnings" aria-label="Warnings">
          {plan.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
      {plan.systems.map((s, i) => (
        <details key={i} open={i === 0}>
          <summary>
            {s.name}
            {s.point !== null ? ` (point ${s.point})` : ""}
          </summary>
          <pre className="log">{s.plan}</pre>
        </details>
      ))}
    </section>
  );
}

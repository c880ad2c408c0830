// The shapes of dec's HTTP API (docs/api.md, docs/results.md) that the app reads. Fields the app
// does not use are left out; everything optional that a server may omit is marked so.

export type ExperimentState =
  | "queued"
  | "provisioning"
  | "deploying"
  | "warming"
  | "running"
  | "collecting"
  | "destroying"
  | "cancelling"
  | "succeeded"
  | "failed"
  | "cancelled";

export const FINAL_STATES: ExperimentState[] = ["succeeded", "failed", "cancelled"];
export const isFinal = (state: string) => (FINAL_STATES as string[]).includes(state);

export interface Progress {
  system?: string;
  phase: string;
  elapsed_s: number;
  total_s: number;
  sent: number;
  received: number;
  produced_per_s: number;
  consumed_per_s: number;
  p99_us: number;
}

export interface ExperimentSummary {
  id: string;
  name: string;
  state: ExperimentState;
  error: string;
  created_at: string;
  started_at: string;
  finished_at: string;
  queue_position?: number;
  summary?: ResultsSummary; // once results are stored
}

// report::results_summary: a few hundred bytes per experiment for lists and run pickers.
export interface ResultsSummary {
  verdict: string;
  points: number;
  repeats: number;
  runs: RunSummary[];
}

export interface RunSummary {
  run_id: string;
  system: string;
  driver: string;
  status: string;
  emulated: boolean;
  point: number;
  repeat: number;
  consumed_msgs_per_s: number;
  produced_msgs_per_s: number;
  p99_us: number;
  delivery_ok: boolean;
  targets_met: boolean | null;
}

export interface Experiment extends ExperimentSummary {
  spec: Spec;
  progress: Record<string, Progress>;
  results: Results | null;
}

export interface Health {
  status: string;
  running: string | null;
  queued: number;
  draining: boolean;
}

export interface ConfigKey {
  name: string;
  description: string;
  default: string;
}

export interface Driver {
  name: string;
  label: string;
  emulated: boolean;
  config_keys: ConfigKey[];
  variants: string[];
}

export interface FieldError {
  path: string;
  message: string;
}

export interface Plan {
  runs: number;
  estimated_s: number;
  headline: string;
  search?: string;
  warnings: string[];
  systems: { name: string; point: number | null; plan: string }[];
}

// A spec is free-form JSON: the form edits the common fields, the editor all of them.
export type Spec = Record<string, any>;

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90?: number;
  p95?: number;
  p99: number;
  p999: number;
  p9999: number;
  max: number;
  censored?: number;
}

export interface TimelinePoint {
  t_s: number;
  produced_per_s: number;
  consumed_per_s: number;
  p99_us: number;
  lost?: number;
  undelivered?: number;
  duplicated?: number;
}

export interface FaultResult {
  action?: string;
  kind?: string;
  target?: string;
  at_s: number;
  applied_at_s: number | null;
  throughput_before?: number;
  throughput_min?: number;
  dip_pct?: number;
  recovery_s?: number | null;
  lost?: number;
  undelivered?: number;
  duplicated?: number;
  ends_fault?: number;
}

export interface SearchStep {
  kind: string;
  offered_per_s: number;
  achieved_per_s: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  latency_lower_bound?: boolean;
  loss: number;
  passed: boolean;
  reason?: string;
  seconds?: number;
}

export interface CostItem {
  item: string;
  quantity_per_hour: number;
  unit: string;
  unit_price_usd: number;
  usd_per_hour: number;
  source: string;
}

export interface Run {
  run_id: string;
  system: string;
  driver: string;
  provider?: string;
  point?: number;
  repeat?: number;
  served_by?: string;
  emulated?: boolean;
  status: string;
  error?: string;
  client_library?: string;
  measured_s?: number;
  throughput?: {
    produced_msgs_per_s: number;
    consumed_msgs_per_s: number;
    produced_mb_per_s?: number;
    consumed_mb_per_s?: number;
  };
  window?: {
    offered?: number;
    offered_per_s?: number;
    sent_on_time?: number;
    sent_late?: number;
    unsent?: number;
    rate_sustained?: boolean | null;
  };
  latency_us?: LatencySummary;
  publish_latency_us?: LatencySummary;
  delivery?: {
    sent?: number;
    acked?: number;
    received?: number;
    redelivered?: number;
    lost?: number;
    undelivered?: number;
    duplicated?: number;
    reordered?: number;
    corrupt?: number;
    send_errors?: number;
  };
  timeline?: TimelinePoint[];
  faults?: FaultResult[];
  search?: {
    max_rate: number | null;
    lowest_failed?: number | null;
    converged?: boolean;
    stopped?: string;
    steps: SearchStep[];
  };
  targets?: {
    p99_latency_us?: number;
    p99_latency_met?: boolean | null;
    min_throughput?: number;
    min_throughput_met?: boolean | null;
  };
  cost?: {
    estimate: boolean;
    model: string;
    messages_per_s: number;
    per_hour_usd: number;
    per_million_messages_usd: number;
    items?: CostItem[];
    notes?: string[];
  };
  phases_s?: Record<string, number>;
}

export interface StatMetric {
  n: number;
  mean: number | null;
  sd: number | null;
  ci95: number | null;
  ci95_low: number | null;
  ci95_high: number | null;
  lower_bound?: boolean;
}

export interface Results {
  id: string;
  experiment: string;
  workload?: Record<string, unknown>;
  warnings?: string[];
  runs: Run[];
  points?: { point: number; values: Record<string, string> }[];
  repeats?: number;
  stats?: { point: number; system: string; runs: number; succeeded: number; metrics: Record<string, StatMetric> }[];
  comparisons?: { metric: string; verdict: string; significant?: boolean }[];
  spec?: Spec;
}

// GET /api/experiments/{id}/percentiles (and the report's embedded data): each run's latency by
// percentile decoded from its histograms; `percentile` in percent, values in microseconds.
export interface PercentilePoint {
  percentile: number;
  value_us: number;
  count: number;
  lower_bound: boolean;
}

export interface PercentileCurve {
  count: number;
  censored: number;
  lower_bound_from: number | null;
  points: PercentilePoint[];
}

export interface RunPercentiles {
  run_id: string;
  system: string;
  point?: number;
  repeat?: number;
  status?: string;
  end_to_end: PercentileCurve | null;
  publish: PercentileCurve | null;
}

export interface PercentileCurves {
  id: string;
  experiment?: string;
  contains: string;
  unit: "us";
  ticks_per_half_distance: number;
  runs: RunPercentiles[];
}

// The one way the app talks to dec serve: JSON in and out, errors as ApiError (with the field
// errors of a 400), and the bearer token, sent with every request (GETs too: a server with a
// token protects all of /api/ but health). A 401 asks for the token once (askToken, the app's
// dialog), keeps it in sessionStorage and retries the request with it.
import type {
  Driver,
  Experiment,
  ExperimentSummary,
  FieldError,
  Health,
  PercentileCurves,
  Plan,
  Results,
  Spec,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
}

export interface ApiClientOptions {
  fetch?: typeof fetch;
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  // Resolves to the token the user typed, or null if they gave up.
  askToken?: (reason: string) => Promise<string | null>;
}

export const TOKEN_KEY = "dec.token";

export class ApiClient {
  private readonly fetchImpl: typeof fetch;
  private readonly storage?: ApiClientOptions["storage"];
  private askToken?: ApiClientOptions["askToken"];
  private pendingToken: Promise<string | null> | null = null;

  constructor(options: ApiClientOptions = {}) {
    this.fetchImpl = options.fetch ?? ((...args) => fetch(...args));
    this.storage = options.storage;
    this.askToken = options.askToken;
  }

  setTokenPrompt(askToken: ApiClientOptions["askToken"]) {
    this.askToken = askToken;
  }

  token(): string | null {
    return this.storage?.getItem(TOKEN_KEY) ?? null;
  }

  // The path with the token in its query (?access_token=), for what cannot set an Authorization
  // header: EventSource streams and download links. Without a token, the path as it is.
  authorizedUrl(path: string): string {
    const token = this.token();
    if (!token) return path;
    return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}`;
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const send = () => {
      const headers = new Headers(init.headers);
      const token = this.token();
      if (token) headers.set("Authorization", `Bearer ${token}`);
      return this.fetchImpl(path, { ...init, headers });
    };
    let response = await send();
    if (response.status === 401 && this.askToken) {
      const hadToken = this.token() !== null;
      // Several requests may fail at once: one dialog answers them all.
      this.pendingToken ??= this.askToken(
        hadToken ? "The server refused the token. Enter the right one." : "This server needs a token.",
      ).finally(() => {
        this.pendingToken = null;
      });
      const token = await this.pendingToken;
      if (token) {
        this.storage?.setItem(TOKEN_KEY, token);
        response = await send();
      }
    }
    if (!response.ok) throw await toApiError(response);
    return response;
  }

  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.request(path, init);
    return (await response.json()) as T;
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method: "POST" };
    if (body === undefined) {
      init.body = "";
    } else {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      init.headers = { "Content-Type": typeof body === "string" ? "application/yaml" : "application/json" };
    }
    return this.json<T>(path, init);
  }

  health = () => this.json<Health>("/api/health");
  drivers = () => this.json<{ drivers: Driver[] }>("/api/drivers").then((r) => r.drivers);
  examples = () => this.json<{ examples: { name: string; spec: Spec | string }[] }>("/api/examples").then((r) => r.examples);
  experiments = (state = "", limit = 200) =>
    this.json<{ experiments: ExperimentSummary[] } | ExperimentSummary[]>(
      `/api/experiments?limit=${limit}${state ? `&state=${encodeURIComponent(state)}` : ""}`,
    ).then((r) => (Array.isArray(r) ? r : r.experiments));
  experiment = (id: string) => this.json<Experiment>(`/api/experiments/${encodeURIComponent(id)}`);
  results = (id: string) => this.json<Results>(`/api/experiments/${encodeURIComponent(id)}/results`);
  percentiles = (id: string) => this.json<PercentileCurves>(`/api/experiments/${encodeURIComponent(id)}/percentiles`);
  plan = (spec: Spec) => this.post<Plan>("/api/plan", spec);
  submit = (spec: Spec) => this.post<{ id: string; state: string; queue_position: number }>("/api/experiments", spec);
  cancel = (id: string) => this.post<{ id: string; state: string }>(`/api/experiments/${encodeURIComponent(id)}/cancel`);
  infrastructure = () => this.json<Infrastructure>("/api/infrastructure");
  reconcile = (dryRun: boolean) => this.post<ReconcileReport>(`/api/reconcile?dry_run=${dryRun}`);
  destroyRun = (run: string) => this.post<{ destroyed: string; log: string[] }>(`/api/runs/${encodeURIComponent(run)}/destroy`);
}

// GET /api/infrastructure and POST /api/reconcile are read loosely: their shapes are new.
export interface Infrastructure {
  runs?: { run?: string; id?: string; kept?: boolean; resources?: unknown[]; [key: string]: unknown }[];
  resources?: unknown[];
  orphans?: unknown[];
  [key: string]: unknown;
}
export type ReconcileReport = Record<string, unknown>;

async function toApiError(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { error?: string; errors?: FieldError[] };
    return new ApiError(response.status, body.error ?? `HTTP ${response.status}`, body.errors ?? []);
  } catch {
    return new ApiError(response.status, text.trim() || `HTTP ${response.status}`);
  }
}

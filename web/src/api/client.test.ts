import { describe, expect, it, vi } from "vitest";
import { ApiClient, ApiError, TOKEN_KEY } from "./client";

const memoryStorage = () => {
  const data = new Map<string, string>();
  return { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), removeItem: (k: string) => void data.delete(k) };
};
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("API client", () => {
  it("asks for the token once on 401, keeps it and retries with it", async () => {
    const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get("Authorization");
      return auth === "Bearer s3cret" ? json(201, { id: "x", state: "queued", queue_position: 1 }) : json(401, { error: "missing or wrong bearer token" });
    });
    const askToken = vi.fn(async () => "s3cret");
    const storage = memoryStorage();
    const api = new ApiClient({ fetch: fetch as typeof globalThis.fetch, storage, askToken });
    await expect(api.submit({ name: "x" })).resolves.toMatchObject({ id: "x" });
    await expect(api.submit({ name: "y" })).resolves.toMatchObject({ id: "x" });
    expect(askToken).toHaveBeenCalledTimes(1);
    expect(storage.getItem(TOKEN_KEY)).toBe("s3cret");
    expect(fetch).toHaveBeenCalledTimes(3);
  });

  it("turns a 400 into an ApiError with the field errors", async () => {
    const fetch = vi.fn(async () => json(400, { error: "invalid spec: workload.rate: bad", errors: [{ path: "workload.rate", message: "bad" }] }));
    const api = new ApiClient({ fetch: fetch as typeof globalThis.fetch });
    const error = await api.plan({}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, message: "invalid spec: workload.rate: bad", errors: [{ path: "workload.rate", message: "bad" }] });
  });

  it("gives up without a token when the user cancels", async () => {
    const fetch = vi.fn(async () => json(401, { error: "token" }));
    const api = new ApiClient({ fetch: fetch as typeof globalThis.fetch, storage: memoryStorage(), askToken: async () => null });
    await expect(api.cancel("x")).rejects.toMatchObject({ status: 401 });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it("destroys a recorded run by its id, escaped, with POST", async () => {
    const fetch = vi.fn(async () => json(200, { destroyed: "e1.p0.r0.redis", log: [] }));
    const api = new ApiClient({ fetch: fetch as typeof globalThis.fetch });
    await expect(api.destroyRun("e1.p0.r0.redis")).resolves.toMatchObject({ destroyed: "e1.p0.r0.redis" });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toContain("/api/runs/e1.p0.r0.redis/destroy");
    expect(init.method).toBe("POST");
  });

  it("sends the token with every request, GETs included", async () => {
    const fetch = vi.fn(async () => json(200, { experiments: [] }));
    const storage = memoryStorage();
    storage.setItem(TOKEN_KEY, "s3cret");
    const api = new ApiClient({ fetch: fetch as typeof globalThis.fetch, storage });
    await api.experiments();
    await api.health();
    for (const call of fetch.mock.calls as unknown as [string, RequestInit][]) {
      expect(new Headers(call[1].headers).get("Authorization")).toBe("Bearer s3cret");
    }
  });

  it("puts the token in the query of URLs that cannot carry a header", () => {
    const storage = memoryStorage();
    const api = new ApiClient({ storage });
    expect(api.authorizedUrl("/api/experiments/x/events")).toBe("/api/experiments/x/events");
    storage.setItem(TOKEN_KEY, "a b&c");
    expect(api.authorizedUrl("/api/experiments/x/events")).toBe("/api/experiments/x/events?access_token=a%20b%26c");
    expect(api.authorizedUrl("/api/experiments/x/export?format=hdr")).toBe("/api/experiments/x/export?format=hdr&access_token=a%20b%26c");
  });
});

// Figures as the CLI table prints them.
export function formatRate(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Math.round(value).toLocaleString("en-US");
}

export function formatLatencyUs(us: number | null | undefined): string {
  if (us === null || us === undefined || Number.isNaN(us)) return "–";
  if (us < 1000) return `${Math.round(us)} us`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(2)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || Number.isNaN(s)) return "–";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return `$${value < 1 ? value.toPrecision(3) : value.toFixed(2)}`;
}

// Seconds between two stored timestamps ("2026-12-02 07:11:12" or ISO), or null.
export function durationBetween(start: string, end: string): number | null {
  const parse = (t: string) => (t ? Date.parse(t.includes("T") ? t : t.replace(" ", "T") + "Z") : NaN);
  const s = parse(start);
  const e = parse(end);
  return Number.isNaN(s) || Number.isNaN(e) ? null : (e - s) / 1000;
}

// "2026-12-02T07:14:22Z" → "2026-12-02 07:14:22 UTC".
export function formatTimestamp(t: string | null | undefined): string {
  if (!t) return "–";
  return t.replace("T", " ").replace(/Z$/, " UTC");
}

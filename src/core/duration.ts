// Durations in flags, query strings and config files: "250ms", "30s", "5m", "1h", or a bare
// number in the unit the caller names (InfiniLM's flags are in seconds).

/** A day in milliseconds (retention periods, `7d` in the usage CLI). */
export const DAY_MS = 86_400_000;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Milliseconds, or undefined when text is not a duration. */
export function parseDuration(text: string | number, bareUnit: 'ms' | 's' = 's'): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * UNITS[bareUnit]! : undefined;
  const m = PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2] ?? bareUnit]!;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)}m`;
  return `${+(ms / 3_600_000).toFixed(1)}h`;
}

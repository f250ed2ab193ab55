// Heartbeat load from the bench process over one keep-alive undici Pool: closed-loop (as fast as
// the server answers, with a fixed number of requests in flight) or open-loop at a fixed rate
// (what N services heartbeating every T seconds send).
import type { Pool } from 'undici';

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  /** Request latencies in ms (open-loop runs only). */
  latenciesMs: number[];
}

const HEADERS = { 'content-type': 'application/json' };
const BODY = '{}';

export function heartbeatPath(name: string): string {
  return `/services/${encodeURIComponent(name)}/heartbeat`;
}

async function heartbeat(pool: Pool, path: string): Promise<boolean> {
  const res = await pool.request({ method: 'POST', path, headers: HEADERS, body: BODY });
  await res.body.dump();
  return res.statusCode === 200;
}

/** `inFlight` workers send heartbeats back to back for `seconds`, cycling through `paths`. */
export async function closedLoop(pool: Pool, paths: readonly string[], inFlight: number, seconds: number): Promise<LoadResult> {
  const end = performance.now() + seconds * 1000;
  let next = 0;
  let requests = 0;
  let errors = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const path = paths[next++ % paths.length]!;
      try {
        if (!(await heartbeat(pool, path))) errors++;
      } catch {
        errors++;
      }
      requests++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { requests, errors, seconds: (performance.now() - t0) / 1000, latenciesMs: [] };
}

/** Sends `ratePerS` heartbeats per second for `seconds`, evenly paced, whatever the answers take. */
export async function openLoop(pool: Pool, paths: readonly string[], ratePerS: number, seconds: number): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let errors = 0;
  const t0 = performance.now();
  const total = Math.round(ratePerS * seconds);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * ratePerS));
      while (sent < due) {
        const path = paths[sent++ % paths.length]!;
        const start = performance.now();
        const p: Promise<void> = heartbeat(pool, path)
          .then((ok) => {
            if (!ok) errors++;
            latenciesMs.push(performance.now() - start);
          })
          .catch(() => {
            errors++;
          })
          .finally(() => pending.delete(p));
        pending.add(p);
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(pending);
  return { requests: sent, errors, seconds: (performance.now() - t0) / 1000, latenciesMs };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A fixed-width text table. */
export function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

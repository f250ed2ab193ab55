// The `switchboard usage` report as SQL both databases run: totals with GROUP BY, and nearest-rank
// percentiles with window functions (SQLite has no percentile_cont). Integer division gives
// ceil(p * n) as (p100 * n + 99) / 100 in both dialects. Each statement takes two parameters,
// the period's start (inclusive) and end (exclusive).
import type { Percentiles, ReportDimension, UsageReportRow } from './sink.js';

export type Dialect = 'sqlite' | 'postgres';

const COLUMN: Record<ReportDimension, string> = {
  key: 'key_name',
  model: 'model',
  variant: 'variant',
  backend: 'backend',
  endpoint: 'endpoint',
  status: 'status',
};

export interface ReportStatements {
  totals: string;
  duration: string;
  ttft: string;
}

function params(dialect: Dialect): [string, string] {
  return dialect === 'postgres' ? ['$1', '$2'] : ['?', '?'];
}

function percentileSql(dialect: Dialect, by: readonly ReportDimension[], column: string): string {
  const [since, until] = params(dialect);
  const groups = by.map((d, i) => `${COLUMN[d]} AS g${i}`);
  const groupRefs = by.map((_, i) => `g${i}`);
  const partition = groupRefs.length > 0 ? `PARTITION BY ${groupRefs.join(', ')} ` : '';
  return [
    `WITH f AS (SELECT ${[...groups, `${column} AS v`].join(', ')} FROM usage_records WHERE ts >= ${since} AND ts < ${until} AND ${column} IS NOT NULL),`,
    `r AS (SELECT f.*, row_number() OVER (${partition}ORDER BY v) AS rn, count(*) OVER (${partition.trimEnd()}) AS n FROM f)`,
    `SELECT ${[...groupRefs, 'max(CASE WHEN rn = (50 * n + 99) / 100 THEN v END) AS p50', 'max(CASE WHEN rn = (95 * n + 99) / 100 THEN v END) AS p95'].join(', ')}`,
    `FROM r${groupRefs.length > 0 ? ` GROUP BY ${groupRefs.join(', ')}` : ''}`,
  ].join('\n');
}

export function reportSql(dialect: Dialect, by: readonly ReportDimension[]): ReportStatements {
  const [since, until] = params(dialect);
  const groups = by.map((d, i) => `${COLUMN[d]} AS g${i}`);
  const totals = [
    `SELECT ${[
      ...groups,
      'count(*) AS requests',
      'sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors',
      'sum(prompt_tokens) AS prompt_tokens',
      'sum(completion_tokens) AS completion_tokens',
    ].join(', ')}`,
    `FROM usage_records WHERE ts >= ${since} AND ts < ${until}`,
    by.length > 0 ? `GROUP BY ${by.map((d) => COLUMN[d]).join(', ')}` : '',
  ].join('\n');
  return { totals, duration: percentileSql(dialect, by, 'duration_ms'), ttft: percentileSql(dialect, by, 'ttft_ms') };
}

type Raw = Record<string, unknown>;

function num(v: unknown): number {
  return v === null || v === undefined ? 0 : Number(v);
}

function optNum(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function dimValue(d: ReportDimension, v: unknown): string | number | null {
  if (v === undefined || v === null) return null;
  if (d === 'status') return Number(v);
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : JSON.stringify(v);
}

function groupOf(by: readonly ReportDimension[], raw: Raw): Partial<Record<ReportDimension, string | number | null>> {
  const g: Partial<Record<ReportDimension, string | number | null>> = {};
  by.forEach((d, i) => (g[d] = dimValue(d, raw[`g${i}`])));
  return g;
}

function keyOf(by: readonly ReportDimension[], raw: Raw): string {
  return JSON.stringify(by.map((d, i) => dimValue(d, raw[`g${i}`])));
}

function compare(a: string | number | null | undefined, b: string | number | null | undefined): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

/** Joins the three result sets into report rows, ordered by group (no key first). */
export function mergeReport(by: readonly ReportDimension[], totals: Raw[], duration: Raw[], ttft: Raw[]): UsageReportRow[] {
  const pct = (rows: Raw[]): Map<string, Percentiles> => new Map(rows.map((r) => [keyOf(by, r), { p50: optNum(r.p50), p95: optNum(r.p95) }]));
  const d = pct(duration);
  const t = pct(ttft);
  const none: Percentiles = { p50: null, p95: null };
  const out = totals
    .filter((r) => num(r.requests) > 0)
    .map((r): UsageReportRow => {
      const k = keyOf(by, r);
      return {
        group: groupOf(by, r),
        requests: num(r.requests),
        errors: num(r.errors),
        promptTokens: num(r.prompt_tokens),
        completionTokens: num(r.completion_tokens),
        durationMs: d.get(k) ?? none,
        ttftMs: t.get(k) ?? none,
      };
    });
  out.sort((a, b) => {
    for (const dim of by) {
      const c = compare(a.group[dim], b.group[dim]);
      if (c !== 0) return c;
    }
    return 0;
  });
  return out;
}

// Where usage rows end up. SQLite (a file in the data directory, the default) and PostgreSQL
// implement this one interface and pass one contract suite (test/gateway/usage-contract.ts).

import type { StoredUsageRow } from './row.js';

export type UsageSinkKind = 'sqlite' | 'postgres';

/** The report's grouping dimensions, mapped to columns by the report builder. */
export const REPORT_DIMENSIONS = ['key', 'model', 'variant', 'backend', 'endpoint', 'status'] as const;
export type ReportDimension = (typeof REPORT_DIMENSIONS)[number];

export interface UsageRange {
  /** Inclusive, ms since the epoch. */
  sinceMs: number;
  /** Exclusive, ms since the epoch. */
  untilMs: number;
}

export interface UsageQuery extends UsageRange {
  by: readonly ReportDimension[];
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
}

export interface UsageReportRow {
  /** The group's values, one per `by` dimension (null: no key, no variant, ...). */
  group: Partial<Record<ReportDimension, string | number | null>>;
  requests: number;
  /** Requests answered with status >= 400. */
  errors: number;
  promptTokens: number;
  completionTokens: number;
  durationMs: Percentiles;
  ttftMs: Percentiles;
}

export interface UsageSink {
  readonly kind: UsageSinkKind;
  /** Where it writes, safe for logs (no password). */
  readonly target: string;
  /**
   * Connects and applies pending migrations (each once; safe to call again, and from several
   * processes at once). The recorder calls it again after a failure until it succeeds.
   */
  open(): Promise<void>;
  /**
   * Writes rows in one transaction: all or none. A row whose uid is already stored is skipped,
   * so a retry after an unclear failure never duplicates. Resolves with the rows inserted.
   */
  write(rows: readonly StoredUsageRow[]): Promise<number>;
  /** Stored rows in a period, oldest first (tests, exports). */
  read(range: UsageRange, limit?: number): Promise<StoredUsageRow[]>;
  /** Per-group totals and percentiles over a period (`switchboard usage`). */
  report(query: UsageQuery): Promise<UsageReportRow[]>;
  /**
   * Deletes up to `limit` of the oldest rows older than `beforeMs` (ts < beforeMs), in one short
   * transaction; resolves with how many went. Retention calls it until fewer than `limit` go, so
   * no single statement holds the database (or the event loop) for long.
   */
  prune(beforeMs: number, limit: number): Promise<number>;
  close(): Promise<void>;
}

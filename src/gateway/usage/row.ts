// One usage record per request, as the router hands it over, and as sinks and the spool store it.
// A stored row carries a `uid` given by the recorder when the row leaves its buffer: the sinks'
// key (PostgreSQL's primary key; SQLite's is (ts, uid), which picks out the same rows). A write
// that failed after the database had committed it (a timeout on COMMIT, a crash between insert
// and spool truncation) is retried with the same uid and skipped by
// `ON CONFLICT DO NOTHING`, so a row is stored exactly once. The request id cannot be that key:
// the router accepts the client's x-request-id, and clients reuse them.
import { randomBytes } from 'node:crypto';

export interface UsageRow {
  /** When the request arrived, ms since the Unix epoch. */
  ts: number;
  requestId: string;
  /** The API key's name; null when keys are off or the request was not authenticated. */
  keyName: string | null;
  /** The model the client asked for (before alias resolution). */
  model: string;
  /** The canary variant served, when the model is a traffic split. */
  variant: string | null;
  /** The backend (service name) that served it; null when none was picked. */
  backend: string | null;
  /** The HTTP status returned to the client. */
  status: number;
  promptTokens: number;
  completionTokens: number;
  /** Time to first token (streams); null when not streamed or no token came. */
  ttftMs: number | null;
  durationMs: number;
  /** e.g. "/v1/chat/completions". */
  endpoint: string;
}

export interface StoredUsageRow extends UsageRow {
  uid: string;
}

/** Columns in insert order; the sinks and the report share them. */
export const USAGE_COLUMNS = [
  'uid',
  'ts',
  'request_id',
  'key_name',
  'model',
  'variant',
  'backend',
  'status',
  'prompt_tokens',
  'completion_tokens',
  'ttft_ms',
  'duration_ms',
  'endpoint',
] as const;

// A client chooses the model string (and sometimes the request id); a 100 KB model name must not
// become a 100 KB row, in the database or the spool.
const MAX_TEXT = 256;

function text(v: unknown): string {
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

function optText(v: unknown): string | null {
  return v === undefined || v === null ? null : text(v);
}

function int(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? Math.max(0, Math.min(2_147_483_647, Math.round(n))) : 0;
}

function ms(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

function optMs(v: unknown): number | null {
  return v === undefined || v === null ? null : ms(v);
}

/** A stored row from whatever the caller passed: strings bounded, numbers finite, nulls kept. */
export function toStored(row: UsageRow, uid: string): StoredUsageRow {
  const ts = Number(row.ts);
  return {
    uid,
    ts: Number.isFinite(ts) ? Math.round(ts) : 0,
    requestId: text(row.requestId),
    keyName: optText(row.keyName),
    model: text(row.model),
    variant: optText(row.variant),
    backend: optText(row.backend),
    status: int(row.status),
    promptTokens: int(row.promptTokens),
    completionTokens: int(row.completionTokens),
    ttftMs: optMs(row.ttftMs),
    durationMs: ms(row.durationMs),
    endpoint: text(row.endpoint),
  };
}

/** Values in USAGE_COLUMNS order; `ts` is passed through `tsValue` (a Date for PostgreSQL). */
export function rowValues(r: StoredUsageRow, tsValue: (ms: number) => unknown): unknown[] {
  const out = new Array<unknown>(USAGE_COLUMNS.length);
  putRowValues(out, 0, r);
  out[1] = tsValue(r.ts);
  return out;
}

/**
 * A row's values in USAGE_COLUMNS order (ts as stored: integer ms) written into `out` from index
 * `at`: the one place that order is spelled out, and what a sink binding one reused parameter
 * array per statement fills instead of building an array per row.
 */
export function putRowValues(out: unknown[], at: number, r: StoredUsageRow): void {
  out[at] = r.uid;
  out[at + 1] = r.ts;
  out[at + 2] = r.requestId;
  out[at + 3] = r.keyName;
  out[at + 4] = r.model;
  out[at + 5] = r.variant;
  out[at + 6] = r.backend;
  out[at + 7] = r.status;
  out[at + 8] = r.promptTokens;
  out[at + 9] = r.completionTokens;
  out[at + 10] = r.ttftMs;
  out[at + 11] = r.durationMs;
  out[at + 12] = r.endpoint;
}

/** A row as a driver returns it (snake_case columns; ts as the database keeps it). */
export interface UsageSqlRow {
  uid: string;
  ts: unknown;
  request_id: string;
  key_name: string | null;
  model: string;
  variant: string | null;
  backend: string | null;
  status: number;
  prompt_tokens: number;
  completion_tokens: number;
  ttft_ms: number | null;
  duration_ms: number;
  endpoint: string;
}

export function fromSqlRow(r: UsageSqlRow, tsMs: number): StoredUsageRow {
  return {
    uid: r.uid,
    ts: tsMs,
    requestId: r.request_id,
    keyName: r.key_name,
    model: r.model,
    variant: r.variant,
    backend: r.backend,
    status: Number(r.status),
    promptTokens: Number(r.prompt_tokens),
    completionTokens: Number(r.completion_tokens),
    ttftMs: r.ttft_ms === null ? null : Number(r.ttft_ms),
    durationMs: Number(r.duration_ms),
    endpoint: r.endpoint,
  };
}

/** A spool line back to a row; undefined when the line is not one we wrote. */
export function parseSpoolLine(line: string): StoredUsageRow | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.uid !== 'string' || o.uid === '' || typeof o.ts !== 'number' || typeof o.model !== 'string') return undefined;
  return toStored(o as unknown as UsageRow, o.uid);
}

/**
 * Row uids: a random per-recorder prefix plus a counter, unique across processes and restarts
 * and far cheaper than randomUUID() for every row.
 */
export function uidGenerator(): () => string {
  const prefix = randomBytes(9).toString('base64url');
  let n = 0;
  return () => `${prefix}.${(n++).toString(36)}`;
}

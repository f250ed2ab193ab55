// `switchboard usage`: requests, errors, tokens and latency per key and model over a period,
// read from the router's usage database (SQLite in its data directory, or PostgreSQL).
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { DAY_MS, parseDuration, sbError } from '../../core/index.js';
import { openUsageSink, REPORT_DIMENSIONS, SPOOL_FILE, type Percentiles, type ReportDimension, type UsageReportRow } from '../../gateway/usage/index.js';
import type { CommandSpec } from '../command.js';
import { boolFlag, listFlag, stringFlag } from '../flags.js';

/** Rows a --delete-before statement deletes: short transactions beside a router that writes. */
const DELETE_BATCH = 5000;

/** "24h", "7d", "90m" (that long before now) or an ISO 8601 time. */
export function parseTimeFlag(flag: string, text: string, nowMs: number): number {
  const t = text.trim();
  const days = /^(\d+(?:\.\d+)?)d$/.exec(t);
  if (days) return nowMs - Number(days[1]) * DAY_MS;
  if (/^\d/.test(t) && /[smh]$/.test(t)) {
    const ms = parseDuration(t);
    if (ms !== undefined) return nowMs - ms;
  }
  const abs = Date.parse(t);
  if (/^\d{4}-\d{2}-\d{2}/.test(t) && Number.isFinite(abs)) return abs;
  throw sbError('SB_ERR_USAGE', `--${flag}: expected a duration before now (30m, 24h, 7d) or an ISO time (2026-01-31T00:00:00Z), got '${text}'`);
}

function parseBy(values: string[] | undefined): ReportDimension[] {
  const by = values ?? ['key', 'model'];
  if (by.length === 1 && (by[0] === 'none' || by[0] === 'total')) return [];
  for (const d of by) {
    if (!(REPORT_DIMENSIONS as readonly string[]).includes(d)) {
      throw sbError('SB_ERR_USAGE', `--by: unknown dimension '${d}' (one or more of ${REPORT_DIMENSIONS.join(', ')}; or none)`);
    }
  }
  return by as ReportDimension[];
}

async function spoolInfo(dataDir: string): Promise<{ path: string; rows: number; bytes: number } | undefined> {
  const path = join(dataDir, SPOOL_FILE);
  const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  if (size === 0) return undefined;
  let rows = 0;
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer;
    for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) rows++;
  }
  return { path, rows, bytes: size };
}

function fmtMs(v: number | null): string {
  return v === null ? '-' : String(+v.toFixed(1));
}

function fmtPct(p: Percentiles): [string, string] {
  return [fmtMs(p.p50), fmtMs(p.p95)];
}

function table(rows: string[][], numericFrom: number): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i >= numericFrom ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function cells(r: UsageReportRow): string[] {
  return [String(r.requests), String(r.errors), String(r.promptTokens), String(r.completionTokens), ...fmtPct(r.durationMs), ...fmtPct(r.ttftMs)];
}

const HEAD: Record<ReportDimension, string> = { key: 'KEY', model: 'MODEL', variant: 'VARIANT', backend: 'BACKEND', endpoint: 'ENDPOINT', status: 'STATUS' };

export const command: CommandSpec = {
  description: [
    'Reads the usage records a router wrote (one per request) and prints, per key and model (or',
    'the --by dimensions), requests, errors (status >= 400), prompt and completion tokens, and the',
    'p50/p95 of duration and time to first token (nearest rank). Rows still waiting in the spool',
    'file (database unreachable) are not in the report; with --data-dir their number is shown.',
    'With --delete-before it deletes the rows older than that time instead (in small batches,',
    'safe while a router writes), as a router with usageRetentionDays does every hour.',
  ].join('\n'),
  options: {
    db: { type: 'string', description: 'Usage database: postgres://… (?schema=name), sqlite:<file> or a file path (or SWITCHBOARD_USAGE_DB)', valueName: 'url' },
    'data-dir': { type: 'string', description: "The router's data directory (reads usage.db there, and counts spooled rows)", valueName: 'dir' },
    since: { type: 'string', description: 'Start: a duration before now (30m, 24h, 7d) or an ISO time', valueName: 'when', defaultText: '24h' },
    until: { type: 'string', description: 'End (exclusive), same forms', valueName: 'when', defaultText: 'now' },
    by: { type: 'string', description: `Group by: comma-separated ${REPORT_DIMENSIONS.join(', ')}; or none`, valueName: 'dims', defaultText: 'key,model' },
    json: { type: 'boolean', description: 'Print JSON' },
    'delete-before': { type: 'string', description: 'Delete the rows older than this (a duration before now, or an ISO time) and print how many', valueName: 'when' },
  },
  examples: [
    'switchboard usage --data-dir /var/lib/switchboard',
    'switchboard usage --db postgres://switchboard@db/switchboard --since 7d --by key',
    'switchboard usage --data-dir ./data --since 2026-01-01T00:00:00Z --until 2026-02-01T00:00:00Z --json',
    'switchboard usage --data-dir /var/lib/switchboard --delete-before 90d',
  ],
  async run(ctx) {
    const v = ctx.values;
    const dataDir = stringFlag(v, 'data-dir');
    const url = stringFlag(v, 'db') ?? (dataDir ? undefined : ctx.env.SWITCHBOARD_USAGE_DB || undefined);
    if (!url && !dataDir) throw sbError('SB_ERR_USAGE', "give --db <url|file> or --data-dir <the router's data directory>");
    const now = Date.now();
    const deleteBefore = stringFlag(v, 'delete-before');
    if (deleteBefore !== undefined) {
      const beforeMs = parseTimeFlag('delete-before', deleteBefore, now);
      const sink = openUsageSink({ url, dataDir, migrate: false });
      let deleted = 0;
      try {
        await sink.open();
        for (;;) {
          const n = await sink.prune(beforeMs, DELETE_BATCH);
          deleted += n;
          if (n < DELETE_BATCH) break;
        }
      } finally {
        await sink.close();
      }
      const before = new Date(beforeMs).toISOString();
      if (boolFlag(v, 'json')) ctx.stdout.write(`${JSON.stringify({ sink: { kind: sink.kind, target: sink.target }, before, deleted })}\n`);
      else ctx.stdout.write(`Deleted ${deleted} usage rows older than ${before} (${sink.kind} ${sink.target})\n`);
      return 0;
    }
    const sinceMs = parseTimeFlag('since', stringFlag(v, 'since') ?? '24h', now);
    const untilText = stringFlag(v, 'until');
    const untilMs = untilText === undefined || untilText === 'now' ? now : parseTimeFlag('until', untilText, now);
    if (untilMs <= sinceMs) throw sbError('SB_ERR_USAGE', `--until (${new Date(untilMs).toISOString()}) must be after --since (${new Date(sinceMs).toISOString()})`);
    const by = parseBy(listFlag(v, 'by'));

    const sink = openUsageSink({ url, dataDir, migrate: false });
    let groups: UsageReportRow[];
    let total: UsageReportRow | undefined;
    try {
      await sink.open();
      groups = await sink.report({ sinceMs, untilMs, by });
      total = by.length > 0 ? (await sink.report({ sinceMs, untilMs, by: [] }))[0] : groups[0];
    } finally {
      await sink.close();
    }
    const spool = dataDir ? await spoolInfo(dataDir) : undefined;
    const since = new Date(sinceMs).toISOString();
    const until = new Date(untilMs).toISOString();

    if (boolFlag(v, 'json')) {
      ctx.stdout.write(`${JSON.stringify({ since, until, sink: { kind: sink.kind, target: sink.target }, by, groups, total: total ?? null, spool: spool ?? null }, null, 2)}\n`);
      return 0;
    }
    const out: string[] = [`Usage from ${since} to ${until} (${sink.kind} ${sink.target})`, ''];
    if (!total) {
      out.push('No usage records in this period.', '');
    } else {
      const rows = [[...by.map((d) => HEAD[d]), 'REQUESTS', 'ERRORS', 'PROMPT_TOKENS', 'COMPLETION_TOKENS', 'P50_MS', 'P95_MS', 'TTFT_P50_MS', 'TTFT_P95_MS']];
      if (by.length > 0) {
        for (const g of groups) rows.push([...by.map((d) => (g.group[d] === null || g.group[d] === undefined ? '-' : String(g.group[d]))), ...cells(g)]);
      }
      rows.push([...by.map((_, i) => (i === 0 ? 'TOTAL' : '')), ...cells(total)]);
      out.push(table(rows, by.length));
    }
    if (spool) out.push(`Note: ${spool.rows} rows wait in the spool ${spool.path} (the database was unreachable); they are not counted yet.\n`);
    ctx.stdout.write(out.join('\n'));
    return 0;
  },
};

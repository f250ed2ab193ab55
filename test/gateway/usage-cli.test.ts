// `switchboard usage` as a real process against databases holding known rows.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PostgresSink, SPOOL_FILE, SqliteSink, type StoredUsageRow } from '../../src/gateway/usage/index.js';
import { runSwitchboard } from '../helpers/process.js';
import { pgSchema, POSTGRES_URL } from '../helpers/services.js';
import { T0, usageRow } from './usage-contract.js';

const SINCE = new Date(T0).toISOString();
const UNTIL = new Date(T0 + 3_600_000).toISOString();

/** 6 alice/m1 (1 error), 3 bob/m2 (2 errors), 2 without a key on m1, and 2 outside the period. */
function knownRows(): StoredUsageRow[] {
  const rows: StoredUsageRow[] = [];
  for (let i = 0; i < 6; i++) rows.push(usageRow(i, { keyName: 'alice', model: 'm1', status: i === 5 ? 500 : 200, promptTokens: 100, completionTokens: 50, durationMs: (i + 1) * 100, ttftMs: i + 1 }));
  for (let i = 6; i < 9; i++) rows.push(usageRow(i, { keyName: 'bob', model: 'm2', status: i < 8 ? 429 : 200, promptTokens: 7, completionTokens: 0, durationMs: 20, ttftMs: null }));
  for (let i = 9; i < 11; i++) rows.push(usageRow(i, { keyName: null, model: 'm1', promptTokens: 1, completionTokens: 2, durationMs: 10 }));
  rows.push(usageRow(11, { ts: T0 - 1, keyName: 'alice', model: 'm1' }));
  rows.push(usageRow(12, { ts: T0 + 3_600_000, keyName: 'alice', model: 'm1' }));
  return rows;
}

interface JsonReport {
  since: string;
  until: string;
  by: string[];
  groups: { group: Record<string, string | null>; requests: number; errors: number; promptTokens: number; completionTokens: number; durationMs: { p50: number | null; p95: number | null }; ttftMs: { p50: number | null; p95: number | null } }[];
  total: { requests: number; errors: number; promptTokens: number; completionTokens: number } | null;
  spool: { rows: number } | null;
}

async function sqliteDataDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-usage-cli-'));
  const sink = new SqliteSink({ file: join(dir, 'usage.db') });
  await sink.open();
  await sink.write(knownRows());
  await sink.close();
  return dir;
}

describe('switchboard usage', () => {
  it('prints per key and model totals from the SQLite file in a data directory, and the spool backlog', async () => {
    const dir = await sqliteDataDir();
    writeFileSync(join(dir, SPOOL_FILE), `${JSON.stringify(usageRow(50))}\n${JSON.stringify(usageRow(51))}\n`);
    const r = await runSwitchboard(['usage', '--data-dir', dir, '--since', SINCE, '--until', UNTIL]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const cols = (prefix: RegExp): string[] => {
      const line = lines.find((l) => prefix.test(l));
      assert.ok(line, `no line ${prefix} in:\n${r.stdout}`);
      return line.trim().split(/\s+/);
    };
    assert.deepEqual(cols(/^KEY\s/), ['KEY', 'MODEL', 'REQUESTS', 'ERRORS', 'PROMPT_TOKENS', 'COMPLETION_TOKENS', 'P50_MS', 'P95_MS', 'TTFT_P50_MS', 'TTFT_P95_MS']);
    // alice/m1: durations 100..600 → p50 300 (3rd of 6), p95 600; ttft 1..6 → 3 and 6
    assert.deepEqual(cols(/^alice\s/), ['alice', 'm1', '6', '1', '600', '300', '300', '600', '3', '6']);
    assert.deepEqual(cols(/^bob\s/), ['bob', 'm2', '3', '2', '21', '0', '20', '20', '-', '-']);
    assert.deepEqual(cols(/^-\s/), ['-', 'm1', '2', '0', '2', '4', '10', '10', '5', '5']);
    assert.deepEqual(cols(/^TOTAL\s/).slice(0, 5), ['TOTAL', '11', '3', '623', '304']);
    assert.match(r.stdout, /2 rows wait in the spool/);
    assert.ok(lines.findIndex((l) => l.startsWith('-')) < lines.findIndex((l) => l.startsWith('alice')), 'requests without a key are listed first');
  });

  it('--json, --by and relative periods (rows older than --since are left out)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-usage-cli-'));
    const sink = new SqliteSink({ file: join(dir, 'usage.db') });
    await sink.open();
    const now = Date.now();
    await sink.write([
      usageRow(1, { ts: now - 3_600_000, model: 'm1' }),
      usageRow(2, { ts: now - 2 * 3_600_000, model: 'm1', status: 503 }),
      usageRow(3, { ts: now - 30 * 3_600_000, model: 'm2' }),
      usageRow(4, { ts: now - 10 * 86_400_000, model: 'm2' }),
    ]);
    await sink.close();
    const day = await runSwitchboard(['usage', '--db', join(dir, 'usage.db'), '--by', 'model', '--json']);
    assert.equal(day.code, 0, day.stderr);
    const j = JSON.parse(day.stdout) as JsonReport;
    assert.deepEqual(j.by, ['model']);
    assert.deepEqual(j.groups.map((g) => [g.group.model, g.requests, g.errors]), [['m1', 2, 1]]);
    assert.equal(j.total?.requests, 2);
    assert.equal(j.spool, null);
    const week = JSON.parse((await runSwitchboard(['usage', '--db', `sqlite:${join(dir, 'usage.db')}`, '--since', '7d', '--by', 'model', '--json'])).stdout) as JsonReport;
    assert.deepEqual(week.groups.map((g) => [g.group.model, g.requests]), [['m1', 2], ['m2', 1]]);
    const none = JSON.parse((await runSwitchboard(['usage', '--db', join(dir, 'usage.db'), '--since', '30m', '--json'])).stdout) as JsonReport;
    assert.deepEqual([none.groups, none.total], [[], null]);
    const text = await runSwitchboard(['usage', '--db', join(dir, 'usage.db'), '--since', '30m']);
    assert.match(text.stdout, /No usage records in this period/);
  });

  it('reads PostgreSQL (--db postgres://…?schema=)', async (t) => {
    const schema = await pgSchema(t);
    if (!schema) return;
    const sink = new PostgresSink({ url: POSTGRES_URL, schema });
    await sink.open();
    await sink.write(knownRows());
    await sink.close();
    const r = await runSwitchboard(['usage', '--db', `${POSTGRES_URL}?schema=${schema}`, '--since', SINCE, '--until', UNTIL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as JsonReport;
    assert.deepEqual(
      j.groups.map((g) => [g.group.key, g.group.model, g.requests, g.errors, g.promptTokens, g.completionTokens, g.durationMs.p50, g.durationMs.p95, g.ttftMs.p50]),
      [
        [null, 'm1', 2, 0, 2, 4, 10, 10, 5],
        ['alice', 'm1', 6, 1, 600, 300, 300, 600, 3],
        ['bob', 'm2', 3, 2, 21, 0, 20, 20, null],
      ],
    );
    assert.deepEqual(j.total, { ...j.total, requests: 11, errors: 3, promptTokens: 623, completionTokens: 304 });
  });

  it('--delete-before deletes the rows older than a time (SQLite and PostgreSQL), and only those', async (t) => {
    const dir = await sqliteDataDir();
    const r = await runSwitchboard(['usage', '--data-dir', dir, '--delete-before', SINCE]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Deleted 1 usage rows older than ${SINCE} \\(sqlite `));
    const sink = new SqliteSink({ file: join(dir, 'usage.db'), migrate: false });
    await sink.open();
    const left = await sink.read({ sinceMs: 0, untilMs: T0 + 365 * 86_400_000 });
    await sink.close();
    assert.deepEqual(left.map((x) => x.uid), knownRows().filter((x) => x.ts >= T0).map((x) => x.uid));
    const again = await runSwitchboard(['usage', '--data-dir', dir, '--delete-before', SINCE, '--json']);
    assert.deepEqual({ ...(JSON.parse(again.stdout) as Record<string, unknown>), sink: undefined }, { sink: undefined, before: SINCE, deleted: 0 });
    const bad = await runSwitchboard(['usage', '--data-dir', dir, '--delete-before', 'last week']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--delete-before: expected a duration.*\[SB_ERR_USAGE\]/);

    const schema = await pgSchema(t);
    if (!schema) return;
    const pgSink = new PostgresSink({ url: POSTGRES_URL, schema });
    await pgSink.open();
    await pgSink.write(knownRows());
    const pgr = await runSwitchboard(['usage', '--db', `${POSTGRES_URL}?schema=${schema}`, '--delete-before', UNTIL, '--json']);
    assert.equal(pgr.code, 0, pgr.stderr);
    assert.equal((JSON.parse(pgr.stdout) as { deleted: number }).deleted, 12, 'every row but the one at the period end');
    assert.deepEqual((await pgSink.read({ sinceMs: 0, untilMs: T0 + 365 * 86_400_000 })).map((x) => x.uid), ['u-12']);
    await pgSink.close();
  });

  it('says what is wrong: no database, a bad period, a bad dimension, nothing to read', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sb-usage-cli-'));
    const noDb = await runSwitchboard(['usage', '--data-dir', empty]);
    assert.equal(noDb.code, 2);
    assert.match(noDb.stderr, /no usage database here.*\[SB_ERR_USAGE_DB\]/);
    const badSince = await runSwitchboard(['usage', '--data-dir', empty, '--since', 'yesterday']);
    assert.match(badSince.stderr, /--since: expected a duration.*\[SB_ERR_USAGE\]/);
    const badBy = await runSwitchboard(['usage', '--data-dir', empty, '--by', 'key,colour']);
    assert.match(badBy.stderr, /unknown dimension 'colour'/);
    const nothing = await runSwitchboard(['usage'], { env: { SWITCHBOARD_USAGE_DB: '' } });
    assert.match(nothing.stderr, /give --db/);
    const refused = await runSwitchboard(['usage', '--db', 'postgres://sb:hunter2@127.0.0.1:1/x']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /SB_ERR_USAGE_DB/);
    assert.ok(!refused.stderr.includes('hunter2'), refused.stderr);
  });
});

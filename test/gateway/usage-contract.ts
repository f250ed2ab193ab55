// The contract every usage sink keeps (STYLE: one suite per pluggable family). A new sink is a
// new file plus a three-line test that calls usageSinkContract().
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { StoredUsageRow, UsageReportRow, UsageSink } from '../../src/gateway/usage/index.js';

/** A fresh, empty database for one test; `another()` opens a second sink on the same database. */
export type MakeSink = (t: TestContext) => Promise<{ sink: UsageSink; another(): UsageSink } | undefined>;

export const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

export function usageRow(i: number, over: Partial<StoredUsageRow> = {}): StoredUsageRow {
  return {
    uid: `u-${i}`,
    ts: T0 + i * 1000,
    requestId: `req-${i}`,
    keyName: 'alice',
    model: 'm1',
    variant: null,
    backend: 'gpu-1',
    status: 200,
    promptTokens: 10,
    completionTokens: 20,
    ttftMs: 5,
    durationMs: 100,
    endpoint: '/v1/chat/completions',
    ...over,
  };
}

const ALL = { sinceMs: 0, untilMs: T0 + 365 * 86_400_000 };

function find(rows: UsageReportRow[], key: string | null, model: string): UsageReportRow {
  const r = rows.find((x) => x.group.key === key && x.group.model === model);
  assert.ok(r, `no report row for ${key}/${model} in ${JSON.stringify(rows)}`);
  return r;
}

export function usageSinkContract(name: string, make: MakeSink): void {
  describe(`usage sink contract: ${name}`, () => {
    const open = async (t: TestContext): Promise<{ sink: UsageSink; another(): UsageSink } | undefined> => {
      const made = await make(t);
      if (!made) return undefined;
      t.after(() => made.sink.close());
      await made.sink.open();
      return made;
    };

    it('stores rows exactly: nulls, unicode, fractional milliseconds, millisecond timestamps', async (t) => {
      const s = await open(t);
      if (!s) return;
      const rows = [
        usageRow(1),
        usageRow(2, { keyName: null, variant: 'chat-v2', backend: null, ttftMs: null, status: 503, durationMs: 12.375, ts: T0 + 2001 }),
        usageRow(3, { model: 'модель "x" \\ ü', requestId: 'client-id-ü', endpoint: '/v1/embeddings', promptTokens: 2_000_000_000, completionTokens: 0 }),
      ];
      assert.equal(await s.sink.write(rows), 3);
      assert.deepEqual(await s.sink.read(ALL), rows);
    });

    it('never duplicates: a row whose uid is stored is skipped, the others of the batch go in', async (t) => {
      const s = await open(t);
      if (!s) return;
      const rows = Array.from({ length: 10 }, (_, i) => usageRow(i));
      assert.equal(await s.sink.write(rows.slice(0, 6)), 6);
      assert.equal(await s.sink.write(rows.slice(0, 6)), 0, 'the same batch again inserts nothing');
      assert.equal(await s.sink.write(rows), 4, 'only the four new rows');
      const stored = await s.sink.read(ALL);
      assert.equal(stored.length, 10);
      assert.deepEqual(stored.map((r) => r.uid), rows.map((r) => r.uid));
    });

    it('writes a batch all or nothing: one bad row rolls the whole batch back', async (t) => {
      const s = await open(t);
      if (!s) return;
      await s.sink.write([usageRow(0)]);
      const bad = [usageRow(1), usageRow(2, { model: null as unknown as string }), usageRow(3)];
      await assert.rejects(s.sink.write(bad), { code: 'SB_ERR_USAGE_DB' });
      assert.deepEqual((await s.sink.read(ALL)).map((r) => r.uid), ['u-0']);
      // and the sink still works afterwards
      assert.equal(await s.sink.write([usageRow(1)]), 1);
    });

    it('writes a large batch in one call (more rows than one INSERT statement holds)', async (t) => {
      const s = await open(t);
      if (!s) return;
      const rows = Array.from({ length: 2500 }, (_, i) => usageRow(i, { ts: T0 + i }));
      assert.equal(await s.sink.write(rows), 2500);
      assert.equal((await s.sink.read(ALL)).length, 2500);
    });

    it('prunes the oldest rows before a time, at most `limit` a call, and keeps the rest', async (t) => {
      const s = await open(t);
      if (!s) return;
      // two rows share a millisecond at the cut, in different uids; ts T0+i*1000
      const rows = [...Array.from({ length: 10 }, (_, i) => usageRow(i)), usageRow(10, { ts: T0 + 4000, uid: 'u-4b' })];
      assert.equal(await s.sink.write(rows), 11);
      const cut = T0 + 5000; // rows 0..4 and u-4b are older (6 rows)
      assert.equal(await s.sink.prune(cut, 4), 4);
      const left = await s.sink.read(ALL);
      assert.equal(left.length, 7);
      assert.ok(left.every((r) => r.ts >= T0 + 3000), `the oldest went first: ${left.map((r) => r.uid).join(',')}`);
      assert.equal(await s.sink.prune(cut, 4), 2, 'the rest of the old rows, fewer than the limit');
      assert.equal(await s.sink.prune(cut, 4), 0);
      assert.deepEqual((await s.sink.read(ALL)).map((r) => r.uid), ['u-5', 'u-6', 'u-7', 'u-8', 'u-9'], 'a row at the cut itself stays');
    });

    it('opening again (same or another sink on the database) migrates nothing and keeps rows', async (t) => {
      const s = await open(t);
      if (!s) return;
      await s.sink.write([usageRow(1)]);
      await s.sink.open();
      const other = s.another();
      t.after(() => other.close());
      await other.open();
      assert.equal(await other.write([usageRow(1), usageRow(2)]), 1);
      assert.equal((await s.sink.read(ALL)).length, 2);
    });

    it('reports per key and model: requests, errors, tokens, nearest-rank p50/p95, period bounds', async (t) => {
      const s = await open(t);
      if (!s) return;
      const rows: StoredUsageRow[] = [];
      // alice/m1: durations 10..100 (10 rows), ttft 1..10 except one null; two errors
      for (let i = 0; i < 10; i++) {
        rows.push(usageRow(i, { durationMs: (i + 1) * 10, ttftMs: i === 9 ? null : i + 1, status: i < 2 ? 500 - i * 71 : 200, promptTokens: i, completionTokens: 2 * i }));
      }
      // no key / m2: one row
      rows.push(usageRow(10, { keyName: null, model: 'm2', durationMs: 7, ttftMs: null, promptTokens: 3, completionTokens: 4 }));
      // bob/m1, one inside and one just outside the period (until is exclusive)
      rows.push(usageRow(11, { keyName: 'bob', status: 404, durationMs: 50, ttftMs: 9 }));
      rows.push(usageRow(12, { keyName: 'bob', ts: T0 + 100_000 }));
      // before the period (since is inclusive: T0 itself counts)
      rows.push(usageRow(13, { ts: T0 - 1 }));
      await s.sink.write(rows);

      const period = { sinceMs: T0, untilMs: T0 + 100_000 };
      const report = await s.sink.report({ ...period, by: ['key', 'model'] });
      assert.deepEqual(report.map((r) => [r.group.key, r.group.model]), [[null, 'm2'], ['alice', 'm1'], ['bob', 'm1']]);
      const a = find(report, 'alice', 'm1');
      assert.equal(a.requests, 10);
      assert.equal(a.errors, 2);
      assert.equal(a.promptTokens, 45);
      assert.equal(a.completionTokens, 90);
      assert.deepEqual(a.durationMs, { p50: 50, p95: 100 });
      // 9 ttft values 1..9: p50 = 5th, p95 = 9th
      assert.deepEqual(a.ttftMs, { p50: 5, p95: 9 });
      const none = find(report, null, 'm2');
      assert.deepEqual([none.requests, none.errors, none.promptTokens, none.completionTokens], [1, 0, 3, 4]);
      assert.deepEqual(none.durationMs, { p50: 7, p95: 7 });
      assert.deepEqual(none.ttftMs, { p50: null, p95: null });
      const bob = find(report, 'bob', 'm1');
      assert.deepEqual([bob.requests, bob.errors], [1, 1]);

      const total = await s.sink.report({ ...period, by: [] });
      assert.equal(total.length, 1);
      assert.deepEqual([total[0]!.requests, total[0]!.errors, total[0]!.promptTokens], [12, 3, 45 + 3 + 10]);

      const byStatus = await s.sink.report({ ...period, by: ['status'] });
      assert.deepEqual(byStatus.map((r) => [r.group.status, r.requests]), [[200, 9], [404, 1], [429, 1], [500, 1]]);

      assert.deepEqual(await s.sink.report({ sinceMs: T0 + 200_000, untilMs: T0 + 300_000, by: ['key', 'model'] }), []);
    });
  });
}

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { createLogger, ManualClock, MetricsRegistry, seededRandom, type Logger } from '../../src/core/index.js';
import {
  createUsageRecorder,
  PostgresSink,
  registerUsageMetrics,
  SPOOL_FILE,
  SqliteSink,
  type StoredUsageRow,
  type UsageRecorder,
  type UsageRecorderOptions,
  type UsageRow,
  type UsageSink,
} from '../../src/gateway/usage/index.js';
import { eventually } from '../helpers/process.js';
import { pgSchema, POSTGRES_URL } from '../helpers/services.js';
import { T0 } from './usage-contract.js';

const ALL = { sinceMs: 0, untilMs: T0 + 365 * 86_400_000 };

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sb-usage-rec-'));
}

function row(i: number, over: Partial<UsageRow> = {}): UsageRow {
  return {
    ts: T0 + i,
    requestId: `req-${i}`,
    keyName: i % 2 ? 'alice' : null,
    model: 'm1',
    variant: null,
    backend: 'gpu-1',
    status: 200,
    promptTokens: 10,
    completionTokens: 20,
    ttftMs: 3,
    durationMs: 40,
    endpoint: '/v1/chat/completions',
    ...over,
  };
}

/** Log lines as objects, for asserting what the recorder said. */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ name: 'router', level: 'debug', destination }), lines };
}

/** A real sink behind a switch (the database "returns" when the test flips it) that counts writes. */
class SwitchSink implements UsageSink {
  writes: number[] = [];
  /** Request ids of the rows written, in the order the database received them. */
  received: string[] = [];
  started = 0;
  #gate: Promise<void> | undefined;
  constructor(public current: UsageSink) {}
  get kind(): UsageSink['kind'] {
    return this.current.kind;
  }
  get target(): string {
    return this.current.target;
  }
  /** Holds every write until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.#gate = new Promise<void>((r) => (release = r));
    return () => {
      this.#gate = undefined;
      release();
    };
  }
  open(): Promise<void> {
    return this.current.open();
  }
  async write(rows: readonly StoredUsageRow[]): Promise<number> {
    this.started++;
    if (this.#gate) await this.#gate;
    const n = await this.current.write(rows);
    this.writes.push(rows.length);
    for (const r of rows) this.received.push(r.requestId);
    return n;
  }
  read: UsageSink['read'] = (r, l) => this.current.read(r, l);
  report: UsageSink['report'] = (q) => this.current.report(q);
  /** The limit of every prune statement, in order. */
  prunes: number[] = [];
  prune: UsageSink['prune'] = (before, limit) => {
    this.prunes.push(limit);
    return this.current.prune(before, limit);
  };
  close(): Promise<void> {
    return this.current.close();
  }
}

async function recorder(t: TestContext, opts: UsageRecorderOptions): Promise<UsageRecorder> {
  const r = await createUsageRecorder({ flushIntervalMs: 3_600_000, retryBaseMs: 20, retryMaxMs: 100, ...opts });
  t.after(() => r.close());
  return r;
}

function unreachable(): PostgresSink {
  return new PostgresSink({ url: 'postgres://sb@127.0.0.1:1/nothing', connectTimeoutMs: 1000 });
}

function spoolLines(dir: string): string[] {
  const f = join(dir, SPOOL_FILE);
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
}

describe('usage recorder: batching', () => {
  it('writes many rows in few transactions, in order, each once', async (t) => {
    const dir = tempDir();
    const sink = new SwitchSink(new SqliteSink({ file: join(dir, 'usage.db') }));
    const r = await recorder(t, { dataDir: dir, sink, batchSize: 200 });
    for (let i = 0; i < 1000; i++) r.record(row(i));
    await r.flush();
    const stored = await sink.read(ALL);
    assert.equal(stored.length, 1000);
    assert.deepEqual(stored.map((s) => s.requestId), Array.from({ length: 1000 }, (_, i) => `req-${i}`));
    assert.equal(new Set(stored.map((s) => s.uid)).size, 1000);
    assert.ok(sink.writes.length <= 6, `1000 rows took ${sink.writes.length} transactions: ${sink.writes.join(',')}`);
    assert.ok(sink.writes.every((n) => n <= 200), `no transaction above batchSize: ${sink.writes.join(',')}`);
    assert.deepEqual({ ...r.status(), target: undefined }, { sink: 'sqlite', target: undefined, state: 'ok', buffered: 0, spooledRows: 0, spoolBytes: 0, dropped: 0, written: 1000, lastError: null, retentionMs: null, pruned: 0 });
  });

  it('record() only queues; a full batch is written without waiting for the interval or flush()', async (t) => {
    const dir = tempDir();
    const sink = new SwitchSink(new SqliteSink({ file: join(dir, 'usage.db') }));
    const r = await recorder(t, { dataDir: dir, sink, batchSize: 50 });
    for (let i = 0; i < 49; i++) assert.equal(r.record(row(i)), undefined);
    assert.equal(r.status().buffered, 49);
    await new Promise((res) => setTimeout(res, 50));
    assert.equal((await sink.read(ALL)).length, 0, 'below batchSize nothing is written before the interval');
    r.record(row(49));
    await eventually(async () => (await sink.read(ALL)).length === 50, 5000);
    assert.deepEqual(sink.writes, [50]);
  });

  it('writes on the interval, and close() writes what is left', async (t) => {
    const dir = tempDir();
    const file = join(dir, 'usage.db');
    const r = await recorder(t, { dataDir: dir, flushIntervalMs: 30 });
    r.record(row(1));
    r.record(row(2));
    const reader = new SqliteSink({ file });
    t.after(() => reader.close());
    await eventually(async () => {
      await reader.open();
      return (await reader.read(ALL)).length === 2;
    }, 5000);
    r.record(row(3));
    await r.close();
    assert.deepEqual((await reader.read(ALL)).map((s) => s.requestId), ['req-1', 'req-2', 'req-3']);
    assert.equal(existsSync(join(dir, 'usage.db')), true, 'SQLite is the default, in the data directory');
    r.record(row(4));
    assert.equal(r.status().dropped, 1, 'a row after close is counted as dropped');
  });

  it('moves rows to the spool while a write hangs, instead of holding them all in memory', async (t) => {
    const dir = tempDir();
    const sink = new SwitchSink(new SqliteSink({ file: join(dir, 'usage.db') }));
    const r = await recorder(t, { dataDir: dir, sink, batchSize: 10, maxBufferedRows: 30 });
    const release = sink.hold();
    for (let i = 0; i < 10; i++) r.record(row(i));
    await eventually(() => sink.started === 1, 5000); // the first batch is in the (held) write
    for (let i = 10; i < 45; i++) r.record(row(i));
    await eventually(() => r.status().spooledRows === 35, 5000);
    assert.equal(r.status().buffered, 10, 'only the batch being written is still in memory');
    release();
    await r.flush();
    const stored = await sink.read(ALL);
    assert.equal(stored.length, 45);
    assert.equal(new Set(stored.map((s) => s.requestId)).size, 45);
    assert.equal(r.status().spooledRows, 0);
    assert.equal(existsSync(join(dir, SPOOL_FILE)), false);
  });
});

describe('usage recorder: nothing lost while the database is away', () => {
  it('PostgreSQL unreachable: rows spool to disk; when it returns they all arrive exactly once, spool first, and the spool is deleted', async (t) => {
    const schema = await pgSchema(t);
    if (!schema) return;
    const dir = tempDir();
    const log = captureLogger();
    const sink = new SwitchSink(unreachable());
    const r = await recorder(t, { dataDir: dir, sink, batchSize: 20, logger: log.logger, retryBaseMs: 50, retryMaxMs: 200, flushIntervalMs: 25 });
    assert.equal(r.status().state, 'spooling', 'the failed first connection is visible at once');
    assert.match(r.status().lastError ?? '', /ECONNREFUSED/);

    for (let i = 0; i < 50; i++) r.record(row(i));
    await r.flush();
    assert.equal(r.status().spooledRows, 50);
    assert.equal(spoolLines(dir).length, 50);
    for (let i = 50; i < 80; i++) r.record(row(i));
    await r.flush();
    assert.deepEqual({ state: r.status().state, spooled: r.status().spooledRows, written: r.status().written, dropped: r.status().dropped }, { state: 'spooling', spooled: 80, written: 0, dropped: 0 });
    assert.equal(log.lines.filter((l) => /usage database unavailable/.test(String(l.msg))).length, 1, 'the outage is logged once, not per retry');

    // the database comes back; the flusher finds it on its own (no flush() call)
    const down = sink.current;
    sink.current = new PostgresSink({ url: POSTGRES_URL, schema });
    await down.close();
    for (let i = 80; i < 90; i++) r.record(row(i));
    await eventually(() => r.status().state === 'ok' && r.status().buffered === 0, 10_000);
    assert.equal(existsSync(join(dir, SPOOL_FILE)), false, 'spool deleted once drained');
    const stored = await sink.read(ALL);
    assert.deepEqual(stored.map((s) => s.requestId).sort(), Array.from({ length: 90 }, (_, i) => `req-${i}`).sort());
    assert.equal(new Set(stored.map((s) => s.uid)).size, 90);
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    t.after(() => c.end());
    const n = await c.query(`SELECT count(*)::int AS n FROM "${schema}".usage_records`);
    assert.equal((n.rows[0] as { n: number }).n, 90);
    assert.equal(r.status().written, 90);
    assert.ok(log.lines.some((l) => /reachable again/.test(String(l.msg))));
  });

  it('a crash between insert and spool deletion: the leftover spool is drained at start without duplicates', async (t) => {
    const dir = tempDir();
    const file = join(dir, 'usage.db');
    const pre = new SqliteSink({ file });
    await pre.open();
    const rows: StoredUsageRow[] = Array.from({ length: 100 }, (_, i) => ({ ...row(i), uid: `crash.${i}` }));
    // the first 60 reached the database, but the process died before the spool was deleted
    await pre.write(rows.slice(0, 60));
    await pre.close();
    // and its last line was torn by the crash
    writeFileSync(join(dir, SPOOL_FILE), rows.map((x) => JSON.stringify(x)).join('\n') + '\n{"uid":"crash.1');
    const log = captureLogger();
    const r = await recorder(t, { dataDir: dir, logger: log.logger });
    assert.equal(r.status().spooledRows, 101);
    await eventually(() => r.status().spooledRows === 0, 5000);
    await r.flush();
    const reader = new SqliteSink({ file });
    await reader.open();
    t.after(() => reader.close());
    const stored = await reader.read(ALL);
    assert.equal(stored.length, 100);
    assert.deepEqual(stored.map((s) => s.uid).sort(), rows.map((x) => x.uid).sort());
    assert.equal(existsSync(join(dir, SPOOL_FILE)), false);
    assert.ok(log.lines.some((l) => /left from a previous run/.test(String(l.msg))));
    assert.ok(log.lines.some((l) => /torn write/.test(String(l.msg))));
  });

  it('a full spool stops growing at spoolMaxBytes, counts dropped rows and says so once', async (t) => {
    const dir = tempDir();
    const log = captureLogger();
    const sink = new SwitchSink(unreachable());
    const r = await recorder(t, { dataDir: dir, sink, logger: log.logger, spoolMaxBytes: 8192, batchSize: 50 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) r.record(row(round * 100 + i));
      await r.flush();
    }
    const s = r.status();
    assert.ok(s.spoolBytes <= 8192 && s.spoolBytes > 8192 - 400, `spool ${s.spoolBytes} bytes`);
    assert.ok(s.spooledRows > 0 && s.spooledRows < 300);
    assert.equal(s.spooledRows + s.dropped, 300, 'every row is either spooled or counted as dropped');
    assert.equal(spoolLines(dir).length, s.spooledRows);
    const full = log.lines.filter((l) => /spool full/.test(String(l.msg)));
    assert.equal(full.length, 1, 'said once, not per row or per batch');
    assert.equal(full[0]!.level, 'error');

    const registry = new MetricsRegistry();
    registerUsageMetrics(registry, r);
    const text = registry.render();
    assert.match(text, new RegExp(`^router_usage_rows_dropped_total ${s.dropped}$`, 'm'));
    assert.match(text, /^router_usage_db_up 0$/m);

    // the database returns: what was spooled arrives; the dropped count stays
    const down = sink.current;
    sink.current = new SqliteSink({ file: join(dir, 'usage.db') });
    await down.close();
    r.record(row(1000));
    await r.flush();
    assert.equal((await sink.read(ALL)).length, s.spooledRows + 1);
    // in the order recorded: the spool (the first rows, the later ones were dropped) then the new row
    assert.deepEqual(sink.received, [...Array.from({ length: s.spooledRows }, (_, i) => `req-${i}`), 'req-1000']);
    assert.equal(r.status().state, 'ok');
    assert.equal(r.status().dropped, s.dropped);
    assert.match(registry.render(), /^router_usage_db_up 1$/m);
  });

  it('one recorder per data directory: a second one is refused until the first closes', async (t) => {
    const dir = tempDir();
    const a = await createUsageRecorder({ dataDir: dir });
    await assert.rejects(createUsageRecorder({ dataDir: dir }), { code: 'SB_ERR_USAGE_SPOOL', message: /one router per data directory/ });
    await a.close();
    const b = await recorder(t, { dataDir: dir });
    assert.equal(b.status().state, 'ok');
  });

  it('a stale lock from a dead process does not block the start', async (t) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'usage-spool.lock'), '2147483646\n');
    const r = await recorder(t, { dataDir: dir });
    r.record(row(1));
    await r.flush();
    assert.equal(r.status().written, 1);
  });

  it('retries with exponential back-off, not on every tick, and needs no flush() to recover', async (t) => {
    const dir = tempDir();
    const attempts: number[] = [];
    let up = false;
    const real = new SqliteSink({ file: join(dir, 'usage.db') });
    const refuse = (): Promise<never> => {
      attempts.push(performance.now());
      return Promise.reject(new Error('connect ECONNREFUSED'));
    };
    const flaky: UsageSink = {
      kind: 'sqlite',
      target: 'flaky',
      open: () => (up ? real.open() : refuse()),
      write: (rows) => (up ? real.write(rows) : refuse()),
      read: (r, l) => real.read(r, l),
      report: (q) => real.report(q),
      prune: (b, l) => real.prune(b, l),
      close: () => real.close(),
    };
    // ticks every 5 ms; retries from 20 ms doubling to 160 ms
    const r = await createUsageRecorder({ dataDir: dir, sink: flaky, random: seededRandom(7), flushIntervalMs: 5, retryBaseMs: 20, retryMaxMs: 160 });
    t.after(() => r.close());
    r.record(row(1));
    await new Promise((res) => setTimeout(res, 1500));
    // ~300 ticks; a retry per tick would be ~300 attempts, back-off allows about 1500 / 90
    assert.ok(attempts.length >= 2 && attempts.length <= 40, `${attempts.length} attempts`);
    const gaps = attempts.slice(1).map((a, i) => a - attempts[i]!);
    assert.ok(gaps.every((g) => g >= 9.5), `never sooner than retryBaseMs / 2: ${gaps.map((g) => g.toFixed(1)).join(', ')}`);
    assert.equal(r.status().spooledRows, 1);
    up = true;
    await eventually(() => r.status().state === 'ok', 5000);
    assert.equal((await real.read(ALL)).length, 1);
  });
});

describe('usage recorder: retention', () => {
  const DAY = 86_400_000;

  it('deletes rows older than the retention at start and every interval, a batch per statement, new rows going in between', async (t) => {
    const dir = tempDir();
    const clock = new ManualClock(T0 + 10 * DAY);
    const sink = new SwitchSink(new SqliteSink({ file: join(dir, 'usage.db') }));
    await sink.open();
    // 25 rows 9 days old, 5 rows 1 day old
    await sink.write(Array.from({ length: 30 }, (_, i) => ({ ...row(i), uid: `old-${i}`, ts: T0 + (i < 25 ? 1 : 9) * DAY + i })));
    const { logger, lines } = captureLogger();
    const r = await recorder(t, { dataDir: dir, sink, clock, logger, retentionMs: 7 * DAY, pruneIntervalMs: DAY, pruneBatchRows: 10 });
    await r.prune();
    assert.equal((await sink.read(ALL)).length, 5, 'the 25 rows older than 7 days are gone');
    assert.deepEqual(sink.prunes.slice(0, 3), [10, 10, 10], '25 rows as statements of at most 10');
    assert.equal(r.status().pruned, 25);
    assert.equal(r.status().retentionMs, 7 * DAY);
    assert.ok(lines.some((l) => l.msg === 'usage retention: deleted rows older than the retention period' && l.deleted === 25), JSON.stringify(lines));
    // rows recorded now are kept; after 7 more days the interval deletes the 1-day-old ones (8 days old then)
    r.record(row(100, { ts: clock.now() }));
    await r.flush();
    await clock.advance(7 * DAY);
    await eventually(() => r.status().pruned === 30, 5000);
    assert.deepEqual((await sink.read(ALL)).map((s) => s.requestId), ['req-100']);
  });

  it('runs no statement without retention, starts when a reload sets it, and stops when it is removed', async (t) => {
    const dir = tempDir();
    const clock = new ManualClock(T0 + 10 * DAY);
    const sink = new SwitchSink(new SqliteSink({ file: join(dir, 'usage.db') }));
    const r = await recorder(t, { dataDir: dir, sink, clock, pruneIntervalMs: DAY });
    r.record(row(1));
    await r.flush();
    await clock.advance(3 * DAY);
    await r.prune();
    assert.deepEqual(sink.prunes, [], 'no retention: nothing deleted, not even asked');
    assert.equal((await sink.read(ALL)).length, 1);
    r.setRetention(DAY);
    await eventually(() => r.status().pruned === 1, 5000);
    r.setRetention(undefined);
    const asked = sink.prunes.length;
    r.record(row(2, { ts: T0 }));
    await r.flush();
    await clock.advance(3 * DAY);
    assert.equal(sink.prunes.length, asked);
    assert.equal((await sink.read(ALL)).length, 1, 'kept once retention is off');
  });

  it('skips a run while the database is away and catches up on the next one', async (t) => {
    const dir = tempDir();
    const clock = new ManualClock(T0 + 10 * DAY);
    const real = new SqliteSink({ file: join(dir, 'usage.db') });
    await real.open();
    await real.write([{ ...row(1), uid: 'old-1', ts: T0 }]);
    let up = false;
    const pruned: number[] = [];
    const flaky: UsageSink = {
      kind: 'sqlite',
      target: 'flaky',
      open: () => (up ? real.open() : Promise.reject(new Error('connect ECONNREFUSED'))),
      write: (rows) => (up ? real.write(rows) : Promise.reject(new Error('connect ECONNREFUSED'))),
      read: (r, l) => real.read(r, l),
      report: (q) => real.report(q),
      prune: async (b, l) => {
        if (!up) throw new Error('connect ECONNREFUSED');
        const n = await real.prune(b, l);
        pruned.push(n);
        return n;
      },
      close: () => real.close(),
    };
    const r = await recorder(t, { dataDir: dir, sink: flaky, clock, retentionMs: DAY, pruneIntervalMs: DAY });
    r.record(row(2, { ts: clock.now() }));
    await r.flush();
    await r.prune();
    assert.deepEqual(pruned, [], 'not tried while the database fails');
    assert.equal(r.status().state, 'spooling');
    up = true;
    await r.flush();
    assert.equal(r.status().state, 'ok');
    await clock.advance(DAY);
    await eventually(() => r.status().pruned === 1, 5000);
    assert.deepEqual((await real.read(ALL)).map((s) => s.uid === 'old-1'), [false], 'the old row went, the spooled one stayed');
  });
});

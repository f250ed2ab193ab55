import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openUsageSink, PostgresSink, SqliteSink, USAGE_MIGRATIONS, type Migration } from '../../src/gateway/usage/index.js';
import { pgSchema, POSTGRES_URL } from '../helpers/services.js';
import { usageRow, usageSinkContract } from './usage-contract.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sb-usage-'));
}

usageSinkContract('sqlite', (t) => {
  const file = join(tempDir(), 'usage.db');
  void t;
  return Promise.resolve({ sink: new SqliteSink({ file }), another: () => new SqliteSink({ file }) });
});

usageSinkContract('postgres', async (t) => {
  const schema = await pgSchema(t);
  if (!schema) return undefined;
  return { sink: new PostgresSink({ url: POSTGRES_URL, schema }), another: () => new PostgresSink({ url: `${POSTGRES_URL}?schema=${schema}` }) };
});

describe('SQLite sink batches', () => {
  it('lets the event loop run between the statements of a large batch, in one transaction', async () => {
    const sink = new SqliteSink({ file: join(tempDir(), 'usage.db') });
    await sink.open();
    const rows = Array.from({ length: 500 }, (_, i) => usageRow(i));
    let turns = 0;
    const tick = (): void => {
      turns++;
      if (turns < 1000) setImmediate(tick);
    };
    setImmediate(tick);
    assert.equal(await sink.write(rows), 500);
    // 500 rows are seven 64-row statements, then 32-, 16- and 4-row ones: the loop turned between the 64-row ones
    assert.ok(turns >= 6, `the event loop turned ${turns} times during the write`);
    turns = 1000;
    assert.equal((await sink.read({ sinceMs: 0, untilMs: Number.MAX_SAFE_INTEGER })).length, 500);
    await sink.close();
  });

  it('stores every row of batches of any size, whatever statements they are cut into', async () => {
    const sink = new SqliteSink({ file: join(tempDir(), 'usage.db') });
    await sink.open();
    // every column differs from row to row, so a value bound one place off would show
    const row = (i: number): ReturnType<typeof usageRow> =>
      usageRow(i, { status: 200 + (i % 3), promptTokens: i, completionTokens: 2 * i, durationMs: i + 0.5, variant: i % 2 ? 'b' : null, ttftMs: i % 5 ? i : null, backend: `gpu-${i % 7}` });
    let next = 0;
    for (const size of [1, 2, 3, 63, 64, 65, 127, 128, 129, 500]) {
      const rows = Array.from({ length: size }, () => row(next++));
      assert.equal(await sink.write(rows), size, `a batch of ${size}`);
    }
    const back = await sink.read({ sinceMs: 0, untilMs: Number.MAX_SAFE_INTEGER });
    assert.equal(back.length, next);
    assert.deepEqual(back, Array.from({ length: next }, (_, i) => row(i)), 'every row as written, in order');
    await sink.close();
  });

  it('checkpoints the WAL on its own thread, and leaves no WAL behind when closed', async () => {
    const file = join(tempDir(), 'usage.db');
    const sink = new SqliteSink({ file, checkpointIntervalMs: 20 });
    await sink.open();
    assert.equal(sink.checkpointState().mode, 'thread');
    for (let b = 0; b < 4; b++) await sink.write(Array.from({ length: 500 }, (_, i) => usageRow(b * 500 + i)));
    const deadline = Date.now() + 5000;
    let st = sink.checkpointState();
    while (!(st.log > 0 && st.checkpointed === st.log) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      st = sink.checkpointState();
    }
    assert.ok(st.log > 0 && st.checkpointed === st.log, `the thread checkpointed every WAL frame: ${JSON.stringify(st)}`);
    assert.equal(st.lastError, null);
    await sink.close();
    assert.equal(sink.checkpointState().mode, 'off');
    assert.equal(existsSync(`${file}-wal`), false, 'the last connection to close folds the WAL in');
    const db = new Database(file, { readonly: true });
    assert.equal((db.prepare('SELECT count(*) AS n FROM usage_records').get() as { n: number }).n, 2000);
    db.close();
  });

  it('stores nothing of a batch that fails in the middle (rolled back), and takes it whole on retry', async () => {
    const file = join(tempDir(), 'usage.db');
    const sink = new SqliteSink({ file });
    await sink.open();
    const rows = Array.from({ length: 200 }, (_, i) => usageRow(i));
    // the second 64-row statement breaks a NOT NULL constraint, after the first has run
    const bad = rows.map((r, i) => (i === 100 ? { ...r, requestId: null as unknown as string } : r));
    await assert.rejects(sink.write(bad), (err: { code?: string; message?: string }) => err.code === 'SB_ERR_USAGE_DB' && /NOT NULL/.test(err.message ?? ''));
    assert.equal((await sink.read({ sinceMs: 0, untilMs: Number.MAX_SAFE_INTEGER })).length, 0);
    assert.equal(await sink.write(rows), 200);
    assert.equal(await sink.write(rows), 0, 'a retried batch is skipped by uid');
    await sink.close();
  });
});

// a release's next migration, after the shipped ones
const NEXT: Migration = {
  version: USAGE_MIGRATIONS.at(-1)!.version + 1,
  name: 'add_note',
  sqlite: ['ALTER TABLE usage_records ADD COLUMN note TEXT'],
  postgres: ['ALTER TABLE usage_records ADD COLUMN note text'],
};

describe('usage migrations', () => {
  it('sqlite: applied once; a new migration is applied once on an existing database', async () => {
    const file = join(tempDir(), 'usage.db');
    for (let i = 0; i < 3; i++) {
      const s = new SqliteSink({ file });
      await s.open();
      await s.close();
    }
    const withNext = [...USAGE_MIGRATIONS, NEXT];
    for (let i = 0; i < 2; i++) {
      const s = new SqliteSink({ file, migrations: withNext });
      await s.open();
      await s.write([usageRow(i)]);
      await s.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      assert.deepEqual(
        db.prepare("SELECT version, name FROM schema_migrations WHERE component = 'usage' ORDER BY version").all(),
        [...USAGE_MIGRATIONS, NEXT].map((m) => ({ version: m.version, name: m.name })),
      );
      assert.equal((db.prepare('SELECT count(*) AS n FROM usage_records').get() as { n: number }).n, 2);
      assert.ok((db.prepare('PRAGMA table_info(usage_records)').all() as { name: string }[]).some((c) => c.name === 'note'));
    } finally {
      db.close();
    }
  });

  it('sqlite: a version-1 database keeps its rows when its table becomes one B-tree on (ts, uid), and a row written again is still stored once', async () => {
    const file = join(tempDir(), 'usage.db');
    const v1 = USAGE_MIGRATIONS.filter((m) => m.version === 1);
    const old = new SqliteSink({ file, migrations: v1 });
    await old.open();
    const rows = Array.from({ length: 300 }, (_, i) => usageRow(i));
    assert.equal(await old.write(rows), 300);
    await old.close();

    const s = new SqliteSink({ file });
    await s.open();
    // a batch whose commit was not acknowledged is written again after the upgrade: nothing doubles
    assert.equal(await s.write([...rows.slice(250), usageRow(300)]), 1);
    assert.deepEqual(await s.read({ sinceMs: 0, untilMs: Number.MAX_SAFE_INTEGER }), [...rows, usageRow(300)].sort((a, b) => a.ts - b.ts || (a.uid < b.uid ? -1 : 1)));
    await s.close();
    const db = new Database(file, { readonly: true });
    try {
      const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'usage_records'").pluck().get() as string).replace(/\s+/g, ' ');
      assert.match(sql, /PRIMARY KEY \(ts, uid\)\) WITHOUT ROWID$/);
      // no index besides the table itself: an insert is one B-tree walk
      assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records'").pluck().all(), []);
      assert.equal(db.prepare('SELECT count(*) FROM usage_records').pluck().get(), 301);
    } finally {
      db.close();
    }
  });

  it('postgres: applied once, also by several sinks opening at the same moment', async (t) => {
    const schema = await pgSchema(t);
    if (!schema) return;
    const sinks = Array.from({ length: 4 }, () => new PostgresSink({ url: POSTGRES_URL, schema, migrations: [...USAGE_MIGRATIONS, NEXT] }));
    t.after(() => Promise.all(sinks.map((s) => s.close())));
    await Promise.all(sinks.map((s) => s.open()));
    await sinks[0]!.open();
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    t.after(() => c.end());
    const r = await c.query(`SELECT version, name FROM "${schema}".schema_migrations WHERE component = 'usage' ORDER BY version`);
    assert.deepEqual(
      r.rows,
      [...USAGE_MIGRATIONS, NEXT].map((m) => ({ version: m.version, name: m.name })),
    );
    const cols = await c.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'usage_records'`, [schema]);
    assert.ok(cols.rows.some((x: { column_name: string }) => x.column_name === 'note'));
  });
});

describe('usage sink selection and read-only opening', () => {
  it('picks SQLite in the data directory by default, PostgreSQL for postgres:// URLs', () => {
    const dir = tempDir();
    const s = openUsageSink({ dataDir: dir });
    assert.equal(s.kind, 'sqlite');
    assert.equal(s.target, join(dir, 'usage.db'));
    assert.equal(openUsageSink({ url: 'sqlite:/tmp/x/u.db' }).target, '/tmp/x/u.db');
    const p = openUsageSink({ url: 'postgres://u:secret@db.example:5432/sb?schema=usage' });
    assert.equal(p.kind, 'postgres');
    assert.ok(!p.target.includes('secret'), p.target);
    assert.match(p.target, /schema usage/);
    assert.throws(() => openUsageSink({ url: 'mysql://u:secret@db/x' }), (err: Error & { code?: string }) => err.code === 'SB_ERR_USAGE_DB' && !err.message.includes('secret'));
    assert.throws(() => openUsageSink({ url: 'postgres://db/x?schema=a;drop' }), { code: 'SB_ERR_USAGE_DB' });
  });

  it('read-only: a missing SQLite file is an error and is not created', async () => {
    const dir = tempDir();
    const s = openUsageSink({ dataDir: dir, migrate: false });
    await assert.rejects(s.open(), { code: 'SB_ERR_USAGE_DB', message: /no usage database/ });
    assert.equal(existsSync(join(dir, 'usage.db')), false);
  });

  it('read-only: a PostgreSQL schema without the table is an error and is not migrated', async (t) => {
    const schema = await pgSchema(t);
    if (!schema) return;
    const s = new PostgresSink({ url: POSTGRES_URL, schema, migrate: false });
    t.after(() => s.close());
    await assert.rejects(s.open(), { code: 'SB_ERR_USAGE_DB', message: /no usage_records table/ });
  });

  it('an unreachable PostgreSQL fails fast with SB_ERR_USAGE_DB and no password in the message', async (t) => {
    const s = new PostgresSink({ url: 'postgres://sb:hunter2@127.0.0.1:1/x' });
    t.after(() => s.close());
    await assert.rejects(s.open(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'SB_ERR_USAGE_DB');
      assert.ok(!err.message.includes('hunter2'), err.message);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });
});

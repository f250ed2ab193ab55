// switchboard backup / restore against real processes and databases: a router writing its SQLite
// usage database while it is backed up, PostgreSQL exported and loaded back, registry records
// brought back into a fresh registry (live and from its snapshot), and backups that must be
// refused (tampered, truncated, hostile names, existing files without --force).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { request } from 'undici';
import { PostgresSink } from '../../src/gateway/usage/postgres.js';
import type { StoredUsageRow } from '../../src/gateway/usage/row.js';
import type { Manifest } from '../../src/tools/backup/manifest.js';
import { writeTarGz } from '../../src/tools/backup/tar.js';
import { eventually, runSwitchboard, spawnSwitchboard } from '../helpers/process.js';
import { POSTGRES_URL, requirePostgres, uniqueName } from '../helpers/services.js';

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-backup-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function sb(args: string[], opts: { env?: Record<string, string | undefined> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runSwitchboard(args, { timeoutMs: 60_000, ...opts });
}

function okRun(r: { code: number | null; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function sqliteRows(file: string): StoredUsageRow[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM usage_records ORDER BY uid').all() as StoredUsageRow[];
  } finally {
    db.close();
  }
}

async function chat(url: string, model: string): Promise<number> {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
  });
  await res.body.dump();
  return res.statusCode;
}

/** A sim and a router on static services with a data directory: usage rows in SQLite. */
async function routerWithUsage(t: TestContext, dir: string): Promise<{ url: string; dataDir: string; routing: string }> {
  const sim = spawnSwitchboard(t, ['sim', '--port', '0', '--models', 'bk-model', '--decode-ms', '0']);
  const simUrl = new URL(await sim.listeningUrl());
  const services = join(dir, 'services.json');
  writeFileSync(services, JSON.stringify([{ name: 'sim-1', host: '127.0.0.1', port: Number(simUrl.port), metadata: { type: 'openai-api', models: ['bk-model'], health_check: false } }]));
  const dataDir = join(dir, 'router-data');
  const routing = join(dir, 'routing.yaml');
  writeFileSync(routing, `staticServices: ${services}\ndataDir: ${dataDir}\n`);
  const router = spawnSwitchboard(t, ['router', '--router-port', '0', '--config', routing]);
  return { url: await router.listeningUrl(), dataDir, routing };
}

describe('switchboard backup / restore: SQLite usage database', () => {
  it('copies a router\'s usage.db while the router writes to it, and restores the same rows into a fresh folder', async (t) => {
    const dir = scratch(t);
    const { url, dataDir, routing } = await routerWithUsage(t, dir);
    for (let i = 0; i < 20; i++) assert.equal(await chat(url, 'bk-model'), 200);
    await eventually(() => existsSync(join(dataDir, 'usage.db')) && sqliteRows(join(dataDir, 'usage.db')).length >= 20);

    // traffic keeps flowing (and rows keep being flushed) while the backup runs
    let stop = false;
    let sent = 0;
    const traffic = (async () => {
      while (!stop) {
        await Promise.all([chat(url, 'bk-model'), chat(url, 'bk-model'), chat(url, 'bk-model')]);
        sent += 3;
      }
    })();
    await eventually(() => sent >= 30);
    const out = join(dir, 'backup.tar.gz');
    const atStart = sent;
    const backup = await sb(['backup', '--config', routing, '--out', out, '--json']);
    const atEnd = sent;
    stop = true;
    await traffic;
    okRun(backup, 'backup');
    assert.ok(atEnd > atStart, `requests were answered while the backup ran (${atStart} -> ${atEnd})`);

    const manifest = (JSON.parse(backup.stdout) as { manifest: Manifest }).manifest;
    const kinds = manifest.files.map((f) => f.kind).sort();
    assert.deepEqual(kinds, ['config', 'routing', 'usage-sqlite'], 'the routing file, the static services file it names, and usage.db');
    const usage = manifest.files.find((f) => f.kind === 'usage-sqlite')!;
    assert.ok(usage.rows! >= 20, `rows in the copy: ${usage.rows}`);
    assert.match(usage.sha256, /^[0-9a-f]{64}$/);

    const fresh = join(dir, 'fresh');
    const restored = okRun(await sb(['restore', out, '--into', fresh]), 'restore');
    assert.match(restored, /checksums verified/);
    const restoredDb = join(fresh, 'router', 'usage.db');
    const rows = sqliteRows(restoredDb);
    assert.equal(rows.length, usage.rows, 'the restored database has the rows the manifest counted');
    assert.equal(readdirSync(join(fresh, 'router')).join(','), 'usage.db', 'one self-contained file, no -wal or temp files');

    // every restored row is the live row, field for field; the live database has moved on since
    await eventually(() => sqliteRows(join(dataDir, 'usage.db')).length >= sent + 20);
    const live = new Map(sqliteRows(join(dataDir, 'usage.db')).map((r) => [r.uid, r]));
    for (const r of rows) assert.deepEqual(r, live.get(r.uid));
    assert.ok(live.size > rows.length, `the router went on writing after the copy (${live.size} > ${rows.length})`);

    // the restored folder is a router data directory `switchboard usage` reads
    const report = okRun(await sb(['usage', '--data-dir', join(fresh, 'router'), '--by', 'none', '--since', '1h', '--json']), 'usage');
    assert.equal((JSON.parse(report) as { total: { requests: number } }).total.requests, usage.rows);
    assert.equal(readFileSync(join(fresh, 'config', 'routing.yaml'), 'utf8'), readFileSync(routing, 'utf8'));
  });

  it('refuses to replace the usage database of a running router, even with --force, and writes nothing', async (t) => {
    const dir = scratch(t);
    const { url, dataDir } = await routerWithUsage(t, dir);
    assert.equal(await chat(url, 'bk-model'), 200);
    await eventually(() => existsSync(join(dataDir, 'usage.db')) && sqliteRows(join(dataDir, 'usage.db')).length >= 1);
    const out = join(dir, 'b');
    okRun(await sb(['backup', '--data-dir', dataDir, '--out', out]), 'backup');
    const before = readdirSync(dataDir).sort();
    const r = await sb(['restore', out, '--force']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a router \(pid \d+\) is running on this data directory.*nothing was restored \[SB_ERR_RESTORE_TARGET\]/);
    assert.deepEqual(readdirSync(dataDir).sort(), before, 'no temporary or replaced files left behind');
    // loading the rows into the live database instead is allowed: they are all there already
    const merged = okRun(await sb(['restore', out, '--usage-db', join(dataDir, 'usage.db')]), 'restore --usage-db');
    assert.match(merged, /loaded\s+1 usage row into .*: 0 new, 1 already there/);
  });
});

describe('switchboard backup / restore: PostgreSQL usage records', () => {
  it('exports usage_records (more than one cursor page) and loads them into another schema, once', async (t) => {
    if (!(await requirePostgres(t))) return;
    const dir = scratch(t);
    const from = uniqueName('bk_from');
    const to = uniqueName('bk_to');
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    t.after(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${from} CASCADE`);
      await admin.query(`DROP SCHEMA IF EXISTS ${to} CASCADE`);
      await admin.end();
    });
    const sink = new PostgresSink({ url: `${POSTGRES_URL}?schema=${from}` });
    await sink.open();
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const rows: StoredUsageRow[] = Array.from({ length: 12_345 }, (_, i) => ({
      uid: `row-${i}`,
      ts: t0 + Math.floor(i / 3) * 7,
      requestId: `req-${i}`,
      keyName: i % 4 === 0 ? null : `key-${i % 4}`,
      model: i % 2 ? 'chat' : 'embed',
      variant: i % 10 === 0 ? 'canary' : null,
      backend: `b-${i % 3}`,
      status: i % 50 === 0 ? 502 : 200,
      promptTokens: i % 1000,
      completionTokens: (i * 7) % 300,
      ttftMs: i % 5 === 0 ? null : (i % 97) + 0.25,
      durationMs: (i % 400) + 0.5,
      endpoint: '/v1/chat/completions',
    }));
    assert.equal(await sink.write(rows), rows.length);
    await sink.close();

    const out = join(dir, 'pg.tar.gz');
    okRun(await sb(['backup', '--usage-db', `${POSTGRES_URL}?schema=${from}`, '--out', out]), 'backup');
    const listed = okRun(await sb(['restore', out, '--list']), 'restore --list');
    assert.match(listed, /router\/usage-records\.jsonl\s+usage-export\s+.*12345 rows/);

    const first = okRun(await sb(['restore', out, '--usage-db', `${POSTGRES_URL}?schema=${to}`]), 'restore');
    assert.match(first, /loaded\s+12345 usage rows into .*: 12345 new, 0 already there/);
    const again = okRun(await sb(['restore', out, '--usage-db', `${POSTGRES_URL}?schema=${to}`]), 'restore again');
    assert.match(again, /12345 usage rows into .*: 0 new, 12345 already there/);

    const cols = 'uid, ts, request_id, key_name, model, variant, backend, status, prompt_tokens, completion_tokens, ttft_ms, duration_ms, endpoint';
    const a = await admin.query(`SELECT ${cols} FROM ${from}.usage_records ORDER BY uid`);
    const b = await admin.query(`SELECT ${cols} FROM ${to}.usage_records ORDER BY uid`);
    assert.equal(b.rows.length, rows.length);
    assert.deepEqual(b.rows, a.rows, 'every column of every row comes back');

    // the same export becomes a SQLite usage.db for a router that has no PostgreSQL
    const local = join(dir, 'local');
    okRun(await sb(['restore', out, '--data-dir', local]), 'restore into SQLite');
    assert.equal(sqliteRows(join(local, 'usage.db')).length, rows.length);
    // without a destination it says what is needed and writes nothing
    const none = await sb(['restore', out]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /give --usage-db .* or --data-dir .*nothing was restored \[SB_ERR_RESTORE_TARGET\]/);
  });
});

describe('switchboard backup / restore: registry records', () => {
  const records = [
    { name: 'gpu-1-server', port: 8100, metadata: '{"type":"openai-api","models":["qwen3-8b"],"weight":2}' },
    { name: 'gpu-2-server', port: 8102, metadata: '{"type":"openai-api","models":["qwen3-8b"]}' },
    { name: 'embed-server', port: 8104, metadata: '{"type":"embeddings","models":["bge-m3"]}' },
  ];

  async function register(url: string, token?: string): Promise<void> {
    for (const r of records) {
      okRun(await sb(['services', 'register', r.name, '127.0.0.1', String(r.port), '--registry', url, '--metadata', r.metadata, '--lease-ttl', '3600', ...(token ? ['--token', token] : [])]), 'register');
    }
  }

  async function listed(url: string): Promise<Array<{ name: string; port: number; metadata: unknown; lease_ttl: number }>> {
    const res = await request(`${url}/services`);
    const body = (await res.body.json()) as { services: Array<{ name: string; port: number; metadata: unknown; lease_ttl: number }> };
    return body.services.sort((x, y) => x.name.localeCompare(y.name));
  }

  it('a live export re-registered into a fresh registry brings the records back (token checked before anything is written)', async (t) => {
    const dir = scratch(t);
    const old = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
    const oldUrl = await old.listeningUrl();
    await register(oldUrl);
    const before = await listed(oldUrl);
    const out = join(dir, 'reg.tar.gz');
    okRun(await sb(['backup', '--registry-url', oldUrl, '--out', out]), 'backup');
    await old.stop();

    const fresh = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes', '--token', 'restore-secret']);
    const url = await fresh.listeningUrl();
    assert.deepEqual(await listed(url), []);
    const refused = await sb(['restore', out, '--registry-url', url], { env: { SWITCHBOARD_TOKEN: undefined } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /answered 401.*nothing was restored \[SB_ERR_RESTORE_TARGET\]/);
    assert.deepEqual(await listed(url), [], 'nothing registered without the token');

    const done = okRun(await sb(['restore', out, '--registry-url', url], { env: { SWITCHBOARD_TOKEN: 'restore-secret' } }), 'restore');
    assert.match(done, /registered 3 of 3 services/);
    const after = await listed(url);
    assert.deepEqual(
      after.map((s) => [s.name, s.port, s.metadata, s.lease_ttl]),
      before.map((s) => [s.name, s.port, s.metadata, s.lease_ttl]),
    );
    // a second restore keeps what is there; --force registers again
    assert.match(okRun(await sb(['restore', out, '--registry-url', url, '--registry-token', 'restore-secret']), 'again'), /registered 0 of 3 services .*3 already there, kept/);
    assert.match(okRun(await sb(['restore', out, '--registry-url', url, '--registry-token', 'restore-secret', '--force']), 'force'), /registered 3 of 3 services/);
  });

  it('a snapshot restored into an empty data directory is what a registry started there serves', async (t) => {
    const dir = scratch(t);
    const regData = join(dir, 'registry');
    const old = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes', '--data-dir', regData]);
    const oldUrl = await old.listeningUrl();
    await register(oldUrl);
    await eventually(() => existsSync(join(regData, 'registry-snapshot.json')) && readFileSync(join(regData, 'registry-snapshot.json'), 'utf8').includes('embed-server'));
    const out = join(dir, 'snap');
    okRun(await sb(['backup', '--registry-data-dir', regData, '--out', out]), 'backup');
    await old.stop();

    const target = join(dir, 'new-registry');
    okRun(await sb(['restore', out, '--registry-data-dir', target]), 'restore');
    const fresh = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes', '--data-dir', target]);
    const url = await fresh.listeningUrl();
    assert.deepEqual((await listed(url)).map((s) => s.name), ['embed-server', 'gpu-1-server', 'gpu-2-server']);
  });
});

describe('switchboard restore: backups it must refuse', () => {
  async function configBackup(t: TestContext): Promise<{ dir: string; out: string; routing: string; keys: string }> {
    const dir = scratch(t);
    const routing = join(dir, 'routing.yaml');
    const keys = join(dir, 'auth.yaml');
    writeFileSync(routing, `policy: least_connections\nkeysFile: ${keys}\n`);
    writeFileSync(keys, 'keys: []\n');
    const out = join(dir, 'cfg');
    okRun(await sb(['backup', '--config', routing, '--out', out]), 'backup');
    return { dir, out, routing, keys };
  }

  it('refuses a backup whose file no longer matches its checksum, and writes nothing', async (t) => {
    const { dir, out } = await configBackup(t);
    const file = join(out, 'config', 'routing.yaml');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('least_connections', 'least_connectionz'));
    assert.equal(statSync(file).size, Buffer.byteLength(text), 'same size: only the checksum can tell');
    const target = join(dir, 'target');
    const r = await sb(['restore', out, '--into', target]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config\/routing\.yaml: checksum mismatch .*nothing was restored \[SB_ERR_BACKUP_INVALID\]/);
    assert.equal(existsSync(target), false);

    // the same tampered folder packed into an archive is refused the same way
    const archive = join(dir, 'tampered.tar.gz');
    const names = ['manifest.json', 'config/routing.yaml', 'config/auth.yaml'];
    await writeTarGz(names.map((name) => ({ name, file: join(out, name), size: statSync(join(out, name)).size, mtimeMs: Date.now() })), archive);
    const r2 = await sb(['restore', archive, '--into', target]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /checksum mismatch/);
    assert.equal(existsSync(target), false);
  });

  it('refuses truncated archives, stray files and names that leave the folder', async (t) => {
    const { dir, out } = await configBackup(t);
    const good = join(dir, 'good.tar.gz');
    const names = ['manifest.json', 'config/routing.yaml', 'config/auth.yaml'];
    const inputs = names.map((name) => ({ name, file: join(out, name), size: statSync(join(out, name)).size, mtimeMs: Date.now() }));
    await writeTarGz(inputs, good);
    okRun(await sb(['restore', good, '--list']), 'the repacked archive is fine');

    const truncated = join(dir, 'truncated.tar.gz');
    writeFileSync(truncated, readFileSync(good).subarray(0, 200));
    const r1 = await sb(['restore', truncated, '--list']);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /not a valid \.tar\.gz|truncated/);

    const evilFile = join(dir, 'evil.txt');
    writeFileSync(evilFile, 'pwned');
    const evil = join(dir, 'evil.tar.gz');
    await writeTarGz([...inputs, { name: '../escaped.txt', file: evilFile, size: 5, mtimeMs: Date.now() }], evil);
    const r2 = await sb(['restore', evil, '--into', join(dir, 'x')]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /unsafe name in the archive: '\.\.\//);
    assert.equal(existsSync(join(tmpdir(), 'escaped.txt')), false);

    const stray = join(dir, 'stray.tar.gz');
    await writeTarGz([...inputs, { name: 'config/extra.yaml', file: evilFile, size: 5, mtimeMs: Date.now() }], stray);
    const r3 = await sb(['restore', stray, '--list']);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /config\/extra\.yaml: not in the manifest/);

    const missing = await sb(['restore', join(dir, 'nope.tar.gz')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file or folder \[SB_ERR_BACKUP_INVALID\]/);
  });

  it('does not replace existing files without --force (none of them), and with --force replaces them all atomically', async (t) => {
    const { dir, out, routing, keys } = await configBackup(t);
    writeFileSync(routing, 'policy: round_robin\n'); // changed since the backup
    rmSync(keys); // lost since the backup
    const r = await sb(['restore', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Restore would replace a file that exists: .*routing\.yaml \(--force replaces them\); nothing was restored \[SB_ERR_RESTORE_CONFLICT\]/);
    assert.equal(readFileSync(routing, 'utf8'), 'policy: round_robin\n');
    assert.equal(existsSync(keys), false, 'the missing file is not restored either: all or nothing');

    const dry = okRun(await sb(['restore', out, '--force', '--dry-run']), 'dry run');
    assert.match(dry, /Dry run: nothing was written/);
    assert.equal(readFileSync(routing, 'utf8'), 'policy: round_robin\n');

    const forced = okRun(await sb(['restore', out, '--force']), 'restore --force');
    assert.match(forced, /routing\.yaml -> .*routing\.yaml \(replacing the existing file\)/);
    assert.equal(readFileSync(routing, 'utf8'), `policy: least_connections\nkeysFile: ${keys}\n`);
    assert.equal(readFileSync(keys, 'utf8'), 'keys: []\n');
    const leftovers = readdirSync(dir).filter((n) => n.includes('.restore-') || n.endsWith('.tmp'));
    assert.deepEqual(leftovers, []);
  });

  it('backup refuses to overwrite a backup without --force, and leaves nothing behind when a source is missing', async (t) => {
    const { dir, out, routing } = await configBackup(t);
    const r = await sb(['backup', '--config', routing, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists \(--force replaces it\) \[SB_ERR_BACKUP_EXISTS\]/);
    writeFileSync(routing, 'policy: weighted\n');
    okRun(await sb(['backup', '--config', routing, '--out', out, '--force']), 'backup --force');
    assert.equal(readFileSync(join(out, 'config', 'routing.yaml'), 'utf8'), 'policy: weighted\n');

    mkdirSync(join(dir, 'empty'));
    const bad = await sb(['backup', '--config', routing, '--agent-config', join(dir, 'missing.toml'), '--out', join(dir, 'b2.tar.gz')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Cannot back up an agent config \(--agent-config\): .*missing\.toml: no such file \[SB_ERR_BACKUP_SOURCE\]/);
    const bad2 = await sb(['backup', '--registry-data-dir', join(dir, 'empty'), '--out', join(dir, 'b2.tar.gz')]);
    assert.match(bad2.stderr, /has no registry-snapshot\.json/);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('b2') || n.includes('partial')), []);
  });

  it("takes an agent's model snapshot with its config, and puts it back owner-only", async (t) => {
    const dir = scratch(t);
    const logs = join(dir, 'agent-logs');
    mkdirSync(logs);
    const snapshot = join(logs, 'models.json');
    const text = `${JSON.stringify({ version: 1, models: [{ name: 'extra', backend: { type: 'sim', env: { HF_TOKEN: 'hf_secret' } }, metadata: {}, minWorkers: 1, maxWorkers: 1 }] })}\n`;
    writeFileSync(snapshot, text, { mode: 0o600 });
    const toml = join(dir, 'gpu0.toml');
    writeFileSync(toml, `name = "gpu0"\nport = 8100\n[babysitter]\nlog_dir = "${logs}"\n[backend]\ntype = "sim"\n`);
    const out = join(dir, 'backup');
    okRun(await sb(['backup', '--agent-config', toml, '--out', out]), 'backup');
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    assert.deepEqual(manifest.files.map((f) => [f.kind, f.path]), [['agent', 'config/agents/gpu0.toml'], ['agent-models', 'config/agents/models.json']]);
    const tomlText = readFileSync(toml, 'utf8');
    rmSync(snapshot); // the node is rebuilt
    rmSync(toml);
    okRun(await sb(['restore', out]), 'restore');
    assert.equal(readFileSync(toml, 'utf8'), tomlText);
    assert.equal(readFileSync(snapshot, 'utf8'), text);
    assert.equal(statSync(snapshot).mode & 0o777, 0o600, 'it may hold tokens');
    // an agent that never saved one: nothing to take, and no error
    rmSync(snapshot);
    okRun(await sb(['backup', '--agent-config', toml, '--out', join(dir, 'b2')]), 'backup without a snapshot');
    assert.deepEqual((JSON.parse(readFileSync(join(dir, 'b2', 'manifest.json'), 'utf8')) as Manifest).files.map((f) => f.kind), ['agent']);
  });
});

// Gateway policies through a real router: API keys, rate limits (in-process and on the real
// Redis, with two router processes), aliases and canary splits with the guard, usage records in
// SQLite and PostgreSQL, and reloads of the routing file that refuse bad files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Redis } from 'ioredis';
import { SqliteSink } from '../../src/gateway/usage/index.js';
import { usageRow } from '../gateway/usage-contract.js';
import { eventually, runSwitchboard, spawnSwitchboard } from '../helpers/process.js';
import { POSTGRES_URL, REDIS_URL, requirePostgres, requireRedis, uniqueName } from '../helpers/services.js';
import { chat, sleep, spec, startBackend, startRouter } from './helpers.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sb-gw-'));
}

async function createKey(file: string, name: string, extra: string[] = []): Promise<string> {
  const r = await runSwitchboard(['keys', 'create', '--file', file, '--name', name, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const m = /(sk-sb-[\w-]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1]!;
}

describe('router gateway: API keys', () => {
  it('needs a key when a keys file is set: 401 without or with a bad one, 403 for a model the key may not use', async (t) => {
    const dir = tmp();
    const file = join(dir, 'auth.yaml');
    const key = await createKey(file, 'team-a', ['--models', 'm1']);
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { keysFile: file }, [spec(a, ['m1', 'm2'])]);
    const none = await chat(r.url, { model: 'm1' });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { type: string } }).error.type, 'authentication_error');
    assert.equal((await chat(r.url, { model: 'm1' }, { authorization: 'Bearer sk-sb-wrong' })).status, 401);
    const forbidden = await chat(r.url, { model: 'm2' }, { authorization: `Bearer ${key}` });
    assert.equal(forbidden.status, 403);
    const ok = await chat(r.url, { model: 'm1' }, { authorization: `Bearer ${key}` });
    assert.equal(ok.status, 200);
    assert.equal(a.seen.length, 1, 'only the authorised request reached the backend');
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    assert.ok(!metrics.includes(key) && !metrics.includes('sk-sb-'), 'keys never appear in metrics');
  });

  it('revoking a key takes effect without a restart', async (t) => {
    const dir = tmp();
    const file = join(dir, 'auth.yaml');
    const key = await createKey(file, 'team-b');
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { keysFile: file }, [spec(a, ['m1'])]);
    assert.equal((await chat(r.url, { model: 'm1' }, { authorization: `Bearer ${key}` })).status, 200);
    const rev = await runSwitchboard(['keys', 'revoke', '--file', file, '--name', 'team-b']);
    assert.equal(rev.code, 0, rev.stderr);
    const start = Date.now();
    while ((await chat(r.url, { model: 'm1' }, { authorization: `Bearer ${key}` })).status !== 401) {
      assert.ok(Date.now() - start < 6000, 'revocation seen within the keys reload interval');
      await sleep(200);
    }
  });
});

describe('router gateway: rate limits', () => {
  it('refuses past the limit with 429, Retry-After and x-ratelimit headers, and counts the drop', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { rateLimits: { models: { m1: { rpm: 3 } } } }, [spec(a, ['m1'])]);
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await chat(r.url, { model: 'm1' });
      statuses.push(last.status);
      if (i === 0) assert.equal(last.headers.get('x-ratelimit-limit-requests'), '3');
      await last.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.ok(Number(last!.headers.get('retry-after')) >= 1);
    const m = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(m, /router_rate_limit_drops_total\{scope="model"\} 2/);
  });

  it("puts its own x-ratelimit headers on responses, once, in place of a backend's", async (t) => {
    // a backend that sends rate-limit headers of its own (a hosted API behind the router would)
    const own = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const body = '{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'X-RateLimit-Limit-Requests': '999',
          'x-ratelimit-remaining-tokens': '5',
          'x-ratelimited-by': 'backend',
        });
        res.end(body);
      });
    });
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => own.close(() => r())));
    const port = (own.address() as AddressInfo).port;
    const b = { name: 'own', host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m1'] }, static: true } as const;
    const r = await startRouter(t, { rateLimits: { models: { m1: { rpm: 50, tpm: 10_000 } } } }, [b]);
    for (const stream of [false, true]) {
      const res = await chat(r.url, { model: 'm1', max_tokens: 10, stream });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-ratelimit-limit-requests'), '50', "the router's limit, not the backend's 999 (fetch would join two as '50, 999')");
      assert.equal(res.headers.get('x-ratelimit-limit-tokens'), '10000');
      assert.match(res.headers.get('x-ratelimit-remaining-tokens')!, /^\d+$/);
      assert.notEqual(res.headers.get('x-ratelimit-remaining-tokens'), '5');
      assert.equal(res.headers.get('x-ratelimit-reset-requests')?.endsWith('s'), true);
      assert.equal(res.headers.get('x-ratelimited-by'), 'backend', 'other headers of the backend pass on');
    }
    // without limits on the model the backend's headers are passed on as they came
    const plain = await startRouter(t, {}, [b]);
    const res = await chat(plain.url, { model: 'm1' });
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-ratelimit-limit-requests'), '999');
    assert.equal(res.headers.get('x-ratelimit-remaining-tokens'), '5');
  });

  it('reserves prompt + max_tokens and gives back what the response did not use', async (t) => {
    const a = await startBackend(t, 'a'); // answers usage 7 + 3 = 10 tokens
    const r = await startRouter(t, { rateLimits: { models: { m1: { tpm: 1000 } } } }, [spec(a, ['m1'])]);
    // a reservation of ~900 fits once; settling gives back ~890, so the next one fits too
    for (let i = 0; i < 3; i++) {
      const res = await chat(r.url, { model: 'm1', max_tokens: 880 });
      assert.equal(res.status, 200, `request ${i}`);
      await res.arrayBuffer();
      await sleep(20);
    }
    // two at once cannot both reserve 880 of 1000
    const both = await Promise.all([chat(r.url, { model: 'm1', max_tokens: 880 }), chat(r.url, { model: 'm1', max_tokens: 880 })]);
    assert.deepEqual(both.map((x) => x.status).sort(), [200, 429]);
  });

  it('two router processes on one Redis admit no more than the limit between them', async (t) => {
    if (!(await requireRedis(t))) return;
    const a = await startBackend(t, 'a');
    const dir = tmp();
    const prefixModel = uniqueName('m');
    const cfg = join(dir, 'routing.yaml');
    writeFileSync(cfg, `rateLimitStore: ${REDIS_URL}\nrateLimits:\n  models:\n    ${prefixModel}: { rpm: 10 }\n`);
    const services = join(dir, 's.json');
    writeFileSync(services, JSON.stringify([{ name: 'a', host: '127.0.0.1', port: a.port, metadata: { type: 'openai-api', models: [prefixModel], health_check: false } }]));
    const p1 = spawnSwitchboard(t, ['router', '--router-port', '0', '--config', cfg, '--static-services', services]);
    const p2 = spawnSwitchboard(t, ['router', '--router-port', '0', '--config', cfg, '--static-services', services]);
    const [u1, u2] = await Promise.all([p1.listeningUrl(), p2.listeningUrl()]);
    t.after(async () => {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`*${prefixModel}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(i % 2 ? u1 : u2, { model: prefixModel }).then(async (res) => (await res.arrayBuffer(), res.status))));
    const admitted = results.filter((s) => s === 200).length;
    assert.ok(admitted >= 10 && admitted <= 11, `admitted ${admitted} of 30 against a limit of 10/min (one may refill during the run)`);
    assert.equal(results.filter((s) => s === 429).length, 30 - admitted);
  });

  it('fails open when Redis is unreachable, says so, and keeps serving', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { rateLimitStore: 'redis://127.0.0.1:1', rateLimits: { models: { m1: { rpm: 1 } } } }, [spec(a, ['m1'])]);
    for (let i = 0; i < 3; i++) assert.equal((await chat(r.url, { model: 'm1' })).status, 200);
    const m = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(m, /router_rate_limit_store_up 0/);
  });
});

describe('router gateway: aliases and canaries', () => {
  it('sends the served name to the backend and shows the client the name it asked for', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { aliases: { 'bge-m3': 'BAAI/bge-m3' } }, [spec(a, ['BAAI/bge-m3'])]);
    const res = await chat(r.url, { model: 'bge-m3' });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { model: string }).model, 'bge-m3');
    assert.equal((JSON.parse(a.seen.at(-1)!.body) as { model: string }).model, 'BAAI/bge-m3');
    const stream = await (await chat(r.url, { model: 'bge-m3', stream: true })).text();
    assert.ok(stream.includes('"model":"bge-m3"') && !stream.includes('BAAI'), 'streamed chunks carry the alias too');
  });

  it('splits traffic by weight, sticky per key when asked, with the variant in metrics', async (t) => {
    const [v1, v2] = await Promise.all([startBackend(t, 'v1'), startBackend(t, 'v2')]);
    const r = await startRouter(t, { aliases: { chat: { variants: [{ model: 'chat-v1', weight: 80 }, { model: 'chat-v2', weight: 20 }] } } }, [spec(v1, ['chat-v1']), spec(v2, ['chat-v2'])]);
    for (let i = 0; i < 200; i++) await (await chat(r.url, { model: 'chat' })).arrayBuffer();
    const share = v2.seen.length / 200;
    assert.ok(share > 0.1 && share < 0.3, `canary share ${share}`);
    const m = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(m, /router_requests_total\{model="chat",code="200",variant="chat-v2"\} \d+/);
  });

  it('the guard takes a failing canary to weight zero and says why', async (t) => {
    const [v1, v2] = await Promise.all([startBackend(t, 'v1'), startBackend(t, 'v2')]);
    const r = await startRouter(
      t,
      {
        passiveHealth: { maxFails: 0 },
        retries: { attempts: 1 },
        aliases: { chat: { variants: [{ model: 'chat-v1', weight: 50 }, { model: 'chat-v2', weight: 50 }], guard: { baseline: 'chat-v1', canary: 'chat-v2', minRequests: 5, windowMs: 60_000 } } },
      },
      [spec(v1, ['chat-v1']), spec(v2, ['chat-v2'])],
    );
    v2.mode = 'fail500';
    for (let i = 0; i < 60; i++) await (await chat(r.url, { model: 'chat' })).arrayBuffer();
    const before = v2.seen.length;
    for (let i = 0; i < 30; i++) assert.equal((await chat(r.url, { model: 'chat' })).status, 200);
    assert.equal(v2.seen.length, before, 'no more traffic to the canary');
    const g = (await (await fetch(`${r.url}/admin/gateway`)).json()) as { aliases: { chat: { model: string; weight: number; disabled: boolean }[] } };
    assert.deepEqual(g.aliases.chat.map((v) => [v.model, v.weight]), [['chat-v1', 50], ['chat-v2', 0]]);
    assert.ok(r.events.recent().some((e) => e.detail?.includes('canary guard took chat-v2 out of chat: error rate')));
  });
});

describe('router gateway: usage records', () => {
  it('writes one row per request to SQLite in the data directory', async (t) => {
    const dir = tmp();
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { dataDir: dir }, [spec(a, ['m1'])]);
    await (await chat(r.url, { model: 'm1' }, { 'x-request-id': 'u-1' })).arrayBuffer();
    await (await chat(r.url, { model: 'm1', stream: true })).arrayBuffer();
    await (await chat(r.url, { model: 'nope' })).arrayBuffer();
    await r.gateway.usage!.flush();
    const db = new Database(join(dir, 'usage.db'), { readonly: true });
    t.after(() => db.close());
    const rows = db.prepare('SELECT request_id, model, backend, status, prompt_tokens, completion_tokens, ttft_ms FROM usage_records ORDER BY ts, status').all() as { request_id: string; model: string; backend: string | null; status: number; prompt_tokens: number; completion_tokens: number; ttft_ms: number | null }[];
    assert.equal(rows.length, 3);
    const first = rows.find((x) => x.request_id === 'u-1')!;
    assert.deepEqual([first.model, first.backend, first.status, first.prompt_tokens, first.completion_tokens], ['m1', 'a', 200, 7, 3]);
    assert.ok(rows.some((x) => x.ttft_ms !== null && x.completion_tokens > 0), 'the stream has a TTFT and counted tokens');
    assert.ok(rows.some((x) => x.status === 503 && x.backend === null));
  });

  it('writes to PostgreSQL, and the usage report shows the requests', async (t) => {
    if (!(await requirePostgres(t))) return;
    const schema = uniqueName('usage');
    const url = `${POSTGRES_URL}?schema=${schema}`;
    t.after(async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    });
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { dataDir: tmp(), usageDb: url }, [spec(a, ['m1'])]);
    for (let i = 0; i < 4; i++) await (await chat(r.url, { model: 'm1' })).arrayBuffer();
    await r.gateway.usage!.flush();
    const rep = await runSwitchboard(['usage', '--db', url, '--json', '--by', 'model']);
    assert.equal(rep.code, 0, rep.stderr);
    const body = JSON.parse(rep.stdout) as { total: { requests: number; promptTokens: number } };
    assert.equal(body.total.requests, 4);
    assert.equal(body.total.promptTokens, 28);
  });
});

describe('router gateway: usage retention', () => {
  it('deletes rows older than usageRetentionDays at start, says so in /metrics and /admin/gateway, and takes a reloaded value', async (t) => {
    const a = await startBackend(t, 'a');
    const dir = tmp();
    const data = join(dir, 'data');
    const day = 86_400_000;
    const now = Date.now();
    const seed = new SqliteSink({ file: join(data, 'usage.db') });
    await seed.open();
    await seed.write([40, 20, 10, 1].map((age, i) => ({ ...usageRow(i), ts: now - age * day })));
    await seed.close();
    const cfg = join(dir, 'routing.yaml');
    const services = join(dir, 's.json');
    writeFileSync(services, JSON.stringify([{ name: 'a', host: '127.0.0.1', port: a.port, metadata: { type: 'openai-api', models: ['m1'], health_check: false } }]));
    writeFileSync(cfg, `reloadIntervalMs: 100\ndataDir: ${data}\nusageRetentionDays: 30\n`);
    const p = spawnSwitchboard(t, ['router', '--router-port', '0', '--config', cfg, '--static-services', services]);
    const url = await p.listeningUrl();
    await p.waitForLine(/usage retention: deleted rows/, 5000);
    const metric = async (): Promise<string | undefined> => /^router_usage_rows_pruned_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1];
    assert.equal(await metric(), '1', 'the 40-day-old row');
    const gw = (await (await fetch(`${url}/admin/gateway`)).json()) as { usage: { retentionMs: number; pruned: number } };
    assert.deepEqual([gw.usage.retentionMs, gw.usage.pruned], [30 * day, 1]);
    // a bad value is refused whole, naming the field; the old retention stays
    writeFileSync(cfg, `reloadIntervalMs: 100\ndataDir: ${data}\nusageRetentionDays: -1\n`);
    assert.match(await p.waitForLine(/config reload refused/, 5000), /usageRetentionDays/);
    writeFileSync(cfg, `reloadIntervalMs: 100\ndataDir: ${data}\nusageRetentionDays: 5\n`);
    await p.waitForLine(/config reloaded/, 5000);
    await eventually(async () => (await metric()) === '3', 5000);
    const db = new Database(join(data, 'usage.db'), { readonly: true });
    t.after(() => db.close());
    assert.deepEqual(db.prepare('SELECT uid FROM usage_records').pluck().all(), ['u-3'], 'only the 1-day-old row is left');
  });
});

describe('router gateway: reloading the routing file', () => {
  it('applies a changed file while running, refuses a bad one with a log line and keeps the old config', async (t) => {
    const a = await startBackend(t, 'a');
    const dir = tmp();
    const cfg = join(dir, 'routing.yaml');
    const services = join(dir, 's.json');
    writeFileSync(services, JSON.stringify([{ name: 'a', host: '127.0.0.1', port: a.port, metadata: { type: 'openai-api', models: ['BAAI/bge-m3'], health_check: false } }]));
    writeFileSync(cfg, 'reloadIntervalMs: 100\naliases:\n  bge-m3: BAAI/bge-m3\n');
    const p = spawnSwitchboard(t, ['router', '--router-port', '0', '--config', cfg, '--static-services', services]);
    const url = await p.listeningUrl();
    assert.equal((await chat(url, { model: 'bge-m3' })).status, 200);
    writeFileSync(cfg, 'reloadIntervalMs: 100\naliases:\n  bge-m3: BAAI/bge-m3\n  embed: BAAI/bge-m3\n');
    await p.waitForLine(/config reloaded/, 5000);
    assert.equal((await chat(url, { model: 'embed' })).status, 200, 'the new alias works');
    writeFileSync(cfg, 'reloadIntervalMs: 100\naliases:\n  bge-m3: 42\nrateLimits: { nonsense: true }\n');
    const line = await p.waitForLine(/config reload refused/, 5000);
    assert.match(line, /aliases|rateLimits/);
    assert.equal((await chat(url, { model: 'embed' })).status, 200, 'the old config stays in force');
    // SIGHUP and POST /admin/reload do the same
    writeFileSync(cfg, 'reloadIntervalMs: 0\naliases:\n  only: BAAI/bge-m3\n');
    const res = await fetch(`${url}/admin/reload`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal((await chat(url, { model: 'only' })).status, 200);
    assert.equal((await chat(url, { model: 'embed' })).status, 503);
    assert.ok(readFileSync(cfg, 'utf8').includes('only'));
  });
});

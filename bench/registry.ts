// The registry under heartbeat load (issue #2, "Measured"): 1,000 services heartbeating, sent
// from this process over one keep-alive undici Pool to a `switchboard registry` child process,
// with the memory store and with the Redis store, side by side with a bare node:http server
// answering the same requests (the floor any Node HTTP service pays), all in the same run.
// Per server: the most heartbeats/s it answers with 64 requests in flight, its CPU time per
// heartbeat there, its share of one core at the real rate (1,000 services every 5 s = 200/s),
// latency at that rate, and, for the registry, how long a change takes to reach an SSE watcher
// while that load runs. Active probes are off: this measures heartbeats.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { SseParser } from '../src/core/index.js';
import { closedLoop, heartbeatPath, openLoop, percentile, table } from './lib/load.js';
import { BASELINE_SERVER, CLI, cpuMs, startServer, type ServerProcess } from './lib/process.js';

const SERVICES = 1000;
const HEARTBEAT_INTERVAL_S = 5;
const IN_FLIGHT = 64;
const WARMUP_S = 1;
const SATURATE_S = 4;
const PACED_S = 5;
const IDLE_S = 2;
const FEED_PROBE = 'bench-feed-probe';
const REDIS_URL = process.env.SWITCHBOARD_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Target {
  label: string;
  registry: boolean;
  start(): Promise<ServerProcess>;
  /** CPU ms of a helper process the target depends on (Redis). */
  sideCpuMs?: () => number;
  cleanup?: () => Promise<void>;
}

interface Row {
  label: string;
  hbPerS: number;
  cpuUsPerHb: number;
  sideUsPerHb: number;
  idleCorePct: number;
  pacedCorePct: number;
  p50: number;
  p99: number;
  feedP50: number;
  feedMax: number;
  errors: number;
}

async function registerAll(pool: Pool, names: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const i = next++;
      const name = names[i]!;
      const port = 20_000 + i;
      const body = JSON.stringify({ name, host: '127.0.0.1', port, hostname: 'bench', url: `http://127.0.0.1:${port}`, status: 'running', metadata: { type: 'openai-api', models: ['bench-model'] } });
      const res = await pool.request({ method: 'POST', path: '/services', headers: { 'content-type': 'application/json' }, body });
      await res.body.dump();
      if (res.statusCode !== 201) throw new Error(`registering ${name} answered ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

/** While `during` runs, changes one record every 250 ms and times each until the SSE feed shows it. */
async function feedLatency(url: string, pool: Pool, during: Promise<unknown>): Promise<number[]> {
  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  const req = httpRequest(`${url}/services?watch=true`, { headers: { accept: 'text/event-stream' } });
  const res = await new Promise<IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject).end());
  const parser = new SseParser((ev) => {
    if (ev.event !== 'upsert' || !ev.data.includes(FEED_PROBE)) return;
    const seq = (JSON.parse(ev.data) as { metadata: { seq?: number } }).metadata.seq;
    const t = seq === undefined ? undefined : sentAt.get(seq);
    if (t !== undefined) lat.push(performance.now() - t);
  });
  res.setEncoding('utf8').on('data', (c: string) => parser.push(c));
  let done = false;
  void during.finally(() => (done = true));
  for (let seq = 0; !done; seq++) {
    await new Promise((r) => setTimeout(r, 250));
    sentAt.set(seq, performance.now());
    const r = await pool.request({ method: 'PUT', path: `/services/${FEED_PROBE}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { seq } }) });
    await r.body.dump();
  }
  await new Promise((r) => setTimeout(r, 300));
  req.destroy();
  return lat;
}

async function measure(target: Target): Promise<Row> {
  const server = await target.start();
  const pool = new Pool(server.url, { connections: IN_FLIGHT, pipelining: 1, keepAliveTimeout: 60_000 });
  try {
    const names = Array.from({ length: SERVICES }, (_, i) => `bench-svc-${String(i).padStart(4, '0')}`);
    if (target.registry) await registerAll(pool, [...names, FEED_PROBE]);
    const paths = names.map(heartbeatPath);
    const i0 = cpuMs(server.pid);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const idleCorePct = ((cpuMs(server.pid) - i0) / (IDLE_S * 1000)) * 100;
    await closedLoop(pool, paths, IN_FLIGHT, WARMUP_S);

    const side = target.sideCpuMs ?? (() => Number.NaN);
    const c0 = cpuMs(server.pid);
    const s0 = side();
    const sat = await closedLoop(pool, paths, IN_FLIGHT, SATURATE_S);
    const c1 = cpuMs(server.pid);
    const s1 = side();

    const paced = openLoop(pool, paths, SERVICES / HEARTBEAT_INTERVAL_S, PACED_S);
    const feed = target.registry ? feedLatency(server.url, pool, paced) : Promise.resolve([]);
    const c2 = cpuMs(server.pid);
    const p = await paced;
    const c3 = cpuMs(server.pid);
    const feedLat = await feed;
    return {
      label: target.label,
      hbPerS: sat.requests / sat.seconds,
      cpuUsPerHb: ((c1 - c0) * 1000) / sat.requests,
      sideUsPerHb: ((s1 - s0) * 1000) / sat.requests,
      idleCorePct,
      pacedCorePct: ((c3 - c2) / (p.seconds * 1000)) * 100,
      p50: percentile(p.latenciesMs, 50),
      p99: percentile(p.latenciesMs, 99),
      feedP50: percentile(feedLat, 50),
      feedMax: feedLat.length > 0 ? Math.max(...feedLat) : Number.NaN,
      errors: sat.errors + p.errors,
    };
  } finally {
    await pool.close();
    await server.stop();
    await target.cleanup?.();
  }
}

async function redisTarget(): Promise<Target | string> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let pid = Number.NaN;
  try {
    await probe.connect();
    pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
  } catch (err) {
    probe.disconnect();
    return `skipped: no Redis at ${REDIS_URL} (${(err as Error).message})`;
  }
  const prefix = `sbbench:registry:${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
  const file = join(dir, 'registry.json');
  writeFileSync(file, JSON.stringify({ redisPrefix: prefix }));
  return {
    label: 'registry, Redis store',
    registry: true,
    start: () => startServer([CLI, 'registry', '--port', '0', '--no-probes', '--store', REDIS_URL, '--config', file]),
    sideCpuMs: () => cpuMs(pid),
    async cleanup() {
      const keys = await probe.keys(`${prefix}:*`);
      if (keys.length > 0) await probe.del(...keys);
      probe.disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export async function run(): Promise<void> {
  const targets: Target[] = [
    { label: 'node:http baseline', registry: false, start: () => startServer(['-e', BASELINE_SERVER]) },
    { label: 'registry, memory store', registry: true, start: () => startServer([CLI, 'registry', '--port', '0', '--no-probes']) },
  ];
  const redis = await redisTarget();
  if (typeof redis === 'string') process.stdout.write(`registry, Redis store: ${redis}\n`);
  else targets.push(redis);

  const rows: Row[] = [];
  for (const t of targets) rows.push(await measure(t));
  const base = rows[0]!;
  process.stdout.write(
    `${SERVICES} services; saturated: ${IN_FLIGHT} heartbeats in flight for ${SATURATE_S} s; ` +
      `paced: every service once per ${HEARTBEAT_INTERVAL_S} s (${SERVICES / HEARTBEAT_INTERVAL_S}/s) for ${PACED_S} s. CPU = the server process's own.\n\n`,
  );
  process.stdout.write(
    table(
      ['server', 'max hb/s', 'CPU µs/hb', 'vs baseline', 'Redis µs/hb', '% core idle', `% core @${SERVICES / HEARTBEAT_INTERVAL_S}/s`, 'p50 ms', 'p99 ms', 'change→SSE p50/max ms'],
      rows.map((r) => [
        r.label + (r.errors > 0 ? ` (${r.errors} errors)` : ''),
        fmt(r.hbPerS),
        fmt(r.cpuUsPerHb, 1),
        `${fmt(r.cpuUsPerHb / base.cpuUsPerHb, 1)}×`,
        fmt(r.sideUsPerHb, 1),
        fmt(r.idleCorePct, 1),
        fmt(r.pacedCorePct, 1),
        fmt(r.p50, 2),
        fmt(r.p99, 2),
        Number.isFinite(r.feedP50) ? `${fmt(r.feedP50, 1)} / ${fmt(r.feedMax, 1)}` : '-',
      ]),
    ),
  );
  process.stdout.write(
    '\nmax hb/s is bounded by this 2-process setup (the load generator shares the machine); CPU µs/hb is the\n' +
      "figure to compare. Redis µs/hb is redis-server's CPU over the same window (other clients included).\n" +
      '% core idle: the server with its records and no requests (timers: lease checks, metrics).\n',
  );
}

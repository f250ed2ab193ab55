// Instructions a request, counted by callgrind: the router alone and with every gateway policy on,
// beside nginx and Node's own floor (a pass-through proxy that parses nothing), all in one run
// against bench-peers' upstream. Instruction counts repeat from run to run whatever else the
// machine is doing, where CPU time on a shared machine swings 30-50%, so this is the figure to
// follow a change by. It counts user space only: the kernel's share (about half of each proxy's
// CPU, and about the same for nginx and the router) is not in it, so the CPU-time target stays
// the `router` bench's.
//
// Each system runs under `valgrind --tool=callgrind --instr-atstart=no`, pinned to one core;
// it takes BENCH_INSTR_WARMUP requests (20000), then two rounds of 5000 on new connections
// (closing connections deoptimizes Node's hot functions once; without this the counted window
// pays their recompilation), then counting is switched on for BENCH_INSTR_REQUESTS (10000).
// Env: BENCH_INSTR_MODES ("json stream"), BENCH_INSTR_WARMUP, BENCH_INSTR_REQUESTS,
// BENCH_INSTR_CPU (taskset list for the system under test, "1"; "none" to not pin),
// BENCH_INSTR_LAYERS=1 (also the router with keys, then keys and limits: each policy's share).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { NODE_FLAGS, packageRoot } from '../src/core/index.js';
import { sendChats } from './lib/chat-client.js';
import { peersDir } from './lib/peers.js';

const BASE_PORT = 18400;

interface System {
  name: string;
  /** The command (run with bash -c) and its env; `valgrind` is the callgrind prefix to put in front. */
  command(valgrind: string, port: number, upstreamPort: number, work: string): { cmd: string; env: NodeJS.ProcessEnv };
}

function has(cmd: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * bench-peers' nginx.sh settings, in one process (master_process off) so callgrind sees the worker;
 * with `policies`, bench/nginx/policies-*.conf included: nginx doing what it can of the router's
 * gateway policies (a key map, a per-key limit_req, a JSON access-log line a request).
 */
function nginxConf(work: string, port: number, upstreamPort: number, policies = false): string {
  mkdirSync(join(work, 'tmp'), { recursive: true });
  mkdirSync(join(work, 'logs'), { recursive: true });
  const t = join(work, 'tmp');
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(work, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 8192; multi_accept on; }
http {
  ${policies ? `include ${join(packageRoot(), 'bench', 'nginx', 'policies-http.conf')};` : 'access_log off;'}
  client_body_temp_path ${t}/client_body; proxy_temp_path ${t}/proxy; fastcgi_temp_path ${t}/fastcgi;
  uwsgi_temp_path ${t}/uwsgi; scgi_temp_path ${t}/scgi;
  keepalive_requests 1000000; keepalive_timeout 75s; client_body_buffer_size 64k;
  upstream llm_backend { server 127.0.0.1:${upstreamPort}; keepalive 256; keepalive_requests 1000000; keepalive_timeout 60s; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      ${policies ? `include ${join(packageRoot(), 'bench', 'nginx', 'policies-location.conf')};` : ''}
      proxy_pass http://llm_backend; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off; proxy_request_buffering off;
    }
  }
}
`;
}

/** The router through bench/router-peer.sh (as the `router` bench runs it), under valgrind via ROUTER_EXEC. */
function routerSystem(name: string, policies: string): System {
  return {
    name,
    command: (vg, port, up, work) => ({
      cmd: `exec bash ${join(packageRoot(), 'bench', 'router-peer.sh')}`,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        UPSTREAM_URL: `http://127.0.0.1:${up}`,
        WORK_DIR: work,
        ROUTER_POLICIES: policies,
        ROUTER_EXEC: `${vg} node ${NODE_FLAGS.join(' ')}`,
      },
    }),
  };
}

function nginxSystem(name: string, policies: boolean): System {
  return {
    name,
    command: (vg, port, up, work) => {
      const conf = join(work, 'nginx.conf');
      writeFileSync(conf, nginxConf(work, port, up, policies));
      return { cmd: `exec ${vg} nginx -p ${work} -c ${conf}`, env: process.env };
    },
  };
}

const SYSTEMS: System[] = [
  nginxSystem('nginx', false),
  {
    name: 'node pass-through (floor)',
    command: (vg, port, up) => ({
      cmd: `exec ${vg} node ${join(packageRoot(), 'dist', 'bench', 'lib', 'pass-through.js')}`,
      env: { ...process.env, PORT: String(port), UPSTREAM_PORT: String(up) },
    }),
  },
  routerSystem('router', '0'),
  // BENCH_INSTR_LAYERS=1: each policy's share, turned on one after the other
  ...(process.env.BENCH_INSTR_LAYERS === '1' ? [routerSystem('router + keys', 'keys'), routerSystem('router + keys, limits', 'keys,limits')] : []),
  routerSystem('router + keys, limits, usage', '1'),
  nginxSystem('nginx + key map, limit_req, access log', true),
];

/** Whether nothing listens on 127.0.0.1:port (a leftover server would answer in place of the one started). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves once a completion comes back through `port` (valgrind makes start-up slow). */
async function ready(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before it answered`);
    try {
      await sendChats(port, 1, 1, false);
      return;
    } catch {
      await sleep(500);
    }
  }
  throw new Error(`${what} did not answer within 180 s`);
}

/**
 * Runs callgrind_control on the process. `env` is the process's own: valgrind names the pipes
 * vgdb talks through after $USER and $HOST, and the router's env sets HOST (bench-peers' listen
 * address), so the control command must see the same.
 */
function callgrindControl(pid: number, args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8', env });
  if (r.status !== 0 || /not detected|error opening/.test(r.stdout + r.stderr)) throw new Error(`callgrind_control ${args.join(' ')} ${pid}: ${r.stderr || r.stdout}`);
}

/** The instruction total callgrind wrote (only the counted window: instrumentation starts off). */
function totalOf(file: string): number {
  // a part file's "summary:" header line can read 0; its "totals:" line at the end is the count
  const m = /^totals: (\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`no totals in ${file}`);
  return Number(m[1]);
}

async function measure(sys: System, index: number, modes: readonly string[], upstreamPort: number, work: string): Promise<Map<string, number>> {
  const port = BASE_PORT + 10 + index;
  const dir = join(work, `system-${index}`);
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'callgrind.out');
  const vg = `valgrind --tool=callgrind --instr-atstart=no --smc-check=all-non-file --callgrind-out-file=${out}`;
  const { cmd, env } = sys.command(vg, port, upstreamPort, dir);
  const cpu = process.env.BENCH_INSTR_CPU ?? '1';
  const argv = cpu === 'none' ? ['bash', '-c', cmd] : ['taskset', '-c', cpu, 'bash', '-c', cmd];
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const warm = Number(process.env.BENCH_INSTR_WARMUP ?? 20_000);
  const n = Number(process.env.BENCH_INSTR_REQUESTS ?? 10_000);
  try {
    await ready(port, child, sys.name);
    for (const mode of modes) {
      const stream = mode === 'stream';
      await sendChats(port, warm, 8, stream);
      await sendChats(port, 5000, 8, stream);
      await sendChats(port, 5000, 8, stream);
      callgrindControl(child.pid!, ['-i', 'on'], env);
      await sendChats(port, n, 8, stream);
      callgrindControl(child.pid!, ['-i', 'off'], env);
      // a part file per mode: <out>.1, <out>.2, ... (counters start again from zero after each)
      callgrindControl(child.pid!, ['-d'], env);
    }
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${sys.name}: ${(err as Error).message}\n${stderr}`);
  }
  child.kill('SIGTERM');
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
  const result = new Map<string, number>();
  modes.forEach((mode, i) => result.set(mode, totalOf(`${out}.${i + 1}`) / n));
  return result;
}

export async function run(): Promise<void> {
  const dir = peersDir();
  const missing = ['valgrind', 'callgrind_control', 'nginx', 'taskset'].filter((c) => !has(c));
  if (!dir || missing.length > 0) {
    process.stdout.write(`instructions bench: skipped — ${!dir ? 'no bench-peers harness (set BENCH_PEERS_DIR)' : `not installed: ${missing.join(', ')} (apt-get install valgrind nginx util-linux)`}\n`);
    return;
  }
  const ports = [BASE_PORT, ...SYSTEMS.map((_, i) => BASE_PORT + 10 + i)];
  for (const p of ports) if (!(await portFree(p))) throw new Error(`instructions bench: port ${p} is taken (ports ${ports.join(', ')} must be free)`);
  const modes = (process.env.BENCH_INSTR_MODES ?? 'json stream').split(/\s+/).filter((m) => m === 'json' || m === 'stream');
  const work = mkdtempSync(join(tmpdir(), 'sb-instr-'));
  const upstream = spawn('taskset', ['-c', '0', 'node', join(dir, 'upstream.mjs')], { env: { ...process.env, PORT: String(BASE_PORT), HOST: '127.0.0.1' }, stdio: 'ignore' });
  const rows: { name: string; per: Map<string, number> }[] = [];
  try {
    await ready(BASE_PORT, upstream, 'upstream');
    for (const [i, sys] of SYSTEMS.entries()) {
      const t0 = Date.now();
      rows.push({ name: sys.name, per: await measure(sys, i, modes, BASE_PORT, work) });
      process.stdout.write(`[instructions] ${sys.name}: ${modes.map((m) => `${m} ${Math.round(rows.at(-1)!.per.get(m)!)}`).join(', ')} a request (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  } finally {
    upstream.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
  const nginx = rows[0]!.per;
  const floor = rows[1]!.per;
  const lines = ['', 'User-space instructions a request (callgrind), every system in this run against the same upstream; the kernel\'s share is not counted:', ''];
  lines.push('| system | mode | instructions / request | x nginx | x node floor |', '|---|---|---:|---:|---:|');
  for (const r of rows) {
    for (const mode of modes) {
      const v = r.per.get(mode)!;
      lines.push(`| ${r.name} | ${mode} | ${(v / 1000).toFixed(1)}k | ${(v / nginx.get(mode)!).toFixed(2)}x | ${(v / floor.get(mode)!).toFixed(2)}x |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

// The router's overhead, measured with the shared bench-peers harness (../shared/bench-peers, or
// $BENCH_PEERS_DIR): direct, nginx, Portkey and a naive node:http proxy beside the router, in one
// run, JSON and SSE. The harness prints its full table; this module then prints the router's CPU
// per request as a ratio to nginx's and to the naive Node proxy's, measured in that same run.
// Env: BENCH_SECONDS (10), BENCH_CONNS ("32"), BENCH_SYSTEMS ("direct nginx portkey", the first run),
// BENCH_REPEAT (3: router-and-nginx runs), BENCH_POLICIES=0, BENCH_NGINX_POLICIES=0 and BENCH_NAIVE=0
// (skip those runs).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/core/index.js';
import { peersDir } from './lib/peers.js';

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      process.stdout.write(b);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

interface Row {
  system: string;
  mode: string;
  conns: string;
  rps: number;
  cpuUs: number;
  p50: string;
  p99: string;
  rss: string;
}

function readRows(dir: string): Row[] {
  const [head, ...lines] = readFileSync(join(dir, 'results.tsv'), 'utf8').trim().split('\n');
  const cols = head!.split('\t');
  const at = (f: string[], name: string): string => f[cols.indexOf(name)] ?? '-';
  return lines.map((l) => {
    const f = l.split('\t');
    return { system: at(f, 'system'), mode: at(f, 'mode'), conns: at(f, 'conns'), rps: Number(at(f, 'rps')), cpuUs: Number(at(f, 'proxy_cpu_us_per_req')), p50: at(f, 'p50_ms'), p99: at(f, 'p99_ms'), rss: at(f, 'peak_rss_mb') };
  });
}

/** The middle value (the mean of the middle two for an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The pair in `list` for the same mode and connection count as `p`. */
function sameCase(list: Pair[], p: Pair): Pair | undefined {
  return list.find((x) => x.mode === p.mode && x.conns === p.conns);
}

/** a's median ratio to its nginx over b's ("-" when either is missing). */
function medianOver(a: Pair | undefined, b: Pair | undefined): string {
  return a && b ? `${(median(a.ratios) / median(b.ratios)).toFixed(2)}x` : '-';
}

/** One run of the harness; its results.tsv rows. */
async function harness(dir: string, seconds: string, conns: string, env: NodeJS.ProcessEnv): Promise<Row[]> {
  const out = await sh('bash', ['./run.sh', seconds, conns], dir, env);
  const m = /raw logs and results\.tsv: (\S+)/.exec(out);
  if (!m) throw new Error('bench-peers did not say where its results are');
  return readRows(m[1]!);
}

/** One system's CPU per request beside its nginx's over the runs, for one mode and connection count. */
interface Pair {
  mode: string;
  conns: string;
  ratios: number[];
  us: number[];
  nginx: number[];
  last: Row;
}

/** Each run's `system` CPU per request over its nginx's, per mode and connection count. */
function pairs(runs: Row[][], system: string): Pair[] {
  const out: Pair[] = [];
  for (const rows of runs) {
    for (const r of rows.filter((x) => x.system === system)) {
      const ng = rows.find((x) => x.system === 'nginx' && x.mode === r.mode && x.conns === r.conns);
      if (!ng || !(ng.cpuUs > 0)) continue;
      let p = out.find((x) => x.mode === r.mode && x.conns === r.conns);
      if (!p) out.push((p = { mode: r.mode, conns: r.conns, ratios: [], us: [], nginx: [], last: r }));
      p.ratios.push(r.cpuUs / ng.cpuUs);
      p.us.push(r.cpuUs);
      p.nginx.push(ng.cpuUs);
      p.last = r;
    }
  }
  return out;
}

export async function run(): Promise<void> {
  const dir = peersDir();
  if (!dir) {
    process.stdout.write('router bench: skipped — no bench-peers harness at ../shared/bench-peers (set BENCH_PEERS_DIR)\n');
    return;
  }
  if (!existsSync(join(dir, 'node_modules'))) await sh('bash', ['./setup.sh'], dir, process.env);
  const seconds = process.env.BENCH_SECONDS ?? '10';
  const conns = process.env.BENCH_CONNS ?? '32';
  // This machine is shared: a stretch of steal time can land on one system's turn and not on the
  // other's. So the router and nginx are measured side by side BENCH_REPEAT times (3), each run
  // its own pairing, and the table gives every run's ratio and their median.
  const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? '3'));
  const router = `bash ${join(packageRoot(), 'bench', 'router-peer.sh')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, SYSTEMS: `${process.env.BENCH_SYSTEMS ?? 'direct nginx portkey'}`, EXTRA_CMD: router, EXTRA_NAME: 'router' };
  const runs: Row[][] = [await harness(dir, seconds, conns, env)];
  for (let i = 1; i < repeat; i++) runs.push(await harness(dir, seconds, conns, { ...env, SYSTEMS: 'nginx' }));
  // the same with every gateway policy on (keys, rate limits, usage records), against its own
  // nginx: the figures with and without them (BENCH_POLICIES=0 skips it)
  const policyRuns: Row[][] = [];
  // and nginx doing what it can of the same policies (a key map, a per-key limit_req, a JSON
  // access-log line a request: bench/nginx-policies-peer.sh), against its own plain nginx: what
  // that kind of work costs nginx (BENCH_NGINX_POLICIES=0 skips it)
  const nginxPolicyRuns: Row[][] = [];
  if (process.env.BENCH_POLICIES !== '0') {
    for (let i = 0; i < repeat; i++) policyRuns.push(await harness(dir, seconds, conns, { ...env, SYSTEMS: 'nginx', EXTRA_CMD: `ROUTER_POLICIES=1 ${router}`, EXTRA_NAME: 'router-policies' }));
    if (process.env.BENCH_NGINX_POLICIES !== '0') {
      const nginxPolicies = `exec bash ${join(packageRoot(), 'bench', 'nginx-policies-peer.sh')}`;
      for (let i = 0; i < repeat; i++) nginxPolicyRuns.push(await harness(dir, seconds, conns, { ...env, SYSTEMS: 'nginx', EXTRA_CMD: nginxPolicies, EXTRA_NAME: 'nginx-policies' }));
    }
  }
  // the harness takes one extra proxy per run: the naive node:http proxy gets a run of its own
  // with its own nginx, so its ratio is still measured side by side (BENCH_NAIVE=0 skips it)
  const naive = process.env.BENCH_NAIVE !== '0' ? await harness(dir, seconds, conns, { ...process.env, SYSTEMS: 'direct nginx', EXTRA_CMD: 'exec node examples/node-http-proxy.mjs', EXTRA_NAME: 'node-http-proxy' }) : [];

  const fmt = (xs: number[], digits: number, unit = ''): string => xs.map((x) => `${x.toFixed(digits)}${unit}`).join(' / ');
  // the four columns every table has: this system's us/req, its nginx's, each ratio, their median
  const cpu = (p: Pair): string => `${fmt(p.us, 1)} | ${fmt(p.nginx, 1)} | ${fmt(p.ratios, 2, 'x')} | **${median(p.ratios).toFixed(2)}x**`;
  const first = runs[0]!;
  const alone = pairs(runs, 'router');
  const lines = ['', `Router CPU per request against nginx, measured side by side in ${runs.length} run(s) (target: within 1.5x); every run's figures, then the median ratio:`, ''];
  lines.push('| mode | conns | router us/req | nginx us/req | router / nginx | median | router req/s x direct | naive node proxy / its nginx | router p50 / p99 ms | router peak RSS MB |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const p of alone) {
    const direct = first.find((x) => x.system === 'direct' && x.mode === p.mode && x.conns === p.conns);
    const r0 = first.find((x) => x.system === 'router' && x.mode === p.mode && x.conns === p.conns);
    const nv = naive.find((x) => x.system === 'node-http-proxy' && x.mode === p.mode && x.conns === p.conns);
    const nvNg = naive.find((x) => x.system === 'nginx' && x.mode === p.mode && x.conns === p.conns);
    lines.push(
      `| ${p.mode} | ${p.conns} | ${cpu(p)} | ${direct && r0 ? (r0.rps / direct.rps).toFixed(2) : '-'} | ${nv && nvNg ? (nv.cpuUs / nvNg.cpuUs).toFixed(2) + 'x' : '-'} | ${p.last.p50} / ${p.last.p99} | ${p.last.rss} |`,
    );
  }
  if (policyRuns.length > 0) {
    lines.push('', `With keys, rate limits and usage records on (${policyRuns.length} run(s), each against its own nginx):`, '');
    // the last column: what the policies add, as the median with them over the median without
    // (both against each run's own nginx)
    lines.push('| mode | conns | router+policies us/req | nginx us/req | ratio | median | p50 / p99 ms | over the router alone |');
    lines.push('|---|---:|---:|---:|---:|---:|---|---:|');
    const withPolicies = pairs(policyRuns, 'router-policies');
    for (const p of withPolicies) {
      lines.push(`| ${p.mode} | ${p.conns} | ${cpu(p)} | ${p.last.p50} / ${p.last.p99} | ${medianOver(p, sameCase(alone, p))} |`);
    }
    if (nginxPolicyRuns.length > 0) {
      lines.push(
        '',
        `nginx with what it can do of the same policies (API keys as a header map, a per-key limit_req, a buffered JSON access-log line a request; no per-model or token limits, no token counts: bench/nginx-policies-peer.sh), ${nginxPolicyRuns.length} run(s), each against its own plain nginx; the last column is the router-with-policies median over this one, both medians taken against plain nginx:`,
        '',
      );
      lines.push('| mode | conns | nginx+policies us/req | nginx us/req | ratio | median | router+policies / nginx+policies |');
      lines.push('|---|---:|---:|---:|---:|---:|---:|');
      for (const p of pairs(nginxPolicyRuns, 'nginx-policies')) {
        lines.push(`| ${p.mode} | ${p.conns} | ${cpu(p)} | ${medianOver(sameCase(withPolicies, p), p)} |`);
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

// The router's overhead, measured with the shared bench-peers harness (../shared/bench-peers, or
// $BENCH_PEERS_DIR): direct, nginx, Portkey and a naive node:http proxy beside the router, in one
// run, JSON and SSE. The harness prints its full table; this module then prints the router's CPU
// per request as a ratio to nginx's and to the naive Node proxy's, measured in that same run.
// Env: BENCH_SECONDS (10), BENCH_CONNS ("32"), BENCH_SYSTEMS ("direct nginx portkey").
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function peersDir(): string | undefined {
  for (const d of [process.env.BENCH_PEERS_DIR, join(root, '..', 'shared', 'bench-peers')]) {
    if (d && existsSync(join(d, 'run.sh'))) return d;
  }
  return undefined;
}

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

export async function run(): Promise<void> {
  const dir = peersDir();
  if (!dir) {
    process.stdout.write('router bench: skipped — no bench-peers harness at ../shared/bench-peers (set BENCH_PEERS_DIR)\n');
    return;
  }
  if (!existsSync(join(dir, 'node_modules'))) await sh('bash', ['./setup.sh'], dir, process.env);
  const seconds = process.env.BENCH_SECONDS ?? '10';
  const conns = process.env.BENCH_CONNS ?? '32';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SYSTEMS: `${process.env.BENCH_SYSTEMS ?? 'direct nginx portkey'}`,
    EXTRA_CMD: `bash ${join(root, 'bench', 'router-peer.sh')}`,
    EXTRA_NAME: 'router',
  };
  const out = await sh('bash', ['./run.sh', seconds, conns], dir, env);
  const m = /raw logs and results\.tsv: (\S+)/.exec(out);
  if (!m) throw new Error('bench-peers did not say where its results are');
  const rows = readRows(m[1]!);
  // the same run again with every gateway policy on (keys, rate limits, usage records), against
  // its own nginx: the figures with and without them (BENCH_POLICIES=0 skips it)
  let withPolicies: Row[] = [];
  if (process.env.BENCH_POLICIES !== '0') {
    const out3 = await sh('bash', ['./run.sh', seconds, conns], dir, { ...env, SYSTEMS: 'nginx', EXTRA_CMD: `ROUTER_POLICIES=1 bash ${join(root, 'bench', 'router-peer.sh')}`, EXTRA_NAME: 'router-policies' });
    const m3 = /raw logs and results\.tsv: (\S+)/.exec(out3);
    if (m3) withPolicies = readRows(m3[1]!);
  }
  // the harness takes one extra proxy per run: the naive node:http proxy gets a second, shorter
  // run with its own nginx, so its ratio is still measured side by side (BENCH_NAIVE=0 skips it)
  let naive: Row[] = [];
  if (process.env.BENCH_NAIVE !== '0') {
    const out2 = await sh('bash', ['./run.sh', seconds, conns], dir, { ...process.env, SYSTEMS: 'direct nginx', EXTRA_CMD: 'exec node examples/node-http-proxy.mjs', EXTRA_NAME: 'node-http-proxy' });
    const m2 = /raw logs and results\.tsv: (\S+)/.exec(out2);
    if (m2) naive = readRows(m2[1]!);
  }
  const lines = ['', 'Router CPU per request against nginx in the same run (target: within 1.5x), and against a naive node:http proxy (its own run, ratio to that run\'s nginx):', ''];
  lines.push('| mode | conns | router us/req | nginx us/req | router / nginx | router req/s x direct | naive node proxy / its nginx | router p50 / p99 ms | router peak RSS MB |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const r of rows.filter((x) => x.system === 'router')) {
    const ng = rows.find((x) => x.system === 'nginx' && x.mode === r.mode && x.conns === r.conns);
    const direct = rows.find((x) => x.system === 'direct' && x.mode === r.mode && x.conns === r.conns);
    const nv = naive.find((x) => x.system === 'node-http-proxy' && x.mode === r.mode && x.conns === r.conns);
    const nvNg = naive.find((x) => x.system === 'nginx' && x.mode === r.mode && x.conns === r.conns);
    lines.push(
      `| ${r.mode} | ${r.conns} | ${r.cpuUs} | ${ng?.cpuUs ?? '-'} | ${ng ? (r.cpuUs / ng.cpuUs).toFixed(2) : '-'}x | ${direct ? (r.rps / direct.rps).toFixed(2) : '-'} | ${nv && nvNg ? (nv.cpuUs / nvNg.cpuUs).toFixed(2) + 'x' : '-'} | ${r.p50} / ${r.p99} | ${r.rss} |`,
    );
  }
  if (withPolicies.length > 0) {
    lines.push('', 'With keys, rate limits and usage records on (own run, ratio to that run\'s nginx):', '');
    lines.push('| mode | conns | router+policies us/req | nginx us/req | ratio | p50 / p99 ms |');
    lines.push('|---|---:|---:|---:|---:|---|');
    for (const r of withPolicies.filter((x) => x.system === 'router-policies')) {
      const ng = withPolicies.find((x) => x.system === 'nginx' && x.mode === r.mode && x.conns === r.conns);
      lines.push(`| ${r.mode} | ${r.conns} | ${r.cpuUs} | ${ng?.cpuUs ?? '-'} | ${ng ? (r.cpuUs / ng.cpuUs).toFixed(2) : '-'}x | ${r.p50} / ${r.p99} |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

// deploy/docker: the Dockerfile's shape (images cannot be built here: no daemon, no registry),
// the container health-check script against real servers, and the Compose file: well-formed,
// every health check on an endpoint its process serves and on the port it listens on, every
// mounted file present, and `docker compose config` / `docker-compose config` where installed.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { packageRoot } from '../../src/core/index.js';
import { spawnSwitchboard } from '../helpers/process.js';
import { commandFlags, DEPLOY, flagsIn, flagValue, loadYamlDocuments, PROCESSES, processOf, processPort, readDeploy } from './contract.js';

const ROOT = packageRoot();
const HEALTHCHECK = join(DEPLOY, 'docker', 'healthcheck.mjs');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerfile(): Instruction[] {
  const lines = readDeploy('docker', 'Dockerfile').split('\n');
  const out: Instruction[] = [];
  let buf = '';
  for (const raw of lines) {
    if (/^\s*#/.test(raw) && buf === '') continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1) + ' ';
      continue;
    }
    buf += line;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(buf);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    buf = '';
  }
  return out;
}

function stages(ins: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of ins) {
    if (i.op === 'FROM') out.push([]);
    out[out.length - 1]?.push(i);
  }
  return out;
}

function runHealthcheck(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [HEALTHCHECK, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
}

async function listen(t: TestContext, server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('Dockerfile', () => {
  const ins = dockerfile();
  const all = stages(ins);
  const named = (n: string): Instruction[] => all.find((s) => new RegExp(`\\sAS\\s+${n}$`, 'i').test(s[0]!.args))!;
  const build = named('build');
  const deps = named('deps');
  const runtime = all[all.length - 1];
  const runs = (s: Instruction[]): string => s.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');

  it('builds on node:20-slim: tsc in one stage, production dependencies in another, a slim runtime', () => {
    assert.equal(all.length, 3);
    for (const s of all) assert.match(s[0]!.args, /^node:20-slim(\s|$)/);
    assert.match(runs(build), /npm ci --ignore-scripts/);
    assert.match(runs(build), /tsc -p tsconfig\.json|npm run build/);
    assert.match(runs(deps), /npm ci --omit=dev/);
    assert.equal(runs(runtime!), runs(runtime!).replace(/npm (ci|install)/, ''), 'the runtime stage installs nothing itself');
    const fromDeps = runtime!.filter((i) => i.op === 'COPY' && i.args.startsWith('--from=deps'));
    assert.ok(fromDeps.some((i) => /node_modules/.test(i.args)), 'the runtime takes node_modules from the deps stage');
  });

  it('native dependencies get their install scripts, and the package\'s own prepare (tsc) never runs without tsc', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> };
    const native = Object.keys(pkg.dependencies).filter((d) => existsSync(join(ROOT, 'node_modules', d, 'binding.gyp')));
    const prodInstall = runs(deps);
    if (native.length > 0) {
      assert.doesNotMatch(prodInstall, /npm ci[^\n]*--ignore-scripts/, `${native.join(', ')} must build: install scripts stay on`);
      assert.match(prodInstall, /apt-get install[^\n]*g\+\+/, 'a compiler for native addons without a prebuilt binary');
    }
    if (pkg.scripts.prepare) assert.match(prodInstall, /npm pkg delete scripts\.prepare[\s\S]*npm ci/);
  });

  it('runs as a non-root user, with switchboard as the entrypoint', () => {
    const users = runtime!.filter((i) => i.op === 'USER').map((i) => i.args);
    assert.ok(users.length > 0, 'the runtime stage sets USER');
    assert.ok(!['root', '0', '0:0'].includes(users[users.length - 1]!), `last USER is ${users[users.length - 1]}`);
    assert.deepEqual(JSON.parse(runtime!.find((i) => i.op === 'ENTRYPOINT')!.args), ['switchboard']);
  });

  it('copies what exists and what the package needs at run time', () => {
    const copies = ins.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
    for (const c of copies) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists in the build context`);
    }
    const runtimeCopies = runtime!.filter((i) => i.op === 'COPY').map((i) => i.args).join('\n');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    for (const f of pkg.files.filter((f) => f !== 'docs')) assert.match(runtimeCopies, new RegExp(`\\b${f.replace('/', '\\/')}\\b`), `runtime stage copies ${f}`);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const needed of ['src', 'bin', 'assets', 'package.json', 'package-lock.json', 'tsconfig.json', 'deploy']) assert.ok(!ignored.includes(needed), `.dockerignore keeps ${needed}`);
  });

  it('HEALTHCHECK runs the copied health-check script against the default command\'s liveness endpoint', async (t) => {
    const hc = runtime!.find((i) => i.op === 'HEALTHCHECK');
    assert.ok(hc, 'HEALTHCHECK present');
    const cmd = JSON.parse(hc.args.replace(/^.*?CMD\s+/, '')) as string[];
    assert.equal(cmd[0], 'node');
    const script = cmd[1]!;
    const copied = runtime!.filter((i) => i.op === 'COPY').some((i) => i.args.split(/\s+/).pop() === script.replace(/^\/app\//, './'));
    assert.ok(copied, `${script} is copied into the image`);
    // the default command is the router; the script's default URL is its liveness endpoint on its port
    const defaultCmd = JSON.parse(runtime!.find((i) => i.op === 'CMD')!.args) as string[];
    const kind = processOf(defaultCmd);
    const fallback = /'(http:\/\/127\.0\.0\.1:\d+\/[^']*)'/.exec(readFileSync(HEALTHCHECK, 'utf8'))?.[1];
    assert.ok(fallback);
    const u = new URL(fallback);
    assert.equal(u.pathname, PROCESSES[kind].liveness);
    assert.equal(Number(u.port), processPort(kind, defaultCmd));
    const known = await commandFlags(defaultCmd[0]!);
    if (known) for (const f of flagsIn(defaultCmd)) assert.ok(known.has(f), `switchboard ${defaultCmd[0]} has ${f}`);
    else t.diagnostic(`switchboard ${defaultCmd[0]} does not exist yet; its flags are not checked`);
  });
});

describe('healthcheck.mjs', () => {
  it('exits 0 on a real registry\'s /health and 1 on a 404, a closed port, a 503 and no answer', async (t) => {
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
    const url = await registry.listeningUrl();
    assert.equal((await runHealthcheck([`${url}/health`])).code, 0);
    const notFound = await runHealthcheck([`${url}/no-such-path`]);
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /404/);
    await registry.stop();
    assert.equal((await runHealthcheck([`${url}/health`])).code, 1, 'closed port');

    const unavailable = await listen(t, createServer((_req, res) => res.writeHead(503).end('{"status":"unavailable"}')));
    assert.equal((await runHealthcheck([`${unavailable}/health/ready`])).code, 1);
    const silent = await listen(t, createServer(() => undefined));
    const hung = await runHealthcheck([`${silent}/health`], { SWITCHBOARD_HEALTH_TIMEOUT_MS: '200' });
    assert.equal(hung.code, 1);
    assert.match(hung.stderr, /no answer/);
  });

  it('takes its URL from SWITCHBOARD_HEALTH_URL when no argument is given', async (t) => {
    const ok = await listen(t, createServer((_req, res) => res.writeHead(200).end('ok')));
    assert.equal((await runHealthcheck([], { SWITCHBOARD_HEALTH_URL: `${ok}/health` })).code, 0);
  });
});

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  environment?: Record<string, string>;
  profiles?: string[];
}

describe('compose.yaml', () => {
  const composeDir = join(DEPLOY, 'docker');
  const docs = loadYamlDocuments(readDeploy('docker', 'compose.yaml'), 'compose.yaml');
  const compose = docs[0] as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
  const services = compose.services;
  const ours = Object.entries(services).filter(([, s]) => s.image === 'switchboard:local');

  /** The engine port of an agent service, from its mounted node TOML. */
  function agentNode(s: ComposeService): { port: number; registry_url: string; advertise_host?: string; host: string } {
    const target = flagValue(s.command!, '--config')!;
    const mount = s.volumes!.find((v) => v.split(':')[1] === target)!;
    return parseToml(readFileSync(resolve(composeDir, mount.split(':')[0]!), 'utf8')) as never;
  }

  it('is one YAML document with redis, a registry, two agents and a router, all built from the Dockerfile', () => {
    assert.equal(docs.length, 1);
    const kinds = ours.map(([, s]) => processOf(s.command!)).sort();
    assert.deepEqual(kinds, ['agent', 'agent', 'registry', 'router']);
    assert.ok(services.redis?.image?.startsWith('redis:'));
    for (const [name, s] of ours) {
      assert.equal(s.build?.dockerfile, 'deploy/docker/Dockerfile', name);
      assert.equal(resolve(composeDir, s.build.context), ROOT, `${name} builds from the repository root`);
    }
  });

  it('the registry uses the Redis store; agents and router find the registry by its service name', () => {
    const [, registry] = ours.find(([, s]) => s.command![0] === 'registry')!;
    assert.equal(flagValue(registry.command!, '--store'), 'redis://redis:6379');
    const regUrl = `http://registry:${processPort('registry', registry.command!)}`;
    const [, router] = ours.find(([, s]) => s.command![0] === 'router')!;
    assert.equal(flagValue(router.command!, '--registry-url'), regUrl);
    for (const [name, s] of ours.filter(([, s]) => s.command![0] === 'agent')) {
      const node = agentNode(s);
      assert.equal(node.registry_url, regUrl, name);
      assert.equal(node.advertise_host ?? node.host, name, `${name} registers the address the router can reach`);
    }
  });

  it('every health check is an endpoint its process serves, on the port it listens on', () => {
    for (const [name, s] of ours) {
      const kind = processOf(s.command!);
      const test = s.healthcheck?.test;
      assert.ok(test, `${name} has a health check`);
      assert.equal(test[0], 'CMD');
      assert.equal(test[2], '/app/deploy/docker/healthcheck.mjs');
      const u = new URL(test[3]!);
      assert.ok(PROCESSES[kind].health.includes(u.pathname), `${name}: ${u.pathname} is not a ${kind} endpoint`);
      const port = kind === 'agent' ? processPort(kind, s.command!, agentNode(s).port) : processPort(kind, s.command!);
      assert.equal(Number(u.port), port, `${name} health check port`);
    }
    const [, router] = ours.find(([, s]) => s.command![0] === 'router')!;
    assert.equal(new URL(router.healthcheck!.test[3]!).pathname, PROCESSES.router.readiness);
  });

  it('mounted files exist, and every --config points at a mounted file', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (!src.startsWith('.')) {
          assert.ok(compose.volumes && src in compose.volumes, `${name}: named volume ${src} is declared`);
          continue;
        }
        assert.ok(existsSync(resolve(composeDir, src)), `${name}: ${src} exists`);
      }
      const cfg = s.command ? flagValue(s.command, '--config') : undefined;
      if (cfg) assert.ok((s.volumes ?? []).some((v) => v.split(':')[1] === cfg), `${name}: ${cfg} is mounted`);
    }
    const [, router] = ours.find(([, s]) => s.command![0] === 'router')!;
    const mount = router.volumes!.find((v) => v.split(':')[1] === flagValue(router.command!, '--config'))!;
    assert.equal(resolve(composeDir, mount.split(':')[0]!), join(DEPLOY, 'config', 'routing.yaml'));
  });

  it('depends_on names real services; the monitoring services are behind a profile', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) assert.ok(d in services, `${name} depends on ${d}`);
      if (s.depends_on && !Array.isArray(s.depends_on)) {
        for (const [d, c] of Object.entries(s.depends_on)) if (c.condition === 'service_healthy') assert.ok(services[d]!.healthcheck, `${name} waits for ${d} to be healthy, which has a health check`);
      }
    }
    for (const name of ['prometheus', 'grafana']) assert.deepEqual(services[name]?.profiles, ['monitoring']);
  });

  it('commands use only flags the commands have (for the commands that exist)', async (t) => {
    for (const [name, s] of ours) {
      const known = await commandFlags(s.command![0]!);
      if (!known) {
        t.diagnostic(`switchboard ${s.command![0]} does not exist yet; ${name}'s flags are not checked`);
        continue;
      }
      for (const f of flagsIn(s.command!)) assert.ok(known.has(f), `${name}: switchboard ${s.command![0]} has no ${f}`);
    }
  });

  it('docker compose config accepts it (where a compose tool is installed)', (t) => {
    const env = { ...process.env, SWITCHBOARD_TOKEN: 'test-token', SWITCHBOARD_ADMIN_TOKEN: 'test-admin-token' };
    const file = join(composeDir, 'compose.yaml');
    const tools: [string, string[]][] = [
      ['docker', ['compose', '-f', file, 'config', '-q']],
      ['docker-compose', ['-f', file, 'config', '-q']],
    ];
    for (const [cmd, args] of tools) {
      const probe = spawnSync(cmd, cmd === 'docker' ? ['compose', 'version'] : ['version'], { encoding: 'utf8' });
      if (probe.status !== 0) continue;
      const r = spawnSync(cmd, args, { encoding: 'utf8', env, cwd: dirname(file) });
      assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
      // the token is required, not defaulted
      const { SWITCHBOARD_TOKEN: _omit, ...noToken } = env;
      const r2 = spawnSync(cmd, args, { encoding: 'utf8', env: noToken, cwd: dirname(file) });
      assert.notEqual(r2.status, 0);
      assert.match(`${r2.stdout}${r2.stderr}`, /SWITCHBOARD_TOKEN/);
      return;
    }
    t.skip('neither `docker compose` nor `docker-compose` is installed (optional: apt-get install docker-compose)');
  });
});

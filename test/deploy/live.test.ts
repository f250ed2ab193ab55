// The process contract (test/deploy/contract.ts) against the real processes: each health path the
// deployment files probe answers on a running process, and each metric the alerts and dashboard
// use is declared on its /metrics. The shipped routing.yaml and node TOMLs are checked by the
// router and agent themselves. Processes that do not exist yet in this tree are reported and
// skipped, so these checks switch on as the router and agent land.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../../src/core/index.js';
import { eventually, spawnSwitchboard } from '../helpers/process.js';
import { COMMON_METRICS, commandFlags, DEPLOY, PROCESSES, REGISTRY_METRICS, ROUTER_METRICS } from './contract.js';

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

function declared(metricsText: string): Set<string> {
  return new Set([...metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`));
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A module compiled from src/, or null when that part of the tree does not exist yet. */
async function distModule<T>(t: TestContext, rel: string): Promise<T | null> {
  const file = join(packageRoot(), 'dist', 'src', rel);
  if (!existsSync(file)) {
    t.skip(`${rel} does not exist in this tree yet`);
    return null;
  }
  return (await import(pathToFileURL(file).href)) as T;
}

describe('the process contract on real processes', () => {
  it('registry: its probe paths answer 200 and its metrics are declared', async (t) => {
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
    const url = await registry.listeningUrl();
    for (const path of PROCESSES.registry.health) assert.equal((await get(url + path)).status, 200, path);
    const types = declared((await get(`${url}/metrics`)).body);
    for (const [name, m] of Object.entries({ ...REGISTRY_METRICS, process_cpu_seconds_total: COMMON_METRICS.process_cpu_seconds_total!, process_resident_memory_bytes: COMMON_METRICS.process_resident_memory_bytes! })) {
      assert.ok(types.has(`${name} ${m.type}`), `registry declares ${name} as a ${m.type}`);
    }
  });

  it('sim: its probe path answers 200', async (t) => {
    const sim = spawnSwitchboard(t, ['sim', '--port', '0']);
    const url = await sim.listeningUrl();
    for (const path of PROCESSES.sim.health) assert.equal((await get(url + path)).status, 200, path);
  });

  it('router: /health/live 200, /health/ready 200 or 503, every contract metric declared, with the shipped routing.yaml', async (t) => {
    if (!(await commandFlags('router'))) return t.skip('switchboard router does not exist in this tree yet');
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
    const regUrl = await registry.listeningUrl();
    const router = spawnSwitchboard(t, ['router', '--router-port', '0', '--registry-url', regUrl, '--config', join(DEPLOY, 'config', 'routing.yaml')]);
    const url = await router.listeningUrl();
    assert.equal((await get(`${url}/health/live`)).status, 200);
    assert.ok([200, 503].includes((await get(`${url}/health/ready`)).status), '/health/ready is 200 or 503');
    assert.equal((await get(`${url}/health`)).status, 200);
    const types = declared((await get(`${url}/metrics`)).body);
    for (const [name, m] of Object.entries(ROUTER_METRICS)) assert.ok(types.has(`${name} ${m.type}`), `router declares ${name} as a ${m.type}`);
    assert.ok(types.has('process_cpu_seconds_total counter'));
  });

  it('agent: /health answers on the engine port + 1 for a node TOML like the shipped ones', async (t) => {
    if (!(await commandFlags('agent'))) return t.skip('switchboard agent does not exist in this tree yet');
    // removed only after the agent has stopped (it writes engine logs there until then)
    const dir = mkdtempSync(join(tmpdir(), 'sb-deploy-agent-'));
    const port = await freePort();
    const node = readFileSync(join(DEPLOY, 'docker', 'node-a.toml'), 'utf8')
      .replace(/^host = .*$/m, 'host = "127.0.0.1"')
      .replace(/^advertise_host = .*$/m, '')
      .replace(/^registry_url = .*$/m, '')
      .replace(/^port = \d+$/m, `port = ${port}`);
    writeFileSync(join(dir, 'node.toml'), node);
    // SIGTERM, not the helper's SIGKILL: the agent stops its engine itself on the way out.
    const agent = spawnSwitchboard(t, ['agent', '--config', join(dir, 'node.toml')], { cwd: dir, noAutoStop: true });
    t.after(async () => {
      await agent.stop('SIGTERM', 15_000);
      rmSync(dir, { recursive: true, force: true });
    });
    await eventually(async () => (await get(`http://127.0.0.1:${port + 1}${PROCESSES.agent.liveness}`).catch(() => ({ status: 0 }))).status === 200, 30_000, 200);
  });

  it('the shipped routing.yaml is valid for the router\'s config schema', async (t) => {
    const mod = await distModule<{ routerConfigSchema?: { safeParse(v: unknown): { success: boolean; error?: unknown } } }>(t, 'router/config.js');
    if (!mod) return;
    if (!mod.routerConfigSchema) return t.skip('router/config.js has no routerConfigSchema');
    const r = mod.routerConfigSchema.safeParse(parseYaml(readFileSync(join(DEPLOY, 'config', 'routing.yaml'), 'utf8')));
    assert.ok(r.success, `deploy/config/routing.yaml: ${String(r.error)}`);
  });

  it('the shipped node TOMLs are valid for the agent\'s config schema', async (t) => {
    const mod = await distModule<{ agentFileSchema?: { safeParse(v: unknown): { success: boolean; error?: unknown } } }>(t, 'agent/config.js');
    if (!mod) return;
    if (!mod.agentFileSchema) return t.skip('agent/config.js has no agentFileSchema');
    const k8s = (parseYaml(readFileSync(join(DEPLOY, 'kubernetes', 'agent.yaml'), 'utf8').split('\n---\n')[0]!) as { data: { 'node.toml': string } }).data['node.toml'];
    const files: [string, string][] = [
      ['docker/node-a.toml', readFileSync(join(DEPLOY, 'docker', 'node-a.toml'), 'utf8')],
      ['docker/node-b.toml', readFileSync(join(DEPLOY, 'docker', 'node-b.toml'), 'utf8')],
      ['systemd/agents/gpu0.toml', readFileSync(join(DEPLOY, 'systemd', 'agents', 'gpu0.toml'), 'utf8')],
      ['kubernetes/agent.yaml node.toml', k8s.replace('__NODE_NAME__', 'node-1').replace('__POD_IP__', '10.1.2.3')],
    ];
    for (const [name, text] of files) {
      const r = mod.agentFileSchema.safeParse(parseToml(text));
      assert.ok(r.success, `${name}: ${String(r.error)}`);
    }
  });
});

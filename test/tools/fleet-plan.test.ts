// The fleet file and its plan, without processes: what is refused (naming the key), how ports
// are assigned and moved, and that every generated file is accepted by the schema of the
// process that reads it (so `up` never starts a process with a file it would refuse).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { agentFileSchema } from '../../src/agent/config.js';
import { isSwitchboardError } from '../../src/core/index.js';
import { simConfigSchema } from '../../src/engine/config.js';
import { registryConfigSchema } from '../../src/registry/config.js';
import { routerConfigSchema } from '../../src/router/config.js';
import { planFleet, portNeeds, type FleetPlan } from '../../src/tools/fleet/plan.js';
import { demoFleetPath, loadFleet, parseFleet } from '../../src/tools/fleet/schema.js';

const DIRS = { configDir: '/srv/sb/run/config', engineLogDir: '/srv/sb/logs/engines' };

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(isSwitchboardError(err), `expected a catalog error, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  assert.fail('expected an error');
}

const plan = (values: Record<string, unknown>, basePort?: number): FleetPlan => planFleet(parseFleet(values, 'fleet.yaml'), { ...DIRS, basePort });
const file = (p: FleetPlan, name: string): string => p.files.find((f) => f.path === `${DIRS.configDir}/${name}`)?.text ?? assert.fail(`no ${name} in ${p.files.map((f) => f.path).join(', ')}`);

describe('fleet file', () => {
  it('the demo has two chat engines for one model, one for another, an embeddings and a rerank engine', () => {
    const p = planFleet(loadFleet(undefined), DIRS);
    const byModel = new Map<string, string[]>();
    for (const a of p.agents) for (const m of a.engine!.models!) byModel.set(m, [...(byModel.get(m) ?? []), a.engine!.kind ?? 'all']);
    assert.ok([...byModel.values()].some((kinds) => kinds.filter((k) => k === 'chat').length >= 2), 'a model served by two chat engines');
    assert.ok([...byModel.values()].filter((kinds) => kinds.includes('chat')).length >= 2, 'a second chat model');
    assert.ok([...byModel.values()].some((k) => k.includes('embeddings')));
    assert.ok([...byModel.values()].some((k) => k.includes('rerank')));
    assert.equal(p.router.port, 8080);
    assert.equal(p.registry.port, 8081);
    assert.deepEqual(p.agents.map((a) => a.engine!.port), [8100, 8102, 8104, 8106, 8108]);
    assert.match(readFileSync(demoFleetPath(), 'utf8'), /docs\/configuration\.md/);
  });

  it('refuses an unknown key anywhere, naming it with a hint', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ engines: [{ name: 'a', modle: 'x' }] }, /unknown key 'engines\.0\.modle' \(did you mean 'model'\?\)/],
      [{ engines: [{ name: 'a', model: 'x', sim: { decodeMS: 3 } }] }, /unknown key 'engines\.0\.sim\.decodeMS' \(did you mean 'decodeMs'\?\)/],
      [{ engines: [{ name: 'a', model: 'x', agent: { heartbeat_intervall: 3 } }] }, /unknown key 'engines\.0\.agent\.heartbeat_intervall' \(did you mean 'heartbeat_interval'\?\)/],
      [{ router: { routing: { polcy: 'weighted' } }, engines: [{ name: 'a', model: 'x' }] }, /unknown key 'router\.routing\.polcy' \(did you mean 'policy'\?\)/],
      [{ registry: { healthInterval: 5 }, engines: [{ name: 'a', model: 'x' }] }, /unknown key 'registry\.healthInterval'/],
      [{ engine: [{ name: 'a', model: 'x' }] }, /unknown key 'engine' \(did you mean 'engines'\?\)/],
    ];
    for (const [values, re] of cases) {
      const e = errorOf(() => parseFleet(values, 'fleet.yaml'));
      assert.equal(e.code, 'SB_ERR_CONFIG_INVALID');
      assert.match(e.message, re);
      assert.match(e.message, /config file fleet\.yaml/);
    }
  });

  it('refuses what is missing, contradictory, reserved, or decided by the fleet', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /'engines'/],
      [{ engines: [{ name: 'a' }] }, /'engines\.0\.models' is required for a simulated engine/],
      [{ engines: [{ name: 'a', model: 'x', models: ['y'] }] }, /'engines\.0\.model' and models cannot both be set/],
      [{ engines: [{ name: 'router', model: 'x' }] }, /'engines\.0\.name' is reserved/],
      [{ engines: [{ name: 'a b', model: 'x' }] }, /'engines\.0\.name' must be letters/],
      [{ engines: [{ name: 'a', model: 'x', backend: { type: 'vllm', model: '/m' } }] }, /'engines\.0\.model' is for simulated engines/],
      [{ engines: [{ name: 'a', model: 'x', sim: { port: 9 } }] }, /'engines\.0\.sim\.port' is set by the fleet/],
      [{ router: { routing: { registryUrl: 'http://x:1' } }, engines: [{ name: 'a', model: 'x' }] }, /'router\.routing\.registryUrl' is set by the fleet/],
      [{ engines: [{ name: 'a', model: 'x', replicas: 0 }] }, /'engines\.0\.replicas'/],
    ];
    for (const [values, re] of cases) assert.match(errorOf(() => parseFleet(values, 'fleet.yaml')).message, re);
  });
});

describe('fleet plan', () => {
  it('assigns engine ports from router + 20 in pairs, around explicit ones, and replicas get -<n> names', () => {
    const p = plan({
      engines: [
        { name: 'a', model: 'm', replicas: 2 },
        { name: 'b', model: 'm', port: 8102 },
        { name: 'c', model: 'n' },
      ],
    });
    assert.deepEqual(
      p.agents.map((a) => [a.name, a.engine!.port, a.port]),
      [
        ['a-1', 8100, 8101],
        ['a-2', 8104, 8105],
        ['b', 8102, 8103],
        ['c', 8106, 8107],
      ],
    );
    assert.deepEqual(p.agents.map((a) => a.engine!.recordName), ['a-1-server', 'a-2-server', 'b-server', 'c-server']);
    assert.deepEqual(p.all.map((x) => x.role), ['registry', 'agent', 'agent', 'agent', 'agent', 'router']);
  });

  it('--base-port puts the router there and moves every other port by the same amount', () => {
    const p = plan({ router: { port: 8000 }, registry: { port: 8500 }, engines: [{ name: 'a', model: 'm' }, { name: 'b', model: 'm', port: 9000 }] }, 20_000);
    assert.equal(p.router.port, 20_000);
    assert.equal(p.registry.port, 20_500);
    assert.deepEqual(p.agents.map((a) => a.engine!.port), [20_020, 21_000]);
    assert.ok(p.router.argv.includes('http://127.0.0.1:20500'), 'the router follows the moved registry');
    assert.match(file(p, 'a.toml'), /registry_url = "http:\/\/127\.0\.0\.1:20500"/);
    assert.equal(errorOf(() => plan({ engines: [{ name: 'a', model: 'm', port: 9000 }] }, 65_000)).code, 'SB_ERR_USAGE');
  });

  it('advertiseHost is the address the processes are given for the registry and router', () => {
    const p = plan({ host: '0.0.0.0', advertiseHost: '10.0.0.10', engines: [{ name: 'a', model: 'm' }] });
    assert.match(file(p, 'a.toml'), /registry_url = "http:\/\/10\.0\.0\.10:8081"/);
    assert.ok(p.router.argv.includes('http://10.0.0.10:8081'));
    assert.deepEqual(p.router.argv.slice(1, 3), ['--host', '0.0.0.0'], 'it still binds the host');
    assert.equal(p.agents[0]!.url, 'http://127.0.0.1:8101', 'a local agent is checked on loopback');
  });

  it('refuses a port given twice, naming both users', () => {
    assert.match(errorOf(() => plan({ engines: [{ name: 'a', model: 'm', port: 8080 }] })).message, /port 8080 is given to both the router and the engine of a/);
    assert.match(errorOf(() => plan({ engines: [{ name: 'a', model: 'm', port: 9000 }, { name: 'b', model: 'm', port: 9001 }] })).message, /port 9001 is given to both the agent a and the engine of b/);
    assert.match(errorOf(() => plan({ engines: [{ name: 'a', model: 'm' }, { name: 'a', model: 'n' }] })).message, /two engines are named 'a'/);
  });

  it('writes files the processes themselves accept: agent TOMLs, sim, registry and routing files', () => {
    const p = plan({
      host: '127.0.0.1',
      registry: { port: 8081, healthIntervalMs: 5000 },
      router: { port: 8080, routing: { policy: 'weighted', retries: { attempts: 2 } } },
      agent: { heartbeat_interval: 5, drain_timeout: '2s' },
      engines: [
        { name: 'chat', models: ['m1', 'm2'], kind: 'chat', weight: 3, priority: 1, metadata: { zone: 'a' }, sim: { decodeMs: 0, faults: { errorRate: 0.1 } }, agent: { heartbeat_interval: 7 } },
        { name: 'gpu', backend: { type: 'vllm', model: '/models/q', args: ['--tensor-parallel-size', '2'] } },
      ],
    });
    const chat = parseToml(file(p, 'chat.toml'));
    const agent = agentFileSchema.parse(chat);
    assert.equal(agent.port, 8100);
    assert.equal(agent.registry_url, 'http://127.0.0.1:8081');
    assert.equal(agent.babysitter.heartbeat_interval, 7_000, 'the engine\'s agent block overrides the fleet\'s');
    assert.equal(agent.babysitter.drain_timeout, 2_000);
    assert.equal(agent.babysitter.log_dir, DIRS.engineLogDir);
    assert.deepEqual(agent.metadata, { weight: 3, priority: 1, zone: 'a' });
    assert.equal(agent.backend.type, 'sim');
    assert.ok(agent.backend.type === 'sim' && agent.backend.kind === 'chat');
    assert.deepEqual((agent.backend as { args: string[] }).args, ['--config', `${DIRS.configDir}/chat.sim.yaml`]);
    const sim = simConfigSchema.parse(parseYaml(file(p, 'chat.sim.yaml')));
    assert.equal(sim.decodeMs, 0);
    assert.equal(sim.faults.errorRate, 0.1);
    const gpu = agentFileSchema.parse(parseToml(file(p, 'gpu.toml')));
    assert.ok(gpu.backend.type === 'vllm' && gpu.backend.model === '/models/q');
    assert.equal(p.agents[1]!.engine!.models, undefined, 'a real engine\'s models are learned once it is ready');
    assert.equal(p.agents[0]!.stopGraceMs, 2_000 + 10_000 + 10_000, 'drain + engine stop grace + margin');
    assert.equal(registryConfigSchema.parse(parseYaml(file(p, 'registry.yaml'))).healthIntervalMs, 5000);
    assert.equal(routerConfigSchema.parse(parseYaml(file(p, 'routing.yaml'))).retries.attempts, 2);
    assert.deepEqual(portNeeds(p.agents[0]!).map((n) => [n.port, n.role]), [
      [8100, 'the engine of chat'],
      [8101, 'the agent chat'],
    ]);
  });
});

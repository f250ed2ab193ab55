// The original's Python clients against a real `switchboard registry` process: a standard-library
// stand-in for register_service.py and the babysitter's registry calls (fixtures/register_service.py)
// sends the same requests; everything it does must succeed, and a failure must exit 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/core/index.js';
import type { ServiceRecord } from '../../src/registry/record.js';
import { spawnSwitchboard } from '../helpers/process.js';
import { requireTool } from '../helpers/services.js';
import { call } from './helpers.js';

const SCRIPT = join(packageRoot(), 'test', 'registry', 'fixtures', 'register_service.py');

async function py(registry: string, ...args: string[]): Promise<{ code: number | null; out: unknown; stderr: string }> {
  const child = spawn('python3', [SCRIPT, '--registry', registry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  let out: unknown;
  try {
    out = JSON.parse(stdout);
  } catch {
    out = stdout;
  }
  return { code, out, stderr };
}

describe('the original Python clients against switchboard registry', () => {
  it('register_service.py: register, heartbeat, list, health, unregister (and exit 1 on failure)', async (t) => {
    if (!requireTool(t, 'python3')) return;
    const proc = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
    const url = await proc.listeningUrl();

    const reg = await py(url, 'register', 'mock-service', 'localhost', '5001', '--metadata', '{"type": "openai-api", "test": true, "description": "Mock service for testing"}');
    assert.equal(reg.code, 0, JSON.stringify(reg));
    const regOut = reg.out as { status: number; body: { message: string; service: ServiceRecord } };
    assert.equal(regOut.status, 201);
    assert.equal(regOut.body.message, "Service 'mock-service' registered successfully");
    assert.equal(regOut.body.service.url, 'http://localhost:5001');
    assert.match(regOut.body.service.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/, "the client's naive isoformat() timestamp is kept");

    const hb = await py(url, 'heartbeat', 'mock-service');
    assert.equal(hb.code, 0);
    assert.equal((hb.out as { body: { message: string } }).body.message, 'Heartbeat received');
    assert.equal((await py(url, 'heartbeat', 'mock-service', '--status', 'running')).code, 0);

    const list = await py(url, 'list', '--healthy');
    assert.equal(list.code, 0);
    const services = (list.out as { body: { services: ServiceRecord[]; total: number } }).body;
    assert.deepEqual(services.services.map((s) => s.name), ['mock-service']);
    assert.equal(services.total, 1);

    const health = await py(url, 'health');
    assert.equal(health.code, 0);
    assert.equal((health.out as { body: { registered_services: number } }).body.registered_services, 1);

    const un = await py(url, 'unregister', 'mock-service');
    assert.equal(un.code, 0);
    assert.deepEqual((un.out as { body: unknown }).body, { message: "Service 'mock-service' unregistered successfully" });

    const again = await py(url, 'unregister', 'mock-service');
    assert.equal(again.code, 1, 'unregistering an unknown service fails');
    assert.equal((again.out as { status: number; body: { error: string } }).status, 404);
    assert.equal((again.out as { body: { error: string } }).body.error, "Service 'mock-service' not found");
    const bad = await py(url, 'register', 'x', 'localhost', '5001', '--metadata', '[1]');
    assert.equal(bad.code, 1);
    assert.equal((bad.out as { status: number }).status, 400);
  });

  it("the enhanced babysitter's calls: register itself (port + 1) and its -server, heartbeat both, unregister both", async (t) => {
    if (!requireTool(t, 'python3')) return;
    const proc = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
    const url = await proc.listeningUrl();
    const res = await py(url, 'babysitter', 'infinilm-8100', '127.0.0.1', '8100', '--models', 'Qwen3-32B,qwen-embed');
    assert.equal(res.code, 0, JSON.stringify(res.out));
    const steps = res.out as { step: string; status: number; body: unknown }[];
    const first = steps[0]!.body as { service: ServiceRecord };
    assert.equal(first.service.port, 8101);
    const server = steps[1]!.body as { service: ServiceRecord };
    assert.equal(server.service.name, 'infinilm-8100-server');
    assert.deepEqual(server.service.metadata.models, ['Qwen3-32B', 'qwen-embed']);
    assert.equal((server.service.metadata.models_list as unknown[]).length, 2);
    assert.deepEqual(steps.find((s) => s.step === 'list healthy')!.body, ['infinilm-8100', 'infinilm-8100-server']);
    assert.equal((await call<{ total: number }>('GET', `${url}/services`)).body.total, 0, 'both were unregistered');
  });

  it('exits 1 when the registry cannot be reached', async (t) => {
    if (!requireTool(t, 'python3')) return;
    const res = await py('http://127.0.0.1:1', 'list');
    assert.equal(res.code, 1);
    assert.match(res.stderr, /Error:/);
  });
});

// `switchboard services` (register_service.py on our CLI) against a real registry process:
// register, list, heartbeat, health, unregister; exit 0 on success, 1 when the registry refuses or
// cannot be reached, 2 for a usage error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceRecord } from '../../src/registry/record.js';
import { runSwitchboard, spawnSwitchboard } from '../helpers/process.js';
import { call, startBackend } from './helpers.js';

const NO_ENV = { SWITCHBOARD_TOKEN: '', SWITCHBOARD_REGISTRY_URL: '' };

function sb(...args: string[]): ReturnType<typeof runSwitchboard> {
  return runSwitchboard(args, { env: NO_ENV });
}

describe('switchboard services', () => {
  it('registers, lists, heartbeats, checks health and unregisters', async (t) => {
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
    const url = await registry.listeningUrl();
    const backend = await startBackend(t);

    const reg = await sb('services', 'register', 'gpu-1', '127.0.0.1', '8100', '--registry', url, '--metadata', '{"type":"openai-api","models":["qwen3-32b","m2"]}');
    assert.equal(reg.code, 0, reg.stderr);
    assert.equal(reg.stdout, "Registered service 'gpu-1' at http://127.0.0.1:8100\n");
    const rec = (await call<ServiceRecord>('GET', `${url}/services/gpu-1`)).body;
    assert.deepEqual([rec.hostname, rec.status, rec.metadata.models], ['127.0.0.1', 'running', ['qwen3-32b', 'm2']]);

    const web = await sb('services', 'register', 'web', '127.0.0.1', String(backend.port), '--registry', url, '--hostname', 'web-host', '--lease-ttl', '60', '--json');
    assert.equal(web.code, 0, web.stderr);
    const webRec = JSON.parse(web.stdout) as ServiceRecord;
    assert.deepEqual([webRec.name, webRec.hostname, webRec.lease_ttl], ['web', 'web-host', 60]);
    assert.equal((await sb('services', 'register', 'idle', '127.0.0.1', '1', '--registry', url, '--status', 'starting')).code, 0);

    const list = await sb('services', 'list', '--registry', url);
    assert.equal(list.code, 0);
    const lines = list.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+URL\s+STATUS\s+HEALTHY\s+PROBE\s+TYPE\s+MODELS$/);
    assert.match(lines[1]!, /^gpu-1\s+http:\/\/127\.0\.0\.1:8100\s+running\s+yes\s+unknown\s+openai-api\s+qwen3-32b,m2$/);
    assert.equal(lines.length, 4);
    const healthy = await sb('services', 'list', '--registry', url, '--healthy', '--json');
    assert.deepEqual((JSON.parse(healthy.stdout) as ServiceRecord[]).map((s) => s.name), ['gpu-1', 'web']);

    const hb = await sb('services', 'heartbeat', 'gpu-1', '--registry', url);
    assert.equal(hb.code, 0);
    assert.equal(hb.stdout, "Heartbeat sent for 'gpu-1'\n");

    const health = await sb('services', 'health', '--registry', url);
    assert.equal(health.code, 0);
    assert.equal(health.stdout, `Registry ${url}: healthy, 2/3 services healthy\n`);
    const webHealth = await sb('services', 'health', 'web', '--registry', url);
    assert.equal(webHealth.code, 0, webHealth.stderr);
    assert.equal(webHealth.stdout, 'web: healthy (healthy)\n');
    assert.equal(backend.hits.length, 1, 'health NAME probes the service now');
    const idleHealth = await sb('services', 'health', 'idle', '--registry', url);
    assert.equal(idleHealth.code, 1, 'an unhealthy service exits 1');
    assert.equal(idleHealth.stdout, 'idle: unhealthy (not healthy)\n');

    const un = await sb('services', 'unregister', 'gpu-1', '--registry', url);
    assert.equal(un.code, 0);
    assert.equal(un.stdout, "Unregistered service 'gpu-1'\n");
    assert.equal((await call('GET', `${url}/services/gpu-1`)).status, 404);
    const again = await sb('services', 'unregister', 'gpu-1', '--registry', url);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, "Service 'gpu-1' not found\n");
    const ghostBeat = await sb('services', 'heartbeat', 'gpu-1', '--registry', url);
    assert.equal(ghostBeat.code, 1);

    // the alias and the environment variable
    const viaEnv = await runSwitchboard(['registry-client', 'list', '--json'], { env: { ...NO_ENV, SWITCHBOARD_REGISTRY_URL: url } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.deepEqual((JSON.parse(viaEnv.stdout) as ServiceRecord[]).map((s) => s.name), ['web', 'idle']);
  });

  it('exits 1 when the registry refuses (no token) or cannot be reached, 2 on a usage error', async (t) => {
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes', '--token', 'tok-123']);
    const url = await registry.listeningUrl();

    const refused = await sb('services', 'register', 'a', '127.0.0.1', '8100', '--registry', url);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error: Registry at .* answered 401: .*Bearer/);
    const withToken = await sb('services', 'register', 'a', '127.0.0.1', '8100', '--registry', url, '--token', 'tok-123');
    assert.equal(withToken.code, 0, withToken.stderr);
    const envToken = await runSwitchboard(['services', 'unregister', 'a', '--registry', url], { env: { ...NO_ENV, SWITCHBOARD_TOKEN: 'tok-123' } });
    assert.equal(envToken.code, 0, envToken.stderr);
    const rejected = await sb('services', 'register', 'bad/name', '127.0.0.1', '8100', '--registry', url, '--token', 'tok-123');
    assert.equal(rejected.code, 1);
    assert.match(rejected.stderr, /answered 400: Invalid field 'name'/);

    const unreachable = await sb('services', 'list', '--registry', 'http://127.0.0.1:1');
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^Error: Registry at http:\/\/127\.0\.0\.1:1 unreachable/);

    for (const args of [
      ['services'],
      ['services', 'frobnicate'],
      ['services', 'register', 'a', '127.0.0.1'],
      ['services', 'register', 'a', '127.0.0.1', 'port'],
      ['services', 'register', 'a', '127.0.0.1', '8100', '--metadata', '{oops'],
    ]) {
      const r = await sb(...args, '--registry', url);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /SB_ERR_USAGE/);
    }
  });
});

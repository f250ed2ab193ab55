// Writes need the token once one is set (reads stay open, so the original's read-only tools keep
// working), and a registry bound beyond loopback without a token refuses to start.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSwitchboardError } from '../../src/core/index.js';
import { registryConfigSchema } from '../../src/registry/config.js';
import { buildRegistry } from '../../src/registry/server.js';
import { runSwitchboard, spawnSwitchboard } from '../helpers/process.js';
import { call, openFeed, registration, startRegistry } from './helpers.js';

const TOKEN = 's3cret-registry-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

describe('registry write token', () => {
  it('refuses writes without the right Bearer token with 401, and keeps reads open', async (t) => {
    const { url } = await startRegistry(t, { token: TOKEN });
    const writes: [string, string, unknown?][] = [
      ['POST', '/services', registration('svc')],
      ['PUT', '/services/svc', { status: 'running' }],
      ['POST', '/services/svc/heartbeat'],
      ['DELETE', '/services/svc'],
    ];
    for (const [method, path, body] of writes) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }] as Record<string, string>[]) {
        const res = await call<{ error: string; code: string }>(method, url + path, body, headers);
        assert.equal(res.status, 401, `${method} ${path} ${JSON.stringify(headers)}`);
        assert.equal(res.body.code, 'SB_ERR_UNAUTHORIZED');
        assert.match(res.body.error, /Authorization: Bearer/);
      }
    }
    assert.equal((await call<{ total: number }>('GET', `${url}/services`)).body.total, 0, 'nothing was written');

    assert.equal((await call('POST', `${url}/services`, registration('svc'), AUTH)).status, 201);
    assert.equal((await call('POST', `${url}/services/svc/heartbeat`, undefined, { authorization: `bearer ${TOKEN}` })).status, 200, 'scheme is case-insensitive');
    assert.equal((await call('PUT', `${url}/services/svc`, { status: 'running' }, AUTH)).status, 200);

    for (const path of ['/health', '/services', '/services/svc', '/stats', '/metrics', '/services?healthy=true']) {
      assert.equal((await call('GET', url + path)).status, 200, `GET ${path} is open`);
    }
    const feed = await openFeed(t, url);
    assert.equal(feed.res.statusCode, 200, 'the change feed is a read');
    await feed.next((e) => e.event === 'snapshot');
    feed.close();
    assert.equal((await call('DELETE', `${url}/services/svc`, undefined, AUTH)).status, 200);
  });
});

describe('registry bind safety', () => {
  it('refuses to build on 0.0.0.0 without a token unless insecure, with SB_ERR_INSECURE_BIND', async (t) => {
    await assert.rejects(
      buildRegistry(registryConfigSchema.parse({ host: '0.0.0.0', port: 0 })),
      (err: unknown) => isSwitchboardError(err) && err.code === 'SB_ERR_INSECURE_BIND' && /0\.0\.0\.0/.test(err.message),
    );
    for (const extra of [{ insecure: true }, { token: TOKEN }]) {
      const r = await buildRegistry(registryConfigSchema.parse({ host: '0.0.0.0', port: 0, probes: false, ...extra }));
      t.after(() => r.close());
      const url = await r.listen();
      assert.match(url, /^http:\/\/0\.0\.0\.0:\d+$/);
      const port = new URL(url).port;
      assert.equal((await call('GET', `http://127.0.0.1:${port}/health`)).status, 200);
    }
  });

  it('the CLI exits non-zero with a clear message, and starts with --insecure', async (t) => {
    const refused = await runSwitchboard(['registry', '--host', '0.0.0.0', '--port', '0'], { env: { SWITCHBOARD_TOKEN: '' } });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /SB_ERR_INSECURE_BIND/);
    assert.match(refused.stderr, /--insecure/);
    const p = spawnSwitchboard(t, ['registry', '--host', '0.0.0.0', '--port', '0', '--insecure'], { env: { SWITCHBOARD_TOKEN: '' } });
    const port = new URL(await p.listeningUrl()).port;
    assert.equal((await call('GET', `http://127.0.0.1:${port}/health`)).status, 200);
    assert.equal(await p.stop(), 0, 'SIGTERM stops it cleanly');
  });
});

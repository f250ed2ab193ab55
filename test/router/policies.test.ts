// Passive health on a manual clock, per-model timeouts and session stickiness through a real
// router, and the admin token on the router's admin endpoints.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import { PassiveHealth } from '../../src/router/passive-health.js';
import { chat, spec, startBackend, startRouter } from './helpers.js';

describe('passive health (nginx max_fails / fail_timeout)', () => {
  const settings = { maxFails: 3, failTimeoutMs: 1000, maxEjectionMs: 5000 };

  it('ejects only after max_fails failures inside fail_timeout', async () => {
    const clock = new ManualClock();
    const p = new PassiveHealth(settings, clock);
    assert.equal(p.fail(), 0);
    assert.equal(p.fail(), 0);
    await clock.advance(1500); // the first two fall out of the window
    assert.equal(p.fail(), 0);
    assert.equal(p.fail(), 0);
    assert.equal(p.fail(), 1000, 'third failure inside the window: eject for fail_timeout');
  });

  it('a success clears the count', () => {
    const p = new PassiveHealth(settings, new ManualClock());
    p.fail();
    p.fail();
    p.succeed();
    assert.equal(p.fail(), 0);
  });

  it('doubles the ejection for a repeat offender, capped, and forgets after good behaviour', async () => {
    const clock = new ManualClock();
    const p = new PassiveHealth(settings, clock);
    const ejectNow = (): number => {
      let d = 0;
      for (let i = 0; i < 3 && d === 0; i++) d = p.fail();
      p.eject(d);
      return d;
    };
    assert.equal(ejectNow(), 1000);
    assert.equal(p.routable, false);
    await clock.advance(1000);
    p.startProbing();
    assert.equal(p.state, 'probing');
    assert.equal(p.routable, false, 'not routable until a probe succeeds');
    p.readmit();
    assert.equal(ejectNow(), 2000, 'again soon after: twice as long');
    await clock.advance(2000);
    p.readmit();
    assert.equal(ejectNow(), 4000);
    await clock.advance(4000);
    p.readmit();
    assert.equal(ejectNow(), 5000, 'capped at maxEjectionMs');
    await clock.advance(5000);
    p.readmit();
    await clock.advance(60_000);
    assert.equal(ejectNow(), 1000, 'a long good spell starts over');
  });

  it('a failed re-admission probe ejects again for longer; per-backend overrides apply; 0 disables', () => {
    const clock = new ManualClock();
    const p = new PassiveHealth(settings, clock);
    p.override(1, 200);
    assert.equal(p.fail(), 200);
    p.eject(200);
    p.startProbing();
    assert.equal(p.probeFailed(), 400);
    assert.equal(p.state, 'ejected');
    const off = new PassiveHealth({ ...settings, maxFails: 0 }, clock);
    for (let i = 0; i < 10; i++) assert.equal(off.fail(), 0);
  });
});

describe('router: per-model settings and sessions', () => {
  it('applies a per-model first-byte timeout without touching other models', async (t) => {
    const [a, b] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b')]);
    const r = await startRouter(t, { models: { slow: { timeouts: { firstByteMs: 150 } } }, passiveHealth: { maxFails: 0 } }, [spec(a, ['slow']), spec(b, ['fast'])]);
    a.mode = 'hang';
    b.mode = 'ok';
    const t0 = Date.now();
    const res = await chat(r.url, { model: 'slow' });
    assert.equal(res.status, 504);
    assert.ok(Date.now() - t0 < 2000, 'gave up after the model\'s own timeout');
    assert.equal((await chat(r.url, { model: 'fast' })).status, 200);
  });

  it('consistent_hash keeps a session on one backend and spreads sessions over all', async (t) => {
    const bs = await Promise.all(['a', 'b', 'c'].map((n) => startBackend(t, n)));
    const r = await startRouter(t, { policy: 'consistent_hash' }, bs.map((b) => spec(b, ['m1'])));
    const home = new Map<string, string>();
    for (let s = 0; s < 30; s++) {
      for (let i = 0; i < 3; i++) {
        const res = await chat(r.url, { model: 'm1', prompt_cache_key: `session-${s}` });
        const who = res.headers.get('x-switchboard-backend')!;
        await res.arrayBuffer();
        if (i === 0) home.set(`session-${s}`, who);
        else assert.equal(who, home.get(`session-${s}`), 'sticky');
      }
    }
    assert.equal(new Set(home.values()).size, 3, 'sessions spread over every backend');
    const viaHeader = new Set<string>();
    for (let i = 0; i < 5; i++) viaHeader.add((await chat(r.url, { model: 'm1' }, { 'x-session-id': 'hdr-1' })).headers.get('x-switchboard-backend')!);
    assert.equal(viaHeader.size, 1, 'the session header works too');
  });
});

describe('router: admin token', () => {
  it('guards /services, /stats, /admin/* while /health and the OpenAI surface stay open', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { adminToken: 'sekret' }, [spec(a, ['m1'])]);
    for (const path of ['/services', '/stats', '/admin/gateway']) {
      assert.equal((await fetch(`${r.url}${path}`)).status, 401, path);
      assert.equal((await fetch(`${r.url}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, 401, path);
      assert.equal((await fetch(`${r.url}${path}`, { headers: { authorization: 'Bearer sekret' } })).status, 200, path);
    }
    assert.equal((await fetch(`${r.url}/admin/reload`, { method: 'POST' })).status, 401);
    assert.equal((await fetch(`${r.url}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer sekret' } })).status, 200);
    assert.equal((await fetch(`${r.url}/health`)).status, 200);
    assert.equal((await chat(r.url, { model: 'm1' })).status, 200);
  });
});

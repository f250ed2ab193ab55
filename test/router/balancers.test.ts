// One contract for every balancer, then table-driven sequences and ratios per policy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, seededRandom } from '../../src/core/index.js';
import { Backend } from '../../src/router/backend.js';
import { createBalancer } from '../../src/router/balancers/index.js';
import { POLICIES, type PolicyName } from '../../src/router/config.js';
import { PassiveHealth } from '../../src/router/passive-health.js';

function backend(name: string, weight = 1, inFlight = 0): Backend {
  const b = new Backend(
    { name, host: '127.0.0.1', port: 9000, url: 'http://127.0.0.1:9000', status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m'] }, weight, static: true },
    new PassiveHealth({ maxFails: 3, failTimeoutMs: 1000, maxEjectionMs: 10_000 }, new ManualClock()),
  );
  b.inFlight = inFlight;
  return b;
}

const make = (p: PolicyName) => createBalancer(p, { random: seededRandom(7), loadFactor: 1.25 });

describe('balancer contract', () => {
  for (const policy of POLICIES) {
    describe(policy, () => {
      it('picks nothing from nothing and the only one from one', () => {
        const bal = make(policy);
        assert.equal(bal.pick([], {}), undefined);
        const a = backend('a');
        assert.equal(bal.pick([a], { sessionKey: 'k' }), a);
      });

      it('always picks one of the candidates, and every candidate gets work over many picks', () => {
        const bal = make(policy);
        const bs = [backend('a'), backend('b'), backend('c')];
        const seen = new Set<string>();
        for (let i = 0; i < 300; i++) {
          const b = bal.pick(bs, { sessionKey: policy === 'consistent_hash' ? `s${i}` : undefined });
          assert.ok(b && bs.includes(b));
          seen.add(b.name);
        }
        assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
      });

      it('copes with the candidate set changing between picks', () => {
        const bal = make(policy);
        const [a, b, c] = [backend('a'), backend('b'), backend('c')];
        for (const set of [[a, b, c], [a], [b, c], [c, a, b]]) {
          const p = bal.pick(set, { sessionKey: 'x' });
          assert.ok(p && set.includes(p));
        }
      });
    });
  }
});

describe('balancer sequences and ratios', () => {
  it('round_robin cycles in order', () => {
    const bal = make('round_robin');
    const bs = [backend('a'), backend('b'), backend('c')];
    assert.deepEqual(Array.from({ length: 7 }, () => bal.pick(bs, {})!.name), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  const weighted: [number[], string][] = [
    [[5, 1, 1], 'aabacaa'],
    [[1, 1, 1], 'abc'],
    [[2, 1], 'aba'],
    [[3, 2], 'ababa'],
  ];
  for (const [weights, seq] of weighted) {
    it(`weighted ${weights.join(':')} is the smooth sequence ${seq}, repeated`, () => {
      const bal = make('weighted');
      const bs = weights.map((w, i) => backend(String.fromCharCode(97 + i), w));
      const got = Array.from({ length: seq.length * 3 }, () => bal.pick(bs, {})!.name).join('');
      assert.equal(got, seq.repeat(3));
    });
  }

  it('least_connections takes the least loaded per unit of weight', () => {
    const bal = make('least_connections');
    assert.equal(bal.pick([backend('a', 1, 4), backend('b', 1, 1), backend('c', 1, 2)], {})!.name, 'b');
    assert.equal(bal.pick([backend('a', 4, 4), backend('b', 1, 2)], {})!.name, 'a');
  });

  it('random_two never picks the most loaded of three and favours the least loaded', () => {
    const bal = make('random_two');
    const bs = [backend('a', 1, 0), backend('b', 1, 5), backend('c', 1, 10)];
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 3000; i++) counts[bal.pick(bs, {})!.name]!++;
    assert.equal(counts.c, 0);
    // a wins whenever it is drawn (2 of 3 pairs): about 2/3
    assert.ok(Math.abs(counts.a! / 3000 - 2 / 3) < 0.05, JSON.stringify(counts));
  });

  it('consistent_hash sticks a session to one backend and moves only the sessions of a backend that left', () => {
    const bal = make('consistent_hash');
    const bs = ['a', 'b', 'c', 'd'].map((n) => backend(n));
    const before = new Map<string, string>();
    for (let i = 0; i < 400; i++) before.set(`s${i}`, bal.pick(bs, { sessionKey: `s${i}` })!.name);
    for (let i = 0; i < 400; i++) assert.equal(bal.pick(bs, { sessionKey: `s${i}` })!.name, before.get(`s${i}`), 'sticky');
    const share = [...before.values()].filter((n) => n === 'a').length / 400;
    assert.ok(share > 0.12 && share < 0.38, `a has ${share} of sessions`);
    const without = bs.filter((b) => b.name !== 'c');
    let moved = 0;
    for (let i = 0; i < 400; i++) {
      const now = bal.pick(without, { sessionKey: `s${i}` })!.name;
      if (before.get(`s${i}`) !== 'c') assert.equal(now, before.get(`s${i}`), 'sessions of other backends stay');
      else moved++;
    }
    assert.ok(moved > 0);
  });

  it('consistent_hash bounds the load: an overloaded owner passes the session on', () => {
    const bal = make('consistent_hash');
    const bs = ['a', 'b', 'c', 'd'].map((n) => backend(n));
    const owner = bal.pick(bs, { sessionKey: 'hot' })!;
    owner.inFlight = 10; // total 10 over 4 backends: cap = ceil(1.25 × 11 / 4) = 4
    const next = bal.pick(bs, { sessionKey: 'hot' })!;
    assert.notEqual(next.name, owner.name);
    owner.inFlight = 0;
    assert.equal(bal.pick(bs, { sessionKey: 'hot' })!.name, owner.name, 'back home once it has room');
  });
});

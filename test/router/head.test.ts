// head.ts: the header-name checks the raw paths use instead of per-header strings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockHas, headerList, isHopByHop, lowerBlock, nameIs } from '../../src/router/head.js';

describe('header lines (head.ts)', () => {
  it('nameIs compares any letter case, and only letters', () => {
    const cases: [string, string, boolean][] = [
      ['Content-Length', 'content-length', true],
      ['CONTENT-LENGTH', 'content-length', true],
      ['content-length', 'content-length', true],
      ['Content_Length', 'content-length', false],
      ['X_Session', 'x_session', true],
      ['X\x7fSession', 'x_session', false], // 0x7f is '_' | 0x20: not a capital of it
      ['Content-Lengtx', 'content-length', false],
      ['Hos\r\n', 'host', false],
      ['x-a\r\n', 'x-a-\r', false],
    ];
    for (const [text, name, want] of cases) assert.equal(nameIs(text, 0, name), want, `${JSON.stringify(text)} vs ${name}`);
    assert.equal(nameIs('GET / HTTP/1.1\r\nHost: x', 16, 'host'), true, 'at an offset');
  });

  it('isHopByHop knows the RFC 9110 list and proxy-connection, in any case', () => {
    for (const h of ['Connection', 'keep-alive', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade', 'Proxy-Connection', 'Proxy-Authenticate', 'Proxy-Authorization']) {
      assert.equal(isHopByHop(h, 0, h.length), true, h);
    }
    for (const h of ['Content-Type', 'Authorization', 'Host', 'Trailers', 'X-Upgrade', 'tx']) assert.equal(isHopByHop(h, 0, h.length), false, h);
  });

  it('headerList keeps names as sent and trims values; blockHas finds a name at a line start only', () => {
    assert.deepEqual(headerList('Content-Type: application/json\r\nX-A:  b \r\nbroken line\r\nx-a: c\r\n'), ['Content-Type', 'application/json', 'X-A', 'b', 'x-a', 'c']);
    const lower = lowerBlock('Content-Type: a\r\nX-RateLimit-Limit-Requests: 5\r\n');
    assert.equal(blockHas(lower, 'content-type'), true);
    assert.equal(blockHas(lower, 'x-ratelimit-limit-requests'), true);
    assert.equal(blockHas(lower, 'limit-requests'), false);
    assert.equal(blockHas(lower, 'x-ratelimit-limit'), false);
    assert.equal(blockHas(lower, 'x-ratelimit-limit'), false, 'a second look answers the same');
    assert.equal(blockHas(lowerBlock(''), 'content-type'), false);
  });
});

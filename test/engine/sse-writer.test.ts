import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { SseWriter } from '../../src/engine/sse-writer.js';

/** Just enough of a ServerResponse: write() reports a full buffer while `full` is set. */
class FakeResponse extends EventEmitter {
  writes: string[] = [];
  ended: string | undefined;
  full = false;
  destroyed = false;
  socket = null;
  writeHead(): this {
    return this;
  }
  flushHeaders(): void {}
  cork(): void {}
  uncork(): void {}
  write(data: string): boolean {
    this.writes.push(data);
    return !this.full;
  }
  end(data: string): void {
    this.ended = data;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

describe('SseWriter', () => {
  it('stops writing when write() returns false and sends the backlog in one write on drain', () => {
    const res = new FakeResponse();
    const w = new SseWriter(res as unknown as ServerResponse, {});
    res.full = true;
    w.send('a');
    w.send('b');
    w.send('c');
    assert.deepEqual(res.writes, ['a'], 'nothing more is written until drain');
    w.end('done');
    assert.equal(res.ended, undefined, 'the end waits for the backlog too');
    res.full = false;
    res.emit('drain');
    assert.deepEqual(res.writes, ['a']);
    assert.equal(res.ended, 'bcdone');
  });

  it('keeps waiting when the backlog fills the buffer again', () => {
    const res = new FakeResponse();
    const w = new SseWriter(res as unknown as ServerResponse, {});
    res.full = true;
    w.send('a');
    w.send('b');
    res.emit('drain');
    assert.deepEqual(res.writes, ['a', 'b']);
    w.send('c');
    assert.deepEqual(res.writes, ['a', 'b'], 'still blocked after a write that returned false');
    res.full = false;
    res.emit('drain');
    assert.deepEqual(res.writes, ['a', 'b', 'c']);
  });

  it('cuts a blocked response at once on drop, and ignores sends after it', () => {
    const res = new FakeResponse();
    const w = new SseWriter(res as unknown as ServerResponse, {});
    res.full = true;
    w.send('a');
    w.drop();
    assert.equal(res.destroyed, true);
    assert.equal(w.closed, true);
    w.send('b');
    w.end('done');
    assert.deepEqual(res.writes, ['a']);
    assert.equal(res.ended, undefined);
  });
});

// The router's socket reads: accepted sockets read into the one shared buffer on this Node (if a
// Node upgrade renames the internals readShared relies on, this fails instead of the router quietly
// going back to a buffer per read), every byte arrives once and in order however it is written,
// pause() stops the reads, and a socket handed back to stream reads delivers 'data' events again.
// Copies cut from a slab do not overlap and do not change when the read buffer is reused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { MAX_SLICE, copyOut, slabAlloc } from '../../src/router/slab.js';
import { READ_BUFFER, readAsStream, readShared } from '../../src/router/socket-reads.js';
import { eventually } from '../helpers/process.js';

async function pair(t: TestContext): Promise<{ server: Server; client: Socket; accepted: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepting = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
  const [accepted] = await accepting;
  t.after(() => {
    client.destroy();
    accepted.destroy();
    server.close();
  });
  return { server, client, accepted };
}

/** Polls every 5 ms (socket reads land quickly), up to 5 s. */
const until = (cond: () => boolean): Promise<true> => eventually(() => cond() || undefined, 5000, 5);

describe('router socket reads', () => {
  it('reads an accepted socket through the shared buffer: every byte once, in order, copies that stay put', async (t) => {
    const { client, accepted } = await pair(t);
    const got: Buffer[] = [];
    assert.equal(readShared(accepted, (b) => got.push(b)), true, 'this Node has the onread internals readShared uses');
    let dataEvents = 0;
    accepted.on('data', () => dataEvents++);
    const sent = Buffer.alloc(300_000);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 11)) & 0xff;
    // small writes and one large one (several reads of up to the buffer's size)
    for (let i = 0; i < 20; i++) client.write(sent.subarray(i * 10, i * 10 + 10));
    client.write(sent.subarray(200));
    await until(() => got.reduce((n, b) => n + b.length, 0) >= sent.length);
    assert.ok(got.length > 1);
    assert.deepEqual(Buffer.concat(got), sent);
    for (const b of got) assert.notEqual(b.buffer, READ_BUFFER.buffer, 'each read is copied out of the shared buffer');
    assert.equal(dataEvents, 0, "no 'data' events: the reads go to the callback");
  });

  it('stops reading while paused, and goes back to stream reads (data events, pause) when handed on', async (t) => {
    const { client, accepted } = await pair(t);
    const got: Buffer[] = [];
    assert.equal(readShared(accepted, (b) => got.push(b)), true);
    client.write('one');
    await until(() => got.length === 1);
    accepted.pause();
    client.write('two');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.length, 1, 'nothing read while paused');
    // handed on (as the front hands a connection to node:http): stream reads from here
    readAsStream(accepted);
    const streamed: Buffer[] = [];
    accepted.on('data', (d: Buffer) => streamed.push(d));
    accepted.resume();
    client.write('three');
    await until(() => Buffer.concat(streamed).toString() === 'twothree');
    assert.equal(got.length, 1, 'the first callback gets nothing after the hand-off');
    accepted.pause();
    client.end('four');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(Buffer.concat(streamed).toString(), 'twothree', 'pause holds data back');
    const ended = once(accepted, 'end');
    accepted.resume();
    await ended;
    assert.equal(Buffer.concat(streamed).toString(), 'twothreefour');
  });
});

describe('router slab copies', () => {
  it('cuts aligned slices that never overlap, and gives large sizes a buffer of their own', () => {
    const slices = [100, 4096, 5000, 1, MAX_SLICE, 7000, 3, MAX_SLICE, 10_000].map((n, i) => {
      const b = slabAlloc(n);
      assert.equal(b.length, n);
      b.fill(i);
      return b;
    });
    slices.forEach((b, i) => {
      assert.ok(b.every((x) => x === i), `slice ${i} kept its bytes`);
      if (b.byteOffset !== 0) assert.equal(b.byteOffset % 8, 0);
    });
    const big = slabAlloc(MAX_SLICE + 1);
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength, MAX_SLICE + 1);
  });

  it('copies: a copy does not change when its source is written over', () => {
    for (const n of [10, 6000]) {
      const src = Buffer.alloc(n, 1);
      const copy = copyOut(src);
      src.fill(2);
      assert.equal(copy.length, n);
      assert.ok(copy.every((x) => x === 1));
    }
  });
});

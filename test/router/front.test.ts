// The router's listening socket at the byte level: the raw proxy path and its hand-off to node:http
// on one connection, pipelining, split packets, half-close, the request shapes node:http takes over
// (HTTP/1.0, chunked and Expect bodies, HEAD, malformed heads, oversized bodies), and upstream
// framing (chunked, close-delimited, keep-alive reuse).
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { spec, startBackend, startRouter } from './helpers.js';

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Reads HTTP/1.1 responses off a raw socket (content-length, chunked or until close). */
class Reader {
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async #more(): Promise<void> {
    if (this.closed) throw new Error(`connection closed; have ${JSON.stringify(this.#buf.toString('latin1'))}`);
    await new Promise<void>((r) => this.#waiters.push(r));
  }

  async response(): Promise<Parsed> {
    let end: number;
    while ((end = this.#buf.indexOf('\r\n\r\n')) === -1) await this.#more();
    const lines = this.#buf.toString('latin1', 0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    this.#buf = this.#buf.subarray(end + 4);
    let body = '';
    if (status < 200 || status === 204 || status === 304) return { status, headers, body };
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      while (this.#buf.length < n) await this.#more();
      body = this.#buf.toString('utf8', 0, n);
      this.#buf = this.#buf.subarray(n);
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        let lf: number;
        while ((lf = this.#buf.indexOf('\r\n')) === -1) await this.#more();
        const size = parseInt(this.#buf.toString('latin1', 0, lf), 16);
        while (this.#buf.length < lf + 2 + size + 2) await this.#more();
        body += this.#buf.toString('utf8', lf + 2, lf + 2 + size);
        this.#buf = this.#buf.subarray(lf + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      while (!this.closed) await this.#more().catch(() => undefined);
      body = this.#buf.toString('utf8');
      this.#buf = Buffer.alloc(0);
    }
    return { status, headers, body };
  }
}

async function open(t: TestContext, url: string): Promise<{ socket: Socket; reader: Reader }> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port) });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  t.after(() => socket.destroy());
  return { socket, reader: new Reader(socket) };
}

function post(path: string, body: string, extra = ''): string {
  return `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** A response body's JSON, typed loosely for assertions. */
const json = (body: string): { model?: string; status?: string; error?: { message: string } } => JSON.parse(body) as { model?: string; status?: string; error?: { message: string } };

const chatBody = (model = 'm1', stream = false): string => JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] });

describe('router front: the listening socket', () => {
  it('serves proxied and local requests on one keep-alive connection, before and after the hand-off', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const { socket, reader } = await open(t, r.url);
    socket.write(post('/v1/chat/completions', chatBody()));
    const first = await reader.response();
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-switchboard-backend'], 'a');
    assert.ok(first.headers['x-request-id']);
    assert.ok(first.headers.date, 'a Date header, as node:http and nginx send');
    assert.equal(json(first.body).model, 'm1');
    // a local endpoint: node:http takes the connection from here on
    socket.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    const health = await reader.response();
    assert.equal(health.status, 200);
    assert.equal(json(health.body).status, 'healthy');
    socket.write(post('/v1/chat/completions', chatBody()));
    const third = await reader.response();
    assert.equal(third.status, 200);
    assert.equal(third.headers['x-switchboard-backend'], 'a');
    assert.equal(reader.closed, false);
  });

  it('forwards the client\'s header lines as sent, without hop-by-hop ones, with its request id and X-Forwarded-For', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const { socket, reader } = await open(t, r.url);
    const body = chatBody();
    const headers = [
      'Host: router.example',
      'Connection: keep-alive, X-Gone',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Proxy-Authorization: Basic eA==',
      'X-Forwarded-For: 10.0.0.1',
      'X-Request-Id: client-chosen-42',
      'X-Custom: a',
      'Authorization: Bearer sk-x',
      'x-custom: b',
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
    ];
    socket.write(`POST /v1/chat/completions?x=1 HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n${body}`);
    const res = await reader.response();
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-request-id'], 'client-chosen-42');
    const seen = a.seen.at(-1)!;
    assert.equal(seen.url, '/v1/chat/completions?x=1');
    assert.equal(seen.body, body);
    const h = seen.headers;
    for (const gone of ['connection', 'keep-alive', 'te', 'proxy-authorization']) assert.equal(h[gone], undefined, `${gone} is not forwarded`);
    assert.equal(h.host, `127.0.0.1:${a.port}`);
    assert.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
    assert.equal(h['x-request-id'], 'client-chosen-42');
    assert.equal(h['x-custom'], 'a, b', 'repeated headers forwarded, in order');
    assert.equal(h.authorization, 'Bearer sk-x');
    assert.equal(h['content-length'], String(Buffer.byteLength(body)));
  });

  it('answers pipelined requests in order, and requests whose bytes arrive one at a time', async (t) => {
    const a = await startBackend(t, 'a');
    const b = await startBackend(t, 'b');
    const r = await startRouter(t, {}, [spec(a, ['m1']), spec(b, ['m2'])]);
    const { socket, reader } = await open(t, r.url);
    socket.write(post('/v1/chat/completions', chatBody('m1')) + post('/v1/chat/completions', chatBody('m2', true)) + post('/v1/chat/completions', chatBody('m1')));
    const got = [await reader.response(), await reader.response(), await reader.response()];
    assert.deepEqual(
      got.map((g) => [g.status, g.headers['x-switchboard-backend']]),
      [
        [200, 'a'],
        [200, 'b'],
        [200, 'a'],
      ],
    );
    assert.ok(got[1]!.body.endsWith('data: [DONE]\n\n'), 'the streamed one whole, with its [DONE]');
    const bytes = Buffer.from(post('/v1/chat/completions', chatBody('m2')));
    for (const byte of bytes) {
      socket.write(Buffer.from([byte]));
      await new Promise((res) => setImmediate(res));
    }
    const split = await reader.response();
    assert.equal(split.status, 200);
    assert.equal(split.headers['x-switchboard-backend'], 'b');
  });

  it('answers a client that half-closes after its request, then closes', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const { socket, reader } = await open(t, r.url);
    socket.end(post('/v1/chat/completions', chatBody()));
    const res = await reader.response();
    assert.equal(res.status, 200);
    assert.equal(json(res.body).model, 'm1');
    await new Promise((r2) => setTimeout(r2, 50));
    assert.equal(reader.closed, true);
  });

  it('closes after the response when the client asks with connection: close', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const { socket, reader } = await open(t, r.url);
    socket.write(post('/v1/chat/completions', chatBody(), 'connection: close\r\n'));
    const res = await reader.response();
    assert.equal(res.status, 200);
    assert.equal(res.headers.connection, 'close');
    await new Promise((r2) => setTimeout(r2, 50));
    assert.equal(reader.closed, true);
  });

  it('hands HTTP/1.0, chunked and Expect request bodies, and HEAD to node:http, which proxies them all the same', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const body = chatBody();
    const cases = [
      `POST /v1/chat/completions HTTP/1.0\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ];
    for (const raw of cases) {
      const { socket, reader } = await open(t, r.url);
      socket.write(raw);
      const res = await reader.response();
      assert.equal(res.status, 200, raw.slice(0, 40));
      assert.equal(json(res.body).model, 'm1');
      assert.equal(a.seen.at(-1)!.body, body, 'the backend got the body whole');
    }
    const { socket, reader } = await open(t, r.url);
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: ${body.length}\r\n\r\n`);
    const cont = await reader.response();
    assert.equal(cont.status, 100);
    socket.write(body);
    assert.equal((await reader.response()).status, 200);
  });

  it('leaves malformed and oversized requests to node:http: 400 and 413, nothing forwarded', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { maxBodyBytes: 1000 }, [spec(a, ['m1'])]);
    const before = a.seen.length;
    for (const raw of ['POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 12x\r\n\r\n', 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n', 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-a: b\nx-c: d\r\n\r\n']) {
      const { socket, reader } = await open(t, r.url);
      socket.write(raw);
      assert.equal((await reader.response()).status, 400, JSON.stringify(raw));
    }
    const { socket, reader } = await open(t, r.url);
    const big = JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    socket.write(post('/v1/chat/completions', big));
    const res = await reader.response();
    assert.equal(res.status, 413);
    assert.match(json(res.body).error!.message, /too large/);
    assert.equal(a.seen.length, before);
  });

  it('relays chunked and close-delimited upstream bodies, reusing keep-alive upstream connections', async (t) => {
    let connections = 0;
    const upstream = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url?.startsWith('/close')) {
          // no length, no chunking: the body ends when the connection does
          res.socket!.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"model":"m1","via":"close"}');
          res.socket!.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"model":"m1",');
        res.end('"via":"chunked"}');
      });
    });
    upstream.on('connection', () => connections++);
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    t.after(() => {
      upstream.closeAllConnections();
      upstream.close();
    });
    const port = (upstream.address() as AddressInfo).port;
    const r = await startRouter(t, {}, [{ name: 'u', host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m1'] }, static: true }]);
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: chatBody() });
      assert.deepEqual(await res.json(), { model: 'm1', via: 'chunked' });
    }
    assert.equal(connections, 1, 'one upstream connection, kept alive across the requests');
    const res = await fetch(`${r.url}/close/x`, { method: 'POST', body: chatBody() });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { model: 'm1', via: 'close' });
    const again = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: chatBody() });
    assert.deepEqual(await again.json(), { model: 'm1', via: 'chunked' });
  });

  it('reads chunked upstream framing however it is written: extensions, upper-case hex, trailers, one byte at a time', async (t) => {
    const body = '{"model":"m1","text":"' + 'x'.repeat(300) + '"}';
    const a = body.slice(0, 10);
    const b = body.slice(10);
    const framed = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${a.length.toString(16)};ext=1\r\n${a}\r\n${b.length.toString(16).toUpperCase()}\r\n${b}\r\n0\r\nx-trailer: 1\r\n\r\n`;
    const upstream = createServer((socket) => {
      socket.on('error', () => undefined);
      let seen = '';
      socket.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
        if (!seen.includes('\r\n\r\n')) return;
        seen = '';
        void (async () => {
          for (const byte of Buffer.from(framed, 'latin1')) {
            socket.write(Buffer.from([byte]));
            await new Promise((res) => setImmediate(res));
          }
        })();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    t.after(() => upstream.close());
    const port = (upstream.address() as AddressInfo).port;
    const r = await startRouter(t, {}, [{ name: 'u', host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m1'] }, static: true }]);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: chatBody() });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), body);
    }
  });

  it('passes a chunked SSE stream through framed as it came, ending it cleanly or with an error event when cut mid-frame', async (t) => {
    const events = ['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"b"}}]}\n\n', 'data: [DONE]\n\n'];
    const frame = (e: string): string => `${Buffer.byteLength(e).toString(16)}\r\n${e}\r\n`;
    const upstream = createServer((socket) => {
      socket.on('error', () => undefined);
      let seen = '';
      socket.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
        const end = seen.indexOf('\r\n\r\n');
        const len = Number(/content-length: (\d+)/i.exec(seen)?.[1] ?? 0);
        if (end === -1 || seen.length < end + 4 + len) return;
        const mode = (JSON.parse(seen.slice(end + 4)) as { model: string }).model;
        seen = '';
        const head = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';
        const whole = head + events.map(frame).join('') + '0\r\n\r\n';
        void (async () => {
          if (mode === 'bytes') {
            // every byte its own packet: size lines split everywhere
            for (const byte of Buffer.from(whole)) {
              socket.write(Buffer.from([byte]));
              await new Promise((res) => setImmediate(res));
            }
          } else if (mode === 'midframe') {
            // announces a 100-byte chunk, sends 40 bytes of it, and dies
            socket.write(head + frame(events[0]!) + '64\r\n' + 'data: {"choices":[{"delta":{"content":"cut');
            await new Promise((res) => setTimeout(res, 20));
            socket.destroy();
          } else if (mode === 'nodone') {
            socket.write(head + frame(events[0]!) + '0\r\n\r\n');
          }
        })();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    t.after(() => upstream.close());
    const port = (upstream.address() as AddressInfo).port;
    const r = await startRouter(t, { passiveHealth: { maxFails: 0 } }, [{ name: 'u', host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['bytes', 'midframe', 'nodone'] }, static: true }]);
    const get = async (model: string): Promise<{ text: string; reader: Reader }> => {
      const { socket, reader } = await open(t, r.url);
      socket.write(post('/v1/chat/completions', JSON.stringify({ model, stream: true, messages: [] })));
      const res = await reader.response();
      assert.equal(res.status, 200);
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      return { text: res.body, reader };
    };
    const whole = await get('bytes');
    assert.equal(whole.text, events.join(''), 'the stream byte for byte, one clean ending');
    const cut = await get('midframe');
    assert.ok(cut.text.startsWith(events[0]!));
    assert.match(cut.text, /\n\nevent: error\ndata: \{"error":\{.*"code":"SB_ERR_STREAM_CUT"\}\}\n\n$/, 'the error event, in a frame the client could read');
    assert.ok(!cut.text.includes('[DONE]'));
    const nodone = await get('nodone');
    assert.ok(nodone.text.startsWith(events[0]!));
    assert.match(nodone.text, /event: error/, 'a stream that ended without [DONE] is not a clean one');
    assert.equal(nodone.reader.closed, false, 'and the connection stays usable');
  });

  it('holds a fast stream back while the client does not read (backpressure end to end), then delivers every byte', async (t) => {
    // the backend writes 256 MiB of SSE as fast as its socket takes it; the client reads the head
    // and stops. Without backpressure the router would read it all into memory and the backend
    // would finish; with it, the backend is held to what the socket buffers on the way hold.
    const EVENT = `data: ${'x'.repeat(64 * 1024 - 8)}\n\n`;
    const TOTAL = 4096; // events
    let written = 0;
    const upstream = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const more = (): void => {
        while (written < TOTAL) {
          written++;
          if (!res.write(EVENT)) return void res.once('drain', more);
        }
        res.end('data: [DONE]\n\n');
      };
      more();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    t.after(() => {
      upstream.closeAllConnections();
      upstream.close();
    });
    const port = (upstream.address() as AddressInfo).port;
    const r = await startRouter(t, {}, [{ name: 'u', host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m1'] }, static: true }]);
    const u = new URL(r.url);
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    t.after(() => socket.destroy());
    let received = 0;
    let text = '';
    socket.on('data', (d: Buffer) => {
      received += d.length;
      if (text.length < 4096) text += d.toString('latin1');
      socket.pause(); // read the head (and whatever came with it), then stop
    });
    socket.write(post('/v1/chat/completions', chatBody('m1', true)));
    // wait until the backend is stuck: no progress for 300 ms
    let last = -1;
    while (written !== last) {
      last = written;
      await new Promise((res) => setTimeout(res, 300));
    }
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.ok(written < TOTAL / 4, `the backend was held back: ${written} of ${TOTAL} events written while the client read ${received} bytes`);
    socket.removeAllListeners('data');
    let rest = 0;
    let tail = '';
    await new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        rest += d.length;
        tail = (tail + d.toString('latin1')).slice(-64);
        if (tail.endsWith('0\r\n\r\n')) resolve();
      });
      socket.resume();
    });
    assert.equal(written, TOTAL);
    assert.ok(received + rest > TOTAL * EVENT.length, `every byte arrived: ${received + rest}`);
    assert.match(tail, /data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
  });

  it('retries a request once on a fresh connection when a reused one is closed under it, blaming nobody', async (t) => {
    // every connection answers one request and then drops the next without a byte: what a backend
    // closing an idle keep-alive connection just as the router picks it looks like
    let connections = 0;
    const upstream = createServer((socket) => {
      connections++;
      let served = 0;
      let buf = '';
      socket.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = '';
        if (served++ > 0) {
          socket.destroy();
          return;
        }
        const body = '{"model":"m1","ok":true}';
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    t.after(() => upstream.close());
    const port = (upstream.address() as AddressInfo).port;
    const r = await startRouter(t, {}, [{ name: 'u', host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m1'] }, static: true }]);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: chatBody() });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { model: 'm1', ok: true });
    }
    assert.equal(connections, 3, 'the second and third requests each found the kept connection dead and opened a new one');
    assert.equal(r.table.backends.get('u')!.errorCount, 0, 'no failure counted against the backend');
  });

  it('closes idle connections on close() and stops accepting', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const { socket, reader } = await open(t, r.url);
    socket.write(post('/v1/chat/completions', chatBody()));
    assert.equal((await reader.response()).status, 200);
    const { reader: handed, socket: s2 } = await open(t, r.url);
    s2.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.equal((await handed.response()).status, 200);
    await r.close();
    await new Promise((r2) => setTimeout(r2, 50));
    assert.equal(reader.closed, true, 'raw-path connection closed');
    assert.equal(handed.closed, true, 'handed-off connection closed');
    const refused = connect({ host: '127.0.0.1', port: Number(new URL(r.url).port) });
    const err = await new Promise<Error | undefined>((r2) => {
      refused.once('error', r2);
      refused.once('connect', () => r2(undefined));
    });
    refused.destroy();
    assert.ok(err, 'no longer accepting');
  });
});

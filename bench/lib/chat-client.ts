// A fixed number of chat completions over keep-alive connections, on raw sockets: the same bytes
// bench-peers' wrk/chat.lua sends (model "bench-model", the "Bearer sk-bench-dummy" key, the
// Portkey headers every system gets), JSON or SSE. For benchmarks that count work per request
// (instructions under callgrind), where wrk's fixed duration would not give a fixed count.
import { Buffer } from 'node:buffer';
import { connect } from 'node:net';

export function chatRequest(port: number, stream: boolean): Buffer {
  const body =
    '{"model":"bench-model","messages":[{"role":"system","content":"You are a benchmark."},' +
    `{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32,"stream":${stream}}`;
  return Buffer.from(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
      'Authorization: Bearer sk-bench-dummy\r\nx-portkey-provider: openai\r\nx-portkey-custom-host: http://127.0.0.1:18000/v1\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'latin1',
  );
}

/** Where the response at the start of `buf` ends, or -1 while it is incomplete; throws on a non-200. */
function responseEnd(buf: string): number {
  const he = buf.indexOf('\r\n\r\n');
  if (he === -1) return -1;
  const head = buf.slice(0, he);
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`bench client: ${head.split('\r\n')[0]}`);
  const len = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (len) {
    const end = he + 4 + Number(len[1]);
    return buf.length >= end ? end : -1;
  }
  const last = buf.indexOf('\r\n0\r\n\r\n', he);
  return last === -1 ? -1 : last + 7;
}

/** Sends `count` requests, `connections` at a time (one in flight per connection); resolves when all are answered. */
export function sendChats(port: number, count: number, connections: number, stream: boolean): Promise<void> {
  const req = chatRequest(port, stream);
  let sent = 0;
  let done = 0;
  return new Promise((resolve, reject) => {
    const open = (): void => {
      const s = connect(port, '127.0.0.1');
      let buf = '';
      const next = (): void => {
        if (sent >= count) {
          s.end();
          return;
        }
        sent++;
        s.write(req);
      };
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        buf += d;
        try {
          for (let end = responseEnd(buf); end !== -1; end = responseEnd(buf)) {
            buf = buf.slice(end);
            if (++done === count) resolve();
            next();
          }
        } catch (err) {
          s.destroy();
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      s.on('error', reject);
      next();
    };
    for (let i = 0; i < Math.min(connections, count); i++) open();
  });
}

// Shared by the sim's HTTP tests: a real sim on 127.0.0.1:0, and SSE reading.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { TestContext } from 'node:test';
import { SseParser, type Clock, type Random } from '../../src/core/index.js';
import { simConfig, type SimConfigInput } from '../../src/engine/config.js';
import { buildSimServer, type SimServer } from '../../src/engine/server.js';

/** Fast defaults: no delays, fixed reply lengths, a seed. */
export const FAST: SimConfigInput = { port: 0, decodeMs: 0, prefillTokensPerS: 1e9, earlyStopRate: 0, seed: 1, models: ['m1', 'm2'] };

export async function startSim(
  t: TestContext,
  input: SimConfigInput = {},
  opts: { clock?: Clock; random?: Random; onCrash?: (reason: string) => void } = {},
): Promise<{ url: string; sim: SimServer }> {
  const sim = buildSimServer(simConfig({ ...FAST, ...input, faults: { ...input.faults } }), opts);
  t.after(() => sim.close());
  const url = await sim.listen();
  return { url, sim };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** All `data:` payloads of an SSE body. */
export async function sseData(res: Response): Promise<string[]> {
  const out: string[] = [];
  const p = new SseParser((ev) => out.push(ev.data));
  p.push(await res.text());
  return out;
}

export interface RawStream {
  res: IncomingMessage;
  /** Payloads so far. */
  data: string[];
  /** Resolves when the response ends or the connection closes: complete = properly terminated. */
  ended: Promise<{ complete: boolean }>;
  /** Resolves once at least n payloads arrived. */
  waitFor(n: number): Promise<void>;
  destroy(): void;
}

/** A streamed POST through node:http, to see exactly how (and whether) the body ends. */
export function rawStream(url: string, body: unknown): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
      const data: string[] = [];
      const waiters: { n: number; resolve: () => void }[] = [];
      const parser = new SseParser((ev) => {
        data.push(ev.data);
        for (const w of [...waiters]) {
          if (data.length < w.n) continue;
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      });
      res.setEncoding('utf8');
      res.on('data', (c: string) => parser.push(c));
      const ended = new Promise<{ complete: boolean }>((done) => {
        res.on('end', () => done({ complete: res.complete }));
        res.on('error', () => done({ complete: false }));
        res.on('close', () => done({ complete: res.complete }));
      });
      resolve({
        res,
        data,
        ended,
        waitFor: (n) => (data.length >= n ? Promise.resolve() : new Promise((r) => waiters.push({ n, resolve: r }))),
        destroy: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

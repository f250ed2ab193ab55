// Real agent processes for end-to-end tests: a free port pair (engine port, agent port + 1), the
// agent started through the CLI, and a SIGTERM stop registered at once so that the agent stops
// its engines itself (SIGKILL would orphan them).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { spawnSwitchboard, type SpawnedProcess } from '../helpers/process.js';

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port p with p + 1 also free (the agent's rule: engine on p, agent on p + 1). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 40_000);
    if ((await tryListen(p)) && (await tryListen(p + 1))) return p;
  }
  throw new Error('no free port pair');
}

export interface RunningAgent {
  proc: SpawnedProcess;
  /** The engine port; the agent is on port + 1. */
  port: number;
  url: string;
  logDir: string;
}

export async function startAgent(t: TestContext, args: string[], opts: { port?: number } = {}): Promise<RunningAgent> {
  const port = opts.port ?? (await freePortPair());
  const logDir = mkdtempSync(join(tmpdir(), 'sb-agent-logs-'));
  const proc = spawnSwitchboard(t, ['agent', '--host', '127.0.0.1', '--port', String(port), '--log-dir', logDir, ...args], { noAutoStop: true });
  t.after(async () => {
    await proc.stop('SIGTERM', 30_000);
    rmSync(logDir, { recursive: true, force: true });
  });
  const url = await proc.listeningUrl(0, 20_000);
  return { proc, port, url, logDir };
}

export async function json<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body: body as T };
}

export function chat(engineUrl: string, model: string, maxTokens: number, signal?: AbortSignal): Promise<Response> {
  return fetch(`${engineUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: maxTokens, messages: [{ role: 'user', content: 'hello' }] }),
    ...(signal ? { signal } : {}),
  });
}

// Real switchboard processes for end-to-end tests: `node dist/src/cli/main.js <args>`, started
// with `--port 0` where it applies, their listening URL read from the structured "listening" log
// line every server prints, and stopped when the test ends (t.after is registered at once).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { packageRoot } from '../../src/core/index.js';

export const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

export interface SpawnedProcess {
  readonly child: ChildProcess;
  /** Every stdout+stderr line so far (JSON log lines stay as text). */
  readonly lines: string[];
  /** Resolves with the first line matching `re` (already seen lines count), or rejects on exit/timeout. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** The `url` of the n-th "listening" log line (0-based; an agent prints more than one). */
  listeningUrl(nth?: number, timeoutMs?: number): Promise<string>;
  /** SIGTERM (or the given signal) and wait for exit; SIGKILL after graceMs. Returns the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Keep the process running after the test (the test stops it itself). */
  noAutoStop?: boolean;
}

export function spawnSwitchboard(t: TestContext | undefined, args: string[], opts: SpawnOptions = {}): SpawnedProcess {
  const child = spawn(process.execPath, ['--enable-source-maps', CLI, ...args], {
    cwd: opts.cwd ?? packageRoot(),
    env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  const onData = (buf: string): string => {
    const parts = buf.split('\n');
    const rest = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters) {
        if (w.re.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
    return rest;
  };
  let outRest = '';
  let errRest = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (outRest = onData(outRest + d)));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (errRest = onData(errRest + d)));
  const exited: Promise<number | null> = once(child, 'exit').then(([code, sig]) => (code as number | null) ?? (sig ? 128 : null));

  const waitForLine = (re: RegExp, timeoutMs = 15_000): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const w = { re, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from switchboard ${args.join(' ')}\n${lines.slice(-30).join('\n')}`));
      }, timeoutMs);
      waiters.add(w);
      void exited.then((code) => {
        if (!waiters.has(w)) return;
        waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`switchboard ${args.join(' ')} exited (${code}) before printing ${re}\n${lines.slice(-30).join('\n')}`));
      });
    });
  };

  const listeningUrl = async (nth = 0, timeoutMs = 15_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.filter((l) => l.includes('"msg":"listening"'));
      if (found.length > nth) return (JSON.parse(found[nth]!) as { url: string }).url;
      await waitForLine(/"msg":"listening"/, Math.max(1, deadline - Date.now())).catch((err: unknown) => {
        if (Date.now() >= deadline) throw err;
      });
      if (Date.now() >= deadline) throw new Error(`no listening line #${nth} from switchboard ${args.join(' ')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  if (t && !opts.noAutoStop) t.after(() => stop('SIGKILL', 0).then(() => undefined));
  return { child, lines, waitForLine, listeningUrl, stop, exited };
}

/** Runs a short CLI command to completion: exit code, stdout and stderr. */
export async function runSwitchboard(args: string[], opts: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--enable-source-maps', CLI, ...args], {
    cwd: opts.cwd ?? packageRoot(),
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Polls fn until it returns a truthy value (returned) or timeoutMs passes (throws with the last error). */
export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

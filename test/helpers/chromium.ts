// Real headless Chromium for page tests, driven over the Chrome DevTools Protocol: the system's
// `chromium` is started with --remote-debugging-port=0, its DevTools URL read from stderr, and one
// page target is driven through a WebSocket (undici's, already a dependency: Node 20 has no global
// WebSocket without a flag). Just enough CDP for tests: navigate, evaluate, wait for a condition,
// screenshot, and what the page logged (exceptions, console errors, CSP violations) and fetched.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { WebSocket } from 'undici';
import { toolPath } from './services.js';

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
}

class CdpConnection {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Map<string, ((params: Record<string, unknown>) => void)[]>();

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as CdpMessage;
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
        else p?.resolve(msg.result ?? {});
      } else if (msg.method) {
        for (const fn of this.#listeners.get(msg.method) ?? []) fn(msg.params ?? {});
      }
    });
    ws.addEventListener('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('CDP connection closed'));
      this.#pending.clear();
    });
  }

  static open(url: string): Promise<CdpConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener('open', () => resolve(new CdpConnection(ws)), { once: true });
      ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true });
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  on(method: string, fn: (params: Record<string, unknown>) => void): void {
    const list = this.#listeners.get(method) ?? [];
    list.push(fn);
    this.#listeners.set(method, list);
  }

  close(): void {
    this.ws.close();
  }
}

export interface Page {
  /** Uncaught exceptions, console errors and browser log errors (CSP violations land here). */
  readonly errors: string[];
  /** Every URL the page requested. */
  readonly requests: string[];
  navigate(url: string): Promise<void>;
  /** The value of a JavaScript expression in the page (awaited when it is a promise). */
  evaluate<T>(expression: string): Promise<T>;
  /** Re-evaluates the expression until it is truthy; returns that value. Fails with `what` and the last value. */
  waitFor<T>(expression: string, what: string, timeoutMs?: number): Promise<T>;
  /** Saves a PNG of the page; returns the path. */
  screenshot(path: string): Promise<string>;
}

export interface Chromium {
  readonly page: Page;
  readonly child: ChildProcess;
  close(): Promise<void>;
}

/** Starts headless Chromium (closed when the test ends); call after requireTool(t, 'chromium'). */
export async function launchChromium(t: TestContext, opts: { width?: number; height?: number } = {}): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'sb-chromium-'));
  const child = spawn(
    toolPath('chromium'),
    [
      '--headless=new',
      '--no-sandbox', // tests may run as root, where the sandbox refuses to start
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      `--window-size=${opts.width ?? 1280},${opts.height ?? 900}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(kill);
    }
    // chromium's helper processes may still be writing their cache for a moment after the main
    // one exits: retry on ENOTEMPTY/EBUSY (Node's own back-off), then give up quietly (a temp dir)
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // left in the temp folder
    }
  };
  t.after(close);

  const browserWs = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`chromium did not print its DevTools URL within 30 s:\n${stderr}`)), 30_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}) before listening:\n${stderr}`));
    });
  });
  const http = new URL(browserWs);
  const targets = (await (await fetch(`http://${http.host}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
  const target = targets.find((x) => x.type === 'page');
  if (!target) throw new Error('chromium has no page target');
  const cdp = await CdpConnection.open(target.webSocketDebuggerUrl);
  t.after(() => cdp.close());

  const errors: string[] = [];
  const requests: string[] = [];
  cdp.on('Runtime.exceptionThrown', (p) => {
    const d = p.exceptionDetails as { text?: string; exception?: { description?: string } };
    errors.push(`exception: ${d.exception?.description ?? d.text ?? 'unknown'}`);
  });
  cdp.on('Runtime.consoleAPICalled', (p) => {
    if (p.type === 'error') errors.push(`console.error: ${JSON.stringify(p.args)}`);
  });
  cdp.on('Log.entryAdded', (p) => {
    const e = p.entry as { level: string; text: string; url?: string };
    if (e.level === 'error') errors.push(`log: ${e.text}${e.url ? ` (${e.url})` : ''}`);
  });
  cdp.on('Network.requestWillBeSent', (p) => requests.push((p.request as { url: string }).url));
  await Promise.all([cdp.send('Page.enable'), cdp.send('Runtime.enable'), cdp.send('Log.enable'), cdp.send('Network.enable')]);

  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await cdp.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    const ex = r.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
    if (ex) throw new Error(`page threw: ${ex.exception?.description ?? ex.text ?? 'unknown'}`);
    return (r.result as { value: T }).value;
  };

  const page: Page = {
    errors,
    requests,
    async navigate(url) {
      const loaded = new Promise<void>((r) => cdp.on('Page.loadEventFired', () => r()));
      const nav = await cdp.send('Page.navigate', { url });
      if (typeof nav.errorText === 'string') throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
      await loaded;
    },
    evaluate,
    async waitFor<T>(expression: string, what: string, timeoutMs = 10_000): Promise<T> {
      const until = Date.now() + timeoutMs;
      let last: unknown;
      for (;;) {
        last = await evaluate<T>(expression);
        if (last) return last as T;
        if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value ${JSON.stringify(last)})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async screenshot(path) {
      const r = await cdp.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
      writeFileSync(path, Buffer.from(r.data as string, 'base64'));
      return path;
    },
  };
  return { page, child, close };
}

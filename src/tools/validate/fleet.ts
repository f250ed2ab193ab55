// The processes `switchboard validate` starts: real `switchboard registry`, `router` and `sim`
// processes of this same package (process.execPath + bin/switchboard.js), each on a free port
// (port 0; the URL comes from its "listening" log line, so there is no race for a port). They
// are stopped by stopAll(), killed at once if this process exits first (a second Ctrl-C), and
// stop by themselves if it is killed outright (SWITCHBOARD_EXIT_WITH_PARENT, cli/main.ts).
import process from 'node:process';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { NODE_FLAGS, packageRoot, sbError } from '../../core/index.js';

export interface FleetProcess {
  label: string;
  url: string;
  child: ChildProcess;
  /** The last lines it printed (for a failure's reason). */
  tail: string[];
}

export interface FleetOptions {
  startTimeoutMs?: number;
  /** Grace before SIGKILL when stopping. */
  stopGraceMs?: number;
  /** The CLI launcher; the package's bin/switchboard.js by default. */
  bin?: string;
}

const TAIL = 20;
/** Variables that would turn tokens on in the children (the started fleet is loopback-only). */
const SCRUB = ['SWITCHBOARD_TOKEN', 'SWITCHBOARD_ADMIN_TOKEN', 'SWITCHBOARD_REGISTRY_URL'];

function childEnv(): NodeJS.ProcessEnv {
  // info level: the "listening" line is how the URL is learnt
  const env: NodeJS.ProcessEnv = { ...process.env, SWITCHBOARD_LOG_LEVEL: 'info', SWITCHBOARD_EXIT_WITH_PARENT: '1' };
  for (const k of SCRUB) delete env[k];
  return env;
}

export class Fleet {
  readonly #procs: FleetProcess[] = [];
  readonly #bin: string;
  readonly #startTimeoutMs: number;
  readonly #stopGraceMs: number;
  readonly #onExit = (): void => {
    for (const p of this.#procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };

  constructor(opts: FleetOptions = {}) {
    this.#bin = opts.bin ?? join(packageRoot(), 'bin', 'switchboard.js');
    this.#startTimeoutMs = opts.startTimeoutMs ?? 20_000;
    this.#stopGraceMs = opts.stopGraceMs ?? 5_000;
  }

  get processes(): readonly FleetProcess[] {
    return this.#procs;
  }

  /** Starts `switchboard <args>` and resolves with its listening URL. */
  async start(label: string, args: string[], signal?: AbortSignal): Promise<FleetProcess> {
    if (this.#procs.length === 0) process.on('exit', this.#onExit);
    // a process group of its own: a terminal's Ctrl-C reaches only validate, which then cleans up
    // through the registry and router it started before stopping them
    const child = spawn(process.execPath, [...NODE_FLAGS, this.#bin, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const proc: FleetProcess = { label, url: '', child, tail: [] };
    this.#procs.push(proc);
    return new Promise<FleetProcess>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(proc);
      };
      const why = (): string => (proc.tail.length > 0 ? `; last output:\n    ${proc.tail.slice(-5).join('\n    ')}` : '');
      const timer = setTimeout(() => finish(sbError('SB_ERR_PROCESS_START', label, `no "listening" line within ${this.#startTimeoutMs} ms${why()}`)), this.#startTimeoutMs);
      const onAbort = (): void => finish(sbError('SB_ERR_PROCESS_START', label, 'interrupted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const onLine = (line: string): void => {
        proc.tail.push(line);
        if (proc.tail.length > TAIL) proc.tail.shift();
        if (settled || !line.includes('"msg":"listening"')) return;
        try {
          const url = (JSON.parse(line) as { url?: unknown }).url;
          if (typeof url === 'string') {
            proc.url = url;
            finish();
          }
        } catch {
          // not a JSON line after all
        }
      };
      // keep reading both pipes for the child's whole life: a full pipe would block it
      for (const stream of [child.stdout, child.stderr]) {
        let rest = '';
        stream.setEncoding('utf8').on('data', (d: string) => {
          const parts = (rest + d).split('\n');
          rest = parts.pop() ?? '';
          for (const l of parts) onLine(l);
        });
      }
      child.once('error', (err) => finish(sbError('SB_ERR_PROCESS_START', label, err.message)));
      child.once('exit', (code, sig) => finish(sbError('SB_ERR_PROCESS_START', label, `exited (${sig ?? `code ${code}`}) before listening${why()}`)));
    });
  }

  /** Stops one process: SIGTERM, SIGKILL after the grace period. */
  async stop(p: FleetProcess): Promise<void> {
    const c = p.child;
    if (c.exitCode === null && c.signalCode === null) {
      const exited = once(c, 'exit');
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), this.#stopGraceMs);
      await exited;
      clearTimeout(timer);
    }
    const i = this.#procs.indexOf(p);
    if (i >= 0) this.#procs.splice(i, 1);
    if (this.#procs.length === 0) process.off('exit', this.#onExit);
  }

  /** Stops every process still running, all at once. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#procs].map((p) => this.stop(p)));
  }
}

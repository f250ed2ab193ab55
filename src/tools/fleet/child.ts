// Fleet processes are `switchboard <command>` run with this Node binary and this package's
// launcher, in their own process group: a Ctrl-C at the terminal reaches `up` alone, which then
// stops them in order (the agents drain). Attached children (`up`) also get
// SWITCHBOARD_EXIT_WITH_PARENT=1, so they stop by themselves if `up` is killed outright;
// daemons (`fleet start-*`) must outlive the command that started them and do not.
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NODE_FLAGS, packageRoot } from '../../core/index.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The spawn itself failed (ENOENT, EACCES). */
  error?: string;
}

export function describeExit(e: ExitInfo): string {
  if (e.error) return `could not be started: ${e.error}`;
  if (e.signal) return `killed by ${e.signal}`;
  return `exited with code ${e.code}`;
}

/** The command line that runs `switchboard <argv>`. */
export function switchboardArgv(argv: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [...NODE_FLAGS, join(packageRoot(), 'bin', 'switchboard.js'), ...argv] };
}

/** The last lines of a log file (reads at most the last 16 KiB). */
export function tailFile(path: string, lines: number): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines);
  } finally {
    closeSync(fd);
  }
}

function openLog(path: string): number {
  mkdirSync(dirname(path), { recursive: true });
  return openSync(path, 'a');
}

export interface AttachedOptions {
  env: NodeJS.ProcessEnv;
  /** Output appended to this file (the child writes it itself)... */
  logFile?: string | undefined;
  /** ...or handed over line by line. */
  onLine?: ((line: string) => void) | undefined;
}

/** A child of `switchboard up`. */
export class FleetChild {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #logFile: string | undefined;
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | undefined;

  constructor(argv: readonly string[], opts: AttachedOptions) {
    const { command, args } = switchboardArgv(argv);
    const fd = opts.logFile ? openLog(opts.logFile) : undefined;
    this.#logFile = opts.logFile;
    try {
      this.#child = spawn(command, args, {
        detached: true,
        stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
        env: { ...opts.env, SWITCHBOARD_EXIT_WITH_PARENT: '1' },
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const keep = (line: string): void => {
      this.#lines.push(line);
      if (this.#lines.length > 40) this.#lines.shift();
      opts.onLine?.(line);
    };
    for (const stream of [this.#child.stdout, this.#child.stderr]) {
      if (!stream) continue;
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        const parts = (rest + d).split('\n');
        rest = parts.pop() ?? '';
        for (const l of parts) if (l !== '') keep(l);
      });
      stream.on('end', () => {
        if (rest !== '') keep(rest);
        rest = '';
      });
    }
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.#child.once('error', (err) => {
        this.exit ??= { code: null, signal: null, error: err.message };
        resolve(this.exit);
      });
      this.#child.once('exit', (code, signal) => {
        this.exit ??= { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The last output lines (from memory, or the log file). */
  tail(n = 15): string[] {
    return this.#logFile ? tailFile(this.#logFile, n) : this.#lines.slice(-n);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once it has exited. */
  async stop(graceMs: number): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    const e = await this.exited;
    clearTimeout(timer);
    return e;
  }

  kill(): void {
    if (!this.exit) this.#child.kill('SIGKILL');
  }
}

/** Starts `switchboard <argv>` in the background, output appended to logFile; returns its PID. */
export function spawnDaemon(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv): Promise<number> {
  const { command, args } = switchboardArgv(argv);
  const fd = openLog(logFile);
  const { SWITCHBOARD_EXIT_WITH_PARENT: _, ...rest } = env;
  let child: ChildProcess;
  try {
    child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: rest });
  } finally {
    closeSync(fd);
  }
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid!);
    });
  });
}


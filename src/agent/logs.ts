// Engine stdout/stderr to files: one timestamped file per engine run under the log folder
// (`logs/<engine>-YYYYmmdd-HHMMSS.log`), each line prefixed with its time and stream, a new file
// when one passes maxBytes, and at most maxFiles kept per engine (oldest removed). The
// original babysitters re-logged engine lines into their own log; a crash loop then buried
// everything else, and nothing bounded the disk.
import { Buffer } from 'node:buffer';
import { createWriteStream, existsSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Clock } from '../core/index.js';

export interface EngineLogOptions {
  dir: string;
  /** The engine's name; becomes the file-name prefix. */
  name: string;
  maxBytes: number;
  maxFiles: number;
  clock: Clock;
  /** Lines kept in memory for error reports (the last ones before a crash). */
  tailLines?: number;
}

function stamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-01-01T12:34:56.789Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

export class EngineLog {
  readonly #o: EngineLogOptions;
  readonly #prefix: string;
  readonly #tail: string[] = [];
  readonly #paused = new Set<Readable>();
  #out: WriteStream | undefined;
  #bytes = 0;
  #path: string | undefined;
  #closed = false;

  constructor(opts: EngineLogOptions) {
    this.#o = opts;
    this.#prefix = `${safeName(opts.name)}-`;
    mkdirSync(opts.dir, { recursive: true });
  }

  /** The file being written now. */
  get path(): string | undefined {
    return this.#path;
  }

  /** The last lines seen (stream-prefixed), oldest first. */
  tail(): string[] {
    return [...this.#tail];
  }

  /** Starts a new file (call at each engine start): runs are never mixed in one file. */
  startRun(): void {
    this.#closed = false;
    this.#rotate();
  }

  /** Copies a child's stream line by line; pauses it while the file cannot keep up. */
  attach(stream: Readable, label: 'stdout' | 'stderr'): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      // a line without a newline for 64 KiB is written as it is
      if (partial.length > 65_536) {
        parts.push(partial);
        partial = '';
      }
      for (const line of parts) {
        if (!this.#write(label, line)) {
          stream.pause();
          this.#paused.add(stream);
        }
      }
    });
    stream.on('end', () => {
      if (partial) this.#write(label, partial);
      partial = '';
    });
    stream.on('error', () => undefined);
  }

  #write(label: string, line: string): boolean {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    this.#tail.push(`[${label}] ${text.slice(0, 500)}`);
    if (this.#tail.length > (this.#o.tailLines ?? 20)) this.#tail.shift();
    if (this.#closed) return true;
    if (!this.#out || this.#bytes >= this.#o.maxBytes) this.#rotate();
    const entry = `${new Date(this.#o.clock.now()).toISOString()} ${label} ${text}\n`;
    this.#bytes += Buffer.byteLength(entry);
    return this.#out!.write(entry);
  }

  #rotate(): void {
    this.#out?.end();
    const base = join(this.#o.dir, `${this.#prefix}${stamp(this.#o.clock.now())}`);
    let path = `${base}.log`;
    for (let n = 1; existsSync(path); n++) path = `${base}-${n}.log`;
    this.#path = path;
    this.#bytes = 0;
    // opened now, not on the next tick, so that pruning sees every file this engine has
    const out = createWriteStream(path, { fd: openSync(path, 'a') });
    out.on('error', () => undefined);
    out.on('drain', () => {
      for (const s of this.#paused) s.resume();
      this.#paused.clear();
    });
    this.#out = out;
    // whatever waited on the old file can go on into the new one
    for (const s of this.#paused) s.resume();
    this.#paused.clear();
    this.#prune();
  }

  /** Keeps the newest maxFiles files of this engine (by modification time, then name). */
  #prune(): void {
    let files: { name: string; mtime: number }[];
    try {
      files = readdirSync(this.#o.dir)
        .filter((f) => f.startsWith(this.#prefix) && f.endsWith('.log') && /^\d{8}-\d{6}(-\d+)?\.log$/.test(f.slice(this.#prefix.length)))
        .map((f) => ({ name: f, mtime: statSync(join(this.#o.dir, f)).mtimeMs }));
    } catch {
      return;
    }
    files.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name, 'en', { numeric: true }));
    const current = this.#path ? this.#path.slice(this.#o.dir.length + 1) : undefined;
    const excess = files.filter((f) => f.name !== current).slice(0, Math.max(0, files.length - this.#o.maxFiles));
    for (const f of excess) {
      try {
        unlinkSync(join(this.#o.dir, f.name));
      } catch {
        // already gone
      }
    }
  }

  /** Flushes and closes the current file. */
  close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#paused) s.resume();
    this.#paused.clear();
    const out = this.#out;
    this.#out = undefined;
    if (!out) return Promise.resolve();
    return new Promise((resolve) => out.end(resolve));
  }
}

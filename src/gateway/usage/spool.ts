// The spool: where usage rows wait while the database is unreachable. An append-only file of JSON
// lines (`usage-spool.jsonl` in the data directory), read back in order from an in-memory offset
// and deleted once everything in it is in the database. The offset is not persisted: after a
// crash the whole file is replayed, and the sinks skip rows they already hold (uid key).
// A lock file keeps a second process from appending to, or deleting, a spool it does not own.
// File operations run one at a time (a promise chain), so "read to the end, then delete" can
// never race an append.
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { createReadStream, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, pidAlive, sbError, sbErrorFrom } from '../../core/index.js';
import { parseSpoolLine, type StoredUsageRow } from './row.js';

export const SPOOL_FILE = 'usage-spool.jsonl';
export const SPOOL_LOCK_FILE = 'usage-spool.lock';

// Bytes read per batch; a line is at most a few hundred bytes (texts are capped at 256 chars).
const READ_CHUNK = 1 << 20;
const NL = 0x0a;

export interface SpoolBatch {
  rows: StoredUsageRow[];
  /** Lines that were not rows we wrote (a torn write before a crash); skipped. */
  corrupt: number;
  /** Byte offset just past the last line of this batch. */
  end: number;
}

const heldLocks = new Set<string>();

function acquireLock(lockPath: string, spoolPath: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
      heldLocks.add(lockPath);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw sbErrorFrom(err, 'SB_ERR_USAGE_SPOOL', spoolPath, describeError(err));
    }
    let pid = 0;
    try {
      pid = Number(readFileSync(lockPath, 'utf8').trim()) || 0;
    } catch {
      // vanished meanwhile: try again
    }
    // our own pid in a lock we do not hold is a leftover from a previous life of this pid (a
    // container restarts with the same pid), not a live owner
    if (heldLocks.has(lockPath) || (pid > 0 && pid !== process.pid && pidAlive(pid))) {
      throw sbError('SB_ERR_USAGE_SPOOL', spoolPath, `in use by process ${pid}: one router per data directory (give each its own --data-dir)`);
    }
    try {
      unlinkSync(lockPath);
    } catch {
      // someone else removed it
    }
  }
  throw sbError('SB_ERR_USAGE_SPOOL', spoolPath, `cannot take the lock ${lockPath}`);
}

async function countLines(path: string): Promise<{ lines: number; lastByte: number }> {
  let lines = 0;
  let lastByte = -1;
  const stream = createReadStream(path);
  stream.on('data', (chunk: Buffer | string) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let i = buf.indexOf(NL); i !== -1; i = buf.indexOf(NL, i + 1)) lines++;
    if (buf.length > 0) lastByte = buf[buf.length - 1]!;
  });
  await once(stream, 'end');
  return { lines, lastByte };
}

export interface AppendResult {
  appended: number;
  /** Did not fit under maxBytes. */
  refused: number;
  /** Lost to an I/O error (disk full, permissions). */
  failed: number;
  error?: Error;
}

export interface SpoolOptions {
  dataDir: string;
  maxBytes: number;
}

export class UsageSpool {
  readonly path: string;
  readonly maxBytes: number;
  readonly #lockPath: string;
  #bytes = 0;
  #readOffset = 0;
  #rows = 0;
  #append: FileHandle | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(opts: SpoolOptions) {
    this.path = join(opts.dataDir, SPOOL_FILE);
    this.#lockPath = join(opts.dataDir, SPOOL_LOCK_FILE);
    this.maxBytes = opts.maxBytes;
  }

  /** Takes the data directory's spool (and its lock); a leftover file is counted, to be drained. */
  static async open(opts: SpoolOptions): Promise<UsageSpool> {
    const spool = new UsageSpool(opts);
    try {
      mkdirSync(opts.dataDir, { recursive: true });
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_USAGE_SPOOL', spool.path, describeError(err));
    }
    acquireLock(spool.#lockPath, spool.path);
    try {
      const size = statSync(spool.path, { throwIfNoEntry: false })?.size ?? 0;
      if (size > 0) {
        const { lines, lastByte } = await countLines(spool.path);
        spool.#bytes = size;
        spool.#rows = lines;
        // a torn last line (crash mid-write) must not glue itself to the next append
        if (lastByte !== NL) {
          writeFileSync(spool.path, '\n', { flag: 'a' });
          spool.#bytes += 1;
          spool.#rows += 1;
        }
      }
    } catch (err) {
      spool.#releaseLock();
      throw sbErrorFrom(err, 'SB_ERR_USAGE_SPOOL', spool.path, describeError(err));
    }
    return spool;
  }

  /** Rows (lines) not yet drained. */
  get rows(): number {
    return this.#rows;
  }

  /** Size of the spool file (the drained head counts until the file is deleted). */
  get bytes(): number {
    return this.#bytes;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(fn);
    this.#chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Appends rows in order while they fit under maxBytes. Never rejects: `refused` rows did not
   * fit (the spool is full), `failed` rows were lost to an I/O error (given in `error`).
   */
  append(rows: readonly StoredUsageRow[]): Promise<AppendResult> {
    return this.#serial(async () => {
      const lines: string[] = [];
      const sizes: number[] = [];
      let bytes = 0;
      for (const r of rows) {
        const line = JSON.stringify(r) + '\n';
        const n = Buffer.byteLength(line);
        if (this.#bytes + bytes + n > this.maxBytes) break;
        lines.push(line);
        sizes.push(n);
        bytes += n;
      }
      const refused = rows.length - lines.length;
      if (this.#closed) return { appended: 0, refused: 0, failed: rows.length, error: sbError('SB_ERR_USAGE_SPOOL', this.path, 'closed') };
      if (lines.length === 0) return { appended: 0, refused, failed: 0 };
      const before = this.#bytes;
      try {
        this.#append ??= await open(this.path, 'a');
        await this.#append.appendFile(lines.join(''));
        this.#bytes += bytes;
        this.#rows += lines.length;
        return { appended: lines.length, refused, failed: 0 };
      } catch (err) {
        // count the lines that did reach the disk; end a torn one so the next append starts clean
        const size = (await stat(this.path).catch(() => undefined))?.size ?? before;
        let written = 0;
        let acc = before;
        for (; written < sizes.length && acc + sizes[written]! <= size; written++) acc += sizes[written]!;
        this.#bytes = size;
        this.#rows += written;
        if (size > acc) {
          await this.#append?.appendFile('\n').then(() => {
            this.#bytes += 1;
            this.#rows += 1;
          }, () => undefined);
        }
        return { appended: written, refused, failed: lines.length - written, error: sbErrorFrom(err, 'SB_ERR_USAGE_SPOOL', this.path, describeError(err)) };
      }
    });
  }

  /** The next rows after the drained offset, up to max, in the order they were appended. */
  read(max: number): Promise<SpoolBatch> {
    return this.#serial(async () => {
      const batch: SpoolBatch = { rows: [], corrupt: 0, end: this.#readOffset };
      const remaining = this.#bytes - this.#readOffset;
      if (remaining <= 0) return batch;
      const fh = await open(this.path, 'r');
      try {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, remaining));
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.#readOffset);
        let pos = 0;
        while (batch.rows.length < max && pos < bytesRead) {
          const nl = buf.indexOf(NL, pos);
          if (nl === -1 || nl >= bytesRead) {
            // no line end in a full chunk (garbage longer than any row) or in the file's tail (a
            // torn write that could not be ended): skip it, or the drain would never progress
            if (pos === 0 && (bytesRead === READ_CHUNK || bytesRead === remaining)) {
              batch.corrupt++;
              pos = bytesRead;
            }
            break;
          }
          if (nl > pos) {
            const row = parseSpoolLine(buf.toString('utf8', pos, nl));
            if (row) batch.rows.push(row);
            else batch.corrupt++;
          }
          pos = nl + 1;
        }
        batch.end = this.#readOffset + pos;
        return batch;
      } finally {
        await fh.close();
      }
    });
  }

  /** Marks a batch as stored; deletes the file once everything in it is. */
  advance(batch: SpoolBatch): Promise<void> {
    return this.#serial(async () => {
      this.#readOffset = Math.max(this.#readOffset, batch.end);
      if (this.#readOffset < this.#bytes) {
        this.#rows = Math.max(1, this.#rows - batch.rows.length - batch.corrupt);
        return;
      }
      // rows stays above zero until the file is gone: "no rows" means "no spool file"
      await this.#append?.close();
      this.#append = undefined;
      await unlink(this.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw sbErrorFrom(err, 'SB_ERR_USAGE_SPOOL', this.path, describeError(err));
      });
      this.#bytes = 0;
      this.#readOffset = 0;
      this.#rows = 0;
    });
  }

  #releaseLock(): void {
    if (!heldLocks.delete(this.#lockPath)) return;
    try {
      unlinkSync(this.#lockPath);
    } catch {
      // already gone
    }
  }

  /** Closes the file and releases the lock; the file stays for the next start to drain. */
  close(): Promise<void> {
    return this.#serial(async () => {
      this.#closed = true;
      await this.#append?.close();
      this.#append = undefined;
      this.#releaseLock();
    });
  }
}

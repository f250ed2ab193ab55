// The usage recorder: the router calls record(row) once per request (a push onto an array, no
// I/O, no promise); a background flusher moves the buffer to the sink in batches, one
// transaction each. "Nothing lost": when the sink fails, rows go to the spool file; the flusher
// retries with exponential back-off and, when the sink answers again, drains the spool first,
// in order, then deletes it. While the spool cannot be drained new rows are appended behind
// it, and while it drains they wait, so the database receives rows in the order recorded. Only a full spool (or a full
// disk) loses rows, and then it is counted in `dropped` and logged once.
//
// Retention (off unless `retentionMs` is set): at start and every `pruneIntervalMs` the rows older
// than that are deleted, oldest first, `pruneBatchRows` per statement, each statement a step of
// its own on the flush chain, so batches of new rows go in between and no step holds the
// database (or, for SQLite, the event loop) for long. A run is skipped while the database is
// failing; the next one catches up.
//
// Invariants: one flush cycle runs at a time (a promise chain); a row gets its uid when it
// leaves the buffer, before any write is attempted, so every retry of it carries the same key.
import { backoffDelay, describeError, silentLogger, systemClock, systemRandom, type Clock, type Logger, type Random, type TimerHandle } from '../../core/index.js';
import { toStored, uidGenerator, type StoredUsageRow, type UsageRow } from './row.js';
import type { UsageSink, UsageSinkKind } from './sink.js';
import { openUsageSink } from './open-sink.js';
import { UsageSpool } from './spool.js';

export interface UsageRecorderOptions {
  /** `postgres://…` (optionally `?schema=name`), `sqlite:<file>`, or a .db path; default `<dataDir>/usage.db`. */
  url?: string | undefined;
  /** Holds the spool (always) and the SQLite file (by default). One router per data directory. */
  dataDir: string;
  /** Rows per transaction; a full batch is written at once instead of waiting for the interval. */
  batchSize?: number;
  flushIntervalMs?: number;
  spoolMaxBytes?: number;
  /** First retry delay after a failure; doubles (with jitter) up to retryMaxMs. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /**
   * Rows held in memory before they are moved to the spool without waiting for the sink (a
   * sink write that hangs until its timeout must not grow the heap without bound).
   */
  maxBufferedRows?: number;
  /** Rows older than this (ms) are deleted; undefined (default) keeps every row. */
  retentionMs?: number | undefined;
  /** How often retention runs (default one hour; also once at start). */
  pruneIntervalMs?: number;
  /** Rows deleted per statement (default 2000). */
  pruneBatchRows?: number;
  /** A ready-made sink instead of `url` (tests; a custom store). The recorder closes it. */
  sink?: UsageSink;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
}

export interface UsageRecorderStatus {
  sink: UsageSinkKind;
  /** Where rows go (no password). */
  target: string;
  /** `spooling`: the sink failed or the spool still holds rows. */
  state: 'ok' | 'spooling';
  /** Rows in memory: the buffer plus the batch being written. */
  buffered: number;
  spooledRows: number;
  spoolBytes: number;
  /** Rows lost since start: spool full, disk error, or recorded after close(). */
  dropped: number;
  /** Rows the sink accepted since start. */
  written: number;
  /** The sink's last error while it is failing; null when it is healthy. */
  lastError: string | null;
  /** Retention in ms; null when every row is kept. */
  retentionMs: number | null;
  /** Rows deleted by retention since start. */
  pruned: number;
}

export interface UsageRecorder {
  /** Queues one row; never throws, never blocks. Do not mutate the object afterwards. */
  record(row: UsageRow): void;
  /** Resolves when every row recorded before the call is in the sink or the spool; drains a pending spool now if the sink answers. */
  flush(): Promise<void>;
  /** Stops the flusher after writing (or spooling) what is buffered; a pending spool stays for the next start. */
  close(): Promise<void>;
  status(): UsageRecorderStatus;
  /** Changes retention (a reloaded config); undefined keeps every row from now on. A new value runs at once. */
  setRetention(ms: number | undefined): void;
  /** Resolves when a retention run (started now, or the one in progress) has deleted every row older than retention. */
  prune(): Promise<void>;
}

export const USAGE_DEFAULTS = {
  batchSize: 500,
  flushIntervalMs: 1000,
  spoolMaxBytes: 64 * 1024 * 1024,
  retryBaseMs: 1000,
  retryMaxMs: 30_000,
  pruneIntervalMs: 3_600_000,
  pruneBatchRows: 2000,
} as const;

/** One retention run: rows deleted so far, and what settles prune()'s promise. */
interface PruneRun {
  deleted: number;
  done: () => void;
}

class Recorder implements UsageRecorder {
  readonly #sink: UsageSink;
  readonly #spool: UsageSpool;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #log: Logger;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #maxBuffered: number;
  readonly #uid = uidGenerator();

  #buffer: UsageRow[] = [];
  #chain: Promise<void> = Promise.resolve();
  #queued = 0;
  #timer: TimerHandle | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #rerun = false;
  /** Rows of the batch being written (still only in memory). */
  #inflight = 0;

  #opened = false;
  #healthy = true;
  #attempt = 0;
  #retryAt = 0;
  #lastError: string | null = null;
  #written = 0;
  #dropped = 0;
  #fullLogged = false;
  #lateLogged = false;

  #retentionMs: number | undefined;
  readonly #pruneIntervalMs: number;
  readonly #pruneBatch: number;
  #pruneTimer: TimerHandle | undefined;
  #pruned = 0;
  #pruning: Promise<void> | undefined;

  constructor(sink: UsageSink, spool: UsageSpool, opts: UsageRecorderOptions) {
    this.#sink = sink;
    this.#spool = spool;
    this.#clock = opts.clock ?? systemClock;
    this.#random = opts.random ?? systemRandom;
    this.#log = opts.logger ?? silentLogger;
    this.#batchSize = Math.max(1, opts.batchSize ?? USAGE_DEFAULTS.batchSize);
    this.#intervalMs = Math.max(1, opts.flushIntervalMs ?? USAGE_DEFAULTS.flushIntervalMs);
    this.#retryBaseMs = opts.retryBaseMs ?? USAGE_DEFAULTS.retryBaseMs;
    this.#retryMaxMs = opts.retryMaxMs ?? USAGE_DEFAULTS.retryMaxMs;
    this.#maxBuffered = Math.max(this.#batchSize, opts.maxBufferedRows ?? this.#batchSize * 100);
    this.#retentionMs = opts.retentionMs;
    this.#pruneIntervalMs = Math.max(1, opts.pruneIntervalMs ?? USAGE_DEFAULTS.pruneIntervalMs);
    this.#pruneBatch = Math.max(1, opts.pruneBatchRows ?? USAGE_DEFAULTS.pruneBatchRows);
  }

  /** The first connection attempt (migrations); a failure only means starting in spooling mode. */
  async start(): Promise<void> {
    if (this.#spool.rows > 0) {
      this.#log.info({ spool: this.#spool.path, rows: this.#spool.rows, bytes: this.#spool.bytes }, 'usage spool left from a previous run: draining it');
    }
    if (await this.#open()) void this.#enqueue(false);
    this.#schedule();
    if (this.#retentionMs !== undefined) void this.prune();
    this.#schedulePrune();
  }

  record(row: UsageRow): void {
    if (this.#closed) {
      this.#drop(1, 'usage row recorded after close: dropped');
      return;
    }
    const n = this.#buffer.push(row);
    if (n === this.#batchSize || n === this.#maxBuffered) this.#kick();
  }

  flush(): Promise<void> {
    return this.#enqueue(true);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  setRetention(ms: number | undefined): void {
    const changed = ms !== this.#retentionMs;
    this.#retentionMs = ms;
    if (changed && ms !== undefined && !this.#closed) void this.prune();
  }

  prune(): Promise<void> {
    // one run at a time: a run in progress reads the retention afresh at every statement
    if (this.#pruning) return this.#pruning;
    const run: PruneRun = { deleted: 0, done: () => {} };
    const done = new Promise<void>((resolve) => (run.done = resolve));
    this.#pruning = done.finally(() => (this.#pruning = undefined));
    void this.#step(() => this.#pruneStep(run));
    return this.#pruning;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#pruneTimer?.cancel();
    this.#pruneTimer = undefined;
    await this.#enqueue(false, true);
    await this.#spool.close();
    await this.#sink.close().catch((err: unknown) => this.#log.warn({ err: describeError(err) }, 'closing the usage database failed'));
    if (this.#spool.rows > 0) {
      this.#log.warn({ spool: this.#spool.path, rows: this.#spool.rows }, 'usage rows left in the spool: the next start drains them');
    }
  }

  status(): UsageRecorderStatus {
    return {
      sink: this.#sink.kind,
      target: this.#sink.target,
      state: this.#healthy && this.#spool.rows === 0 ? 'ok' : 'spooling',
      buffered: this.#buffer.length + this.#inflight,
      spooledRows: this.#spool.rows,
      spoolBytes: this.#spool.bytes,
      dropped: this.#dropped,
      written: this.#written,
      lastError: this.#lastError,
      retentionMs: this.#retentionMs ?? null,
      pruned: this.#pruned,
    };
  }

  // ---- scheduling

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      // a slow sink must not pile up cycles: skip the tick while one is queued
      if (this.#queued === 0) void this.#enqueue(false);
      this.#schedule();
    }, this.#intervalMs);
  }

  #kick(): void {
    if (this.#queued > 0) {
      // a cycle is running: it may be past its last look at the buffer, so ask for another
      this.#rerun = true;
      if (this.#buffer.length < this.#maxBuffered) return;
    }
    // off the caller's stack: record() stays a push
    this.#clock.setTimeout(() => {
      if (this.#queued === 0) void this.#enqueue(false);
      else if (this.#buffer.length >= this.#maxBuffered) void this.#spillBuffer();
    }, 0);
  }

  #schedulePrune(): void {
    if (this.#closed) return;
    this.#pruneTimer = this.#clock.setTimeout(() => {
      if (this.#retentionMs !== undefined) void this.prune();
      this.#schedulePrune();
    }, this.#pruneIntervalMs);
  }

  #enqueue(force: boolean, final = false): Promise<void> {
    return this.#step(() => this.#cycle(force, final));
  }

  /** Runs `fn` on the chain after every step queued before it (flush cycles, prune statements). */
  #step(fn: () => Promise<void>): Promise<void> {
    this.#queued++;
    const run = this.#chain
      .then(fn)
      .finally(() => {
        this.#queued--;
        if (this.#rerun && this.#queued === 0) {
          this.#rerun = false;
          if (!this.#closed && this.#buffer.length >= this.#batchSize) void this.#enqueue(false);
        }
      });
    this.#chain = run.catch((err: unknown) => this.#log.error({ err: describeError(err) }, 'usage flush cycle failed'));
    return this.#chain;
  }

  // ---- retention

  /**
   * One prune statement. A full one queues the next behind whatever was queued meanwhile (new
   * rows go in between); the run's promise settles when a statement deletes fewer than a batch.
   */
  async #pruneStep(run: PruneRun): Promise<void> {
    const keep = this.#retentionMs;
    // skipped while the database is failing (the next run catches up) or after close
    if (keep === undefined || this.#closed || !this.#healthy || !(await this.#open())) return run.done();
    const before = this.#clock.now() - keep;
    let n: number;
    try {
      n = await this.#sink.prune(before, this.#pruneBatch);
    } catch (err) {
      this.#log.warn({ sink: this.#sink.target, err: describeError(err), deleted: run.deleted }, 'usage retention: deleting old rows failed; the next run tries again');
      return run.done();
    }
    this.#pruned += n;
    run.deleted += n;
    // not awaited: the next statement queues behind this step (and the rows queued meanwhile)
    if (n >= this.#pruneBatch) {
      void this.#step(() => this.#pruneStep(run));
      return;
    }
    if (run.deleted > 0) {
      this.#log.info({ sink: this.#sink.target, deleted: run.deleted, before: new Date(before).toISOString() }, 'usage retention: deleted rows older than the retention period');
    }
    run.done();
  }

  // ---- the flush cycle

  /** Up to max rows off the head of the buffer, each given its uid (kept by every retry). */
  #take(max = Infinity): StoredUsageRow[] {
    let rows: UsageRow[];
    if (this.#buffer.length <= max) {
      rows = this.#buffer;
      this.#buffer = [];
    } else {
      rows = this.#buffer.splice(0, max);
    }
    return rows.map((r) => toStored(r, this.#uid()));
  }

  #canTry(force: boolean): boolean {
    return this.#healthy || force || this.#clock.monotonic() >= this.#retryAt;
  }

  async #cycle(force: boolean, final: boolean): Promise<void> {
    for (;;) {
      if (this.#spool.rows > 0) {
        // The spool goes first. While it cannot be drained, new rows queue behind it on disk;
        // while it drains they wait in memory (spilled at maxBufferedRows), so a full spool
        // does not drop rows once the database is back.
        if (final || !this.#canTry(force)) {
          if (this.#buffer.length > 0) await this.#toSpool(this.#take());
          return;
        }
        const batch = await this.#spool.read(this.#batchSize);
        if (batch.corrupt > 0) this.#log.warn({ spool: this.#spool.path, lines: batch.corrupt }, 'usage spool: skipped lines that are not usage rows (torn write)');
        if (batch.rows.length > 0 && !(await this.#write(batch.rows))) {
          force = false;
          continue;
        }
        await this.#spool.advance(batch);
        if (this.#spool.rows === 0) this.#log.info({ sink: this.#sink.target, written: this.#written }, 'usage spool drained into the database');
        continue;
      }
      if (this.#buffer.length === 0) return;
      if (!this.#canTry(force)) {
        await this.#toSpool(this.#take());
        return;
      }
      const batch = this.#take(this.#batchSize);
      this.#inflight = batch.length;
      const ok = await this.#write(batch);
      this.#inflight = 0;
      if (!ok) {
        force = false;
        await this.#toSpool(batch);
      }
    }
  }

  async #open(): Promise<boolean> {
    if (this.#opened) return true;
    try {
      await this.#sink.open();
      this.#opened = true;
      return true;
    } catch (err) {
      this.#failed(err);
      return false;
    }
  }

  async #write(rows: StoredUsageRow[]): Promise<boolean> {
    if (!(await this.#open())) return false;
    try {
      await this.#sink.write(rows);
    } catch (err) {
      this.#failed(err);
      return false;
    }
    this.#written += rows.length;
    if (!this.#healthy) {
      this.#log.info({ sink: this.#sink.target, after: this.#attempt }, 'usage database reachable again');
      this.#healthy = true;
    }
    this.#attempt = 0;
    this.#lastError = null;
    return true;
  }

  #failed(err: unknown): void {
    const reason = describeError(err);
    const delay = backoffDelay(this.#random, this.#attempt, this.#retryBaseMs, this.#retryMaxMs);
    this.#attempt++;
    this.#retryAt = this.#clock.monotonic() + delay;
    if (this.#healthy) {
      this.#log.warn({ sink: this.#sink.target, err: reason, spool: this.#spool.path }, 'usage database unavailable: spooling usage rows to disk until it returns');
    } else if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ sink: this.#sink.target, err: reason, attempt: this.#attempt, retryInMs: Math.round(delay) }, 'usage database still unavailable');
    }
    this.#healthy = false;
    this.#lastError = reason;
  }

  async #toSpool(rows: StoredUsageRow[]): Promise<void> {
    if (rows.length === 0) return;
    const r = await this.#spool.append(rows);
    if (r.appended > 0) this.#fullLogged = false;
    if (r.refused > 0) {
      this.#dropped += r.refused;
      if (!this.#fullLogged) {
        this.#fullLogged = true;
        this.#log.error(
          { spool: this.#spool.path, spoolBytes: this.#spool.bytes, spoolMaxBytes: this.#spool.maxBytes, dropped: this.#dropped },
          'usage spool full: usage rows are being DROPPED until the database returns (raise spoolMaxBytes or fix the database)',
        );
      }
    }
    if (r.failed > 0) {
      this.#dropped += r.failed;
      this.#log.error({ spool: this.#spool.path, err: r.error ? describeError(r.error) : undefined, lost: r.failed, dropped: this.#dropped }, 'usage spool write failed: usage rows lost');
    }
  }

  /** Moves the whole buffer to the spool now, while a slow sink write holds the cycle. */
  async #spillBuffer(): Promise<void> {
    const rows = this.#take();
    this.#log.warn({ rows: rows.length, sink: this.#sink.target }, 'usage database slow: buffered rows moved to the spool');
    await this.#toSpool(rows);
  }

  #drop(n: number, msg: string): void {
    this.#dropped += n;
    if (this.#lateLogged) return;
    this.#lateLogged = true;
    this.#log.warn({ dropped: this.#dropped }, msg);
  }
}

/**
 * Opens the spool (taking the data directory's lock) and makes a first attempt at the sink
 * (migrations). An unreachable database does not fail the start: rows spool until it answers.
 * Rejects with SB_ERR_USAGE_SPOOL (data directory unusable or in use) or SB_ERR_USAGE_DB (bad URL).
 */
export async function createUsageRecorder(opts: UsageRecorderOptions): Promise<UsageRecorder> {
  const sink = opts.sink ?? openUsageSink({ url: opts.url, dataDir: opts.dataDir, logger: opts.logger });
  const spool = await UsageSpool.open({ dataDir: opts.dataDir, maxBytes: opts.spoolMaxBytes ?? USAGE_DEFAULTS.spoolMaxBytes });
  const recorder = new Recorder(sink, spool, opts);
  await recorder.start();
  return recorder;
}

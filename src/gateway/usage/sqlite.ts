// The default sink: a SQLite file (`usage.db` in the data directory) through better-sqlite3.
// WAL mode lets `switchboard usage` read while the router writes; synchronous=NORMAL makes a
// commit a write to the WAL without an fsync, which is durable across a process crash (the
// spool's guarantee too) and costs well under a millisecond for a batch. better-sqlite3 is
// synchronous: a batch is one transaction whose 64-row statements run on separate event-loop
// turns, so requests wait at most one statement (well under a millisecond), never a batch.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { describeError, isSwitchboardError, sbError, sbErrorFrom } from '../../core/index.js';
import { MIGRATIONS_COMPONENT, MIGRATIONS_TABLE_SQL, pending, USAGE_MIGRATIONS, type Migration } from './migrations.js';
import { mergeReport, reportSql } from './report-sql.js';
import { fromSqlRow, putRowValues, USAGE_COLUMNS, type StoredUsageRow, type UsageSqlRow } from './row.js';
import type { UsageQuery, UsageRange, UsageReportRow, UsageSink } from './sink.js';

export interface SqliteSinkOptions {
  file: string;
  /** false: only read an existing database (the report); never create or migrate it. */
  migrate?: boolean;
  /** For tests of the migration runner. */
  migrations?: readonly Migration[];
  /** How often the checkpoint thread moves the WAL into the database (writer only). Default 1000. */
  checkpointIntervalMs?: number;
}

/** What the checkpoint thread has done (tests; diagnostics). */
export interface CheckpointState {
  /** 'thread' while the worker checkpoints; 'inline' when it could not run and SQLite's automatic checkpoint is back. */
  mode: 'thread' | 'inline' | 'off';
  runs: number;
  /** WAL frames, and how many of them were in the database, at the last run. */
  log: number;
  checkpointed: number;
  lastError: string | null;
}

// Rows per INSERT statement: 64 rows x 13 columns stays far below SQLite's variable limit, and
// 500 rows as 64-row statements took 1.4 ms against 1.9-2.1 ms as single-row ones (measured).
// What is left over after the 64-row statements (52 rows of a 500-row batch) goes as 32-, 16-,
// ... 1-row statements, at most six, instead of one statement per row: a statement run has a
// cost of its own (in the router under load, writing every row as a single-row statement cost
// about 5 us a request more than 64-row statements, measured). Each size's parameters are one
// array reused for every run: building them with slice().flatMap() (an array per row, then the
// joined one) cost about 2 us a row, a third of the whole insert (measured with 500-row batches).
const SIZES = [64, 32, 16, 8, 4, 2, 1] as const;
const CHUNK = SIZES[0];

interface Insert {
  readonly rows: number;
  readonly statement: Database.Statement;
  readonly params: unknown[];
}

function insertSql(rows: number): string {
  const one = `(${USAGE_COLUMNS.map(() => '?').join(', ')})`;
  return `INSERT INTO usage_records (${USAGE_COLUMNS.join(', ')}) VALUES ${Array.from({ length: rows }, () => one).join(', ')} ON CONFLICT DO NOTHING`;
}

/** Applies the missing migrations, each in an IMMEDIATE transaction (one writer at a time). */
export function migrateSqlite(db: Database.Database, migrations: readonly Migration[] = USAGE_MIGRATIONS): number[] {
  db.exec(MIGRATIONS_TABLE_SQL.sqlite);
  const applied: number[] = [];
  for (;;) {
    const done = new Set(
      db.prepare('SELECT version FROM schema_migrations WHERE component = ?').pluck().all(MIGRATIONS_COMPONENT) as number[],
    );
    const next = pending(migrations, done)[0];
    if (!next) return applied;
    const apply = db.transaction(() => {
      // re-checked inside the write lock: another process may have applied it meanwhile
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE component = ? AND version = ?').get(MIGRATIONS_COMPONENT, next.version)) return false;
      for (const sql of next.sqlite) db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)').run(MIGRATIONS_COMPONENT, next.version, next.name, Date.now());
      return true;
    });
    if (apply.immediate()) applied.push(next.version);
  }
}

/** Lets the event loop run (I/O callbacks included) before the next statement. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SqliteSink implements UsageSink {
  readonly kind = 'sqlite';
  readonly target: string;
  readonly #opts: SqliteSinkOptions;
  #db: Database.Database | undefined;
  /** One statement per size in SIZES (largest first), each with its reused parameter array. */
  #inserts: Insert[] = [];
  #checkpointer: Worker | undefined;
  readonly #checkpoint: CheckpointState = { mode: 'off', runs: 0, log: 0, checkpointed: 0, lastError: null };

  constructor(opts: SqliteSinkOptions) {
    this.#opts = opts;
    this.target = opts.file;
  }

  open(): Promise<void> {
    if (this.#db) return Promise.resolve();
    const { file } = this.#opts;
    const migrate = this.#opts.migrate !== false;
    if (!migrate && !existsSync(file)) {
      return Promise.reject(sbError('SB_ERR_USAGE_DB', file, 'no usage database here (a router writes it in its --data-dir once it has served a request)'));
    }
    let db: Database.Database | undefined;
    try {
      if (migrate) mkdirSync(dirname(file), { recursive: true });
      db = new Database(file, { fileMustExist: !migrate, timeout: 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      if (migrate) migrateSqlite(db, this.#opts.migrations);
      else if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usage_records'").get()) {
        throw sbError('SB_ERR_USAGE_DB', file, 'this database has no usage_records table');
      }
      this.#inserts = SIZES.map((rows) => ({ rows, statement: db!.prepare(insertSql(rows)), params: new Array<unknown>(rows * USAGE_COLUMNS.length) }));
      this.#db = db;
      if (migrate) this.#startCheckpointer(db, file);
      return Promise.resolve();
    } catch (err) {
      db?.close();
      return Promise.reject(isSwitchboardError(err) ? err : sbErrorFrom(err, 'SB_ERR_USAGE_DB', file, describeError(err)));
    }
  }

  /**
   * WAL checkpoints move to a worker thread (sqlite-checkpoint-worker.ts); this connection's
   * automatic ones are turned off while it runs and back on if it cannot, so the WAL never grows
   * without bound.
   */
  #startCheckpointer(db: Database.Database, file: string): void {
    const state = this.#checkpoint;
    const inline = (reason: string): void => {
      state.mode = 'inline';
      state.lastError = reason;
      this.#checkpointer = undefined;
      if (db.open) db.pragma('wal_autocheckpoint = 1000');
    };
    try {
      const worker = new Worker(new URL('./sqlite-checkpoint-worker.js', import.meta.url), {
        workerData: { file, intervalMs: this.#opts.checkpointIntervalMs ?? 1000 },
      });
      db.pragma('wal_autocheckpoint = 0');
      state.mode = 'thread';
      worker.on('message', (m: { checkpointed?: number; log?: number; error?: string }) => {
        state.runs++;
        if (m.error !== undefined) state.lastError = m.error;
        else {
          state.log = m.log ?? 0;
          state.checkpointed = m.checkpointed ?? 0;
          state.lastError = null;
        }
      });
      worker.on('error', (err) => inline(describeError(err)));
      worker.on('exit', () => {
        if (this.#checkpointer === worker) inline('the checkpoint thread ended');
      });
      // after the listeners: adding a 'message' one refs the worker again
      worker.unref();
      this.#checkpointer = worker;
    } catch (err) {
      inline(describeError(err));
    }
  }

  /** The checkpoint thread's state. */
  checkpointState(): Readonly<CheckpointState> {
    return { ...this.#checkpoint };
  }

  #handle(): Database.Database {
    if (!this.#db) throw sbError('SB_ERR_USAGE_DB', this.target, 'not open');
    return this.#db;
  }

  async write(rows: readonly StoredUsageRow[]): Promise<number> {
    let db: Database.Database | undefined;
    try {
      db = this.#handle();
      const inserts = this.#inserts;
      const width = USAGE_COLUMNS.length;
      // One transaction, its statements spread over event-loop turns: better-sqlite3 is
      // synchronous, and a 500-row batch in one go held the router's requests for 1-3 ms.
      // Nothing else uses this connection meanwhile (the recorder writes one batch at a time;
      // readers are other connections, which WAL does not block).
      db.exec('BEGIN');
      let n = 0;
      let i = 0;
      for (const { rows: size, statement, params } of inserts) {
        while (i + size <= rows.length) {
          for (let j = 0; j < size; j++) putRowValues(params, j * width, rows[i + j]!);
          // spread, not the array: better-sqlite3 reads an array's elements one V8 API lookup at a
          // time, and the call's own arguments directly (22% fewer instructions a row, callgrind)
          n += statement.run(...params).changes;
          i += size;
          // the smaller statements (fewer than 64 rows together) run in the same turn
          if (size === CHUNK && i < rows.length) await nextTurn();
        }
      }
      db.exec('COMMIT');
      return n;
    } catch (err) {
      // nothing half-written: the batch is retried (or spooled) whole, its uids skip what a
      // commit that failed late had stored
      if (db?.open && db.inTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // the connection is gone; SQLite rolled back itself
        }
      }
      throw sbErrorFrom(err, 'SB_ERR_USAGE_DB', this.target, describeError(err));
    }
  }

  read(range: UsageRange, limit = 1_000_000): Promise<StoredUsageRow[]> {
    try {
      const rows = this.#handle()
        .prepare(`SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records WHERE ts >= ? AND ts < ? ORDER BY ts, uid LIMIT ?`)
        .all(range.sinceMs, range.untilMs, limit) as UsageSqlRow[];
      return Promise.resolve(rows.map((r) => fromSqlRow(r, Number(r.ts))));
    } catch (err) {
      return Promise.reject(sbErrorFrom(err, 'SB_ERR_USAGE_DB', this.target, describeError(err)));
    }
  }

  prune(beforeMs: number, limit: number): Promise<number> {
    try {
      // the table is clustered on (ts, uid): the oldest rows are one range at the left edge
      const r = this.#handle()
        .prepare('DELETE FROM usage_records WHERE (ts, uid) IN (SELECT ts, uid FROM usage_records WHERE ts < ? ORDER BY ts, uid LIMIT ?)')
        .run(beforeMs, limit);
      return Promise.resolve(r.changes);
    } catch (err) {
      return Promise.reject(sbErrorFrom(err, 'SB_ERR_USAGE_DB', this.target, describeError(err)));
    }
  }

  report(q: UsageQuery): Promise<UsageReportRow[]> {
    try {
      const db = this.#handle();
      const sql = reportSql('sqlite', q.by);
      const run = (s: string): Record<string, unknown>[] => db.prepare(s).all(q.sinceMs, q.untilMs) as Record<string, unknown>[];
      return Promise.resolve(mergeReport(q.by, run(sql.totals), run(sql.duration), run(sql.ttft)));
    } catch (err) {
      return Promise.reject(sbErrorFrom(err, 'SB_ERR_USAGE_DB', this.target, describeError(err)));
    }
  }

  async close(): Promise<void> {
    const worker = this.#checkpointer;
    this.#checkpointer = undefined;
    if (worker) {
      // its connection goes first: the last one to close checkpoints what is left and removes the WAL
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('close');
      const timer = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(timer);
      this.#checkpoint.mode = 'off';
    }
    this.#db?.close();
    this.#db = undefined;
  }
}

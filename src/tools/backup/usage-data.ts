// The usage database in a backup. SQLite: an online copy through SQLite's backup API (consistent
// while the router writes; copying the file alone can miss the rows still in usage.db-wal).
// PostgreSQL: usage_records as JSON lines (the spool's row format), read in one REPEATABLE READ
// transaction so the export is one consistent snapshot however long it takes. Loading rows back
// is one transaction per database, `ON CONFLICT DO NOTHING`: all rows or none, and a
// second restore of the same backup inserts nothing.
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openUsageSink } from '../../gateway/usage/open-sink.js';
import { redactDbUrl } from '../../gateway/usage/postgres.js';
import { fromSqlRow, parseSpoolLine, rowValues, USAGE_COLUMNS, type StoredUsageRow, type UsageSqlRow } from '../../gateway/usage/row.js';
import { migrateSqlite } from '../../gateway/usage/sqlite.js';

const PAGE = 5000;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function isPostgresUrl(url: string | undefined): boolean {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url.trim());
}

/** A pg client for a usage-db URL, honouring `?schema=` as the router's sink does. */
function pgClient(url: string): pg.Client {
  const u = new URL(url);
  const schema = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  if (schema !== undefined && !IDENT.test(schema)) throw new Error(`schema '${schema}' is not a plain identifier (letters, digits, _)`);
  return new pg.Client({
    connectionString: u.toString(),
    connectionTimeoutMillis: 5000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
}

export function describeDb(url: string): string {
  return isPostgresUrl(url) ? redactDbUrl(url) : url;
}

/** Copies a live SQLite usage database to `dest` (a new file); returns its row count. */
export async function copySqliteOnline(src: string, dest: string): Promise<number> {
  const db = new Database(src, { fileMustExist: true, timeout: 5000 });
  try {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usage_records'").get()) {
      throw new Error('this database has no usage_records table (not a router usage database)');
    }
    await db.backup(dest);
  } finally {
    db.close();
  }
  // A copy of a WAL database is in WAL mode too; rollback mode keeps the copy one self-contained
  // file (no -wal/-shm beside it), so its checksum is that of everything in it.
  const copy = new Database(dest, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`the copy fails SQLite's quick_check: ${String(check)}`);
    return copy.prepare('SELECT count(*) FROM usage_records').pluck().get() as number;
  } finally {
    copy.close();
  }
}

async function writeLine(out: NodeJS.WritableStream, line: string): Promise<void> {
  if (!out.write(line)) await once(out, 'drain');
}

async function endStream(out: ReturnType<typeof createWriteStream>): Promise<void> {
  out.end();
  await once(out, 'finish');
}

/** Exports usage_records from PostgreSQL to JSON lines at `dest` (a new file); returns the rows. */
export async function exportPostgres(url: string, dest: string): Promise<number> {
  const client = pgClient(url);
  const out = createWriteStream(dest, { flags: 'wx', mode: 0o600 });
  let rows = 0;
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const exists = await client.query<{ t: string | null }>("SELECT to_regclass('usage_records')::text AS t");
    if (!exists.rows[0]?.t) throw new Error('this database has no usage_records table (check the URL and its ?schema=)');
    // a cursor, not OFFSET or keyset paging: one pass, and exact whatever the timestamps' precision
    await client.query(`DECLARE usage_export NO SCROLL CURSOR FOR SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records ORDER BY ts, uid`);
    for (;;) {
      const r = await client.query(`FETCH ${PAGE} FROM usage_export`);
      for (const row of r.rows as UsageSqlRow[]) await writeLine(out, `${JSON.stringify(fromSqlRow(row, (row.ts as Date).getTime()))}\n`);
      rows += r.rows.length;
      if (r.rows.length < PAGE) break;
    }
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => undefined);
    await endStream(out);
  }
  return rows;
}

export interface RowSource {
  kind: 'usage-sqlite' | 'usage-export' | 'usage-spool';
  file: string;
}

/** The rows of a backed-up usage file, in batches. Lines that are not rows are skipped and counted. */
export async function* readRows(src: RowSource, stats: { skipped: number } = { skipped: 0 }): AsyncGenerator<StoredUsageRow[]> {
  if (src.kind === 'usage-sqlite') {
    const db = new Database(src.file, { readonly: true, fileMustExist: true });
    try {
      let batch: StoredUsageRow[] = [];
      for (const r of db.prepare(`SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records ORDER BY ts, uid`).iterate() as IterableIterator<UsageSqlRow>) {
        batch.push(fromSqlRow(r, Number(r.ts)));
        if (batch.length === PAGE) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    } finally {
      db.close();
    }
    return;
  }
  const lines = createInterface({ input: createReadStream(src.file, 'utf8'), crlfDelay: Infinity });
  let batch: StoredUsageRow[] = [];
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const row = parseSpoolLine(line);
    if (!row) {
      stats.skipped++;
      continue;
    }
    batch.push(row);
    if (batch.length === PAGE) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Counts the rows of a JSON-lines usage file (the spool may end with half a line: not counted). */
export async function countJsonRows(file: string): Promise<number> {
  let n = 0;
  for await (const batch of readRows({ kind: 'usage-spool', file })) n += batch.length;
  return n;
}

export interface LoadResult {
  /** Rows read from the backup. */
  rows: number;
  /** Rows that were not in the database yet. */
  inserted: number;
  /** Lines of JSON-lines files that were not rows. */
  skipped: number;
}

const CHUNK = 500;

function insertSql(n: number, pgStyle: boolean): string {
  const w = USAGE_COLUMNS.length;
  const tuples = Array.from({ length: n }, (_, r) => `(${USAGE_COLUMNS.map((_c, c) => (pgStyle ? `$${r * w + c + 1}` : '?')).join(', ')})`);
  return `INSERT INTO usage_records (${USAGE_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`;
}

/** Creates (or migrates) the usage tables at `target` without writing rows: the preflight. */
export async function prepareTarget(target: string): Promise<void> {
  const sink = openUsageSink({ url: target, migrate: true });
  try {
    await sink.open();
  } finally {
    await sink.close();
  }
}

/** Loads rows into a usage database (SQLite file or postgres:// URL) in one transaction. */
export async function loadRows(target: string, sources: readonly RowSource[]): Promise<LoadResult> {
  await prepareTarget(target);
  const stats = { skipped: 0 };
  let rows = 0;
  let inserted = 0;
  if (isPostgresUrl(target)) {
    const client = pgClient(target);
    await client.connect();
    try {
      await client.query('BEGIN');
      for (const src of sources) {
        for await (const batch of readRows(src, stats)) {
          for (let i = 0; i < batch.length; i += CHUNK) {
            const part = batch.slice(i, i + CHUNK);
            const r = await client.query(insertSql(part.length, true), part.flatMap((row) => rowValues(row, (ms) => new Date(ms))));
            inserted += r.rowCount ?? 0;
          }
          rows += batch.length;
        }
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await client.end().catch(() => undefined);
    }
    return { rows, inserted, skipped: stats.skipped };
  }
  const file = target.replace(/^(sqlite|file):(\/\/)?/i, '');
  const db = new Database(file, { fileMustExist: true, timeout: 10_000 });
  try {
    migrateSqlite(db);
    const one = db.prepare(insertSql(1, false));
    const many = db.prepare(insertSql(CHUNK, false));
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const src of sources) {
        for await (const batch of readRows(src, stats)) {
          let i = 0;
          for (; i + CHUNK <= batch.length; i += CHUNK) inserted += many.run(batch.slice(i, i + CHUNK).flatMap((r) => rowValues(r, (ms) => ms))).changes;
          for (; i < batch.length; i++) inserted += one.run(rowValues(batch[i]!, (ms) => ms)).changes;
          rows += batch.length;
        }
      }
      db.exec('COMMIT');
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  } finally {
    db.close();
  }
  return { rows, inserted, skipped: stats.skipped };
}

/** Rollback journal mode, so a file built here is whole on its own before it is renamed into place. */
export function settleSqlite(file: string): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('journal_mode = DELETE');
  } finally {
    db.close();
  }
}

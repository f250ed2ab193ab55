// `switchboard restore`: puts a backup back. In order, so that a bad backup or a bad target
// changes nothing: (1) the backup is checked whole against its manifest (sizes, SHA-256, no
// stray entries); (2) every destination is decided and checked (existing files refused without
// --force, a running router's data directory refused always, the registry reachable and
// accepting our token, the usage database reachable); (3) every file is written to a temporary
// name beside its destination; (4) usage rows are loaded into a database in one transaction;
// (5) the files are renamed into place, the replaced ones moved back if a rename fails; (6)
// records are re-registered in a running registry.
import process from 'node:process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { describeError, isSwitchboardError, pidAlive, sbError, sbErrorFrom, type Clock } from '../../core/index.js';
import { SPOOL_LOCK_FILE, SQLITE_FILE } from '../../gateway/usage/index.js';
import { SNAPSHOT_FILE } from '../../registry/store/snapshot.js';
import { isArchivePath } from './backup.js';
import { PART_OF, verifyLayout, type Manifest, type ManifestFile, type Part } from './manifest.js';
import { checkRegistry, registrationsIn, reRegister, snapshotText, type ReRegisterResult } from './registry-data.js';
import { extractTarGz, TarFormatError } from './tar.js';
import { describeDb, isPostgresUrl, loadRows, prepareTarget, settleSqlite, type LoadResult, type RowSource } from './usage-data.js';

export interface RestoreOptions {
  backup: string;
  force?: boolean;
  dryRun?: boolean;
  only?: readonly Part[] | undefined;
  /** Everything under one folder: config/, registry/ (a registry data dir), router/ (a router data dir). */
  into?: string | undefined;
  /** Configuration files go here (keeping the backup's config/ layout) instead of where they came from. */
  configDir?: string | undefined;
  routingFile?: string | undefined;
  keysFile?: string | undefined;
  registryDataDir?: string | undefined;
  registryUrl?: string | undefined;
  registryToken?: string | undefined;
  /** The router's data directory: usage.db is written there. */
  dataDir?: string | undefined;
  /** Load usage rows into this database (SQLite file or postgres://) instead. */
  usageDb?: string | undefined;
  clock: Clock;
}

export interface PlannedFile {
  /** In the backup. */
  path: string;
  kind: ManifestFile['kind'];
  to: string;
  exists: boolean;
  note?: string;
}

export interface RestoreResult {
  manifest: Manifest;
  files: PlannedFile[];
  usage: { target: string; sources: string[]; result?: LoadResult } | undefined;
  registry: { url: string; from: string; records: number; result?: ReRegisterResult } | undefined;
  dryRun: boolean;
}

interface FileJob extends PlannedFile {
  /** Writes the new content to `tmp`. */
  build(tmp: string): Promise<void> | void;
  mode: number;
  /** Companion files moved away with the destination (usage.db-wal, usage.db-shm). */
  companions?: string[];
  tmp?: string;
  /** Where the replaced destination (and companions) were moved, for the rollback. */
  moved?: Array<[from: string, aside: string]>;
}

/** A catalog error's own message; any other error with its code. */
function reason(err: unknown): string {
  return isSwitchboardError(err) ? err.message : describeError(err);
}

/** Opens the backup as a folder laid out as written (extracting an archive to a scratch folder). */
async function openBackup(path: string): Promise<{ dir: string; manifest: Manifest; cleanup: () => void }> {
  const abs = resolve(path);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) throw sbError('SB_ERR_BACKUP_INVALID', abs, 'no such file or folder');
  let dir = abs;
  let cleanup = (): void => undefined;
  if (st.isFile()) {
    if (!isArchivePath(abs)) throw sbError('SB_ERR_BACKUP_INVALID', abs, 'expected a backup folder or a .tar.gz written by switchboard backup');
    dir = mkdtempSync(join(tmpdir(), 'switchboard-restore-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    try {
      await extractTarGz(abs, dir);
    } catch (err) {
      cleanup();
      if (err instanceof TarFormatError) throw sbErrorFrom(err, 'SB_ERR_BACKUP_INVALID', abs, err.message);
      throw sbErrorFrom(err, 'SB_ERR_BACKUP_INVALID', abs, describeError(err));
    }
  } else if (!st.isDirectory()) {
    throw sbError('SB_ERR_BACKUP_INVALID', abs, 'not a file or folder');
  }
  try {
    const { manifest, problems } = await verifyLayout(dir);
    if (problems.length > 0) {
      const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
      throw sbError('SB_ERR_BACKUP_INVALID', abs, `${problems.slice(0, 5).join('; ')}${more}; nothing was restored`);
    }
    return { dir, manifest, cleanup };
  } catch (err) {
    cleanup();
    if (isSwitchboardError(err)) throw err;
    throw sbErrorFrom(err, 'SB_ERR_BACKUP_INVALID', abs, describeError(err));
  }
}

const SECRET_KINDS = new Set<ManifestFile['kind']>(['keys', 'agent-models', 'registry-snapshot', 'registry-export', 'usage-sqlite', 'usage-export', 'usage-spool']);

function tmpBeside(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}.restore-${randomBytes(4).toString('hex')}.tmp`);
}

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const { dir, manifest, cleanup } = await openBackup(opts.backup);
  try {
    return await restoreFrom(dir, manifest, opts);
  } finally {
    cleanup();
  }
}

async function restoreFrom(dir: string, manifest: Manifest, opts: RestoreOptions): Promise<RestoreResult> {
  const now = opts.clock.now();
  const wanted = (f: ManifestFile): boolean => !opts.only || opts.only.includes(PART_OF[f.kind]);
  const files = manifest.files.filter(wanted);
  const into = opts.into ? resolve(opts.into) : undefined;
  const configDir = opts.configDir ? resolve(opts.configDir) : into ? join(into, 'config') : undefined;
  const registryDataDir = opts.registryDataDir ? resolve(opts.registryDataDir) : into ? join(into, 'registry') : undefined;
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : into && !opts.usageDb ? join(into, 'router') : undefined;
  const inBackup = (f: ManifestFile): string => join(dir, f.path);
  const jobs: FileJob[] = [];

  // ---- configuration files
  for (const f of files.filter((x) => PART_OF[x.kind] === 'config')) {
    let to: string;
    if (f.kind === 'routing' && opts.routingFile) to = resolve(opts.routingFile);
    else if (f.kind === 'keys' && opts.keysFile) to = resolve(opts.keysFile);
    else if (configDir) to = join(configDir, f.path.replace(/^config\//, ''));
    else to = f.source;
    jobs.push({ path: f.path, kind: f.kind, to, exists: existsSync(to), mode: SECRET_KINDS.has(f.kind) ? 0o600 : 0o644, build: (tmp) => copyFileSync(inBackup(f), tmp) });
  }

  // ---- registry
  let registry: RestoreResult['registry'];
  const regFiles = files.filter((x) => PART_OF[x.kind] === 'registry');
  if (regFiles.length > 0) {
    const snapshot = regFiles.find((x) => x.kind === 'registry-snapshot');
    const exported = regFiles.find((x) => x.kind === 'registry-export');
    if (opts.registryUrl) {
      const src = exported ?? snapshot!;
      const records = registrationsIn(inBackup(src), src.kind as 'registry-snapshot' | 'registry-export');
      registry = { url: opts.registryUrl.replace(/\/+$/, ''), from: src.path, records: records.length };
    }
    const fileSrc = snapshot ?? exported!;
    const target = registryDataDir ?? (!opts.registryUrl && snapshot ? dirname(snapshot.source) : undefined);
    if (target) {
      const to = join(target, SNAPSHOT_FILE);
      jobs.push({
        path: fileSrc.path,
        kind: fileSrc.kind,
        to,
        exists: existsSync(to),
        mode: 0o600,
        ...(fileSrc.kind === 'registry-export' ? { note: 'written as a registry snapshot' } : {}),
        build: (tmp) => writeFileSync(tmp, snapshotText(inBackup(fileSrc), fileSrc.kind as 'registry-snapshot' | 'registry-export', now), { flag: 'wx', mode: 0o600 }),
      });
    } else if (!opts.registryUrl) {
      throw sbError('SB_ERR_RESTORE_TARGET', `the registry export ${fileSrc.path}`, 'it has no file to go back to: give --registry-url <registry> to re-register its records in a running registry, or --registry-data-dir <dir> to write it as the snapshot of a stopped one (or leave it out with --only); nothing was restored');
    }
  }

  // ---- usage records
  let usage: RestoreResult['usage'];
  const usageFiles = files.filter((x) => PART_OF[x.kind] === 'usage');
  if (usageFiles.length > 0) {
    const sqlite = usageFiles.find((x) => x.kind === 'usage-sqlite');
    const rowFiles = usageFiles.filter((x) => x.kind !== 'usage-sqlite');
    if (opts.usageDb) {
      const target = isPostgresUrl(opts.usageDb) ? opts.usageDb : resolve(opts.usageDb.replace(/^(sqlite|file):(\/\/)?/i, ''));
      usage = { target, sources: usageFiles.map((x) => x.path) };
    } else {
      const target = dataDir ?? (sqlite ? dirname(sqlite.source) : undefined);
      if (!target) {
        throw sbError('SB_ERR_RESTORE_TARGET', `the usage rows exported from ${usageFiles[0]!.source}`, 'give --usage-db <postgres://…|file> to load them into a database, or --data-dir <dir> to build a SQLite usage.db there (or leave them out with --only); nothing was restored');
      }
      const lock = join(target, SPOOL_LOCK_FILE);
      const pid = existsSync(lock) ? Number(readFileSync(lock, 'utf8').trim()) || 0 : 0;
      if (pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw sbError('SB_ERR_RESTORE_TARGET', `the usage database in ${target}`, `a router (pid ${pid}) is running on this data directory; stop it first, or load the rows into its database while it runs with --usage-db ${join(target, SQLITE_FILE)}; nothing was restored`);
      }
      const to = join(target, SQLITE_FILE);
      const sources: RowSource[] = rowFiles.map((x) => ({ kind: x.kind as RowSource['kind'], file: inBackup(x) }));
      jobs.push({
        path: sqlite?.path ?? rowFiles[0]!.path,
        kind: sqlite ? 'usage-sqlite' : rowFiles[0]!.kind,
        to,
        exists: existsSync(to),
        mode: 0o600,
        companions: [`${to}-wal`, `${to}-shm`],
        note: sqlite ? (rowFiles.length > 0 ? 'with the spooled rows' : undefined) : 'as a new SQLite usage.db',
        build: async (tmp) => {
          if (sqlite) copyFileSync(inBackup(sqlite), tmp);
          else await prepareTarget(tmp);
          if (sources.length > 0) await loadRows(tmp, sources);
          settleSqlite(tmp);
        },
      });
    }
  }

  // ---- checks before anything is written
  const conflicts = jobs.filter((j) => j.exists);
  if (conflicts.length > 0 && !opts.force) throw sbError('SB_ERR_RESTORE_CONFLICT', conflicts.map((j) => j.to));
  const dup = jobs.find((j, i) => jobs.findIndex((k) => k.to === j.to) !== i);
  if (dup) throw sbError('SB_ERR_RESTORE_TARGET', dup.path, `two files of the backup would go to ${dup.to}; give --config-dir or --into`);
  if (registry) {
    try {
      await checkRegistry(registry.url, opts.registryToken);
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_RESTORE_TARGET', `the registry records (${registry.from})`, `${reason(err)}; nothing was restored`);
    }
  }
  const plan: PlannedFile[] = jobs.map(({ path, kind, to, exists, note }) => ({ path, kind, to, exists, ...(note ? { note } : {}) }));
  if (opts.dryRun) return { manifest, files: plan, usage, registry, dryRun: true };
  if (usage) {
    try {
      await prepareTarget(usage.target);
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_RESTORE_TARGET', `usage rows into ${describeDb(usage.target)}`, `${reason(err)}; nothing was restored`);
    }
  }

  try {
    // ---- (3) new content beside each destination
    for (const j of jobs) {
      mkdirSync(dirname(j.to), { recursive: true });
      j.tmp = tmpBeside(j.to);
      await j.build(j.tmp);
      const old = j.exists ? statSync(j.to) : undefined;
      try {
        if (old) chownSync(j.tmp, old.uid, old.gid);
      } catch {
        // not root: the file stays ours
      }
      chmodSync(j.tmp, old ? old.mode & 0o7777 : j.mode);
    }
    // ---- (4) rows into a database, one transaction
    if (usage) {
      const sources: RowSource[] = usageFiles.map((x) => ({ kind: x.kind as RowSource['kind'], file: inBackup(x) }));
      usage.result = await loadRows(usage.target, sources);
    }
  } catch (err) {
    for (const j of jobs) if (j.tmp) rmSync(j.tmp, { force: true });
    throw sbErrorFrom(err, 'SB_ERR_RESTORE_TARGET', 'the backup', `${reason(err)}; nothing was restored`);
  }

  // ---- (5) into place
  const done: FileJob[] = [];
  try {
    for (const j of jobs) {
      j.moved = [];
      for (const p of [j.to, ...(j.companions ?? [])]) {
        if (existsSync(p)) {
          const aside = `${p}.restore-old-${randomBytes(4).toString('hex')}`;
          renameSync(p, aside);
          j.moved.push([p, aside]);
        }
      }
      renameSync(j.tmp!, j.to);
      done.push(j);
    }
  } catch (err) {
    for (const j of [...done].reverse()) rmSync(j.to, { force: true });
    for (const j of jobs) {
      for (const [p, aside] of j.moved ?? []) renameSync(aside, p);
      if (j.tmp) rmSync(j.tmp, { force: true });
    }
    throw sbErrorFrom(err, 'SB_ERR_RESTORE_TARGET', 'the backup', `${reason(err)}; the files were put back as they were${usage?.result ? ` (the ${usage.result.inserted} usage rows loaded into ${describeDb(usage.target)} stay: loading them again inserts nothing)` : ''}`);
  }
  for (const j of jobs) for (const [, aside] of j.moved ?? []) rmSync(aside, { force: true });

  // ---- (6) records into a running registry
  if (registry) {
    const src = files.find((f) => f.path === registry.from)!;
    try {
      registry.result = await reRegister(registry.url, opts.registryToken, registrationsIn(inBackup(src), src.kind as 'registry-snapshot' | 'registry-export'), opts.force ?? false);
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_RESTORE_TARGET', `the registry records into ${registry.url}`, `${reason(err)} (files and usage rows were restored; run the restore again with --only registry: records already there are kept)`);
    }
  }
  return { manifest, files: plan, usage, registry, dryRun: false };
}
